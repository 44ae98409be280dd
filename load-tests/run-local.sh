#!/usr/bin/env bash
# Runs one bounded load scenario against a fresh local gateway, then stops it.
#
#   load-tests/run-local.sh [--store sqlite|postgres] [--port N] [--perf FILE] [--] SCENARIO [ARGS...]
#
# e.g. load-tests/run-local.sh --store postgres -- inbound --patients 20 --rate 200 --duration 20
#      load-tests/run-local.sh --store postgres -- inbound-closed --rounds 2 --duration 20
#
# Builds the release gateway and load generator, starts the gateway on 127.0.0.1 with a temporary
# data directory (embedded SQLite) or a fresh PostgreSQL database (created here and dropped at the
# end; server from TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres), seeds
# it with `gateway demo`, creates a throw-away super admin (random password, for the dev outbox),
# captures the dev webhook token from the gateway's stderr into a private file, runs the scenario,
# stops the gateway and prints the summary. The exit status is the load generator's.
#
# The `readings` scenario needs a carrier: the gateway gets throw-away Twilio credentials
# (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) and TWILIO_API_BASE pointing at the fake Twilio Messages
# API that the load generator runs on 127.0.0.1:(port+1), so its real Twilio client sends the
# alert texts there. The auth token then also signs webhooks, so it stands in for the dev token.
#
# `inbound-closed` gets the gateway's pid (for its CPU time and memory) and, unless the arguments
# name one, a baseline on the same kind of store as the gateway (`--baseline sqlite|postgres`).
# `--perf FILE` records a CPU profile of the gateway with `perf record -g` while the scenario runs
# (read it with `perf report -i FILE`).
set -euo pipefail

store=sqlite
port=18080
perf_out=""
perf_pid=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --store) store="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --perf) perf_out="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
[[ $# -gt 0 ]] || { echo "usage: $0 [--store sqlite|postgres] [--port N] [--] SCENARIO [ARGS...]" >&2; exit 2; }
case "$store" in sqlite|postgres) ;; *) echo "--store must be sqlite or postgres" >&2; exit 2 ;; esac

root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet -p gateway -p load-tests)
gateway="$CARGO_TARGET_DIR/release/gateway"
loadgen="$CARGO_TARGET_DIR/release/load-tests"

work="$(mktemp -d)"
chmod 700 "$work"
gateway_pid=""
database=""
pg_admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

cleanup() {
    if [[ -n "$perf_pid" ]] && kill -0 "$perf_pid" 2>/dev/null; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    if [[ -n "$gateway_pid" ]] && kill -0 "$gateway_pid" 2>/dev/null; then
        kill -TERM "$gateway_pid" 2>/dev/null || true
        wait "$gateway_pid" 2>/dev/null || true
    fi
    if [[ -n "$database" ]]; then
        psql "$pg_admin" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

unset TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_API_BASE PUBLIC_BASE_URL
unset LOAD_CARRIER_ACCOUNT_SID LOAD_CARRIER_AUTH_TOKEN
export GATEWAY_LISTEN="127.0.0.1:$port"
scenario_args=()
fake_carrier=""
if [[ "$1" == readings ]]; then
    fake_carrier="127.0.0.1:$((port + 1))"
    random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
    export PUBLIC_BASE_URL="http://$GATEWAY_LISTEN"
    export TWILIO_API_BASE="http://$fake_carrier"
    export TWILIO_ACCOUNT_SID="AC$(random_hex 16)"
    export TWILIO_AUTH_TOKEN="$(random_hex 16)"
    export LOAD_CARRIER_ACCOUNT_SID="$TWILIO_ACCOUNT_SID" LOAD_CARRIER_AUTH_TOKEN="$TWILIO_AUTH_TOKEN"
    scenario_args=(--carrier-listen "$fake_carrier")
fi
export GATEWAY_DATA_DIR="$work/data"
export RUST_LOG="${RUST_LOG:-warn}"
if [[ "$store" == postgres ]]; then
    database="load_$(date +%s)_$$"
    psql "$pg_admin" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$database\"" >/dev/null
    base="${pg_admin%/*}"
    export DATABASE_URL="$base/$database"
else
    unset DATABASE_URL
fi

"$gateway" demo >/dev/null
super_password="load-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')-1"
"$gateway" create-admin --username load-super --password "$super_password" >/dev/null

"$gateway" serve 2>"$work/gateway.err" >/dev/null &
gateway_pid=$!

# The dev token line appears once the listener is bound. With carrier credentials there is none:
# the auth token signs webhooks.
token_file="$work/webhook-token"
if [[ -n "$fake_carrier" ]]; then
    (umask 077; printf '%s\n' "$TWILIO_AUTH_TOKEN" >"$token_file")
fi
for _ in $(seq 1 300); do
    [[ -n "$fake_carrier" ]] && break
    if grep -q 'dev webhook token' "$work/gateway.err" 2>/dev/null; then
        (umask 077; sed -n 's/^dev webhook token (sign test webhooks with it): //p' "$work/gateway.err" | head -n1 >"$token_file")
        break
    fi
    kill -0 "$gateway_pid" 2>/dev/null || { echo "the gateway exited during start-up:" >&2; grep -v 'webhook token' "$work/gateway.err" >&2; exit 2; }
    sleep 0.1
done
[[ -s "$token_file" ]] || { echo "no dev webhook token on the gateway's stderr" >&2; exit 2; }
for _ in $(seq 1 300); do
    curl -fsS "http://$GATEWAY_LISTEN/readyz" >/dev/null 2>&1 && break
    kill -0 "$gateway_pid" 2>/dev/null || { echo "the gateway exited during start-up:" >&2; grep -v 'webhook token' "$work/gateway.err" >&2; exit 2; }
    sleep 0.1
done

if [[ "$1" == inbound-closed ]]; then
    scenario_args+=(--gateway-pid "$gateway_pid")
    [[ " $* " == *" --baseline "* ]] || scenario_args+=(--baseline "$store")
fi
if [[ -n "$perf_out" ]]; then
    perf record -g -F 499 -p "$gateway_pid" -o "$perf_out" >/dev/null 2>"$work/perf.err" &
    perf_pid=$!
fi

echo "gateway on http://$GATEWAY_LISTEN ($store store${fake_carrier:+, Twilio client to the fake carrier on $fake_carrier}); running: load-tests $*" >&2
status=0
LOAD_SUPER_USER=load-super LOAD_SUPER_PASSWORD="$super_password" \
    "$loadgen" "$@" ${scenario_args[@]+"${scenario_args[@]}"} --target "http://$GATEWAY_LISTEN" \
    --webhook-token-file "$token_file" --label "$store" || status=$?

if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf_pid=""
    echo "perf profile of the gateway in $perf_out (perf report -i $perf_out)" >&2
fi
kill -TERM "$gateway_pid" 2>/dev/null || true
wait "$gateway_pid" 2>/dev/null || true
gateway_pid=""
if grep -Eq ' (ERROR|error) ' "$work/gateway.err"; then
    echo "gateway errors during the run (first 5):" >&2
    grep -E ' (ERROR|error) ' "$work/gateway.err" | grep -v 'webhook token' | head -n 5 >&2
fi
exit "$status"
