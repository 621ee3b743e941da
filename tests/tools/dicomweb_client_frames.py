#!/usr/bin/env python3
"""Retrieves, with the Python `dicomweb-client` (its own HTTP, Accept and multipart code),
every frame of every file below a folder of uncompressed DICOM files through a DICOMweb root,
and compares each with the pixel data pydicom reads from the source file.

Each instance is fetched twice: frame by frame, and as one request listing its frames in
reverse order (parts must come back in request order). Prints JSON:
{"instances", "frames", "matched", "mismatches": [...]}.

Usage: dicomweb_client_frames.py DICOMWEB_ROOT FOLDER
"""
import json
import sys
from pathlib import Path

import pydicom
from dicomweb_client.api import DICOMwebClient

root, folder = sys.argv[1:3]
client = DICOMwebClient(url=root)
summary = {"instances": 0, "frames": 0, "matched": 0, "mismatches": []}

for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
    ds = pydicom.dcmread(path)
    assert not ds.file_meta.TransferSyntaxUID.is_compressed, f"{path} is compressed"
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    length = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8
    source = [ds.PixelData[i * length:(i + 1) * length] for i in range(n)]
    uids = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
    one_by_one = [client.retrieve_instance_frames(*uids, frame_numbers=[i + 1])[0] for i in range(n)]
    reversed_list = client.retrieve_instance_frames(*uids, frame_numbers=list(range(n, 0, -1)))
    summary["instances"] += 1
    for i in range(n):
        summary["frames"] += 1
        if one_by_one[i] == source[i] and reversed_list[n - 1 - i] == source[i]:
            summary["matched"] += 1
        else:
            summary["mismatches"].append({"path": str(path), "frame": i + 1})

print(json.dumps(summary))
