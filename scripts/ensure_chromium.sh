#!/usr/bin/env bash
# The console's browser tests drive Debian's Chromium with Playwright (no browser download).
# Installs the `chromium` package when it is missing and we are root on a Debian-like system;
# otherwise says how, and the browser tests skip (outside CI) with that reason.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: apt-get install chromium (console browser tests)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
else
  echo "ensure_chromium: no Chromium; the console browser tests will skip. Install it:" >&2
  echo "ensure_chromium:   sudo apt-get install chromium" >&2
fi
