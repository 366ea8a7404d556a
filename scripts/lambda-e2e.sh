#!/usr/bin/env bash
# End-to-end sign-in through cargo-lambda's Lambda emulator (`cargo lambda watch`) against the
# embedded dev identity provider: login, the IdP's sign-in form (as `alice`), callback, /api/me,
# logout. Every step is a real HTTP request with curl; the function receives real Function URL
# events from the emulator and answers through the Lambda runtime API.
#
# Usage: scripts/lambda-e2e.sh [--bootstrap PATH] [--port N] [--idp-port N]
#   (default)         `cargo lambda watch` builds the function from source (debug) and runs it
#   --bootstrap PATH  run this executable instead (e.g. dist/lambda/bootstrap from
#                     scripts/package-lambda.sh) against `cargo lambda watch --only-lambda-apis`:
#                     tests the deployable binary itself
#   --port            emulator port (default 9000, or any free port if 9000 is taken)
#   --idp-port        dev IdP port (default 9001, or any free port if 9001 is taken)
#
# Needs: cargo-lambda (`pip install cargo-lambda`, run as `cargo lambda`), curl, python3.
# The dev IdP comes from a debug build of this crate (default features). Exits non-zero on the
# first failed step; every wait is bounded; everything started here is stopped on exit.
# Honours CARGO_TARGET_DIR. LAMBDA_E2E_BUILD_TIMEOUT (seconds, default 1500) bounds the wait for
# the emulator's first build.
set -euo pipefail

usage() { echo "usage: $0 [--bootstrap PATH] [--port N] [--idp-port N]" >&2; exit 2; }

bootstrap=""
port=9000
idp_port=9001
port_given=""
idp_port_given=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bootstrap) [[ $# -ge 2 ]] || usage; bootstrap="$2"; shift 2 ;;
        --port) [[ $# -ge 2 ]] || usage; port="$2"; port_given=1; shift 2 ;;
        --idp-port) [[ $# -ge 2 ]] || usage; idp_port="$2"; idp_port_given=1; shift 2 ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
build_timeout="${LAMBDA_E2E_BUILD_TIMEOUT:-1500}"

# shellcheck source=scripts/lib/e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
[[ -n "$bootstrap" ]] && bootstrap="$(e2e_abspath "$bootstrap")"

command -v curl >/dev/null || { echo "lambda-e2e: curl not found" >&2; exit 1; }
if ! cargo lambda --version >/dev/null 2>&1; then
    echo "lambda-e2e: cargo-lambda not found: pip install cargo-lambda (it runs as \`cargo lambda\`)" >&2
    exit 1
fi

e2e_init lambda-e2e 40

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The defaults, unless something else listens there; ports given on the command line must be free.
if ! port_free "$port"; then
    [[ -z "$port_given" ]] || fail "port $port is in use (--port)"
    port="$(free_ports 1)"
fi
if ! port_free "$idp_port" || [[ "$idp_port" == "$port" ]]; then
    [[ -z "$idp_port_given" ]] || fail "port $idp_port is in use (--idp-port)"
    until idp_port="$(free_ports 1)"; [[ "$idp_port" != "$port" ]]; do :; done
fi

client_id="lambda-e2e-client"
client_secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
sso_secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
# cargo lambda serves each function's Function URL at /lambda-url/<function name>/ and strips
# that prefix from the event's path, as a real Function URL (https://<id>.lambda-url.<region>.on.aws/)
# has none. With --only-lambda-apis the function is the emulator's default one, `_`.
if [[ -n "$bootstrap" ]]; then fn_name="_"; else fn_name="entra-sso"; fi
base="http://localhost:$port/lambda-url/$fn_name"
redirect_uri="$base/api/callback"

# 1. The dev identity provider (a debug build of this crate, default features).
step "building the dev identity provider (cargo build --bin entra-sso)"
cargo build --locked --quiet --bin entra-sso || fail "cargo build"
idp_binary_path="$(cargo_target_dir)/debug/entra-sso"
step "starting the dev identity provider on 127.0.0.1:$idp_port"
start_dev_idp "$idp_binary_path" "$idp_port" "$redirect_uri" 30
step "dev IdP authority $authority"

# 2. The function's configuration: exactly what a deployment sets.
cat >"$work/function.env" <<EOF
SSO_CLIENT_ID=$client_id
SSO_CLIENT_SECRET=$client_secret
SSO_AUTHORITY=$authority
SSO_REDIRECT_URI=$redirect_uri
SSO_SECRET=$sso_secret
SSO_LOGOUT=local
RUST_LOG=info
EOF

# 3. The emulator, and the function.
watch=(cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --disable-cors --ignore-changes)
if [[ -n "$bootstrap" ]]; then
    [[ -x "$bootstrap" ]] || fail "$bootstrap is not an executable file"
    step "starting cargo lambda watch --only-lambda-apis on 127.0.0.1:$port"
    spawn watch "${watch[@]}" --only-lambda-apis
    runtime_api=""
    for _ in $(seq 150); do
        runtime_api="$(sed -n 's/.*AWS_LAMBDA_RUNTIME_API=\([^ ]*\).*/\1/p' "$work/watch.log" | head -n 1)"
        [[ -n "$runtime_api" ]] && grep -q 'starting Runtime server' "$work/watch.log" && break
        kill -0 "${groups[-1]}" 2>/dev/null || fail "cargo lambda watch exited"
        sleep 0.2
    done
    [[ -n "$runtime_api" ]] || fail "cargo lambda watch printed no AWS_LAMBDA_RUNTIME_API within 30 s"
    step "starting $bootstrap (AWS_LAMBDA_RUNTIME_API=$runtime_api)"
    # As the Lambda service starts it: no arguments, the runtime's variables, the settings.
    mapfile -t settings <"$work/function.env"
    spawn function env -i PATH="/usr/bin:/bin" "${settings[@]}" \
        AWS_LAMBDA_RUNTIME_API="$runtime_api" AWS_LAMBDA_FUNCTION_NAME="$fn_name" \
        AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 "$bootstrap"
    ready_timeout=60
    probe_timeout=5
else
    step "starting cargo lambda watch on 127.0.0.1:$port (builds the function, debug)"
    spawn watch "${watch[@]}" --env-file "$work/function.env" --bin entra-sso
    ready_timeout="$build_timeout"
    # While cargo lambda builds the function, the emulator holds each invocation until the
    # function is up; a probe that gives up is answered later, harmlessly (GET /api/health).
    probe_timeout=30
fi

# 4. Ready when /api/health answers through the emulator. The first invocation waits for
# cargo lambda's build of the function.
deadline=$((SECONDS + ready_timeout))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' -m "$probe_timeout" "$base/api/health" 2>/dev/null)" == 200 ]]; do
    for pg in "${groups[@]}"; do kill -0 "$pg" 2>/dev/null || fail "a service exited (see its log)"; done
    ((SECONDS < deadline)) || fail "$base/api/health did not answer 200 within ${ready_timeout} s"
    sleep 1
done
step "function ready: GET $base/api/health -> 200"

# curl with bounded time; headers to $work/<name>.h, body to $work/<name>.b.
request() {
    local name="$1"
    shift
    curl -sS -m 30 -D "$work/$name.h" -o "$work/$name.b" "$@" || fail "$name: curl failed"
    tr -d '\r' <"$work/$name.h" >"$work/$name.hh"
}
status_of() { sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' "$work/$1.hh"; }
header_of() { sed -n "s/^$2: //Ip" "$work/$1.hh" | head -n 1; }
expect_status() { local s; s="$(status_of "$1")"; [[ "$s" == "$2" ]] || fail "$1: status $s, expected $2; body: $(head -c 600 "$work/$1.b")"; }
# name=value of each Set-Cookie whose name starts with $2
cookies_of() { sed -n "s/^set-cookie: \($2[^;]*\).*/\1/Ip" "$work/$1.hh"; }

# 5. The sign-in, as a browser would do it. The cookies are `__Host-` and `Secure`; they are
# passed by hand (Cookie header), so the script does not depend on curl's rules for Secure
# cookies on http://localhost.
request login "$base/api/login?return_to=/api/me" -H 'Sec-Fetch-Mode: navigate'
expect_status login 302
authorize="$(header_of login location)"
[[ "$authorize" == "${authority%/v2.0}/oauth2/v2.0/authorize?"* ]] || fail "login: Location $authorize is not the IdP's authorize endpoint"
flow_cookie="$(cookies_of login __Host-sso-flow-)"
[[ -n "$flow_cookie" ]] || fail "login: no __Host-sso-flow- cookie"
step "GET /api/login -> 302 to the dev IdP, flow cookie ${flow_cookie%%=*}"

# The dev IdP's sign-in form posts the authorize parameters back, plus user=<id>.
request authorize -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data "${authorize#*\?}&user=alice" "${authorize%%\?*}"
expect_status authorize 302
callback="$(header_of authorize location)"
[[ "$callback" == "$redirect_uri?"* && "$callback" == *code=* && "$callback" == *state=* ]] \
    || fail "authorize: Location $callback is not the callback with code and state"
step "POST authorize (user=alice) -> 302 to the callback"

request callback "$callback" -H "Cookie: $flow_cookie" -H 'Sec-Fetch-Mode: navigate'
expect_status callback 302
[[ "$(header_of callback location)" == "/api/me" ]] || fail "callback: Location $(header_of callback location), expected /api/me"
session_cookie="$(cookies_of callback __Host-sso-session=)"
[[ -n "$session_cookie" && "$session_cookie" != "__Host-sso-session=" ]] || fail "callback: no session cookie"
# The session cookie and the expired flow cookie must arrive as two Set-Cookie headers: the
# Function URL carries them in the response's `cookies` array.
grep -qi "^set-cookie: ${flow_cookie%%=*}=;.*Max-Age=0" "$work/callback.hh" \
    || fail "callback: the flow cookie was not cleared in its own Set-Cookie header"
step "GET /api/callback -> 302 to /api/me, session cookie set, flow cookie cleared"

request me "$base/api/me" -H "Cookie: $session_cookie" -H 'Accept: application/json'
expect_status me 200
python3 - "$work/me.b" <<'PY' || fail "/api/me: $(head -c 600 "$work/me.b")"
import json, sys
me = json.load(open(sys.argv[1]))
flat = json.dumps(me)
assert "alice@dev.example" in flat and "a11ce000-0000-4000-8000-00000000a11c" in flat, flat
PY
step "GET /api/me -> 200, signed in as alice@dev.example"

request anonymous "$base/api/me" -H 'Accept: application/json'
expect_status anonymous 401
step "GET /api/me without the cookie -> 401"

request logout -X POST "$base/api/logout?return_to=/" -H "Cookie: $session_cookie" \
    -H "Origin: http://localhost:$port" -H 'Sec-Fetch-Site: same-origin' -H 'Content-Type: application/x-www-form-urlencoded' --data ''
[[ "$(status_of logout)" == 302 || "$(status_of logout)" == 303 ]] || fail "logout: status $(status_of logout)"
grep -qi '^set-cookie: __Host-sso-session=;.*Max-Age=0' "$work/logout.hh" || fail "logout: the session cookie was not cleared"
step "POST /api/logout -> $(status_of logout), session cookie cleared"

echo "lambda-e2e: PASSED in $((SECONDS - started)) s ($([[ -n "$bootstrap" ]] && echo "bootstrap $bootstrap" || echo "cargo lambda watch build"))"
