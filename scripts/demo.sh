#!/usr/bin/env bash
# The demo: the legacy ERP (SOAP) and the shipping API (REST) simulators, and the hub with the example flows
# on its embedded defaults (no Redis, no broker). Ctrl-C stops them all. The hub prints a one-time link that logs a
# browser in to the admin console (its admin token is in .hub/admin-token, where `npx hub ...` commands find it).
#
#   bash scripts/demo.sh [hub run options]              hub mode: one process, every flow on port 8080
#   DEMO_MODE=flow bash scripts/demo.sh [options]       flow mode: one `hub run --flow` process per flow, each on
#                                                       its own port (orders-api 8181, order-status-api 8182,
#                                                       shipping-quote-soap 8183) with its own journal folder
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${DEMO_MODE:-hub}"
case "$mode" in
  hub | flow) ;;
  *) echo "demo: DEMO_MODE must be hub or flow (got \"$mode\")" >&2; exit 2 ;;
esac
bash scripts/ensure-deps.sh
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
node dist/sim/legacy-erp.js & pids+=($!)
node dist/sim/shipping-api.js & pids+=($!)
if [ "$mode" = hub ]; then
  node bin/hub.js run "$@"
else
  port=8181
  for flow in orders-api order-status-api shipping-quote-soap; do
    echo "demo: flow $flow on http://127.0.0.1:$port" >&2
    node bin/hub.js run --flow "$flow" --port "$port" "$@" & pids+=($!)
    port=$((port + 1))
  done
  # One service that stops (a port taken, a bad flag) ends the demo rather than leaving it half up.
  wait -n
fi
