"""Portal settings: one file, every knob read from the environment.

Values are read only through the small typed helpers below. A malformed value stops start-up
with ImproperlyConfigured naming the variable; defaults run on SQLite with no cloud account.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal import dotenv

BASE_DIR = Path(__file__).resolve().parent.parent

KNOWN_MODULES = ("netprobe", "sos", "faces")


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def decode_key(value: str, name: str, *, length: int = 32) -> bytes:
    """A key given as base64 (standard or URL-safe) of exactly ``length`` bytes."""
    import base64
    import binascii

    try:
        key = base64.b64decode(value, altchars=b"-_", validate=True)
    except binascii.Error:
        key = b""
    if len(key) != length:
        raise ImproperlyConfigured(f"{name} must be base64 of exactly {length} random bytes")
    return key


def envkey(name: str) -> str:
    """A base64 key from the environment, checked at start-up; kept encoded (the decoded key
    is made only where it is used)."""
    value = envstr(name)
    if value:
        decode_key(value, name)
    return value


def envbool(name: str, default: bool) -> bool:
    value = envstr(name).lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0/yes/no), got {value!r}")


def envint(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = envstr(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
    return number


def envfloat(name: str, default: float, *, minimum: float = 0.0) -> float:
    value = envstr(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = envstr(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def envnetworks(name: str) -> list[str]:
    networks = []
    for item in envlist(name):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must be comma-separated CIDRs (e.g. 127.0.0.0/8), got {item!r}"
            ) from None
    return networks


def envmodules(name: str) -> list[str]:
    modules = envlist(name, ",".join(KNOWN_MODULES))
    unknown = [m for m in modules if m not in KNOWN_MODULES]
    if unknown:
        raise ImproperlyConfigured(
            f"{name} names unknown module(s) {', '.join(unknown)}; "
            f"known modules: {', '.join(KNOWN_MODULES)}"
        )
    if not modules:
        raise ImproperlyConfigured(f"{name} must name at least one module")
    return list(dict.fromkeys(modules))


def envjsonfile(name: str) -> dict:
    """A JSON object read from the file the variable names; {} when unset."""
    path = envstr(name)
    if not path:
        return {}
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ImproperlyConfigured(f"{name} must name a readable JSON file: {e}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must hold a JSON object, got {type(value).__name__}")
    return value


def envdatabase(name: str, default: str) -> dict:
    url = envstr(name, default)
    try:
        config = dj_database_url.parse(url, conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0))
    except Exception as e:  # dj-database-url raises several types for one cause: a bad URL
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {e}") from None
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"{name} has an unsupported scheme: {url.split(':')[0]!r}")
    return config


def envcache(name: str, default: str) -> dict:
    """locmem://, dummy://, db://TABLE, redis://host:port/db (rediss:// too)."""
    url = envstr(name, default)
    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "portal"}
    if parts.scheme == "dummy":
        return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    if parts.scheme == "db":
        table = (parts.netloc + parts.path).strip("/") or "portal_cache"
        return {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": table}
    if parts.scheme in ("redis", "rediss", "unix"):
        # `prefix` is ours; every other query parameter is redis-py's, passed through.
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "prefix"])
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": urlunsplit(parts._replace(query=query)),
            "KEY_PREFIX": options.get("prefix", "portal"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    raise ImproperlyConfigured(
        f"{name} must be locmem://, dummy://, db://TABLE or redis://HOST:PORT/DB, got {url!r}"
    )


# --- Core -------------------------------------------------------------------------------------

# The development settings `make run` writes, for the commands typed beside it; the real
# environment wins. Never on Lambda: a `.env` zipped by mistake must not turn DEBUG on there.
# The tests set DOTENV=0, so a developer's `.env` does not change what they see.
if envbool("DOTENV", True) and not envstr("AWS_LAMBDA_FUNCTION_NAME"):
    dotenv.load(BASE_DIR / ".env")

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_NAME = envstr("SITE_NAME", "Portal")

PORTAL_MODULES = envmodules("PORTAL_MODULES")
EGRESS_ALLOWED_NETWORKS = envnetworks("EGRESS_ALLOWED_NETWORKS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "portal",
    # Every module stays installed (models, migrations) so one database serves any toggle;
    # PORTAL_MODULES decides what is mounted.
    "modules.netprobe",
    "modules.sos",
    "modules.faces",
]

MIDDLEWARE = [
    "portal.finops.traffic.TrafficMiddleware",  # outermost: counts whole durations
    "portal.logs.RequestLogMiddleware",
    "portal.limits.RequestSizeLimitMiddleware",
    "portal.outage.DatabaseOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
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
                "portal.context.portal",
            ],
        },
    },
]

DATABASES = {"default": envdatabase("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server, the SOS worker threads and readers share the file. IMMEDIATE
    # takes the write lock when a transaction begins, where the busy timeout waits for it: a
    # deferred transaction that reads first and then writes is refused at once ("database is
    # locked") when another process wrote in between, and the busy timeout cannot help it.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A network path that drops packets must not hold a worker until the kernel gives up.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", envint("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)
    )
    if not envbool("DATABASE_PREPARED_STATEMENTS", True):
        # The SOS worker prepares its claim and outcome write (modules/sos/outbox/pg_bulk.py);
        # an explicit None tells it not to, as it tells psycopg.
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": envcache("CACHE_URL", "locmem://")}

# Every password check, wherever it comes from, passes the failed-login limit first.
AUTHENTICATION_BACKENDS = [
    "portal.login_limits.LoginLimitGate",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
LOGIN_RATE_LIMIT = envint("LOGIN_RATE_LIMIT", 10, minimum=1)  # failed attempts per 15 minutes

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media files ----------------------------------------------------------------

STATIC_URL = envstr("STATIC_URL", "/static/")
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = envstr("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(BASE_DIR / "media")))

USE_S3_STORAGE = envbool("USE_S3_STORAGE", False)
if USE_S3_STORAGE:
    AWS_STORAGE_BUCKET_NAME = envstr("AWS_STORAGE_BUCKET_NAME")
    AWS_MEDIA_BUCKET_NAME = envstr("AWS_MEDIA_BUCKET_NAME", AWS_STORAGE_BUCKET_NAME)
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("AWS_STORAGE_BUCKET_NAME must be set when USE_S3_STORAGE is on")
    AWS_S3_REGION_NAME = envstr("AWS_REGION", envstr("AWS_DEFAULT_REGION", "us-east-1"))
    AWS_S3_ENDPOINT_URL = envstr("AWS_ENDPOINT_URL") or None
    AWS_S3_CUSTOM_DOMAIN = envstr("AWS_S3_CUSTOM_DOMAIN") or None
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            # Private (presigned URLs); a name in use gets a new one instead of an overwrite.
            "OPTIONS": {
                "bucket_name": AWS_MEDIA_BUCKET_NAME,
                "location": "media",
                "file_overwrite": False,
            },
        },
        "staticfiles": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "location": "static",
                "querystring_auth": False,
                "file_overwrite": True,
                "custom_domain": AWS_S3_CUSTOM_DOMAIN,
            },
        },
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if envbool("STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }

# WhiteNoise serves static files from the app's folders where collectstatic has not run.
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", DEBUG)
if USE_S3_STORAGE:
    # Pages link static files on S3 (or its CDN); WhiteNoise would only index the image's
    # collected copy at start-up, half a second of every Lambda cold start (bench/cold_start.py).
    MIDDLEWARE.remove("whitenoise.middleware.WhiteNoiseMiddleware")

# Uploads are bounded: a request body beyond REQUEST_MAX_BYTES is refused with 413 before it is
# read; non-file form or JSON data beyond DATA_UPLOAD_MAX_MEMORY_SIZE too.
REQUEST_MAX_BYTES = envint("REQUEST_MAX_BYTES", 25 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security -------------------------------------------------------------------------------

SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
# Probes and Prometheus scrape the pod over plain HTTP inside the cluster (the ServiceMonitor
# sends no X-Forwarded-Proto): a redirect would fail every scrape. A token sent over plain HTTP
# has already crossed the wire, so redirecting /probe would protect nothing either.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$", r"^probe$"]
if envbool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "portal.error_pages.csrf_failure"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Static files from S3 come from another host: the CloudFront distribution in front of the
# static bucket (ops/aws/storage.yaml). Pages may load scripts, styles, images and fonts from it.
if USE_S3_STORAGE and AWS_S3_CUSTOM_DOMAIN:
    for _directive in ("script-src", "style-src", "img-src", "font-src"):
        CONTENT_SECURITY_POLICY["DIRECTIVES"][_directive].append(f"https://{AWS_S3_CUSTOM_DOMAIN}")

# --- Email ----------------------------------------------------------------------------------

EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_FILE_PATH = envstr("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "Portal <portal@localhost>")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive")

# --- API ------------------------------------------------------------------------------------

# Trusted proxies in front (load balancer, API Gateway, CloudFront): they decide which
# X-Forwarded-For entry is the client, for throttles and the login limit.
NUM_PROXIES = envint("NUM_PROXIES", 0, minimum=0, maximum=10)

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes DRF answer 401 (not 403) without credentials.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "portal.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.roles.IsOperatorOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "portal.pagination.Pagination",
    "PAGE_SIZE": envint("API_PAGE_SIZE", 50, minimum=1, maximum=1000),
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": envstr("API_THROTTLE_ANON", "60/min"),
        "user": envstr("API_THROTTLE_USER", "600/min"),
    },
    # 0 means "use REMOTE_ADDR"; None would make DRF trust a client-sent X-Forwarded-For.
    "NUM_PROXIES": NUM_PROXIES,
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Portal API",
    "DESCRIPTION": (
        "NetProbe, SOS Broadcast and Face Comparison behind one API. Errors always have the "
        'shape {"error": {"code", "message", "details"}}; codes are stable strings.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.schema.document_errors",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Logging --------------------------------------------------------------------------------

LOG_FORMAT = envchoice("LOG_FORMAT", "text" if DEBUG else "json", ("json", "text"))
LOG_LEVEL = envchoice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logs.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Our request log replaces Django's per-request lines (one object per request).
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

# --- SOS_Broadcast ----------------------------------------------------------------------------
# Deliveries are database rows; these knobs shape how the dispatcher claims, retries and wakes.

PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL").rstrip("/")  # links in messages (ack pages)
if PUBLIC_BASE_URL and not PUBLIC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"PUBLIC_BASE_URL must start with http:// or https://, got {PUBLIC_BASE_URL!r}"
    )
# On Lambda a thread freezes once the response is returned: wake Zappa's async task there.
SOS_WAKE = envchoice(
    "SOS_WAKE",
    "zappa" if envstr("AWS_LAMBDA_FUNCTION_NAME") else "thread",
    ("thread", "zappa", "none"),
)
SOS_WORKERS = envint("SOS_WORKERS", 8, minimum=1, maximum=64)  # send threads per dispatcher
SOS_MAX_ATTEMPTS = envint("SOS_MAX_ATTEMPTS", 5, minimum=1, maximum=50)
SOS_BACKOFF_BASE_S = envfloat("SOS_BACKOFF_BASE_S", 10.0, minimum=0.01)
SOS_BACKOFF_MAX_S = envfloat("SOS_BACKOFF_MAX_S", 600.0, minimum=0.01)
SOS_LEASE_S = envint("SOS_LEASE_S", 90, minimum=5)  # > the longest send timeout
SOS_POLL_S = envfloat("SOS_POLL_S", 2.0, minimum=0.05)  # sos_worker's idle poll
# A file sos_worker touches while its loop makes progress; the liveness probe reads its age
# (modules/sos/outbox/heartbeat.py). Empty: no heartbeat.
SOS_WORKER_HEARTBEAT = envstr("SOS_WORKER_HEARTBEAT")
SOS_DRAIN_MAX_S = envfloat("SOS_DRAIN_MAX_S", 25.0, minimum=1.0)  # one sweep's budget on Lambda
SOS_SEND_TIMEOUT_S = envfloat("SOS_SEND_TIMEOUT_S", 10.0, minimum=0.5)  # webhook, SES, SNS
SOS_EMAIL_BACKEND = envchoice(
    "SOS_EMAIL_BACKEND", "default", ("default", "smtp", "ses", "console", "file", "locmem")
)
SOS_EMAIL_FROM = envstr("SOS_EMAIL_FROM", DEFAULT_FROM_EMAIL)
SOS_SES_CONFIGURATION_SET = envstr("SOS_SES_CONFIGURATION_SET")
SOS_SMS_SENDER_ID = envstr("SOS_SMS_SENDER_ID")
SOS_SMS_MAX_SEGMENTS = envint("SOS_SMS_MAX_SEGMENTS", 3, minimum=1, maximum=10)
# The rate governor (modules/sos/outbox/governor.py): messages per second per sender (From
# address, SMS sender id, webhook/Apprise host); SMS in segments; 0 = unlimited. Per process
# unless CACHE_URL is Redis: with locmem, set rate / worker processes. SES's default sending
# rate is 14/s; an SMS long code sends 1 part/s, a short code 100.
SOS_RATE_EMAIL = envfloat("SOS_RATE_EMAIL", 14.0)
SOS_RATE_SMS = envfloat("SOS_RATE_SMS", 1.0)
SOS_RATE_WEBHOOK = envfloat("SOS_RATE_WEBHOOK", 0.0)
SOS_RATE_APPRISE = envfloat("SOS_RATE_APPRISE", 0.0)
for _name in ("SOS_RATE_EMAIL", "SOS_RATE_SMS", "SOS_RATE_WEBHOOK", "SOS_RATE_APPRISE"):
    if not 0 <= globals()[_name] <= 100_000:  # also NaN and inf
        raise ImproperlyConfigured(f"{_name} must be 0 (unlimited) to 100000 per second")
SOS_AWS_REGION = envstr(
    "SOS_AWS_REGION", envstr("AWS_REGION", envstr("AWS_DEFAULT_REGION", "us-east-1"))
)
# Where SES and SNS are reached (None: AWS's own endpoints); the tests point it at moto's server.
AWS_ENDPOINT_URL = envstr("AWS_ENDPOINT_URL") or None
SOS_ACK_MAX_AGE_DAYS = envint("SOS_ACK_MAX_AGE_DAYS", 7, minimum=1)
SOS_REMINDER_INTERVAL_MIN = envint("SOS_REMINDER_INTERVAL_MIN", 10, minimum=1)
SOS_REMINDER_MAX = envint("SOS_REMINDER_MAX", 3, minimum=0, maximum=50)
SOS_DEDUP_WINDOW_MIN = envint("SOS_DEDUP_WINDOW_MIN", 60, minimum=0)
# Events API v2 intake (modules/sos/api_integrations.py): events accepted per routing key, as
# DRF rates ("120/min", PagerDuty's documented limit per integration key).
SOS_EVENTS_RATE = envstr("SOS_EVENTS_RATE", "120/min")
if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", SOS_EVENTS_RATE):
    raise ImproperlyConfigured(f"SOS_EVENTS_RATE must look like 120/min, got {SOS_EVENTS_RATE!r}")
# Two-way replies (modules/sos/inbound/): the SNS topics whose messages are applied (inbound
# SMS, SES inbound email), the hosts a SigningCertURL or SubscribeURL may name, Twilio's auth
# token, and the domain of per-delivery Reply-To addresses (empty: no Reply-To).
SOS_SNS_TOPIC_ARNS = envlist("SOS_SNS_TOPIC_ARNS")
for _arn in SOS_SNS_TOPIC_ARNS:
    if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}", _arn):
        raise ImproperlyConfigured(f"SOS_SNS_TOPIC_ARNS must list SNS topic ARNs, got {_arn!r}")
SOS_SNS_CERT_HOST_PATTERN = envstr(
    "SOS_SNS_CERT_HOST_PATTERN", r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
)
try:
    re.compile(SOS_SNS_CERT_HOST_PATTERN)
except re.error as _e:
    raise ImproperlyConfigured(
        f"SOS_SNS_CERT_HOST_PATTERN is not a regular expression: {_e}"
    ) from None
SOS_TWILIO_AUTH_TOKEN = envstr("SOS_TWILIO_AUTH_TOKEN")
# `manage.py sos_prune` (daily) deletes the inbound reply log (InboundMessage, which makes a
# redelivered message apply once) after this. At least a day: SNS messages are accepted up to an
# hour after publication (inbound/sns.py MAX_AGE_S), and each must still find its record.
SOS_INBOUND_RETENTION_DAYS = envint("SOS_INBOUND_RETENTION_DAYS", 30, minimum=1)
SOS_REPLY_TO_DOMAIN = envstr("SOS_REPLY_TO_DOMAIN").lower()
if SOS_REPLY_TO_DOMAIN and not re.fullmatch(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", SOS_REPLY_TO_DOMAIN
):
    raise ImproperlyConfigured(
        f"SOS_REPLY_TO_DOMAIN must be a domain name, got {SOS_REPLY_TO_DOMAIN!r}"
    )
# The schema names SOS choice sets itself: field names such as "kind" or "state" recur in
# other modules with other choices.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "SosChannelEnum": "modules.sos.models.Kind",
        "SosSeverityEnum": "modules.sos.models.Severity",
        "SosAlertStatusEnum": "modules.sos.models.Alert.Status",
        "SosDeliveryStateEnum": "modules.sos.models.Delivery.State",
        "SosAnswerEnum": "modules.sos.models.Delivery.Answer",
        "SosEventKindEnum": "modules.sos.models.AlertEvent.Kind",
        "SosRollCallStatusEnum": "modules.sos.answers.Status",
        "SosAckKindEnum": "modules.sos.answers.AckKind",
    }
)
# --- end SOS_Broadcast ------------------------------------------------------------------------

# --- Face_Comparison --------------------------------------------------------------------------
# dlib loads on the first comparison, never at start-up. Photos are not stored unless
# FACES_STORE_IMAGES is on; then they go through the default storage (S3 with USE_S3_STORAGE)
# and `manage.py faces_prune` deletes them after FACES_RETENTION_DAYS.

FACES_THRESHOLD = envfloat("FACES_THRESHOLD", 0.6, minimum=0.01)  # same person at distance <= this
if FACES_THRESHOLD > 2.0:
    raise ImproperlyConfigured(f"FACES_THRESHOLD must be at most 2.0, got {FACES_THRESHOLD}")
FACES_MAX_IMAGE_BYTES = envint("FACES_MAX_IMAGE_BYTES", 10 * 1024 * 1024, minimum=1024)
FACES_MAX_PIXELS = envint("FACES_MAX_PIXELS", 40_000_000, minimum=10_000)
FACES_DETECT_MAX_SIDE = envint("FACES_DETECT_MAX_SIDE", 1024, minimum=160, maximum=8192)
FACES_MIN_FACE_SIZE = envint("FACES_MIN_FACE_SIZE", 50, minimum=1)  # px; smaller ones: warning
FACES_STORE_IMAGES = envbool("FACES_STORE_IMAGES", False)
FACES_RETENTION_DAYS = envint("FACES_RETENTION_DAYS", 30, minimum=1)
# The gallery: references expire (faces_prune destroys them), every search is audited, and
# descriptors are sealed with a key per subject wrapped by the master key (KMS in production;
# modules.faces.gallery.keys). Gallery thumbnails are kept only with FACES_STORE_IMAGES.
FACES_REFERENCE_RETENTION_DAYS = envint("FACES_REFERENCE_RETENTION_DAYS", 365, minimum=1)
FACES_AUDIT_RETENTION_DAYS = envint("FACES_AUDIT_RETENTION_DAYS", 365, minimum=1)
FACES_KMS_KEY_ID = envstr("FACES_KMS_KEY_ID")
FACES_MASTER_KEY = envkey("FACES_MASTER_KEY")  # base64 of 32 random bytes
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "FacesLegalBasisEnum": "modules.faces.models.Consent.LegalBasis",
        "FacesRecordableLegalBasisEnum": "modules.faces.gallery.constants.RECORDABLE_BASES",
    }
)
# --- end Face_Comparison ----------------------------------------------------------------------

# --- NetProbe ---------------------------------------------------------------------------------
# Bounds for every probe (API, UI, CLI, monitors); modules.netprobe.services.probe_limits() turns
# them into the engines' Limits. NETPROBE_MAX_DURATION_S stays under API Gateway's 29 s.

NETPROBE_MAX_TIMEOUT_S = envfloat("NETPROBE_MAX_TIMEOUT_S", 10.0, minimum=0.5)
NETPROBE_MAX_COUNT = envint("NETPROBE_MAX_COUNT", 16, minimum=1, maximum=100)
NETPROBE_MAX_BODY_EXCERPT = envint(
    "NETPROBE_MAX_BODY_EXCERPT", 65_536, minimum=0, maximum=1_048_576
)  # bytes kept per result
NETPROBE_MAX_DURATION_S = envfloat("NETPROBE_MAX_DURATION_S", 25.0, minimum=1.0)
if NETPROBE_MAX_TIMEOUT_S > NETPROBE_MAX_DURATION_S:
    raise ImproperlyConfigured(
        f"NETPROBE_MAX_TIMEOUT_S ({NETPROBE_MAX_TIMEOUT_S}) must not exceed "
        f"NETPROBE_MAX_DURATION_S ({NETPROBE_MAX_DURATION_S})"
    )
NETPROBE_BATCH_MAX = envint("NETPROBE_BATCH_MAX", 100, minimum=1, maximum=1000)
NETPROBE_BATCH_WORKERS = envint("NETPROBE_BATCH_WORKERS", 100, minimum=1, maximum=256)  # threads
NETPROBE_RETENTION_DAYS = envint("NETPROBE_RETENTION_DAYS", 90, minimum=1)
NETPROBE_ICMP_PRIVILEGE = envchoice(
    "NETPROBE_ICMP_PRIVILEGE", "auto", ("auto", "unprivileged", "privileged")
)
NETPROBE_MONITOR_MIN_INTERVAL_S = envint("NETPROBE_MONITOR_MIN_INTERVAL_S", 30, minimum=1)
NETPROBE_CA_BUNDLE = envstr("NETPROBE_CA_BUNDLE") or None  # PEM replacing the system trust store
# thread: the web process runs the due monitors itself (modules/netprobe/scheduler.py). Off on
# Lambda, whose per-minute event runs them (a frozen function runs no thread).
NETPROBE_SCHEDULER = envchoice(
    "NETPROBE_SCHEDULER",
    "off" if envstr("AWS_LAMBDA_FUNCTION_NAME") else "thread",
    ("thread", "off"),
)
NETPROBE_SCHEDULER_TICK_S = envfloat("NETPROBE_SCHEDULER_TICK_S", 10.0, minimum=0.05)
# Probing from many places (modules/netprobe/vantages). `hub` (the default) is the portal; a
# `vantage` serves only the signed vantage endpoint and /healthz, with no database: it verifies
# each request with NETPROBE_VANTAGE_SECRET (comma-separated: the current key and, during a
# rotation, the previous one; each at least 32 bytes).
NETPROBE_ROLE = envchoice("NETPROBE_ROLE", "hub", ("hub", "vantage"))
NETPROBE_VANTAGE_SECRETS = envlist("NETPROBE_VANTAGE_SECRET")
NETPROBE_VANTAGE_REGION = envstr("NETPROBE_VANTAGE_REGION", envstr("AWS_REGION"))
# The hub waits for a vantage the probe's own longest duration plus this margin (the round trip,
# the vantage's start-up); past it the location is `vantage_unavailable`, "timed out".
NETPROBE_VANTAGE_MARGIN_S = envfloat("NETPROBE_VANTAGE_MARGIN_S", 3.0, minimum=0.1)
# Where a vantage remembers the requests it has seen (replays): `cache` (CACHE_URL, which must
# then be a shared redis://) or `process` (a locmem:// cache in this one process accepted).
NETPROBE_VANTAGE_REPLAY_STORE = envchoice(
    "NETPROBE_VANTAGE_REPLAY_STORE", "cache", ("cache", "process")
)
if NETPROBE_ROLE == "vantage":
    if not NETPROBE_VANTAGE_SECRETS:
        raise ImproperlyConfigured("NETPROBE_VANTAGE_SECRET must be set when NETPROBE_ROLE=vantage")
    if len(NETPROBE_VANTAGE_SECRETS) > 2:
        raise ImproperlyConfigured(
            "NETPROBE_VANTAGE_SECRET holds at most two secrets (current,previous)"
        )
    from modules.netprobe.vantages.signing import MIN_SECRET_BYTES

    for _secret in NETPROBE_VANTAGE_SECRETS:
        if len(_secret.encode()) < MIN_SECRET_BYTES:
            raise ImproperlyConfigured(
                f"NETPROBE_VANTAGE_SECRET must be at least {MIN_SECRET_BYTES} bytes "
                "(each, when two are given)"
            )
    if CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        raise ImproperlyConfigured(
            "CACHE_URL must be locmem:// or redis:// when NETPROBE_ROLE=vantage (no database)"
        )
    # A locmem cache remembers replays for one process only: refused unless the operator
    # declares that is what they want (one process; or Lambda, each warm instance its own
    # window, documented in ops/README.md "Vantages").
    if (
        CACHES["default"]["BACKEND"].endswith("LocMemCache")
        and NETPROBE_VANTAGE_REPLAY_STORE != "process"
    ):
        raise ImproperlyConfigured(
            "NETPROBE_ROLE=vantage with CACHE_URL=locmem:// remembers replays per process: set "
            "CACHE_URL=redis://... (shared by every worker and instance) or declare one process "
            "with NETPROBE_VANTAGE_REPLAY_STORE=process"
        )
    # Stateless: nothing is stored, so no database is needed or reached (an in-memory one keeps
    # the ORM importable). Replays are remembered in the cache: per process with locmem://, for
    # every process and instance of the vantage with a shared redis:// (modules/netprobe/vantages).
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        # Culling at the default 300 entries would forget requests still inside the window.
        CACHES["default"]["OPTIONS"] = {"MAX_ENTRIES": 100_000}
    ROOT_URLCONF = "modules.netprobe.vantages.urls"
    PORTAL_MODULES = ["netprobe"]
    NETPROBE_SCHEDULER = "off"
    SOS_WAKE = "none"
    MIDDLEWARE = [
        "portal.logs.RequestLogMiddleware",
        "portal.limits.RequestSizeLimitMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ]
    # No sessions, login or admin are served: the admin's middleware checks do not apply.
    SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "NetprobeKindEnum": "modules.netprobe.models.Kind",
        "NetprobeStatusEnum": "modules.netprobe.models.Status",
        "NetprobeMonitorStateEnum": "modules.netprobe.models.Monitor.State",
        "NetprobeIncidentStatusEnum": "modules.netprobe.status_models.IncidentStatus",
        "NetprobeLocationStatusEnum": "modules.netprobe.vantages.fanout.LOCATION_STATUSES",
    }
)
# A blackbox_exporter modules file (YAML, or JSON when it ends in .json) for /probe, on top of
# the built-in http_2xx, tcp_connect, icmp and dns; checked here so a bad file stops start-up.
# /probe runs a probe per request: a DRF-style rate per user ("300/min"), as the API throttles.
NETPROBE_PROBE_RATE = envstr("NETPROBE_PROBE_RATE", "300/min")
if not re.fullmatch(r"[1-9][0-9]*/[smhd][a-z]*", NETPROBE_PROBE_RATE):
    raise ImproperlyConfigured("NETPROBE_PROBE_RATE must look like 300/min")
NETPROBE_PROMETHEUS_MODULES = envstr("NETPROBE_PROMETHEUS_MODULES")
if NETPROBE_PROMETHEUS_MODULES:
    from modules.netprobe.prometheus.config import ConfigError, available_modules

    try:
        available_modules(NETPROBE_PROMETHEUS_MODULES)
    except ConfigError as e:
        raise ImproperlyConfigured(f"NETPROBE_PROMETHEUS_MODULES: {e}") from None
# --- end NetProbe -----------------------------------------------------------------------------

# --- FinOps -----------------------------------------------------------------------------------
# Traffic counts are kept in memory and written at most every FINOPS_FLUSH_S seconds per process
# (portal/finops/traffic.py); 10 s on Lambda, whose idle environments are reclaimed unflushed.
# FINOPS_PRICES names a JSON file laid over portal/finops/prices.json:
# {"ec2_node_hour": 0.1008, "topology": {"nat_gateways": 2}} (portal/finops/prices.py).

FINOPS_TRAFFIC = envbool("FINOPS_TRAFFIC", True)
FINOPS_FLUSH_S = envint(
    "FINOPS_FLUSH_S", 10 if envstr("AWS_LAMBDA_FUNCTION_NAME") else 60, minimum=1, maximum=3600
)
FINOPS_PRICES = envjsonfile("FINOPS_PRICES")
if FINOPS_PRICES:
    from portal.finops.prices import load_prices

    try:
        load_prices(overrides=FINOPS_PRICES)
    except (KeyError, TypeError, ValueError) as e:
        raise ImproperlyConfigured(f"FINOPS_PRICES does not fit prices.json: {e}") from None
# --- end FinOps -------------------------------------------------------------------------------
