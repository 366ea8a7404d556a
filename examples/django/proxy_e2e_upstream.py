#!/usr/bin/env python3
"""A tiny app for scripts/proxy-e2e.sh to put behind `entra-sso proxy`: Python's standard library
only (asyncio), HTTP/1.1 on 127.0.0.1.

    python3 proxy_e2e_upstream.py PORT

    GET  /health         200 "ok"
    GET  /ws             WebSocket (RFC 6455): the handshake (Sec-WebSocket-Accept =
                         base64(sha1(key + GUID))), then every text frame echoed back until a
                         close frame; the 101 names the X-MS-CLIENT-PRINCIPAL-NAME it got
                         (X-Seen-Principal-Name)
    GET  /sse            text/event-stream: 3 events 0.7 s apart, then the end of the stream
    POST /upload         the body (Content-Length or chunked) counted and discarded:
                         {"bytes": n, "seconds": t, "chunked": bool}
    GET  /targets        the request-targets received so far, as sent ({"targets": [...]})
    anything else        {"method", "target", "headers": [[name, value], ...]}: the request head
                         exactly as it arrived (the spoofed-header checks read it)

A request-target in absolute-form (`GET http://host:port/ws`) is accepted, as RFC 9112 §3.2.2
requires of servers, and recorded: a proxy should send origin-form (`GET /ws`), since many app
servers route on the raw target.
"""

import asyncio
import base64
import hashlib
import json
import sys
import time
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SSE_EVENTS = 3
SSE_PAUSE = 0.7
READ_SIZE = 256 * 1024
targets = []  # every request-target received, as sent


class BadRequest(Exception):
    pass


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        raise BadRequest(f"request line {lines[0]!r}") from None
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return method, target, headers


def header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def respond(writer, status, body, content_type="application/json", extra=()):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Status")
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}", "Cache-Control: no-store", *extra]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


async def discard_body(reader, headers):
    """Reads the request body (chunked or Content-Length) and returns its length."""
    total = 0
    if (header(headers, "transfer-encoding") or "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest(f"chunk size {size_line[:40]!r}") from None
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return total
            left = size
            while left:
                data = await reader.read(min(left, READ_SIZE))
                if not data:
                    raise BadRequest("the body broke off")
                left -= len(data)
            total += size
            if await reader.readexactly(2) != b"\r\n":
                raise BadRequest("chunk not followed by CRLF")
    left = int(header(headers, "content-length") or 0)
    while left:
        data = await reader.read(min(left, READ_SIZE))
        if not data:
            raise BadRequest("the body broke off")
        left -= len(data)
        total += len(data)
    return total


async def websocket(reader, writer, headers):
    key = header(headers, "sec-websocket-key")
    if (header(headers, "upgrade") or "").lower() != "websocket" or not key \
            or header(headers, "sec-websocket-version") != "13":
        await respond(writer, 400, {"error": "not a WebSocket handshake"})
        return
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    seen = header(headers, "x-ms-client-principal-name") or "-"
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\nX-Seen-Principal-Name: {seen}\r\n\r\n").encode("latin-1"))
    await writer.drain()
    while True:
        b0, b1 = await reader.readexactly(2)
        opcode, masked, length = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        mask = await reader.readexactly(4) if masked else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        if opcode == 0x8:  # close: answer it and end
            writer.write(bytes([0x88, len(payload[:125])]) + payload[:125])
            await writer.drain()
            return
        if opcode == 0x9:  # ping
            opcode = 0xA
        elif opcode != 0x1:
            continue
        n = len(payload)
        size = bytes([n]) if n < 126 else (bytes([126]) + n.to_bytes(2, "big") if n < 65536
                                           else bytes([127]) + n.to_bytes(8, "big"))
        writer.write(bytes([0x80 | opcode]) + size + payload)  # server frames are not masked
        await writer.drain()


async def sse(writer):
    # The connection ends with the stream, so the answer says so: otherwise the proxy's pool would
    # keep it for the next request, which would meet a closed socket.
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
                 b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    for i in range(SSE_EVENTS):
        if i:
            await asyncio.sleep(SSE_PAUSE)
        event = f"id: {i}\ndata: event {i} at {time.time():.3f}\n\n".encode()
        writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def handle(reader, writer):
    try:
        while True:
            try:
                method, target, headers = await read_head(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            targets.append(target)
            # absolute-form (RFC 9112 §3.2.2) or origin-form
            path = urllib.parse.urlsplit(target).path if "://" in target else target.split("?", 1)[0]
            if path == "/ws":
                await websocket(reader, writer, headers)
                return
            if path == "/sse":
                await discard_body(reader, headers)
                await sse(writer)
                return
            if path == "/upload":
                started = time.monotonic()
                chunked = (header(headers, "transfer-encoding") or "").lower() == "chunked"
                n = await discard_body(reader, headers)
                await respond(writer, 200, {"bytes": n, "seconds": round(time.monotonic() - started, 3),
                                            "chunked": chunked})
            elif path == "/targets":
                await discard_body(reader, headers)
                await respond(writer, 200, {"targets": targets})
            elif path == "/health":
                await discard_body(reader, headers)
                await respond(writer, 200, "ok", "text/plain")
            else:
                await discard_body(reader, headers)
                await respond(writer, 200, {"method": method, "target": target, "headers": headers})
            if (header(headers, "connection") or "").lower() == "close":
                return
    except BadRequest as err:
        await respond(writer, 400, {"error": str(err)}, extra=("Connection: close",))
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=64 * 1024)
    print(f"proxy_e2e_upstream: listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit(f"usage: {sys.argv[0]} PORT")
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
