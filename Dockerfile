# One image for web and workers. CPU by default; for the GPU worker build with
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    READERBENCH_DATA_DIR=/data

RUN apt-get update && apt-get install -y --no-install-recommends libpq5 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 readerbench

WORKDIR /app
COPY pyproject.toml requirements-cpu.txt README.md ./
# torch first, from the chosen index (CPU or CUDA), so that monai does not pull another build.
RUN pip install --index-url "$TORCH_INDEX" "torch==2.13.0"
COPY . .
# Editable: the code (and the shipped model under inference/shipped/) is used from /app.
RUN pip install -e . && mkdir -p /data && chown readerbench /data
USER readerbench
EXPOSE 8000
# 0.0.0.0 is the container's interface; docker-compose.yml publishes it on the host's loopback
# only, for a TLS reverse proxy in front (README, "Security").
# Workers, threads, keep-alive and timeouts: config/gunicorn_conf.py (GUNICORN_* variables).
CMD ["gunicorn", "-c", "config/gunicorn_conf.py", "config.wsgi:application"]
