#!/usr/bin/env bash
# Benchmark: per-frame decode of a 512x512 16-bit HTJ2K frame to Explicit VR LE by the
# translator (dicom-rs + OpenJPEG), against OpenJPH (the HTJ2K reference library, Debian's
# libopenjph-dev) on the same codestream, in the same run. Prints both times and the ratio.
# Installs libopenjph-dev and openjph-tools (ojph_compress makes the codestream).
# Usage: scripts/bench-decode.sh [ITERATIONS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
if ! [ -e /usr/include/openjph/ojph_codestream.h ] || ! command -v ojph_compress >/dev/null; then
  apt-get install -y -qq libopenjph-dev openjph-tools >/dev/null 2>&1 ||
    (apt-get update -qq && apt-get install -y -qq libopenjph-dev openjph-tools >/dev/null)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A CT-like 512x512 16-bit phantom (ellipses with noise), as PGM for ojph_compress.
python3 - "$work/frame.pgm" <<'PY'
import random, struct, sys
w = h = 512
random.seed(1)
rows = []
for y in range(h):
    row = []
    for x in range(w):
        dx, dy = (x - 256) / 220, (y - 256) / 180
        v = 1000 if dx * dx + dy * dy < 1 else 0
        dx2, dy2 = (x - 200) / 40, (y - 230) / 60
        v += 400 if dx2 * dx2 + dy2 * dy2 < 1 else 0
        row.append(max(0, min(4095, v + random.randint(-20, 20) + (x + y) % 7)))
    rows.append(struct.pack(">%dH" % w, *row))
with open(sys.argv[1], "wb") as f:
    f.write(b"P5\n%d %d\n4095\n" % (w, h))
    f.write(b"".join(rows))
PY
ojph_compress -i "$work/frame.pgm" -o "$work/frame.j2c" -reversible true -prog_order RPCL >/dev/null
g++ -O2 -o "$work/ojph_decode" scripts/bench/ojph_decode.cpp -lopenjph
cargo build --release -q -p translator --bench decode 2>/dev/null || true
bench=$(cargo bench -q -p translator --bench decode --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "decode" and m.get("executable"):
        print(m["executable"])')
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "codestream: 512x512x16 HTJ2K reversible RPCL, $(stat -c %s "$work/frame.j2c") bytes; $n iterations"
for round in 1 2 3; do
  ours=$("$bench" "$work/frame.j2c" 512 512 "$n")
  ref=$("$work/ojph_decode" "$work/frame.j2c" "$n")
  python3 -c "print(f'round $round: translator {float(\"$ours\"):.0f} us/frame, OpenJPH {float(\"$ref\"):.0f} us/frame, ratio {float(\"$ours\")/float(\"$ref\"):.2f}')"
done
