#!/usr/bin/env bash
# Where a login's CPU goes, next to the bare warp 302 and the adapter alone: each server runs on
# core 0 under `wrk -t1 -c64` on core 1 while `perf record` samples it, and
# bench/profile_split.py turns the stacks into microseconds per request by layer (handler,
# adapter, response write, request parse, ...), plus the top leaf functions of the handler and
# of the write path. The figures quoted in BENCHMARKS.md ("Where the login's time goes") come
# from this script.
#
# usage: bash bench/profile.sh [SECONDS]      (default 5 s of sampling per server)
#
# Builds with symbols into target/profiling (a separate target directory, so the stripped
# release build stays as it is). Needs perf (Debian: linux-perf; installed when missing) and
# permission to profile (root, or kernel.perf_event_paranoid <= 1). Sampling with DWARF call
# graphs slows every server by a similar share; compare the layers, not the request rates,
# with bench/run.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-5}
HZ=4999
OUT=$ROOT/bench/results/profile
mkdir -p "$OUT"

if ! command -v perf >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi
command -v wrk >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

TARGET=$ROOT/target/profiling
CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build --release --locked --target-dir "$TARGET" --bin entra-sso --example bare_302
BIN=$TARGET/release/entra-sso
BARE=$TARGET/release/examples/bare_302

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

SERVER_PID=
cleanup() { [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT

profile() { # NAME COMMAND...: runs the server on core 0, loads and samples it, prints the split
    local name=$1 port
    shift
    port=$(free_port)
    env FUNCTIONS_CUSTOMHANDLER_PORT="$port" taskset -c 0 "$@" "$port" >"$OUT/$name-server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/api/login" && break
        sleep 0.05
    done
    taskset -c 1 wrk -t1 -c64 -d"$((SECS + 4))s" "http://127.0.0.1:$port/api/login" >"$OUT/$name-wrk.txt" &
    local wrk_pid=$!
    sleep 2
    perf record -q -F "$HZ" -g --call-graph dwarf,16384 -p "$SERVER_PID" -o "$OUT/$name.data" -- sleep "$SECS" 2>/dev/null
    wait "$wrk_pid"
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    perf script -i "$OUT/$name.data" -F comm,ip,sym --no-inline 2>/dev/null >"$OUT/$name.script"
    local rps
    rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$name-wrk.txt")
    echo "== $name: $rps req/s while sampled"
    python3 "$ROOT/bench/profile_split.py" "$OUT/$name.script" "$rps" "$HZ" "$SECS"
    rm -f "$OUT/$name.data" "$OUT/$name.script"
}

{
    echo "# bench/profile.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
    # The bare server takes its port as the first argument; entra-sso serve reads it from the
    # environment and ignores the trailing argument.
    profile bare "$BARE"
    profile adapter sh -c 'exec "$0" "$1" 756 135 --via-adapter' "$BARE"
    profile login env TOKIO_WORKER_THREADS=1 RUST_LOG=off \
        SSO_TENANT_ID=b9419818-09af-49c2-b0c3-653adc1f376e \
        SSO_CLIENT_ID=6cb04018-a3f5-46a7-b995-940c78f5aef3 \
        SSO_REDIRECT_URI=https://app.example.com/api/callback \
        SSO_SECRET=8bRqSUcj3aQOMSzslimez9kQ9ymzU7qDH8O09x9qDfg \
        sh -c 'exec "$0" serve' "$BIN"
} | tee "$OUT/latest.txt"
