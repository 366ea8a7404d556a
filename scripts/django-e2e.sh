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

# shellcheck source=scripts/lib/e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_binary_args "$@"
e2e_init django-e2e
example="$root/examples/django"

# --- prerequisites ---------------------------------------------------------------------------
need_django_e2e fail
"$nginx_bin" -V 2>&1 | grep -q -- '--with-http_auth_request_module' || fail "$nginx_bin lacks the auth_request module"

# --- the module's unit tests -----------------------------------------------------------------
step "unit tests of entra_sso_django (pytest)"
(cd "$example" && timeout 300 "$venv/bin/pytest" -q -p no:cacheprovider) \
    >"$work/unit-tests.log" 2>&1 || fail "unit tests (pytest in examples/django)"
step "$(grep -E '^[0-9]+ passed' "$work/unit-tests.log" | tail -n 1)"

# --- settings --------------------------------------------------------------------------------
read -r port idp_port sso_a sso_b sso_s dj_a dj_b dj_fa <<<"$(free_ports 8)"
base="http://127.0.0.1:$port"
client_id="django-e2e-client"
client_secret="$(rand)"
secret_old="$(rand)"
secret_new="$(rand)"
django_secret="$(rand)"

# --- the dev identity provider ---------------------------------------------------------------
step "dev IdP on 127.0.0.1:$idp_port"
start_dev_idp "$idp_binary" "$idp_port" "$base/api/callback"

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
step "gunicorn Django A :$dj_a, B :$dj_b (cookie mode), C :$dj_fa (headers mode)"
start_django django-a "$dj_a" dj-a
start_django django-b "$dj_b" dj-b
start_django django-fa "$dj_fa" dj-fa ENTRA_SSO_MODE=headers

# --- nginx -----------------------------------------------------------------------------------
start_nginx "$base/api/health" "nginx on $base" <<EOF
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
EOF

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

e2e_passed
