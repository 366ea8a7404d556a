"""`request.user` from the entra-sso session on every request, with no Django session.

Put `entra_sso_django.middleware.EntraSSOMiddleware` where
`django.contrib.auth.middleware.AuthenticationMiddleware` was (it is a subclass, so the admin's
checks accept it). Each request is authenticated on its own: the cookie (MODE "cookie") or the
forward-auth headers (MODE "headers") decide, so any number of instances, each with its own
LocMemCache, agree. A missing, tampered, expired or foreign token gives AnonymousUser.
"""

import logging
from functools import partial

from asgiref.sync import sync_to_async
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.utils.functional import SimpleLazyObject

from . import principal, tokens
from .backends import Refused, user_for_claims
from .conf import get_config

log = logging.getLogger("entra_sso_django")


class SSOState:
    """What the middleware found, as `request.entra_sso`.

    `claims`: the verified session claims (or those from the headers), or None.
    `refused`: why a genuine identity got no user (then login_required answers 403, not a
    redirect to sign in again, which would loop), or None.
    """

    def __init__(self):
        self.claims = None
        self.refused = None
        self.kid = None


def _resolve(request):
    config = get_config()
    state = request.entra_sso
    try:
        if config.mode == "headers":
            claims = principal.claims_from_headers(request.META, config)
            if claims is None:
                return AnonymousUser()
        else:
            token = tokens.cookie_value(request.META.get("HTTP_COOKIE"), config.cookie_name)
            if token is None:
                return AnonymousUser()
            claims = tokens.verify(token, config)
            state.kid = _kid(token)
    except (tokens.Rejected, principal.Rejected) as err:
        # Common and harmless for "expired"; never logs the token.
        (log.debug if str(err) == "expired" else log.info)("entra-sso: identity not accepted: %s", err)
        return AnonymousUser()
    state.claims = claims
    try:
        return user_for_claims(claims, config)
    except Refused as err:
        state.refused = str(err)
        log.info("entra-sso: identity refused: %s", err)
        return AnonymousUser()


def _kid(token):
    try:
        return tokens.jwt.get_unverified_header(token).get("kid")
    except tokens.jwt.PyJWTError:
        return None


def get_user(request):
    if not hasattr(request, "_cached_user"):
        request._cached_user = _resolve(request)
    return request._cached_user


async def auser(request):
    return await sync_to_async(get_user)(request)


class EntraSSOMiddleware(AuthenticationMiddleware):
    def process_request(self, request):
        request.entra_sso = SSOState()
        request.user = SimpleLazyObject(lambda: get_user(request))
        request.auser = partial(auser, request)
