#!/usr/bin/env python3
"""Writes a large folder of DICOM files for trying `serve --data` at scale.

Each study is one import job (a folder of its own): a CT series of 512x512 16-bit slices,
uncompressed (Explicit VR Little Endian, 512 KiB each), and a copy of the demo's HTJ2K CT
series with new UIDs, so both native and encapsulated frames are served. Studies are added
until the folder holds at least the requested size. Pixel values are a phantom (a disc and
a gradient) that changes from slice to slice, so no two frames are equal.

Usage: python3 tests/tools/generate_folder.py OUT_DIR [--gigabytes 5] [--slices 200]
       [--size 512] [--studies N]
`--slices A-B` gives study k A + (97 k mod (B - A + 1)) slices, so sizes vary over the
range; `--studies N` stops after N studies whatever their size; `--size` is the slices'
rows and columns. Needs pydicom>=3 and numpy (the test command installs them into
.cache/venv).
Output is deterministic for the same arguments.
"""

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

DEMO_HTJ2K = Path(__file__).resolve().parents[2] / "demo/dicom/ct-phantom/series1-htj2k"


def uid(*parts: object) -> UID:
    """A UID below 2.25 (PS3.5 B.2) derived from `parts`, stable across runs."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return UID("2.25." + str(int.from_bytes(digest[:16], "big")))


def ct_slice(study: int, series_uid: UID, study_uid: UID, n: int, pixels: np.ndarray) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = uid("sop", study, n)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = uid("for", study)
    ds.PatientName = f"SCALE^{study:04d}"
    ds.PatientID = f"SCALE{study:04d}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = f"2024{1 + study % 12:02d}{1 + study % 28:02d}"
    ds.StudyTime = "120000"
    ds.StudyID = str(study)
    ds.AccessionNumber = f"ACC{study:06d}"
    ds.StudyDescription = "GENERATED CT"
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.SeriesDescription = f"AXIAL {pixels.shape[0]}"
    ds.InstanceNumber = n + 1
    ds.ImagePositionPatient = [-pixels.shape[1] / 2, -pixels.shape[0] / 2, float(n)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.SliceThickness = 1.0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelData = pixels.astype("<i2").tobytes()
    return ds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--gigabytes", type=float, default=5.0)
    ap.add_argument("--slices", default="200", help="N, or A-B for sizes varying over A..B")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--studies", type=int, default=None)
    args = ap.parse_args()
    low, _, high = args.slices.partition("-")
    low, high = int(low), int(high or low)
    target = int(args.gigabytes * (1 << 30))
    demo = sorted(DEMO_HTJ2K.glob("*.dcm"))
    size = args.size
    yy, xx = np.mgrid[0:size, 0:size]
    r = size * 200 // 512
    disc = ((xx - size // 2) ** 2 + (yy - size // 2) ** 2 < r**2).astype(np.int32) * 1000 - 1000
    written, files, study, started = 0, 0, 0, time.monotonic()
    while (written < target) if args.studies is None else (study < args.studies):
        job = args.out / f"study{study:04d}"
        job.mkdir(parents=True, exist_ok=True)
        study_uid, series_uid = uid("study", study), uid("series", study, 1)
        for n in range(low + (97 * study) % (high - low + 1)):
            pixels = disc + (xx + yy + 7 * n + 13 * study) % 256
            path = job / f"CT{n:04d}.dcm"
            ct_slice(study, series_uid, study_uid, n, pixels).save_as(path, enforce_file_format=True)
            written += path.stat().st_size
            files += 1
        for src in demo:
            ds = pydicom.dcmread(src)
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = uid("series", study, 2)
            ds.SOPInstanceUID = uid("htj2k", study, src.name)
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientName = f"SCALE^{study:04d}"
            ds.PatientID = f"SCALE{study:04d}"
            ds.SeriesNumber = 2
            path = job / f"HT{src.name}"
            ds.save_as(path, enforce_file_format=True)
            written += path.stat().st_size
            files += 1
        study += 1
        print(
            f"{study} studies, {files} files, {written / (1 << 30):.2f} GiB, "
            f"{time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
