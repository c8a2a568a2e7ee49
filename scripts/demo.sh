#!/usr/bin/env bash
# The demo: the legacy ERP (SOAP) and the shipping API (REST) simulators, and the hub with the example flows
# on its embedded defaults (no Redis, no broker). Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
node dist/sim/legacy-erp.js & pids+=($!)
node dist/sim/shipping-api.js & pids+=($!)
node bin/hub.js run "$@"
