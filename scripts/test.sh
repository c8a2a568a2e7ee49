#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds, lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/services.sh
bash scripts/chromium.sh
echo "== type check (tests included)"
npx tsc -p tsconfig.test.json
echo "== import cycles"
npx madge --circular --extensions ts --ts-config tsconfig.json src adapters sim
echo "== hub validate flows/ flows/brokers/ flows/compare/ flows/patterns/"
node bin/hub.js validate flows/ flows/brokers/ flows/compare/ flows/patterns/
echo "== hub test flows (every example flow's test cases)"
node bin/hub.js test flows
echo "== tests"
npx vitest run "$@"
