#!/usr/bin/env bash
# Make sure Debian's Chromium is present for the browser tests (Playwright cannot download browsers
# on our machines, so it drives /usr/bin/chromium).  Installs it with apt-get when running as root;
# otherwise says what to do.  The browser tests skip without it, unless ACTVIZ_REQUIRE_BROWSER=1.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing Chromium for the browser tests (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "Chromium is not installed at /usr/bin/chromium; browser tests will be skipped." >&2
echo "Install it with: sudo apt-get install -y chromium" >&2
if [ "${ACTVIZ_REQUIRE_BROWSER:-0}" = 1 ]; then
  exit 1
fi
