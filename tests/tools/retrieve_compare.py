#!/usr/bin/env python3
"""Retrieves whole series and instances with the Python `dicomweb-client`
(`retrieve_series`, `retrieve_instance`) through a DICOMweb root and compares each dataset
pydicom reads from the answer with the source file below FOLDER, attribute by attribute and
pixel for pixel (pydicom with pylibjpeg decoding both).

Each series is retrieved with the client's default Accept (PS3.18: Explicit VR Little
Endian) and once more with `transfer-syntax=*` (as stored); one instance per series is also
retrieved alone. Every file of the default answers is also fetched as raw bytes (a plain
GET, parts split at the boundary) and written under OUT_DIR as sent, for other tools
(dcmdump).

Prints JSON: {"instances", "retrieved", "syntaxes": {ts: n}, "stored_syntaxes": {ts: n},
"differences": {keyword: n}, "pixel_mismatches": [...], "max_pixel_diff": {ts: d},
"single": n}.

Usage: retrieve_compare.py DICOMWEB_ROOT FOLDER OUT_DIR
"""
import collections
import io
import json
import sys
from pathlib import Path

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from dicom_compare import Comparison

root, folder, out_dir = sys.argv[1:4]
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
client = DICOMwebClient(url=root)

sources = {}
series = collections.defaultdict(list)
for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
    ds = pydicom.dcmread(path)
    sources[str(ds.SOPInstanceUID)] = ds
    series[(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))].append(str(ds.SOPInstanceUID))

summary = {
    "instances": len(sources), "retrieved": 0, "syntaxes": collections.Counter(),
    "stored_syntaxes": collections.Counter(), "single": 0,
}
comparison = Comparison()

for (study, se), sops in series.items():
    for media_types, counter, decoded_allowed in (
        (None, "syntaxes", True),
        ((("application/dicom", "*"),), "stored_syntaxes", False),
    ):
        kwargs = {} if media_types is None else {"media_types": media_types}
        got = client.retrieve_series(study, se, **kwargs)
        assert sorted(str(d.SOPInstanceUID) for d in got) == sorted(sops), (study, se)
        for ds in got:
            summary["retrieved"] += 1
            summary[counter][str(ds.file_meta.TransferSyntaxUID)] += 1
            src = sources[str(ds.SOPInstanceUID)]
            decoded = decoded_allowed and src.file_meta.TransferSyntaxUID.is_compressed
            comparison.add(src, ds, decoded)
    url = f"{root}/studies/{study}/series/{se}"
    r = requests.get(url, headers={"Accept": 'multipart/related; type="application/dicom"'})
    r.raise_for_status()
    boundary = r.headers["Content-Type"].split("boundary=")[1].split(";")[0].strip('"').encode()
    for part in r.content.split(b"--" + boundary)[1:-1]:
        head, body = part.split(b"\r\n\r\n", 1)
        body = body[:-2]  # the CRLF before the next delimiter
        sop = pydicom.dcmread(io.BytesIO(body), stop_before_pixels=True).SOPInstanceUID
        (out / f"{sop}.dcm").write_bytes(body)
    one = client.retrieve_instance(study, se, sops[0])
    assert str(one.SOPInstanceUID) == sops[0]
    summary["single"] += 1

summary["syntaxes"] = dict(summary["syntaxes"])
summary["stored_syntaxes"] = dict(summary["stored_syntaxes"])
summary.update(comparison.summary())
print(json.dumps(summary, indent=1))
