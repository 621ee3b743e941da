#!/usr/bin/env bash
# Benchmarks the packaged WebAssembly authorizer against aws-jwt-verify in Node (see
# edge/js/bench/authorizer.mjs): packages viewer-request.zip with an issuer on loopback,
# installs aws-jwt-verify from edge/js/bench/package-lock.json, and prints the table.
# Options go to the benchmark: --n REQUESTS_PER_ROUND (default 2000), --cold STARTS (15).
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/config.toml" <<TOML
[auth]
mode = "oidc"
issuer = "http://127.0.0.1:$port"
audiences = ["dicomweb-bench"]
algorithms = ["RS256"]
[healthimaging]
region = "us-east-1"
datastores = ["0123456789abcdef0123456789abcdef"]
TOML
cargo xtask package --config "$work/config.toml" --out "$work/dist" --edge-only >/dev/null
python3 -m zipfile -e "$work/dist/viewer-request.zip" "$work/viewer"
(cd edge/js/bench && npm ci --silent --no-audit --no-fund)
node edge/js/bench/authorizer.mjs --viewer "$work/viewer" --zip "$work/dist/viewer-request.zip" \
  --port "$port" "$@"
