"""herokucd settings, read from the environment (12-factor, django-environ).

With nothing set, herokucd runs on embedded defaults: SQLite and an embedded Redis in the data
folder, with a secret key and field-encryption key generated once and kept there. `.env.example`
lists every variable.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from herokucd import __version__
from herokucd.local_secrets import local_secret, make_private, new_fernet_key, new_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
DATA_DIR = Path(env.str("HEROKUCD_DATA_DIR", default="") or BASE_DIR / ".data").resolve()
# The data folder holds the database, Redis, secrets and git mirrors: this process and the ones
# it starts (gunicorn, workers, redis-server, git, SQLite's WAL) create everything in it private.
make_private(DATA_DIR)
VERSION = __version__


def _secret(name, make, how):
    """A secret from the environment; in development generated once into the data folder."""
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DEBUG=False. {how}")
    return local_secret(DATA_DIR / name.lower(), make)


SECRET_KEY = _secret(
    "SECRET_KEY",
    new_secret_key,
    'Make one with: python -c "import secrets; print(secrets.token_urlsafe(50))"',
)
# Comma-separated Fernet keys, newest first: the first encrypts, all of them decrypt.
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in _secret(
        "FIELD_ENCRYPTION_KEYS",
        new_fernet_key,
        'Make one with: python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"',
    ).split(",")
    if key.strip()
]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_rq",
    "herokucd",
    "projects",
    "deploys",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "herokucd.middleware.NoStoreForSignedInUsers",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "herokucd.urls"
WSGI_APPLICATION = "herokucd.wsgi.application"

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
                "projects.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes share the file: WAL lets readers and a writer work together,
    # IMMEDIATE transactions make writers queue on the busy timeout instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        # journal_mode=WAL is kept by the file: migrate sets it (herokucd/apps.py).
        "init_command": "PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: worker processes that tests start must see the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
# Each web thread keeps its connection between requests: opening one (and, on SQLite, running
# the PRAGMAs above) costs more than most pages' queries.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Folders on the workers whose git repositories a project may use by path (the demo and the
# tests); none by default: repositories are https or ssh URLs (herokucd/git.py).
ALLOWED_LOCAL_REPOSITORY_FOLDERS = env.list("ALLOWED_LOCAL_REPOSITORY_FOLDERS", default=[])

# Redis: a server when REDIS_URL is set, else the embedded one shared through the data folder.
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    from herokucd.embedded_redis import socket_path

    REDIS_URL = f"unix://{socket_path(DATA_DIR)}"
RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600}}
# Every signed-in page reads its session: from Redis, written through to the database, so a
# Redis restart signs nobody out (herokucd/sessions.py, herokucd/cache.py).
CACHES = {
    "default": {
        "BACKEND": "herokucd.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "herokucd",
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    },
    # Rendered page parts and layouts each web process keeps (projects/pagecache.py, layout.py).
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "herokucd-pages",
        "OPTIONS": {"MAX_ENTRIES": 1000},
    },
    # Live log answers shared by the viewers of one deploy for a moment (deploys/views.py).
    "log-answers": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "herokucd-log-answers",
        "OPTIONS": {"MAX_ENTRIES": 300},
    },
}
SESSION_ENGINE = "herokucd.sessions"
# DeployWorker fails a deploy at once when the process running it dies.
RQ = {"COMMIT_MODE": "on_db_commit", "WORKER_CLASS": "deploys.worker.DeployWorker"}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "projects.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Who may create projects: "admins" (staff and superusers, and users given the "Can add
# project" permission in the admin) or "everyone" signed in.
PROJECT_CREATORS = env.str("PROJECT_CREATORS", default="admins")
if PROJECT_CREATORS not in ("admins", "everyone"):
    raise ImproperlyConfigured(
        f'PROJECT_CREATORS must be "admins" or "everyone", not "{PROJECT_CREATORS}".'
    )
# Days an invitation link stays valid.
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)
# Seconds a password reset link stays valid (Django's setting; 3 days by default).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling: failures are counted per username and address together, so failures from
# one address lock that address out of that username, never the real user signing in elsewhere.
# The address is REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies (Heroku's router: 1) the
# one X-Forwarded-For says the outermost proxy saw (herokucd/clientip.py).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "herokucd.clientip.client_ip"
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Heroku endpoints: the real ones by default, the local simulator in tests and `make demo`.
HEROKU_API_URL = env.str("HEROKU_API_URL", default="https://api.heroku.com").rstrip("/")
HEROKU_GIT_URL = env.str("HEROKU_GIT_URL", default="https://git.heroku.com").rstrip("/")
HEROKU_DATA_API_URL = env.str("HEROKU_DATA_API_URL", default="https://api.data.heroku.com")
HEROKU_DATA_API_URL = HEROKU_DATA_API_URL.rstrip("/")
# CA bundle that signs the one-off dyno rendezvous host; empty means the system's trust store.
HEROKU_RENDEZVOUS_CA = env.str("HEROKU_RENDEZVOUS_CA", default="") or None
HEROKU_CLI = env.str("HEROKU_CLI", default="") or str(
    BASE_DIR / ".tools/heroku-cli/node_modules/.bin/heroku"
)
# Custom commands run in a bubblewrap sandbox (deploys/sandbox.py); where none can be made, a
# deploy with commands fails, unless UNSANDBOXED_COMMANDS runs them on the worker host itself.
BWRAP = env.str("BWRAP", default="bwrap")
UNSANDBOXED_COMMANDS = env.bool("UNSANDBOXED_COMMANDS", default=False)

# Heroku allows 75 git requests per rolling hour per user and app; pushes wait for budget.
HEROKU_GIT_RATE_LIMIT = env.int("HEROKU_GIT_RATE_LIMIT", default=75)
HEROKU_GIT_RATE_WINDOW = env.int("HEROKU_GIT_RATE_WINDOW", default=3600)
HEROKU_GIT_BACKOFF = env.int("HEROKU_GIT_BACKOFF", default=300)
# A running deploy whose worker has not written a heartbeat for this long is failed and cleaned up.
DEPLOY_STALE_SECONDS = env.int("DEPLOY_STALE_SECONDS", default=60)
# The most one deploy's log keeps: past either, output lines are counted and dropped.
LOG_MAX_LINES = env.int("LOG_MAX_LINES", default=1_000_000)
LOG_MAX_MB = env.int("LOG_MAX_MB", default=100)
# Seconds a log scrub (deploys/scrub.py) rests between chunks, to spare a busy database.
LOG_SCRUB_PAUSE_SECONDS = env.float("LOG_SCRUB_PAUSE_SECONDS", default=0)
# Live-log long polls waiting at once, per web process and per user in it: kept below the web
# server's threads (Procfile: 8 per worker) so other pages are always served.
LOG_WAIT_MAX_PER_PROCESS = env.int("LOG_WAIT_MAX_PER_PROCESS", default=4)
LOG_WAIT_MAX_PER_USER = env.int("LOG_WAIT_MAX_PER_USER", default=2)
# Live log streams (server-sent events, deploys/stream.py) open at once, per web process and per
# user in it; past either, a stream is refused with 429 and the page follows by long polls. A
# stream ends after LIVE_STREAM_MAX_SECONDS (the page resumes it where it was, access checked
# again) and checks every LIVE_STREAM_ACCESS_SECONDS that its viewer is signed in and a member.
LIVE_STREAMS_MAX_PER_PROCESS = env.int("LIVE_STREAMS_MAX_PER_PROCESS", default=1000)
LIVE_STREAMS_MAX_PER_USER = env.int("LIVE_STREAMS_MAX_PER_USER", default=20)
LIVE_STREAM_MAX_SECONDS = env.float("LIVE_STREAM_MAX_SECONDS", default=600.0)
LIVE_STREAM_ACCESS_SECONDS = env.float("LIVE_STREAM_ACCESS_SECONDS", default=10.0)
# Webhooks: a commit deployed by a webhook is not deployed again by one for this many seconds
# (a replayed delivery); signed timestamps more than WEBHOOK_MAX_AGE seconds off are refused.
WEBHOOK_REPLAY_WINDOW = env.int("WEBHOOK_REPLAY_WINDOW", default=3600)
WEBHOOK_MAX_AGE = env.int("WEBHOOK_MAX_AGE", default=300)
# Seconds between attempts of a failed notification delivery.
NOTIFICATION_RETRY_INTERVALS = env.list(
    "NOTIFICATION_RETRY_INTERVALS", cast=int, default=[30, 120, 600]
)
# GitHub's REST API (deployment statuses); a GitHub Enterprise Server's is https://HOST/api/v3.
GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com").rstrip("/")
# Seconds between attempts of a deployment status GitHub did not take.
GITHUB_RETRY_INTERVALS = env.list("GITHUB_RETRY_INTERVALS", cast=int, default=[30, 120, 600, 3600])
# Internal networks (CIDR) or host names that health checks, notification webhooks and cache
# flushes may reach; every other loopback, private, link-local... address is refused.
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])

# Security headers. Every page is served without inline script, so the policy is strict.
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if not DEBUG:
    # Heroku's router terminates TLS and says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# Mail (password resets): EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587, or the
# console (mail printed to the log) when it is not set.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="herokucd@localhost")
# The dashboard's public address for links made without a request (notifications sent by
# workers). Empty: pages use the address each request came to (herokucd/siteurl.py).
SITE_URL = env.str("SITE_URL", default="").rstrip("/")
# Behind a proxy that sets X-Forwarded-Host/-Port (Heroku's router needs neither).
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
USE_X_FORWARDED_PORT = env.bool("USE_X_FORWARDED_PORT", default=False)

# Error reports (the DEBUG page, error e-mails) hide connection URLs and URL passwords too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "herokucd.errors.SettingsFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
