"""Settings for the Kima integration service, read from the environment.

With neither DATABASE_URL nor REDIS_URL set the service runs embedded: SQLite in
DATA_DIR, a local-memory cache and tasks run in-process.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from kima.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data")))
VERSION = "0.1.0"

DEBUG = env_bool("DEBUG", False)
# PRODUCTION is true when the operator runs the real stack (compose sets it): secrets
# must then come from the environment, never from a generated file.
PRODUCTION = env_bool("PRODUCTION", False)


# ---------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------


def _embedded_secret(name: str) -> str:
    """Return a secret kept in DATA_DIR, creating it on first use (embedded mode only)."""
    path = DATA_DIR / f".{name.lower()}"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


def _secret(name: str) -> str:
    value = env_str(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(
            f"{name} is not set. In production it must be set explicitly "
            f"(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    return _embedded_secret(name)


SECRET_KEY = _secret("SECRET_KEY")
JWT_SECRET = env_str("JWT_SECRET") or env_str("SESSION_SECRET") or _secret("JWT_SECRET")

# Secrets in SystemSettings are encrypted with this key (Kima's name; ENCRYPTION_KEY is
# Kima's older name). Keys listed in SETTINGS_ENCRYPTION_KEY_PREVIOUS are still read, so a
# rotation never leaves a process unable to decrypt (see `rotate_settings_key`).
INSECURE_KIMA_DEFAULT_KEY = "default-encryption-key-change-me"
SETTINGS_ENCRYPTION_KEY = (
    env_str("SETTINGS_ENCRYPTION_KEY")
    or env_str("ENCRYPTION_KEY")
    or _secret("SETTINGS_ENCRYPTION_KEY")
)
if PRODUCTION and SETTINGS_ENCRYPTION_KEY == INSECURE_KIMA_DEFAULT_KEY:
    raise ImproperlyConfigured(
        "SETTINGS_ENCRYPTION_KEY is Kima's published placeholder, which anyone can read; "
        "set a random key (python -c 'import secrets; print(secrets.token_urlsafe(48))')."
    )
SETTINGS_ENCRYPTION_KEY_PREVIOUS = env_list("SETTINGS_ENCRYPTION_KEY_PREVIOUS", []) + [
    # Left by an interrupted or finished rotation of the embedded key file: still read.
    path.read_text().strip()
    for path in (
        DATA_DIR / ".settings_encryption_key.new",
        DATA_DIR / ".settings_encryption_key.previous",
    )
    if path.exists()
]

# The container's own healthcheck asks 127.0.0.1, whatever the operator allows.
ALLOWED_HOSTS = [*env_list("ALLOWED_HOSTS", ["*"]), "127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# ---------------------------------------------------------------------------
# Applications
# ---------------------------------------------------------------------------

INSTALLED_APPS = [
    "kima",  # project-wide commands (the safe `migrate`) and health
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "accounts",
    "settings_app",
    "downloads",
    "webhooks",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "kima.log_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "kima.urls"
WSGI_APPLICATION = "kima.wsgi.application"

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

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60)
        )
    }
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgresql:// URL")
    # The same backend, with query counts and latencies for /metrics.
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "DATABASE_CONNECT_TIMEOUT", 5
    )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django_prometheus.db.backends.sqlite3",
            "NAME": DATA_DIR / "kima.sqlite3",
            # A file like production's (WAL, busy timeout), not shared-cache memory, whose
            # table locks fail at once under threads. Set explicitly also because test
            # tools recognise SQLite only by the stock ENGINE name.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
            # WAL lets the web process read while a worker writes; the timeout waits for
            # the writer lock instead of failing with "database is locked".
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Seconds `migrate` waits for another migrator before giving up.
MIGRATE_LOCK_TIMEOUT = env_int("MIGRATE_LOCK_TIMEOUT", 600)

# ---------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis, counting hits and misses for /metrics.
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # kima.cache turns errors into misses and counts them; short timeouts
                # keep a hung Redis from holding a request.
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
            },
            "KEY_PREFIX": "kima",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache"}}
KIMA_CACHE_ALIAS = "default"
# After a Redis failure, locks and the cache skip Redis for this many seconds.
REDIS_RETRY_AFTER = float(env_str("REDIS_RETRY_AFTER", "5"))

# ---------------------------------------------------------------------------
# Celery: Redis broker, or in-process tasks on the embedded default
# ---------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL or "memory://"
# Embedded mode: no broker, tasks run in the calling process so every feature works.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, so a killed worker's task is delivered again;
# tasks are idempotent for that reason.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540)
# Publishing never waits long on a dead or hung Redis (see kima.tasks.publish).
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "socket_timeout": 0.5,
    "socket_connect_timeout": 0.5,
    "max_retries": 0,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A task delivered more often than this (its worker died each time) is dropped.
CELERY_MAX_DELIVERIES = env_int("CELERY_MAX_DELIVERIES", 5)
# Periodic jobs (kima.periodic guards each so it runs once per interval, whatever runs
# the schedule). Without Redis a thread in each web worker runs them in-process.
CELERY_BEAT_SCHEDULE: dict = {
    "webhooks.sweep": {"task": "webhooks.sweep", "schedule": 60},
    "webhooks.drain_spool": {"task": "webhooks.drain_spool", "schedule": 15},
    "webhooks.purge": {"task": "webhooks.purge", "schedule": 3600},
    "downloads.stale_jobs": {"task": "downloads.stale_jobs", "schedule": 60},
    "downloads.dispatch": {
        "task": "downloads.dispatch",
        "schedule": env_int("DOWNLOAD_DISPATCH_SECONDS", 30),
    },
    "downloads.retention": {"task": "downloads.retention", "schedule": 24 * 3600},
    "webhooks.reconcile_lidarr_queue_periodic": {
        "task": "webhooks.reconcile_lidarr_queue_periodic",
        "schedule": env_int("LIDARR_RECONCILE_SECONDS", 120),
    },
}
EMBEDDED_SCHEDULER = not REDIS_URL

# ---------------------------------------------------------------------------
# Lidarr webhooks
# ---------------------------------------------------------------------------

WEBHOOK_MAX_RETRIES = env_int("WEBHOOK_MAX_RETRIES", 5)  # then the event is dead
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)  # doubles each time
WEBHOOK_CLAIM_TIMEOUT = env_int("WEBHOOK_CLAIM_TIMEOUT", 300)  # a claim older than this is stale
WEBHOOK_SWEEP_MIN_AGE = env_int(
    "WEBHOOK_SWEEP_MIN_AGE", 10
)  # seconds before a pending event is swept
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30)  # processed events; dead ones stay
WEBHOOK_DATABASE_RETRY_AFTER = float(env_str("WEBHOOK_DATABASE_RETRY_AFTER", "2"))

# ---------------------------------------------------------------------------
# Download jobs
# ---------------------------------------------------------------------------

DOWNLOAD_PENDING_TIMEOUT_MINUTES = env_int("DOWNLOAD_PENDING_TIMEOUT_MINUTES", 30)
DOWNLOAD_SEARCH_TIMEOUT_MINUTES = env_int("DOWNLOAD_SEARCH_TIMEOUT_MINUTES", 30)
DOWNLOAD_IMPORT_TIMEOUT_MINUTES = env_int("DOWNLOAD_IMPORT_TIMEOUT_MINUTES", 60)
DOWNLOAD_MAX_EXTENSION_MINUTES = env_int("DOWNLOAD_MAX_EXTENSION_MINUTES", 360)
DOWNLOAD_RETENTION_DAYS = env_int("DOWNLOAD_RETENTION_DAYS", 30)  # finished jobs
BATCH_RETENTION_DAYS = env_int("BATCH_RETENTION_DAYS", 60)  # completed discovery batches
DOWNLOAD_PAGE_SIZE_MAX = 200
# Acquisition
LIDARR_REFRESH_POLL_SECONDS = float(env_str("LIDARR_REFRESH_POLL_SECONDS", "2"))
LIDARR_COMMAND_WAIT_SECONDS = float(env_str("LIDARR_COMMAND_WAIT_SECONDS", "30"))
SLSKD_SEARCH_SECONDS = float(env_str("SLSKD_SEARCH_SECONDS", "30"))  # wait for search results
SLSKD_TRANSFER_SECONDS = float(env_str("SLSKD_TRANSFER_SECONDS", "900"))  # one folder's download
SLSKD_POLL_SECONDS = float(env_str("SLSKD_POLL_SECONDS", "2"))
SOULSEEK_SUCCESS_SHARE = float(env_str("SOULSEEK_SUCCESS_SHARE", "0.5"))  # of expected tracks
MUSICBRAINZ_URL = env_str("MUSICBRAINZ_URL", "https://musicbrainz.org")
MUSICBRAINZ_INTERVAL = float(env_str("MUSICBRAINZ_INTERVAL", "1.0"))  # seconds between requests

# ---------------------------------------------------------------------------
# Authentication: Kima's users, Kima's bcrypt hashes
# ---------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# ---------------------------------------------------------------------------
# Internationalisation, static files
# ---------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

# ---------------------------------------------------------------------------
# REST framework
# ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JWT first: its scheme is what a 401 names in WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "kima.api.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kima integration API",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package: self-hosted users may have no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ---------------------------------------------------------------------------
# Logging: one line per event on stdout
# ---------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "kima.log_context.ContextFilter"}},
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s [%(context)s] %(name)s %(message)s"}
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "line",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["stdout"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

# Multiprocess metrics: every process writes its samples into this directory, which must
# exist before the first metric is touched (gunicorn.conf.py empties it at start).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
PROMETHEUS_METRIC_NAMESPACE = "kima"  # django-prometheus families become kima_django_*
# When set, /metrics wants `Authorization: Bearer <METRICS_TOKEN>`; else it is open to
# whoever reaches the port (keep it on the internal network).
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Kima's index names (Prisma's) are longer than Django's portable 30-character limit;
# PostgreSQL allows 63 and SQLite has no limit.
SILENCED_SYSTEM_CHECKS = ["models.E034"]
