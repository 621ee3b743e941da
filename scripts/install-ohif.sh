#!/usr/bin/env bash
# What the OHIF end-to-end test needs: Debian's Chromium, playwright-core and pngjs
# (tests/ohif/package-lock.json), and the prebuilt viewer (scripts/viewer.sh).
# Prints the path of the viewer's dist/ folder on stdout, and nothing else there.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 3>&1 1>&2

if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/ohif && npm ci --no-audit --no-fund --silent)
scripts/viewer.sh >&3
