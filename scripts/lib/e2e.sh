# shellcheck shell=bash
# What the end-to-end scripts share (scripts/django-e2e.sh, proxy-e2e.sh, lambda-e2e.sh). Sourced,
# not run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"    # sets $root, defines the functions
#   e2e_init NAME [TAIL]   # cd $root; $started, the work directory $work, cleanup on exit; NAME
#                          # in messages, TAIL lines of each log shown by fail (default 30)
#
# Services run in their own process groups (spawn) with their output in $work/NAME.log; every
# wait is bounded; everything spawned is stopped on exit.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

e2e_name="e2e"
e2e_tail=30
started=$SECONDS
work=""
groups=()
spawned=""

e2e_init() {
    e2e_name="$1"
    e2e_tail="${2:-30}"
    cd "$root"
    started=$SECONDS
    work="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
}

step() { printf '[%4ss] %s\n' "$((SECONDS - started))" "$*"; }

# Tokens never reach the terminal: anything shaped like a JWS is masked in log tails.
redact() { sed -E 's/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/<jws>/g'; }

# fail MESSAGE: the message, the tail of every log, then e2e_on_fail if the script defines it; exit 1.
fail() {
    local log
    echo "$e2e_name: FAILED: $*" >&2
    for log in "$work"/*.log; do
        [[ -s "$log" ]] || continue
        echo "--- $(basename "$log") (last $e2e_tail lines)" >&2
        tail -n "$e2e_tail" "$log" | redact >&2
    done
    if declare -F e2e_on_fail >/dev/null; then e2e_on_fail; fi
    exit 1
}

in_ci() { [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; }
# skip_or_fail WHAT: a missing prerequisite fails under CI, else the whole run is SKIPPED.
skip_or_fail() {
    in_ci && fail "$1 (a prerequisite cannot be skipped under CI)"
    echo "SKIPPED: $e2e_name: $1"
    exit 0
}

# --- processes -------------------------------------------------------------------------------
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
e2e_cleanup() {
    local status=$? pg
    # Each service runs in its own process group (setsid): this ends it and whatever it started
    # (cargo, the function, workers), and nothing else.
    for pg in "${groups[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
    for pg in "${groups[@]}"; do stop_group "$pg"; done
    [[ -z "$work" ]] || rm -rf "$work"
    exit "$status"
}

# spawn NAME CMD...: starts CMD in a new process group, output to $work/NAME.log; pid in $spawned.
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

rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }

# --- binaries --------------------------------------------------------------------------------
# e2e_binary_args ARGS...: --binary PATH and --idp-binary PATH into $binary and $idp_binary
# (absolute, or empty when not given).
e2e_binary_args() {
    binary=""
    idp_binary=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --binary) [[ $# -ge 2 ]] || e2e_binary_usage; binary="$2"; shift 2 ;;
            --idp-binary) [[ $# -ge 2 ]] || e2e_binary_usage; idp_binary="$2"; shift 2 ;;
            -h|--help) e2e_binary_usage ;;
            *) echo "unknown argument: $1" >&2; e2e_binary_usage ;;
        esac
    done
    [[ -z "$binary" ]] || binary="$(e2e_abspath "$binary")"
    [[ -z "$idp_binary" ]] || idp_binary="$(e2e_abspath "$idp_binary")"
}
e2e_binary_usage() { echo "usage: $0 [--binary PATH] [--idp-binary PATH]" >&2; exit 2; }
e2e_abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }

cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps --locked \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# e2e_binaries: without --binary, a release build; --idp-binary defaults to --binary.
e2e_binaries() {
    if [[ -z "$binary" ]]; then
        step "building entra-sso (cargo build --release)"
        cargo build --release --locked --quiet --bin entra-sso || fail "cargo build --release"
        binary="$(cargo_target_dir)/release/entra-sso"
    fi
    [[ -x "$binary" ]] || fail "$binary is not an executable file"
    idp_binary="${idp_binary:-$binary}"
    [[ -x "$idp_binary" ]] || fail "$idp_binary is not an executable file"
}

# --- prerequisites ---------------------------------------------------------------------------
# need_nginx MISSING: sets $nginx_bin, installing nginx-light (apt-get) as root; not root and no
# nginx: MISSING (fail or skip_or_fail) with the reason.
need_nginx() {
    if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
        [[ "$(id -u)" == 0 ]] || "$1" "nginx not found; install it (apt-get install nginx-light) or run as root"
        step "installing nginx-light (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        timeout 600 apt-get update -qq >"$work/apt.log" 2>&1 || fail "apt-get update"
        timeout 600 apt-get install -y -qq --no-install-recommends nginx-light >>"$work/apt.log" 2>&1 \
            || fail "apt-get install nginx-light"
    fi
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
}

# need_django_site: the venv (scripts/django-venv.sh) as $venv, its python as $py, and $site: a
# directory holding only the demo project, so that entra_sso_django comes from the venv, as a
# user's would; django_admin runs `django-admin` there.
need_django_site() {
    step "the venv: examples/django/requirements*.txt, pip install ./examples/django"
    venv="$("$root/scripts/django-venv.sh" 2>"$work/venv.log")" || fail "scripts/django-venv.sh: $(tail -n 20 "$work/venv.log")"
    py="$venv/bin/python"
    site="$work/site"
    mkdir -p "$site"
    ln -s "$root/examples/django/demo" "$site/demo"
}
django_admin() { (cd "$site" && DJANGO_SETTINGS_MODULE=demo.settings "$py" -m django "$@"); }

# need_django_e2e MISSING: what the Django end-to-end runs need: curl and python3 (else MISSING:
# fail or skip_or_fail), nginx (need_nginx MISSING), the entra-sso binaries (e2e_binaries), the
# venv and the demo site (need_django_site), Chromium if there is one (need_browser).
need_django_e2e() {
    command -v curl >/dev/null || "$1" "curl not found"
    command -v python3 >/dev/null || "$1" "python3 not found"
    need_nginx "$1"
    e2e_binaries
    need_django_site
    need_browser
}

# need_browser: $browser set when chromium and node are there (tests/browser's node packages
# installed if missing); else empty, with $skip_browser printed, or a failure under CI.
need_browser() {
    browser=1
    skip_browser="SKIPPED: $e2e_name browser step: chromium or node not found (apt-get install chromium; Node.js 20+)"
    if ! command -v chromium >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        browser=""
        in_ci && fail "chromium or node not found: the browser step cannot be skipped under CI"
        echo "$skip_browser"
    elif [[ ! -d "$root/tests/browser/node_modules/playwright-core" ]]; then
        step "installing tests/browser's node packages (npm ci)"
        timeout 600 npm ci --prefix "$root/tests/browser" --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1 \
            || fail "npm ci --prefix tests/browser"
    fi
}

# --- services --------------------------------------------------------------------------------
# start_dev_idp BINARY PORT REDIRECT-URI [SECONDS]: `BINARY dev-idp` for $client_id and
# $client_secret; $idp_pid, and $authority and its $tenant once it printed it (within SECONDS,
# default 15).
start_dev_idp() {
    local bin="$1" p="$2" redirect_uri="$3" wait="${4:-15}" i
    spawn idp env SSO_CLIENT_ID="$client_id" SSO_CLIENT_SECRET="$client_secret" \
        SSO_REDIRECT_URI="$redirect_uri" RUST_LOG=warn "$bin" dev-idp --port "$p"
    idp_pid=$spawned
    authority=""
    for ((i = 0; i < wait * 10; i++)); do
        authority="$(sed -n 's/^authority \(http[^ ]*\)$/\1/p' "$work/idp.log")"
        if [[ -n "$authority" ]]; then
            tenant="$(sed -E 's#^http://[^/]+/([^/]+)/v2\.0$#\1#' <<<"$authority")"
            return 0
        fi
        kill -0 "$idp_pid" 2>/dev/null \
            || fail "the dev IdP exited (a binary without the dev-idp feature?${idp_binary:+ see --idp-binary})"
        sleep 0.1
    done
    fail "the dev IdP printed no authority within $wait s"
}

# start_django NAME PORT INSTANCE [VAR=VALUE...]: gunicorn with the demo project (and
# ${gunicorn_args[@]}), INSTANCE_NAME=INSTANCE; its pid in $pid_NAME (- as _).
gunicorn_args=()
start_django() {
    local name="$1" p="$2" instance="$3"
    shift 3
    spawn "$name" env INSTANCE_NAME="$instance" "$@" "$venv/bin/gunicorn" --chdir "$site" \
        --bind "127.0.0.1:$p" --workers 1 --threads 4 --graceful-timeout 2 --no-control-socket \
        "${gunicorn_args[@]}" --access-logfile - --error-logfile - demo.wsgi:application
    eval "pid_${name//-/_}=$spawned"
    wait_http "$name" "$spawned" "http://127.0.0.1:$p/whoami/"
}

# start_nginx HEALTH-URL MESSAGE < LINES: nginx (daemon off, logs and temp files in $work) with
# LINES inside its http {} block; MESSAGE is the step's; ready when HEALTH-URL answers 200.
start_nginx() {
    # nginx's workers (user nobody when started as root) must reach their temp directories.
    chmod 0711 "$work"
    mkdir -p "$work/nginx/tmp"
    chmod 0711 "$work/nginx"
    {
        cat <<EOF
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
EOF
        cat
        echo "}"
    } >"$work/nginx/nginx.conf"
    "$nginx_bin" -t -q -p "$work/nginx" -e "$work/nginx-error.log" -c "$work/nginx/nginx.conf" \
        >"$work/nginx-test.log" 2>&1 || fail "nginx -t: $(cat "$work/nginx-test.log")"
    step "$2"
    spawn nginx "$nginx_bin" -p "$work/nginx" -e "$work/nginx-error.log" -c "$work/nginx/nginx.conf"
    wait_http nginx "$spawned" "$1"
}

# e2e_passed: the closing step line.
e2e_passed() {
    if [[ -n "$browser" ]]; then
        step "$e2e_name: PASSED in $((SECONDS - started)) s"
    else
        step "$e2e_name: PASSED in $((SECONDS - started)) s, browser step SKIPPED"
    fi
}
