"""Mapping a verified identity (session claims) to a Django user."""

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from .conf import get_config
from .models import EntraIdentity

log = logging.getLogger("entra_sso_django")


class Refused(Exception):
    """A genuine identity this app does not admit (no user, inactive user, ambiguous e-mail)."""


def identity_key(claims):
    """(tenant_id, subject): tenant + object id, or the provider's `sub` when there is no oid."""
    tenant = claims.get("tid") or claims.get("idp") or ""
    if claims.get("oid"):
        return str(tenant).lower(), "oid:" + str(claims["oid"]).lower()
    return str(tenant), "sub:" + str(claims["sub"])


def _tid(claims):
    """The session's tenant id, lower-case; "" without one."""
    return str(claims.get("tid") or "").lower()


def _split_name(name):
    first, _, last = (name or "").strip().rpartition(" ")
    if not first:
        first, last = last, ""
    return first[:150], last[:150]


def _username_for(claims, User):
    field = User._meta.get_field(User.USERNAME_FIELD)
    limit = field.max_length or 150
    tenant, subject = identity_key(claims)
    for candidate in (claims.get("preferred_username"), claims.get("email"),
                      f"{subject.split(':', 1)[1]}@{tenant}"):
        if candidate and len(candidate) <= limit and \
                not User._default_manager.filter(**{User.USERNAME_FIELD: candidate}).exists():
            return candidate
    raise Refused("no free username for a new user")


def _by_email(claims, User, tenant, subject):
    """The one user with the claim's e-mail address that no identity is linked to yet, or None.

    Call inside a transaction: the user row stays locked until the link is written, so two
    identities with the same address cannot both be linked to it.
    """
    email = (claims.get("email") or "").strip()
    if not email or "@" not in email:
        return None
    matches = list(User._default_manager.filter(email__iexact=email).values_list("pk", flat=True)[:2])
    if len(matches) > 1:
        raise Refused("more than one user has this e-mail address; link one in the admin")
    if not matches:
        return None
    locked = list(User._default_manager.select_for_update().filter(pk=matches[0]))  # no LIMIT: Oracle
    if not locked:
        return None
    user = locked[0]
    if EntraIdentity.objects.filter(user=user).exists():
        # Another identity (of this tenant or, through a second tenant, of another one) already
        # signs in as this user: matching by address would hand the account over.
        log.warning("entra-sso: %s in %s refused: the user %s with its e-mail address is already linked "
                    "to another identity", subject, tenant, user.pk)
        raise Refused("the user with this e-mail address is already linked to another Microsoft account; "
                      "an administrator can link this one in the admin")
    return user


def _find_or_create(claims, config):
    User = get_user_model()
    tenant, subject = identity_key(claims)
    link = EntraIdentity.objects.select_related("user").filter(tenant_id=tenant, subject=subject).first()
    if link is not None:
        return link.user, False
    created = False
    with transaction.atomic():
        # conf.load allows MATCH_EMAIL with exactly one tenant; only that tenant's users match.
        match = config.match_email and _tid(claims) in config.tenants
        user = _by_email(claims, User, tenant, subject) if match else None
        if user is None:
            if not config.create_users:
                raise Refused("no user for this identity and CREATE_USERS is off")
            user = User(**{User.USERNAME_FIELD: _username_for(claims, User)})
            user.email = (claims.get("email") or "")[:254]
            user.first_name, user.last_name = _split_name(claims.get("name"))
            user.set_unusable_password()
            user.save()
            created = True
        EntraIdentity.objects.create(user=user, tenant_id=tenant, subject=subject)
    if created:
        log.info("entra-sso: created user %s for %s in %s", user.pk, subject, tenant)
    else:
        log.warning("entra-sso: linked by e-mail: user %s to %s in %s", user.pk, subject, tenant)
    return user, created


def _sync(user, claims, config, created):
    """E-mail, name, flags and groups in step with the identity; writes only what changed."""
    changed = set()
    if config.update_user_data and not created:
        email = (claims.get("email") or "")[:254]
        if email and user.email != email:
            user.email = email
            changed.add("email")
        first, last = _split_name(claims.get("name"))
        if claims.get("name") and (user.first_name, user.last_name) != (first, last):
            user.first_name, user.last_name = first, last
            changed.update(("first_name", "last_name"))
    granted = []
    if _tid(claims) in config.tenants:
        granted += [config.role_map[r] for r in claims.get("roles") or () if r in config.role_map]
        granted += [config.group_map[g] for g in claims.get("groups") or () if g in config.group_map]
    elif config.role_map or config.group_map:
        # Roles and groups are assigned by the user's own tenant; only listed tenants are trusted
        # with them (conf.load requires TENANTS for the maps; this covers a Config made otherwise).
        log.warning("entra-sso: ROLE_MAP/GROUP_MAP not applied to user %s: tenant %r is not in TENANTS",
                    user.pk, _tid(claims))
    for flag in config.managed_flags:
        want = any(entry.get(flag) for entry in granted)
        if getattr(user, flag) != want:
            setattr(user, flag, want)
            changed.add(flag)
    if changed:
        user.save(update_fields=sorted(changed))
    managed = config.managed_groups
    if managed:
        want = {g for entry in granted for g in entry.get("groups", ())}
        have = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
        if want - have:
            user.groups.add(*[Group.objects.get_or_create(name=n)[0] for n in sorted(want - have)])
        if have - want:
            user.groups.remove(*Group.objects.filter(name__in=have - want))


def user_for_claims(claims, config=None):
    """The active Django user for verified claims; Refused when this app does not admit them."""
    config = config or get_config()
    if config.tenants and _tid(claims) not in config.tenants:
        # The middleware never gets here with such claims (tokens.verify and principal refuse
        # them); a caller of authenticate(entra_claims=...) might.
        log.warning("entra-sso: identity of tenant %r refused: not in TENANTS", _tid(claims))
        raise Refused("tenant not in ENTRA_SSO TENANTS")
    try:
        user, created = _find_or_create(claims, config)
    except IntegrityError:
        # Another instance linked the same identity (or took the username) at the same moment.
        user, created = _find_or_create(claims, config)
    if not user.is_active:
        raise Refused("the user is inactive")
    _sync(user, claims, config, created)
    return user


class EntraSSOBackend(ModelBackend):
    """Authentication backend for identities verified by EntraSSOMiddleware.

    `authenticate(request, entra_claims=...)` maps verified claims to a user; permissions come
    from ModelBackend. Listed in AUTHENTICATION_BACKENDS so `has_perm` and the admin work.
    """

    def authenticate(self, request, entra_claims=None, **kwargs):
        if entra_claims is None:
            return None
        try:
            return user_for_claims(entra_claims)
        except Refused as err:
            log.info("entra-sso: identity refused: %s", err)
            return None
