#!/usr/bin/env bash
# System packages the tests use, from Debian: Chromium for the browser tests
# (Playwright drives it; no browser download), a font with Arabic glyphs for
# readable screenshots, and nginx for the two-replica test (deploy/nginx/).
set -euo pipefail
fonts=$(fc-list : family 2>/dev/null || true)
if command -v chromium >/dev/null 2>&1 && grep -qi "Noto Naskh Arabic" <<<"$fonts" \
   && { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium, fonts-noto-core and nginx-light for the tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core nginx-light >/dev/null
else
  echo "note: the browser and replica tests need: sudo apt-get install -y chromium fonts-noto-core nginx-light" >&2
fi
