#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the admin console's browser test
# (test/console.browser.test.ts drives it with playwright-core; a browser download by Playwright does not work here).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then exit 0; fi

echo "chromium: $CHROMIUM is missing; installing Debian's chromium package"
if ! command -v apt-get >/dev/null; then
  echo "chromium: no apt-get here: install Chromium so that $CHROMIUM exists (the console's browser test needs it)" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO=(sudo -n); else
    echo "chromium: not root and no sudo: run 'apt-get install -y --no-install-recommends chromium' as root (the console's browser test needs $CHROMIUM)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get install -y --no-install-recommends chromium >/tmp/chromium-install.log 2>&1 \
       || { "${SUDO[@]}" apt-get update >>/tmp/chromium-install.log 2>&1 && "${SUDO[@]}" apt-get install -y --no-install-recommends chromium >>/tmp/chromium-install.log 2>&1; }; }; then
  tail -n 20 /tmp/chromium-install.log >&2
  echo "chromium: 'apt-get install chromium' failed (log above, whole log in /tmp/chromium-install.log); the console's browser test needs $CHROMIUM" >&2
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "chromium: the chromium package is installed but $CHROMIUM is not there" >&2
  exit 1
fi
echo "chromium: $("$CHROMIUM" --version 2>/dev/null || echo installed)"
