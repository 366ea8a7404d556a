"""Verifying an entra-sso session token (compact JWS, ES256) with PyJWT."""

import logging

import jwt

from .jwks import cache_for

log = logging.getLogger("entra_sso_django")

SESSION_TYP = "entra-sso-session+jwt"
MAX_TOKEN_BYTES = 8 * 1024


class Rejected(Exception):
    """Why a token was not accepted. The message never contains the token."""


def verify(token, config, jwks=None):
    """The claims of a genuine, current session token for this deployment; Rejected otherwise.

    Checks: header `alg` ES256 and `typ` entra-sso-session+jwt, a `kid` the deployment publishes,
    the signature, `iss` == ISSUER, `aud` == AUDIENCE, `exp` in the future, `iat` not in the
    future (both with LEEWAY), and, with TENANTS set, `tid` among them.
    """
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise Rejected("empty or oversized token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Rejected("not a JWS") from None
    if header.get("alg") != "ES256":
        raise Rejected("alg is not ES256")
    if header.get("typ") != SESSION_TYP:
        raise Rejected("typ is not " + SESSION_TYP)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Rejected("no kid")
    key = (jwks or cache_for(config)).get(kid)
    if key is None:
        raise Rejected("kid not published by the deployment")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            audience=config.audience,
            issuer=config.issuer,
            leeway=config.leeway,
            options={"require": ["iss", "aud", "sub", "iat", "exp"], "verify_iat": True},
        )
    except jwt.ExpiredSignatureError:
        raise Rejected("expired") from None
    except jwt.PyJWTError as err:
        raise Rejected(type(err).__name__) from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Rejected("sub is not a string")
    if config.tenants and str(claims.get("tid", "")).lower() not in config.tenants:
        raise Rejected("tenant not in ENTRA_SSO TENANTS")
    return claims


def cookie_value(http_cookie, name):
    """The value of cookie `name` in a raw Cookie header, or None.

    Read like entra-sso reads it: split on ';', trimmed, names compared exactly; a name sent more
    than once counts as absent (a sibling domain can add a cookie, not remove ours).
    """
    found = None
    for part in (http_cookie or "").split(";"):
        k, sep, v = part.partition("=")
        if not sep or k.strip(" \t") != name:
            continue
        if found is not None:
            return None
        found = v.strip(" \t")
    return found or None
