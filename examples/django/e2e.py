#!/usr/bin/env python3
"""HTTP driver of scripts/django-e2e.sh: nginx on one port, /api/ round-robin over two
`entra-sso serve`, / round-robin over two gunicorn Django instances (cookie mode), /fa/ behind
auth_request + /api/auth in front of a third Django instance (headers mode).

    e2e.py signin    sign-ins (alice, bob), page loads, admin, forward auth; writes the state file
    e2e.py rotated   after the entra-sso instances restarted with SSO_SECRET="new,old":
                     rotation, tampered / foreign / expired cookies, sign-out

Every request is made with http.client, cookies kept by hand (e2e_support.py). Prints one line
per check; the first failed check exits 1. Tokens are never printed: failure output is redacted.
Settings come from E2E_* environment variables (see scripts/django-e2e.sh).
"""

import base64
import json
import os
import sys
import time
import urllib.parse

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

import e2e_support
from e2e_support import (ALICE_OID, BOB_OID, COOKIE, check, check_no_secret_in_logs, choose_user, load_in_turn,
                         log_text, ok, request, secrets_seen, stop_at_first_failure, whoami)

ENV = os.environ
BASE = ENV["E2E_BASE"].rstrip("/")  # http://127.0.0.1:<nginx port>
ISSUER = BASE + "/api"
AUTHORITY = ENV["E2E_AUTHORITY"]  # the dev IdP's authority
CLIENT_ID = ENV["E2E_CLIENT_ID"]
INSTANCE = ENV["E2E_INSTANCE"].rstrip("/")  # one entra-sso behind nginx, addressed directly, as nginx does
SHORT_TTL_BASE = ENV["E2E_SHORT_TTL_BASE"].rstrip("/")  # entra-sso with SSO_SESSION_TTL=30s, not behind nginx
STATE = ENV["E2E_STATE"]
LOGS = ENV["E2E_LOGS"]  # directory of the services' logs
ALICE_GROUP = "0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e"
TENANT = ENV["E2E_TENANT"]
PAGE_LOADS = int(ENV.get("E2E_PAGE_LOADS", "100"))


class Browser(e2e_support.Browser):
    """Cookies for one origin (the app's, unless another is given)."""

    def __init__(self, origin=BASE):
        super().__init__(origin)


def with_session(token):
    """A browser holding just this session cookie."""
    b = Browser()
    if token:
        b.cookies[COOKIE] = token
        secrets_seen.add(token)
    return b


def sign_in(user, start, browser=None, callback_origin=None):
    """From `start` (a page or /api/login URL) through the dev IdP's form back to the app.
    Returns (browser, final Location after the callback)."""
    b = browser or Browser()
    r = b.get(start)
    hops = 0
    while r.status in (301, 302, 303) and r.location and not r.location.startswith(AUTHORITY.rsplit("/v2.0", 1)[0]):
        hops += 1
        check(hops < 5, f"{start}: redirect loop before the IdP: {r.describe()}")
        r = b.get(urllib.parse.urljoin(b.origin + "/", r.location))
    check(r.status == 302, f"sign-in from {start}: expected 302 to the IdP, got {r.describe()}")
    authorize = r.location
    check(authorize.startswith(AUTHORITY.rsplit("/v2.0", 1)[0] + "/oauth2/v2.0/authorize?"),
          f"sign-in: Location {authorize} is not the dev IdP's authorize endpoint")
    check(b.in_flow, "sign-in: no flow cookie")
    r = choose_user(authorize, user)
    check(r.status == 302, f"IdP form post (user={user}): {r.describe()}")
    callback = r.location
    check(callback.startswith(ISSUER + "/callback?") and "code=" in callback,
          f"IdP: Location {callback} is not the callback with a code")
    if callback_origin:
        callback = callback_origin + callback[len(BASE):]
    r = b.get(callback)
    check(r.status in (302, 303), f"callback ({user}): {r.describe()}")
    check(b.session, f"callback ({user}): no session cookie set")
    check(not b.in_flow, "callback: flow cookie not cleared")
    return b, r.location


def header_of(token):
    return jwt.get_unverified_header(token)


def page_loads(b, count, expect_user, label):
    """`count` loads of /, /whoami/ and /private/ in turn (so that each instance serves each
    page), all showing the user; returns the answers per instance."""
    seen = {}
    for i in range(count):
        inst = load_in_turn(b, i, count, expect_user, f"{label}: ").header("X-Instance")
        seen[inst] = seen.get(inst, 0) + 1
    check(set(seen) == {"dj-a", "dj-b"} and min(seen.values()) >= count // 4,
          f"{label}: answers per Django instance {seen}, expected both dj-a and dj-b")
    return seen


def sso_upstreams(b, count, label):
    """GET /api/me `count` times through nginx; answers per entra-sso instance (nginx's upstream)."""
    seen = {}
    for _ in range(count):
        r = b.get("/api/me", nav=False, headers={"Accept": "application/json"})
        check(r.status == 200, f"{label}: /api/me {r.describe()}")
        up = r.header("X-E2E-Upstream")
        seen[up] = seen.get(up, 0) + 1
    check(len(seen) == 2, f"{label}: /api/me answered by {seen}, expected both entra-sso instances")
    return seen


def anonymous(b, label):
    who, r = whoami(b)
    check(not who["authenticated"], f"{label}: expected an anonymous user on {r.header('X-Instance')}, got {who}")
    r = b.get("/private/")
    check(r.status == 302 and r.location == "/api/login?return_to=/private/",
          f"{label}: /private/ should send to /api/login?return_to=/private/: {r.describe()}")


# ---------------------------------------------------------------------------------------------

def phase_signin():
    state = {}
    # Discovery and keys, as a stock consumer finds them.
    r = request("GET", ISSUER + "/.well-known/openid-configuration")
    check(r.status == 200, f"discovery: {r.describe()}")
    disco = r.json()
    check(disco.get("issuer") == ISSUER, f"discovery issuer {disco.get('issuer')}, expected {ISSUER}")
    check(disco.get("jwks_uri") == ISSUER + "/jwks", f"discovery jwks_uri {disco.get('jwks_uri')}")
    r = request("GET", ISSUER + "/jwks")
    keys = r.json().get("keys", [])
    check(r.status == 200 and len(keys) == 1, f"/api/jwks: expected one key: {r.describe()}")
    k = keys[0]
    check((k.get("kty"), k.get("crv"), k.get("alg"), k.get("use")) == ("EC", "P-256", "ES256", "sig")
          and k.get("kid") and "d" not in k, f"/api/jwks key {k}")
    check("max-age" in (r.header("Cache-Control") or ""), f"/api/jwks Cache-Control {r.header('Cache-Control')}")
    state["kid_old"] = k["kid"]
    ok(f"discovery (issuer {ISSUER}) and /api/jwks (one ES256 key)")

    # Anonymous on both instances; a protected page sends to /api/login with return_to.
    b = Browser()
    for _ in range(2):
        anonymous(b, "before sign-in")
    r = b.get("/")
    check('id="sign-in"' in r.text, f"/ offers no sign-in link: {r.describe()}")
    ok("anonymous: / offers sign-in, /private/ -> /api/login?return_to=/private/")

    # alice signs in from the protected page: LOGIN_URL round trip.
    b, landing = sign_in("alice", "/private/")
    check(landing == "/private/", f"alice landed on {landing}, expected /private/")
    token = b.session
    check(header_of(token).get("kid") == state["kid_old"] and header_of(token).get("alg") == "ES256"
          and header_of(token).get("typ") == "entra-sso-session+jwt", f"session header {header_of(token)}")
    r = b.get("/private/")
    check(r.status == 200 and "Alice Example" in r.text, f"/private/ after sign-in: {r.describe()}")
    state["alice_old"] = token
    ok("alice: /private/ -> /api/login -> dev IdP -> /api/callback -> /private/ shows Alice Example")

    # A consumer with nothing but PyJWT and the discovery document verifies the session.
    jwks_client = jwt.PyJWKClient(disco["jwks_uri"])
    claims = jwt.decode(token, jwks_client.get_signing_key_from_jwt(token).key, algorithms=["ES256"],
                        audience=CLIENT_ID, issuer=disco["issuer"])
    check(claims.get("oid") == ALICE_OID and claims.get("tid") and claims.get("exp") > time.time(),
          f"session claims: oid {claims.get('oid')}, tid {claims.get('tid')}")
    ok("a stock PyJWT consumer verifies the session against jwks_uri (iss, aud, exp)")

    # Linked by e-mail to the user that existed before (MATCH_EMAIL, with the one tenant in TENANTS).
    who, _ = whoami(b)
    check(who["username"] == "alice.legacy" and not who["is_staff"],
          f"alice should be the pre-existing user alice.legacy, not staff: {who}")
    ok("alice is the existing Django user alice.legacy (matched by e-mail within the tenant)")

    seen = page_loads(b, PAGE_LOADS, "alice.legacy", "alice")
    ups = sso_upstreams(b, 20, "alice")
    ok(f"{PAGE_LOADS} page loads all see alice: Django {seen}; /api/me x20 entra-sso {ups}")

    # Admin: alice is not staff (403, no login loop); anonymous is sent to sign in.
    r = b.get("/admin/")
    check(r.status == 302 and r.location == "/admin/login/?next=/admin/", f"alice /admin/: {r.describe()}")
    r = b.get(r.location)
    check(r.status == 403, f"alice /admin/login/: expected 403 (not staff), got {r.describe()}")
    r = Browser().get("/admin/login/?next=/admin/")
    check(r.status == 302 and r.location == "/api/login?return_to=/admin/", f"anonymous admin login: {r.describe()}")
    ok("admin: alice (member) gets 403; anonymous -> /api/login?return_to=/admin/")

    # bob (app role Admin) signs in from the admin.
    bob, landing = sign_in("bob", "/admin/")
    check(landing == "/admin/", f"bob landed on {landing}")
    who, _ = whoami(bob)
    check(who["username"] == "bob@dev.example" and who["is_staff"] and who["is_superuser"]
          and who["groups"] == ["Administrators"] and who["roles"] == ["Admin"], f"bob: {who}")
    for _ in range(4):
        r = bob.get("/admin/")
        check(r.status == 200 and "Site administration" in r.text, f"bob /admin/: {r.describe()}")
        r = bob.get("/admin/auth/user/")
        check(r.status == 200 and "alice.legacy" in r.text, f"bob /admin/auth/user/: {r.describe()}")
    r = bob.get("/admin/entra_sso_django/entraidentity/")
    check(r.status == 200 and ALICE_OID in r.text and BOB_OID in r.text, f"bob: identities page {r.describe()}")
    state["bob"] = bob.session
    page_loads(bob, 20, "bob@dev.example", "bob")
    ok("bob (role Admin): staff + superuser + group Administrators; /admin/ and its user list on both instances")

    # A session from the short-TTL instance (SSO_SESSION_TTL=30s): valid now, expired later.
    short, _ = sign_in("alice", SHORT_TTL_BASE + "/api/login?return_to=/whoami/", Browser(SHORT_TTL_BASE),
                       callback_origin=SHORT_TTL_BASE)
    t = short.session
    exp = jwt.decode(t, options={"verify_signature": False})["exp"]
    check(exp - time.time() <= 31, f"short-TTL session expires in {exp - time.time():.0f} s")
    who, _ = whoami(with_session(t))
    check(who["authenticated"], f"short-TTL session should be valid now: {who}")
    state["short"], state["short_exp"] = t, exp
    ok(f"short-TTL session accepted by Django (expires in {exp - time.time():.0f} s)")

    forward_auth(b, bob, state)

    with open(STATE, "w", opener=lambda p, f: os.open(p, f, 0o600)) as f:
        json.dump(state, f)


def spoof_headers():
    forged = base64.b64encode(json.dumps({
        "auth_typ": "aad", "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "claims": [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "evil-oid"},
                   {"typ": "roles", "val": "Admin"},
                   {"typ": "preferred_username", "val": "mallory@evil.example"}]}).encode()).decode()
    return {
        "X-MS-CLIENT-PRINCIPAL": forged,
        "X-MS-CLIENT-PRINCIPAL-ID": "evil-oid",
        "X-MS-CLIENT-PRINCIPAL-NAME": "mallory@evil.example",
        "X-MS-CLIENT-PRINCIPAL-IDP": "evil",
        "X-SSO-Assertion": "evil.assertion.value",
        "X-MS-TOKEN-AAD-ID-TOKEN": "evil-id-token",
        "X-MS-TOKEN-AAD-ACCESS-TOKEN": "evil-access-token",
        "X_MS_CLIENT_PRINCIPAL": forged,
        "x-ms-client-principal-name": "mallory2@evil.example",
    }


def upstream_hits():
    return log_text(LOGS, "django-fa.log").count("GET /headers/")


def forward_auth(alice, bob, state):
    spoof = spoof_headers()
    # Forward auth is for nginx, not for browsers: the documented files answer clients 404,
    # however the path is spelled, so no page script can read the session through it.
    for path in ("/api/auth", "/api/%61uth", "/api//auth", "/api/auth?x=1"):
        r = request("GET", BASE + path, {"Cookie": alice.cookie_header(), "Accept": "application/json"})
        check(r.status == 404 and r.header("X-SSO-Assertion") is None and alice.session.encode() not in r.body,
              f"{path} through nginx: {r.describe()}")
    ok("/api/auth is not routed from clients (404, no token), in any spelling")
    # /api/auth itself, as nginx asks it.
    issuer_host = {"Host": urllib.parse.urlsplit(BASE).netloc}
    r = request("GET", INSTANCE + "/api/auth", {**issuer_host, "Accept": "application/json"})
    check(r.status == 401 and (r.header("X-SSO-Login-Url") or "").startswith(ISSUER + "/login")
          and r.json().get("error") == "not_signed_in", f"/api/auth signed out: {r.describe()}")
    r = request("GET", INSTANCE + "/api/auth", {**issuer_host, "Cookie": alice.cookie_header()})
    check(r.status == 200 and r.header("X-MS-CLIENT-PRINCIPAL-ID") == ALICE_OID and r.header("X-SSO-Assertion") is None,
          f"/api/auth without Proxy-SSO-Assertion: {r.describe()} {r.headers}")
    r = request("GET", INSTANCE + "/api/auth", {**issuer_host, "Cookie": alice.cookie_header(), "Proxy-SSO-Assertion": "1"})
    check(r.status == 200 and r.body == b"" and r.header("X-MS-CLIENT-PRINCIPAL-ID") == ALICE_OID
          and r.header("X-MS-CLIENT-PRINCIPAL-IDP") == "aad" and r.header("X-SSO-Assertion") == alice.session,
          f"/api/auth signed in: {r.describe()} {r.headers}")
    r = request("GET", INSTANCE + "/api/auth?role=Admin", {**issuer_host, "Cookie": alice.cookie_header()})
    check(r.status == 403, f"/api/auth?role=Admin as alice: {r.describe()}")
    r = request("GET", INSTANCE + "/api/auth?role=Admin", {**issuer_host, "Cookie": bob.cookie_header()})
    check(r.status == 200, f"/api/auth?role=Admin as bob: {r.describe()}")
    bob_principal = json.loads(base64.b64decode(r.header("X-MS-CLIENT-PRINCIPAL") or ""))
    roles = [c["val"] for c in bob_principal.get("claims", []) if c.get("typ") == "roles"]
    check(roles == ["Admin"] and r.header("X-MS-CLIENT-PRINCIPAL-ID") == BOB_OID,
          f"bob's X-MS-CLIENT-PRINCIPAL roles {roles}, -ID {r.header('X-MS-CLIENT-PRINCIPAL-ID')}")
    ok("/api/auth: 401 + X-SSO-Login-Url signed out; 200 + identity headers signed in, the token only with "
       "Proxy-SSO-Assertion: 1; ?role=Admin 403/200")

    # Signed out, spoofed headers: redirected to sign in, the upstream is never reached.
    before = upstream_hits()
    r = request("GET", BASE + "/fa/headers/?x=1", {**spoof, "Accept": "text/html"})
    check(r.status == 302, f"/fa/ signed out with spoofed headers: expected 302, got {r.describe()}")
    loc = urllib.parse.urlsplit(urllib.parse.urljoin(BASE + "/", r.location))
    q = urllib.parse.parse_qs(loc.query)
    check(loc.path == "/api/login" and q.get("return_to") == ["/fa/headers/?x=1"],
          f"/fa/ signed out: Location {r.location}, expected /api/login?return_to=/fa/headers/?x=1")
    time.sleep(0.3)
    check(upstream_hits() == before, "/fa/ signed out: the upstream was reached")
    ok("forward auth, signed out + spoofed X-MS-CLIENT-PRINCIPAL*: 302 to /api/login with return_to; upstream not reached")

    # The login URL nginx sent works: sign in from it and land back on /fa/.
    fa, landing = sign_in("alice", urllib.parse.urlunsplit(("", "", loc.path, loc.query, "")))
    check(landing == "/fa/headers/?x=1", f"after sign-in from /fa/: landed on {landing}")

    # Signed in, spoofed headers: the upstream sees entra-sso's values only.
    for _ in range(2):
        r = fa.get("/fa/headers/?x=1", headers={**spoof}, nav=False)
        check(r.status == 200, f"/fa/headers/ signed in: {r.describe()}")
        seen = r.json()["headers"]
        who = r.json()["who"]
        principal = json.loads(base64.b64decode(seen.get("X-MS-CLIENT-PRINCIPAL", "")))
        claims = {c["typ"]: c["val"] for c in principal.get("claims", [])}
        check(seen.get("X-MS-CLIENT-PRINCIPAL") != spoof["X-MS-CLIENT-PRINCIPAL"], "the forged principal reached the upstream")
        check(seen.get("X-MS-CLIENT-PRINCIPAL-ID") == ALICE_OID, f"upstream X-MS-CLIENT-PRINCIPAL-ID {seen.get('X-MS-CLIENT-PRINCIPAL-ID')}")
        check(seen.get("X-MS-CLIENT-PRINCIPAL-NAME") == "alice@dev.example", f"upstream -NAME {seen.get('X-MS-CLIENT-PRINCIPAL-NAME')}")
        check(seen.get("X-MS-CLIENT-PRINCIPAL-IDP") == "aad", f"upstream -IDP {seen.get('X-MS-CLIENT-PRINCIPAL-IDP')}")
        check(principal.get("auth_typ") == "aad"
              and principal.get("name_typ") == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
              and principal.get("role_typ") == "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
              f"X-MS-CLIENT-PRINCIPAL auth_typ/name_typ/role_typ: {[principal.get(k) for k in ('auth_typ', 'name_typ', 'role_typ')]}")
        expected = {
            "http://schemas.microsoft.com/identity/claims/objectidentifier": ALICE_OID,
            "http://schemas.microsoft.com/identity/claims/tenantid": TENANT,
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": "alice@dev.example",
            "preferred_username": "alice@dev.example",
            "name": "Alice Example",
            "groups": ALICE_GROUP,
        }
        for typ, val in expected.items():
            check(claims.get(typ) == val, f"X-MS-CLIENT-PRINCIPAL claim {typ}: {claims.get(typ)!r}, expected {val!r}")
        check(claims.get("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"),
              "X-MS-CLIENT-PRINCIPAL has no nameidentifier (sub) claim")
        check("roles" not in claims, f"upstream X-MS-CLIENT-PRINCIPAL gives alice roles: {claims.get('roles')}")
        check(seen.get("X-SSO-ASSERTION") == fa.session, "upstream X-SSO-Assertion is not the session")
        for name in seen:
            check(not name.startswith("X-MS-TOKEN-"), f"upstream received {name}")
        flat = json.dumps(seen)
        for value in ("evil", "mallory"):
            check(value not in flat, f"a spoofed value ({value}) reached the upstream: {sorted(seen)}")
        check(who["authenticated"] and who["username"] == "alice.legacy" and not who["is_staff"],
              f"headers-mode Django took the user to be {who}")
    ok("forward auth, signed in + spoofed headers: upstream sees alice's real X-MS-CLIENT-PRINCIPAL*, "
       "X-SSO-Assertion; no spoofed value, no X-MS-TOKEN-*; headers-mode Django: alice.legacy")


# ---------------------------------------------------------------------------------------------

def phase_rotated():
    with open(STATE) as f:
        state = json.load(f)
    for v in state.values():
        if isinstance(v, str) and v.count(".") == 2:
            secrets_seen.add(v)
    r = request("GET", ISSUER + "/jwks")
    kids = [k.get("kid") for k in r.json().get("keys", [])]
    check(r.status == 200 and len(kids) == 2 and kids[1] == state["kid_old"] and kids[0] != state["kid_old"],
          f"/api/jwks after rotation: kids {kids}, old {state['kid_old']}")
    kid_new = kids[0]
    ok("after SSO_SECRET=\"new,old\": /api/jwks publishes the new key first and the old one")

    old = with_session(state["alice_old"])
    seen = page_loads(old, 20, "alice.legacy", "old session after rotation")
    ups = sso_upstreams(old, 6, "old session after rotation")
    ok(f"the session signed before the rotation still works: Django {seen}, entra-sso {ups}")

    b, landing = sign_in("alice", "/api/login?return_to=/")
    check(landing == "/", f"landed on {landing}")
    check(header_of(b.session).get("kid") == kid_new, f"new session kid {header_of(b.session).get('kid')}, expected {kid_new}")
    seen = page_loads(b, 20, "alice.legacy", "new session")
    for inst in ("a", "b"):
        check("unknown kid, refetching" in log_text(LOGS, f"django-{inst}.log"),
              f"django-{inst}: no JWKS refetch logged for the new kid")
    page_loads(old, 10, "alice.legacy", "old session after the refetch")
    ok(f"a new sign-in gets the new kid; both Django instances refetched the JWKS and accept it {seen}; the old session still verifies")

    # Tampered, foreign and made-up cookies: anonymous, never an error page.
    token = b.session
    h, p, s = token.split(".")
    alice_claims = jwt.decode(token, options={"verify_signature": False})
    bob_payload = base64.urlsafe_b64encode(json.dumps({**alice_claims, "oid": BOB_OID, "roles": ["Admin"]})
                                           .encode()).rstrip(b"=").decode()
    foreign_key = ec.generate_private_key(ec.SECP256R1())
    foreign = jwt.encode(alice_claims, foreign_key, algorithm="ES256",
                         headers={"kid": kid_new, "typ": "entra-sso-session+jwt"})
    made_up_kid = jwt.encode(alice_claims, foreign_key, algorithm="ES256",
                             headers={"kid": "made-up", "typ": "entra-sso-session+jwt"})
    flipped = s[:5] + ("A" if s[5] != "A" else "B") + s[6:]
    bad = {"tampered signature": f"{h}.{p}.{flipped}", "claims swapped": f"{h}.{bob_payload}.{s}",
           "foreign key": foreign, "unknown kid": made_up_kid, "garbage": "not-a-token"}
    for name, value in bad.items():
        secrets_seen.add(value)
        for _ in range(2):
            anonymous(with_session(value), name)
    ok("tampered, claims-swapped, foreign-key, unknown-kid and garbage cookies: anonymous on both instances, /private/ -> login")

    # Sign-out through /api/logout: the cookie is cleared, the next page is anonymous.
    r = request("POST", ISSUER + "/logout?return_to=/", {
        "Cookie": b.cookie_header(), "Origin": BASE, "Sec-Fetch-Site": "same-origin",
        "Sec-Fetch-Mode": "navigate", "Content-Type": "application/x-www-form-urlencoded"}, b"")
    check(r.status in (302, 303) and r.location in ("/", BASE + "/"), f"logout: {r.describe()}")
    b.absorb(r)
    check(COOKIE not in b.cookies, "logout did not clear the session cookie")
    for _ in range(2):
        anonymous(b, "after sign-out")
    ok("sign-out via /api/logout clears the session: anonymous on both instances")

    # The short-TTL session: wait for its exp, then it is anonymous in Django and 401 at /api/me.
    wait = state["short_exp"] + 1 - time.time()
    check(wait < 45, f"the short-TTL session expires in {wait:.0f} s; expected less than 45")
    if wait > 0:
        print(f"# waiting {wait:.0f} s for the short-TTL session to expire", flush=True)
        time.sleep(wait)
    expired = with_session(state["short"])
    for _ in range(2):
        anonymous(expired, "expired session")
    r = expired.get("/api/me", nav=False, headers={"Accept": "application/json"})
    check(r.status == 401, f"/api/me with the expired session: {r.describe()}")
    ok("expired session: anonymous in Django, 401 at /api/me")

    # No token in any log.
    check_no_secret_in_logs(LOGS)
    ok("no session token appears in any service's log")


if __name__ == "__main__":
    phases = {"signin": phase_signin, "rotated": phase_rotated}
    if len(sys.argv) != 2 or sys.argv[1] not in phases:
        sys.exit(f"usage: {sys.argv[0]} signin|rotated")
    stop_at_first_failure("e2e.py", phases[sys.argv[1]])
