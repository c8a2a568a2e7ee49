#!/usr/bin/env bash
# Installs the locked dependencies when they are missing or stale (always on CI), then builds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CI:-}" ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
