"""Settings for `manage.py test` (the module's unit tests): the example's settings with test
values; each test sets ENTRA_SSO itself."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "unit-tests-only-not-a-secret")
os.environ.setdefault("ENTRA_SSO_ISSUER", "http://127.0.0.1:9/api")
os.environ.setdefault("ENTRA_SSO_AUDIENCE", "unit-test-client")

from .settings import *  # noqa: E402,F401,F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
LOGGING = {"version": 1, "disable_existing_loggers": False}
