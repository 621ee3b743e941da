#!/usr/bin/env python3
"""Compares what the viewer showed for each series (`tests/ohif/ohif_series.mjs`: the
viewport's canvas as drawn, the overlay's `I: n (k/N)`, the study browser's thumbnails) with
an independent rendering of the source files (`rendered_oracle.Source.reference`: pydicom's
Modality LUT, the file's first window or VOI LUT or the value range, palette colour through
its tables, YBR as RGB).

The image shown is the series' instance with Instance Number n (or, for a series of one
multi-frame instance, its frame k). Cornerstone3D fits the image to the canvas, centred,
its pixel spacing's aspect kept; that region of the canvas and the reference are both
reduced to 64 x 64 and correlated. A thumbnail is compared with the reference of the
series' middle instance (in Instance Number order), middle frame, reduced to its size.

Prints JSON: {"series": [{"name", "shown", "correlation", "mean_difference", "flat",
"thumbnail_correlation"}]}.

Usage: viewer_compare.py INPUT  (JSON: {"series": [{"name", "folder", "png", "overlay",
"thumbnails": [{"png", "status"}]}]})
"""
import json
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from rendered_oracle import Source

SIDE = 64


def correlation(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def shown(sources, overlay):
    """The (source, frame index) the overlay names."""
    m = re.search(r"I:\s*(\d+)\s*\((\d+)/(\d+)\)", overlay) or re.search(r"(\d+)/(\d+)", overlay)
    numbers = [int(g) for g in m.groups()] if m else [1, 1]
    position = numbers[-2]
    if len(sources) == 1:
        return sources[0], position - 1
    instance = numbers[0] if len(numbers) == 3 else None
    for s in sources:
        if instance is not None and int(s.src.get("InstanceNumber", -1) or -1) == instance:
            return s, 0
    ordered = sorted(sources, key=lambda s: int(s.src.get("InstanceNumber", 0) or 0))
    return ordered[position - 1], 0


def displayed_region(canvas, ds):
    """The part of the canvas the image was fitted into: centred, scaled to fit, its pixel
    spacing's aspect kept."""
    ch, cw = canvas.shape[:2]
    rows, cols = int(ds.Rows), int(ds.Columns)
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    sy, sx = (float(spacing[0]), float(spacing[1])) if spacing else (1.0, 1.0)
    if "PixelAspectRatio" in ds and not spacing:
        sy, sx = float(ds.PixelAspectRatio[0]), float(ds.PixelAspectRatio[1])
    width, height = cols * sx, rows * sy
    scale = min(cw / width, ch / height)
    w, h = width * scale, height * scale
    x0, y0 = (cw - w) / 2, (ch - h) / 2
    return canvas[int(round(y0)):int(round(y0 + h)), int(round(x0)):int(round(x0 + w))]


def reduce(image, mode, size):
    return np.asarray(Image.fromarray(image, mode).resize(size, Image.Resampling.BOX))


def main():
    spec = json.load(open(sys.argv[1]))
    out = {"series": []}
    for s in spec["series"]:
        sources = [Source(p) for p in sorted(Path(s["folder"]).rglob("*")) if p.is_file()]
        sources = [x for x in sources if str(x.src.SeriesInstanceUID) == s["series"]]
        source, index = shown(sources, s["overlay"])
        reference = source.reference(index)
        mode = "RGB" if reference.ndim == 3 else "L"
        canvas = np.asarray(Image.open(s["png"]).convert(mode))
        region = displayed_region(canvas, source.src)
        got, want = reduce(region, mode, (SIDE, SIDE)), reduce(reference, mode, (SIDE, SIDE))
        record = {
            "name": s["name"],
            "shown": f"{Path(source.path).name} frame {index + 1}",
            "correlation": correlation(got, want),
            "mean_difference": float(np.abs(got.astype(float) - want.astype(float)).mean()),
            "flat": float(np.asarray(Image.open(s["png"]).convert("L")).std()) < 2,
        }
        thumbs = [t for t in s.get("thumbnails", []) if s["series"] in t.get("url", "")]
        if thumbs:
            ordered = sorted(sources, key=lambda x: int(x.src.get("InstanceNumber", 0) or 0))
            middle = ordered[(len(ordered) - 1) // 2]
            ref = middle.reference((middle.frames() - 1) // 2)
            mode = "RGB" if ref.ndim == 3 else "L"
            thumb = np.asarray(Image.open(thumbs[0]["png"]).convert(mode))
            small = reduce(ref, mode, (thumb.shape[1], thumb.shape[0]))
            record["thumbnail_correlation"] = correlation(thumb, small)
            record["thumbnail_mean_difference"] = float(
                np.abs(thumb.astype(float) - small.astype(float)).mean())
        out["series"].append(record)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
