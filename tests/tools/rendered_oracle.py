#!/usr/bin/env python3
"""Fetches the rendered image of every image instance below a folder through a DICOMweb root
(PS3.18 §10.4.1.1.3) and compares it with an independent rendering of the source file:
pydicom's `apply_modality_lut` then `apply_voi_lut` (the first window, else the first VOI
LUT, else the value range), scaled to 8 bits over the output range pydicom's windowing uses,
MONOCHROME1 inverted, colour as RGB. Images are decoded with Pillow.

For each instance it asks for: PNG and JPEG without parameters; PNG with `window=` (grey
images, the window is half the instance's own width around its centre, else one from the
value range) and with the sigmoid function; PNG with `viewport=64,64`, whose size must fit
64x64 with the aspect ratio kept and whose pixels are compared with Pillow's bilinear
reduction of the oracle.

Prints JSON: {"instances": [{"path", "photometric", "checks": [{"name", "status",
"content_type", "size", "expected_size", "mad"}]}], "skipped": [...]}.

Usage: rendered_oracle.py DICOMWEB_ROOT FOLDER
"""
import collections
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

def output_range(ds):
    """The range pydicom's windowing maps to (pydicom.pixels.processing.apply_windowing)."""
    bits = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        lo, hi = 0, 2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1
    elif int(ds.PixelRepresentation) == 0:
        lo, hi = 0, 2**bits - 1
    else:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
    return lo, hi


def oracle(ds, frame, window=None, function=None):
    """The 8-bit rendering of `frame` (a pixel array of one frame)."""
    pi = str(ds.PhotometricInterpretation)
    if int(ds.SamplesPerPixel) > 1:
        # pydicom's pixel_array is RGB already (YBR converted, as_rgb).
        if frame.dtype != np.uint8:
            frame = (frame.astype(np.float64) / (2 ** int(ds.BitsStored) - 1) * 255)
        return np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    ds = ds.copy()
    ds.NumberOfFrames = 1
    modality = apply_modality_lut(frame, ds).astype(np.float64)
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
        ds.VOILUTFunction = function or "LINEAR"
        ds.pop("VOILUTSequence", None)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        lo, hi = output_range(ds)
        out = apply_voi_lut(modality, ds, prefer_lut=False)
        out = (out - lo) / (hi - lo)
    elif "VOILUTSequence" in ds:
        out = apply_voi_lut(np.rint(modality).astype(np.int64), ds)
        out = out / (2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    else:
        lo, hi = modality.min(), modality.max()
        out = (modality - lo) / (hi - lo) if hi > lo else modality * 0
    out = np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
    if pi == "MONOCHROME1":
        out = 255 - out
    return out


WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def frames_of(ds, as_rgb):
    """Each frame's pixels, as pydicom decodes the whole pixel data at once (its frame by
    frame iterator misreads 1-bit frames that do not end on a byte)."""
    arr = pixel_array(ds, as_rgb=as_rgb)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return list(arr) if frames > 1 else [arr]


class Source:
    """A source file as pydicom reads it, and what the oracles make of it: its frames' pixels
    (pydicom's decoders, DCMTK's where those refuse a frame) and its rendering."""

    def __init__(self, path):
        self.path = str(path)
        self.src = pydicom.dcmread(path)
        self.ts = str(self.src.file_meta.TransferSyntaxUID)
        self.big_endian = self.ts == "1.2.840.10008.1.2.2"

    def frames(self):
        """The frames the source holds; an invalid Number of Frames (badVR.dcm has '1A')
        counts as one, as the import takes it."""
        try:
            return int(self.src.get("NumberOfFrames", 1) or 1)
        except (TypeError, ValueError):
            return 1

    def pixel_arrays(self, as_rgb):
        try:
            return [np.ascontiguousarray(f)
                    for f in frames_of(self.src_for_pixels(), as_rgb)]
        except Exception:  # noqa: BLE001 - pydicom's decoders refuse it: ask DCMTK
            return [np.ascontiguousarray(f)
                    for f in frames_of(self.dcmtk_decoded(), as_rgb)]

    def dcmtk_decoded(self):
        """The source decompressed by DCMTK (dcmdjpeg, dcmdjpls, dcmdrle): the second
        opinion where pydicom's decoders refuse a frame that a lenient decoder reads."""
        tool = {"1.2.840.10008.1.2.5": "dcmdrle"}.get(self.ts)
        if tool is None:
            tool = "dcmdjpls" if self.ts in ("1.2.840.10008.1.2.4.80",
                                            "1.2.840.10008.1.2.4.81") else "dcmdjpeg"
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "decoded.dcm")
            subprocess.run([tool, self.path, out], check=True, capture_output=True)
            return pydicom.dcmread(out)

    def le_bytes(self, elem):
        raw = bytes(elem.value or b"")
        width = WIDTH.get(elem.VR)
        if self.big_endian and width and len(raw) % width == 0:
            return np.frombuffer(raw, np.uint8).reshape(-1, width)[:, ::-1].tobytes()
        return raw

    def reference(self, index):
        """pydicom's rendering of frame `index`: 8-bit grey or RGB. An enhanced instance's
        frame takes the rescale and window of its functional groups (PS3.3 C.7.6.16)."""
        ds = self.frame_dataset(index)
        pi = str(ds.PhotometricInterpretation).strip()
        try:
            frame = frames_of(self.src_for_pixels(), True)[index]
        except Exception:  # noqa: BLE001
            frame = frames_of(self.dcmtk_decoded(), True)[index]
        if pi == "PALETTE COLOR":
            rgb = apply_color_lut(frame, ds).astype(np.float64)
            depth = int(ds.RedPaletteColorLookupTableDescriptor[2])
            return np.clip(np.rint(rgb / (2 ** depth - 1) * 255), 0, 255).astype(np.uint8)
        if int(ds.get("SamplesPerPixel", 1)) > 1:
            if frame.dtype != np.uint8:
                frame = frame.astype(np.float64) / (2 ** int(ds.BitsStored) - 1) * 255
            return np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        return oracle(ds, frame)

    def src_for_pixels(self):
        src = self.src
        if "NumberOfFrames" in src and str(src.NumberOfFrames) != str(self.frames()):
            src = copy.deepcopy(src)
            src.NumberOfFrames = self.frames()
        return src

    def frame_dataset(self, index):
        """The source as pydicom's LUT functions need it for frame `index`: the frame's
        functional groups' rescale and window at the top level, and (pydicom reads palette
        tables in the machine's byte order) big-endian tables swapped to little endian."""
        ds = copy.deepcopy(self.src)
        groups = []
        for seq, i in (("SharedFunctionalGroupsSequence", 0),
                       ("PerFrameFunctionalGroupsSequence", index)):
            items = ds.get(seq)
            if items is not None and len(items) > i:
                groups.append(items[i])
        for group in groups:
            for seq, keys in (("PixelValueTransformationSequence",
                               ("RescaleSlope", "RescaleIntercept", "RescaleType")),
                              ("FrameVOILUTSequence",
                               ("WindowCenter", "WindowWidth", "VOILUTFunction"))):
                if seq in group and len(group[seq].value):
                    for k in keys:
                        if k in group[seq][0]:
                            ds[k] = group[seq][0][k]
        if self.big_endian:
            for elem in list(ds):
                if elem.tag.group == 0x0028 and elem.VR in WIDTH and elem.value:
                    ds[elem.tag].value = self.le_bytes(elem)
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        return ds



def fetch(root, path, query, accept):
    url = f"{root}/{path}/rendered" + (f"?{query}" if query else "")
    req = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def fit(w, h, vw, vh):
    if w * vh <= h * vw:
        return max(1, min(vw, -(-w * vh // h))), vh
    return vw, max(1, min(vh, -(-h * vw // w)))


def compare(root, name, path, query, accept, expected, expected_size=None):
    status, ctype, body = fetch(root, path, query, accept)
    check = {"name": name, "status": status, "content_type": ctype}
    if status != 200:
        check["body"] = body.decode(errors="replace")[:200]
        return check
    got = np.asarray(Image.open(io.BytesIO(body)).convert("RGB" if expected.ndim == 3 else "L"))
    check["size"] = [got.shape[1], got.shape[0]]
    check["expected_size"] = list(expected_size or (expected.shape[1], expected.shape[0]))
    if expected_size is not None:
        mode = "RGB" if expected.ndim == 3 else "L"
        expected = np.asarray(
            Image.fromarray(expected, mode).resize(expected_size, Image.Resampling.BILINEAR)
        )
    if got.shape == expected.shape:
        check["mad"] = float(np.abs(got.astype(np.int16) - expected.astype(np.int16)).mean())
    return check


def main():
    root, folder = sys.argv[1], sys.argv[2]
    items, out = [], {"instances": [], "skipped": []}
    for p in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(p)
            if "PixelData" not in ds:
                continue
            uids = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
        except Exception:  # noqa: BLE001 - unreadable files are not this check's subject
            continue
        items.append((p, ds, uids))
    counts = collections.Counter(u for _, _, u in items)
    for p, ds, uids in items:
        if counts[uids] > 1:
            out["skipped"].append({"path": str(p), "reason": "UIDs shared with another file"})
            continue
        path = f"studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}"
        try:
            arr = ds.pixel_array
        except Exception as e:  # noqa: BLE001
            out["skipped"].append({"path": str(p), "reason": f"pydicom cannot decode: {e}"})
            continue
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        colour = int(ds.SamplesPerPixel) > 1
        first = arr[0] if frames > 1 else arr
        base = oracle(ds, first)
        checks = [
            compare(root, "png", path, "", "image/png", base),
            compare(root, "jpeg", path, "", "image/jpeg", base),
        ]
        if not colour:
            modality = apply_modality_lut(first, ds).astype(np.float64)
            if "WindowCenter" in ds:
                c = float(ds.WindowCenter[0]) if ds["WindowCenter"].VM > 1 else float(ds.WindowCenter)
                w = float(ds.WindowWidth[0]) if ds["WindowWidth"].VM > 1 else float(ds.WindowWidth)
                window = (c, max(2.0, w / 2))
            else:
                lo, hi = float(modality.min()), float(modality.max())
                window = ((lo + hi) / 2, max(2.0, (hi - lo) / 2))
            q = f"window={window[0]:g},{window[1]:g}"
            checks.append(compare(root, "window", path, q, "image/png", oracle(ds, first, window)))
            checks.append(
                compare(
                    root, "sigmoid", path, q + ",sigmoid", "image/png",
                    oracle(ds, first, window, "SIGMOID"),
                )
            )
        size = fit(base.shape[1], base.shape[0], 64, 64)
        checks.append(compare(root, "viewport", path, "viewport=64,64", "image/png", base, size))
        out["instances"].append(
            {"path": str(p), "photometric": str(ds.PhotometricInterpretation), "checks": checks}
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
