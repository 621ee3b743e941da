#!/usr/bin/env bash
# Fetches the prebuilt OHIF viewer (npm @ohif/app, its dist/ only, without the package's
# build dependencies) into .cache/ohif/<version>, where `dicomweb-edge serve` finds it and
# serves it at /. The tarball's SHA-512 is checked against the value pinned here (the
# registry's dist.integrity for this version) before it is unpacked. Needs npm.
# Prints the path of the viewer's dist/ folder on stdout, and nothing else there.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 3>&1 1>&2

version=3.13.2
integrity=sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==
dist=.cache/ohif/$version
if [ ! -f "$dist/package/dist/index.html" ]; then
  command -v npm >/dev/null || { echo "scripts/viewer.sh needs npm (Node.js)"; exit 1; }
  rm -rf "$dist" && mkdir -p "$dist"
  (cd "$dist" && npm pack --silent "@ohif/app@$version" >/dev/null)
  tarball=$(ls "$dist"/ohif-app-*.tgz)
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "the @ohif/app@$version tarball does not match its pinned SHA-512 ($got)"
    rm -rf "$dist"
    exit 1
  fi
  (cd "$dist" && tar xzf ohif-app-*.tgz && rm ohif-app-*.tgz)
fi
echo "$PWD/$dist/package/dist" >&3
