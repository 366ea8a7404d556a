"""Sign-in and sign-out go through entra-sso (`/api/login`, `/api/logout`, or App Service
Authentication's `/.auth/login/aad`, `/.auth/logout` behind `entra-sso proxy`); these views send
Django's own entry points there, including the admin's."""

from functools import wraps
from urllib.parse import quote

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme

from .conf import get_config

REDIRECT_FIELD_NAME = "return_to"


def _return_parameter(url, easy_auth_name):
    """`return_to` for entra-sso's /api routes; App Service Authentication's own name
    (`post_login_redirect_uri`, `post_logout_redirect_uri`) for its /.auth paths, which
    entra-sso proxy and App Service itself both read."""
    return easy_auth_name if url.startswith("/.auth/") else REDIRECT_FIELD_NAME


def to_login(request, return_to=None):
    """Redirect to /api/login?return_to=<path>, or 403 when a genuine identity was refused
    (signing in again would come straight back here)."""
    request.user  # resolves request.entra_sso
    refused = getattr(getattr(request, "entra_sso", None), "refused", None)
    if refused:
        return refused_response(request)
    url = get_config().login_url
    return redirect_to_login(return_to or request.get_full_path(), url,
                             _return_parameter(url, "post_login_redirect_uri"))


def refused_response(request, why="This application does not admit your account."):
    claims = getattr(getattr(request, "entra_sso", None), "claims", None) or {}
    who = claims.get("preferred_username") or claims.get("email") or claims.get("name") or ""
    body = (f"<!doctype html><title>Access denied</title><h1>Access denied</h1><p>{escape(why)}</p>"
            + (f"<p>Signed in as {escape(who)}.</p>" if who else "")
            + f'<form method="post" action="{escape(logout_url())}"><button>Sign out</button></form>')
    return HttpResponse(body, status=403)


def login_url(return_to="/"):
    """The sign-in link: LOGIN_URL with the path to come back to."""
    url = get_config().login_url
    return f"{url}?{_return_parameter(url, 'post_login_redirect_uri')}={quote(return_to, safe='/')}"


def logout_url(return_to=None):
    config = get_config()
    param = _return_parameter(config.logout_url, "post_logout_redirect_uri")
    return f"{config.logout_url}?{param}={quote(return_to or config.logout_redirect, safe='/')}"


def login_required(view):
    """Like django.contrib.auth.decorators.login_required, through entra-sso."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        return to_login(request)

    return wrapper


def admin_login(request, extra_context=None):
    """Replaces the admin's login form: staff go on, others sign in through entra-sso."""
    target = request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("admin:index")
    user = request.user
    if user.is_authenticated:
        if user.is_active and user.is_staff:
            return HttpResponseRedirect(target)
        return refused_response(request, "Your account is not a staff account of this site.")
    return to_login(request, target)


def logout(request, extra_context=None):
    """Sign-out is entra-sso's: a GET of /api/logout?return_to=… (303 keeps a POST from resending)."""
    return HttpResponseRedirect(logout_url(), status=303) if request.method == "POST" \
        else HttpResponseRedirect(logout_url())


def use_for_admin(site):
    """Route an AdminSite's login and logout through entra-sso. Call before `site.urls`."""
    site.login = admin_login
    site.logout = logout
    return site
