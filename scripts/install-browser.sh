#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it; no browser
# download), and a font with Arabic glyphs for readable screenshots.
set -euo pipefail
fonts=$(fc-list : family 2>/dev/null || true)
if command -v chromium >/dev/null 2>&1 && grep -qi "Noto Naskh Arabic" <<<"$fonts"; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium and fonts-noto-core for the browser tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core >/dev/null
else
  echo "note: browser tests need Chromium: sudo apt-get install -y chromium fonts-noto-core" >&2
fi
