#!/usr/bin/env python3
"""HTTP driver of scripts/proxy-e2e.sh, standard library only:

    nginx :N  round-robin -> instance A = entra-sso proxy A -> gunicorn Django A
                          -> instance B = entra-sso proxy B -> gunicorn Django B
    plus      entra-sso proxy C -> proxy_e2e_upstream.py (WebSocket, SSE, uploads, raw headers),
              sharing the proxies' settings (same issuer and SSO_SECRET), and the dev IdP.

Django runs the demo in MODE "headers" at App Service Authentication's paths, with sessions in a
per-process LocMemCache: it knows the user only from the proxy's X-MS-CLIENT-PRINCIPAL headers.

    proxy_e2e.py main    sign-ins across the balancer, page loads, admin, /.auth/me, spoofed
                         identity headers, a path rule, WebSocket, SSE, a large upload with the
                         proxy's memory sampled, sign-out
    proxy_e2e.py down    after Django B was stopped: proxy B answers 502 upstream_unavailable

Prints `ok - …` or `not ok - …` per check and ends with `proxy_e2e.py: N passed, M failed`
(exit 1 when M > 0). Tokens never reach the output. Settings come from E2E_* variables (see
scripts/proxy-e2e.sh).
"""

import base64
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

import e2e_support
from e2e_support import (ALICE_OID, BOB_OID, Failed, check, check_no_secret_in_logs, choose_user,
                         load_in_turn, log_text, request, results, test, whoami)

ENV = os.environ
BASE = ENV["E2E_BASE"].rstrip("/")  # nginx: http://127.0.0.1:<port>
ISSUER = BASE + "/.auth"
AUTHORITY = ENV["E2E_AUTHORITY"]
IDP_ORIGIN = AUTHORITY.rsplit("/v2.0", 1)[0]
TENANT = ENV["E2E_TENANT"]
PROXY_A = ENV["E2E_PROXY_A"].rstrip("/")  # instance A's proxy, addressed directly
PROXY_B = ENV["E2E_PROXY_B"].rstrip("/")
STREAM = ENV["E2E_STREAM"].rstrip("/")  # proxy C, in front of proxy_e2e_upstream.py
STREAM_PID = int(ENV.get("E2E_STREAM_PID", "0"))
STREAM_APP = ENV["E2E_STREAM_APP"].rstrip("/")  # proxy_e2e_upstream.py itself, not through C
LOGS = ENV["E2E_LOGS"]
PAGE_LOADS = int(ENV.get("E2E_PAGE_LOADS", "100"))
UPLOAD_MB = int(ENV.get("E2E_UPLOAD_MB", "200"))
RSS_LIMIT_MB = float(ENV.get("E2E_RSS_LIMIT_MB", "40"))
REPORT = ENV.get("E2E_REPORT")  # a file for the measured figures, if set

OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
TID = "http://schemas.microsoft.com/identity/claims/tenantid"

figures = []


def figure(line):
    figures.append(line)
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class Browser(e2e_support.Browser):
    """Cookies for the 127.0.0.1 host (cookies ignore ports, so the session reaches every proxy
    on it, as it would every instance behind one host name); none taken from the dev IdP."""

    def __init__(self, origin=BASE):
        super().__init__(origin)

    def sends_to(self, url):
        return url.startswith("http://127.0.0.1:")

    def keeps_from(self, url):
        return self.sends_to(url) and not url.startswith(IDP_ORIGIN)


def sign_in(user, start="/private/"):
    """From a protected page (or straight from a /.auth/login/aad link) through the proxy's
    sign-in and the dev IdP back to the app. Returns (browser, landing path, nginx upstream of
    the login request, of the callback)."""
    b = Browser()
    login = BASE + start
    if not start.startswith("/.auth/login/aad?"):
        r = b.get(start)
        check(r.status == 302, f"signed-out {start}: expected 302 to sign in, got {r.describe()}")
        login = urllib.parse.urljoin(BASE + "/", r.location)
        check(login.startswith(ISSUER + "/login/aad?"), f"signed-out {start}: Location {r.location}")
    r = b.get(login)
    login_upstream = r.header("X-E2E-Upstream")
    check(r.status == 302 and (r.location or "").startswith(IDP_ORIGIN + "/oauth2/v2.0/authorize?"),
          f"/.auth/login/aad: expected 302 to the dev IdP, got {r.describe()}")
    check(b.in_flow, "/.auth/login/aad set no flow cookie")
    r = choose_user(r.location, user)
    check(r.status == 302 and (r.location or "").startswith(ISSUER + "/login/aad/callback?"),
          f"dev IdP ({user}): expected 302 to the callback, got {r.describe()}")
    r = b.get(r.location)
    callback_upstream = r.header("X-E2E-Upstream")
    check(r.status in (302, 303), f"callback ({user}): {r.describe()}")
    check(b.session, f"callback ({user}): no session cookie")
    check(not b.in_flow, "callback: flow cookie not cleared")
    return b, r.location, login_upstream, callback_upstream


def django_hits(path):
    """Requests for `path` in both gunicorn access logs, once the logs are still (a line is
    written after its answer was sent)."""
    count = lambda: sum(log_text(LOGS, f"django-{i}.log").count(f'"GET {path}') for i in ("a", "b"))  # noqa: E731
    last = count()
    for _ in range(20):
        time.sleep(0.1)
        now = count()
        if now == last:
            return now
        last = now
    return last


# --- main ------------------------------------------------------------------------------------

SESSIONS = {}


def t_discovery():
    r = request("GET", ISSUER + "/.well-known/openid-configuration")
    check(r.status == 200, f"discovery: {r.describe()}")
    d = r.json()
    check(d.get("issuer") == ISSUER and d.get("jwks_uri") == ISSUER + "/jwks", f"discovery {d}")
    ups = set()
    for _ in range(4):
        r = request("GET", ISSUER + "/jwks")
        keys = r.json().get("keys", [])
        check(r.status == 200 and len(keys) == 1 and keys[0].get("alg") == "ES256" and "d" not in keys[0],
              f"/.auth/jwks: {r.describe()}")
        ups.add((r.header("X-E2E-Upstream"), keys[0]["kid"]))
    check(len({u for u, _ in ups}) == 2 and len({k for _, k in ups}) == 1,
          f"/.auth/jwks through nginx: (instance, kid) {sorted(ups)}; expected both instances, one kid")
    return f"issuer {ISSUER}, one ES256 key, the same kid on both instances"


def t_signed_out():
    before = django_hits("/private/")
    r = Browser().get("/private/?x=1")
    loc = urllib.parse.urlsplit(urllib.parse.urljoin(BASE + "/", r.location or ""))
    q = urllib.parse.parse_qs(loc.query)
    check(r.status == 302 and loc.path == "/.auth/login/aad" and q.get("return_to") == ["/private/?x=1"],
          f"signed-out navigation: {r.describe()}")
    r = request("GET", BASE + "/private/", {"Accept": "application/json"})
    check(r.status == 401 and r.json().get("error") == "not_signed_in"
          and "/.auth/login/aad" in (r.json().get("login_url") or ""), f"signed-out fetch: {r.describe()}")
    r = request("GET", BASE + "/.auth/me", {"Accept": "application/json"})
    check(r.status == 401, f"signed-out /.auth/me: {r.describe()}")
    check(django_hits("/private/") == before, "a signed-out request reached Django")
    return "navigation 302 to /.auth/login/aad?return_to=…, fetch 401 not_signed_in; Django not reached"


def t_sign_in(user, expect_username, start, expect_landing):
    b, landing, login_up, callback_up = sign_in(user, start)
    check(landing == expect_landing, f"{user} landed on {landing}, expected {expect_landing}")
    check(login_up and callback_up and login_up != callback_up,
          f"{user}: login on {login_up}, callback on {callback_up}; expected two instances")
    who, _ = whoami(b)
    check(who["authenticated"] and who["username"] == expect_username, f"{user}: whoami {who}")
    SESSIONS[user] = b
    return f"from {start}: login on {login_up}, callback on {callback_up}, Django user {who['username']}"


def need(user):
    b = SESSIONS.get(user)
    check(b is not None, f"needs {user}'s session (the sign-in failed)")
    return b


def t_page_loads(user, expect_username, count):
    b = need(user)
    djangos, proxies = {}, {}
    for i in range(count):
        r = load_in_turn(b, i, count, expect_username, "")
        djangos[r.header("X-Instance")] = djangos.get(r.header("X-Instance"), 0) + 1
        proxies[r.header("X-E2E-Upstream")] = proxies.get(r.header("X-E2E-Upstream"), 0) + 1
    check(set(djangos) == {"dj-a", "dj-b"} and min(djangos.values()) >= count // 4,
          f"answers per Django instance {djangos}")
    check(len(proxies) == 2 and min(proxies.values()) >= count // 4, f"answers per proxy {proxies}")
    return f"{count} loads as {expect_username}: Django {djangos}"


def t_admin():
    bob, alice = need("bob"), need("alice")
    who, _ = whoami(bob)
    check(who["is_staff"] and who["is_superuser"] and who["groups"] == ["Administrators"]
          and who["roles"] == ["Admin"], f"bob: {who}")
    seen = set()
    for _ in range(4):
        r = bob.get("/admin/")
        check(r.status == 200 and "Site administration" in r.text, f"bob /admin/: {r.describe()}")
        seen.add(r.header("X-Instance"))
        r = bob.get("/admin/auth/user/")
        check(r.status == 200 and "alice@dev.example" in r.text, f"bob /admin/auth/user/: {r.describe()}")
        seen.add(r.header("X-Instance"))
    check(seen == {"dj-a", "dj-b"}, f"bob's admin pages answered by {seen}")
    for _ in range(2):
        r = alice.get("/admin/")
        check(r.status == 302 and r.location == "/admin/login/?next=/admin/", f"alice /admin/: {r.describe()}")
        r = alice.get(r.location)
        check(r.status == 403 and "not a staff account" in r.text, f"alice /admin/login/: {r.describe()}")
    who, _ = whoami(alice)
    check(not who["is_staff"] and not who["is_superuser"], f"alice: {who}")
    return "bob (role Admin): staff + superuser via ROLE_MAP, the admin on both instances; alice: 403"


def t_me():
    alice, bob = need("alice"), need("bob")
    out = []
    for user, b, oid, roles in (("alice", alice, ALICE_OID, []), ("bob", bob, BOB_OID, ["Admin"])):
        ups = set()
        for _ in range(2):
            r = b.get("/.auth/me", nav=False, headers={"Accept": "application/json"})
            check(r.status == 200, f"{user} /.auth/me: {r.describe()}")
            check(b.session not in r.text, f"{user} /.auth/me hands out the session")
            me = r.json()
            check(isinstance(me, list) and len(me) == 1, f"{user} /.auth/me is not a one-entry list: {me}")
            e = me[0]
            check(e.get("provider_name") == "aad" and e.get("user_id") == f"{user}@dev.example",
                  f"{user} /.auth/me provider/user_id: {e}")
            check(not {"access_token", "id_token", "refresh_token"} & set(e), f"{user} /.auth/me has tokens: {sorted(e)}")
            claims = e.get("user_claims")
            check(isinstance(claims, list) and all(set(c) == {"typ", "val"} for c in claims),
                  f"{user} user_claims shape: {claims}")
            typed = {}
            for c in claims:
                typed.setdefault(c["typ"], []).append(c["val"])
            check(typed.get(OID) == [oid] and typed.get(TID) == [TENANT] and typed.get("preferred_username")
                  == [f"{user}@dev.example"] and typed.get("roles", []) == roles, f"{user} user_claims {typed}")
            ups.add(r.header("X-E2E-Upstream"))
        out.append(f"{user} on {len(ups)} instance(s)")
    return "Easy Auth's shape [{provider_name: aad, user_id, user_claims: [{typ, val}]}], no tokens; " + ", ".join(out)


def spoofed():
    forged = base64.b64encode(json.dumps({
        "auth_typ": "aad", "claims": [{"typ": OID, "val": "evil-oid"}, {"typ": TID, "val": TENANT},
                                      {"typ": "roles", "val": "Admin"},
                                      {"typ": "preferred_username", "val": "mallory@evil.example"}]}).encode()).decode()
    return [
        ("X-MS-CLIENT-PRINCIPAL", forged),
        ("X-MS-CLIENT-PRINCIPAL-ID", "evil-oid"),
        ("X-MS-CLIENT-PRINCIPAL-NAME", "mallory@evil.example"),
        ("X-MS-CLIENT-PRINCIPAL-IDP", "evil"),
        ("x-ms-client-principal-name", "mallory2@evil.example"),
        ("X_MS_CLIENT_PRINCIPAL", forged),
        ("X_MS_CLIENT_PRINCIPAL_ID", "evil-oid"),
        ("X_MS_CLIENT_PRINCIPAL_NAME", "mallory3@evil.example"),
        ("X-MS-TOKEN-AAD-ID-TOKEN", "evil-id-token"),
        ("X-MS-TOKEN-AAD-ACCESS-TOKEN", "evil-access-token"),
        ("X_MS_TOKEN_AAD_ID_TOKEN", "evil-id-token-2"),
        ("X-SSO-Assertion", "evil.assertion.value"),
        ("X_SSO_ASSERTION", "evil.assertion.value2"),
        ("Proxy-SSO-Assertion", "1"),
    ]


def no_spoof_in(values, where):
    flat = json.dumps(values)
    for marker in ("evil", "mallory"):
        check(marker not in flat, f"{where}: a spoofed value ({marker}) reached the app: {flat[:400]}")


def t_spoof_django_signed_in():
    alice = need("alice")
    checked = []
    for origin in (BASE, BASE, PROXY_A, PROXY_B):
        h = [*spoofed(), ("Cookie", alice.cookie_header()), ("Accept", "application/json")]
        r = request("GET", origin + "/headers/", h)
        check(r.status == 200, f"{origin}/headers/ signed in + spoofed: {r.describe()}")
        body = r.json()
        seen, who = body["headers"], body["who"]
        no_spoof_in(seen, f"Django via {origin}")
        check(seen.get("X-MS-CLIENT-PRINCIPAL-ID") == ALICE_OID and seen.get("X-MS-CLIENT-PRINCIPAL-NAME")
              == "alice@dev.example" and seen.get("X-MS-CLIENT-PRINCIPAL-IDP") == "aad",
              f"Django via {origin}: identity headers {sorted(seen)}")
        principal = json.loads(base64.b64decode(seen.get("X-MS-CLIENT-PRINCIPAL", "")))
        claims = {c["typ"]: c["val"] for c in principal.get("claims", [])}
        check(claims.get(OID) == ALICE_OID and "roles" not in claims, f"Django via {origin}: principal {claims}")
        check(seen.get("X-SSO-ASSERTION") == alice.session, f"Django via {origin}: X-SSO-Assertion is not the session")
        check(not any(k.startswith("X-MS-TOKEN") for k in seen), f"Django via {origin}: {sorted(seen)}")
        check(who["authenticated"] and who["username"] == "alice@dev.example" and not who["is_staff"],
              f"Django via {origin} took the user to be {who}")
        checked.append(r.header("X-Instance"))
    return f"through nginx and each proxy directly (Django {sorted(set(checked))}): alice's values only"


def t_spoof_django_signed_out():
    before = django_hits("/headers/")
    r = request("GET", BASE + "/headers/", [*spoofed(), ("Accept", "text/html"), ("Sec-Fetch-Mode", "navigate")])
    check(r.status == 302 and "/.auth/login/aad" in (r.location or ""), f"signed-out /headers/: {r.describe()}")
    r = request("GET", BASE + "/headers/", [*spoofed(), ("Accept", "application/json")])
    check(r.status == 401, f"signed-out fetch /headers/: {r.describe()}")
    check(django_hits("/headers/") == before, "signed out: a spoofed request reached Django")
    for origin in (BASE, BASE, PROXY_A, PROXY_B):
        r = request("GET", origin + "/public/headers/", [*spoofed(), ("Accept", "application/json")])
        check(r.status == 200, f"{origin}/public/headers/: {r.describe()}")
        body = r.json()
        check(body["headers"] == {}, f"signed out via {origin}: Django got identity headers {body['headers']}")
        check(not body["who"]["authenticated"], f"signed out via {origin}: Django took the user to be {body['who']}")
    return "protected path: 302/401, Django not reached; public path: no X-MS-*/X-SSO-* at all, anonymous"


def raw_identity(headers):
    """The identity-shaped headers in a raw header list, names normalised (_ and case)."""
    out = {}
    for k, v in headers:
        n = k.lower().replace("_", "-")
        if n.startswith(("x-ms-", "x-sso-", "proxy-sso-")):
            out.setdefault(n, []).append(v)
    return out


def t_spoof_raw():
    alice = need("alice")
    r = request("GET", STREAM + "/headers?x=1", [*spoofed(), ("Cookie", alice.cookie_header())])
    check(r.status == 200, f"proxy C /headers signed in: {r.describe()}")
    ident = raw_identity(r.json()["headers"])
    no_spoof_in(ident, "raw upstream, signed in")
    expected = {"x-ms-client-principal", "x-ms-client-principal-id", "x-ms-client-principal-name",
                "x-ms-client-principal-idp", "x-sso-assertion"}
    check(set(ident) == expected and all(len(v) == 1 for v in ident.values()),
          f"raw upstream, signed in: identity headers {ident.keys()}, expected each of {sorted(expected)} once")
    names = [k for k, _ in r.json()["headers"]]
    check(not any("_" in k for k in names), f"a header with _ reached the upstream: {names}")
    check(ident["x-sso-assertion"] == [alice.session], "raw upstream: X-SSO-Assertion is not the session")
    r = request("GET", STREAM + "/public/x", spoofed())
    check(r.status == 200, f"proxy C /public/x signed out: {r.describe()}")
    ident = raw_identity(r.json()["headers"])
    check(ident == {}, f"raw upstream, signed out (public path): identity headers {ident}")
    return "raw upstream: exactly the proxy's five identity headers signed in, none signed out; no _ spelling"


def t_path_rule():
    alice, bob = need("alice"), need("bob")
    r = request("GET", STREAM + "/admin-only/x", {"Cookie": alice.cookie_header(), "Accept": "application/json"})
    check(r.status == 403, f"alice on the /admin-only=role:Admin rule: {r.describe()}")
    r = request("GET", STREAM + "/ADMIN-only/%78", {"Cookie": alice.cookie_header(), "Accept": "application/json"})
    check(r.status == 403, f"alice on /ADMIN-only/%78: {r.describe()}")
    r = request("GET", STREAM + "/admin-only/x", {"Cookie": bob.cookie_header()})
    check(r.status == 200 and r.json()["target"] == "/admin-only/x", f"bob on /admin-only: {r.describe()}")
    return "SSO_PATH_RULES=/admin-only=role:Admin: alice 403 (any case, encoded), bob reaches the app"


def ws_frame(payload, opcode=0x1):
    mask = os.urandom(4)
    n = len(payload)
    size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return bytes([0x80 | opcode]) + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(sock, buf):
    def need_bytes(k):
        nonlocal buf
        while len(buf) < k:
            data = sock.recv(65536)
            check(data, "the WebSocket closed early")
            buf += data
        out, buf = buf[:k], buf[k:]
        return out

    b0, b1 = need_bytes(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(need_bytes(2), "big")
    elif n == 127:
        n = int.from_bytes(need_bytes(8), "big")
    check(not b1 & 0x80, "a server frame is masked")
    return b0 & 0x0F, need_bytes(n), buf


def ws_handshake(cookie):
    u = urllib.parse.urlsplit(STREAM)
    key = base64.b64encode(os.urandom(16)).decode()
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    head = (f"GET /ws HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n")
    sock.sendall(head.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return sock, lines[0], headers, rest, key


def t_websocket():
    import hashlib

    alice = need("alice")
    sock, status, _, _, _ = ws_handshake(None)
    sock.close()
    check(status.startswith("HTTP/1.1 401"), f"a WebSocket without a session: {status}")
    t0 = time.monotonic()
    sock, status, headers, buf, key = ws_handshake(alice.cookie_header())
    try:
        check(status.startswith("HTTP/1.1 101"), f"WebSocket handshake: {status} {headers}")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        check(headers.get("sec-websocket-accept") == accept, f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')}")
        check(headers.get("upgrade", "").lower() == "websocket", f"Upgrade {headers.get('upgrade')}")
        check(headers.get("x-seen-principal-name") == "alice@dev.example",
              f"the upgrade reached the app as {headers.get('x-seen-principal-name')}")
        for text in ("hello through entra-sso proxy", "x" * 1000):
            sock.sendall(ws_frame(text.encode()))
            opcode, payload, buf = ws_read(sock, buf)
            check(opcode == 0x1 and payload == text.encode(), f"echo: opcode {opcode}, {payload[:60]!r}")
        sock.sendall(ws_frame((1000).to_bytes(2, "big"), opcode=0x8))
        opcode, _, buf = ws_read(sock, buf)
        check(opcode == 0x8, f"close answered with opcode {opcode}")
    finally:
        sock.close()
    ms = (time.monotonic() - t0) * 1000
    figure(f"WebSocket: handshake + 2 echoes + close in {ms:.0f} ms")
    return f"401 without a session; 101 with a valid Sec-WebSocket-Accept, as alice; 2 text frames echoed ({ms:.0f} ms)"


def t_sse():
    alice = need("alice")
    u = urllib.parse.urlsplit(STREAM)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    t0 = time.monotonic()
    conn.request("GET", "/sse", headers={"Cookie": alice.cookie_header(), "Accept": "text/event-stream"})
    r = conn.getresponse()
    check(r.status == 200 and (r.getheader("Content-Type") or "").startswith("text/event-stream"),
          f"/sse: status {r.status}, Content-Type {r.getheader('Content-Type')}")
    events, current, times = [], [], []
    while True:
        line = r.readline()
        if not line:
            break
        if line in (b"\n", b"\r\n"):
            events.append(b"".join(current).decode())
            times.append(time.monotonic() - t0)
            current = []
        else:
            current.append(line)
    end = time.monotonic() - t0
    conn.close()
    check(len(events) == 3 and all(f"data: event {i} " in e for i, e in enumerate(events)), f"events {events}")
    check(times[0] < 0.5 and end - times[0] > 1.0,
          f"first event at {times[0]:.2f} s, stream ended at {end:.2f} s: the events were buffered")
    figure(f"SSE: events at {', '.join(f'{t:.2f}' for t in times)} s, stream ended at {end:.2f} s")
    return f"3 events at {', '.join(f'{t:.2f}' for t in times)} s (ended {end:.2f} s): streamed, not buffered"


def status_kb(pid, field):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Failed(f"/proc/{pid}/status has no {field}")


def t_upload(chunked):
    alice = need("alice")
    check(STREAM_PID > 0 and os.path.exists(f"/proc/{STREAM_PID}/status"),
          f"proxy C's pid {STREAM_PID}: /proc/<pid>/status not readable")
    before_rss, before_hwm = status_kb(STREAM_PID, "VmRSS"), status_kb(STREAM_PID, "VmHWM")
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            try:
                samples.append(status_kb(STREAM_PID, "VmRSS"))
            except (OSError, Failed):
                return
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    size = UPLOAD_MB * 1024 * 1024
    chunk = b"\x5a" * (1024 * 1024)
    u = urllib.parse.urlsplit(STREAM)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    t0 = time.monotonic()
    try:
        conn.putrequest("POST", "/upload")
        conn.putheader("Cookie", alice.cookie_header())
        conn.putheader("Content-Type", "application/octet-stream")
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for _ in range(UPLOAD_MB):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        body = r.read()
    finally:
        seconds = time.monotonic() - t0
        stop.set()
        sampler.join(5)
        conn.close()
    check(r.status == 200, f"upload: status {r.status}, {body[:300]!r}")
    counted = json.loads(body)
    check(counted["bytes"] == size, f"the upstream counted {counted['bytes']} bytes of {size}")
    after_hwm = status_kb(STREAM_PID, "VmHWM")
    peak = max(samples or [0])
    mb = lambda kb: kb / 1024  # noqa: E731
    line = (f"upload {UPLOAD_MB} MB ({'chunked' if chunked else 'Content-Length'}) through proxy C in "
            f"{seconds:.1f} s ({UPLOAD_MB / seconds:.0f} MB/s; to the app "
            f"{'chunked' if counted['chunked'] else 'with a length'}): proxy VmRSS {mb(before_rss):.1f} MB "
            f"before, peak {mb(peak):.1f} MB during ({len(samples)} samples), VmHWM {mb(before_hwm):.1f} MB "
            f"before / {mb(after_hwm):.1f} MB after (limit {RSS_LIMIT_MB:.0f} MB)")
    figure(line)
    check(len(samples) >= 3, f"only {len(samples)} RSS samples during the upload")
    check(mb(peak) < RSS_LIMIT_MB and mb(after_hwm) < RSS_LIMIT_MB, line)
    return line


def t_origin_form():
    r = request("GET", STREAM_APP + "/targets")
    check(r.status == 200, f"the stream app's /targets: {r.describe()}")
    targets = r.json()["targets"]
    check(len(targets) >= 5, f"the stream app saw only {targets}")
    absolute = sorted({t for t in targets if not t.startswith("/")})
    check(not absolute, f"the proxy sent absolute-form request-targets {absolute} (origin-form expected, "
                        f"as for {sorted({t for t in targets if t.startswith('/')})[:4]}): an app that routes "
                        "on the raw request-target (Node's req.url, e.g. the ws package's `path` option) "
                        "does not recognise the path")
    return f"{len(targets)} requests, all origin-form"


def t_sign_out():
    alice = need("alice")
    # Not proven to come from this app (no Sec-Fetch-Site, no Origin): a confirmation page.
    r = request("GET", BASE + "/.auth/logout?post_logout_redirect_uri=/", {"Cookie": alice.cookie_header()})
    check(r.status == 200 and not r.all("Set-Cookie"), f"cross-site /.auth/logout: {r.describe()}")
    who, _ = whoami(alice)
    check(who["authenticated"], "a cross-site /.auth/logout signed alice out")
    r = alice.get("/.auth/logout?post_logout_redirect_uri=/private/", headers={"Sec-Fetch-Site": "same-origin"})
    check(r.status in (302, 303) and r.location in ("/private/", BASE + "/private/"), f"/.auth/logout: {r.describe()}")
    check(alice.session is None, "/.auth/logout did not clear the session cookie")
    for _ in range(2):
        r = alice.get("/private/")
        check(r.status == 302 and "/.auth/login/aad" in (r.location or ""), f"after sign-out /private/: {r.describe()}")
    r = alice.get("/.auth/me", nav=False, headers={"Accept": "application/json"})
    check(r.status == 401, f"after sign-out /.auth/me: {r.describe()}")
    return "cross-site GET: confirmation page; same-origin: cookie cleared, /private/ -> sign in, /.auth/me 401"


def t_no_token_in_logs():
    check_no_secret_in_logs(LOGS)
    return "no session token in any service's log"


def phase_main():
    test("discovery and keys at /.auth", t_discovery)
    test("signed out", t_signed_out)
    test("alice (member) signs in across the balancer", t_sign_in, "alice", "alice@dev.example",
         "/private/", "/private/")
    test("bob (app role Admin) signs in across the balancer", t_sign_in, "bob", "bob@dev.example",
         "/.auth/login/aad?post_login_redirect_uri=/admin/", "/admin/")
    test(f"{PAGE_LOADS} page loads as alice over both instances", t_page_loads, "alice", "alice@dev.example", PAGE_LOADS)
    test("20 page loads as bob over both instances", t_page_loads, "bob", "bob@dev.example", 20)
    test("the Django admin", t_admin)
    test("/.auth/me", t_me)
    test("spoofed identity headers, signed in (Django)", t_spoof_django_signed_in)
    test("spoofed identity headers, signed out (Django)", t_spoof_django_signed_out)
    test("spoofed identity headers (raw upstream)", t_spoof_raw)
    test("a path rule at the proxy", t_path_rule)
    test("WebSocket echo through the proxy", t_websocket)
    test("SSE through the proxy", t_sse)
    test(f"{UPLOAD_MB} MB upload (Content-Length) streamed through the proxy", t_upload, False)
    test(f"{UPLOAD_MB} MB upload (chunked) streamed through the proxy", t_upload, True)
    test("request-targets reach the app in origin-form", t_origin_form)
    test("sign-out via /.auth/logout", t_sign_out)
    test("tokens in logs", t_no_token_in_logs)


# --- down ------------------------------------------------------------------------------------

def t_down():
    b = Browser(PROXY_A)
    r = b.get("/private/")
    check(r.status == 302, f"proxy A signed out: {r.describe()}")
    b, _, _, _ = sign_in("alice")
    SESSIONS["alice"] = b
    r = request("GET", PROXY_B + "/whoami/", {"Cookie": b.cookie_header(), "Accept": "application/json"})
    check(r.status == 502 and r.json().get("error") == "upstream_unavailable", f"proxy B, Django B down: {r.describe()}")
    r = request("GET", PROXY_B + "/private/", {"Cookie": b.cookie_header(), "Accept": "text/html"})
    check(r.status == 502 and "upstream_unavailable" in r.text, f"proxy B page, Django B down: {r.describe()}")
    r = request("GET", PROXY_A + "/whoami/", {"Cookie": b.cookie_header(), "Accept": "application/json"})
    check(r.status == 200 and r.json()["username"] == "alice@dev.example", f"proxy A, Django A up: {r.describe()}")
    r = request("GET", PROXY_B + "/.auth/me", {"Cookie": b.cookie_header(), "Accept": "application/json"})
    check(r.status == 200, f"proxy B's own /.auth/me with its app down: {r.describe()}")
    statuses = {}
    for _ in range(4):
        r = request("GET", BASE + "/whoami/", {"Cookie": b.cookie_header(), "Accept": "application/json"})
        key = r.status if r.status == 200 else f"{r.status} {r.json().get('error')}"
        statuses[key] = statuses.get(key, 0) + 1
    check(statuses == {200: 2, "502 upstream_unavailable": 2}, f"through nginx: {statuses}")
    return "proxy B: 502 upstream_unavailable (JSON and page), its /.auth still answers; proxy A: 200"


def phase_down():
    test("upstream down: Django B stopped", t_down)


if __name__ == "__main__":
    phases = {"main": phase_main, "down": phase_down}
    if len(sys.argv) != 2 or sys.argv[1] not in phases:
        sys.exit(f"usage: {sys.argv[0]} main|down")
    phases[sys.argv[1]]()
    print(f"proxy_e2e.py {sys.argv[1]}: {results['passed']} passed, {results['failed']} failed", flush=True)
    sys.exit(1 if results["failed"] else 0)
