"""Django settings of the microbss CRM, read from the environment.

Environment variables (all optional; the defaults suit a first look on one machine):

``MICROBSS_DATA_DIR``
    Directory for local state, shared with the engine (default ``var``, relative to the working
    directory). The CRM keeps its SQLite database and its generated secret key here.
``MICROBSS_CRM_DB_URL``
    The CRM's own database. Default: SQLite at ``<data dir>/crm.sqlite3``. Also
    ``mysql://user:password@host:3306/name`` (MariaDB/MySQL, through PyMySQL, utf8mb4) and
    ``postgresql://user:password@host:5432/name`` (through psycopg 3).
``MICROBSS_CRM_SECRET_KEY``
    Django's signing key (sessions, CSRF, password reset tokens). When unset, a random key is
    generated once into ``<data dir>/crm-secret-key`` (mode 0600) and reused after that. Set it
    explicitly when several hosts serve the CRM.
``MICROBSS_CRM_TOTP_KEY``
    Key that encrypts the users' TOTP secrets in ``csr_users`` (any long random text; derived
    into a Fernet key with HKDF). When unset, ``SECRET_KEY`` is used, so changing the secret key
    then locks every enrolled user out of MFA until an admin resets it: **set this in
    production** and keep it apart from database backups. Several keys separated by commas
    rotate it: the first encrypts, all decrypt; ``microbss crm manage reseal_totp_secrets``
    re-encrypts every secret with the first.
``MICROBSS_CRM_DEBUG``
    ``1`` shows Django's debug pages. Default off; never turn it on in production.
``MICROBSS_CRM_ALLOWED_HOSTS``
    Comma-separated host names the CRM answers to (default ``localhost,127.0.0.1``).
``MICROBSS_CRM_HTTPS``
    ``1`` when the CRM is served over HTTPS (normally behind a reverse proxy that terminates TLS
    and sets ``X-Forwarded-Proto: https``). Turns on Secure cookies, HSTS (one year, with
    subdomains), the redirect from http to https and trusts the proxy's ``X-Forwarded-Proto``.
    This is the production setting; leave it off only for a local first look over plain http.
``MICROBSS_CRM_STATIC_ROOT``
    Optional directory for ``microbss crm collectstatic`` (static files are otherwise served by
    the CRM itself, through whitenoise).
``MICROBSS_CRM_LISTEN``
    Address ``microbss crm serve`` binds (default ``127.0.0.1:8000``; read by ``cli.py``).
``MICROBSS_CRM_WORKERS``
    Number of gunicorn worker processes of ``microbss crm serve`` (default 2; read by ``cli.py``).
``MICROBSS_TIME_ZONE``
    The operator's time zone for every date and time shown (default ``Europe/Madrid``). Stored
    times are UTC.
``MICROBSS_ENGINE_ADDR``
    host:port of the charging engine's gRPC API (default: ``MICROBSS_ENGINE_LISTEN`` or
    ``127.0.0.1:50051``).
``MICROBSS_ENGINE_TOKEN``
    Bearer token the CRM presents to the engine (must match the engine's token, if it has one).
``MICROBSS_ENGINE_TIMEOUT_SECONDS``
    Deadline of each ordinary engine call (default 5).
``MICROBSS_ENGINE_LONG_TIMEOUT_SECONDS``
    Deadline of billing, termination and invoice downloads (default 60).
``MICROBSS_ENGINE_TLS_CA``
    CA certificate file: when set, the CRM talks TLS to the engine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
import pymysql

from microbss.crm.secret_key import load_or_create_secret_key

# PyMySQL is a pure-Python MySQL/MariaDB driver: installing it under the name of Django's default
# driver (mysqlclient) means no C compiler and no MariaDB client headers are needed to run the CRM
# on MariaDB, which is what the original system used.
pymysql.install_as_MySQLdb()


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _flag(name: str) -> bool:
    return _env(name).lower() in {"1", "true", "yes", "on"}


PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(_env("MICROBSS_DATA_DIR", "var"))

DEBUG = _flag("MICROBSS_CRM_DEBUG")
SECRET_KEY = _env("MICROBSS_CRM_SECRET_KEY") or load_or_create_secret_key(
    DATA_DIR / "crm-secret-key", lambda: secrets.token_urlsafe(50)
)
MICROBSS_CRM_TOTP_KEY = _env("MICROBSS_CRM_TOTP_KEY")
ALLOWED_HOSTS = [
    host.strip()
    for host in _env("MICROBSS_CRM_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "microbss.crm.core",
    "microbss.crm.accounts",
    "microbss.crm.audit",
    "microbss.crm.vat",
    "microbss.crm.subscribers",
    "microbss.crm.vouchers",
    "microbss.crm.catalog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "microbss.crm.core.middleware.content_security_policy",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "microbss.crm.core.middleware.user_preferences",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "microbss.crm.urls"
WSGI_APPLICATION = "microbss.crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "microbss.crm.core.context_processors.workspace",
            ],
        },
    },
]


def _database(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
    if config["ENGINE"] == "django.db.backends.mysql":
        # utf8mb4: names and addresses may hold any Unicode character (utf8 in MySQL is 3 bytes).
        config["OPTIONS"] = {
            "charset": "utf8mb4",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
            **config.get("OPTIONS", {}),
        }
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        # Gunicorn workers write to the same file: wait for a lock instead of failing at once.
        config["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    return config


def _default_database_url() -> str:
    with contextlib.suppress(OSError):
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(DATA_DIR / 'crm.sqlite3').resolve()}"


DATABASES = {"default": _database(_env("MICROBSS_CRM_DB_URL") or _default_database_url())}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Users and passwords ---------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.CsrUser"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_HASHERS = [
    # Argon2id hashes the whole password (no 72-byte truncation as with bcrypt).
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "microbss.crm.accounts.passwords.MaximumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Failed logins before a lock, and how long the lock (and the counting window) lasts.
MICROBSS_LOGIN_MAX_FAILURES = 5
MICROBSS_LOGIN_LOCK_MINUTES = 15

# Sessions, cookies and security headers -------------------------------------------------------

SESSION_COOKIE_AGE = 10 * 60 * 60  # a working day
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "microbss_session"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_NAME = "microbss_csrftoken"
CSRF_FAILURE_VIEW = "microbss.crm.core.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Only our own files: no inline scripts or styles, no CDN, no framing. Bootstrap's form controls
# draw their arrows and checks with data: SVG images.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)

HTTPS = _flag("MICROBSS_CRM_HTTPS")
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Languages, time zone, formats -----------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = _env("MICROBSS_TIME_ZONE", "Europe/Madrid")
# One date convention per language (formats/<lang>/formats.py): 2026-11-27 19:34 in English,
# 27/11/2026 19:34 in Spanish; never Django's US defaults ("Nov. 27", "7:34 p.m.", "midnight").
FORMAT_MODULE_PATH = ["microbss.crm.formats"]

# Static files: whitenoise serves them straight from the apps' static/ directories under
# gunicorn, so no collectstatic step is needed. MICROBSS_CRM_STATIC_ROOT, when set, is where
# `microbss crm collectstatic` copies them for a front web server to serve instead.
STATIC_URL = "/static/"
STATIC_ROOT = _env("MICROBSS_CRM_STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Engine connection (engine_client.py reads these; empty means its own default) ----------------

MICROBSS_ENGINE_ADDRESS = _env("MICROBSS_ENGINE_ADDR") or _env("MICROBSS_ENGINE_ADDRESS")
MICROBSS_ENGINE_TOKEN = _env("MICROBSS_ENGINE_TOKEN")
MICROBSS_ENGINE_TIMEOUT_SECONDS = _env("MICROBSS_ENGINE_TIMEOUT_SECONDS")
MICROBSS_ENGINE_LONG_TIMEOUT_SECONDS = _env("MICROBSS_ENGINE_LONG_TIMEOUT_SECONDS")
MICROBSS_ENGINE_TLS_CA = _env("MICROBSS_ENGINE_TLS_CA")

# Logging: errors go to the server's log with their traceback, never to the user's browser. ----

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
