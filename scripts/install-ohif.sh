#!/usr/bin/env bash
# What the OHIF end-to-end test needs: Debian's Chromium, playwright-core and pngjs
# (tests/ohif/package-lock.json), and the prebuilt viewer from npm @ohif/app (its dist/,
# unpacked into .cache/ohif without the package's build dependencies).
# Prints the path of the viewer's dist/ folder on stdout, and nothing else there.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 3>&1 1>&2

ohif_version=3.13.2
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/ohif && npm ci --no-audit --no-fund --silent)
dist=.cache/ohif/$ohif_version
if [ ! -f "$dist/package/dist/index.html" ]; then
  rm -rf "$dist" && mkdir -p "$dist"
  (cd "$dist" && npm pack --silent "@ohif/app@$ohif_version" >/dev/null && tar xzf ohif-app-*.tgz && rm ohif-app-*.tgz)
fi
echo "$PWD/$dist/package/dist" >&3
