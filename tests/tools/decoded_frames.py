#!/usr/bin/env python3
"""Retrieves, with the Python `dicomweb-client` asking for `application/octet-stream` with no
transfer syntax (PS3.18 §8.7.3.5.2: Explicit VR Little Endian), every frame of every compressed DICOM file below a folder through a DICOMweb
root, and compares each with what pydicom and pylibjpeg (libjpeg, OpenJPEG, RLE) or pyjpegls
(CharLS) decode from the source file: an oracle independent of the server's decoders.

The decoded photometric interpretation is the one the server documents (docs/clients.md):
colour JPEG and JPEG 2000/HTJ2K come out as RGB, RLE keeps YBR_FULL. Files whose UIDs occur
in more than one file are skipped (a path cannot name one of them). Files the server does
not decode (an answer other than 200) are reported with the status.

Prints JSON: {"files": [{"path", "ts", "frames", "exact", "max_diff", "status"}...],
"skipped": [...]}.

Usage: decoded_frames.py DICOMWEB_ROOT FOLDER [DICOMWEB_ROOT FOLDER ...]  (one pair per
datastore)
"""
import collections
import json
import sys
from pathlib import Path

import numpy as np
import pydicom
from dicomweb_client.api import DICOMwebClient
from pydicom.pixels import iter_pixels
from requests import HTTPError

pairs = list(zip(sys.argv[1::2], sys.argv[2::2]))

COLOUR_TRANSFORMED = {"YBR_FULL_422", "YBR_FULL", "YBR_ICT", "YBR_RCT"}
CONVERTING_CODECS = {
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}

datasets = []
out = {"files": [], "skipped": []}
for root, folder in pairs:
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path)
            if "PixelData" not in ds or not ds.file_meta.TransferSyntaxUID.is_compressed:
                continue
            uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        except Exception:  # noqa: BLE001 - unreadable files are not this test's subject
            continue
        if not all(u.is_valid for u in uids):
            out["skipped"].append({"path": str(path), "reason": "a UID is not valid (400)"})
            continue
        datasets.append((root, path, ds, tuple(map(str, uids))))

counts = collections.Counter((root, uids) for root, _, _, uids in datasets)
for root, path, ds, uids in datasets:
    client = DICOMwebClient(url=root)
    ts = str(ds.file_meta.TransferSyntaxUID)
    if counts[(root, uids)] > 1:
        out["skipped"].append({"path": str(path), "reason": "UIDs shared with another file"})
        continue
    pi = str(getattr(ds, "PhotometricInterpretation", "")).strip()
    as_rgb = int(getattr(ds, "SamplesPerPixel", 1)) == 3 and pi in COLOUR_TRANSFORMED and ts in CONVERTING_CODECS
    try:
        expected = [np.ascontiguousarray(f) for f in iter_pixels(ds, as_rgb=as_rgb)]
    except Exception as e:  # noqa: BLE001 - the oracle cannot decode it either
        out["skipped"].append({"path": str(path), "reason": f"pydicom: {type(e).__name__}: {e}"})
        continue
    entry = {"path": str(path), "ts": ts, "frames": len(expected), "exact": 0, "max_diff": 0}
    try:
        served = client.retrieve_instance_frames(*uids, frame_numbers=list(range(1, len(expected) + 1)),
                                                 media_types=("application/octet-stream",))
        entry["status"] = 200
    except HTTPError as e:
        entry["status"] = e.response.status_code
        entry["body"] = e.response.text[:300]
        out["files"].append(entry)
        continue
    for want, got in zip(expected, served):
        want = want.astype(want.dtype.newbyteorder("<"))
        if len(got) != want.nbytes:
            entry["max_diff"] = None
            entry["length"] = [len(got), want.nbytes]
            break
        got = np.frombuffer(got, dtype=want.dtype).reshape(want.shape)
        diff = int(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64)))) if want.size else 0
        entry["exact"] += int(diff == 0)
        entry["max_diff"] = max(entry["max_diff"], diff)
    out["files"].append(entry)

print(json.dumps(out, indent=1))
