"""KLINEO settings: the one settings file, read from the environment (django-environ).

Development (`make run`) reads a generated, git-ignored .env; production must provide SECRET_KEY
and KLINEO_ENCRYPTION_KEYS and refuses to start without them. The test suite (pytest) gets
clearly marked development-only values and defaults to the local PostgreSQL and Redis.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# The test suite never reads a developer's .env: it runs on its own, documented defaults.
TESTING = "pytest" in sys.modules or env.bool("KLINEO_TESTING", default=False)
env_file = env.str("KLINEO_ENV_FILE", default=str(BASE_DIR / ".env"))
if not TESTING and Path(env_file).is_file():
    environ.Env.read_env(env_file, overwrite=False)
DEBUG = env.bool("DEBUG", default=False)

# --- secrets -------------------------------------------------------------------------------------
# Development-only values: used only under DEBUG or the test suite, never in production.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production-0123456789"
_DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktaW5zZWN1cmUtbWFzdGVyLWtleS0wMDE="

SECRET_KEY = env.str("SECRET_KEY", default="")
ENCRYPTION_KEYS = env.list("KLINEO_ENCRYPTION_KEYS", default=[])
if not SECRET_KEY or not ENCRYPTION_KEYS:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY and KLINEO_ENCRYPTION_KEYS must be set in production "
            "(see .env.example; `make run` generates development values into .env)."
        )
    SECRET_KEY = SECRET_KEY or _DEV_SECRET_KEY
    ENCRYPTION_KEYS = ENCRYPTION_KEYS or [_DEV_ENCRYPTION_KEY]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- applications --------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "channels",
    "accounts",
    "exchanges",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "accounts.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.SessionActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.ReauthRedirectMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Must be last: turns a lockout flagged by the backend into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "klineo.urls"
ASGI_APPLICATION = "klineo.asgi.application"
WSGI_APPLICATION = None

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

# --- database ------------------------------------------------------------------------------------
_default_db = (
    "postgres://postgres@127.0.0.1:5432/klineo"
    if TESTING
    else f"sqlite:///{VAR_DIR / 'klineo.sqlite3'}"
)
DATABASES = {"default": env.db("DATABASE_URL", default=_default_db)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web, worker and streams processes of `make run` share the file.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # Daphne runs every sync view in a thread of its own, so per-thread persistent connections
    # pile up (one per concurrent request) and exhaust PostgreSQL; a per-process psycopg pool
    # shares a few warm connections between all threads instead.
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": env.int("DATABASE_POOL_SIZE", default=10),
            "timeout": 10,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: cache, channels, celery --------------------------------------------------------------
REDIS_URL = env.str(
    "REDIS_URL", default="redis://127.0.0.1:6379/1" if TESTING else "redis://127.0.0.1:6379/0"
)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "klineo",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py's default 5 s socket timeout equals channels_redis' 5 s blocking pop, so an
        # idle websocket's receive raised TimeoutError and the consumer died: allow longer.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": "klineo:ch",
        },
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="klineo")
CELERY_BEAT_SCHEDULE: dict = {}

# --- auth ----------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing dominates a suite that creates many users; production keeps the strong default.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "exchanges:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Both the login page (AuthenticationForm) and the API pass the e-mail as "username".
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout_response"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
OTP_TOTP_ISSUER = "KLINEO"
# Risky actions need a re-authentication at most this old (accounts/reauth.py).
KLINEO_REAUTH_SECONDS = env.int("KLINEO_REAUTH_SECONDS", default=600)

# --- REST API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Fail closed: every API view must declare required_scopes (see accounts/SECURITY.md).
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.ScopePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "klineo.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": SECRET_KEY,
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "KLINEO API",
    "DESCRIPTION": "Trade on Binance from scripts: connections, balances, orders, live data.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several serializers have a "status" field with different choices: name each set.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "exchanges.models.OrderStatus",
        "StreamStatusEnum": "exchanges.models.StreamStatus",
        "CheckStatusEnum": ["pass", "warning", "fail", "skipped"],
        "TestVerdictEnum": ["ok", "warning", "fail"],
    },
}

# --- static, i18n --------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS: list = [BASE_DIR / "static"]
# The charting library, installed by `npm ci` from package-lock.json (node_modules is never
# committed); without it the pages work and the chart says it is unavailable.
_CHARTS_DIR = BASE_DIR / "node_modules" / "lightweight-charts" / "dist"
if _CHARTS_DIR.is_dir():
    STATICFILES_DIRS.append(("vendor/lightweight-charts", _CHARTS_DIR))
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "staticfiles")
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG or TESTING
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- e-mail --------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG or TESTING
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="KLINEO <no-reply@klineo.local>")

# --- security headers (production) ---------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if not DEBUG and not TESTING:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Binance -------------------------------------------------------------------------------------
SANDBOX_HOST = env.str("SANDBOX_HOST", default="127.0.0.1")
SANDBOX_PORT = env.int("SANDBOX_PORT", default=9100)
BINANCE_HTTPS_PROXY = env.str("BINANCE_HTTPS_PROXY", default="")
BINANCE_CONNECT_TIMEOUT = env.float("BINANCE_CONNECT_TIMEOUT", default=3.05)
BINANCE_READ_TIMEOUT = env.float("BINANCE_READ_TIMEOUT", default=10.0)
BINANCE_RECV_WINDOW = env.int("BINANCE_RECV_WINDOW", default=5000)
# BINANCE_<ENV>_<PART>_URL overrides, e.g. BINANCE_TESTNET_SPOT_REST_URL, collected by name.
BINANCE_URL_OVERRIDES = {
    key: value
    for key, value in env.ENVIRON.items()
    if key.startswith("BINANCE_") and key.endswith("_URL")
}

# --- orders (exchanges/services/orders.py) --------------------------------------------------------
# Check free balance / margin before sending (a cached balance, confirmed fresh before refusing).
ORDERS_BALANCE_PRECHECK = env.bool("ORDERS_BALANCE_PRECHECK", default=True)
# "Order does not exist" is final only this long after the recvWindow of the send has passed.
ORDER_NOT_FOUND_MARGIN_SECONDS = env.float("ORDER_NOT_FOUND_MARGIN_SECONDS", default=2.0)
# Reconciliation of UNKNOWN orders: first query after this delay, then exponential backoff.
ORDER_RECONCILE_FIRST_DELAY = env.float("ORDER_RECONCILE_FIRST_DELAY", default=1.0)
ORDER_RECONCILE_BACKOFF = env.float("ORDER_RECONCILE_BACKOFF", default=1.0)
ORDER_RECONCILE_BACKOFF_MAX = env.float("ORDER_RECONCILE_BACKOFF_MAX", default=60.0)
ORDER_RECONCILE_MAX_RETRIES = env.int("ORDER_RECONCILE_MAX_RETRIES", default=30)
# The per-order lock expires by itself, so a worker killed while holding it blocks nobody long.
ORDER_RECONCILE_LOCK_SECONDS = env.float("ORDER_RECONCILE_LOCK_SECONDS", default=30.0)
# The beat sweep picks up PENDING / UNKNOWN orders untouched for this long (lost tasks, crashes).
ORDER_SWEEP_AGE_SECONDS = env.float("ORDER_SWEEP_AGE_SECONDS", default=30.0)
ORDER_SWEEP_INTERVAL_SECONDS = env.float("ORDER_SWEEP_INTERVAL_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE["orders-reconcile-sweep"] = {
    "task": "exchanges.tasks.orders_reconcile_sweep",
    "schedule": ORDER_SWEEP_INTERVAL_SECONDS,
}

# --- live streams (manage.py run_streams, exchanges/streams/) -------------------------------------
# A stream's lease in Redis lives this long without renewal: a crashed process's streams are
# taken over by another run_streams within about this time (renewed every third of it).
STREAMS_LEASE_TTL = env.float("STREAMS_LEASE_TTL", default=15.0)
# How often run_streams looks for new / removed / disabled connections (it is also notified).
STREAMS_POLL_INTERVAL = env.float("STREAMS_POLL_INTERVAL", default=3.0)
# Reconnect a stream that answers pings but stays silent this long (None: library default).
STREAMS_SILENCE_TIMEOUT = env.float("STREAMS_SILENCE_TIMEOUT", default=60.0)
# ...and one whose application-level ping (spot WebSocket API) is not answered within this.
STREAMS_PROBE_TIMEOUT = env.float("STREAMS_PROBE_TIMEOUT", default=10.0)
STREAMS_BACKOFF_MAX = env.float("STREAMS_BACKOFF_MAX", default=30.0)
STREAMS_SYNC_WORKERS = env.int("STREAMS_SYNC_WORKERS", default=4)
STREAMS_RECONCILE_CONCURRENCY = env.int("STREAMS_RECONCILE_CONCURRENCY", default=4)
# Market data for pages that do not name an environment (a user without connections).
MARKET_DATA_ENVIRONMENT = env.str(
    "MARKET_DATA_ENVIRONMENT", default="sandbox" if DEBUG or TESTING else "mainnet"
)
# Futures listenKeys: keepalive (PUT) every 30 minutes; Binance lets them expire after 60.
LISTEN_KEY_KEEPALIVE_SECONDS = env.float("LISTEN_KEY_KEEPALIVE_SECONDS", default=1800.0)
CELERY_BEAT_SCHEDULE["streams-listen-key-keepalive"] = {
    "task": "exchanges.stream_tasks.listen_keys_keepalive",
    "schedule": LISTEN_KEY_KEEPALIVE_SECONDS,
}
CELERY_BEAT_SCHEDULE["streams-listen-key-close-stale"] = {
    "task": "exchanges.stream_tasks.listen_keys_close_stale",
    "schedule": env.float("LISTEN_KEY_CLOSE_STALE_SECONDS", default=300.0),
}

# --- logging -------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
