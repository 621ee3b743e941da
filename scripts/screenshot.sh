#!/usr/bin/env bash
# Refreshes docs/images/viewer.png, the README's picture of the bundled OHIF viewer: the
# browser test that opens the demo CT in the viewer `serve` serves takes it, and UPDATE_DOCS
# makes it copy the picture into docs/. Installs Chromium and the viewer as the test command
# does (scripts/install-ohif.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-tools.sh
DICOMWEB_EDGE_OHIF_DIST=$(scripts/install-ohif.sh)
export DICOMWEB_EDGE_OHIF_DIST DICOMWEB_EDGE_FULL_TESTS=1 UPDATE_DOCS=1
cargo test -p e2e --test ohif -- --exact serve_serves_the_viewer_and_prints_its_link
echo "docs/images/viewer.png"
