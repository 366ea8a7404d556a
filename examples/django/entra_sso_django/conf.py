"""The `ENTRA_SSO` setting, checked once.

    ENTRA_SSO = {
        "ISSUER": "https://app.example.com/api",   # required: SSO_REDIRECT_URI without /callback
        "AUDIENCE": "<SSO_CLIENT_ID>",              # required (or SSO_SESSION_AUDIENCE)
        "JWKS_URL": None,                           # default ISSUER + "/jwks"
        "COOKIE_NAME": "__Host-sso-session",        # "__Secure-sso-session" with SSO_COOKIE_DOMAIN
        "MODE": "cookie",                           # or "headers" (behind /api/auth forward auth)
        "TRUST_FORWARD_AUTH_HEADERS": False,        # must be True for MODE "headers"
        "TENANTS": [],                              # tenant ids admitted; required for the maps
        "MATCH_EMAIL": False,                       # link a first sign-in to an unlinked user with
                                                    # that e-mail; only with exactly one tenant
        "CREATE_USERS": True,                       # create a user on first sign-in
        "UPDATE_USER_DATA": True,                   # keep e-mail and name in step with the session
        "ROLE_MAP": {},                             # app role -> {"is_staff", "is_superuser", "groups"}
        "GROUP_MAP": {},                            # group object id -> the same; both need TENANTS
        "LEEWAY": 0,                                # seconds of clock skew allowed on exp / iat
        "JWKS_TIMEOUT": 5,                          # seconds per JWKS fetch
        "JWKS_REFETCH_INTERVAL": 30,                # at most one unknown-kid refetch per interval
        "LOGIN_URL": "/api/login",                  # "/.auth/login/aad" behind entra-sso proxy or
        "LOGOUT_URL": "/api/logout",                # App Service Authentication ("/.auth/logout")
        "LOGOUT_REDIRECT": "/",
    }
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAP_KEYS = {"is_staff", "is_superuser", "groups"}
KNOWN = {
    "ISSUER", "AUDIENCE", "JWKS_URL", "COOKIE_NAME", "MODE", "TRUST_FORWARD_AUTH_HEADERS",
    "TENANTS", "MATCH_EMAIL", "CREATE_USERS", "UPDATE_USER_DATA", "ROLE_MAP", "GROUP_MAP",
    "LEEWAY", "JWKS_TIMEOUT", "JWKS_REFETCH_INTERVAL", "LOGIN_URL", "LOGOUT_URL", "LOGOUT_REDIRECT",
}


@dataclass(frozen=True)
class Config:
    issuer: str
    audience: str
    jwks_url: str
    cookie_name: str
    mode: str
    tenants: frozenset
    match_email: bool
    create_users: bool
    update_user_data: bool
    role_map: dict
    group_map: dict
    leeway: int
    jwks_timeout: float
    jwks_refetch_interval: float
    login_url: str
    logout_url: str
    logout_redirect: str

    @property
    def managed_flags(self):
        """The user flags the maps decide (set or cleared on every request)."""
        flags = set()
        for entry in list(self.role_map.values()) + list(self.group_map.values()):
            flags.update(k for k in ("is_staff", "is_superuser") if k in entry)
        return flags

    @property
    def managed_groups(self):
        """The Django groups the maps decide."""
        return {g for entry in list(self.role_map.values()) + list(self.group_map.values())
                for g in entry.get("groups", ())}


def _fail(key, why):
    raise ImproperlyConfigured(f"ENTRA_SSO[{key!r}]: {why}")


def _url(key, value):
    if not isinstance(value, str):
        _fail(key, "must be an absolute http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        _fail(key, f"must be an absolute http(s) URL without query, not {value!r}")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        _fail(key, "plain http is only for loopback hosts")
    return value


def _map(key, value):
    if not isinstance(value, dict):
        _fail(key, 'must be a dict like {"Admin": {"is_staff": True, "groups": ["Editors"]}}')
    out = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not isinstance(entry, dict) or not set(entry) <= MAP_KEYS:
            _fail(key, f"entry {name!r} must be a dict with keys among {sorted(MAP_KEYS)}")
        for flag in ("is_staff", "is_superuser"):
            if flag in entry and entry[flag] is not True:
                _fail(key, f"entry {name!r}: {flag} can only be True (a role grants, never removes)")
        groups = entry.get("groups", [])
        if isinstance(groups, str) or not all(isinstance(g, str) and g for g in groups):
            _fail(key, f"entry {name!r}: groups must be a list of group names")
        out[name] = {**entry, "groups": tuple(groups)}
    return out


def load(raw):
    """A Config from the raw ENTRA_SSO dict; ImproperlyConfigured when it is not usable."""
    if not isinstance(raw, dict):
        raise ImproperlyConfigured("ENTRA_SSO must be a dict with at least ISSUER and AUDIENCE")
    unknown = set(raw) - KNOWN
    if unknown:
        _fail(sorted(unknown)[0], "unknown setting")
    issuer = _url("ISSUER", raw.get("ISSUER")).rstrip("/")
    audience = raw.get("AUDIENCE")
    if not isinstance(audience, str) or not audience:
        _fail("AUDIENCE", "required: the SSO_CLIENT_ID (or SSO_SESSION_AUDIENCE) of the deployment")
    jwks_url = _url("JWKS_URL", raw.get("JWKS_URL") or issuer + "/jwks")
    cookie_name = raw.get("COOKIE_NAME", "__Host-sso-session")
    if not isinstance(cookie_name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", cookie_name):
        _fail("COOKIE_NAME", "must be a cookie name")
    mode = raw.get("MODE", "cookie")
    if mode not in ("cookie", "headers"):
        _fail("MODE", 'must be "cookie" or "headers"')
    if mode == "headers" and raw.get("TRUST_FORWARD_AUTH_HEADERS") is not True:
        _fail("MODE", '"headers" trusts X-MS-CLIENT-PRINCIPAL as sent: set TRUST_FORWARD_AUTH_HEADERS '
                      "to True only when every request comes through a proxy that runs /api/auth and "
                      "overwrites these headers (examples/nginx/)")
    tenants = raw.get("TENANTS", [])
    if isinstance(tenants, str):
        tenants = [tenants]
    for t in tenants:
        if not isinstance(t, str) or not GUID.match(t):
            _fail("TENANTS", f"{t!r} is not a tenant id (GUID); names such as contoso.onmicrosoft.com, "
                             "common, organizations or * are not tenant ids")
    tenants = frozenset(t.lower() for t in tenants)
    match_email = raw.get("MATCH_EMAIL", False) is True
    if match_email and len(tenants) != 1:
        _fail("MATCH_EMAIL", "needs exactly one tenant id in TENANTS: the email claim is set by each "
                             "tenant's administrators and is not verified across tenants, so another "
                             "tenant could claim an e-mail address of yours (with several tenants, link "
                             "existing users beforehand or in the admin)")
    role_map = _map("ROLE_MAP", raw.get("ROLE_MAP", {}))
    group_map = _map("GROUP_MAP", raw.get("GROUP_MAP", {}))
    for key, value in (("ROLE_MAP", role_map), ("GROUP_MAP", group_map)):
        if value and not tenants:
            _fail(key, "needs TENANTS (your tenant ids): each tenant's administrators assign app roles "
                       "and groups in their own tenant, and anyone can create a tenant, so without "
                       "TENANTS anyone could grant themselves what this map grants")
    ints = {}
    for key, default in (("LEEWAY", 0), ("JWKS_TIMEOUT", 5), ("JWKS_REFETCH_INTERVAL", 30)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value > 3600:
            _fail(key, "must be a number of seconds between 0 and 3600")
        ints[key] = value
    for key in ("LOGIN_URL", "LOGOUT_URL", "LOGOUT_REDIRECT"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.startswith("/")):
            _fail(key, "must be a path starting with /")
    return Config(
        issuer=issuer,
        audience=audience,
        jwks_url=jwks_url,
        cookie_name=cookie_name,
        mode=mode,
        tenants=tenants,
        match_email=match_email,
        create_users=raw.get("CREATE_USERS", True) is True,
        update_user_data=raw.get("UPDATE_USER_DATA", True) is True,
        role_map=role_map,
        group_map=group_map,
        leeway=ints["LEEWAY"],
        jwks_timeout=ints["JWKS_TIMEOUT"],
        jwks_refetch_interval=ints["JWKS_REFETCH_INTERVAL"],
        login_url=raw.get("LOGIN_URL") or "/api/login",
        logout_url=raw.get("LOGOUT_URL") or "/api/logout",
        logout_redirect=raw.get("LOGOUT_REDIRECT") or "/",
    )


_config = None


def get_config():
    global _config
    if _config is None:
        _config = load(getattr(settings, "ENTRA_SSO", None))
    return _config


def _reset(setting, **kwargs):
    global _config
    if setting == "ENTRA_SSO":
        _config = None


setting_changed.connect(_reset)
