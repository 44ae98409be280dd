#!/usr/bin/env bash
# Run Prometheus locally against a gateway on 127.0.0.1:8080, with the alert
# rules from ops/prometheus/. Needs `prometheus` and `promtool` on PATH
# (Debian/Ubuntu: apt-get install prometheus; then stop the packaged service,
# or pick another port with PROM_LISTEN).
#
#   ops/scripts/run-local-monitoring.sh            # checks, then runs in the foreground
#   PROM_LISTEN=127.0.0.1:9091 ops/scripts/run-local-monitoring.sh
#
# Then open http://127.0.0.1:9090/targets and /alerts. Data lives in a
# temporary directory that is removed on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$here/prometheus/prometheus.yml"
listen="${PROM_LISTEN:-127.0.0.1:9090}"

for tool in prometheus promtool; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found on PATH" >&2; exit 1; }
done

promtool check config "$config"
promtool test rules "$here/prometheus/alerts_test.yml"

if ! curl -fsS -o /dev/null "http://127.0.0.1:8080/healthz" 2>/dev/null; then
  echo "note: no gateway answers on 127.0.0.1:8080 yet; start it with 'gateway serve'" >&2
fi

data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
echo "Prometheus on http://$listen (data in $data)"
prometheus \
  --config.file="$config" \
  --storage.tsdb.path="$data" \
  --web.listen-address="$listen"
