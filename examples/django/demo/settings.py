"""The example site: configured like the app entra-sso was made for (sessions in a per-process
LocMemCache, several instances), with sign-in trusted from the entra-sso session.

Environment:
  DJANGO_SECRET_KEY     required (the same on every instance)
  DJANGO_DB             SQLite file (default db.sqlite3 here); shared by the instances
  ENTRA_SSO_ISSUER      the deployment's issuer: SSO_REDIRECT_URI without "/callback"
  ENTRA_SSO_AUDIENCE    SSO_CLIENT_ID (or SSO_SESSION_AUDIENCE)
  ENTRA_SSO_JWKS_URL    optional; default ISSUER + "/jwks"
  ENTRA_SSO_TENANTS     comma-separated tenant ids; default the dev IdP's tenant
                        (00000000-de00-4000-8000-00000000de00). ROLE_MAP needs it; with exactly
                        one tenant, a first sign-in is also matched by e-mail to an unlinked user
  ENTRA_SSO_MODE        "cookie" (default) or "headers" (behind nginx auth_request + /api/auth,
                        or behind entra-sso proxy / App Service Authentication)
  ENTRA_SSO_ROUTES      "api" (default): sign-in at entra-sso's /api/login and /api/logout;
                        "easyauth": at App Service Authentication's /.auth/login/aad and
                        /.auth/logout (behind entra-sso proxy, or App Service itself)
  INSTANCE_NAME         optional; sent back as X-Instance (to see which instance answered)
  DJANGO_DEBUG          "1" for DEBUG
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"] + [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "entra_sso_django",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # In place of django.contrib.auth.middleware.AuthenticationMiddleware:
    "entra_sso_django.middleware.EntraSSOMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "demo.middleware.instance_header",
]

AUTHENTICATION_BACKENDS = ["entra_sso_django.backends.EntraSSOBackend"]

# As in the original app: sessions in the cache, the cache in each process's memory. Sign-in
# does not depend on them.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

_routes = os.environ.get("ENTRA_SSO_ROUTES", "api")
if _routes not in ("api", "easyauth"):
    raise ImproperlyConfigured('ENTRA_SSO_ROUTES must be "api" or "easyauth"')
_easy_auth = _routes == "easyauth"
# With ?return_to=<path> (entra_sso_django.views.login_required), or ?post_login_redirect_uri=
# at App Service Authentication's path.
LOGIN_URL = "/.auth/login/aad" if _easy_auth else "/api/login"
LOGOUT_REDIRECT_URL = "/"

# The dev IdP's tenant (entra-sso dev / dev-idp without SSO_TENANT_ID). ROLE_MAP is only trusted
# for listed tenants: anyone can create a tenant and assign themselves the Admin role there.
# (Lower-case names: not Django settings.)
_dev_tenant = "00000000-de00-4000-8000-00000000de00"
_tenants = [t.strip() for t in os.environ.get("ENTRA_SSO_TENANTS", _dev_tenant).split(",") if t.strip()]

ENTRA_SSO = {
    "ISSUER": os.environ["ENTRA_SSO_ISSUER"],
    "AUDIENCE": os.environ["ENTRA_SSO_AUDIENCE"],
    "JWKS_URL": os.environ.get("ENTRA_SSO_JWKS_URL") or None,
    "MODE": os.environ.get("ENTRA_SSO_MODE", "cookie"),
    "TRUST_FORWARD_AUTH_HEADERS": os.environ.get("ENTRA_SSO_MODE") == "headers",
    "TENANTS": _tenants,
    "MATCH_EMAIL": len(_tenants) == 1,  # e-mail matching is only allowed with a single tenant
    "ROLE_MAP": {"Admin": {"is_staff": True, "is_superuser": True, "groups": ["Administrators"]}},
    "LOGIN_URL": LOGIN_URL,
    "LOGOUT_URL": "/.auth/logout" if _easy_auth else "/api/logout",
}

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", str(BASE_DIR / "db.sqlite3")),
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"entra_sso_django": {"handlers": ["console"], "level": "INFO"}},
}
