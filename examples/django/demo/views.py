import os

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from entra_sso_django.views import login_required, login_url, logout_url


def _who(request):
    user = request.user
    state = getattr(request, "entra_sso", None)
    return {
        "authenticated": user.is_authenticated,
        "username": user.get_username() if user.is_authenticated else None,
        "email": getattr(user, "email", None) or None,
        "name": user.get_full_name() if user.is_authenticated else None,
        "is_staff": bool(getattr(user, "is_staff", False)),
        "is_superuser": bool(getattr(user, "is_superuser", False)),
        "groups": sorted(user.groups.values_list("name", flat=True)) if user.is_authenticated else [],
        "roles": (state.claims or {}).get("roles", []) if state and state.claims else [],
        "kid": state.kid if state else None,
        "refused": state.refused if state else None,
        "instance": os.environ.get("INSTANCE_NAME", ""),
    }


@never_cache
def home(request):
    return render(request, "demo/home.html", {"who": _who(request), "logout_url": logout_url(),
                                              "login_url": login_url(request.get_full_path())})


@never_cache
def whoami(request):
    return JsonResponse(_who(request))


@never_cache
@login_required
def private(request):
    return render(request, "demo/home.html", {"who": _who(request), "logout_url": logout_url(),
                                              "login_url": login_url(request.get_full_path()),
                                              "private": True})


@never_cache
def headers(request):
    """The identity headers as this app received them, and who it took the user to be
    (the upstream of the forward-auth and proxy tests; also at /public/headers/, a path
    entra-sso proxy forwards without a session when SSO_PUBLIC_PATHS lists /public)."""
    seen = {k[5:].replace("_", "-"): v for k, v in request.META.items()
            if k.startswith(("HTTP_X_MS_", "HTTP_X_SSO_"))}
    return JsonResponse({"headers": seen, "who": _who(request)})
