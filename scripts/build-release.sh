#!/usr/bin/env bash
# Builds the release binary for a deployment package and prints its path on stdout (the only
# line on stdout; everything else goes to stderr).
#
# Usage: scripts/build-release.sh [--target auto|gnu|gnu-2.17|<triple>] [--features LIST] [--dry-run]
#
#   --target auto      (default) gnu-2.17 when cargo-zigbuild and zig are installed, else gnu
#                      with a warning about the glibc floor
#   --target gnu       plain `cargo build` for this machine (x86_64-unknown-linux-gnu): the binary
#                      needs the glibc of the build machine or newer (2.34 when built on Debian 12)
#   --target gnu-2.17  `cargo zigbuild --target x86_64-unknown-linux-gnu.2.17`: zig links against
#                      glibc 2.17 symbols, so the binary runs on any x86_64 Linux with glibc
#                      2.17 or newer (Lambda provided.al2023 and provided.al2, every Azure
#                      Functions Linux image). Uses the installed x86_64-unknown-linux-gnu std.
#   --target <triple>  any other Rust target, e.g. x86_64-unknown-linux-musl (through
#                      cargo zigbuild when installed); needs that target's std
#                      (`rustup target add <triple>`)
#   --features LIST    cargo features on top of --no-default-features (never `dev-idp`)
#   --dry-run          print the cargo command and the binary path, build nothing
#
# cargo-zigbuild and zig come from PyPI: `pip install cargo-zigbuild ziglang` (or
# `cargo install cargo-zigbuild` plus a zig on PATH). The build always uses
# --release --locked --no-default-features: the dev identity provider (default feature
# `dev-idp`) is never in a deployment binary. Honours CARGO_TARGET_DIR.
set -euo pipefail

usage() {
    echo "usage: $0 [--target auto|gnu|gnu-2.17|<triple>] [--features LIST] [--dry-run]" >&2
    exit 2
}

target="auto"
features=""
dry_run=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --target) [[ $# -ge 2 ]] || usage; target="$2"; shift 2 ;;
        --target=*) target="${1#--target=}"; shift ;;
        --features) [[ $# -ge 2 ]] || usage; features="$2"; shift 2 ;;
        --features=*) features="${1#--features=}"; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

case ",${features// /,}," in
    *,dev-idp,*) echo "error: deployment binaries are built without the dev-idp feature" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

have_zigbuild() {
    command -v cargo-zigbuild >/dev/null 2>&1 || return 1
    command -v zig >/dev/null 2>&1 && return 0
    python3 -c 'import ziglang' >/dev/null 2>&1
}

if [[ "$target" == auto ]]; then
    if have_zigbuild; then
        target="gnu-2.17"
    else
        target="gnu"
        cat >&2 <<'EOF'
warning: cargo-zigbuild or zig not found, building for this machine's glibc. The binary needs a
         glibc at least as new as this machine's (see the `needs glibc` line below): Lambda
         provided.al2023 has 2.34, Debian 11 based Azure images 2.31. For a binary that needs only
         glibc 2.17: pip install cargo-zigbuild ziglang, then build again (--target gnu-2.17).
EOF
    fi
fi

build=(cargo build)
triple=""
case "$target" in
    gnu)
        ;;
    gnu-2.17)
        if ! have_zigbuild && [[ -z "$dry_run" ]]; then
            echo "error: --target gnu-2.17 needs cargo-zigbuild and zig: pip install cargo-zigbuild ziglang" >&2
            exit 1
        fi
        build=(cargo zigbuild)
        triple="x86_64-unknown-linux-gnu.2.17"
        ;;
    *-*)
        triple="$target"
        have_zigbuild && build=(cargo zigbuild)
        ;;
    *) echo "unknown target: $target" >&2; usage ;;
esac

build+=(--release --locked --no-default-features)
[[ -n "$features" ]] && build+=(--features "$features")
[[ -n "$triple" ]] && build+=(--target "$triple")

# cargo-zigbuild's `x86_64-unknown-linux-gnu.2.17` is the Rust target x86_64-unknown-linux-gnu
# with a glibc version for zig's linker: the output lands under the plain triple.
out_triple="${triple%%.*}"

if [[ -n "$dry_run" ]]; then
    target_dir="${CARGO_TARGET_DIR:-$root/target}"
else
    echo "+ ${build[*]}" >&2
    "${build[@]}" >&2
    # Honour CARGO_TARGET_DIR and workspace layouts: ask cargo where it puts its output.
    target_dir="$(cargo metadata --format-version 1 --no-deps --locked \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
fi
bin="$target_dir/${out_triple:+$out_triple/}release/entra-sso"

if [[ -n "$dry_run" ]]; then
    echo "+ ${build[*]}" >&2
else
    [[ -f "$bin" ]] || { echo "error: $bin was not built" >&2; exit 1; }
    python3 "$root/scripts/package-zip.py" elf "$bin" >&2 || true
fi
echo "$bin"
