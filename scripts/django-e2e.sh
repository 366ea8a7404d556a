#!/usr/bin/env bash
# End-to-end test of examples/django/ behind a real nginx, on loopback:
#
#   nginx :N  /api/  round-robin -> entra-sso serve A, entra-sso serve B   (same SSO_* settings)
#             /      round-robin -> gunicorn Django A, gunicorn Django B    (each its own LocMemCache)
#             /fa/   auth_request /api/auth -> gunicorn Django C (MODE "headers": echoes what it gets)
#   plus      entra-sso dev-idp (the identity provider), and entra-sso serve S with
#             SSO_SESSION_TTL=30s (not behind nginx) for an expiring session.
#
# Runs the module's unit tests (pytest), then examples/django/e2e.py: sign-ins through the dev IdP (alice,
# a member; bob, app role Admin), 100+ page loads across the instances, the Django admin, the
# forward-auth headers with spoofed copies, a secret rotation (A and B restarted with
# SSO_SECRET="new,old"), tampered / foreign / expired cookies and sign-out; then the same path
# once in headless Chromium (examples/django/e2e_browser.mjs).
#
# Usage: scripts/django-e2e.sh [--binary PATH] [--idp-binary PATH]
#   --binary PATH      entra-sso executable for the `serve` instances (default: cargo build
#                      --release, honouring CARGO_TARGET_DIR)
#   --idp-binary PATH  executable for `dev-idp` (needs the dev-idp feature; default: --binary)
#
# Installs what is missing: nginx (apt-get, as root), a venv with examples/django/requirements*.txt
# and the module installed as a package (scripts/django-venv.sh; DJANGO_E2E_VENV, default
# <target dir>/django-e2e-venv), tests/browser's node packages. The demo project runs from a
# directory holding only `demo`, so Django imports the installed entra_sso_django.
# Chromium missing: the browser step prints SKIPPED, and under CI=true the run fails.
# Exits non-zero on the first failed step with the tail of every log; every wait is bounded;
# everything started here is stopped on exit.
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

work="$(mktemp -d "${TMPDIR:-/tmp}/django-e2e.XXXXXX")"
# nginx's workers (user nobody when started as root) must reach their temp directories.
chmod 0711 "$work"
groups=()

# Tokens never reach the terminal: anything shaped like a JWS is masked in log tails.
redact() { sed -E 's/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/<jws>/g'; }
fail() {
    echo "django-e2e: FAILED: $*" >&2
    for log in "$work"/*.log; do
        [[ -s "$log" ]] || continue
        echo "--- $(basename "$log") (last 30 lines)" >&2
        tail -n 30 "$log" | redact >&2
    done
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

# --- prerequisites ---------------------------------------------------------------------------
command -v curl >/dev/null || fail "curl not found"
command -v python3 >/dev/null || fail "python3 not found"

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    [[ "$(id -u)" == 0 ]] || fail "nginx not found; install it (apt-get install nginx-light) or run as root"
    step "installing nginx-light (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq >"$work/apt.log" 2>&1 || fail "apt-get update"
    timeout 600 apt-get install -y -qq --no-install-recommends nginx-light >>"$work/apt.log" 2>&1 \
        || fail "apt-get install nginx-light"
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
"$nginx_bin" -V 2>&1 | grep -q -- '--with-http_auth_request_module' || fail "$nginx_bin lacks the auth_request module"

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
skip_browser="SKIPPED: django-e2e browser step: chromium or node not found (apt-get install chromium; Node.js 20+)"
if ! command -v chromium >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    browser=""
    echo "$skip_browser"
    in_ci && fail "the browser step cannot be skipped under CI"
elif [[ ! -d tests/browser/node_modules/playwright-core ]]; then
    step "installing tests/browser's node packages (npm ci)"
    timeout 600 npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1 \
        || fail "npm ci --prefix tests/browser"
fi

# --- the module's unit tests -----------------------------------------------------------------
step "unit tests of entra_sso_django (pytest)"
(cd "$example" && timeout 300 "$venv/bin/pytest" -q -p no:cacheprovider) \
    >"$work/unit-tests.log" 2>&1 || fail "unit tests (pytest in examples/django)"
step "$(grep -E '^[0-9]+ passed' "$work/unit-tests.log" | tail -n 1)"

# --- settings --------------------------------------------------------------------------------
read -r port idp_port sso_a sso_b sso_s dj_a dj_b dj_fa <<<"$(free_ports 8)"
base="http://127.0.0.1:$port"
client_id="django-e2e-client"
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
client_secret="$(rand)"
secret_old="$(rand)"
secret_new="$(rand)"
django_secret="$(rand)"

# --- the dev identity provider ---------------------------------------------------------------
step "dev IdP on 127.0.0.1:$idp_port"
spawn idp env SSO_CLIENT_ID="$client_id" SSO_CLIENT_SECRET="$client_secret" \
    SSO_REDIRECT_URI="$base/api/callback" RUST_LOG=warn "$idp_binary" dev-idp --port "$idp_port"
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

# --- entra-sso instances ---------------------------------------------------------------------
# start_sso NAME PORT SECRET [VAR=VALUE...]
start_sso() {
    local name="$1" p="$2" secret="$3"
    shift 3
    spawn "$name" env SSO_CLIENT_ID="$client_id" SSO_CLIENT_SECRET="$client_secret" \
        SSO_AUTHORITY="$authority" SSO_REDIRECT_URI="$base/api/callback" SSO_SECRET="$secret" \
        SSO_LOGOUT=local FUNCTIONS_CUSTOMHANDLER_PORT="$p" RUST_LOG=info "$@" "$binary" serve
    eval "pid_${name//-/_}=$spawned"
    wait_http "$name" "$spawned" "http://127.0.0.1:$p/api/health"
}
step "entra-sso serve A :$sso_a, B :$sso_b, S (SSO_SESSION_TTL=30s) :$sso_s"
start_sso sso-a "$sso_a" "$secret_old"
start_sso sso-b "$sso_b" "$secret_old"
start_sso sso-s "$sso_s" "$secret_old" SSO_SESSION_TTL=30s

# --- Django ----------------------------------------------------------------------------------
export DJANGO_SECRET_KEY="$django_secret" DJANGO_DB="$work/db.sqlite3"
export ENTRA_SSO_ISSUER="$base/api" ENTRA_SSO_AUDIENCE="$client_id" ENTRA_SSO_TENANTS="$tenant"
step "Django: migrate; the pre-existing user alice.legacy (alice@dev.example)"
(django_admin migrate --noinput -v 0 \
    && django_admin shell -c 'from django.contrib.auth.models import User; User.objects.create_user("alice.legacy", email="alice@dev.example")') \
    >"$work/migrate.log" 2>&1 || fail "django-admin migrate"
# start_django NAME PORT INSTANCE [VAR=VALUE...]
start_django() {
    local name="$1" p="$2" instance="$3"
    shift 3
    spawn "$name" env INSTANCE_NAME="$instance" "$@" "$venv/bin/gunicorn" --chdir "$site" \
        --bind "127.0.0.1:$p" --workers 1 --threads 4 --graceful-timeout 2 --no-control-socket \
        --access-logfile - --error-logfile - demo.wsgi:application
    wait_http "$name" "$spawned" "http://127.0.0.1:$p/whoami/"
}
step "gunicorn Django A :$dj_a, B :$dj_b (cookie mode), C :$dj_fa (headers mode)"
start_django django-a "$dj_a" dj-a
start_django django-b "$dj_b" dj-b
start_django django-fa "$dj_fa" dj-fa ENTRA_SSO_MODE=headers

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

    upstream entra_sso { server 127.0.0.1:$sso_a; server 127.0.0.1:$sso_b; }
    upstream django { server 127.0.0.1:$dj_a; server 127.0.0.1:$dj_b; }
    upstream django_headers { server 127.0.0.1:$dj_fa; }

    server {
        listen 127.0.0.1:$port;
        # Which upstream answered (test only).
        add_header X-E2E-Upstream \$upstream_addr always;

        # The documented configuration, unchanged.
        include $root/examples/nginx/entra-sso-server.conf;

        location /fa/ {
            include $root/examples/nginx/entra-sso-protect.conf;
            proxy_pass http://django_headers/;
        }

        location / {
            proxy_pass http://django;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
"$nginx_bin" -t -q -p "$work/nginx" -e "$work/nginx-error.log" -c "$work/nginx/nginx.conf" \
    >"$work/nginx-test.log" 2>&1 || fail "nginx -t: $(cat "$work/nginx-test.log")"
step "nginx on $base"
spawn nginx "$nginx_bin" -p "$work/nginx" -e "$work/nginx-error.log" -c "$work/nginx/nginx.conf"
wait_http nginx "$spawned" "$base/api/health"

# --- the HTTP driver -------------------------------------------------------------------------
export E2E_BASE="$base" E2E_AUTHORITY="$authority" E2E_CLIENT_ID="$client_id" E2E_INSTANCE="http://127.0.0.1:$sso_a" \
    E2E_SHORT_TTL_BASE="http://127.0.0.1:$sso_s" E2E_STATE="$work/state.json" E2E_LOGS="$work" \
    E2E_TENANT="$tenant"
step "e2e.py signin"
timeout 180 "$py" "$example/e2e.py" signin || fail "e2e.py signin"

step "rotating SSO_SECRET: entra-sso A and B restart with SSO_SECRET=\"new,old\""
# shellcheck disable=SC2154
stop_service "$pid_sso_a"
# shellcheck disable=SC2154
stop_service "$pid_sso_b"
start_sso sso-a "$sso_a" "$secret_new,$secret_old"
start_sso sso-b "$sso_b" "$secret_new,$secret_old"

step "e2e.py rotated"
timeout 180 "$py" "$example/e2e.py" rotated || fail "e2e.py rotated"

# --- Chromium --------------------------------------------------------------------------------
if [[ -n "$browser" ]]; then
    step "Chromium: sign in via the dev IdP form, the Django page shows the user, sign out"
    timeout 120 node "$example/e2e_browser.mjs" "$base" >"$work/browser.log" 2>&1 \
        || { cat "$work/browser.log" >&2; fail "the browser step"; }
    sed 's/^/    /' "$work/browser.log"
else
    echo "$skip_browser"
fi

if [[ -n "$browser" ]]; then
    step "django-e2e: PASSED in $((SECONDS - started)) s"
else
    step "django-e2e: PASSED in $((SECONDS - started)) s, browser step SKIPPED"
fi
