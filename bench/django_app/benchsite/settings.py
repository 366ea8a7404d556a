"""A minimal Django project serving django-microsoft-sso for bench/run.sh.

Bench-only settings (never use them in production): a fixed SECRET_KEY, a dummy app registration,
and the offline redirection of Microsoft's discovery call at the bottom of this file.

BENCH_SESSIONS selects the session backend:
  db              Django's default: database sessions (SQLite, bench/.venv/django-bench.sqlite3)
  signed_cookies  django.contrib.sessions.backends.signed_cookies (no server-side store)
  cache           django.contrib.sessions.backends.cache with LocMemCache (per process)
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "bench-only-django-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_microsoft_sso",
]

# `django-admin startproject`'s default middleware stack.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "benchsite.urls"
WSGI_APPLICATION = "benchsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_SQLITE", str(BASE_DIR.parent / ".venv" / "django-bench.sqlite3")),
    }
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

_SESSIONS = {
    "db": "django.contrib.sessions.backends.db",
    "signed_cookies": "django.contrib.sessions.backends.signed_cookies",
    "cache": "django.contrib.sessions.backends.cache",
}
SESSION_ENGINE = _SESSIONS[os.environ.get("BENCH_SESSIONS", "db")]

USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# A dummy app registration, in the same tenant as entra-sso's side of the benchmark.
MICROSOFT_SSO_APPLICATION_ID = "6cb04018-a3f5-46a7-b995-940c78f5aef3"
MICROSOFT_SSO_CLIENT_SECRET = "bench-client-secret"
MICROSOFT_SSO_AUTHORITY = "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e"
MICROSOFT_SSO_SCOPES = ["User.ReadBasic.All"]
# Fixed callback host (otherwise the package looks the host up in django.contrib.sites per login).
MICROSOFT_SSO_CALLBACK_DOMAIN = "app.example.com"
# The package logs at DEBUG through loguru on every request unless told not to; entra-sso's side
# runs with RUST_LOG=off, so this side runs without logs too.
MICROSOFT_SSO_ENABLE_LOGS = False

# --- Offline: Microsoft's discovery document from a local stub ----------------------------------
# django-microsoft-sso builds a new msal.ConfidentialClientApplication on every login, and msal's
# constructor fetches the authority's OpenID configuration
#   GET https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration
# with a new requests.Session (msal caches it per application object only, so once per login).
# With BENCH_DISCOVERY_STUB=http://127.0.0.1:<port> the requests made by `requests` to
# https://login.microsoftonline.com are sent to that plain-HTTP stub instead, which serves the real
# document (tests/fixtures/entra/tenant.openid-configuration.json). Everything above the socket
# (msal, requests, the JSON parsing) runs unchanged; TLS and the round trip to Microsoft are
# skipped, so the numbers this gives are an upper bound for the package.
_STUB = os.environ.get("BENCH_DISCOVERY_STUB")
if _STUB:
    import requests.adapters

    _MICROSOFT = "https://login.microsoftonline.com/"
    _send = requests.adapters.HTTPAdapter.send

    def _send_to_stub(self, request, *args, **kwargs):
        if request.url.startswith(_MICROSOFT):
            request.url = _STUB.rstrip("/") + "/" + request.url[len(_MICROSOFT):]
        return _send(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = _send_to_stub
