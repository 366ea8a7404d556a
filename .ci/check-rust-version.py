#!/usr/bin/env python3
"""Checks the crate's declared `rust-version` without a second toolchain.

* the declared version is no newer than the installed rustc (the toolchain CI builds with);
* no package in the resolved dependency graph (Cargo.lock, every feature, every platform, dev and
  build dependencies included) declares a newer `rust-version` than ours.

Code of our own that uses a newer standard-library item is clippy's `incompatible_msrv`, run as an
error in .ci/run. Neither check proves the crate builds on that older compiler: new syntax or
language features, and dependencies without a `rust-version`, go unnoticed (docs/decisions.md).
"""
import json
import re
import subprocess
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple((parts + [0, 0])[:3])


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--all-features"],
            check=True,
            stdout=subprocess.PIPE,
        ).stdout
    )
    root_id = meta["resolve"]["root"]
    packages = {p["id"]: p for p in meta["packages"]}
    root = packages[root_id]
    declared = root.get("rust_version")
    if not declared:
        sys.exit(f"check-rust-version: {root['name']} declares no rust-version in Cargo.toml")

    rustc = subprocess.run(["rustc", "--version"], check=True, stdout=subprocess.PIPE, text=True).stdout
    found = re.match(r"rustc (\d+\.\d+\.\d+)", rustc)
    if not found:
        sys.exit(f"check-rust-version: cannot read rustc's version from {rustc!r}")
    installed = found.group(1)

    failures = []
    if version(declared) > version(installed):
        failures.append(f"rust-version {declared} is newer than the installed rustc {installed}")

    resolved = [packages[node["id"]] for node in meta["resolve"]["nodes"] if node["id"] != root_id]
    newer = sorted(
        (p for p in resolved if p.get("rust_version") and version(p["rust_version"]) > version(declared)),
        key=lambda p: (p["name"], p["version"]),
    )
    for p in newer:
        failures.append(f"{p['name']} {p['version']} needs Rust {p['rust_version']}, newer than our rust-version {declared}")

    if failures:
        print("\n".join(f"check-rust-version: {f}" for f in failures), file=sys.stderr)
        sys.exit(1)
    undeclared = sum(1 for p in resolved if not p.get("rust_version"))
    print(
        f"check-rust-version: rust-version {declared} <= rustc {installed}; "
        f"{len(resolved) - undeclared} of {len(resolved)} locked dependencies declare a rust-version, "
        f"none newer ({undeclared} declare none)"
    )


if __name__ == "__main__":
    main()
