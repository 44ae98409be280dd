#!/usr/bin/env bash
# Runs schemathesis (https://schemathesis.readthedocs.io) against a gateway on a fresh PostgreSQL
# database, once as a super admin and once as a staff user, with the checks not_a_server_error,
# status_code_conformance, content_type_conformance and response_schema_conformance. Fails when
# any check fails. Bounded in time (SCHEMATHESIS_MAX_TIME seconds per run, default 100).
#
# Needs: a built `gateway` binary (built here if missing), PostgreSQL at TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/postgres), psql, curl, and python3. Schemathesis is
# installed into target/schemathesis-venv when it is not there yet.
#
# Not exercised: the notification stream (it never ends by design) and logout (it would end the
# run's own session). Hypothesis's health checks judge the generator, not the API (the webhook
# forms, documented as signed strings, filter most generated data), so they are suppressed: on a
# busy 2-core machine they would make the run flaky without saying anything about the gateway.
set -euo pipefail
cd "$(dirname "$0")/../.."

ADMIN_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-100}
PORT=${SCHEMATHESIS_PORT:-18097}
VENV=target/schemathesis-venv
DB="schemathesis_$$"
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "installing schemathesis into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet schemathesis
fi

cargo build --quiet -p gateway --bin gateway
GATEWAY=target/debug/gateway

GATEWAY_PID=""
cleanup() {
  if [ -n "$GATEWAY_PID" ]; then
    kill "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="${ADMIN_URL%/*}/$DB"
export GATEWAY_LISTEN="127.0.0.1:$PORT"
export GATEWAY_DATA_DIR="$WORK"
export RUST_LOG=warn

"$GATEWAY" migrate >/dev/null
"$GATEWAY" create-admin --username st-root --password 'st-root-password-1' >/dev/null
"$GATEWAY" demo >/dev/null
"$GATEWAY" serve >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$BASE/readyz" >/dev/null

token() {
  curl -fsS "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

run() {
  local who=$1 bearer=$2
  echo "schemathesis as $who (at most ${MAX_TIME}s)"
  "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
    --header "Authorization: Bearer $bearer" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path /v1/notifications/stream \
    --exclude-path /v1/auth/logout \
    --max-time "$MAX_TIME" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
    --request-timeout 10 \
    --suppress-health-check all \
    --workers 1 \
    --seed "${SCHEMATHESIS_SEED:-12}" \
    --no-color \
    --report junit --report-dir "target/schemathesis-report/$who"
}

status=0
run super_admin "$(token st-root st-root-password-1)" || status=1
run staff "$(token demo-nurse demo-password-1)" || status=1
if grep -q "internal error" "$WORK/gateway.log"; then
  echo "the gateway logged internal errors:" >&2
  grep "internal error" "$WORK/gateway.log" | head -20 >&2
  status=1
fi
exit $status
