#!/usr/bin/env python3
"""Serves one OpenID configuration document on 127.0.0.1 for the Django side of bench/run.sh.

usage: discovery_stub.py PORT DOCUMENT.json
Any GET whose path ends in /.well-known/openid-configuration gets DOCUMENT; anything else is 404.
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    DOCUMENT = f.read()


class Handler(BaseHTTPRequestHandler):
    # One connection per request: msal opens a new requests.Session for every login and never
    # reuses it, so keep-alive would only leave idle connections behind.
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        if self.path.split("?")[0].endswith("/.well-known/openid-configuration"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(DOCUMENT)))
            self.end_headers()
            self.wfile.write(DOCUMENT)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


Server(("127.0.0.1", PORT), Handler).serve_forever()
