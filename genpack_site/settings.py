"""genpack-site settings: one module, everything that varies comes from the environment.

The defaults run the whole product on one machine with no servers (SQLite, a SQLite-backed
Celery broker); at scale set DATABASE_URL and CELERY_BROKER_URL. The README lists every variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

from genpack_site.env import (
    env_bool,
    env_int,
    env_list,
    env_path,
    env_str,
    secret_key_from_file,
)
from image_builder.options import FALLBACK_SECURITY_MIRROR, default_mirror

BASE_DIR = Path(__file__).resolve().parent.parent

# Where databases, work dirs, artifacts and the apt cache live unless set one by one.
DATA_DIR = env_path("GENPACK_DATA_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or secret_key_from_file(DATA_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "genpack_site",
    "hardware_profiles",
    "package_index",
    "blueprints",
    "builds",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "genpack_site.urls"
WSGI_APPLICATION = "genpack_site.wsgi.application"

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
                "genpack_site.context_processors.navigation",
            ],
            "builtins": [
                "blueprints.templatetags.sizes",
                "genpack_site.templatetags.time_words",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker write to the same file: wait for locks instead of failing at once,
    # and use WAL so readers never block the writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Login throttling (django-axes): after GENPACK_LOGIN_FAILURE_LIMIT failed logins for one
# user name, or from one address, that name / address is refused — even with the right
# password — for GENPACK_LOGIN_COOLOFF_MINUTES. force_login (tests) does not authenticate.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("GENPACK_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("GENPACK_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per user, per address
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "genpack_site.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "genpack_site.login_throttle.client_ip"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed names so browsers may cache them forever. Static files only:
    # build artifacts are never served through WhiteNoise (see builds/downloads).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security: secure by default; HTTPS-only settings switch on behind TLS. ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Pages run only our own static scripts and styles: no inline script, style or on* handler, no
# eval. Text a user typed that slips into a page as markup then cannot run (builds echo file
# paths and comments into the log). htmx is told the same in base.html (htmx-config).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SESSION_COOKIE_HTTPONLY = True
HTTPS = env_bool("GENPACK_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Behind nginx: the client is the last X-Forwarded-For entry (genpack_site/login_throttle).
GENPACK_BEHIND_PROXY = env_bool("GENPACK_BEHIND_PROXY", False)
if GENPACK_BEHIND_PROXY:
    # Only when a trusted reverse proxy (nginx) sets this header and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# --- Celery: JSON only, one long build at a time per worker process. ---
CELERY_BROKER_URL = env_str(
    "CELERY_BROKER_URL", f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}"
)
CELERY_RESULT_BACKEND = env_str(
    "CELERY_RESULT_BACKEND", f"db+sqlite:///{DATA_DIR / 'celery-results.sqlite3'}"
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("GENPACK_BUILD_SOFT_TIME_LIMIT", 3 * 3600)
CELERY_TASK_TIME_LIMIT = int(CELERY_TASK_SOFT_TIME_LIMIT * 1.2)
# On Redis, a message not acknowledged in this time is handed to another worker: keep it above
# the hard time limit, or a long build would be started twice. (The SQLAlchemy transport hands
# its options to create_engine, which rejects this one.)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
    if CELERY_BROKER_URL.startswith(("redis", "rediss", "sqs"))
    else {}
)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that queues a build waits at most about twice this for an unreachable broker,
# then tells the person the queue is unavailable (builds/services.py).
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("GENPACK_BROKER_TIMEOUT_SECONDS", 2)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_TASK_ALWAYS_EAGER = False

# --- The image factory ---
GENPACK_WORK_DIR = env_path("GENPACK_WORK_DIR", DATA_DIR / "work")
GENPACK_ARTIFACTS_DIR = env_path("GENPACK_ARTIFACTS_DIR", DATA_DIR / "artifacts")
GENPACK_APT_CACHE_DIR = env_path("GENPACK_APT_CACHE_DIR", DATA_DIR / "apt-cache")
# Cached base trees (image_builder/base_cache.py), pruned least recently used down to the
# bound; the free-space guard keeps room for the cache to grow to it.
GENPACK_BASE_CACHE_DIR = env_path("GENPACK_BASE_CACHE_DIR", DATA_DIR / "base-cache")
GENPACK_BASE_CACHE_MAX_BYTES = env_int("GENPACK_BASE_CACHE_MAX_BYTES", 20 * 1024**3)
# Default: the mirror this host's apt uses, the only one reachable on build hosts.
GENPACK_DEBIAN_MIRROR = env_str("GENPACK_DEBIAN_MIRROR") or default_mirror("bookworm")
# The security archive (<suite>-security) is its own tree: the host's source for it, else
# Debian's. The package index reads it for "updates available", and the worker hands it to
# the builder, so a rebuild installs what the build page announced. (<suite>-updates is a
# suite of GENPACK_DEBIAN_MIRROR.)
GENPACK_DEBIAN_SECURITY_MIRROR = env_str("GENPACK_DEBIAN_SECURITY_MIRROR") or default_mirror(
    "bookworm-security", fallback=FALLBACK_SECURITY_MIRROR
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"client_errors": {"()": "genpack_site.log_filters.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"level": env_str("DJANGO_LOG_LEVEL", "INFO")},
        # An ordinary 403 or 404 is one line, not a traceback (genpack_site/log_filters.py).
        "django.request": {"filters": ["client_errors"]},
    },
}

# --- Build orchestration (builds/services.py, builds/tasks.py) ---
# The engine runs as `python -m <module> build ...` in its own process group; tests swap in a
# fast engine with the same command-line protocol.
GENPACK_ENGINE_MODULE = env_str("GENPACK_ENGINE_MODULE", "image_builder")
GENPACK_MAX_PENDING_BUILDS = env_int("GENPACK_MAX_PENDING_BUILDS", 20)
GENPACK_MIN_FREE_BYTES = env_int("GENPACK_MIN_FREE_BYTES", 8 * 1024**3)
GENPACK_HEARTBEAT_SECONDS = env_int("GENPACK_HEARTBEAT_SECONDS", 5)
GENPACK_WORKER_LOST_SECONDS = env_int("GENPACK_WORKER_LOST_SECONDS", 60)
GENPACK_REAPER_SECONDS = env_int("GENPACK_REAPER_SECONDS", 30)
GENPACK_REQUEUE_AFTER_SECONDS = env_int("GENPACK_REQUEUE_AFTER_SECONDS", 300)
GENPACK_TRANSIENT_RETRIES = env_int("GENPACK_TRANSIENT_RETRIES", 3)
# Build hosts (builds/host_agent.py): each worker records what it can build and beats this
# often; one silent for GENPACK_BUILD_HOST_STALE_SECONDS counts as offline. A build queued
# while no host for its architecture is online fails after GENPACK_UNCLAIMED_BUILD_SECONDS.
GENPACK_BUILD_HOST_HEARTBEAT_SECONDS = env_int("GENPACK_BUILD_HOST_HEARTBEAT_SECONDS", 30)
GENPACK_BUILD_HOST_STALE_SECONDS = env_int("GENPACK_BUILD_HOST_STALE_SECONDS", 90)
GENPACK_UNCLAIMED_BUILD_SECONDS = env_int("GENPACK_UNCLAIMED_BUILD_SECONDS", 900)
# At most these architectures on this host (empty: all its probe finds); never more.
GENPACK_BUILD_ARCHITECTURES = env_list("GENPACK_BUILD_ARCHITECTURES", [])
GENPACK_KEEP_SUCCESSFUL = env_int("GENPACK_KEEP_SUCCESSFUL", 3)
# Per-device downloads copy a whole disk image: this many at once (across all web processes),
# and only while the artifacts disk keeps this margin free besides the copy.
GENPACK_MAX_PERSONALISING = env_int("GENPACK_MAX_PERSONALISING", 2)
GENPACK_PERSONALISE_MARGIN_BYTES = env_int("GENPACK_PERSONALISE_MARGIN_BYTES", 1024**3)
# Set to e.g. "/protected-artifacts/" to let nginx send files (X-Accel-Redirect) after the
# view has checked permission; nginx maps that internal location to GENPACK_ARTIFACTS_DIR.
GENPACK_X_ACCEL_PREFIX = env_str("GENPACK_X_ACCEL_PREFIX", "")

# --- Boot tests (builds/boot_tests.py): each published build is booted under QEMU on the
# "boottest" queue. The module provides BootTestSettings, run_boot_test, BootTestHostError and
# BootTestCancelled; tests swap in tests.fake_boot_test, which boots nothing.
GENPACK_BOOT_TEST_MODULE = env_str("GENPACK_BOOT_TEST_MODULE", "image_builder.boottest")
# Celery's soft time limit of a boot test: the profile's boot_test_timeout_seconds plus this.
GENPACK_BOOT_TEST_MARGIN_SECONDS = env_int("GENPACK_BOOT_TEST_MARGIN_SECONDS", 120)
# A host problem (QEMU missing or crashing, no disk space) is retried this often, waiting
# GENPACK_BOOT_TEST_RETRY_SECONDS times the attempt's number; a failing image never is.
GENPACK_BOOT_TEST_RETRIES = env_int("GENPACK_BOOT_TEST_RETRIES", 2)
GENPACK_BOOT_TEST_RETRY_SECONDS = env_int("GENPACK_BOOT_TEST_RETRY_SECONDS", 60)
# The published console log keeps at most this much of the end of the serial output.
GENPACK_CONSOLE_LOG_MAX_BYTES = env_int("GENPACK_CONSOLE_LOG_MAX_BYTES", 8 * 1024**2)

CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_BEAT_SCHEDULE = {
    "reap-builds": {"task": "builds.reap", "schedule": float(GENPACK_REAPER_SECONDS)},
    "retention": {"task": "builds.retention", "schedule": 3600.0},
    # Debian publishes point releases and security updates at most a few times a day.
    "package-index": {"task": "blueprints.package_index", "schedule": 24 * 3600.0},
}
