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

# shellcheck source=scripts/lib/e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_binary_args "$@"
e2e_init proxy-e2e
example="$root/examples/django"

passed=0
failed=0
# A failure anywhere still ends with the totals (a failure not counted by a driver counts as one).
e2e_on_fail() { echo "proxy-e2e: $passed passed, $((failed > 0 ? failed : 1)) failed" >&2; }

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
[[ -r /proc/self/status ]] || skip_or_fail "/proc not readable (the memory check needs Linux /proc)"
need_django_e2e skip_or_fail

# --- settings --------------------------------------------------------------------------------
read -r port idp_port proxy_a proxy_b proxy_c dj_a dj_b up_port <<<"$(free_ports 8)"
base="http://127.0.0.1:$port"
redirect_uri="$base/.auth/login/aad/callback"
client_id="proxy-e2e-client"
client_secret="$(rand)"
sso_secret="$(rand)"
django_secret="$(rand)"

# --- the dev identity provider ---------------------------------------------------------------
step "dev IdP on 127.0.0.1:$idp_port"
start_dev_idp "$idp_binary" "$idp_port" "$redirect_uri"

# --- the apps --------------------------------------------------------------------------------
export DJANGO_SECRET_KEY="$django_secret" DJANGO_DB="$work/db.sqlite3"
export ENTRA_SSO_MODE=headers ENTRA_SSO_ROUTES=easyauth ENTRA_SSO_ISSUER="$base/.auth" \
    ENTRA_SSO_AUDIENCE="$client_id" ENTRA_SSO_TENANTS="$tenant"
step "Django: migrate (one SQLite database; sessions stay in each instance's LocMemCache)"
django_admin migrate --noinput -v 0 >"$work/migrate.log" 2>&1 || fail "django-admin migrate"
# gunicorn passes headers spelled with _ on too: a spoofed X_MS_CLIENT_PRINCIPAL would be read.
gunicorn_args=(--header-map dangerous)
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
start_nginx "$base/.auth/health" "nginx on $base (round-robin over proxy A and B)" <<EOF
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
EOF

# --- the HTTP driver -------------------------------------------------------------------------
export E2E_BASE="$base" E2E_AUTHORITY="$authority" E2E_TENANT="$tenant" \
    E2E_PROXY_A="http://127.0.0.1:$proxy_a" E2E_PROXY_B="http://127.0.0.1:$proxy_b" \
    E2E_STREAM="http://127.0.0.1:$proxy_c" E2E_STREAM_PID="$stream_pid" \
    E2E_STREAM_APP="http://127.0.0.1:$up_port" E2E_LOGS="$work" \
    E2E_REPORT="$work/figures.txt"
# A failed check is counted and the run goes on (each phase starts from its own sign-in); the
# run fails at the end.
failures=()
# driver PHASE SECONDS: proxy_e2e.py PHASE, its counts added to the totals.
driver() {
    local status=0
    step "proxy_e2e.py $1"
    timeout "$2" "$py" "$example/proxy_e2e.py" "$1" 2>&1 | tee "$work/driver-$1.out" || status=$?
    add_counts "$work/driver-$1.out"
    [[ $status -eq 0 ]] || failures+=("proxy_e2e.py $1")
}
driver main 300

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
driver down 120

if [[ -s "$work/figures.txt" ]]; then
    step "measured:"
    sed 's/^/    /' "$work/figures.txt"
fi
if [[ ${#failures[@]} -gt 0 ]]; then
    grep -h '^\[.*\] not ok - ' "$work"/driver-*.out >&2 || true
    fail "$(IFS=,; echo "${failures[*]}" | sed 's/,/, /g')"
fi
e2e_passed
echo "proxy-e2e: $passed passed, $failed failed"
