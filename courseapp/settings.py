"""Settings for the CENG 501 course site.

Everything comes from the environment (12-factor), with defaults that let a
laptop with no servers run the whole product: SQLite and Celery on kombu's
filesystem transport.  Production sets DJANGO_ENV=production plus
DATABASE_URL, CELERY_BROKER_URL and DJANGO_SECRET_KEY (see README.md).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import overload

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Environment --------------------------------------------------------------
# local: a developer's laptop (`make run`); test: the test suite; production.
# pytest (8.2+) sets PYTEST_VERSION, so the suite gets test settings without a flag.
ENVIRONMENT = env_str("DJANGO_ENV", "test" if "PYTEST_VERSION" in os.environ else "local")
if ENVIRONMENT not in {"local", "test", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be one of: local, test, production.")
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DJANGO_DEBUG", ENVIRONMENT == "local")

# Runtime state of a laptop install (SQLite, broker folders, uploads).
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))


def _local_secret_key() -> str:
    """A random key kept in var/ so sessions survive restarts of `make run`."""
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY in production.")
    SECRET_KEY = _local_secret_key() if ENVIRONMENT == "local" else secrets.token_urlsafe(50)

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- Applications -------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files (no CDN)
    "axes",  # login throttling (see "Login throttling" below)
    "csp",  # Content-Security-Policy header (see "Security")
    "courseapp",
    "grading",
    "quizzes",
    "projects",
    "lti",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A declared body above the route's limit is answered 413 before anything reads it (see "Request bodies").
    "courseapp.body_limits.RequestBodyLimitMiddleware",
    # Token clients' answer saves (the end-of-quiz rush) are answered here; everything else goes on down.
    "quizzes.middleware.AnswerSaveFastPath",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy and Permissions-Policy on every response (see "Security").
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # After XFrameOptions and CSP: lets the LTI platform that launched a session frame it (docs/lti.md).
    "lti.middleware.PlatformFrameMiddleware",
    # A PostgreSQL restart answers 503 + Retry-After instead of 500 (courseapp/middleware.py).
    "courseapp.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the "try again at …" answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "courseapp.urls"
WSGI_APPLICATION = "courseapp.wsgi.application"
AUTH_USER_MODEL = "courseapp.User"

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
            # |when |day |points |score |time_left in every template: one format for times and points
            "builtins": ["courseapp.templatetags.site_format"],
        },
    },
]

if PRODUCTION:
    # A production process that silently fell back to SQLite or a broker folder
    # would lose grades; refuse to start instead.
    for _required in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if not env_str(_required):
            raise ImproperlyConfigured(f"Set {_required} in production (see README.md, Deployment).")

# --- Database -----------------------------------------------------------------
# https://github.com/jazzband/dj-database-url ; postgres://user@host:5432/name
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60 if PRODUCTION else 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the web process and the worker read while the other writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000;",
            # Take the write lock at BEGIN: two writers that both start reading and then
            # try to write would otherwise fail with "database is locked" (Django 5.1+).
            "transaction_mode": "IMMEDIATE",
        }
    )
    # A file, not :memory:, so a real worker process and the live server share it.
    # One file per test run (runs may overlap on a developer's machine).
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("TEST_DB_NAME", str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3"))
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes) -------------------------------------------------
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# Every login path (/login/, /api/auth/token/, /admin/login/) goes through
# django.contrib.auth.authenticate with the request, so axes counts failures per username and
# per client address. A username is locked after LOGIN_FAILURE_LIMIT failures, an address
# (a lab behind one NAT shares it) after LOGIN_FAILURE_LIMIT_PER_IP, for LOGIN_COOLOFF_MINUTES
# after the last failure. A locked login is refused before the password is hashed, so guessing
# costs the server less, not more. The instructor unlocks a student on the roster page;
# `manage.py axes_reset_username <name>` / `axes_reset_ip <address>` do it from a shell.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("LOGIN_THROTTLING", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_LIMIT_PER_IP = env_int("LOGIN_FAILURE_LIMIT_PER_IP", 50)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "courseapp.throttling.LoginThrottleHandler"
AXES_LOCKOUT_CALLABLE = "courseapp.throttling.lockout_response"
# A try while locked does not push the end of the lock further out: the time we tell the
# student stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429  # Too Many Requests, with Retry-After
AXES_DISABLE_ACCESS_LOG = True  # successful logins are not written down (one INSERT less per login)
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "csrfmiddlewaretoken"]
# Behind deploy/nginx (production: gunicorn is reachable only from the proxy) the client's
# address is the X-Real-IP header nginx sets; without a proxy (make run, tests) REMOTE_ADDR.
BEHIND_PROXY = env_bool("BEHIND_PROXY", PRODUCTION)
AXES_CLIENT_IP_CALLABLE = "courseapp.throttling.client_ip"

if ENVIRONMENT == "test":
    # Hashing demo passwords with the full PBKDF2 cost makes the suite slow.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Internationalisation -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "Europe/Istanbul"  # the course runs in Ankara; datetimes are stored in UTC
USE_I18N = True
USE_TZ = True
# A datetime printed without a filter reads 2026-12-02 09:40, Istanbul time (courseapp/formats/en/formats.py).
FORMAT_MODULE_PATH = ["courseapp.formats"]

# --- Static and uploaded files ------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"  # never served directly: submissions are private
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Request bodies ---------------------------------------------------------------
# courseapp/body_limits.py answers 413 to a declared Content-Length above the route's limit
# before the body is read: uploads (project submissions: the project's max_upload_mb; harness
# bundles; roster, grade and GIFT imports) for logged-in clients, 1 MB for everything else and
# for anonymous clients. deploy/nginx/ holds the same limits at the proxy (README, Deployment).
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_KB", 1024) * 1024
IMPORT_BODY_MAX_BYTES = env_int("IMPORT_BODY_MAX_MB", 10) * 1024 * 1024
HARNESS_BODY_MAX_BYTES = env_int("HARNESS_BODY_MAX_MB", 1024) * 1024 * 1024
# Django's own limits. The non-file part of a request (a form, a JSON body, an import's CSV
# pasted as text) may be as large as an import; an uploaded file above 2 MB goes to a
# temporary file instead of memory; the largest forms (a quiz page, the letter scale) have
# tens of fields, so 2,000 leaves room and still bounds parsing; 100 files per upload
# (Django's default) is kept.
DATA_UPLOAD_MAX_MEMORY_SIZE = IMPORT_BODY_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
DATA_UPLOAD_MAX_NUMBER_FILES = 100

# --- REST API -----------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with WWW-Authenticate: Token.
        # Hashed, named, revocable tokens (courseapp/tokens.py), same `Authorization: Token <key>` header.
        "courseapp.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "courseapp.pagination.StrictLimitOffsetPagination",
    # A JSON body that is not an object, or is nested too deeply, is a 400 (courseapp/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "courseapp.parsers.ObjectJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 100,
    # Every error answer is RFC 9457 problem details, application/problem+json (courseapp/api_errors.py).
    "EXCEPTION_HANDLER": "courseapp.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CENG 501 course API",
    "DESCRIPTION": "Courses, schedule, enrollments, gradebook, quizzes and project submissions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ and /api/redoc/ load Swagger UI and ReDoc from drf-spectacular-sidecar's static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One enum name per choice set that several fields share (state/attempt_state;
    # review/review_after_submit/review_after_close).
    "ENUM_NAME_OVERRIDES": {
        "AttemptStateEnum": "quizzes.models.AttemptState.values",
        "ReviewPartEnum": "quizzes.models.REVIEW_PARTS",
    },
    # Error answers are documented as application/problem+json (courseapp/api_errors.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "courseapp.api_errors.problem_media_types",
    ],
}

# --- Celery -------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Without CELERY_BROKER_URL, kombu's filesystem transport gives a laptop a real
# broker (and a real worker process) with no server at all.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }
else:
    # The visibility timeout must exceed the longest task's hard time limit, or
    # Redis redelivers a job that is still running (see grading time limits).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 3600),
    }
# Results are only read by `make run`'s start-up check; the product's state lives in the database.
CELERY_RESULT_BACKEND = env_str(
    "CELERY_RESULT_BACKEND", None if PRODUCTION else f"file://{VAR_DIR / 'results'}"
)
if CELERY_RESULT_BACKEND and CELERY_RESULT_BACKEND.startswith("file://"):
    (VAR_DIR / "results").mkdir(parents=True, exist_ok=True)
# Tests run tasks in-process unless they start a real worker (tests/conftest.py).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", ENVIRONMENT == "test")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic work (celery beat). Each task is cheap when there is nothing to do. Every one
# goes to the `beat` queue, served by a small worker of its own (docker-compose
# `beat-worker`, `make run`), so long grading runs never delay a sweep or a quiz
# auto-submission; `expires` drops a tick that waited longer than its period instead
# of running a backlog all at once.
CELERY_TASK_ROUTES = {
    "quizzes.autosubmit_expired": {"queue": "beat"},
    "projects.sweep_stuck_runs": {"queue": "beat"},
    "projects.send_pending": {"queue": "beat"},
    "projects.replay_spool": {"queue": "beat"},
    # LTI's periodic jobs are short: the passback diff only enqueues (each post goes to `default`,
    # with retries); the nightly roster sync asks each platform once.
    "lti.passback_sync": {"queue": "beat"},
    "lti.roster_sync_nightly": {"queue": "beat"},
}
CELERY_BEAT_SCHEDULE = {
    # Submit quiz attempts left open past their deadline, grading what was saved.
    "quizzes-autosubmit-expired": {"task": "quizzes.autosubmit_expired", "schedule": 30.0,
                                   "options": {"expires": 30}},
    # Requeue or fail grading runs stuck in queued/running because a worker died.
    "projects-sweep-stuck-runs": {"task": "projects.sweep_stuck_runs", "schedule": 30.0,
                                  "options": {"expires": 30}},
    # Send runs whose send failed (broker down) and jobs the broker lost (docs/projects.md).
    "projects-send-pending": {"task": "projects.send_pending", "schedule": 10.0, "options": {"expires": 10}},
    # Post grading records kept on disk while the database was unreachable.
    "projects-replay-spool": {"task": "projects.replay_spool", "schedule": 10.0, "options": {"expires": 10}},
    # LTI (docs/lti.md): post changed released scores to Moodle/Canvas; sync rosters nightly.
    "lti-passback-sync": {"task": "lti.passback_sync", "schedule": 300.0, "options": {"expires": 300}},
    "lti-roster-sync-nightly": {"task": "lti.roster_sync_nightly", "schedule": crontab(hour=3, minute=15),
                                "options": {"expires": 3600}},  # not run hours late after an outage
}

# --- Security -----------------------------------------------------------------
# `manage.py check --deploy` is clean with DJANGO_ENV=production.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the gradebook grid and quiz pages read it for fetch()
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Every page runs only the site's own static scripts and styles: no inline script, no inline
# style attribute, nothing from another host (pages read their data from json_script/data-*).
# https://django-csp.readthedocs.io/ — views that render a library's protocol page (LTI's
# cookie check and deep-link answer) are exempted one by one, with the reason beside them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # question images imported from Moodle are data: URLs
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],  # an LTI session widens this to its platform (lti/middleware.py)
    },
}
# Powerful browser features no page of the site uses.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in ("accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone",
                    "payment", "usb", "display-capture", "serial", "hid", "midi", "browsing-topics")
}
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # The container's own health check calls gunicorn over plain HTTP, not through the proxy.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- LTI 1.3 (docs/lti.md) -----------------------------------------------------
# Inside Moodle's iframe the session must reach us as a third-party cookie, which
# browsers send only when it is SameSite=None; Secure. On by default in production
# (HTTPS); LTI_FRAME_COOKIES=0 keeps SameSite=Lax (then set the tool to open in a new window).
LTI_FRAME_COOKIES = env_bool("LTI_FRAME_COOKIES", PRODUCTION)
if LTI_FRAME_COOKIES:
    SESSION_COOKIE_SAMESITE = "None"
    CSRF_COOKIE_SAMESITE = "None"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Email (password set-up links for imported students) --------------------------------
# https://docs.djangoproject.com/en/5.2/topics/email/ ; production sets EMAIL_HOST etc.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ceng501-noreply@localhost")

# --- Logging ------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per failure and per lockout (WARNING), not axes' INFO chatter on every login.
        "axes": {"level": "WARNING"},
    },
}

# --- The course product -----------------------------------------------------------
# Where project submissions and harness bundles are kept (private, never served).
SUBMISSIONS_ROOT = Path(env_str("SUBMISSIONS_ROOT", str(MEDIA_ROOT / "submissions")))
HARNESS_ROOT = Path(env_str("HARNESS_ROOT", str(MEDIA_ROOT / "harnesses")))
MATERIALS_ROOT = Path(env_str("MATERIALS_ROOT", str(MEDIA_ROOT / "materials")))  # lecture files, members only
# Grading runs (docs/projects.md): a running job writes a heartbeat every HEARTBEAT_S;
# the sweep treats a run whose heartbeat is older than STALE_AFTER_S as orphaned (its
# worker died) and requeues it, resends a job still queued after RESEND_AFTER_S, and
# fails a run after MAX_ATTEMPTS infrastructure errors.
PROJECTS_HEARTBEAT_S = env_int("PROJECTS_HEARTBEAT_S", 10)
PROJECTS_STALE_AFTER_S = env_int("PROJECTS_STALE_AFTER_S", 45)
PROJECTS_RESEND_AFTER_S = env_int("PROJECTS_RESEND_AFTER_S", 300)
PROJECTS_MAX_ATTEMPTS = env_int("PROJECTS_MAX_ATTEMPTS", 3)
PROJECTS_WORK_ROOT = env_str("PROJECTS_WORK_ROOT")  # job folders; the system temp dir when unset
# Per-harness Python environments and shared datasets (docs/harness.md, "Python environments"
# and "Datasets"). Each node keeps its own ENV_ROOT (built with uv, garbage-collected by least
# recent use above ENV_CACHE_GB), DATA_ROOT (datasets fetched from DATASET_ROOT and verified) and
# HARNESS_CACHE (bundles unpacked once; public/ and hidden/ are bound read-only from there).
# Package sources for builds come from the worker's environment with uv's own names:
# UV_INDEX_URL, UV_EXTRA_INDEX_URL, UV_FIND_LINKS, UV_INDEX_STRATEGY, plus ENV_CPU_INDEX_URL /
# ENV_CUDA_INDEX_URL (e.g. https://download.pytorch.org/whl/cu128 on a GPU node).
DATASET_ROOT = Path(env_str("DATASET_ROOT", str(MEDIA_ROOT / "datasets")))
GRADING_CACHE_ROOT = Path(env_str("GRADING_CACHE_ROOT", str(VAR_DIR / "grading")))
ENV_ROOT = Path(env_str("ENV_ROOT", str(GRADING_CACHE_ROOT / "envs")))
DATA_ROOT = Path(env_str("DATA_ROOT", str(GRADING_CACHE_ROOT / "data")))
HARNESS_CACHE = Path(env_str("HARNESS_CACHE", str(GRADING_CACHE_ROOT / "harnesses")))
ENV_CACHE_GB = float(env_str("ENV_CACHE_GB", "50"))
DATASET_UPLOAD_CHUNK_MB = env_int("DATASET_UPLOAD_CHUNK_MB", 32)  # largest chunk one request may carry
# A worker retries a claim or a record this long while the database is unreachable; a record
# that still cannot be written is kept in SPOOL_ROOT (shared by web and workers) and posted later.
PROJECTS_DB_RETRY_S = env_int("PROJECTS_DB_RETRY_S", 60)
PROJECTS_SPOOL_ROOT = Path(env_str("PROJECTS_SPOOL_ROOT", str(MEDIA_ROOT / "spool")))
