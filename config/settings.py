"""ReaderBench settings, read from the environment (see README, "Configuration").

With nothing set, the project runs on the embedded default: SQLite under ``var/``, no Redis
(Celery tasks run inline), DEBUG on. ``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` to
Redis as Celery broker, result backend and cache. ``READERBENCH_MODE=production`` turns DEBUG off,
refuses to start without ``SECRET_KEY`` and ``READERBENCH_PSEUDONYM_KEY``, and turns on the
settings that ``manage.py check --deploy`` asks for.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_database,
    env_float,
    env_int,
    env_list,
    env_redis_url,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

MODE = env_str("READERBENCH_MODE", "development")
if MODE not in {"development", "production"}:
    raise ImproperlyConfigured(f"READERBENCH_MODE={MODE!r}: expected development or production")
PRODUCTION = MODE == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)

_DEV_SECRET = "django-insecure-readerbench-development-only-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY") or ("" if PRODUCTION else _DEV_SECRET)
if PRODUCTION and (not SECRET_KEY or len(SECRET_KEY) < 50 or SECRET_KEY == _DEV_SECRET):
    raise ImproperlyConfigured(
        "READERBENCH_MODE=production needs SECRET_KEY: at least 50 random characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )

# The key of the keyed hash that turns a patient identifier into a pseudonym and original UIDs
# into new ones. Changing it breaks the link between re-imports of the same patient, so it is
# its own setting, not SECRET_KEY (which may rotate).
PSEUDONYM_KEY = env_str("READERBENCH_PSEUDONYM_KEY") or ("" if PRODUCTION else "dev-pseudonym-key")
if PRODUCTION and len(PSEUDONYM_KEY) < 32:
    raise ImproperlyConfigured(
        "READERBENCH_MODE=production needs READERBENCH_PSEUDONYM_KEY of at least 32 characters"
    )

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens hashed at rest, with an expiry (REST_KNOX below); "api" for its token command.
    "knox",
    "axes",
    "studies",
    "readers",
    "inference",
    "reports",
    "demo",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with the lockout page.
    "axes.middleware.AxesMiddleware",
]
# Outages (database, Redis, broker) answer 503, in JSON under /api/ (issue 15 R4); first, so
# that its process_exception sees what every later middleware and view raised.
MIDDLEWARE.insert(0, "config.outages.OutageMiddleware")

if PRODUCTION:
    # gunicorn serves no static files and production has no runserver: the app serves what
    # collectstatic gathered in STATIC_ROOT (the viewer needs viewer.js), right after security.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATA_DIR = Path(env_str("READERBENCH_DATA_DIR") or BASE_DIR / "var")

DATABASES = {"default": env_database("DATABASE_URL", DATA_DIR / "readerbench.sqlite3")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web process read while an import writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
if env_str("READERBENCH_SQLITE_TEST_NAME") and DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file-backed test database, for tests that share it with threads or a worker process.
    DATABASES["default"]["TEST"] = {"NAME": env_str("READERBENCH_SQLITE_TEST_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_redis_url("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "readerbench",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or DATA_DIR / "static")
MEDIA_URL = "media/"
# De-identified DICOM files and cached arrays live here; never served directly to readers.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or DATA_DIR / "media")

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Login throttling (django-axes): after READERBENCH_LOGIN_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is locked out for READERBENCH_LOGIN_LOCKOUT_MINUTES
# (a coordinator unlocks earlier with `manage.py axes_reset_username NAME`). Keyed on the pair,
# so that guessing from one address cannot lock a surgeon out everywhere, nor everyone behind
# one hospital address out together; a right password resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("READERBENCH_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("READERBENCH_LOGIN_LOCKOUT_MINUTES", 15,
                                               minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Import limits: sane image dimensions for one 2-D slice.
READERBENCH_MAX_IMAGE_SIDE = env_int("READERBENCH_MAX_IMAGE_SIDE", 4096, minimum=16)
READERBENCH_MIN_IMAGE_SIDE = env_int("READERBENCH_MIN_IMAGE_SIDE", 16, minimum=1)
# Import limits in time and space (studies/services/dicom_sources.py), checked while reading:
# bytes of one file (or zip member, inflated), inflated bytes of one zip archive, inflated /
# compressed ratio of one member, files in one import, and seconds one import may run.
READERBENCH_IMPORT_MAX_FILE_BYTES = env_int(
    "READERBENCH_IMPORT_MAX_FILE_BYTES", 256 * 1024 * 1024, minimum=1024
)
READERBENCH_IMPORT_MAX_ARCHIVE_BYTES = env_int(
    "READERBENCH_IMPORT_MAX_ARCHIVE_BYTES", 8 * 1024 * 1024 * 1024, minimum=1024
)
READERBENCH_IMPORT_MAX_RATIO = env_int("READERBENCH_IMPORT_MAX_RATIO", 100, minimum=1)
READERBENCH_IMPORT_MAX_FILES = env_int("READERBENCH_IMPORT_MAX_FILES", 200_000, minimum=1)
READERBENCH_IMPORT_MAX_SECONDS = env_int("READERBENCH_IMPORT_MAX_SECONDS", 4 * 3600, minimum=1)
# De-identification: extra tags (ggggeeee, hex, comma-separated) kept besides the keep-list of
# studies/dicom/ps315.py. Empty by default: attributes not on the keep-list are removed.
READERBENCH_DEID_KEEP_TAGS = env_list("READERBENCH_DEID_KEEP_TAGS", [])

# DICOM networking (studies/services/dicom_receiver.py, `manage.py dicom_receiver`): the storage
# SCP's AE title, address and port; the calling AE titles it accepts (empty: those of the
# routes); routes CALLING_AE=study-slug:SITECODE (comma-separated; '*' for every allowed AE
# without its own); and the folder where each association's files wait for their import.
READERBENCH_DICOM_AE_TITLE = env_str("READERBENCH_DICOM_AE_TITLE") or "READERBENCH"
READERBENCH_DICOM_HOST = env_str("READERBENCH_DICOM_HOST") or "127.0.0.1"
READERBENCH_DICOM_PORT = env_int("READERBENCH_DICOM_PORT", 11112, minimum=1)
READERBENCH_DICOM_ALLOWED_AES = env_list("READERBENCH_DICOM_ALLOWED_AES", [])
READERBENCH_DICOM_ROUTES = env_list("READERBENCH_DICOM_ROUTES", [])
READERBENCH_DICOM_SPOOL = Path(env_str("READERBENCH_DICOM_SPOOL") or DATA_DIR / "dicom-spool")

# The array cached with each case at import, the one the model reads: a function (pixels, *,
# slope, intercept) -> array, named here so that the study domain imports no inference code.
READERBENCH_CASE_ARRAY = "inference.engine.transforms.cached_array"

# Inference: cases per batch inside a task, and the device ("cuda", "cpu"; empty = automatic).
READERBENCH_INFERENCE_BATCH_SIZE = env_int("READERBENCH_INFERENCE_BATCH_SIZE", 32, minimum=1)
READERBENCH_INFERENCE_DEVICE = env_str("READERBENCH_INFERENCE_DEVICE") or None
# Test hook only: seconds a worker sleeps after each batch, so a test can kill it mid-job.
READERBENCH_TEST_BATCH_DELAY = env_float("READERBENCH_TEST_BATCH_DELAY", 0.0, minimum=0.0)

# Work never gets stuck (issue 15 R1, R2): a running inference job renews a lease (a heartbeat
# on its row) every quarter lease; one silent for a whole lease lost its worker and is queued
# again, at most READERBENCH_JOB_MAX_REDELIVERIES times, then failed (its owner can retry it).
# Every worker sweeps for such jobs, and for reports the broker refused, every
# READERBENCH_SWEEP_SECONDS (and at start), so no Celery beat is needed.
READERBENCH_JOB_LEASE_SECONDS = env_int("READERBENCH_JOB_LEASE_SECONDS", 120, minimum=2)
READERBENCH_JOB_MAX_REDELIVERIES = env_int("READERBENCH_JOB_MAX_REDELIVERIES", 2, minimum=0)
READERBENCH_SWEEP_SECONDS = env_int("READERBENCH_SWEEP_SECONDS", 30, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API request is answered 401 with WWW-Authenticate: Token.
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Outages (database, Redis, broker) answer 503 in the API's JSON shape, never HTML 500.
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
}

# API tokens (django-rest-knox): only a SHA-512 digest is stored, the token is shown once when
# made; each expires READERBENCH_API_TOKEN_DAYS after it is made (a user may ask for fewer days,
# never more). A user makes and revokes their own at /accounts/tokens/ or /api/v1/auth/tokens/.
READERBENCH_API_TOKEN_DAYS = env_int("READERBENCH_API_TOKEN_DAYS", 30, minimum=1)
READERBENCH_API_TOKENS_PER_USER = env_int("READERBENCH_API_TOKENS_PER_USER", 10, minimum=1)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=READERBENCH_API_TOKEN_DAYS),
    "TOKEN_LIMIT_PER_USER": READERBENCH_API_TOKENS_PER_USER,
    "AUTO_REFRESH": False,  # a used token does not live longer: it expires when it said it would
}

# Celery: Redis when REDIS_URL is set; otherwise tasks run inline in the calling process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_TRACK_STARTED = True
# Longer than the longest task (training), so that a task running long is not redelivered.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600, minimum=60)
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Security headers and sessions (issue 15 S16), in every mode so that development shows what
# production enforces. Content-Security-Policy (django-csp): scripts and styles from our own
# origin only, never inline, except a <style> element that carries the request's nonce
# ({{ request.csp_nonce }}); images from our origin (data: for the blank favicon); no plugins,
# frames, or forms posting elsewhere. Permissions-Policy (django-permissions-policy): no
# device or sensor is ever asked for.
INSTALLED_APPS.append("csp")
_AFTER_SECURITY = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE[_AFTER_SECURITY:_AFTER_SECURITY] = [
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],  # NONCE: the request's nonce, once a template used it
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media",
        "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment",
        "publickey-credentials-get", "screen-wake-lock", "usb", "xr-spatial-tracking",
    )
}
# A login session ends after READERBENCH_SESSION_IDLE_MINUTES without a request (not two weeks
# after login): config.security.SessionIdleMiddleware slides the expiry on use.
SESSION_COOKIE_AGE = 60 * env_int("READERBENCH_SESSION_IDLE_MINUTES", 30, minimum=2)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "config.security.SessionIdleMiddleware",
)
# X-Forwarded-Proto (or another header) is believed only when the operator names it, for a TLS
# proxy in front that sets it on every request: SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto.
_PROXY_HEADER = (env_str("SECURE_PROXY_SSL_HEADER") or "").strip()
if _PROXY_HEADER:
    if not _PROXY_HEADER.replace("-", "").isalnum():
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER={_PROXY_HEADER!r}: expected a header name such as "
            "X-Forwarded-Proto"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_HEADER.upper().replace("-", "_"), "https")

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # The container's health check asks over plain HTTP from inside (docker-compose.yml).
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("READERBENCH_MODE=production needs ALLOWED_HOSTS")
