"""The deployment's public keys (`GET /api/jwks`), cached per process.

The set is fetched on first use and again when its `Cache-Control: max-age` (bounded to 60 s ..
1 h; 300 s without one) has passed. A token naming a `kid` the cached set lacks triggers one
refetch, at most once per `JWKS_REFETCH_INTERVAL`, so a rotated-in key is picked up at once while
made-up kids cannot turn each request into a fetch. A failed fetch keeps the keys already known.
"""

import http.client
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request

import jwt

log = logging.getLogger("entra_sso_django")

MAX_JWKS_BYTES = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _max_age(cache_control):
    m = re.search(r"(?:^|[,\s])max-age=(\d+)", cache_control or "")
    if not m:
        return 300
    return min(max(int(m.group(1)), 60), 3600)


def parse_jwks(body):
    """{kid: PyJWK} of the ES256 P-256 signing keys in a JWKS document; others are ignored."""
    doc = json.loads(body)
    keys = {}
    for k in doc.get("keys", []) if isinstance(doc, dict) else []:
        if not isinstance(k, dict) or not isinstance(k.get("kid"), str):
            continue
        if k.get("kty") != "EC" or k.get("crv") != "P-256" or k.get("alg", "ES256") != "ES256":
            continue
        if k.get("use", "sig") != "sig" or "d" in k:
            continue
        try:
            keys[k["kid"]] = jwt.PyJWK(k, algorithm="ES256")
        except jwt.PyJWTError:
            log.warning("entra-sso JWKS: key %s is not a usable P-256 key; ignored", k["kid"][:64])
    return keys


class JWKSCache:
    def __init__(self, url, timeout=5.0, refetch_interval=30.0, clock=time.monotonic):
        self.url = url
        self.timeout = timeout
        self.refetch_interval = refetch_interval
        self.clock = clock
        self._keys = {}
        self._expires = None  # monotonic time; None: never fetched
        self._last_forced = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _fetch(self):
        """Replaces the cached set; returns False (keys kept) when the fetch fails."""
        self.fetches += 1
        req = urllib.request.Request(self.url, headers={"Accept": "application/json",
                                                        "User-Agent": "entra-sso-django"})
        try:
            with _opener.open(req, timeout=self.timeout) as resp:
                if resp.status != 200:
                    raise urllib.error.HTTPError(self.url, resp.status, "not 200", resp.headers, None)
                body = resp.read(MAX_JWKS_BYTES + 1)
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS larger than 64 KiB")
                keys = parse_jwks(body)
                max_age = _max_age(resp.headers.get("Cache-Control"))
        except (OSError, ValueError, http.client.HTTPException) as err:
            # Retry soon, keep what we had.
            log.warning("entra-sso JWKS fetch from %s failed: %s", self.url, err)
            self._expires = self.clock() + 10
            return False
        self._keys = keys
        self._expires = self.clock() + max_age
        log.info("entra-sso JWKS fetched from %s: kids %s", self.url, ",".join(sorted(keys)) or "none")
        return True

    def get(self, kid):
        """The key for `kid`, or None when the deployment does not publish it."""
        with self._lock:
            now = self.clock()
            if self._expires is None or now >= self._expires:
                self._fetch()
            key = self._keys.get(kid)
            if key is not None:
                return key
            if self._last_forced is not None and now - self._last_forced < self.refetch_interval:
                return None
            self._last_forced = now
            log.info("entra-sso JWKS: unknown kid, refetching")
            self._fetch()
            return self._keys.get(kid)


_caches = {}
_caches_lock = threading.Lock()


def cache_for(config):
    """The process-wide cache for the configured JWKS URL."""
    key = (config.jwks_url, config.jwks_timeout, config.jwks_refetch_interval)
    with _caches_lock:
        if key not in _caches:
            _caches[key] = JWKSCache(config.jwks_url, config.jwks_timeout, config.jwks_refetch_interval)
        return _caches[key]
