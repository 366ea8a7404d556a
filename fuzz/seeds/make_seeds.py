#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/seeds/<target>/ (run from anywhere).

The state and session tokens are genuine: minted with the keys the state_verify target derives
(the same HKDF-SHA256 / HS256 construction as src/jws.rs), so the fuzzer starts past the
signature check. Re-run after changing that construction or the targets' constants; the fuzzers
still work with stale seeds, they only start with less coverage.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

# The decoded bytes of the targets' SSO_SECRET entry (base64url in the Rust sources).
SECRET = base64.urlsafe_b64decode("pEZM-K7ulA8aIeKXDjcF_EBQqEGFDYhIlJt2I6qd7ZE=")
CLIENT = "client"
AUTHORITY = "https://login.microsoftonline.com/t/v2.0"
REDIRECT = "https://app.example/api/callback"
NOW = 1_700_000_000
TID = "b9419818-09af-49c2-b0c3-653adc1f376e"


def b64(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hkdf(ikm, salt, info, length=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


class Keys:
    def __init__(self, purpose, secret=SECRET):
        info = f"entra-sso/v2/{purpose}\0{CLIENT}\0{AUTHORITY}\0{REDIRECT}".encode()
        self.okm = hkdf(secret, b"entra-sso", info)
        kid = b64(hmac.new(self.okm, b"kid", hashlib.sha256).digest()[:9])
        typ = {"state": "entra-sso-state+jwt", "session": "entra-sso-session+jwt"}[purpose]
        self.header = b64(f'{{"alg":"HS256","typ":"{typ}","kid":"{kid}"}}')

    def sign(self, payload):
        if not isinstance(payload, bytes):
            payload = json.dumps(payload, separators=(",", ":")).encode()
        signing_input = f"{self.header}.{b64(payload)}"
        tag = hmac.new(self.okm, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(tag)}"


def state_claims(**over):
    c = {"jti": "AAAAAAAAAAAAAAAAAAAAAA", "iat": NOW - 60, "exp": NOW + 540, "aud": REDIRECT,
         "rt": "/app/page?x=1", "vh": "B" * 43}
    c.update(over)
    return c


def session_claims(**over):
    c = {"iss": f"https://login.microsoftonline.com/{TID}/v2.0", "aud": CLIENT, "sub": "s" * 43,
         "oid": "00000000-0000-0000-0000-000000000001", "tid": TID, "name": "Alice",
         "preferred_username": "alice@example.com", "roles": ["Admin"], "groups": [],
         "groups_overage": False, "iat": NOW - 60, "exp": NOW + 3600}
    c.update(over)
    return c


def jwt(header, payload, sig="c2ln"):
    h = b64(header if isinstance(header, (bytes, str)) else json.dumps(header))
    p = b64(payload if isinstance(payload, (bytes, str)) else json.dumps(payload))
    return f"{h}.{p}.{sig}"


def seeds():
    st, ss = Keys("state"), Keys("session")
    other = Keys("state", b"o" * 32)
    good = st.sign(state_claims())
    head, payload, sig = good.split(".")
    forged = st.sign(state_claims(rt="//evil.com")).split(".")
    out = {}
    out["state_verify"] = {
        "state-genuine": good,
        "state-expired": st.sign(state_claims(iat=NOW - 7200, exp=NOW - 6600)),
        "state-other-aud": st.sign(state_claims(aud="https://evil.example/api/callback")),
        "state-future-iat": st.sign(state_claims(iat=NOW + 3600, exp=NOW + 4200)),
        "state-bad-jti": st.sign(state_claims(jti="short", vh="x")),
        "state-unknown-field": st.sign(state_claims(extra=1)),
        "state-tampered-payload": f"{head}.{forged[1]}.{sig}",
        "state-truncated-sig": good[:-5],
        "state-comma-joined": f"{good},{good}",
        "state-unknown-kid": other.sign(state_claims()),
        "state-alg-none": jwt({"alg": "none", "typ": "entra-sso-state+jwt", "kid": "x"}, state_claims(), ""),
        "state-hs256-wrong-typ": jwt({"alg": "HS256", "typ": "JWT", "kid": "x"}, state_claims()),
        "session-genuine": ss.sign(session_claims()),
        "session-expired": ss.sign(session_claims(iat=NOW - 90000, exp=NOW - 3600)),
        "payload-state-claims": json.dumps(state_claims(), separators=(",", ":")),
        "payload-session-claims": json.dumps(session_claims(groups=["g1", "g2"], login_hint="h"),
                                             separators=(",", ":")),
        "payload-session-minimal": json.dumps({"iss": "i", "aud": CLIENT, "sub": "s", "iat": 1, "exp": NOW + 1}),
        "garbage-dots": "..",
        "garbage-not-b64": "a.b+/.c=",
    }
    out["params_parse"] = {
        "callback": "code=0.AAAA-bbbb_cccc&state=" + good + "&session_state=abc",
        "repeated-state": "state=a&state=b&code=c",
        "comma-joined": "state=a,b&code=c,d",
        "encoded-name": "st%61te=x&state=y",
        "broken-percent": "code=%ZZ&state=%2&error=%",
        "error": "error=access_denied&error_description=AADSTS65004%3A+User+declined&state=s",
        "return-to": "return_to=%2F%2Fevil.com&prompt=login&login_hint=a%40b.c",
        "plus-and-empties": "+=+&&=&=&state&code=",
        "non-utf8": b"state=%FF%FE&code=\xff\xfe",
        "many-pairs": "&".join(f"k{i}=v" for i in range(33)),
        "form-post": "code=abc&state=xyz&iss=https%3A%2F%2Flogin.microsoftonline.com%2Ft%2Fv2.0",
    }
    out["cookies_parse"] = {
        "session": "__Host-sso-session=" + ss.sign(session_claims()),
        "duplicate": "__Host-sso-session=a; __Host-sso-session=b",
        "two-headers": "a=1; b=2\n__Host-sso-session=x",
        "duplicate-across-headers": "__Host-sso-session=x\n__Host-sso-session=x",
        "blanks": " \t__Host-sso-session = v \t;b=2;  c =3",
        "flow-and-case": "__host-sso-session=x; __Host-sso-flow-AAAAAAAAAAAAAAAAAAAAAA=secret",
        "comma": "a=1, __Host-sso-session=2",
        "no-equals": "foo; bar; =baz; __Host-sso-session",
        "quoted": '__Host-sso-session="v"; x="a;b"',
        "obs-text": b"__Host-sso-session=\x80\xff; a=\xe2\x82\xac",
        "many": "; ".join(f"c{i}=v" for i in range(70)) + "; __Host-sso-session=late",
        "many-headers": "\n".join(f"site{i}={'x' * 30}" for i in range(100)) + "\n__Host-sso-session=late",
    }
    out["return_to_validate"] = {
        "root": "/",
        "path-query-fragment": "/app/page?x=1&y=%20#frag",
        "dot-segments": "/a/./b/../c",
        "protocol-relative": "//evil.com",
        "backslash": "/\\evil.com",
        "encoded-slash": "/%2F/evil.com",
        "encoded-backslash": "/%5cevil.com",
        "dotdot-double-slash": "/..//evil.com",
        "encoded-after-dots": "/x/../%2F/evil.com",
        "tab": "/\t/evil.com",
        "newline": "/\n/evil.com",
        "javascript": "javascript:alert(document.domain)//",
        "data": "data:text/html,<script>alert(1)</script>",
        "allowed-origin": "https://app.example.com/x?y=1#z",
        "origin-suffix": "https://app.example.com.evil.com/",
        "userinfo": "https://user:pw@app.example.com/",
        "http": "http://app.example.com/",
        "scheme-relative-https": "https:evil.com",
        "uppercase": "HTTPS://APP.EXAMPLE.COM:443/x",
        "unicode": "/\u3002evil.com/\uff0f\uff0fevil",
        "backslashes": "\\\\evil.com",
    }
    hdr_rs = {"alg": "RS256", "typ": "JWT", "kid": "Mc7l3Iz93g7uwgNeEmmw_WYGPko"}
    claims = {"aud": CLIENT, "iss": f"https://issuer/{TID}/v2.0", "tid": TID, "sub": "s", "nonce": "nonce",
              "iat": NOW, "nbf": NOW, "exp": 4102444800}
    out["id_token_parse"] = {
        "rs256-bad-sig": jwt(hdr_rs, claims, b64(b"\0" * 256)),
        "rs256-no-kid": jwt({"alg": "RS256"}, claims),
        "alg-none": jwt({"alg": "none", "kid": "Mc7l3Iz93g7uwgNeEmmw_WYGPko"}, claims, ""),
        "hs256": jwt({"alg": "HS256", "typ": "JWT", "kid": "Mc7l3Iz93g7uwgNeEmmw_WYGPko"}, claims),
        "unknown-alg": jwt({"alg": "XS999", "kid": "k"}, claims),
        "crit-jku": jwt({"alg": "RS256", "kid": "k", "jku": "https://evil/keys", "crit": ["exp"]}, claims),
        "header-not-json": jwt("not json", claims),
        "jwe-five-parts": "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
        "garbage": "not a jwt",
        "empty-parts": "..",
    }
    out["id_token_claims"] = {
        "valid": json.dumps({**claims, "iss": f"https://login.microsoftonline.com/{TID}/v2.0",
                             "oid": "00000000-0000-0000-0000-000000000001", "name": "Alice",
                             "preferred_username": "alice@example.com", "email": "alice@example.com",
                             "roles": ["Admin"], "groups": ["g1"], "login_hint": "O.hint"}),
        "groups-overage": json.dumps({**claims, "iss": f"https://login.microsoftonline.com/{TID}/v2.0",
                                      "_claim_names": {"groups": "src1"},
                                      "_claim_sources": {"src1": {"endpoint": "https://graph"}}}),
        "hasgroups": json.dumps({**claims, "iss": f"https://login.microsoftonline.com/{TID}/v2.0",
                                 "hasgroups": True}),
        "personal-account": json.dumps({**claims, "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
                                        "iss": "https://login.microsoftonline.com/"
                                               "9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"}),
        "no-tid": json.dumps({k: v for k, v in claims.items() if k != "tid"}),
        "aud-array": json.dumps({**claims, "aud": ["other", CLIENT]}),
        "aud-array-only-client": json.dumps({**claims, "iss": f"https://login.microsoftonline.com/{TID}/v2.0",
                                             "aud": [CLIENT]}),
        "aud-array-empty": json.dumps({**claims, "aud": []}),
        "tid-upper-case": json.dumps({**claims, "tid": TID.upper(),
                                      "iss": f"https://login.microsoftonline.com/{TID.upper()}/v2.0"}),
        "sid": json.dumps({**claims, "iss": f"https://login.microsoftonline.com/{TID}/v2.0", "sid": "x" * 200}),
        "tid-not-guid": json.dumps({**claims, "tid": "../../evil.com/x",
                                    "iss": "https://login.microsoftonline.com/../../evil.com/x/v2.0"}),
        "expired": json.dumps({**claims, "exp": NOW}),
        "long-strings": json.dumps({**claims, "iss": f"https://login.microsoftonline.com/{TID}/v2.0",
                                    "name": "\u00e9" * 300, "roles": [f"r{i}" for i in range(80)],
                                    "login_hint": "h" * 1100}),
        "not-json": "{\"aud\":",
    }
    out["secret_parse"] = {
        "base64url": "pEZM-K7ulA8aIeKXDjcF_EBQqEGFDYhIlJt2I6qd7ZE",
        "base64-padded": base64.b64encode(bytes(range(7, 39))).decode(),
        "hex": bytes(range(100, 132)).hex(),
        "hex-upper": bytes(range(100, 132)).hex().upper(),
        "typed": "CompanyName-SSO-Secret-Prod-2025!",
        "repeated": "password" * 8,
        "encoded-text": base64.b64encode(b"CompanyName-SSO-Secret-Prod-2025!!!").decode(),
        "mixed-alphabets": "ab+/cd-_" * 6,
        "too-long": "A" * 600,
    }
    return out


def main():
    for target, files in seeds().items():
        d = os.path.join(HERE, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, content in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(content if isinstance(content, bytes) else content.encode())
        print(f"{target}: {len(files)} seeds")


if __name__ == "__main__":
    main()
