#!/usr/bin/env bash
# End-to-end test of `entra-sso proxy` (App Service Authentication's model: one proxy in front of
# one app on each instance) with the Django example, on loopback:
#
#   nginx :N  round-robin (App Service's front end) -> instance A: entra-sso proxy A -> gunicorn Django A
#                                                   -> instance B: entra-sso proxy B -> gunicorn Django B
#   plus      entra-sso proxy C -> examples/django/proxy_e2e_upstream.py (WebSocket, SSE, uploads),
#             and entra-sso dev-idp (the identity provider).
#
# The proxies share every SSO_* setting (SSO_SECRET included) and nothing else: no store. Django
# runs the demo in MODE "headers" at the /.auth paths (ENTRA_SSO_ROUTES=easyauth), each instance
# with its own LocMemCache-backed sessions, gunicorn mapping underscore headers too
# (--header-map dangerous), so a spoofed X_MS_CLIENT_PRINCIPAL would be read if it got through.
#
# examples/django/proxy_e2e.py checks sign-ins (alice, a member; bob, app role Admin) with the
# login on one instance and the callback on the other, 100 page loads over both, the Django
# admin, /.auth/me, spoofed identity headers signed in and out, a path rule, a WebSocket echo, an
# SSE stream, a 200 MB upload with the proxy's memory sampled, sign-out; then the sign-in once in
# headless Chromium (examples/django/proxy_e2e_browser.mjs); then Django B is stopped and proxy B
# must answer 502 upstream_unavailable.
#
# Usage: scripts/proxy-e2e.sh [--binary PATH] [--idp-binary PATH]
#   --binary PATH      entra-sso executable for the proxies (default: cargo build --release,
#                      honouring CARGO_TARGET_DIR)
#   --idp-binary PATH  executable for `dev-idp` (needs the dev-idp feature; default: --binary)
#
# Installs what is missing: nginx (apt-get, as root), the example's venv (scripts/django-venv.sh),
# tests/browser's node packages. A missing prerequisite fails the run under CI=true; elsewhere it
# prints SKIPPED (the browser step alone, or the whole run without nginx). Prints one line per
# step and check and ends with `proxy-e2e: N passed, M failed`; every wait is bounded; everything
# started here is stopped on exit.
set -euo pipefail

usage() { echo "usage: $0 [--binary PATH] [--idp-binary PATH]" >&2; exit 2; }

binary=""
idp_binary=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --binary) [[ $# -ge 2 ]] || usage; binary="$2"; shift 2 ;;
        --idp-binary) [[ $# -ge 2 ]] || usage; idp_binary="$2"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
[[ -n "$binary" ]] && binary="$(abspath "$binary")"
[[ -n "$idp_binary" ]] && idp_binary="$(abspath "$idp_binary")"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
example="$root/examples/django"

started=$SECONDS
step() { printf '[%4ss] %s\n' "$((SECONDS - started))" "$*"; }

passed=0
failed=0
work="$(mktemp -d "${TMPDIR:-/tmp}/proxy-e2e.XXXXXX")"
# nginx's workers (user nobody when started as root) must reach their temp directories.
chmod 0711 "$work"
groups=()

# Tokens never reach the terminal: anything shaped like a JWS is masked in log tails.
redact() { sed -E 's/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/<jws>/g'; }
fail() {
    echo "proxy-e2e: FAILED: $*" >&2
    for log in "$work"/*.log; do
        [[ -s "$log" ]] || continue
        echo "--- $(basename "$log") (last 30 lines)" >&2
        tail -n 30 "$log" | redact >&2
    done
    echo "proxy-e2e: $passed passed, $((failed > 0 ? failed : 1)) failed" >&2
    exit 1
}

stop_group() {
    local pg="$1"
    kill -TERM -- "-$pg" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$pg" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL -- "-$pg" 2>/dev/null || true
}
# stop_service PGID: stops it now and forgets it.
stop_service() {
    local pg="$1" kept=() g
    stop_group "$pg"
    for g in "${groups[@]}"; do [[ "$g" == "$pg" ]] || kept+=("$g"); done
    groups=("${kept[@]}")
}
cleanup() {
    local status=$?
    # Each service runs in its own process group (setsid): this ends it and its children only.
    for pg in "${groups[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
    for pg in "${groups[@]}"; do stop_group "$pg"; done
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn NAME CMD...: starts CMD in a new process group, output to $work/NAME.log; pid in $spawned.
spawned=""
spawn() {
    local name="$1"
    shift
    # The log exists before anything reads it (the background job opens it later).
    : >>"$work/$name.log"
    setsid "$@" >>"$work/$name.log" 2>&1 </dev/null &
    spawned=$!
    groups+=("$spawned")
}

# wait_http NAME PID URL: until URL answers 200 (20 s), or the process exits.
wait_http() {
    local name="$1" pid="$2" url="$3"
    for _ in $(seq 200); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$url" 2>/dev/null)" == 200 ]] && return 0
        kill -0 "$pid" 2>/dev/null || fail "$name exited (see $name.log)"
        sleep 0.1
    done
    fail "$name: $url did not answer 200 within 20 s"
}

# N distinct free loopback ports (all bound at once, then released).
free_ports() {
    python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

in_ci() { [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; }
# skip_or_fail WHAT: a missing prerequisite fails under CI, else the whole run is SKIPPED.
skip_or_fail() {
    in_ci && fail "$1 (a prerequisite cannot be skipped under CI)"
    echo "SKIPPED: proxy-e2e: $1"
    exit 0
}

# add_counts LOG: adds the driver's "N passed, M failed" summary line to the totals.
add_counts() {
    local line
    line="$(grep -E '^proxy_e2e\.py [a-z]+: [0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1 || true)"
    if [[ -z "$line" ]]; then
        failed=$((failed + 1))
        return
    fi
    passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")))
}

# --- prerequisites ---------------------------------------------------------------------------
command -v curl >/dev/null || skip_or_fail "curl not found"
command -v python3 >/dev/null || skip_or_fail "python3 not found"
[[ -r /proc/self/status ]] || skip_or_fail "/proc not readable (the memory check needs Linux /proc)"

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    [[ "$(id -u)" == 0 ]] || skip_or_fail "nginx not found; install it (apt-get install nginx-light) or run as root"
    step "installing nginx-light (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq >"$work/apt.log" 2>&1 || fail "apt-get update"
    timeout 600 apt-get install -y -qq --no-install-recommends nginx-light >>"$work/apt.log" 2>&1 \
        || fail "apt-get install nginx-light"
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

if [[ -z "$binary" ]]; then
    step "building entra-sso (cargo build --release)"
    cargo build --release --locked --quiet --bin entra-sso || fail "cargo build --release"
    target_dir="$(cargo metadata --format-version 1 --no-deps --locked \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    binary="$target_dir/release/entra-sso"
fi
[[ -x "$binary" ]] || fail "$binary is not an executable file"
idp_binary="${idp_binary:-$binary}"
[[ -x "$idp_binary" ]] || fail "$idp_binary is not an executable file"

step "the venv: examples/django/requirements*.txt, pip install ./examples/django"
venv="$("$root/scripts/django-venv.sh" 2>"$work/venv.log")" || fail "scripts/django-venv.sh: $(tail -n 20 "$work/venv.log")"
py="$venv/bin/python"
# The demo project alone on the path: entra_sso_django comes from the venv, as a user's would.
site="$work/site"
mkdir -p "$site"
ln -s "$example/demo" "$site/demo"
django_admin() { (cd "$site" && DJANGO_SETTINGS_MODULE=demo.settings "$py" -m django "$@"); }

browser=1
skip_browser="SKIPPED: proxy-e2e browser step: chromium or node not found (apt-get install chromium; Node.js 20+)"
if ! command -v chromium >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    browser=""
    in_ci && fail "chromium or node not found: the browser step cannot be skipped under CI"
    echo "$skip_browser"
elif [[ ! -d tests/browser/node_modules/playwright-core ]]; then
    step "installing tests/browser's node packages (npm ci)"
    timeout 600 npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1 \
        || fail "npm ci --prefix tests/browser"
fi

# --- settings --------------------------------------------------------------------------------
read -r port idp_port proxy_a proxy_b proxy_c dj_a dj_b up_port <<<"$(free_ports 8)"
base="http://127.0.0.1:$port"
redirect_uri="$base/.auth/login/aad/callback"
client_id="proxy-e2e-client"
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
client_secret="$(rand)"
sso_secret="$(rand)"
django_secret="$(rand)"

# --- the dev identity provider ---------------------------------------------------------------
step "dev IdP on 127.0.0.1:$idp_port"
spawn idp env SSO_CLIENT_ID="$client_id" SSO_CLIENT_SECRET="$client_secret" \
    SSO_REDIRECT_URI="$redirect_uri" RUST_LOG=warn "$idp_binary" dev-idp --port "$idp_port"
idp_pid=$spawned
authority=""
for _ in $(seq 150); do
    authority="$(sed -n 's/^authority \(http[^ ]*\)$/\1/p' "$work/idp.log")"
    [[ -n "$authority" ]] && break
    kill -0 "$idp_pid" 2>/dev/null || fail "the dev IdP exited (a binary without the dev-idp feature? see --idp-binary)"
    sleep 0.1
done
[[ -n "$authority" ]] || fail "the dev IdP printed no authority within 15 s"
tenant="$(sed -E 's#^http://[^/]+/([^/]+)/v2\.0$#\1#' <<<"$authority")"

# --- the apps --------------------------------------------------------------------------------
export DJANGO_SECRET_KEY="$django_secret" DJANGO_DB="$work/db.sqlite3"
export ENTRA_SSO_MODE=headers ENTRA_SSO_ROUTES=easyauth ENTRA_SSO_ISSUER="$base/.auth" \
    ENTRA_SSO_AUDIENCE="$client_id" ENTRA_SSO_TENANTS="$tenant"
step "Django: migrate (one SQLite database; sessions stay in each instance's LocMemCache)"
django_admin migrate --noinput -v 0 >"$work/migrate.log" 2>&1 || fail "django-admin migrate"
# start_django NAME PORT INSTANCE
start_django() {
    local name="$1" p="$2" instance="$3"
    spawn "$name" env INSTANCE_NAME="$instance" "$venv/bin/gunicorn" --chdir "$site" \
        --bind "127.0.0.1:$p" --workers 1 --threads 4 --graceful-timeout 2 --no-control-socket \
        --header-map dangerous --access-logfile - --error-logfile - demo.wsgi:application
    eval "pid_${name//-/_}=$spawned"
    wait_http "$name" "$spawned" "http://127.0.0.1:$p/whoami/"
}
step "gunicorn Django A :$dj_a, B :$dj_b (MODE headers, /.auth paths); the stream app :$up_port"
start_django django-a "$dj_a" dj-a
start_django django-b "$dj_b" dj-b
spawn upstream python3 "$example/proxy_e2e_upstream.py" "$up_port"
wait_http upstream "$spawned" "http://127.0.0.1:$up_port/health"

# --- the proxies -----------------------------------------------------------------------------
# start_proxy NAME PORT UPSTREAM-PORT [VAR=VALUE...]
start_proxy() {
    local name="$1" p="$2" up="$3"
    shift 3
    spawn "$name" env SSO_CLIENT_ID="$client_id" SSO_CLIENT_SECRET="$client_secret" \
        SSO_AUTHORITY="$authority" SSO_REDIRECT_URI="$redirect_uri" SSO_SECRET="$sso_secret" \
        SSO_LOGOUT=local SSO_UPSTREAM="http://127.0.0.1:$up" SSO_TRUSTED_PROXIES=127.0.0.1 \
        SSO_PUBLIC_PATHS=/public RUST_LOG=info "$@" "$binary" proxy --listen "127.0.0.1:$p"
    eval "pid_${name//-/_}=$spawned"
    wait_http "$name" "$spawned" "http://127.0.0.1:$p/.auth/health"
}
step "entra-sso proxy A :$proxy_a -> Django A, B :$proxy_b -> Django B, C :$proxy_c -> the stream app"
start_proxy proxy-a "$proxy_a" "$dj_a"
start_proxy proxy-b "$proxy_b" "$dj_b"
start_proxy proxy-c "$proxy_c" "$up_port" SSO_PATH_RULES=/admin-only=role:Admin
# shellcheck disable=SC2154
stream_pid="$pid_proxy_c"
[[ "$(readlink "/proc/$stream_pid/exe")" == "$(readlink -f "$binary")" ]] \
    || fail "pid $stream_pid is not the proxy ($(readlink "/proc/$stream_pid/exe"))"

# --- nginx -----------------------------------------------------------------------------------
mkdir -p "$work/nginx/tmp"
chmod 0711 "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 512; }
http {
    access_log $work/nginx-access.log;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    proxy_max_temp_file_size 0;
    # Client headers with _ pass, so that the proxy, not nginx, is what removes them.
    underscores_in_headers on;

    upstream instances { server 127.0.0.1:$proxy_a; server 127.0.0.1:$proxy_b; }

    server {
        listen 127.0.0.1:$port;
        # Which instance answered (test only).
        add_header X-E2E-Upstream \$upstream_addr always;

        location / {
            proxy_pass http://instances;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$http_host;
        }
    }
}
EOF
"$nginx_bin" -t -q -p "$work/nginx" -e "$work/nginx-error.log" -c "$work/nginx/nginx.conf" \
    >"$work/nginx-test.log" 2>&1 || fail "nginx -t: $(cat "$work/nginx-test.log")"
step "nginx on $base (round-robin over proxy A and B)"
spawn nginx "$nginx_bin" -p "$work/nginx" -e "$work/nginx-error.log" -c "$work/nginx/nginx.conf"
wait_http nginx "$spawned" "$base/.auth/health"

# --- the HTTP driver -------------------------------------------------------------------------
export E2E_BASE="$base" E2E_AUTHORITY="$authority" E2E_TENANT="$tenant" \
    E2E_PROXY_A="http://127.0.0.1:$proxy_a" E2E_PROXY_B="http://127.0.0.1:$proxy_b" \
    E2E_STREAM="http://127.0.0.1:$proxy_c" E2E_STREAM_PID="$stream_pid" \
    E2E_STREAM_APP="http://127.0.0.1:$up_port" E2E_LOGS="$work" \
    E2E_REPORT="$work/figures.txt"
step "proxy_e2e.py main"
# A failed check is counted and the run goes on (each phase starts from its own sign-in); the
# run fails at the end.
failures=()
status=0
timeout 300 "$py" "$example/proxy_e2e.py" main 2>&1 | tee "$work/driver-main.out" || status=$?
add_counts "$work/driver-main.out"
[[ $status -eq 0 ]] || failures+=("proxy_e2e.py main")

# --- Chromium --------------------------------------------------------------------------------
if [[ -n "$browser" ]]; then
    step "Chromium: a protected page, the dev IdP, alice, back signed in, sign-out"
    status=0
    timeout 120 node "$example/proxy_e2e_browser.mjs" "$base" >"$work/browser.out" 2>&1 || status=$?
    sed 's/^/    /' "$work/browser.out"
    passed=$((passed + $(grep -cE '^ok [0-9]+ - ' "$work/browser.out" || true)))
    [[ $status -eq 0 ]] || { failed=$((failed + 1)); failures+=("the browser step"); }
else
    echo "$skip_browser"
fi

# --- upstream down ---------------------------------------------------------------------------
step "stopping Django B: proxy B's app is down"
# shellcheck disable=SC2154
stop_service "$pid_django_b"
step "proxy_e2e.py down"
status=0
timeout 120 "$py" "$example/proxy_e2e.py" down 2>&1 | tee "$work/driver-down.out" || status=$?
add_counts "$work/driver-down.out"
[[ $status -eq 0 ]] || failures+=("proxy_e2e.py down")

if [[ -s "$work/figures.txt" ]]; then
    step "measured:"
    sed 's/^/    /' "$work/figures.txt"
fi
if [[ ${#failures[@]} -gt 0 ]]; then
    grep -h '^\[.*\] not ok - ' "$work"/driver-*.out >&2 || true
    fail "$(IFS=,; echo "${failures[*]}" | sed 's/,/, /g')"
fi
if [[ -n "$browser" ]]; then
    step "proxy-e2e: PASSED in $((SECONDS - started)) s"
else
    step "proxy-e2e: PASSED in $((SECONDS - started)) s, browser step SKIPPED"
fi
echo "proxy-e2e: $passed passed, $failed failed"
