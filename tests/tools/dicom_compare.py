#!/usr/bin/env python3
"""Compares rebuilt DICOM files with their source files, attribute by attribute and pixel
for pixel (pydicom with pylibjpeg decoding both): the oracle of the retrieve tests.

As a module: `Comparison().add(source, rebuilt, decoded)` and `.summary()`. As a command:
compares every file below REBUILT with the file below SOURCE that has its SOPInstanceUID and
prints the summary as JSON.

Usage: dicom_compare.py SOURCE_FOLDER REBUILT_FOLDER
"""
import collections
import json
import sys
from pathlib import Path

import numpy as np
import pydicom

# Attributes a file decoded from compressed pixel data is expected to change: they describe
# the decoded pixels (docs/clients.md).
CHANGED_BY_DECODING = {"PhotometricInterpretation", "PlanarConfiguration",
                       "LossyImageCompression", "LossyImageCompressionMethod"}


class Comparison:
    def __init__(self):
        self.differences = collections.Counter()
        self.pixel_mismatches = []
        self.max_pixel_diff = {}
        self.files = 0

    def add(self, src, got, decoded):
        """`decoded`: whether `got` may hold pixels decoded from `src`'s compressed ones."""
        self.files += 1
        for elem in src:
            if elem.tag.group == 0x0002 or elem.tag == 0x7FE00010:
                continue
            if decoded and elem.keyword in CHANGED_BY_DECODING:
                continue
            name = elem.keyword or str(elem.tag)
            if elem.tag not in got:
                self.differences[f"{name} (missing)"] += 1
            elif got[elem.tag].value != elem.value:
                self.differences[name] += 1
        for elem in got:
            if elem.tag.group == 0x0002 or elem.tag in src:
                continue
            if decoded and elem.keyword in CHANGED_BY_DECODING:
                continue
            self.differences[f"{elem.keyword or elem.tag} (added)"] += 1
        if "PixelData" not in src:
            return
        as_rgb = str(got.get("PhotometricInterpretation", "")) == "RGB"
        want = pydicom.pixels.pixel_array(src, as_rgb=as_rgb) if as_rgb else src.pixel_array
        have = got.pixel_array
        key = str(src.file_meta.TransferSyntaxUID) + " -> " + str(got.file_meta.TransferSyntaxUID)
        if want.shape != have.shape:
            self.pixel_mismatches.append({"sop": str(src.SOPInstanceUID), "shapes": [want.shape, have.shape]})
            return
        diff = int(np.max(np.abs(want.astype(np.int64) - have.astype(np.int64)))) if want.size else 0
        self.max_pixel_diff[key] = max(self.max_pixel_diff.get(key, 0), diff)

    def summary(self):
        return {"files": self.files, "differences": dict(self.differences),
                "pixel_mismatches": self.pixel_mismatches, "max_pixel_diff": self.max_pixel_diff}


def main():
    source, rebuilt = map(Path, sys.argv[1:3])
    by_sop = {}
    for p in source.rglob("*"):
        if p.is_file():
            ds = pydicom.dcmread(p)
            by_sop[str(ds.SOPInstanceUID)] = ds
    c = Comparison()
    unknown = []
    for p in sorted(x for x in rebuilt.rglob("*") if x.is_file()):
        got = pydicom.dcmread(p)
        src = by_sop.get(str(got.SOPInstanceUID))
        if src is None:
            unknown.append(str(p))
            continue
        c.add(src, got, src.file_meta.TransferSyntaxUID.is_compressed)
    out = c.summary()
    out["unknown"] = unknown
    out["syntaxes"] = dict(collections.Counter(
        str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        for p in rebuilt.rglob("*") if p.is_file()))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
