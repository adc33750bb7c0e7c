"""gunicorn settings, one file for docker-compose, the Dockerfile and the reading benchmark.

    gunicorn -c config/gunicorn_conf.py config.wsgi:application

Workers are processes with a few threads each (``gthread``). Keep-alive is off by default: a
connection kept open between a reader's answers stays with the process that accepted it, and
under a burst most readers ended up pinned to one process while the others idled (issue 15
R8). With one request per connection an idle process takes the next one. Behind the TLS proxy
the compose file expects, the proxy keeps the browsers' connections alive; its connections to
gunicorn are cheap, on the same host. Every setting can be changed from the environment.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = _int("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
keepalive = _int("GUNICORN_KEEPALIVE", 0)
timeout = _int("GUNICORN_TIMEOUT", 120)
graceful_timeout = 30
# A worker is replaced after this many requests (a slow leak cannot grow for ever).
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
