#!/usr/bin/env python3
"""Splits `perf script` call stacks of one server into per-request microseconds by layer.

usage: profile_split.py SCRIPT REQUESTS_PER_SECOND SAMPLE_HZ SECONDS

SCRIPT is the output of `perf script -F comm,ip,sym --no-inline` for a server under a constant
wrk load. Each sample is put in the first layer (in the order below) that one of its frames
matches; samples per request are converted to microseconds with the request rate measured while
perf ran. Prints the layers, then the leaf functions inside the handler and inside the kernel's
write path (where the wake-up of the load generator is paid).
"""

import collections
import re
import sys

LAYERS = [
    ("handler (entra-sso core)", r"entra_sso::routes::dispatch"),
    ("adapter (warp filter chain)", r"warp::filter|warp::filters|entra_sso::server|ThenFuture"),
    ("response write (writev, TCP, wake-up)", r"poll_flush|writev|write_vectored"),
    ("request parse (hyper)", r"Http1Transaction>::parse|poll_read_head"),
    ("response encode (hyper)", r"Http1Transaction>::encode|write_head"),
    ("socket read", r"poll_read_from_io|recv|poll_read"),
    ("event loop (epoll, tokio)", r"epoll|park|Driver"),
]


def stacks(path):
    stack = []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if stack:
                    yield stack
                stack = []
            elif line[0] in "\t ":
                parts = line.strip().split(" ", 1)
                stack.append(parts[1] if len(parts) > 1 else parts[0])
    if stack:
        yield stack


def main():
    path, rps, hz, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    us_per_sample = 1e6 / hz / (rps * secs)
    compiled = [(name, re.compile(rx)) for name, rx in LAYERS]
    layers = collections.Counter()
    handler_leaves = collections.Counter()
    write_leaves = collections.Counter()
    total = 0
    for st in stacks(path):
        total += 1
        layer = next((name for name, rx in compiled if any(rx.search(f) for f in st)), "other")
        layers[layer] += 1
        if layer.startswith("handler"):
            handler_leaves[st[0][:90]] += 1
        elif layer.startswith("response write"):
            write_leaves[st[0][:90]] += 1
    print(f"{total * us_per_sample:.2f} us of CPU per request ({total} samples)")
    for name, _ in LAYERS + [("other", None)]:
        print(f"  {layers[name] * us_per_sample:5.2f} us  {name}")
    for title, leaves in (("handler", handler_leaves), ("response write", write_leaves)):
        print(f"  top leaf functions in the {title}:")
        for name, n in leaves.most_common(12):
            print(f"    {n * us_per_sample:5.3f} us  {name}")


if __name__ == "__main__":
    main()
