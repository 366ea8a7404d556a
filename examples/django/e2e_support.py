"""What the HTTP drivers of the end-to-end scripts share, standard library only: e2e.py
(scripts/django-e2e.sh) and proxy_e2e.py (scripts/proxy-e2e.sh).

A failed check raises Failed. A driver either stops at the first (stop_at_first_failure) or
counts each named check and goes on (test, with the totals in `results`). Cookies are kept by
hand (the session cookie is `__Host-` and Secure, which Python's cookie jars never send over
http). Tokens never reach the output: redact() masks anything shaped like a JWS and every secret
seen.
"""

import http.client
import json
import os
import re
import sys
import time
import urllib.parse

COOKIE = "__Host-sso-session"
FLOW_COOKIE_PREFIX = "__Host-sso-flow-"
ALICE_OID = "a11ce000-0000-4000-8000-00000000a11c"
BOB_OID = "b0b00000-0000-4000-8000-000000000b0b"

started = time.monotonic()
secrets_seen = set()
results = {"passed": 0, "failed": 0}
JWS = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class Failed(Exception):
    pass


def redact(text):
    text = str(text)
    for s in secrets_seen:
        text = text.replace(s, "<redacted>")
    return JWS.sub("<jws>", text)


def check(condition, message):
    if not condition:
        raise Failed(message)


def elapsed():
    return f"[{time.monotonic() - started:5.1f}s]"


def ok(message):
    print(f"{elapsed()} ok - {message}", flush=True)


def stop_at_first_failure(name, fn):
    """Runs fn; the first failed check prints `NAME: FAILED: …` and exits 1."""
    try:
        fn()
    except Failed as err:
        print(f"{name}: FAILED: {redact(err)}", file=sys.stderr)
        sys.exit(1)


def test(name, fn, *args):
    """Runs one check; a failure is reported and the run goes on. Returns fn's value or None."""
    try:
        value = fn(*args)
    except Failed as err:
        results["failed"] += 1
        print(f"{elapsed()} not ok - {name}: {redact(err)}", flush=True)
        return None
    except Exception as err:  # noqa: BLE001 - an unexpected error is a failed check, reported
        results["failed"] += 1
        print(f"{elapsed()} not ok - {name}: {type(err).__name__}: {redact(err)}", flush=True)
        return None
    results["passed"] += 1
    detail = f": {value}" if isinstance(value, str) else ""
    print(f"{elapsed()} ok - {name}{redact(detail)}", flush=True)
    return value


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def location(self):
        return self.header("Location")

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise Failed(f"not JSON (status {self.status}): {self.body[:300]!r}") from None

    def describe(self):
        return f"status {self.status}, Location {self.location}, body {self.text[:400]!r}"


def request(method, url, headers=None, body=None, timeout=20):
    """One request on its own connection. headers: a dict, or a list of pairs so that one name
    can be sent in two spellings; a Host among them replaces the URL's."""
    u = urllib.parse.urlsplit(url)
    check(u.scheme == "http", f"unexpected URL {url}")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in pairs}
    if "connection" not in names:
        pairs.append(("Connection", "close"))
    if isinstance(body, str):
        body = body.encode()
    try:
        conn.putrequest(method, u.path + (f"?{u.query}" if u.query else ""),
                        skip_host="host" in names, skip_accept_encoding=True)
        for k, v in pairs:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    except OSError as err:
        raise Failed(f"{method} {u.netloc}{u.path}: {err}") from None
    finally:
        conn.close()


class Browser:
    """Cookies by hand for one origin, as a browser keeps them; a subclass may widen where they
    are sent (sends_to) and where they are taken from (keeps_from)."""

    def __init__(self, origin):
        self.origin = origin
        self.cookies = {}

    def sends_to(self, url):
        return url.startswith(self.origin)

    def keeps_from(self, url):
        return url.startswith(self.origin)

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def absorb(self, resp):
        for sc in resp.all("Set-Cookie"):
            pair, _, attrs = sc.partition(";")
            name, _, value = pair.strip().partition("=")
            if re.search(r"(?i)max-age=0\b", attrs) or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
                if name == COOKIE:
                    secrets_seen.add(value)

    def get(self, path, headers=None, nav=True, origin=None):
        url = path if path.startswith("http") else (origin or self.origin) + path
        h = dict(headers or {})
        if nav:
            h.setdefault("Sec-Fetch-Mode", "navigate")
            h.setdefault("Sec-Fetch-Dest", "document")
            h.setdefault("Sec-Fetch-Site", "same-origin")
            h.setdefault("Accept", "text/html")
        if self.cookies and self.sends_to(url):
            h["Cookie"] = self.cookie_header()
        resp = request("GET", url, h)
        if self.keeps_from(url):
            self.absorb(resp)
        return resp

    @property
    def session(self):
        return self.cookies.get(COOKIE)

    @property
    def in_flow(self):
        """Whether a sign-in flow's cookie is set."""
        return any(k.startswith(FLOW_COOKIE_PREFIX) for k in self.cookies)


def whoami(b, origin=None):
    """The demo's /whoami/ as JSON, and the response (X-Instance names the Django instance)."""
    r = b.get("/whoami/", nav=False, headers={"Accept": "application/json"}, origin=origin)
    check(r.status == 200, f"GET /whoami/: {r.describe()}")
    return r.json(), r


def load_in_turn(b, i, count, expect_user, label):
    """Load i of `count` over /, /whoami/ and /private/ in turn (so that each instance serves
    each page), which must show the signed-in `expect_user`; returns the response."""
    if i % 3 == 1:
        who, r = whoami(b)
        check(who["authenticated"] and who["username"] == expect_user,
              f"{label}load {i + 1}/{count} on {r.header('X-Instance')}: {who}")
    else:
        path = "/" if i % 3 == 0 else "/private/"
        r = b.get(path)
        check(r.status == 200 and f'id="username">{expect_user}<' in r.text,
              f"{label}load {i + 1}/{count} of {path} on {r.header('X-Instance')} does not show {expect_user}: "
              f"{r.describe()}")
    return r


def choose_user(authorize_url, user):
    """The dev IdP's sign-in form, as posted when USER is chosen; the answer (302 to the callback)."""
    endpoint, _, query = authorize_url.partition("?")
    return request("POST", endpoint, {"Content-Type": "application/x-www-form-urlencoded"},
                   f"{query}&user={user}")


def log_text(logs, name):
    try:
        with open(os.path.join(logs, name), encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def check_no_secret_in_logs(logs):
    """No secret seen (its last 40 characters, for those that long) in any *.log in LOGS."""
    for name in sorted(os.listdir(logs)):
        if name.endswith(".log"):
            text = log_text(logs, name)
            for s in secrets_seen:
                check(len(s) < 40 or s[-40:] not in text, f"{name} contains a session token")
