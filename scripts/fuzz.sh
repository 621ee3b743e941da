#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that reads outside input (fuzz/, cargo-fuzz with
# libFuzzer; the targets' bodies are in fuzz-cases/). Installs cargo-fuzz if needed. On the
# stable toolchain: without a sanitizer (`-s none`) cargo-fuzz needs no nightly flags; Rust
# code is memory-safe outside `unsafe`, so the findings are panics, hangs, huge allocations
# (`-rss_limit_mb`) and failed assertions, which is what the targets check.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, every target)
# Each target's corpus grows in fuzz/corpus/TARGET (minimised afterwards with `cmin`, so
# what is committed stays small); a crash is written to fuzz/artifacts/TARGET/ and the run
# stops. Prints executions and new corpus entries per target.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(route frame_list accept multipart cloudfront_event jwt dicom_json qido sigv4 dicom_import byte_range)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build -s none --release
for t in "${targets[@]}"; do
  before=$(ls "corpus/$t" | wc -l)
  log=$(mktemp)
  cargo fuzz run -s none --release "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -max_len=65536 \
    -print_final_stats=1 >"$log" 2>&1 || {
    tail -40 "$log"
    echo "fuzz target $t failed; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  }
  runs=$(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cargo fuzz cmin -s none --release "$t" "corpus/$t" >/dev/null 2>&1
  after=$(ls "corpus/$t" | wc -l)
  echo "$t: $runs executions in ${seconds} s, 0 crashes, corpus $before -> $after"
  rm -f "$log"
done
