#!/usr/bin/env bash
# What building the workspace needs beyond the Rust toolchain and a C compiler: CMake, which
# builds the C and C++ libraries of two decoders from the sources their crates carry (CharLS
# for JPEG-LS, libjpeg-turbo for 12-bit JPEG), and NASM for libjpeg-turbo's SIMD code. From
# Debian's packages where they are missing (as root); elsewhere it says what to install.
set -euo pipefail
missing=""
for tool in cmake nasm; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 ||
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null))
else
  echo "building dicomweb-edge needs:$missing (Debian/Ubuntu: sudo apt-get install$missing)" >&2
  exit 1
fi
