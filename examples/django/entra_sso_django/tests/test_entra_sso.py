"""Unit tests of entra_sso_django against tokens minted here and a JWKS served on loopback.

    DJANGO_SETTINGS_MODULE=demo.settings_test python manage.py test entra_sso_django
"""

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import runpy
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import TestCase, override_settings

import demo
from entra_sso_django import conf, jwks, tokens
from entra_sso_django.backends import EntraSSOBackend, Refused, user_for_claims
from entra_sso_django.models import EntraIdentity
from entra_sso_django.principal import claims_from_principal

TENANT = "00000000-de00-4000-8000-00000000de00"  # the dev IdP's tenant (src/dev_idp/mod.rs DEV_TENANT)
OTHER_TENANT = "11111111-1111-4111-8111-111111111111"
ALICE_OID = "a11ce000-0000-4000-8000-00000000a11c"
BOB_OID = "b0b00000-0000-4000-8000-000000000b0b"
AUDIENCE = "unit-test-client"
COOKIE = "__Host-sso-session"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(kid):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, alg="ES256", use="sig")
    return private, jwk


class JwksServer:
    """Serves /api/jwks on loopback; counts fetches; the key list can change between requests."""

    def __init__(self):
        self.keys = []
        self.fetches = 0
        self.status = 200
        self.truncate = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/api/jwks":
                    self.send_error(404)
                    return
                server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=300")
                # server.truncate: the connection ends before the announced length.
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:-5] if server.truncate else body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self):
        return f"http://127.0.0.1:{self.port}/api"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Base(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = JwksServer()
        cls.key1, cls.jwk1 = new_key("kid-one")
        cls.key2, cls.jwk2 = new_key("kid-two")
        cls.foreign, _ = new_key("kid-one")  # same kid, another deployment's key

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        super().tearDownClass()

    def setUp(self):
        jwks._caches.clear()
        self.server.keys = [self.jwk1]
        self.server.fetches = 0
        self.server.status = 200
        self.server.truncate = False
        self.reconfigure()

    def entra_sso(self, **extra):
        return {"ISSUER": self.server.issuer, "AUDIENCE": AUDIENCE, "JWKS_REFETCH_INTERVAL": 30,
                "TENANTS": [TENANT, OTHER_TENANT],
                "ROLE_MAP": {"Admin": {"is_staff": True, "is_superuser": True, "groups": ["Administrators"]}},
                **extra}

    def reconfigure(self, **extra):
        ctx = override_settings(ENTRA_SSO=self.entra_sso(**extra))
        ctx.enable()
        self.addCleanup(ctx.disable)

    def mint(self, key=None, kid="kid-one", typ="entra-sso-session+jwt", alg="ES256", **claims):
        now = int(time.time())
        body = {"iss": self.server.issuer, "aud": AUDIENCE, "sub": "pairwise-sub-alice",
                "iat": now, "exp": now + 600, "idp": f"http://127.0.0.1:1/{TENANT}/v2.0",
                "tid": TENANT, "oid": ALICE_OID, "name": "Alice Example",
                "preferred_username": "alice@dev.example", "email": "alice@dev.example",
                "roles": [], "groups": []}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.key1, algorithm=alg, headers={"kid": kid, "typ": typ})

    def whoami(self, token=None, **headers):
        if token is not None:
            headers["HTTP_COOKIE"] = f"{COOKIE}={token}"
        return self.client.get("/whoami/", **headers).json()


class ConfigTests(TestCase):
    def load(self, **raw):
        return conf.load({"ISSUER": "https://app.example.com/api", "AUDIENCE": "c", **raw})

    def test_minimal_settings_and_defaults(self):
        c = self.load()
        self.assertEqual(c.jwks_url, "https://app.example.com/api/jwks")
        self.assertEqual(c.cookie_name, "__Host-sso-session")
        self.assertEqual(c.mode, "cookie")

    def test_refusals(self):
        cases = [
            {"ISSUER": None},
            {"AUDIENCE": ""},
            {"ISSUER": "http://app.example.com/api"},  # plain http off loopback
            {"MATCH_EMAIL": True},  # no tenant restriction
            {"MATCH_EMAIL": True, "TENANTS": ["*"]},
            {"MATCH_EMAIL": True, "TENANTS": ["organizations"]},
            {"TENANTS": ["contoso.onmicrosoft.com"]},
            {"MODE": "headers"},  # without TRUST_FORWARD_AUTH_HEADERS
            {"MODE": "bearer"},
            {"ROLE_MAP": {"Admin": {"is_staff": False}}},
            {"ROLE_MAP": {"Admin": {"groups": "Editors"}}},
            {"ROLE_MAP": {"Admin": {"superuser": True}}},
            {"TYPO": 1},
            {"LEEWAY": -1},
        ]
        for raw in cases:
            with self.subTest(raw=raw), self.assertRaises(ImproperlyConfigured):
                self.load(**raw)

    def test_email_matching_with_one_tenant(self):
        self.assertTrue(self.load(MATCH_EMAIL=True, TENANTS=TENANT).match_email)
        self.assertTrue(self.load(MATCH_EMAIL=True, TENANTS=[TENANT]).match_email)
        self.assertTrue(self.load(MODE="headers", TRUST_FORWARD_AUTH_HEADERS=True).mode == "headers")

    def test_email_matching_refused_with_two_tenants(self):
        # Each tenant's administrators set its users' email claim: with two tenants, either one
        # could claim the other's addresses.
        with self.assertRaisesRegex(ImproperlyConfigured, r"ENTRA_SSO\['MATCH_EMAIL'\].*exactly one tenant"):
            self.load(MATCH_EMAIL=True, TENANTS=[TENANT, OTHER_TENANT])
        self.assertFalse(self.load(MATCH_EMAIL=False, TENANTS=[TENANT, OTHER_TENANT]).match_email)

    def test_role_and_group_maps_need_tenants(self):
        # Anyone can create a tenant and assign themselves any app role or group in it.
        entry = {"Admin": {"is_staff": True, "is_superuser": True}}
        for key in ("ROLE_MAP", "GROUP_MAP"):
            with self.subTest(key), self.assertRaisesRegex(
                    ImproperlyConfigured, rf"ENTRA_SSO\['{key}'\].*TENANTS.*administrators"):
                self.load(**{key: entry})
            self.assertEqual(self.load(**{key: entry, "TENANTS": [TENANT]}).tenants, {TENANT})
            self.assertEqual(self.load(**{key: {}}).tenants, frozenset(), "an empty map needs no tenant")

    def test_demo_settings_require_the_dev_tenant(self):
        path = Path(demo.__file__).with_name("settings.py")
        env = {k: v for k, v in os.environ.items() if k != "ENTRA_SSO_TENANTS"}
        with mock.patch.dict(os.environ, env, clear=True):
            config = conf.load(runpy.run_path(str(path))["ENTRA_SSO"])
        self.assertEqual(config.tenants, {TENANT}, "the dev IdP's tenant by default")
        self.assertTrue(config.role_map["Admin"]["is_superuser"])
        self.assertTrue(config.match_email, "one tenant: the demo matches e-mail")
        with mock.patch.dict(os.environ, {"ENTRA_SSO_TENANTS": f"{TENANT},{OTHER_TENANT}"}):
            config = conf.load(runpy.run_path(str(path))["ENTRA_SSO"])
        self.assertEqual(config.tenants, {TENANT, OTHER_TENANT})
        self.assertFalse(config.match_email, "two tenants: no e-mail matching")
        with mock.patch.dict(os.environ, {"ENTRA_SSO_TENANTS": ""}), \
                self.assertRaisesRegex(ImproperlyConfigured, "ROLE_MAP"):
            conf.load(runpy.run_path(str(path))["ENTRA_SSO"])


class CookieParsingTests(TestCase):
    def test_duplicate_cookie_is_absent(self):
        self.assertEqual(tokens.cookie_value("a=1; __Host-sso-session=x.y.z", COOKIE), "x.y.z")
        self.assertIsNone(tokens.cookie_value(f"{COOKIE}=a.b.c; {COOKIE}=d.e.f", COOKIE))
        self.assertIsNone(tokens.cookie_value("other=1", COOKIE))
        self.assertIsNone(tokens.cookie_value(f"{COOKIE}=", COOKIE))
        self.assertIsNone(tokens.cookie_value(None, COOKIE))


class VerifyTests(Base):
    def verify(self, token):
        return tokens.verify(token, conf.get_config())

    def test_genuine_token(self):
        claims = self.verify(self.mint())
        self.assertEqual(claims["oid"], ALICE_OID)
        self.assertEqual(self.server.fetches, 1)
        self.verify(self.mint())
        self.assertEqual(self.server.fetches, 1, "the JWKS is cached")

    def test_rejections(self):
        now = int(time.time())
        good = self.mint()
        header, payload, sig = good.split(".")
        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        other_payload = b64(json.dumps(
            {**jwt.decode(good, options={"verify_signature": False}), "oid": BOB_OID}).encode())
        # The published public key as an HMAC secret: the algorithm-confusion forgery.
        hs_header = b64(b'{"alg":"HS256","typ":"entra-sso-session+jwt","kid":"kid-one"}')
        secret = self.key1.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        mac = hmac.new(secret, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
        hs256 = f"{hs_header}.{payload}.{b64(mac)}"
        none = b64(b'{"alg":"none","typ":"entra-sso-session+jwt","kid":"kid-one"}') + "." + payload + "."
        cases = {
            "signature": f"{header}.{payload}.{flipped}",
            "payload": f"{header}.{other_payload}.{sig}",
            "expired": self.mint(iat=now - 700, exp=now - 100),
            "issuer": self.mint(iss="http://127.0.0.1:1/api"),
            "audience": self.mint(aud="another-client"),
            "typ": self.mint(typ="JWT"),
            "foreign key": self.mint(key=self.foreign),
            "hs256": hs256,
            "none": none,
            "garbage": "not-a-token",
            "no exp": self.mint(exp=None),
            "future iat": self.mint(iat=now + 3600),
        }
        for name, token in cases.items():
            with self.subTest(name), self.assertRaises(tokens.Rejected):
                self.verify(token)

    def test_unknown_kid_refetches_once_per_interval(self):
        self.verify(self.mint())
        self.assertEqual(self.server.fetches, 1)
        with self.assertRaises(tokens.Rejected):
            self.verify(self.mint(key=self.key2, kid="kid-two"))
        self.assertEqual(self.server.fetches, 2, "one refetch for the unknown kid")
        for i in range(5):
            with self.assertRaises(tokens.Rejected):
                self.verify(self.mint(key=self.key2, kid=f"made-up-{i}"))
        self.assertEqual(self.server.fetches, 2, "no refetch within JWKS_REFETCH_INTERVAL")

    def test_rotation(self):
        old = self.mint()
        self.verify(old)
        # SSO_SECRET="new,old": the new key signs, both are published.
        self.server.keys = [self.jwk2, self.jwk1]
        self.verify(old)
        self.assertEqual(self.server.fetches, 1, "a known kid needs no fetch")
        new = self.mint(key=self.key2, kid="kid-two")
        self.assertEqual(self.verify(new)["oid"], ALICE_OID)
        self.assertEqual(self.server.fetches, 2, "the new kid was fetched once")
        self.verify(old)
        self.assertEqual(self.server.fetches, 2)

    def test_jwks_unreachable_rejects_without_raising(self):
        self.server.status = 500
        with self.assertRaises(tokens.Rejected), self.assertLogs("entra_sso_django", "WARNING") as logs:
            self.verify(self.mint())
        self.assertIn("HTTP Error 500", logs.output[0])
        self.server.status = 200
        self.server.truncate = True
        jwks._caches.clear()
        with self.assertRaises(tokens.Rejected), self.assertLogs("entra_sso_django", "WARNING") as logs:
            self.verify(self.mint())
        self.assertIn("failed", logs.output[0])
        self.reconfigure(JWKS_URL="http://127.0.0.1:9/api/jwks", JWKS_TIMEOUT=1)
        with self.assertRaises(tokens.Rejected), self.assertLogs("entra_sso_django", "WARNING") as logs:
            self.verify(self.mint())
        self.assertIn("refused", logs.output[0])

    def test_jwks_ignores_other_key_types(self):
        rsa = {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}
        hs = {"kty": "oct", "kid": "kid-one", "k": "c2VjcmV0"}
        private = dict(self.jwk1, kid="p", d="AAAA")
        self.server.keys = [rsa, hs, private]
        with self.assertRaises(tokens.Rejected):
            self.verify(self.mint())
        self.assertEqual(set(jwks.parse_jwks(json.dumps({"keys": [rsa, hs, private, self.jwk2]}))), {"kid-two"})

    def test_tenant_restriction(self):
        self.reconfigure(TENANTS=[TENANT])
        self.verify(self.mint())
        with self.assertRaises(tokens.Rejected):
            self.verify(self.mint(tid=OTHER_TENANT))
        with self.assertRaises(tokens.Rejected):
            self.verify(self.mint(tid=None))


class MiddlewareTests(Base):
    def test_anonymous_without_cookie(self):
        who = self.whoami()
        self.assertFalse(who["authenticated"])
        self.assertEqual(self.server.fetches, 0, "no cookie, no fetch")

    def test_user_keyed_by_tenant_and_object_id(self):
        who = self.whoami(self.mint())
        self.assertTrue(who["authenticated"])
        self.assertEqual(who["username"], "alice@dev.example")
        self.assertEqual(who["name"], "Alice Example")
        self.assertEqual(who["kid"], "kid-one")
        self.whoami(self.mint(preferred_username="alice.renamed@dev.example", email="a2@dev.example"))
        User = get_user_model()
        self.assertEqual(User.objects.count(), 1, "same tid+oid, same user, whatever the names")
        self.assertEqual(User.objects.get().email, "a2@dev.example", "e-mail kept in step")
        link = EntraIdentity.objects.get()
        self.assertEqual((link.tenant_id, link.subject), (TENANT, "oid:" + ALICE_OID))
        # Same oid in another tenant is another identity.
        self.whoami(self.mint(tid=OTHER_TENANT, preferred_username="alice@other.example"))
        self.assertEqual(User.objects.count(), 2)

    def test_sub_when_no_oid(self):
        self.reconfigure(TENANTS=[], ROLE_MAP={})  # a provider without tenants
        who = self.whoami(self.mint(oid=None, tid=None, sub="sub-123", preferred_username="p@x.example"))
        self.assertTrue(who["authenticated"])
        link = EntraIdentity.objects.get()
        self.assertEqual(link.subject, "sub:sub-123")
        self.assertEqual(link.tenant_id, f"http://127.0.0.1:1/{TENANT}/v2.0")

    def test_taken_username_gets_another(self):
        get_user_model().objects.create_user("alice@dev.example", email="someone@else.example")
        who = self.whoami(self.mint())
        self.assertTrue(who["authenticated"])
        self.assertNotEqual(who["username"], "alice@dev.example")
        self.assertEqual(who["email"], "alice@dev.example")

    def test_roles_map_to_flags_and_groups(self):
        Group.objects.create(name="Unmanaged")
        who = self.whoami(self.mint(roles=["Admin"], oid=BOB_OID, preferred_username="bob@dev.example"))
        self.assertTrue(who["is_staff"] and who["is_superuser"])
        self.assertEqual(who["groups"], ["Administrators"])
        bob = get_user_model().objects.get(username="bob@dev.example")
        bob.groups.add(Group.objects.get(name="Unmanaged"))
        self.assertEqual(self.client.get("/admin/", HTTP_COOKIE=f"{COOKIE}={self.mint(roles=['Admin'], oid=BOB_OID)}").status_code, 200)
        # The role is gone at the next sign-in: so are the flags and the mapped group.
        who = self.whoami(self.mint(roles=[], oid=BOB_OID))
        self.assertFalse(who["is_staff"] or who["is_superuser"])
        self.assertEqual(who["groups"], ["Unmanaged"], "groups outside the map are left alone")

    def test_email_match_needs_and_respects_tenants(self):
        legacy = get_user_model().objects.create_user("alice.legacy", email="Alice@Dev.Example")
        who = self.whoami(self.mint())
        self.assertNotEqual(who["username"], "alice.legacy", "no e-mail matching by default")
        get_user_model().objects.exclude(pk=legacy.pk).delete()
        self.reconfigure(TENANTS=[TENANT], MATCH_EMAIL=True)
        who = self.whoami(self.mint())
        self.assertEqual(who["username"], "alice.legacy")
        self.assertEqual(EntraIdentity.objects.get(subject="oid:" + ALICE_OID).user, legacy)
        # Another tenant cannot claim the address: refused before any matching.
        who = self.whoami(self.mint(tid=OTHER_TENANT, oid="0" * 8 + ALICE_OID[8:]))
        self.assertFalse(who["authenticated"])

    def test_ambiguous_email_is_refused_with_403_not_a_login_loop(self):
        User = get_user_model()
        User.objects.create_user("a1", email="alice@dev.example")
        User.objects.create_user("a2", email="alice@dev.example")
        self.reconfigure(TENANTS=[TENANT], MATCH_EMAIL=True)
        who = self.whoami(self.mint())
        self.assertFalse(who["authenticated"])
        self.assertIn("more than one user", who["refused"])
        r = self.client.get("/private/", HTTP_COOKIE=f"{COOKIE}={self.mint()}")
        self.assertEqual(r.status_code, 403)
        self.assertIn(b"/api/logout", r.content)

    def test_no_user_creation(self):
        self.reconfigure(CREATE_USERS=False)
        self.assertFalse(self.whoami(self.mint())["authenticated"])
        self.assertEqual(get_user_model().objects.count(), 0)

    def test_inactive_user_is_anonymous(self):
        self.whoami(self.mint())
        get_user_model().objects.update(is_active=False)
        self.assertFalse(self.whoami(self.mint())["authenticated"])

    def test_bad_cookies_give_anonymous_and_never_log_the_token(self):
        now = int(time.time())
        good = self.mint()
        h, p, s = good.split(".")
        bad = {
            "tampered": f"{h}.{p}.{s[:-4]}AAAA",
            "expired": self.mint(iat=now - 700, exp=now - 1),
            "foreign": self.mint(key=self.foreign),
            "garbage": "%%%\u00e9",
            "huge": "a" * 20000,
        }
        for name, token in bad.items():
            with self.subTest(name), self.assertLogs("entra_sso_django", level="DEBUG") as logs:
                r = self.client.get("/whoami/", HTTP_COOKIE=f"{COOKIE}={token}")
                self.assertEqual(r.status_code, 200)
                self.assertFalse(r.json()["authenticated"])
            for line in logs.output:
                self.assertNotIn(token[-20:], line)
        self.assertEqual(get_user_model().objects.count(), 0)

    def test_login_required_redirects_with_return_to(self):
        r = self.client.get("/private/?x=1")
        self.assertEqual(r.status_code, 302)
        self.assertEqual(r["Location"], "/api/login?return_to=/private/%3Fx%3D1")
        r = self.client.get("/private/", HTTP_COOKIE=f"{COOKIE}={self.mint()}")
        self.assertEqual(r.status_code, 200)

    def test_admin_through_entra_sso(self):
        r = self.client.get("/admin/")
        self.assertEqual(r.status_code, 302)
        self.assertEqual(r["Location"], "/admin/login/?next=/admin/")
        r = self.client.get("/admin/login/?next=/admin/")
        self.assertEqual(r["Location"], "/api/login?return_to=/admin/")
        r = self.client.get("/admin/login/?next=https://evil.example/")
        self.assertEqual(r["Location"], "/api/login?return_to=/admin/")
        # A member who is not staff: 403 (signing in again would loop).
        r = self.client.get("/admin/login/?next=/admin/", HTTP_COOKIE=f"{COOKIE}={self.mint()}")
        self.assertEqual(r.status_code, 403)
        admin = f"{COOKIE}={self.mint(roles=['Admin'], oid=BOB_OID, preferred_username='bob@dev.example')}"
        r = self.client.get("/admin/login/?next=/admin/auth/user/", HTTP_COOKIE=admin)
        self.assertEqual((r.status_code, r["Location"]), (302, "/admin/auth/user/"))
        self.assertEqual(self.client.get("/admin/auth/user/", HTTP_COOKIE=admin).status_code, 200)
        r = self.client.post("/admin/logout/", HTTP_COOKIE=admin)
        self.assertEqual((r.status_code, r["Location"]), (303, "/api/logout?return_to=/"))

    def test_needs_no_django_session(self):
        token = self.mint()
        for _ in range(3):
            r = self.client.get("/whoami/", HTTP_COOKIE=f"{COOKIE}={token}")
            self.assertTrue(r.json()["authenticated"])
            self.assertNotIn("sessionid", r.cookies)


def refused_or_user(claims, config=None):
    try:
        return user_for_claims(claims, config)
    except Refused:
        return None


class TenantTrustTests(Base):
    """Findings 2 and 3 of the security review (#17): what another tenant's administrators can
    assign (app roles, groups, e-mail addresses) never grants privileges or another user's account."""

    def claims(self, **extra):
        return jwt.decode(self.mint(**extra), options={"verify_signature": False})

    def test_maps_apply_only_to_listed_tenants(self):
        self.reconfigure(TENANTS=[TENANT])
        # A self-made tenant whose user holds the app role Admin (assigned by that tenant's own
        # administrator) is refused by the backend, whatever verified the claims.
        stranger = self.claims(tid=OTHER_TENANT, oid=BOB_OID, roles=["Admin"],
                               preferred_username="admin@self-made.example")
        with self.assertLogs("entra_sso_django", "WARNING") as logs:
            user = refused_or_user(stranger)
            self.assertFalse(user and user.is_superuser, "a self-made tenant's Admin became superuser")
            self.assertIsNone(user)
            self.assertIsNone(EntraSSOBackend().authenticate(None, entra_claims=stranger))
        self.assertIn(OTHER_TENANT, logs.output[0])
        User = get_user_model()
        self.assertFalse(User.objects.filter(is_superuser=True).exists())
        self.assertFalse(User.objects.filter(is_staff=True).exists())
        self.assertFalse(Group.objects.filter(name="Administrators", user__isnull=False).exists())
        # A Config made without conf.load (no TENANTS, a ROLE_MAP): the maps grant nothing.
        unchecked = dataclasses.replace(conf.get_config(), tenants=frozenset())
        with self.assertLogs("entra_sso_django", "WARNING") as logs:
            user = user_for_claims(stranger, unchecked)
        self.assertIn("not applied", logs.output[-1])
        self.assertFalse(user.is_staff or user.is_superuser)
        self.assertEqual(list(user.groups.all()), [])
        # The listed tenant's Admin gets the mapped flags and group.
        admin = user_for_claims(self.claims(oid=BOB_OID, roles=["Admin"], preferred_username="bob@dev.example"))
        self.assertTrue(admin.is_staff and admin.is_superuser)
        self.assertEqual([g.name for g in admin.groups.all()], ["Administrators"])

    def link_alice_by_email(self):
        """alice.legacy exists; alice of TENANT signs in and is linked to it by e-mail."""
        legacy = get_user_model().objects.create_user("alice.legacy", email="Alice@Dev.Example")
        self.reconfigure(TENANTS=[TENANT], MATCH_EMAIL=True)
        self.assertEqual(self.whoami(self.mint())["username"], "alice.legacy")
        self.assertEqual(EntraIdentity.objects.get(user=legacy).subject, "oid:" + ALICE_OID)
        return legacy

    def test_email_link_is_logged_at_warning(self):
        token = self.mint()
        get_user_model().objects.create_user("alice.legacy", email="Alice@Dev.Example")
        self.reconfigure(TENANTS=[TENANT], MATCH_EMAIL=True)
        with self.assertLogs("entra_sso_django", "WARNING") as logs:
            self.assertEqual(self.whoami(token)["username"], "alice.legacy")
        self.assertEqual(len(logs.records), 1)
        self.assertIn("linked by e-mail", logs.output[0])
        self.assertIn(ALICE_OID, logs.output[0])
        self.assertIn(TENANT, logs.output[0])
        for part in token.split("."):
            self.assertNotIn(part, logs.output[0])

    def test_email_match_never_takes_over_a_linked_user(self):
        legacy = self.link_alice_by_email()
        # Another identity of the same tenant with the same address (any case): refused, with a
        # 403 and a sign-out button rather than a login loop, and logged.
        intruder = "c0ffee00-0000-4000-8000-00000000c0ff"
        token = self.mint(oid=intruder, email="ALICE@dev.example", preferred_username="mallory@dev.example")
        who = self.whoami(token)
        self.assertNotEqual(who["username"], "alice.legacy", "another identity took over alice.legacy")
        self.assertFalse(who["authenticated"])
        self.assertIn("already linked", who["refused"])
        with self.assertLogs("entra_sso_django", "WARNING") as logs:
            self.whoami(token)
        self.assertIn("already linked", "\n".join(logs.output))
        r = self.client.get("/private/", HTTP_COOKIE=f"{COOKIE}={token}")
        self.assertEqual(r.status_code, 403)
        self.assertIn(b"/api/logout", r.content)
        self.assertEqual(list(EntraIdentity.objects.values_list("user", "subject")),
                         [(legacy.pk, "oid:" + ALICE_OID)])
        self.assertEqual(self.whoami(self.mint())["username"], "alice.legacy", "alice is unaffected")

    def test_email_match_across_tenants_never_takes_over(self):
        legacy = self.link_alice_by_email()
        mallory = self.claims(tid=OTHER_TENANT, oid="c0ffee00-0000-4000-8000-00000000c0ff",
                              email="alice@dev.example", preferred_username="alice@other.example")
        # With one tenant listed, the other tenant is refused before any matching.
        user = refused_or_user(mallory)
        self.assertNotEqual(user, legacy, "tenant B took over tenant A's linked alice.legacy")
        self.assertIsNone(user)
        # Even with both tenants listed (a Config that skipped conf.load's check), the user
        # already linked to tenant A's alice is not handed to tenant B.
        both = dataclasses.replace(conf.get_config(), tenants=frozenset({TENANT, OTHER_TENANT}))
        with self.assertRaisesRegex(Refused, "already linked"):
            user_for_claims(mallory, both)
        self.assertEqual(EntraIdentity.objects.filter(user=legacy).count(), 1)
        self.assertFalse(EntraIdentity.objects.filter(tenant_id=OTHER_TENANT).exists())
        # An address no linked user has is still matched once, to the unlinked user.
        fresh = get_user_model().objects.create_user("carol.legacy", email="carol@dev.example")
        carol = self.claims(oid="ca401000-0000-4000-8000-0000000ca401", email="carol@dev.example",
                            preferred_username="carol@dev.example")
        with self.assertLogs("entra_sso_django", "WARNING"):
            self.assertEqual(user_for_claims(carol), fresh)


def principal(claims, role_typ="http://schemas.microsoft.com/ws/2008/06/identity/claims/role"):
    doc = {"auth_typ": "aad", "claims": [{"typ": t, "val": v} for t, v in claims],
           "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
           "role_typ": role_typ}
    return base64.b64encode(json.dumps(doc).encode()).decode()


ALICE_PRINCIPAL = principal([
    ("http://schemas.microsoft.com/identity/claims/objectidentifier", ALICE_OID),
    ("http://schemas.microsoft.com/identity/claims/tenantid", TENANT),
    ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "pairwise-sub-alice"),
    ("name", "Alice Example"),
    ("preferred_username", "alice@dev.example"),
    ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "alice@dev.example"),
    ("roles", "Admin"),
    ("groups", "0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e"),
])


class HeaderModeTests(Base):
    def setUp(self):
        super().setUp()
        self.reconfigure(MODE="headers", TRUST_FORWARD_AUTH_HEADERS=True)

    def test_principal_parsing(self):
        claims = claims_from_principal(ALICE_PRINCIPAL)
        self.assertEqual(claims["oid"], ALICE_OID)
        self.assertEqual(claims["tid"], TENANT)
        self.assertEqual(claims["roles"], ["Admin"])
        self.assertEqual(claims["groups"], ["0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e"])

    def test_headers_give_the_user(self):
        who = self.whoami(HTTP_X_MS_CLIENT_PRINCIPAL=ALICE_PRINCIPAL, HTTP_X_MS_CLIENT_PRINCIPAL_ID=ALICE_OID)
        self.assertTrue(who["authenticated"])
        self.assertEqual(who["username"], "alice@dev.example")
        self.assertTrue(who["is_staff"])
        self.assertEqual(self.server.fetches, 0, "headers mode needs no JWKS")

    def test_bad_headers_give_anonymous(self):
        cases = [
            {},
            {"HTTP_X_MS_CLIENT_PRINCIPAL": "not base64!"},
            {"HTTP_X_MS_CLIENT_PRINCIPAL": base64.b64encode(b"[1,2]").decode()},
            {"HTTP_X_MS_CLIENT_PRINCIPAL": principal([("name", "nobody")])},
            {"HTTP_X_MS_CLIENT_PRINCIPAL": ALICE_PRINCIPAL, "HTTP_X_MS_CLIENT_PRINCIPAL_ID": BOB_OID},
        ]
        for headers in cases:
            with self.subTest(headers=list(headers)):
                self.assertFalse(self.whoami(**headers)["authenticated"])

    def test_cookie_is_ignored_in_headers_mode(self):
        self.assertFalse(self.whoami(self.mint())["authenticated"])

    def test_easy_auth_paths_take_their_own_parameters(self):
        # Behind entra-sso proxy or App Service Authentication: sign-in and sign-out at /.auth,
        # with App Service's parameter names (entra-sso proxy reads them too).
        self.reconfigure(MODE="headers", TRUST_FORWARD_AUTH_HEADERS=True,
                         LOGIN_URL="/.auth/login/aad", LOGOUT_URL="/.auth/logout")
        r = self.client.get("/private/?x=1")
        self.assertEqual(r["Location"], "/.auth/login/aad?post_login_redirect_uri=/private/%3Fx%3D1")
        r = self.client.get("/admin/login/?next=/admin/")
        self.assertEqual(r["Location"], "/.auth/login/aad?post_login_redirect_uri=/admin/")
        r = self.client.get("/")
        self.assertIn(b'href="/.auth/login/aad?post_login_redirect_uri=/"', r.content)
        admin = {"HTTP_X_MS_CLIENT_PRINCIPAL": ALICE_PRINCIPAL, "HTTP_X_MS_CLIENT_PRINCIPAL_ID": ALICE_OID}
        r = self.client.post("/admin/logout/", **admin)
        self.assertEqual((r.status_code, r["Location"]), (303, "/.auth/logout?post_logout_redirect_uri=/"))
