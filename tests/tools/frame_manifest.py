#!/usr/bin/env python3
"""Prints, as JSON, the frames of every DICOM file below a folder as pydicom extracts them:
an oracle independent of the emulator's own import code.

For each file: {"path", "sop", "study", "ts", "frames": [sha256 hex per frame]}, or
{"path", "error"} when pydicom cannot read it or has no frames for it. Native pixel data is
cut into frames of Rows*Columns*SamplesPerPixel*BitsAllocated/8 bytes and given in little
endian order (the emulator serves native frames as Explicit VR Little Endian); encapsulated
pixel data is split with pydicom.encaps.generate_frames (offset tables, else markers).
"""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import generate_frames

BIG_ENDIAN = "1.2.840.10008.1.2.2"


def frames_of(ds):
    ts = ds.file_meta.TransferSyntaxUID
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if "PixelData" not in ds:
        raise ValueError("no pixel data")
    if ts.is_encapsulated:
        kwargs = {}
        if "ExtendedOffsetTable" in ds:
            eot = ds.ExtendedOffsetTable
            lengths = ds.ExtendedOffsetTableLengths
            kwargs["extended_offsets"] = (eot, lengths)
        return list(generate_frames(ds.PixelData, number_of_frames=n, **kwargs))
    raw = ds.PixelData
    bits = int(ds.BitsAllocated)
    samples = int(getattr(ds, "SamplesPerPixel", 1))
    if getattr(ds, "PhotometricInterpretation", "") == "YBR_FULL_422":
        samples = 2
    length = (int(ds.Rows) * int(ds.Columns) * samples * bits + 7) // 8
    if len(raw) < length * n:
        raise ValueError("short pixel data")
    # Big endian: OW data is stored as 16-bit words (also for 8-bit samples), 32-bit samples
    # as 32-bit words; the emulator serves them in little-endian order.
    word = 4 if bits == 32 else 2 if (bits == 16 or ds["PixelData"].VR == "OW") else 1
    if ts == BIG_ENDIAN and word > 1:
        padded = raw[: len(raw) - len(raw) % word]
        raw = np.frombuffer(padded, dtype=f">u{word}").astype(f"<u{word}").tobytes()
    return [raw[i * length:(i + 1) * length] for i in range(n)]


def main():
    out = []
    for path in sorted(p for p in Path(sys.argv[1]).rglob("*") if p.is_file()):
        entry = {"path": str(path)}
        try:
            ds = pydicom.dcmread(path)
            entry["sop"] = str(ds.SOPInstanceUID)
            entry["study"] = str(ds.StudyInstanceUID)
            entry["ts"] = str(ds.file_meta.TransferSyntaxUID)
            entry["frames"] = [hashlib.sha256(f).hexdigest() for f in frames_of(ds)]
        except Exception as e:  # noqa: BLE001 - every failure is reported per file
            entry["error"] = f"{type(e).__name__}: {e}"
        out.append(entry)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
