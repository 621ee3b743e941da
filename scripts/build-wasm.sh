#!/usr/bin/env bash
# Compiles the Lambda@Edge module (`edge-wasm`: the edge cores of the `edge` crate, no tokio
# runtime and no sockets) for wasm32-unknown-unknown and prints its path. Use `cargo xtask wasm`, which runs this and then trims and checks the module.
# Uses a rustup wasm32 target where one is installed; otherwise installs Debian's Rust
# toolchain with its standard-library source and builds std for wasm32 with it
# (docs/testing.md). Extra arguments go to cargo (e.g. `--message-format json`).
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-unknown-unknown
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-$PWD/target/wasm32}"
args=(build --profile wasm --locked -p edge-wasm --target "$target")

# The edge cores must not pull in a runtime or sockets. (tokio is there with only its `sync`
# feature, through aws-sigv4's credential types; no crate below may add an executor or I/O.)
tree=$(cargo tree --locked -p edge-wasm --target "$target" -e normal,features --prefix none)
if bad=$(grep -E '^(mio|socket2|hyper|reqwest|axum|tokio feature "(rt|net|io-util|time|fs|process|signal)")' <<<"$tree"); then
  echo "the wasm32 build of edge depends on I/O crates:" >&2
  sort -u <<<"$bad" >&2
  exit 1
fi

if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  cargo "${args[@]}" "$@"
else

  if [ ! -x /usr/bin/rustc ] || [ ! -x /usr/bin/cargo ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
    echo "installing Debian's Rust toolchain for $target (rustc-web, cargo-web, rust-web-src, lld)" >&2
    apt-get update -qq
    apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 >/dev/null
  fi
  # rustup's rustc comes first on PATH; -Zbuild-std needs the rustc that matches the source.
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo "${args[@]}" \
    -Zbuild-std=std,panic_abort "$@"
fi

module="$CARGO_TARGET_DIR/edge-untrimmed.wasm"
cp "$CARGO_TARGET_DIR/$target/wasm/edge_wasm.wasm" "$module"
# `cargo xtask wasm` trims this to the exports the Node host calls and checks its imports.
echo "$module"
