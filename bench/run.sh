#!/usr/bin/env bash
# Benchmarks, side by side, in one run on loopback (127.0.0.1 only):
#   1. a bare warp 302 vs entra-sso's GET /api/login          (wrk, server core 0, wrk core 1)
#   2. complete sign-ins per second against `entra-sso dev`   (examples/flow_load.rs)
#   3. cold start to the first 302 from /api/login            (examples/cold_start.rs)
#   4. resident memory: idle, under 256 connections, after 100,000+ logins
#   5. django-microsoft-sso under gunicorn: login start req/s, cold start
#   6. the criterion microbenchmarks (cargo bench --bench core)
#   7. a bare warp 200 with the same identity headers vs GET /api/auth with a valid session and
#      with a bearer token (wrk, as in 1; the session from one sign-in at `entra-sso dev-idp`, the
#      token by client credentials there)
#   8. reverse proxies in front of one bare hyper app (examples/bare_upstream_200.rs), signed in:
#      nginx proxy_pass (no auth) vs `entra-sso proxy` vs nginx auth_request + `entra-sso serve`
#      (wrk -c256; the whole server side on core 0, wrk on core 1); the proxy's RSS at 256
#      connections and over 1,000,000 proxied requests
# and writes one Markdown report to bench/results/latest.md and stdout (raw outputs under
# bench/results/raw/).
#
# usage: bash bench/run.sh [--quick] [--no-criterion] [--no-django] [--only LIST]
#   --quick         short runs (3 s, 1 round, fewer cold starts): for trying the script, not for quoting
#   --no-criterion  skip `cargo bench --bench core`
#   --no-django     skip the django-microsoft-sso comparison (no Python venv)
#   --only LIST     run only these sections, comma-separated numbers or names: 1 login, 2 flow,
#                   3 cold, 4 memory, 5 django, 6 criterion, 7 auth, 8 proxy (e.g. --only proxy);
#                   the report then goes to bench/results/latest-only-<numbers>.md, not latest.md
#
# Installs what it needs when missing: wrk and curl (apt-get), nginx for section 8 (apt-get
# nginx-light: any nginx with the auth_request module), a Python venv in bench/.venv with pinned
# django-microsoft-sso and gunicorn (pip). Needs 2+ cores (server on core 0, load on core 1).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0 CRITERION=1 DJANGO=1 ONLY=
while (($#)); do
    case $1 in
        --quick) QUICK=1 ;;
        --no-criterion) CRITERION=0 ;;
        --no-django) DJANGO=0 ;;
        --only=*) ONLY=${1#--only=} ;;
        --only)
            (($# > 1)) || { echo "bench/run.sh: --only needs a list of sections" >&2; exit 2; }
            ONLY=$2
            shift
            ;;
        -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
# --only: the section numbers to run, as " 1 8 " (empty: all).
SECTIONS=
if [[ -n $ONLY ]]; then
    for s in ${ONLY//,/ }; do
        case $s in
            1 | login) SECTIONS+=" 1" ;;
            2 | flow) SECTIONS+=" 2" ;;
            3 | cold) SECTIONS+=" 3" ;;
            4 | memory) SECTIONS+=" 4" ;;
            5 | django) SECTIONS+=" 5" ;;
            6 | criterion) SECTIONS+=" 6" ;;
            7 | auth) SECTIONS+=" 7" ;;
            8 | proxy) SECTIONS+=" 8" ;;
            *) echo "bench/run.sh: --only: unknown section $s (1-8 or login, flow, cold, memory, django, criterion, auth, proxy)" >&2; exit 2 ;;
        esac
    done
    SECTIONS+=" "
fi
want() { [[ -z $SECTIONS || $SECTIONS == *" $1 "* ]]; }

if ((QUICK)); then
    DUR=3 ROUNDS=1 FLOW_DUR=3 COLD_RUNS=10 DJ_DUR=3 DJ_COLD_RUNS=3 MEM_DUR=3 MEM_BATCHES=2
else
    DUR=10 ROUNDS=3 FLOW_DUR=10 COLD_RUNS=25 DJ_DUR=10 DJ_COLD_RUNS=10 MEM_DUR=10 MEM_BATCHES=4
fi
CONNS=64            # wrk connections for the throughput runs
FLOW_WORKERS=32     # concurrent sign-ins in flow_load
LOGINS_FOR_LEAK=100000
# Section 8: wrk connections, seconds per run, rounds, warm-up seconds, and the requests through
# entra-sso proxy after which its RSS is read again (in runs of PX_MEM_DUR seconds).
PX_CONNS=256
if ((QUICK)); then
    PX_DUR=3 PX_ROUNDS=1 PX_WARM=1 PX_MEM_DUR=5 PX_LEAK_REQUESTS=100000
else
    PX_DUR=10 PX_ROUNDS=5 PX_WARM=2 PX_MEM_DUR=15 PX_LEAK_REQUESTS=1000000
fi

SERVER_CORE=0 LOAD_CORE=1
if (($(nproc) < 2)); then
    echo "bench/run.sh: needs at least 2 cores (server on one, load generator on another)" >&2
    exit 1
fi

RESULTS=$ROOT/bench/results
RAW=$RESULTS/raw
mkdir -p "$RAW"
rm -f "$RAW"/*
KV=$RAW/results.tsv
: >"$KV"
put() { printf '%s\t%s\n' "$1" "$2" >>"$KV"; }
log() { printf '\n== %s\n' "$*" >&2; }

# --- processes: every one is started here, in its own process group, and stopped on exit --------
PIDS=()
start_bg() { # LOGFILE COMMAND... ; sets BG_PID (= its process group id)
    local logfile=$1
    shift
    setsid "$@" >"$logfile" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
}
stop_bg() { # PID
    kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
    local i
    for i in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    local p
    for p in ${PIDS[@]+"${PIDS[@]}"}; do
        kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    done
    rm -f "$RAW"/.sampling
    [[ -n ${NGX_DIR:-} && -d $NGX_DIR ]] && rm -rf "$NGX_DIR"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_status() { # URL STATUS [SECONDS]: polls until URL answers with STATUS
    local deadline=$((SECONDS + ${3:-30})) code
    while ((SECONDS < deadline)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
        [[ $code == "$2" ]] && return 0
        sleep 0.05
    done
    echo "bench/run.sh: $1 did not answer $2 within ${3:-30} s (last: $code)" >&2
    return 1
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }

# wrk's summary as "rps p50_ms p99_ms requests errors" (errors: non-2xx/3xx and socket errors).
wrk_parse() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        / requests in / { n = $1 }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
        END { printf "%s %.3f %.3f %d %d\n", rps, p50, p99, n, err }' "$1"
}

# CPU time "user system" (clock ticks) of every live process in process group $PGID_OF_INTEREST.
group_cpu_ticks() {
    local f user=0 sys=0 rest
    for f in /proc/[0-9]*/stat; do
        read -r rest 2>/dev/null <"$f" || continue
        rest=${rest##*) }
        # shellcheck disable=SC2086 # split the fields
        set -- $rest
        [[ ${3:-} == "$PGID_OF_INTEREST" ]] && user=$((user + ${12})) sys=$((sys + ${13}))
    done
    echo "$user $sys"
}
CLK_TCK=$(getconf CLK_TCK)

# NAME URL CONNS SECONDS PGID [extra wrk args]: writes $RAW/wrk-NAME.txt and echoes
# "rps p50_ms p99_ms requests errors server_cpu_us_per_request user_us system_us" (CPU of
# process group PGID, from /proc/<pid>/stat before and after).
run_wrk() {
    local name=$1 url=$2 conns=$3 secs=$4 u0 s0 u1 s1
    PGID_OF_INTEREST=$5
    shift 5
    read -r u0 s0 < <(group_cpu_ticks)
    taskset -c "$LOAD_CORE" wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" "$url" >"$RAW/wrk-$name.txt" 2>&1
    read -r u1 s1 < <(group_cpu_ticks)
    read -r rps p50 p99 n err < <(wrk_parse "$RAW/wrk-$name.txt")
    echo "$rps $p50 $p99 $n $err $(awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$n" -v hz="$CLK_TCK" \
        'BEGIN { k = n ? 1e6 / hz / n : 0; printf "%.2f %.2f %.2f", (u + s) * k, u * k, s * k }')"
}

hdr_value() { # NAME FILE: the first value of header NAME in a `curl -D` dump
    awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" 'BEGIN { FS = ": " } { sub(/\r$/, "") }
        tolower($1) == n { print substr($0, length($1) + 3); exit }' "$2"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- machine ----------------------------------------------------------------------------------
put machine.nproc "$(nproc)"
put machine.cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
put machine.kernel "$(uname -r)"
put machine.mem "$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
put run.date "$(date -u '+%Y-%m-%d %H:%M UTC')"
put run.uptime_start "$(uptime)"
put run.mode "$( ((QUICK)) && echo quick || echo full)"
put run.commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' (+ uncommitted changes in src/)')"

# --- tools ------------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v curl >/dev/null || need_apt+=(curl)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v python3 >/dev/null || need_apt+=(python3)
if want 8 && ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then need_apt+=(nginx-light); fi
if ((${#need_apt[@]})); then
    log "installing ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
put tool.wrk "$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
put tool.rustc "$(rustc --version)"

# --- build ------------------------------------------------------------------------------------
log "building release binaries and examples"
cargo build --release --locked --bin entra-sso --example bare_302 --example bare_auth_200 --example flow_load \
    --example cold_start --example bare_upstream_200
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET/release/entra-sso
EX=$TARGET/release/examples

# entra-sso serve: an Entra tenant GUID authority, so /api/login is computed (no outbound call). The
# background prefetch of discovery and keys fails here (no route to Microsoft): harmless.
SSO_ENV=(
    SSO_TENANT_ID=b9419818-09af-49c2-b0c3-653adc1f376e
    SSO_CLIENT_ID=6cb04018-a3f5-46a7-b995-940c78f5aef3
    SSO_REDIRECT_URI=https://app.example.com/api/callback
    SSO_SECRET=Fo_wREIW0tiCX2D76fHod9rHTzlDH0xfnpCVZfDFinw
    RUST_LOG=off
)

# --- 1. bare warp 302 vs /api/login -------------------------------------------------------------
if want 1; then
log "1. bare warp 302 vs /api/login (wrk -t1 -c$CONNS -d${DUR}s x $ROUNDS rounds, server core $SERVER_CORE, wrk core $LOAD_CORE)"
LOGIN_PORT=$(free_port)
# One tokio worker (TOKIO_WORKER_THREADS is read by the multi-thread builder main.rs uses), one core.
start_bg "$RAW/login-server.log" env "${SSO_ENV[@]}" TOKIO_WORKER_THREADS=1 FUNCTIONS_CUSTOMHANDLER_PORT="$LOGIN_PORT" \
    taskset -c "$SERVER_CORE" "$BIN" serve
LOGIN_PID=$BG_PID
LOGIN_URL=http://127.0.0.1:$LOGIN_PORT/api/login
wait_status "$LOGIN_URL" 302
put login.threads "$(threads_of "$LOGIN_PID")"

# The real answer's header lengths, for the bare server.
curl -si "$LOGIN_URL" | tr -d '\r' >"$RAW/login-answer.txt"
LOC_LEN=$(awk 'tolower($1) == "location:" { print length($0) - length("location: ") }' "$RAW/login-answer.txt")
COOKIE_LEN=$(awk 'tolower($1) == "set-cookie:" { print length($0) - length("set-cookie: ") }' "$RAW/login-answer.txt" | head -1)
put login.location_len "$LOC_LEN"
put login.cookie_len "$COOKIE_LEN"
put login.answer_bytes "$(curl -si "$LOGIN_URL" | wc -c)"

BARE_PORT=$(free_port)
start_bg "$RAW/bare-server.log" taskset -c "$SERVER_CORE" "$EX/bare_302" "$BARE_PORT" "$LOC_LEN" "$COOKIE_LEN"
BARE_PID=$BG_PID
BARE_URL=http://127.0.0.1:$BARE_PORT/api/login
wait_status "$BARE_URL" 302
put bare.threads "$(threads_of "$BARE_PID")"
put bare.answer_bytes "$(curl -si "$BARE_URL" | wc -c)"
ADAPTER_PORT=$(free_port)
start_bg "$RAW/adapter-server.log" taskset -c "$SERVER_CORE" "$EX/bare_302" "$ADAPTER_PORT" "$LOC_LEN" "$COOKIE_LEN" --via-adapter
ADAPTER_PID=$BG_PID
ADAPTER_URL=http://127.0.0.1:$ADAPTER_PORT/api/login
wait_status "$ADAPTER_URL" 302

# Warm both (connections, allocator), then alternate rounds so both see the same background load.
run_wrk warm-bare "$BARE_URL" "$CONNS" 1 "$BARE_PID" >/dev/null
run_wrk warm-adapter "$ADAPTER_URL" "$CONNS" 1 "$ADAPTER_PID" >/dev/null
run_wrk warm-login "$LOGIN_URL" "$CONNS" 1 "$LOGIN_PID" >/dev/null
for r in $(seq "$ROUNDS"); do
    for which in bare adapter login; do
        case $which in
            bare) url=$BARE_URL pid=$BARE_PID ;;
            adapter) url=$ADAPTER_URL pid=$ADAPTER_PID ;;
            login) url=$LOGIN_URL pid=$LOGIN_PID ;;
        esac
        read -r rps p50 p99 n err cpu cpu_user cpu_sys < <(run_wrk "$which-$r" "$url" "$CONNS" "$DUR" "$pid")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rps" "$p50" "$p99" "$n" "$err" "$cpu" "$cpu_user" "$cpu_sys" \
            >>"$RAW/rounds-$which.tsv"
        echo "   $which round $r: $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $err," \
            "server CPU $cpu us/request ($cpu_user user, $cpu_sys system)" >&2
    done
done
for which in bare adapter login; do
    put "$which.rps" "$(cut -f1 "$RAW/rounds-$which.tsv" | median)"
    put "$which.p50_ms" "$(cut -f2 "$RAW/rounds-$which.tsv" | median)"
    put "$which.p99_ms" "$(cut -f3 "$RAW/rounds-$which.tsv" | median)"
    put "$which.errors" "$(awk '{ s += $5 } END { print s + 0 }' "$RAW/rounds-$which.tsv")"
    put "$which.cpu_us" "$(cut -f6 "$RAW/rounds-$which.tsv" | median)"
    put "$which.cpu_user_us" "$(cut -f7 "$RAW/rounds-$which.tsv" | median)"
    put "$which.cpu_sys_us" "$(cut -f8 "$RAW/rounds-$which.tsv" | median)"
    put "$which.rounds" "$(cut -f1 "$RAW/rounds-$which.tsv" | paste -sd' ')"
done
put login.rss_after_kb "$(rss_kb "$LOGIN_PID")"
stop_bg "$BARE_PID"
stop_bg "$ADAPTER_PID"
stop_bg "$LOGIN_PID"

fi # 1

# --- 7. bare warp 200 vs /api/auth ----------------------------------------------------------------
if want 7; then
# `entra-sso serve` exactly as in 1 (one tokio worker, core 0), against `entra-sso dev-idp` (on the
# load core; idle during the measurement: /api/auth makes no call to the IdP). One sign-in as alice
# gives the session cookie that every request then carries.
log "7. bare warp 200 vs /api/auth with a valid session and with a bearer token (wrk -t1 -c$CONNS -d${DUR}s x $ROUNDS rounds, server core $SERVER_CORE, wrk core $LOAD_CORE)"
AUTH_PORT=$(free_port)
AUTH_IDP_PORT=$(free_port)
AUTH_BASE=http://127.0.0.1:$AUTH_PORT
AUTH_CLIENT=(
    SSO_CLIENT_ID=bench-auth-client
    SSO_CLIENT_SECRET=bench-auth-client-secret-3f9c1e
    SSO_REDIRECT_URI=http://localhost:$AUTH_PORT/api/callback
)
start_bg "$RAW/auth-idp.log" env "${AUTH_CLIENT[@]}" RUST_LOG=off taskset -c "$LOAD_CORE" "$BIN" dev-idp --port "$AUTH_IDP_PORT"
AUTH_IDP_PID=$BG_PID
AUTH_AUTHORITY=
for _ in $(seq 300); do
    AUTH_AUTHORITY=$(sed -n 's/^authority \(http[^ ]*\)$/\1/p' "$RAW/auth-idp.log")
    [[ -n $AUTH_AUTHORITY ]] && break
    sleep 0.1
done
[[ -n $AUTH_AUTHORITY ]] || { echo "bench/run.sh: entra-sso dev-idp printed no authority" >&2; exit 1; }
start_bg "$RAW/auth-server.log" env "${AUTH_CLIENT[@]}" SSO_AUTHORITY="$AUTH_AUTHORITY" \
    SSO_SECRET=Fo_wREIW0tiCX2D76fHod9rHTzlDH0xfnpCVZfDFinw RUST_LOG=off TOKIO_WORKER_THREADS=1 \
    FUNCTIONS_CUSTOMHANDLER_PORT="$AUTH_PORT" taskset -c "$SERVER_CORE" "$BIN" serve
AUTH_PID=$BG_PID
AUTH_URL=$AUTH_BASE/api/auth
wait_status "$AUTH_URL" 401
put auth.threads "$(threads_of "$AUTH_PID")"

# One sign-in: login (flow cookie + authorize URL) -> the dev IdP's form as alice -> the callback.
curl -s -o /dev/null -D "$RAW/auth-signin-1.txt" -H 'sec-fetch-mode: navigate' "$AUTH_BASE/api/login?return_to=%2F"
AUTHORIZE=$(hdr_value location "$RAW/auth-signin-1.txt")
FLOW_COOKIE=$(hdr_value set-cookie "$RAW/auth-signin-1.txt" | cut -d';' -f1)
[[ $AUTHORIZE == http*\?* && -n $FLOW_COOKIE ]] || { echo "bench/run.sh: /api/login gave no authorize URL or flow cookie" >&2; exit 1; }
curl -s -o /dev/null -D "$RAW/auth-signin-2.txt" -H 'content-type: application/x-www-form-urlencoded' \
    --data "${AUTHORIZE#*\?}&user=alice" "${AUTHORIZE%%\?*}"
CALLBACK=$(hdr_value location "$RAW/auth-signin-2.txt")
[[ $CALLBACK == *'/api/callback?'* ]] || { echo "bench/run.sh: the dev IdP did not redirect to the callback" >&2; exit 1; }
curl -s -o /dev/null -D "$RAW/auth-signin-3.txt" -H "cookie: $FLOW_COOKIE" "$AUTH_BASE/api/callback?${CALLBACK#*\?}"
SESSION_COOKIE=$(tr -d '\r' <"$RAW/auth-signin-3.txt" | awk 'tolower($1) == "set-cookie:" && $2 ~ /sso-session=/ { print $2; exit }' | cut -d';' -f1)
[[ -n $SESSION_COOKIE ]] || { echo "bench/run.sh: the callback set no session cookie (see $RAW/auth-signin-3.txt)" >&2; exit 1; }
put auth.session_cookie_len "${#SESSION_COOKIE}"

# The real answer, replayed header for header by the bare server.
curl -si -H "cookie: $SESSION_COOKIE" -H "proxy-sso-assertion: 1" "$AUTH_URL" | tr -d '\r' >"$RAW/auth-answer.txt"
head -1 "$RAW/auth-answer.txt" | grep -q ' 200' || { echo "bench/run.sh: /api/auth with the session did not answer 200" >&2; head -20 "$RAW/auth-answer.txt" >&2; exit 1; }
for h in x-ms-client-principal x-ms-client-principal-id x-ms-client-principal-name x-ms-client-principal-idp x-sso-assertion; do
    v=$(hdr_value "$h" "$RAW/auth-answer.txt")
    [[ -n $v ]] || { echo "bench/run.sh: /api/auth answered without $h" >&2; exit 1; }
    put "auth.len.$h" "${#v}"
done
put auth.headers "$(awk 'NR > 1 && /:/ { sub(/:.*/, ""); print tolower($0) }' "$RAW/auth-answer.txt" | paste -sd' ')"
put auth.answer_bytes "$(curl -si -H "cookie: $SESSION_COOKIE" -H "proxy-sso-assertion: 1" "$AUTH_URL" | wc -c)"

# A daemon's app-only access token (client credentials at the dev IdP): the bearer case.
curl -s -o "$RAW/auth-bearer-token.json" --data-urlencode grant_type=client_credentials \
    --data-urlencode client_id=bench-auth-client --data-urlencode client_secret=bench-auth-client-secret-3f9c1e \
    --data-urlencode scope=api://bench-auth-client/.default "${AUTH_AUTHORITY%/v2.0}/oauth2/v2.0/token"
BEARER_TOKEN=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$RAW/auth-bearer-token.json")
[[ -n $BEARER_TOKEN ]] || { echo "bench/run.sh: the dev IdP issued no access token (see $RAW/auth-bearer-token.json)" >&2; exit 1; }
put authb.token_len "${#BEARER_TOKEN}"
curl -si -H "authorization: Bearer $BEARER_TOKEN" -H "proxy-sso-assertion: 1" "$AUTH_URL" | tr -d '\r' >"$RAW/auth-bearer-answer.txt"
head -1 "$RAW/auth-bearer-answer.txt" | grep -q ' 200' || { echo "bench/run.sh: /api/auth with the bearer token did not answer 200" >&2; head -20 "$RAW/auth-bearer-answer.txt" >&2; exit 1; }
put authb.answer_bytes "$(curl -si -H "authorization: Bearer $BEARER_TOKEN" -H "proxy-sso-assertion: 1" "$AUTH_URL" | wc -c)"

BARE200_PORT=$(free_port)
start_bg "$RAW/bare200-server.log" taskset -c "$SERVER_CORE" "$EX/bare_auth_200" "$BARE200_PORT" --headers "$RAW/auth-answer.txt"
BARE200_PID=$BG_PID
BARE200_URL=http://127.0.0.1:$BARE200_PORT/api/auth
wait_status "$BARE200_URL" 200
put bare200.threads "$(threads_of "$BARE200_PID")"
put bare200.answer_bytes "$(curl -si "$BARE200_URL" | wc -c)"
ADAPTER200_PORT=$(free_port)
start_bg "$RAW/adapter200-server.log" taskset -c "$SERVER_CORE" "$EX/bare_auth_200" "$ADAPTER200_PORT" \
    --headers "$RAW/auth-answer.txt" --via-adapter
ADAPTER200_PID=$BG_PID
ADAPTER200_URL=http://127.0.0.1:$ADAPTER200_PORT/api/auth
wait_status "$ADAPTER200_URL" 200

# Every server gets the same request: the session cookie (the bare ones ignore it); the bearer
# case (authb, the same server) gets the access token instead.
COOKIE_HDR=(-H "Cookie: $SESSION_COOKIE" -H "Proxy-SSO-Assertion: 1")
BEARER_HDR=(-H "Authorization: Bearer $BEARER_TOKEN" -H "Proxy-SSO-Assertion: 1")
run_wrk warm-bare200 "$BARE200_URL" "$CONNS" 1 "$BARE200_PID" "${COOKIE_HDR[@]}" >/dev/null
run_wrk warm-adapter200 "$ADAPTER200_URL" "$CONNS" 1 "$ADAPTER200_PID" "${COOKIE_HDR[@]}" >/dev/null
run_wrk warm-auth "$AUTH_URL" "$CONNS" 1 "$AUTH_PID" "${COOKIE_HDR[@]}" >/dev/null
run_wrk warm-authb "$AUTH_URL" "$CONNS" 1 "$AUTH_PID" "${BEARER_HDR[@]}" >/dev/null
for r in $(seq "$ROUNDS"); do
    for which in bare200 adapter200 auth authb; do
        hdr=("${COOKIE_HDR[@]}")
        case $which in
            bare200) url=$BARE200_URL pid=$BARE200_PID ;;
            adapter200) url=$ADAPTER200_URL pid=$ADAPTER200_PID ;;
            auth) url=$AUTH_URL pid=$AUTH_PID ;;
            authb) url=$AUTH_URL pid=$AUTH_PID hdr=("${BEARER_HDR[@]}") ;;
        esac
        read -r rps p50 p99 n err cpu cpu_user cpu_sys < <(run_wrk "$which-$r" "$url" "$CONNS" "$DUR" "$pid" "${hdr[@]}")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rps" "$p50" "$p99" "$n" "$err" "$cpu" "$cpu_user" "$cpu_sys" \
            >>"$RAW/rounds-$which.tsv"
        echo "   $which round $r: $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $err," \
            "server CPU $cpu us/request ($cpu_user user, $cpu_sys system)" >&2
    done
done
for which in bare200 adapter200 auth authb; do
    put "$which.rps" "$(cut -f1 "$RAW/rounds-$which.tsv" | median)"
    put "$which.p50_ms" "$(cut -f2 "$RAW/rounds-$which.tsv" | median)"
    put "$which.p99_ms" "$(cut -f3 "$RAW/rounds-$which.tsv" | median)"
    put "$which.errors" "$(awk '{ s += $5 } END { print s + 0 }' "$RAW/rounds-$which.tsv")"
    put "$which.cpu_us" "$(cut -f6 "$RAW/rounds-$which.tsv" | median)"
    put "$which.cpu_user_us" "$(cut -f7 "$RAW/rounds-$which.tsv" | median)"
    put "$which.cpu_sys_us" "$(cut -f8 "$RAW/rounds-$which.tsv" | median)"
    put "$which.rounds" "$(cut -f1 "$RAW/rounds-$which.tsv" | paste -sd' ')"
done
# The ratio the target is judged on: per round (the three servers back to back), then the median.
AUTH_RATIOS=$(paste "$RAW/rounds-bare200.tsv" "$RAW/rounds-auth.tsv" | awk -F'\t' '$1 > 0 { printf "%.4f\n", $9 / $1 }')
put auth.ratio_rounds "$(paste -sd' ' <<<"$AUTH_RATIOS")"
put auth.ratio "$(median <<<"$AUTH_RATIOS")"
AUTHB_RATIOS=$(paste "$RAW/rounds-bare200.tsv" "$RAW/rounds-authb.tsv" | awk -F'\t' '$1 > 0 { printf "%.4f\n", $9 / $1 }')
put authb.ratio_rounds "$(paste -sd' ' <<<"$AUTHB_RATIOS")"
put authb.ratio "$(median <<<"$AUTHB_RATIOS")"
put authb.status_after "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $BEARER_TOKEN" "$AUTH_URL")"
# Still signed in after the load (a 401 here would mean wrk measured refusals).
put auth.status_after "$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: $SESSION_COOKIE" "$AUTH_URL")"
put auth.rss_after_kb "$(rss_kb "$AUTH_PID")"
stop_bg "$BARE200_PID"
stop_bg "$ADAPTER200_PID"
stop_bg "$AUTH_PID"
stop_bg "$AUTH_IDP_PID"

fi # 7

# --- 8. entra-sso proxy vs nginx proxy_pass vs nginx auth_request + entra-sso serve ---------------
# One app, examples/bare_upstream_200.rs (hyper, one tokio worker), behind three fronts, each
# started once and then measured in alternating rounds (wrk -t1 -c$PX_CONNS, every request with a
# session cookie):
#   a.  nginx proxy_pass, no sign-in: 1 worker process, `upstream { keepalive 64; }`,
#       proxy_http_version 1.1, Connection "" (and Host, X-Forwarded-For, -Proto, as
#       entra-sso-server.conf sets them for /api/);
#   a2. the same with `keepalive 256`: with 256 requests in flight, 64 idle connections are too
#       few to keep and nginx closes and reopens connections to the app during the run (the app
#       counts them); a2 shows nginx without that churn;
#   b.  entra-sso proxy (TOKIO_WORKER_THREADS=1, as `serve` in 1 and 7), signed in as alice;
#   c.  nginx (1 worker) with examples/nginx/entra-sso-server.conf and entra-sso-protect.conf
#       included unchanged, auth_request to entra-sso serve (TOKIO_WORKER_THREADS=1), signed in as
#       alice through nginx's /api/login; the app upstream as in a (keepalive 64, HTTP/1.1);
#   c2. the same tuned as a2, with keepalive to entra-sso serve too: `keepalive 256` to the app and
#       to serve, and a copy of entra-sso-server.conf whose subrequest location adds
#       `proxy_http_version 1.1; proxy_set_header Connection "";` (the file as shipped lets nginx
#       send `Connection: close`: a new connection to serve per subrequest).
# Pinning: everything on the server side (the app, nginx, entra-sso proxy, entra-sso serve) on
# core 0, wrk alone on core 1, the dev IdPs on core 1 (idle while measured). With two cores the
# app cannot have a core of its own without sharing wrk's, so it shares the front's, the same way
# in every setup: each rate is then the whole chain's CPU cost per request on one core. CPU per
# request is read from /proc for the front (nginx's process group, entra-sso proxy's, or nginx's
# and serve's together) and for the app separately.
if want 8; then
log "8. reverse proxies in front of bare_upstream_200 (wrk -t1 -c$PX_CONNS -d${PX_DUR}s x $PX_ROUNDS rounds, everything served on core $SERVER_CORE, wrk core $LOAD_CORE)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -V 2>&1 | grep -q -- '--with-http_auth_request_module' || {
    echo "bench/run.sh: $NGINX lacks the auth_request module (Debian's nginx-light has it)" >&2
    exit 1
}
put px.nginx "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
put px.conns "$PX_CONNS"
put px.dur "$PX_DUR"
NGX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/entra-sso-bench-nginx.XXXXXX")
# nginx's workers (user nobody when started as root) must reach their temp directories.
chmod 0711 "$NGX_DIR"

# "FRONT_PGIDS" APP_PGID: CPU ticks (user + system) of the front's process groups and of the app's.
px_cpu_ticks() {
    local front=" $1 " app=$2 f rest a=0 b=0
    for f in /proc/[0-9]*/stat; do
        read -r rest 2>/dev/null <"$f" || continue
        rest=${rest##*) }
        # shellcheck disable=SC2086 # split the fields
        set -- $rest
        [[ $front == *" ${3:-x} "* ]] && a=$((a + ${12} + ${13}))
        [[ ${3:-} == "$app" ]] && b=$((b + ${12} + ${13}))
    done
    echo "$a $b"
}
px_accepted() { curl -s "$PX_APP_URL/.bench/connections"; }
# NAME URL SECONDS "FRONT_PGIDS" [extra wrk args]: writes $RAW/wrk-px-NAME.txt and echoes
# "rps p50_ms p99_ms requests errors front_cpu_us app_cpu_us total_cpu_us app_connections"
# (CPU per request; app_connections: connections the app accepted during the run).
run_px() {
    local name=$1 url=$2 secs=$3 front=$4 f0 a0 f1 a1 c0 c1
    shift 4
    c0=$(px_accepted)
    read -r f0 a0 < <(px_cpu_ticks "$front" "$PX_APP_PID")
    taskset -c "$LOAD_CORE" wrk -t1 -c"$PX_CONNS" -d"${secs}s" --latency "$@" "$url" >"$RAW/wrk-px-$name.txt" 2>&1
    read -r f1 a1 < <(px_cpu_ticks "$front" "$PX_APP_PID")
    c1=$(px_accepted)
    read -r rps p50 p99 n err < <(wrk_parse "$RAW/wrk-px-$name.txt")
    echo "$rps $p50 $p99 $n $err $(awk -v f=$((f1 - f0)) -v a=$((a1 - a0)) -v n="$n" -v hz="$CLK_TCK" \
        'BEGIN { k = n ? 1e6 / hz / n : 0; printf "%.2f %.2f %.2f", f * k, a * k, (f + a) * k }') $((c1 - c0 - 1))"
}
# LOGFILE CLIENT_ENV...: starts `entra-sso dev-idp` on the load core; sets IDP_PID, IDP_AUTHORITY.
px_dev_idp() {
    local logfile=$1
    shift
    start_bg "$logfile" env "$@" RUST_LOG=off taskset -c "$LOAD_CORE" "$BIN" dev-idp --port "$(free_port)"
    IDP_PID=$BG_PID IDP_AUTHORITY=
    for _ in $(seq 300); do
        IDP_AUTHORITY=$(sed -n 's/^authority \(http[^ ]*\)$/\1/p' "$logfile")
        [[ -n $IDP_AUTHORITY ]] && return 0
        sleep 0.1
    done
    echo "bench/run.sh: entra-sso dev-idp printed no authority (see $logfile)" >&2
    exit 1
}
# NAME BASE LOGIN_PATH: one sign-in as alice (login -> the dev IdP's form -> the callback, on
# BASE); sets SIGNED_IN to the session cookie (name=value).
px_sign_in() {
    local name=$1 base=$2 login=$3 authorize flow callback rest
    curl -s -o /dev/null -D "$RAW/px-$name-signin-1.txt" -H 'sec-fetch-mode: navigate' "$base$login"
    authorize=$(hdr_value location "$RAW/px-$name-signin-1.txt")
    flow=$(hdr_value set-cookie "$RAW/px-$name-signin-1.txt" | cut -d';' -f1)
    [[ $authorize == http*\?* && -n $flow ]] || { echo "bench/run.sh: $base$login gave no authorize URL or flow cookie" >&2; exit 1; }
    curl -s -o /dev/null -D "$RAW/px-$name-signin-2.txt" -H 'content-type: application/x-www-form-urlencoded' \
        --data "${authorize#*\?}&user=alice" "${authorize%%\?*}"
    callback=$(hdr_value location "$RAW/px-$name-signin-2.txt")
    [[ $callback == http*'/callback?'* ]] || { echo "bench/run.sh: the dev IdP did not redirect to a callback ($name)" >&2; exit 1; }
    rest=${callback#*://}
    curl -s -o /dev/null -D "$RAW/px-$name-signin-3.txt" -H "cookie: $flow" "$base/${rest#*/}"
    SIGNED_IN=$(tr -d '\r' <"$RAW/px-$name-signin-3.txt" | awk 'tolower($1) == "set-cookie:" && $2 ~ /sso-session=/ { print $2; exit }' | cut -d';' -f1)
    [[ -n $SIGNED_IN ]] || { echo "bench/run.sh: the callback set no session cookie (see $RAW/px-$name-signin-3.txt)" >&2; exit 1; }
}
# NAME PORT HTTP_BLOCK_BODY: writes and checks $NGX_DIR/NAME.conf, starts nginx (1 worker, core
# 0); sets BG_PID.
px_nginx() {
    local name=$1 port=$2 body=$3
    mkdir -p "$NGX_DIR/$name-tmp"
    cat >"$NGX_DIR/$name.conf" <<EOF
daemon off;
worker_processes 1;
pid $NGX_DIR/$name.pid;
error_log $RAW/nginx-$name-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGX_DIR/$name-tmp/body;
    proxy_temp_path $NGX_DIR/$name-tmp/proxy;
    fastcgi_temp_path $NGX_DIR/$name-tmp/fastcgi;
    uwsgi_temp_path $NGX_DIR/$name-tmp/uwsgi;
    scgi_temp_path $NGX_DIR/$name-tmp/scgi;
$body
}
EOF
    cp "$NGX_DIR/$name.conf" "$RAW/nginx-$name.conf"
    "$NGINX" -t -q -p "$NGX_DIR" -e "$RAW/nginx-$name-error.log" -c "$NGX_DIR/$name.conf" >"$RAW/nginx-$name-test.log" 2>&1 || {
        cat "$RAW/nginx-$name-test.log" >&2
        echo "bench/run.sh: nginx -t failed for $name" >&2
        exit 1
    }
    start_bg "$RAW/nginx-$name.log" taskset -c "$SERVER_CORE" "$NGINX" -p "$NGX_DIR" -e "$RAW/nginx-$name-error.log" \
        -c "$NGX_DIR/$name.conf"
}

# The app.
PX_APP_PORT=$(free_port)
start_bg "$RAW/px-app.log" taskset -c "$SERVER_CORE" "$EX/bare_upstream_200" "$PX_APP_PORT"
PX_APP_PID=$BG_PID
PX_APP_URL=http://127.0.0.1:$PX_APP_PORT
wait_status "$PX_APP_URL/" 200
put px.app.threads "$(threads_of "$PX_APP_PID")"
put px.app.answer_bytes "$(curl -si "$PX_APP_URL/" | wc -c)"

# b. entra-sso proxy, signed in through its own /.auth/login/aad at its own dev IdP.
PXB_PORT=$(free_port)
PXB_BASE=http://127.0.0.1:$PXB_PORT
PXB_CLIENT=(
    SSO_CLIENT_ID=bench-proxy-client
    SSO_CLIENT_SECRET=bench-proxy-client-secret-7d2a41
    SSO_REDIRECT_URI=http://localhost:$PXB_PORT/.auth/login/aad/callback
)
px_dev_idp "$RAW/px-b-idp.log" "${PXB_CLIENT[@]}"
PXB_IDP_PID=$IDP_PID
start_bg "$RAW/px-b-proxy.log" env "${PXB_CLIENT[@]}" SSO_AUTHORITY="$IDP_AUTHORITY" \
    SSO_SECRET=Fo_wREIW0tiCX2D76fHod9rHTzlDH0xfnpCVZfDFinw SSO_UPSTREAM="$PX_APP_URL" RUST_LOG=off \
    TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CORE" "$BIN" proxy --listen "127.0.0.1:$PXB_PORT"
PXB_PID=$BG_PID
wait_status "$PXB_BASE/" 401 # signed out, not a navigation
px_sign_in b "$PXB_BASE" "/.auth/login/aad?post_login_redirect_uri=%2F"
PXB_COOKIE=$SIGNED_IN
put px.b.threads "$(threads_of "$PXB_PID")"
put px.b.cookie_len "${#PXB_COOKIE}"
put px.b.rss_start_kb "$(rss_kb "$PXB_PID")"

# c. entra-sso serve behind nginx auth_request; signed in through nginx's /api/ (c's port).
PXC_PORT=$(free_port) PXC2_PORT=$(free_port) PXA_PORT=$(free_port) PXA2_PORT=$(free_port) PXS_PORT=$(free_port)
PXC_BASE=http://127.0.0.1:$PXC_PORT
PXC_CLIENT=(
    SSO_CLIENT_ID=bench-pair-client
    SSO_CLIENT_SECRET=bench-pair-client-secret-5be08c
    SSO_REDIRECT_URI=http://localhost:$PXC_PORT/api/callback
)
px_dev_idp "$RAW/px-c-idp.log" "${PXC_CLIENT[@]}"
PXC_IDP_PID=$IDP_PID
start_bg "$RAW/px-c-serve.log" env "${PXC_CLIENT[@]}" SSO_AUTHORITY="$IDP_AUTHORITY" \
    SSO_SECRET=Fo_wREIW0tiCX2D76fHod9rHTzlDH0xfnpCVZfDFinw RUST_LOG=off TOKIO_WORKER_THREADS=1 \
    FUNCTIONS_CUSTOMHANDLER_PORT="$PXS_PORT" taskset -c "$SERVER_CORE" "$BIN" serve
PXS_PID=$BG_PID
wait_status "http://127.0.0.1:$PXS_PORT/api/auth" 401
put px.serve.threads "$(threads_of "$PXS_PID")"

for which in a a2; do
    if [[ $which == a ]]; then port=$PXA_PORT keepalive=64; else port=$PXA2_PORT keepalive=256; fi
    px_nginx "$which" "$port" "
    upstream app { server 127.0.0.1:$PX_APP_PORT; keepalive $keepalive; }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }"
    if [[ $which == a ]]; then PXA_PID=$BG_PID; else PXA2_PID=$BG_PID; fi
done
# entra-sso-server.conf with keepalive to entra-sso serve, for c2 (the shipped file is used for c).
awk '{ print } /proxy_set_header Proxy-SSO-Assertion 1;/ {
        print "    # Added by bench/run.sh for c2: keepalive connections to entra-sso serve."
        print "    proxy_http_version 1.1;"
        print "    proxy_set_header Connection \"\";" }' "$ROOT/examples/nginx/entra-sso-server.conf" \
    >"$NGX_DIR/entra-sso-server-keepalive.conf"
grep -q 'proxy_set_header Connection' "$NGX_DIR/entra-sso-server-keepalive.conf" || {
    echo "bench/run.sh: could not derive the keepalive copy of entra-sso-server.conf" >&2
    exit 1
}
cp "$NGX_DIR/entra-sso-server-keepalive.conf" "$RAW/nginx-entra-sso-server-keepalive.conf"
for which in c c2; do
    if [[ $which == c ]]; then
        port=$PXC_PORT server_conf=$ROOT/examples/nginx/entra-sso-server.conf sso_keepalive= keepalive=64
    else
        port=$PXC2_PORT server_conf=$NGX_DIR/entra-sso-server-keepalive.conf sso_keepalive=" keepalive 256;" keepalive=256
    fi
    px_nginx "$which" "$port" "
    upstream entra_sso { server 127.0.0.1:$PXS_PORT;$sso_keepalive }
    upstream app { server 127.0.0.1:$PX_APP_PORT; keepalive $keepalive; }
    server {
        listen 127.0.0.1:$port;
        include $server_conf;
        location / {
            include $ROOT/examples/nginx/entra-sso-protect.conf;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
    if [[ $which == c ]]; then PXC_PID=$BG_PID; else PXC2_PID=$BG_PID; fi
done
wait_status "http://127.0.0.1:$PXA_PORT/" 200
wait_status "http://127.0.0.1:$PXA2_PORT/" 200
wait_status "$PXC_BASE/" 302 # signed out: error_page 401 =302 to the login URL
wait_status "http://127.0.0.1:$PXC2_PORT/" 302
px_sign_in c "$PXC_BASE" "/api/login?return_to=%2F"
PXC_COOKIE=$SIGNED_IN
put px.c.cookie_len "${#PXC_COOKIE}"

# What each front answers, and which headers reach the app: the identity headers behind b, c and
# c2, with the same lengths; none behind a and a2, which get b's cookie (the requests are the same size).
declare -A PX_URL PX_FRONT PX_COOKIE
PX_URL=([a]="http://127.0.0.1:$PXA_PORT/" [a2]="http://127.0.0.1:$PXA2_PORT/" [b]="$PXB_BASE/" [c]="$PXC_BASE/"
    [c2]="http://127.0.0.1:$PXC2_PORT/")
PX_FRONT=([a]="$PXA_PID" [a2]="$PXA2_PID" [b]="$PXB_PID" [c]="$PXC_PID $PXS_PID" [c2]="$PXC2_PID $PXS_PID")
PX_COOKIE=([a]="$PXB_COOKIE" [a2]="$PXB_COOKIE" [b]="$PXB_COOKIE" [c]="$PXC_COOKIE" [c2]="$PXC_COOKIE")
PX_SETUPS=(a a2 b c c2)
for which in "${PX_SETUPS[@]}"; do
    url=${PX_URL[$which]}
    curl -si -H "cookie: ${PX_COOKIE[$which]}" "$url" | tr -d '\r' >"$RAW/px-$which-answer.txt"
    head -1 "$RAW/px-$which-answer.txt" | grep -q ' 200' && tail -1 "$RAW/px-$which-answer.txt" | grep -qx 'hello, world' || {
        echo "bench/run.sh: $which ($url) did not answer the app's 200 with the session" >&2
        head -20 "$RAW/px-$which-answer.txt" >&2
        exit 1
    }
    put "px.$which.answer_bytes" "$(wc -c <"$RAW/px-$which-answer.txt")"
    curl -s -H "cookie: ${PX_COOKIE[$which]}" "${url}.bench/headers" >"$RAW/px-$which-app-headers.txt"
    put "px.$which.app_headers" "$(awk '{ printf "%s%s:%s", (NR > 1 ? " " : ""), $1, $2 }' "$RAW/px-$which-app-headers.txt")"
    put "px.$which.app_header_bytes" "$(awk '{ s += length($1) + $2 + 4 } END { print s + 0 }' "$RAW/px-$which-app-headers.txt")"
    put "px.$which.signed_out" "$(curl -s -o /dev/null -w '%{http_code}' "$url")"
    if [[ $which != a* ]]; then
        for h in x-ms-client-principal x-ms-client-principal-id x-ms-client-principal-name x-ms-client-principal-idp x-sso-assertion; do
            grep -q "^$h [1-9]" "$RAW/px-$which-app-headers.txt" || {
                echo "bench/run.sh: $which forwarded no $h to the app" >&2
                cat "$RAW/px-$which-app-headers.txt" >&2
                exit 1
            }
        done
    fi
done

# Warm every front (connections, pools, allocators), then alternate the rounds.
for which in "${PX_SETUPS[@]}"; do
    run_px "warm-$which" "${PX_URL[$which]}" "$PX_WARM" "${PX_FRONT[$which]}" -H "Cookie: ${PX_COOKIE[$which]}" >/dev/null
done
put px.b.rss_warm_kb "$(rss_kb "$PXB_PID")"
for r in $(seq "$PX_ROUNDS"); do
    for which in "${PX_SETUPS[@]}"; do
        read -r rps p50 p99 n err fcpu acpu tcpu conns < <(run_px "$which-$r" "${PX_URL[$which]}" "$PX_DUR" \
            "${PX_FRONT[$which]}" -H "Cookie: ${PX_COOKIE[$which]}")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rps" "$p50" "$p99" "$n" "$err" "$fcpu" "$acpu" "$tcpu" "$conns" \
            >>"$RAW/rounds-px-$which.tsv"
        echo "   $which round $r: $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $err, CPU per request: front $fcpu us," \
            "app $acpu us, total $tcpu us; app connections opened: $conns" >&2
    done
done
for which in "${PX_SETUPS[@]}"; do
    t=$RAW/rounds-px-$which.tsv
    put "px.$which.rps" "$(cut -f1 "$t" | median)"
    put "px.$which.p50_ms" "$(cut -f2 "$t" | median)"
    put "px.$which.p99_ms" "$(cut -f3 "$t" | median)"
    put "px.$which.requests" "$(awk '{ s += $4 } END { print s + 0 }' "$t")"
    put "px.$which.errors" "$(awk '{ s += $5 } END { print s + 0 }' "$t")"
    put "px.$which.front_cpu_us" "$(cut -f6 "$t" | median)"
    put "px.$which.app_cpu_us" "$(cut -f7 "$t" | median)"
    put "px.$which.cpu_us" "$(cut -f8 "$t" | median)"
    put "px.$which.app_conns" "$(cut -f9 "$t" | median)"
    put "px.$which.rounds" "$(cut -f1 "$t" | paste -sd' ')"
    put "px.$which.status_after" "$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: ${PX_COOKIE[$which]}" "${PX_URL[$which]}")"
done
# The targets are judged on the per-round ratios (the fronts measured back to back), then the median.
for other in a a2 c c2; do
    ratios=$(paste "$RAW/rounds-px-b.tsv" "$RAW/rounds-px-$other.tsv" | awk -F'\t' '$10 > 0 { printf "%.4f\n", $1 / $10 }')
    put "px.ratio_b_$other.rounds" "$(paste -sd' ' <<<"$ratios")"
    put "px.ratio_b_$other" "$(median <<<"$ratios")"
done
put px.b.requests_rounds "$(awk '{ s += $4 } END { print s + 0 }' "$RAW/rounds-px-b.tsv")"
put px.b.rss_rounds_kb "$(rss_kb "$PXB_PID")"
# The fronts not measured below stop, so the proxy's memory run has core 0 to itself (with the app).
for pid in "$PXA_PID" "$PXA2_PID" "$PXC_PID" "$PXC2_PID" "$PXS_PID" "$PXC_IDP_PID"; do stop_bg "$pid"; done

# Memory of entra-sso proxy: VmRSS sampled every 50 ms (on the load core) during runs of
# wrk -c$PX_CONNS until $PX_LEAK_REQUESTS more requests have gone through it, VmRSS after, VmHWM.
touch "$RAW/.sampling"
(
    max=0
    while [[ -e $RAW/.sampling ]]; do
        v=$(rss_kb "$PXB_PID" 2>/dev/null || echo 0)
        ((v > max)) && max=$v
        sleep 0.05
    done
    echo "$max" >"$RAW/px-rss-max.txt"
) &
SAMPLER=$!
taskset -cp "$LOAD_CORE" "$SAMPLER" >/dev/null
total=0 errs=0 i=0
while ((total < PX_LEAK_REQUESTS && i < 40)); do
    i=$((i + 1))
    read -r rps _ _ n err _ _ _ _ < <(run_px "mem-$i" "$PXB_BASE/" "$PX_MEM_DUR" "$PXB_PID" -H "Cookie: $PXB_COOKIE")
    total=$((total + n)) errs=$((errs + err))
    echo "   memory run $i: $n requests ($rps req/s), $total so far, RSS $(rss_kb "$PXB_PID") kB" >&2
done
rm -f "$RAW/.sampling"
wait "$SAMPLER"
put px.b.rss_max_kb "$(cat "$RAW/px-rss-max.txt")"
put px.b.leak_requests "$total"
put px.b.leak_errors "$errs"
put px.b.rss_after_kb "$(rss_kb "$PXB_PID")"
put px.b.hwm_kb "$(awk '/^VmHWM:/ {print $2}' "/proc/$PXB_PID/status")"
put px.b.threads_after "$(threads_of "$PXB_PID")"
put px.b.status_after_leak "$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: $PXB_COOKIE" "$PXB_BASE/")"
put px.app.accepted "$(px_accepted)"
stop_bg "$PXB_PID"
stop_bg "$PXB_IDP_PID"
stop_bg "$PX_APP_PID"
fi # 8

# --- 4. memory (default runtime: not pinned, tokio's default worker count) ------------------------
if want 4; then
log "4. memory of entra-sso serve (default runtime): idle, wrk -c256 ${MEM_DUR}s, then ${LOGINS_FOR_LEAK}+ more logins"
MEM_PORT=$(free_port)
start_bg "$RAW/mem-server.log" env "${SSO_ENV[@]}" FUNCTIONS_CUSTOMHANDLER_PORT="$MEM_PORT" "$BIN" serve
MEM_PID=$BG_PID
MEM_URL=http://127.0.0.1:$MEM_PORT/api/login
wait_status "$MEM_URL" 302
sleep 1 # let the start-up prefetch settle (it fails: no route to Microsoft)
put mem.threads_idle "$(threads_of "$MEM_PID")"
put mem.idle_kb "$(rss_kb "$MEM_PID")"
touch "$RAW/.sampling"
(
    max=0
    while [[ -e $RAW/.sampling ]]; do
        v=$(rss_kb "$MEM_PID" 2>/dev/null || echo 0)
        ((v > max)) && max=$v
        sleep 0.05
    done
    echo "$max" >"$RAW/mem-max-256.txt"
) &
SAMPLER=$!
read -r _ _ _ n256 err256 _ _ _ < <(run_wrk mem-c256 "$MEM_URL" 256 "$MEM_DUR" "$MEM_PID")
rm -f "$RAW/.sampling"
wait "$SAMPLER"
put mem.max_256_kb "$(cat "$RAW/mem-max-256.txt")"
put mem.requests_256 "$n256"
put mem.errors_256 "$err256"
put mem.threads_256 "$(threads_of "$MEM_PID")"
BEFORE=$(rss_kb "$MEM_PID")
put mem.before_kb "$BEFORE"
# Batches of at least LOGINS_FOR_LEAK logins each (wrk -c64 runs until the count is reached):
# per-login state would grow RSS by (bytes per login) x 100,000 per batch.
i=0
put mem.batches "$MEM_BATCHES"
for batch in $(seq "$MEM_BATCHES"); do
    total=0
    while ((total < LOGINS_FOR_LEAK && i < 40)); do
        i=$((i + 1))
        read -r _ _ _ n _ _ _ _ < <(run_wrk "mem-100k-$i" "$MEM_URL" "$CONNS" "$MEM_DUR" "$MEM_PID")
        total=$((total + n))
    done
    put "mem.logins_$batch" "$total"
    put "mem.after_${batch}_kb" "$(rss_kb "$MEM_PID")"
done
stop_bg "$MEM_PID"

fi # 4

# --- 2. full flow --------------------------------------------------------------------------------
if want 2; then
log "2. complete sign-ins against entra-sso dev (flow_load, $FLOW_WORKERS workers, ${FLOW_DUR}s)"
APP_PORT=$(free_port)
IDP_PORT=$(free_port)
start_bg "$RAW/dev-server.log" env RUST_LOG=off TOKIO_WORKER_THREADS=1 \
    taskset -c "$SERVER_CORE" "$BIN" dev --port "$APP_PORT" --idp-port "$IDP_PORT"
DEV_PID=$BG_PID
wait_status "http://127.0.0.1:$APP_PORT/api/login" 302
PGID_OF_INTEREST=$DEV_PID
read -r u0 s0 < <(group_cpu_ticks)
taskset -c "$LOAD_CORE" "$EX/flow_load" --app-port "$APP_PORT" --workers "$FLOW_WORKERS" --seconds "$FLOW_DUR" \
    >"$RAW/flow.txt" 2>&1
cat "$RAW/flow.txt" >&2
read -r u1 s1 < <(group_cpu_ticks)
flows=$(grep -o 'flows=[0-9]*' "$RAW/flow.txt" | head -1 | cut -d= -f2)
put flow.cpu_us "$(awk -v d=$((u1 + s1 - u0 - s0)) -v n="$flows" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? d / hz * 1e6 / n : 0 }')"
for k in flows errors flows_per_s p50_ms p99_ms; do
    put "flow.$k" "$(grep -o "$k=[0-9.]*" "$RAW/flow.txt" | head -1 | cut -d= -f2)"
done
stop_bg "$DEV_PID"

fi # 2

# --- 3. cold start -------------------------------------------------------------------------------
if want 3; then
log "3. cold start of entra-sso serve to the first 302 ($COLD_RUNS starts)"
env "${SSO_ENV[@]}" "$EX/cold_start" --runs "$COLD_RUNS" --path /api/login --expect 302 \
    --port-env FUNCTIONS_CUSTOMHANDLER_PORT -- "$BIN" serve | tee "$RAW/cold-entra.txt" >&2
for k in median_ms p90_ms min_ms max_ms runs; do
    put "cold.entra.$k" "$(grep -o "$k=[0-9.]*" "$RAW/cold-entra.txt" | cut -d= -f2)"
done

fi # 3

# --- 5. django-microsoft-sso ------------------------------------------------------------------------
if ((DJANGO)) && want 5; then
    log "5. django-microsoft-sso under gunicorn (core $SERVER_CORE), wrk -c$CONNS -d${DJ_DUR}s"
    VENV=$ROOT/bench/.venv
    if ! "$VENV/bin/python" -c 'import django_microsoft_sso, gunicorn' 2>/dev/null; then
        python3 -m venv "$VENV" 2>/dev/null || {
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$VENV"
        }
        "$VENV/bin/pip" install -q --disable-pip-version-check 'django-microsoft-sso==7.1.1' 'gunicorn==27.0.1'
    fi
    put django.versions "$("$VENV/bin/pip" freeze --disable-pip-version-check 2>/dev/null |
        grep -iE '^(django|django-microsoft-sso|msal|requests|gunicorn)==' | paste -sd' ')"
    put django.python "$("$VENV/bin/python" --version)"
    DJ_DIR=$ROOT/bench/django_app
    export BENCH_SQLITE=$VENV/django-bench.sqlite3
    rm -f "$BENCH_SQLITE"
    (cd "$DJ_DIR" && "$VENV/bin/python" manage.py migrate -v0)

    # Microsoft's discovery document from 127.0.0.1 (see the bottom of benchsite/settings.py).
    STUB_PORT=$(free_port)
    start_bg "$RAW/stub.log" taskset -c "$LOAD_CORE" "$VENV/bin/python" "$DJ_DIR/discovery_stub.py" "$STUB_PORT" \
        "$ROOT/tests/fixtures/entra/tenant.openid-configuration.json"
    STUB_PID=$BG_PID
    export BENCH_DISCOVERY_STUB=http://127.0.0.1:$STUB_PORT
    wait_status "$BENCH_DISCOVERY_STUB/x/v2.0/.well-known/openid-configuration" 200

    # name  sessions  gunicorn worker flags
    DJ_CONFIGS=(
        "sync-w1-db db -w 1"
        "sync-w1-signed signed_cookies -w 1"
        "sync-w1-cache cache -w 1"
        "gthread-w1t4-signed signed_cookies -w 1 -k gthread --threads 4"
        "gthread-w1t4-cache cache -w 1 -k gthread --threads 4"
    )
    for cfg in "${DJ_CONFIGS[@]}"; do
        read -r name sessions flags <<<"$cfg"
        DJ_PORT=$(free_port)
        # shellcheck disable=SC2086 # $flags are words
        start_bg "$RAW/gunicorn-$name.log" env BENCH_SESSIONS="$sessions" PYTHONWARNINGS=ignore \
            taskset -c "$SERVER_CORE" "$VENV/bin/gunicorn" --chdir "$DJ_DIR" -b "127.0.0.1:$DJ_PORT" \
            --log-level warning $flags benchsite.wsgi:application
        GPID=$BG_PID
        DJ_URL=http://127.0.0.1:$DJ_PORT/microsoft_sso/login/
        wait_status "$DJ_URL" 302 60
        # Warm with sequential requests: a short wrk run would leave its 64 requests queued in the
        # sync worker's backlog, to be served inside the measured run.
        for _ in $(seq 20); do curl -s -o /dev/null "$DJ_URL"; done
        # --timeout 10s: with database sessions one login can take tens of ms (an fsync per commit)
        # and 64 queued connections then wait longer than wrk's default 2 s.
        read -r rps p50 p99 n err cpu _ _ < <(run_wrk "dj-$name" "$DJ_URL" "$CONNS" "$DJ_DUR" "$GPID" --timeout 10s)
        echo "   $name: $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $err, server CPU $cpu us/request" >&2
        put "dj.$name.cpu_us" "$cpu"
        put "dj.$name.rps" "$rps"
        put "dj.$name.p50_ms" "$p50"
        put "dj.$name.p99_ms" "$p99"
        put "dj.$name.errors" "$err"
        put "dj.$name.flags" "$sessions | $flags"
        stop_bg "$GPID"
    done

    log "   cold start of gunicorn (sync -w 1, signed_cookies) to the first 302 ($DJ_COLD_RUNS starts)"
    env BENCH_SESSIONS=signed_cookies PYTHONWARNINGS=ignore "$EX/cold_start" --runs "$DJ_COLD_RUNS" \
        --path /microsoft_sso/login/ --expect 302 --timeout-ms 60000 -- \
        "$VENV/bin/gunicorn" --chdir "$DJ_DIR" -b '127.0.0.1:{port}' -w 1 --log-level warning \
        benchsite.wsgi:application | tee "$RAW/cold-django.txt" >&2
    for k in median_ms p90_ms min_ms max_ms runs; do
        put "cold.django.$k" "$(grep -o "$k=[0-9.]*" "$RAW/cold-django.txt" | cut -d= -f2)"
    done
    stop_bg "$STUB_PID"
fi

# --- 6. criterion --------------------------------------------------------------------------------
if ((CRITERION)) && want 6; then
    log "6. cargo bench --bench core"
    crit_args=()
    ((QUICK)) && crit_args=(--warm-up-time 1 --measurement-time 2)
    crit_median() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' "$1"; }
    # The callback group first as any process runs, on both cores: the handler's thread and the
    # dev IdP (another process) usually land on different cores, and every token answer then wakes
    # an idle core. Then everything pinned to core 0, which the targets are judged on: the IdP
    # answers on the same core, so the handler is not charged for cross-core wake-ups (BENCHMARKS.md,
    # "Callback").
    cargo bench --locked --bench core -- ${crit_args[@]+"${crit_args[@]}"} callback/ >"$RAW/criterion-unpinned.txt" 2>&1 || {
        tail -20 "$RAW/criterion-unpinned.txt" >&2
        echo "bench/run.sh: cargo bench (callback, unpinned) failed" >&2
        exit 1
    }
    f=$TARGET/criterion/callback/callback_handler_cpu_idp_excluded/new/estimates.json
    [[ -f $f ]] && put crit.callback_unpinned "$(crit_median "$f")"
    taskset -c "$SERVER_CORE" cargo bench --locked --bench core -- ${crit_args[@]+"${crit_args[@]}"} >"$RAW/criterion.txt" 2>&1 || {
        tail -20 "$RAW/criterion.txt" >&2
        echo "bench/run.sh: cargo bench failed" >&2
        exit 1
    }
    for id in state_mint state_verify session_mint session_verify login_handler id_token_verify_rs256 \
        idle/id_token_verify_rs256_after_1500us_sleep callback/callback_handler_cpu_idp_excluded; do
        f=$TARGET/criterion/$id/new/estimates.json
        [[ -f $f ]] && put "crit.${id##*/}" "$(crit_median "$f")"
    done
fi

put run.uptime_end "$(uptime)"

# --- report --------------------------------------------------------------------------------------
# A run of some sections (--only) leaves latest.md, the last run of all of them, as it is.
REPORT=$RESULTS/latest.md
[[ -n $SECTIONS ]] && REPORT=$RESULTS/latest-only$(tr ' ' '-' <<<"${SECTIONS% }").md
python3 - "$KV" "$REPORT" <<'PY'
import sys

kv = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition("\t")
    kv[k] = v
g = kv.get


def f(key, digits=0):
    v = g(key)
    if v in (None, "", "nan"):
        return None
    return float(v)


def num(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def ms(v):
    if v is None:
        return "–"
    return f"{v:.2f} ms" if v < 100 else f"{v:,.0f} ms"


def ns(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} ms"
    if v >= 1e3:
        return f"{v / 1e3:.2f} µs"
    return f"{v:.0f} ns"


def mb(kb):
    return "–" if kb is None else f"{kb / 1024:.1f} MB"


def us(v):
    if v is None:
        return "–"
    return f"{v:,.1f} µs" if v < 1000 else f"{v / 1000:,.2f} ms"


def verdict(ok):
    return "–" if ok is None else ("met" if ok else "**missed**")


out = []
p = out.append
p(f"# entra-sso benchmarks ({g('run.mode')} run, {g('run.date')})")
p("")
p(f"Machine: {g('machine.nproc')} cores, {g('machine.cpu')}, {g('machine.mem')}, Linux {g('machine.kernel')}; "
  f"{g('tool.rustc')}, {g('tool.wrk')}; commit {g('run.commit')}.  ")
p(f"Load before: `{g('run.uptime_start').strip()}`  ")
p(f"Load after: `{g('run.uptime_end').strip()}`")
p("")

bare, login = f("bare.rps"), f("login.rps")
dj_names = [k[3:-4] for k in kv if k.startswith("dj.") and k.endswith(".rps")]
dj_best = max(dj_names, key=lambda n: f(f"dj.{n}.rps") or 0) if dj_names else None
dj_best_rps = f(f"dj.{dj_best}.rps") if dj_best else None
dj_default_rps = f("dj.sync-w1-db.rps")
cold = f("cold.entra.median_ms")
mem256, before = f("mem.max_256_kb"), f("mem.before_kb")
nb = int(g("mem.batches") or 0)
rss = [before] + [f(f"mem.after_{b}_kb") for b in range(1, nb + 1)]
logins = [f(f"mem.logins_{b}") for b in range(1, nb + 1)]
grow = [None if rss[b] is None or rss[b + 1] is None else rss[b + 1] - rss[b] for b in range(nb)]


def signed_kb(v):
    return "–" if v is None else f"{'+' if v >= 0 else ''}{v:,.0f} kB"


def per_login(kb, n):
    return "–" if kb is None or not n else f"{kb * 1024 / n:+.1f} B/login"


# Flat: over all batches, RSS grows by less than 10 B per login. Keeping any per-login record (a
# state, nonce and verifier are 100+ B) would grow it by 10 MB or more per 100,000 logins; the
# allocator's own settling (arenas, fragmentation) adds a few hundred kB early on, then stops.
total_logins = sum(v or 0 for v in logins)
total_growth = None if not grow or None in grow else sum(grow)
flat = None if total_growth is None or not total_logins else total_growth * 1024 / total_logins < 10

p("## Targets")
p("")
p("| target | measured | verdict |")
p("|---|---|---|")
# Paired rounds (bare, adapter, login back to back): the median of the per-round ratios.
rb = [float(x) for x in (g("bare.rounds") or "").split()]
rl = [float(x) for x in (g("login.rounds") or "").split()]
pairs = sorted(l / b for b, l in zip(rb, rl) if b)
ratio = (pairs[len(pairs) // 2] if len(pairs) % 2 else (pairs[len(pairs) // 2 - 1] + pairs[len(pairs) // 2]) / 2) if pairs else None
bc, lc = f("bare.cpu_us"), f("login.cpu_us")
if bare is not None and login is not None:
    p(f"| `/api/login` ≥ 80% of a bare warp 302 | req/s: **{num(ratio * 100 if ratio else None, 1)}%** (median of the per-round ratios {', '.join(f'{x * 100:.1f}%' for x in pairs)}; "
      f"medians {num(login)} / {num(bare)}); server CPU per request: bare / login = {num(bc / lc * 100 if bc and lc else None, 1)}% | {verdict(None if ratio is None else ratio >= 0.8)} |")
if cold is not None:
    p(f"| cold start ≤ 10 ms (median) | **{ms(cold)}** (p90 {ms(f('cold.entra.p90_ms'))}) | {verdict(None if cold is None else cold <= 10)} |")
if mem256 is not None:
    p(f"| RSS ≤ 20 MB under 256 connections | **{mb(mem256)}** max | {verdict(None if mem256 is None else mem256 <= 20 * 1024)} |")
if nb:
    p(f"| no growth after 100,000 logins ({nb} batches of 100,000+; flat = < 10 B per login overall) | "
      f"{' → '.join(mb(v) for v in rss)}; per batch {', '.join(signed_kb(v) for v in grow)}; "
      f"**{per_login(total_growth, total_logins)}** over {num(total_logins)} logins | {verdict(flat)} |")
if dj_best_rps:
    x = login / dj_best_rps
    dc = f(f"dj.{dj_best}.cpu_us")
    p(f"| `/api/login` ≥ 30× django-microsoft-sso (fastest config) | req/s: {num(login)} / {num(dj_best_rps, 1)} = **{x:,.0f}×**; "
      f"server CPU per login: {us(dc)} / {us(lc)} = {num(dc / lc if dc and lc else None)}× | {verdict(x >= 30)} |")
auth, bare200 = f("auth.rps"), f("bare200.rps")
if auth is not None:
    ar = f("auth.ratio")
    arounds = [float(x) for x in (g("auth.ratio_rounds") or "").split()]
    b2c, auc = f("bare200.cpu_us"), f("auth.cpu_us")
    p(f"| `/api/auth` with a valid session ≥ 50% of a bare warp 200 with the same headers | req/s: **{num(ar * 100 if ar is not None else None, 1)}%** "
      f"(median of the per-round ratios {', '.join(f'{x * 100:.1f}%' for x in arounds)}; medians {num(auth)} / {num(bare200)}); "
      f"server CPU per request: bare / auth = {num(b2c / auc * 100 if b2c and auc else None, 1)}% | {verdict(None if ar is None else ar >= 0.5)} |")
authb = f("authb.rps")
if authb is not None:
    br = f("authb.ratio")
    brounds = [float(x) for x in (g("authb.ratio_rounds") or "").split()]
    p(f"| `/api/auth` with a bearer token ≥ 50% of a bare warp 200 | req/s: **{num(br * 100 if br is not None else None, 1)}%** "
      f"(median of the per-round ratios {', '.join(f'{x * 100:.1f}%' for x in brounds)}; medians {num(authb)} / {num(bare200)}); "
      f"server CPU per request: {us(f('authb.cpu_us'))} | {verdict(None if br is None else br >= 0.5)} |")
cb = f("crit.callback_handler_cpu_idp_excluded")
if cb is not None:
    cbu = f("crit.callback_unpinned")
    p(f"| callback handler CPU ≤ 100 µs (median, criterion, IdP excluded) | **{ns(cb)}** with the dev IdP on the same core; "
      f"{ns(cbu)} unpinned (cross-core wake-ups, see BENCHMARKS.md) | {verdict(cb <= 100_000)} |")
# Section 8: entra-sso proxy against nginx in front of the same app.
px = {w: f(f"px.{w}.rps") for w in ("a", "a2", "b", "c", "c2")}
px_rounds = lambda key: [float(x) for x in (g(key) or "").split()]
pct_list = lambda xs: ", ".join(f"{x * 100:.1f}%" for x in xs)
rba, rba2, rbc, rbc2 = f("px.ratio_b_a"), f("px.ratio_b_a2"), f("px.ratio_b_c"), f("px.ratio_b_c2")
px_hwm, px_max = f("px.b.hwm_kb"), f("px.b.rss_max_kb")
px_before, px_after, px_n = f("px.b.rss_rounds_kb"), f("px.b.rss_after_kb"), f("px.b.leak_requests")
px_growth = None if px_before is None or px_after is None else px_after - px_before
px_flat = None if px_growth is None or not px_n else px_growth * 1024 / px_n < 10
if px["b"] is not None:
    p(f"| `entra-sso proxy` ≥ 80% of nginx `proxy_pass` (no auth) in front of the same app | req/s: **{num(rba * 100 if rba is not None else None, 1)}%** "
      f"(median of the per-round ratios {pct_list(px_rounds('px.ratio_b_a.rounds'))}; medians {num(px['b'])} / {num(px['a'])}); "
      f"CPU per request, front + app: {us(f('px.b.cpu_us'))} / {us(f('px.a.cpu_us'))}; against `keepalive 256` (a2, no connection churn): "
      f"{num(rba2 * 100 if rba2 is not None else None, 1)}% ({num(px['a2'])}) | {verdict(None if rba is None else rba >= 0.8)} |")
    p(f"| `entra-sso proxy` faster than nginx `auth_request` + `entra-sso serve` (the shipped nginx files) | req/s: **{num(rbc, 2)}×** "
      f"(per round {', '.join(f'{x:.2f}×' for x in px_rounds('px.ratio_b_c.rounds'))}; medians {num(px['b'])} / {num(px['c'])}); "
      f"against the pair tuned as a2, with keepalive to serve (c2): {num(rbc2, 2)}× ({num(px['c2'])}) | {verdict(None if rbc is None else rbc > 1)} |")
    p(f"| `entra-sso proxy` RSS ≤ 30 MB at {g('px.conns')} connections | VmHWM **{mb(px_hwm)}**; VmRSS max {mb(px_max)} (sampled every 50 ms under load) | "
      f"{verdict(None if px_hwm is None else px_hwm <= 30 * 1024)} |")
    p(f"| `entra-sso proxy` memory flat over {num(px_n)} proxied requests (flat = < 10 B per request) | {mb(px_before)} → {mb(px_after)}: "
      f"**{signed_kb(px_growth)}**, {'–' if px_growth is None or not px_n else f'{px_growth * 1024 / px_n:+.2f} B/request'} | {verdict(px_flat)} |")
p("")

if bare is not None or login is not None or dj_names:
    p(f"## Login start, requests/s (wrk -t1 -c64 on core 1; server on core 0; the first three: median of {g('bare.rounds').count(' ') + 1 if g('bare.rounds') else '–'} alternating rounds)")
    p("")
    p("| server | config | req/s | p50 | p99 | req/s vs entra-sso | server CPU per request | errors |")
    p("|---|---|---:|---:|---:|---:|---:|---:|")
    p(f"| bare warp 302 (`examples/bare_302.rs`) | same headers: Location {g('login.location_len')} B, Set-Cookie {g('login.cookie_len')} B ({g('bare.answer_bytes')} B answer); 1 tokio worker, {g('bare.threads')} threads | {num(bare)} | {ms(f('bare.p50_ms'))} | {ms(f('bare.p99_ms'))} | {num(bare / login if bare and login else None, 2)}× | {us(f('bare.cpu_us'))} | {g('bare.errors')} |")
    ad = f("adapter.rps")
    p(f"| the same constant 302 through entra-sso's HTTP adapter (`bare_302 --via-adapter`) | `server::run` + a handler returning the constant | {num(ad)} | {ms(f('adapter.p50_ms'))} | {ms(f('adapter.p99_ms'))} | {num(ad / login if ad and login else None, 2)}× | {us(f('adapter.cpu_us'))} | {g('adapter.errors')} |")
    p(f"| **entra-sso `GET /api/login`** | `serve`, `TOKIO_WORKER_THREADS=1` ({g('login.threads')} threads), Entra tenant GUID ({g('login.answer_bytes')} B answer) | **{num(login)}** | {ms(f('login.p50_ms'))} | {ms(f('login.p99_ms'))} | 1 | {us(f('login.cpu_us'))} | {g('login.errors')} |")
    labels = {
        "sync-w1-db": "gunicorn sync -w 1, **database sessions (SQLite) — Django's default**",
        "sync-w1-signed": "gunicorn sync -w 1, signed-cookie sessions",
        "sync-w1-cache": "gunicorn sync -w 1, cache sessions (LocMemCache)",
        "gthread-w1t4-signed": "gunicorn gthread -w 1 --threads 4, signed-cookie sessions",
        "gthread-w1t4-cache": "gunicorn gthread -w 1 --threads 4, cache sessions (LocMemCache)",
    }
    for n in dj_names:
        r = f(f"dj.{n}.rps")
        best = " (fastest)" if n == dj_best else ""
        p(f"| django-microsoft-sso `/microsoft_sso/login/`{best} | {labels.get(n, n)} | {num(r, 1)} | {ms(f(f'dj.{n}.p50_ms'))} | {ms(f(f'dj.{n}.p99_ms'))} | 1/{num(login / r if r and login else None)} | {us(f(f'dj.{n}.cpu_us'))} | {g(f'dj.{n}.errors')} |")
    p("")
    if g("bare.rounds"):
        p(f"Rounds, req/s: bare {g('bare.rounds')}; adapter {g('adapter.rounds')}; login {g('login.rounds')}.  ")
        bc, ac, lc = f("bare.cpu_us"), f("adapter.cpu_us"), f("login.cpu_us")
        if bc and lc:
            parts = lambda w: f"{us(f(w + '.cpu_us'))} ({us(f(w + '.cpu_user_us'))} user + {us(f(w + '.cpu_sys_us'))} system)"
            p(f"Server CPU per request (from /proc/<pid>/stat): bare {parts('bare')}, through the adapter {parts('adapter')}, login {parts('login')}: "
              f"a login costs {lc / bc:.2f}× a bare 302 (a CPU-bound login server reaches {bc / lc * 100:.0f}% of the bare rate); "
              f"of the {us(lc - bc)} extra, the adapter accounts for {us((ac or bc) - bc)}, and {us(lc - (ac or bc))} "
              f"({us(f('login.cpu_user_us') - f('adapter.cpu_user_us'))} user + {us(f('login.cpu_sys_us') - f('adapter.cpu_sys_us'))} system) "
              f"come with the login handler, whose own work criterion puts at {ns(f('crit.login_handler'))} (`login_handler` below).")
        p("")

if g("auth.rps"):
    hl = lambda h: g(f"auth.len.{h}") or "–"
    p(f"## Forward auth `/api/auth`, requests/s (wrk -t1 -c64 on core 1, each request with the session cookie, {g('auth.session_cookie_len')} B; server on core 0; median of {g('auth.rounds').count(' ') + 1} alternating rounds)")
    p("")
    p("| server | config | req/s | p50 | p99 | req/s vs entra-sso | server CPU per request | errors |")
    p("|---|---|---:|---:|---:|---:|---:|---:|")
    p(f"| bare warp 200 (`examples/bare_auth_200.rs`) | the real answer's headers replayed: X-MS-CLIENT-PRINCIPAL {hl('x-ms-client-principal')} B, -ID {hl('x-ms-client-principal-id')} B, -NAME {hl('x-ms-client-principal-name')} B, -IDP {hl('x-ms-client-principal-idp')} B, X-SSO-Assertion {hl('x-sso-assertion')} B ({g('bare200.answer_bytes')} B answer); 1 tokio worker, {g('bare200.threads')} threads | {num(f('bare200.rps'))} | {ms(f('bare200.p50_ms'))} | {ms(f('bare200.p99_ms'))} | {num(f('bare200.rps') / f('auth.rps') if f('bare200.rps') and f('auth.rps') else None, 2)}× | {us(f('bare200.cpu_us'))} | {g('bare200.errors')} |")
    a2 = f("adapter200.rps")
    p(f"| the same constant 200 through entra-sso's HTTP adapter (`bare_auth_200 --via-adapter`) | `server::run` + a handler returning the constant | {num(a2)} | {ms(f('adapter200.p50_ms'))} | {ms(f('adapter200.p99_ms'))} | {num(a2 / f('auth.rps') if a2 and f('auth.rps') else None, 2)}× | {us(f('adapter200.cpu_us'))} | {g('adapter200.errors')} |")
    p(f"| **entra-sso `GET /api/auth`** | `serve`, `TOKIO_WORKER_THREADS=1` ({g('auth.threads')} threads), dev IdP authority, signed in as alice ({g('auth.answer_bytes')} B answer) | **{num(f('auth.rps'))}** | {ms(f('auth.p50_ms'))} | {ms(f('auth.p99_ms'))} | 1 | {us(f('auth.cpu_us'))} | {g('auth.errors')} |")
    if g("authb.rps"):
        p(f"| **entra-sso `GET /api/auth`, bearer** | the same server; `Authorization: Bearer` with the dev IdP's app-only token ({g('authb.token_len')} B), assertion minted from it ({g('authb.answer_bytes')} B answer) | **{num(f('authb.rps'))}** | {ms(f('authb.p50_ms'))} | {ms(f('authb.p99_ms'))} | {num(f('authb.rps') / f('auth.rps') if f('authb.rps') and f('auth.rps') else None, 2)}× | {us(f('authb.cpu_us'))} | {g('authb.errors')} |")
    p("")
    p(f"Rounds, req/s: bare {g('bare200.rounds')}; adapter {g('adapter200.rounds')}; auth {g('auth.rounds')}; bearer {g('authb.rounds')}. "
      f"`/api/auth` after the load: {g('auth.status_after')} (bearer: {g('authb.status_after')}). Headers of the real answer: {g('auth.headers')}.  ")
    b2c, a2c, auc = f("bare200.cpu_us"), f("adapter200.cpu_us"), f("auth.cpu_us")
    if b2c and auc:
        parts = lambda w: f"{us(f(w + '.cpu_us'))} ({us(f(w + '.cpu_user_us'))} user + {us(f(w + '.cpu_sys_us'))} system)"
        p(f"Server CPU per request: bare {parts('bare200')}, through the adapter {parts('adapter200')}, `/api/auth` {parts('auth')}: "
          f"of the {us(auc - b2c)} extra, the adapter accounts for {us((a2c or b2c) - b2c)} and the handler for {us(auc - (a2c or b2c))}. "
          f"Every request carries the same cookie, so this is the repeated-session case (a per-instance cache of verified tokens may answer it); "
          f"criterion's `session_verify` is the first-seen case.")
    p("")

if px["b"] is not None:
    p(f"## Reverse proxy in front of one app, requests/s (wrk -t1 -c{g('px.conns')} on core 1, {g('px.dur')}-s runs, median of {len(px_rounds('px.b.rounds'))} alternating rounds; "
      f"the app, the front and entra-sso serve all on core 0)")
    p("")
    p("The app is `examples/bare_upstream_200.rs` (hyper 1, one tokio worker: `200`, 13-byte body), the same process for every front. "
      f"Every request carries a session cookie ({g('px.b.cookie_len')} B; a sends b's). CPU per request from /proc: the front's process groups, the app's, and their sum.")
    p("")
    p("| front | config | req/s | p50 | p99 | b vs this | CPU/request: front | app | total | app connections opened per run | errors |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    px_label = {
        "a": ("a. nginx `proxy_pass`, no sign-in", f"nginx {g('px.nginx')}, 1 worker process; `upstream {{ keepalive 64; }}`, `proxy_http_version 1.1`, `Connection \"\"`; Host, X-Forwarded-For, -Proto set"),
        "a2": ("a2. the same with `keepalive 256`", "enough idle connections to the app for 256 requests in flight"),
        "b": ("**b. `entra-sso proxy`**, signed in as alice", f"`TOKIO_WORKER_THREADS=1` ({g('px.b.threads')} threads); pooled HTTP/1.1 client to the app; identity headers added"),
        "c": ("c. nginx `auth_request` + `entra-sso serve`, signed in as alice", "`examples/nginx/entra-sso-server.conf` and `entra-sso-protect.conf` included unchanged (a new connection to serve per subrequest: nginx sends `Connection: close`); "
              f"serve `TOKIO_WORKER_THREADS=1` ({g('px.serve.threads')} threads); the app as in a; front CPU = nginx + serve"),
        "c2": ("c2. the same, tuned as a2, with keepalive to serve", "a copy of `entra-sso-server.conf` with `proxy_http_version 1.1` and `Connection \"\"` in the subrequest location; `keepalive 256` to serve and to the app"),
    }
    for w in ("a", "a2", "b", "c", "c2"):
        name, cfg = px_label[w]
        rw = px[w]
        vs = "1" if w == "b" else num(px["b"] / rw if rw and px["b"] else None, 2) + "×"
        p(f"| {name} | {cfg} | {'**' + num(rw) + '**' if w == 'b' else num(rw)} | {ms(f(f'px.{w}.p50_ms'))} | {ms(f(f'px.{w}.p99_ms'))} | {vs} | "
          f"{us(f(f'px.{w}.front_cpu_us'))} | {us(f(f'px.{w}.app_cpu_us'))} | {us(f(f'px.{w}.cpu_us'))} | {num(f(f'px.{w}.app_conns'))} | {g(f'px.{w}.errors')} |")
    p("")
    p(f"Rounds, req/s: a {g('px.a.rounds')}; a2 {g('px.a2.rounds')}; b {g('px.b.rounds')}; c {g('px.c.rounds')}; c2 {g('px.c2.rounds')}.  ")
    p(f"b / a per round: {pct_list(px_rounds('px.ratio_b_a.rounds'))} (median **{num(rba * 100 if rba is not None else None, 1)}%**); "
      f"b / a2: {pct_list(px_rounds('px.ratio_b_a2.rounds'))} (median {num(rba2 * 100 if rba2 is not None else None, 1)}%); "
      f"b / c: {', '.join(f'{x:.2f}×' for x in px_rounds('px.ratio_b_c.rounds'))} (median **{num(rbc, 2)}×**); "
      f"b / c2: {', '.join(f'{x:.2f}×' for x in px_rounds('px.ratio_b_c2.rounds'))} (median {num(rbc2, 2)}×).  ")
    p(f"Request headers reaching the app (name + value bytes): a {g('px.a.app_header_bytes')} B, b {g('px.b.app_header_bytes')} B, c {g('px.c.app_header_bytes')} B; "
      f"behind b: {g('px.b.app_headers')}; behind c: {g('px.c.app_headers')}.  ")
    p(f"Signed out (no cookie): a {g('px.a.signed_out')}, b {g('px.b.signed_out')}, c {g('px.c.signed_out')}; with the cookie after the load: "
      f"a {g('px.a.status_after')}, a2 {g('px.a2.status_after')}, b {g('px.b.status_after')}, c {g('px.c.status_after')}, c2 {g('px.c2.status_after')}. "
      f"Answer bytes (curl -si): a {g('px.a.answer_bytes')}, b {g('px.b.answer_bytes')}, c {g('px.c.answer_bytes')}.")
    p("")
    p("Memory of `entra-sso proxy` (b; VmRSS from /proc/<pid>/status):")
    p("")
    p("| when | RSS |")
    p("|---|---:|")
    p(f"| started and signed in, idle | {mb(f('px.b.rss_start_kb'))} |")
    p(f"| after the warm-up runs | {mb(f('px.b.rss_warm_kb'))} |")
    p(f"| after the measured rounds ({num(f('px.b.requests_rounds'))} requests through b) | {mb(px_before)} |")
    p(f"| max under `wrk -c{g('px.conns')}` during the memory runs (sampled every 50 ms) | **{mb(px_max)}** |")
    p(f"| after {num(px_n)} more requests (`wrk -c{g('px.conns')}`, {g('px.b.leak_errors')} errors) | {mb(px_after)} ({signed_kb(px_growth)}, "
      f"{'–' if px_growth is None or not px_n else f'{px_growth * 1024 / px_n:+.2f} B/request'}) |")
    p(f"| VmHWM (peak) at the end | **{mb(px_hwm)}** |")
    p("")
    p(f"Threads: b {g('px.b.threads')} at start, {g('px.b.threads_after')} at the end; with the cookie after the memory runs: {g('px.b.status_after_leak')}; "
      f"connections the app accepted in all: {g('px.app.accepted')}.")
    p("")

if g("flow.flows_per_s"):
    p("## Complete sign-in (login → dev IdP → callback), `entra-sso dev`")
    p("")
    p("| what | flows/s | p50 per flow | p99 per flow | server CPU per flow | flows | errors |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    p(f"| app + dev IdP in one process on core 0 (1 tokio worker); `flow_load` 32 workers on core 1 | **{num(f('flow.flows_per_s'), 1)}** | {ms(f('flow.p50_ms'))} | {ms(f('flow.p99_ms'))} | {us(f('flow.cpu_us'))} | {num(f('flow.flows'))} | {g('flow.errors')} |")
    p("")
    p("Each flow is three requests; the dev IdP's RS256 signature (RSA-2048, one per ID token) runs in the same process and is most of the server's CPU per flow.")
    p("")

if cold is not None or g("cold.django.median_ms"):
    p("## Cold start: process start to the first `302` of the login URL")
    p("")
    p("| server | median | p90 | min | max | starts |")
    p("|---|---:|---:|---:|---:|---:|")
    p(f"| **entra-sso serve** (default runtime) | **{ms(cold)}** | {ms(f('cold.entra.p90_ms'))} | {ms(f('cold.entra.min_ms'))} | {ms(f('cold.entra.max_ms'))} | {g('cold.entra.runs')} |")
    if g("cold.django.median_ms"):
        p(f"| django-microsoft-sso, gunicorn sync -w 1 | {ms(f('cold.django.median_ms'))} | {ms(f('cold.django.p90_ms'))} | {ms(f('cold.django.min_ms'))} | {ms(f('cold.django.max_ms'))} | {g('cold.django.runs')} |")
    p("")

if g("mem.idle_kb"):
    p("## Memory of `entra-sso serve` (VmRSS; default runtime, not pinned)")
    p("")
    p("| when | RSS | threads |")
    p("|---|---:|---:|")
    p(f"| idle after start | {mb(f('mem.idle_kb'))} | {g('mem.threads_idle')} |")
    p(f"| max under `wrk -c256` ({num(f('mem.requests_256'))} logins, sampled every 50 ms) | **{mb(mem256)}** | {g('mem.threads_256')} |")
    p(f"| after that run (before the batches) | {mb(before)} | |")
    for b in range(nb):
        p(f"| after batch {b + 1}: {num(logins[b])} more logins (`wrk -c64`) | {mb(rss[b + 1])} ({signed_kb(grow[b])}, {per_login(grow[b], logins[b])}) | |")
    p("")

crit = [("state_mint", "state token mint (HS256)"), ("state_verify", "state token verify"),
        ("session_mint", "session token mint"), ("session_verify", "session token verify"),
        ("login_handler", "`/api/login` handler (no HTTP)"), ("id_token_verify_rs256", "ID token verify (RS256, 2048-bit)"),
        ("id_token_verify_rs256_after_1500us_sleep", "the same, each after the thread slept 1.5 ms (thread CPU time)"),
        ("callback_handler_cpu_idp_excluded", "callback handler, CPU time, dev IdP in another process on the same core"),
        ("callback_unpinned", "the same, not pinned: the IdP's answers usually wake the other, idle core")]
if any(g(f"crit.{k}") for k, _ in crit):
    p("## Criterion microbenchmarks (`cargo bench --bench core`, medians)")
    p("")
    p("| benchmark | median |")
    p("|---|---:|")
    for k, label in crit:
        p(f"| `{k}`: {label} | {ns(f(f'crit.{k}'))} |")
    p("")

if g("django.versions"):
    p(f"Incumbent: {g('django.versions')}, {g('django.python')}; the package's per-login OpenID discovery GET is answered by a local stub (see BENCHMARKS.md).")
    p("")
p("Reproduce: `bash bench/run.sh` (raw outputs in `bench/results/raw/`).")

text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
sys.stdout.write(text)
PY
