#!/usr/bin/env bash
# Runs the conformance suite against Orthanc with its DICOMweb plugin (Debian 12: Orthanc
# 1.10, plugin 1.7), an independent DICOMweb implementation, loaded with the demo files, and
# expects exactly the deviations listed in conformance/src/profiles.rs. Needs root for apt
# the first time; takes about a minute after the build.
#
# Debian's Orthanc (DCMTK 3.6.7) predates HTJ2K and answers 500 for it, so HTJ2K files are
# given to it decompressed to Explicit VR Little Endian (same UIDs, same pixels); the other
# files go in unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${ORTHANC_PORT:-18042}"
if ! command -v Orthanc >/dev/null || [ ! -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb >/dev/null
fi
venv=.cache/venv
[ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
  pydicom numpy pylibjpeg pylibjpeg-openjpeg
# DICOMWEB_CONFORMANCE names a built suite (the end-to-end test passes its own).
suite="${DICOMWEB_CONFORMANCE:-}"
if [ -z "$suite" ]; then
  cargo build --release --quiet --bin dicomweb-conformance
  suite=target/release/dicomweb-conformance
fi

work=$(mktemp -d)
trap 'kill "$orthanc" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/orthanc.json" <<JSON
{
  "Name": "dicomweb-conformance",
  "StorageDirectory": "$work/db",
  "IndexDirectory": "$work/db",
  "HttpPort": $port,
  "DicomServerEnabled": false,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }
}
JSON
Orthanc "$work/orthanc.json" >"$work/orthanc.log" 2>&1 &
orthanc=$!
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/system" >/dev/null && break
  sleep 0.2
done

"$venv/bin/python3" - "$work/upload" <<'PY'
import pathlib, sys, pydicom
out = pathlib.Path(sys.argv[1]); out.mkdir()
for f in sorted(pathlib.Path("demo/dicom").rglob("*.dcm")):
    ds = pydicom.dcmread(f)
    if ds.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"):
        ds.decompress(generate_instance_uid=False)
    ds.save_as(out / f"{f.parent.name}-{f.name}", enforce_file_format=True)
PY
for f in "$work"/upload/*.dcm; do
  curl -sf -o /dev/null -X POST --data-binary @"$f" "http://127.0.0.1:$port/instances"
done

ct=2.25.43013641727009647318637766896963722706
cine=2.25.25534847730633494671729332755267849540
mr=2.25.62963440059734055443738832080718392972
mr_series=2.25.268448334333384752157971025008629182128
status=0
for series in "$ct $cine" "$mr $mr_series"; do
  set -- $series
  echo "== Orthanc: study $1, series $2 (instance found by QIDO-RS)"
  "$suite" --base-url "http://127.0.0.1:$port/dicom-web" \
    --study "$1" --series "$2" --origin http://localhost:3000 --profile orthanc \
    ${CONFORMANCE_REPORT_DIR:+--report json "$CONFORMANCE_REPORT_DIR/orthanc-$2.json"} \
    || status=$?
done
exit $status
