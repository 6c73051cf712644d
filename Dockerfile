# syntax=docker/dockerfile:1
# Kima integration service: one image, four roles (web, worker, beat, migrate).

# --- build: dependencies into a virtualenv, static files collected ---------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY pyproject.toml ./
# Only the runtime dependencies (the project's code is not a package; it runs from /app).
RUN /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY manage.py gunicorn.conf.py ./
COPY bin/entrypoint bin/entrypoint
COPY kima kima
COPY accounts accounts
COPY settings_app settings_app
COPY downloads downloads
COPY webhooks webhooks
COPY templates templates
# Static files at build time, served by whitenoise; throwaway secrets for this step only.
RUN DATA_DIR=/tmp/build STATIC_ROOT=/app/staticfiles /opt/venv/bin/python manage.py collectstatic --no-input -v0 \
 && rm -rf /tmp/build \
 && find /app -name __pycache__ -prune -exec rm -rf {} +

# --- runtime: slim, non-root ----------------------------------------------------------
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="kima-hub-integration" \
      org.opencontainers.image.description="Kima's integration core: Lidarr webhooks, downloads, settings"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PRODUCTION=true \
    DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles \
    PROMETHEUS_MULTIPROC_DIR=/tmp/kima-metrics \
    PORT=8000
RUN groupadd --system --gid 1000 kima \
 && useradd --system --uid 1000 --gid kima --home-dir /app --shell /usr/sbin/nologin kima \
 && mkdir -p /data /tmp/kima-metrics /downloads/soulseek /music \
 && chown kima:kima /data /tmp/kima-metrics /downloads /downloads/soulseek /music
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=kima:kima /app /app
WORKDIR /app
USER kima
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2)"]
ENTRYPOINT ["/app/bin/entrypoint"]
CMD ["web"]
