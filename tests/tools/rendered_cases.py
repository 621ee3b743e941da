#!/usr/bin/env python3
"""Writes, with pydicom, the grey-scale and colour cases the demo data lacks, for the rendered
resources' oracle test (rendered_oracle.py): MONOCHROME1, a VOI LUT Sequence without a
window, signed 16-bit data with a rescale and two windows (the first is the one rendered),
12 bits stored in 16 allocated without any window (rendered over the value range), and
native YBR_FULL colour. One study, one series per case, one instance each.

Usage: rendered_cases.py FOLDER
"""
import sys
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

folder = Path(sys.argv[1])
folder.mkdir(parents=True, exist_ok=True)
study = generate_uid()
rows, cols = 48, 80
ramp = np.add.outer(np.arange(rows) * 7, np.arange(cols) * 3)


def write(name, number, pixels, **attrs):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "RENDER", "Render^Cases", "OT"
    ds.SeriesNumber, ds.InstanceNumber = number, 1
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = attrs.pop("SamplesPerPixel", 1)
    for k, v in attrs.items():
        setattr(ds, k, v)
    ds.PixelData = pixels.tobytes()
    ds.save_as(folder / f"{name}.dcm", enforce_file_format=True)


write(
    "monochrome1", 1, (ramp % 256).astype(np.uint8),
    PhotometricInterpretation="MONOCHROME1", BitsAllocated=8, BitsStored=8, HighBit=7,
    PixelRepresentation=0, WindowCenter=100, WindowWidth=150,
)
lut = Dataset()
lut.LUTDescriptor = [256, 0, 16]
lut.LUTData = np.array([int((i / 255) ** 0.5 * 65535) for i in range(256)], np.uint16).tobytes()
write(
    "voi-lut", 2, (ramp % 256).astype(np.uint16),
    PhotometricInterpretation="MONOCHROME2", BitsAllocated=16, BitsStored=8, HighBit=7,
    PixelRepresentation=0, VOILUTSequence=Sequence([lut]),
)
write(
    "signed-rescaled", 3, (ramp * 9 - 1500).astype(np.int16),
    PhotometricInterpretation="MONOCHROME2", BitsAllocated=16, BitsStored=16, HighBit=15,
    PixelRepresentation=1, RescaleSlope=2, RescaleIntercept=-1024,
    WindowCenter=[-900, 40], WindowWidth=[1200, 400],
)
write(
    "twelve-bit", 4, (ramp * 5 % 4096).astype(np.uint16),
    PhotometricInterpretation="MONOCHROME2", BitsAllocated=16, BitsStored=12, HighBit=11,
    PixelRepresentation=0,
)
ybr = np.stack([ramp % 256, (ramp * 2) % 256, 255 - ramp % 256], axis=-1).astype(np.uint8)
write(
    "ybr-full", 5, ybr,
    SamplesPerPixel=3, PhotometricInterpretation="YBR_FULL", PlanarConfiguration=0,
    BitsAllocated=8, BitsStored=8, HighBit=7, PixelRepresentation=0,
)
