"""Django settings for Cloudstamp.

One module, read from the environment (see portal/env.py and the table in README.md).
DEBUG defaults to true so that `make run` works on a laptop; production sets DEBUG=false and
must then provide SECRET_KEY and ALLOWED_HOSTS, and passes `manage.py check --deploy`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from portal.env import database_from_url, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)
TESTING = env_bool("CLOUDSTAMP_TESTING", False)

if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production-0123456789")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
else:
    SECRET_KEY = env_str("SECRET_KEY")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])

SITE_NAME = env_str("SITE_NAME", "Cloudstamp")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
SIGNUP_ENABLED = env_bool("SIGNUP_ENABLED", True)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "django_htmx",
    "channels",
    "portal",
    "tenants",
    "subscriptions",
    "gallery",
    "compute",
    "adminportal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, loading the user's tenant memberships with the user (one query, not two).
    "portal.tenancy.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.tenancy.CurrentTenantMiddleware",
    # Last, as django-axes asks, so it sees the outcome of every login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.portal",
            ],
            # Overrides the built-in {% url %} with one that remembers argument-less reversals.
            "builtins": ["portal.templatetags.urls"],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", "sqlite:///db.sqlite3"), base_dir=BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out credentials before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: five failures for one username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
AXES_ENABLED = env_bool("AXES_ENABLED", True)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Front-end assets come from npm (package.json) and are served by the portal itself, so
    # pages work with no internet access.
    ("vendor/bootstrap", BASE_DIR / "node_modules/bootstrap/dist"),
    ("vendor/bootstrap-icons", BASE_DIR / "node_modules/bootstrap-icons/font"),
    ("vendor/htmx", BASE_DIR / "node_modules/htmx.org/dist"),
    ("vendor/chart.js", BASE_DIR / "node_modules/chart.js/dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# In development the files are served straight from the finders, no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG or TESTING

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if env_bool("CACHE_REDIS", not TESTING)
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": REDIS_URL,
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNELS_PREFIX", "cloudstamp")},
    }
    if env_bool("CHANNELS_REDIS", not TESTING)
    else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
}

# Celery: Redis broker, tasks routed to named queues (see DESIGN.md).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "expire-invitations": {
        "task": "tenants.tasks.expire_invitations_task",
        "schedule": timedelta(minutes=10),
    },
    "purge-axes-attempts": {
        "task": "tenants.tasks.purge_old_access_attempts_task",
        "schedule": timedelta(hours=6),
    },
    "sweep-jobs": {
        "task": "portal.sweep_jobs",
        "schedule": timedelta(seconds=env_int("JOB_SWEEP_SECONDS", 5)),
    },
    "expire-idempotency-keys": {"task": "portal.expire_idempotency_keys", "schedule": timedelta(hours=1)},
    "reconcile-hosts": {
        "task": "compute.reconcile",
        "schedule": timedelta(seconds=env_int("RECONCILE_SECONDS", 60)),
    },
}
# Provisioning jobs cross the "provision" queue (the Procfile's worker consumes it); the rest
# stay on "default".
JOB_QUEUE = "provision"
CELERY_TASK_ROUTES = {"portal.run_job": {"queue": JOB_QUEUE}, "portal.run_jobs": {"queue": JOB_QUEUE}}

# --- provisioning jobs (portal/jobs.py) ---
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 5)
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 2.0)
# A running job whose heartbeat is older than this is taken to have lost its worker.
JOB_STALE_SECONDS = env_float("JOB_STALE_SECONDS", 15.0)
# A queued job nobody claimed for this long has its message sent again.
JOB_QUEUED_RESEND_SECONDS = env_float("JOB_QUEUED_RESEND_SECONDS", 30.0)
JOB_RETRY_BACKOFF_SECONDS = env_float("JOB_RETRY_BACKOFF_SECONDS", 2.0)
JOB_RETRY_BACKOFF_MAX_SECONDS = env_float("JOB_RETRY_BACKOFF_MAX_SECONDS", 60.0)
JOB_DEADLINES = {"default": env_int("JOB_DEADLINE_SECONDS", 900)}
# A group's children (a deployment's VMs) travel and run in batches of this many per message.
JOB_BATCH_SIZE = env_int("JOB_BATCH_SIZE", 10)
# Controller calls of one batch run side by side on a per-process pool of this many threads.
CONTROLLER_PARALLEL_CALLS = env_int("CONTROLLER_PARALLEL_CALLS", 16)

# --- compute (compute/, controller/) ---
# Drivers by name, as dotted paths; a host row names its driver. Loaded lazily, on first use.
COMPUTE_DRIVERS = {
    "simulated": "controller.simulated.SimulatedComputeDriver",
}
# The simulated fleet keeps its VMs in Redis under this prefix, shared by every process.
SIMULATED_CONTROLLER = {
    "redis_url": env_str("SIMULATED_REDIS_URL", REDIS_URL),
    "prefix": env_str("SIMULATED_PREFIX", "cloudstamp:sim"),
    "defaults": {
        "delays": {
            "ensure_vm": env_float("SIMULATED_SPAWN_SECONDS", 2.0 if DEBUG and not TESTING else 0.0),
            "power": env_float("SIMULATED_POWER_SECONDS", 0.5 if DEBUG and not TESTING else 0.0),
            "delete_vm": env_float("SIMULATED_DELETE_SECONDS", 0.5 if DEBUG and not TESTING else 0.0),
        },
        "delay_jitter": env_float("SIMULATED_DELAY_JITTER", 0.5 if DEBUG and not TESTING else 0.0),
        "guest_shutdown_seconds": env_float(
            "SIMULATED_GUEST_SHUTDOWN_SECONDS", 3.0 if DEBUG and not TESTING else 0.0
        ),
    },
}
# Graceful shutdown waits this long for the guest, then powers the VM off.
VM_SHUTDOWN_TIMEOUT_SECONDS = env_float("VM_SHUTDOWN_TIMEOUT_SECONDS", 60.0)
# Reconciliation: a VM found on a host that the portal does not know is reported; with this
# set it is also destroyed.
RECONCILE_REMOVE_ORPHANS = env_bool("RECONCILE_REMOVE_ORPHANS", False)

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
# A real SMTP relay usually wants credentials and STARTTLS.
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Cloudstamp <noreply@localhost>")

# Sessions: server-side, expire after 8 hours of inactivity, and are only ever created on login
# (no page writes to the session of an anonymous visitor). Kept in the database and read
# through the cache (Redis outside tests), so a page costs no session query; nothing here
# deletes session rows behind the cache's back (logout flushes both). See portal/sessions.py.
SESSION_ENGINE = "portal.sessions"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Content Security Policy: no inline script or style; everything is served from 'self'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.PortalAutoSchema",
    # orjson: the same JSON as DRF's renderer, several times faster on long lists.
    "DEFAULT_RENDERER_CLASSES": ["portal.api.renderers.ORJSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "EXCEPTION_HANDLER": "portal.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cloudstamp API",
    "DESCRIPTION": "Everything the Cloudstamp portal does, as a REST API. Authenticate with "
    "`Authorization: Bearer <token>`; a token is scoped to one tenant and one role.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a ``state`` (and computed ``status``) with different choices; name
    # each enum after its model instead of letting drf-spectacular invent hashed names.
    "ENUM_NAME_OVERRIDES": {
        "TenantStateEnum": "tenants.models.Tenant.State",
        "SubscriptionStateEnum": "subscriptions.models.Subscription.State",
        "PlanStateEnum": "subscriptions.models.Plan.State",  # add-ons share it
        "InvitationStatusEnum": "tenants.api.serializers.INVITATION_STATUSES",
        "ApiTokenStatusEnum": "tenants.api.serializers.TOKEN_STATUSES",
        "GalleryVersionStateEnum": "gallery.models.GalleryItemVersion.State",
        "DeploymentStateEnum": "compute.models.Deployment.State",
        "JobStateEnum": "portal.models.Job.State",
        "HostStateEnum": "compute.models.Host.State",
        "VmStatusEnum": "compute.api.serializers.VM_STATUSES",
    },
}

# API tokens live at most this many days; the UI offers shorter lifetimes.
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}
