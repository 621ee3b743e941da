#!/usr/bin/env python3
"""The real-world corpus oracle: every read path of the edge checked, file by file, against
what pydicom (with pylibjpeg, pyjpegls and Pillow as decoders) reads from the source file.

Each file is the only instance of its study in its datastore (the caller lays the corpus out
so), so study and series resources hold exactly that instance. For each file:

- QIDO-RS at the study, series and instance levels finds it, and every attribute a result
  returns that the source has is equal to the source's;
- WADO-RS metadata of the instance: every attribute of the source (File Meta Information,
  group lengths and Pixel Data aside), recursively through sequences, is there with an equal
  value (per VR: text as text, DS as the number it writes, binary values byte for byte in
  little endian, fetched through their BulkDataURI when not inline); nothing else but
  AvailableTransferSyntaxUID and NumberOfFrames is added; the series and study metadata
  are the same instance;
- the Part 10 file of the instance, as stored (`transfer-syntax=*`) and in the default
  (Explicit VR Little Endian, decoded): every attribute equal as above but with DS and IS
  kept as the source's text, Pixel Data equal (as stored: each frame's bytes; decoded: the
  pixels pydicom decodes, exactly for lossless syntaxes); the series and study retrieves
  hold the same file; DCMTK's `dcmdump` reads it without a warning; `dciodvfy` reports no
  error the source file does not have;
- frames, all in one request, as stored and decoded, equal as above;
- rendered image, thumbnail and WADO-URI image of the instance (PNG, so that what is
  compared is the rendering, not JPEG's coding): correlated with
  pydicom's rendering (Modality LUT, first window or VOI LUT or min-max, MONOCHROME1
  inverted, palette colour through its LUT, YBR as RGB), the thumbnail after reducing the
  reference to its size;
- no answer is a 5xx.

Prints JSON: {"files": [{"path", "ts", "checks", "differences": [...], "statuses": {...}}],
"checks", "differences"}.

A file whose frames are known not to decode (a corrupt codestream in the corpus, marked
`undecodable` with the reason) must get 406 saying so wherever decoded pixels are asked for,
and everything else right.

Usage: corpus_check.py MANIFEST  (JSON: {"files": [{"path", "root", "undecodable"?}],
"dciodvfy": path|null})
"""
import collections
import concurrent.futures
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from decimal import Decimal

import numpy as np
import pydicom
import requests
from PIL import Image
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.encaps import generate_frames

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rendered_oracle import Source, frames_of  # noqa: E402

STORED = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
DECODED = 'multipart/related; type="application/octet-stream"'
FILE_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FILE_DEFAULT = 'multipart/related; type="application/dicom"'
BINARY = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
         "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203"}
# Decoded colour: the photometric interpretation the server documents (docs/transfer-syntaxes.md).
COLOUR_TRANSFORMED = {"YBR_FULL_422", "YBR_FULL", "YBR_ICT", "YBR_RCT"}
CONVERTING_CODECS = {
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}
# HealthImaging keeps no icon pixel data, so rebuilt files leave the (optional) icon out.
LEFT_OUT_OF_FILES = {0x00880200}
# Attributes a decoded file changes because they describe its pixels.
CHANGED_BY_DECODING = {0x00280004, 0x00280006, 0x00282110, 0x00282114}
# Attributes metadata adds to an instance (PS3.18 §10.4.1.1.2, Table 6.1.1.8-3b).
ADDED_BY_METADATA = {0x00083002, 0x00280008}
# Attributes QIDO-RS computes rather than copies.
COMPUTED_BY_QIDO = {0x00080056, 0x00081190, 0x00083002, 0x00201200, 0x00201202, 0x00201204,
                    0x00201206, 0x00201208, 0x00201209, 0x00080061, 0x00080062}
MIN_CORRELATION = {"rendered": 0.99, "thumbnail": 0.97, "wado-uri": 0.99}
# Levels (of 255) by which a rendering may differ from the reference on average (JPEG
# coding, resampling); a shifted or rescaled grey scale keeps its correlation but not this.
MAX_MEAN_DIFFERENCE = 8


class File(Source):
    """One corpus file and what was found about it."""

    def __init__(self, path, root, dciodvfy, undecodable=None):
        super().__init__(path)
        self.root, self.dciodvfy = root, dciodvfy
        # Why the source's frames do not decode (a corrupt codestream in the corpus), when
        # they do not: every answer that needs decoded pixels is then 406.
        self.undecodable = undecodable
        self.uids = tuple(str(self.src[k].value) for k in
                          ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"))
        st, se, sop = self.uids
        self.instance_path = f"studies/{st}/series/{se}/instances/{sop}"
        self.checks = 0
        self.differences = []
        self.statuses = collections.Counter()
        self.session = requests.Session()
        self._source_errors = None

    # -- recording -------------------------------------------------------------------------

    def check(self, ok, what):
        self.checks += 1
        if not ok:
            self.differences.append(what)
        return ok

    def get(self, path, accept=None, params=None, absolute=False, decodes=False):
        """GET `path`; no answer may be a 5xx, except that one which needs decoded pixels
        (`decodes`) of an undecodable source must be 406 saying so."""
        url = path if absolute else f"{self.root}/{path}"
        r = self.session.get(url, headers={"Accept": accept} if accept else {}, params=params)
        self.statuses[r.status_code] += 1
        what = f"GET {url.split('/datastore/')[-1]} {params or ''} [{accept}]"
        if decodes and self.undecodable:
            ok = r.status_code == 406 and b"did not decode" in r.content
            self.check(ok, f"{what}: {r.status_code} {head(r)}, 406 expected (the frame "
                           f"does not decode: {self.undecodable})")
            return None
        if not self.check(r.status_code < 500, f"{what}: {r.status_code}"):
            self.differences[-1] += f" {head(r)}"
        return r

    # -- the source ------------------------------------------------------------------------

    def has_pixels(self):
        return "PixelData" in self.src

    def stored_frames(self):
        """Each frame as stored: the codestream, or native pixels in little endian (PS3.5
        §8.1.1: samples wider than a byte swapped from big endian, 8-bit samples in a big
        endian OW swapped in pairs), the planar configuration kept."""
        n = self.frames()
        if self.src.file_meta.TransferSyntaxUID.is_encapsulated:
            return list(generate_frames(self.src.PixelData, number_of_frames=n))
        if self.ts == "1.2.840.10008.1.2.1.99":
            return [self.native_le(a) for a in self.pixel_arrays(as_rgb=False)]
        data = bytes(self.src.PixelData)
        rows, cols = int(self.src.Rows), int(self.src.Columns)
        spp, bits = int(self.src.get("SamplesPerPixel", 1)), int(self.src.BitsAllocated)
        if self.big_endian:
            width = {16: 2, 32: 4, 64: 8}.get(bits)
            if bits == 8 and self.src["PixelData"].VR == "OW":
                width = 2
            if width:
                even = data + b"\0" * (-len(data) % width)
                data = np.frombuffer(even, np.uint8).reshape(-1, width)[:, ::-1].tobytes()
        pi = str(self.src.PhotometricInterpretation)
        samples = rows * cols * (2 if pi == "YBR_FULL_422" else spp)
        if bits == 1:
            # Frames of 1-bit data are packed end to end (PS3.5 §8.1.1); each frame is
            # served starting on a byte, padded with zero bits.
            all_bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
            return [np.packbits(all_bits[i * samples:(i + 1) * samples], bitorder="little")
                    .tobytes() for i in range(n)]
        size = samples * bits // 8
        return [data[i * size:(i + 1) * size] for i in range(n)]

    def native_le(self, arr):
        if int(self.src.BitsAllocated) == 1:
            return np.packbits(arr.astype(np.uint8).ravel(), bitorder="little").tobytes()
        return np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()

    def decoded_rgb(self):
        pi = str(self.src.get("PhotometricInterpretation", "")).strip()
        return (int(self.src.get("SamplesPerPixel", 1)) == 3 and pi in COLOUR_TRANSFORMED
                and self.ts in CONVERTING_CODECS)

    # -- DICOM JSON and data sets ----------------------------------------------------------

    def from_json(self, obj):
        def bulk(tag, vr, uri):
            pixels = tag.upper().endswith("7FE00010")
            r = self.get(uri, accept='multipart/related; type="application/octet-stream"',
                         absolute=True, decodes=pixels)
            if r is None:
                return b""
            parts = multipart(r)
            # Pixel Data comes one part per frame, anything else in one part.
            want = self.frames() if pixels else 1
            self.check(len(parts) == want, f"bulk data {tag}: {len(parts)} parts, {want} expected")
            return b"".join(body for _, body in parts)
        return pydicom.Dataset.from_json(obj, bulk_data_uri_handler=bulk)

    def compare(self, src, got, where, text_numbers, allowed_extra=()):
        """Every element of `src` in `got` with an equal value; nothing else in `got` but
        `allowed_extra`."""
        for elem in src:
            tag = elem.tag
            if tag.group == 0x0002 or tag.element == 0 or tag in (0x7FE00010, 0x7FE00008,
                                                                   0x7FE00009, 0xFFFCFFFC):
                continue
            if tag in allowed_extra:
                continue
            name = f"{where}{elem.keyword or tag}"
            if tag == 0x00280008 and not where.endswith("]."):
                # Number of Frames describes the pixel data the answer holds.
                self.check(tag not in got or int(got[tag].value) == self.frames(),
                           f"{name}: {got.get(tag)}, {self.frames()} frames held")
                continue
            if tag not in got:
                self.check(False, f"{name}: missing")
                continue
            self.checks += 1
            why = self.values_differ(elem, got[tag], name, text_numbers, allowed_extra)
            if why:
                self.differences.append(f"{name}: {why}")
        for elem in got:
            if elem.tag.group == 0x0002 or elem.tag in allowed_extra or elem.tag in src:
                continue
            if elem.tag in (0x7FE00010,):
                continue
            self.check(False, f"{where}{elem.keyword or elem.tag}: added")

    def values_differ(self, a, b, name, text_numbers, allowed_extra):
        if a.VR == "SQ" or b.VR == "SQ":
            if a.VR != b.VR:
                return f"VR {a.VR} became {b.VR}"
            if len(a.value) != len(b.value):
                return f"{len(a.value)} items became {len(b.value)}"
            for i, (x, y) in enumerate(zip(a.value, b.value)):
                self.compare(x, y, f"{name}[{i}].", text_numbers, allowed_extra=())
            return None
        av, bv = a, b
        if a.VR != b.VR:
            if "UN" not in (a.VR, b.VR):
                return f"VR {a.VR} became {b.VR}"
            # One side kept the bytes as UN: read them with the other side's VR.
            if a.VR == "UN":
                av = reinterpret(a, b.VR)
            else:
                bv = reinterpret(b, a.VR)
        return self.value_differs(av, bv, text_numbers)

    def value_differs(self, a, b, text_numbers):
        vr = a.VR
        if vr in BINARY:
            x, y = self.le_bytes(a), bytes(b.value or b"")
            if x.rstrip(b"\0") != y.rstrip(b"\0") or abs(len(x) - len(y)) > 1:
                return f"{len(x)} bytes {x[:16].hex()} became {len(y)} bytes {y[:16].hex()}"
            return None
        xs, ys = values(a), values(b)
        if len(xs) != len(ys):
            return f"{len(xs)} values {xs[:4]} became {len(ys)} values {ys[:4]}"
        for x, y in zip(xs, ys):
            if not same(vr, x, y, text_numbers):
                return f"{x!r} became {y!r}"
        return None

    # -- the checks ------------------------------------------------------------------------

    def run(self):
        st, se, sop = self.uids
        self.qido()
        meta = self.metadata()
        for accept in (FILE_STORED, FILE_DEFAULT):
            self.part10(accept)
        if self.has_pixels() and meta is not None:
            self.frame_checks()
            self.rendered()
        elif not self.has_pixels():
            r = self.get(f"{self.instance_path}/rendered", accept="image/png")
            self.check(r.status_code == 406, f"rendered without pixels: {r.status_code}")
        return {"path": self.path, "ts": self.ts, "checks": self.checks,
                "differences": self.differences, "statuses": dict(self.statuses)}

    def qido(self):
        st, se, sop = self.uids
        for path, params, key in (
            ("studies", {"StudyInstanceUID": st, "includefield": "all"}, 0x0020000D),
            (f"studies/{st}/series", {"includefield": "all"}, 0x0020000E),
            (f"studies/{st}/series/{se}/instances", {"includefield": "all"}, 0x00080018),
        ):
            r = self.get(path, accept="application/dicom+json", params=params)
            if not self.check(r.status_code == 200, f"QIDO {path}: {r.status_code}"):
                continue
            found = [pydicom.Dataset.from_json(o) for o in r.json()]
            self.check(len(found) == 1, f"QIDO {path}: {len(found)} results")
            for ds in found:
                self.check(str(ds.get(key, pydicom.DataElement(key, "UI", "")).value)
                           in self.uids, f"QIDO {path}: {key:08X} not the file's")
                for elem in ds:
                    if elem.tag in COMPUTED_BY_QIDO or elem.tag not in self.src:
                        continue
                    self.checks += 1
                    why = self.values_differ(self.src[elem.tag], elem, "", False, ())
                    if why:
                        self.differences.append(f"QIDO {path} {elem.keyword or elem.tag}: {why}")

    def metadata(self):
        st, se, sop = self.uids
        r = self.get(f"{self.instance_path}/metadata", accept="application/dicom+json")
        if not self.check(r.status_code == 200, f"metadata: {r.status_code}"):
            return None
        objs = r.json()
        self.check(len(objs) == 1, f"metadata: {len(objs)} instances")
        got = self.from_json(objs[0])
        self.compare(self.src, got, "metadata ", False, ADDED_BY_METADATA)
        self.check(str(got.get("AvailableTransferSyntaxUID", "")) != "",
                   "metadata: no AvailableTransferSyntaxUID")
        for path in (f"studies/{st}/series/{se}/metadata", f"studies/{st}/metadata"):
            r = self.get(path, accept="application/dicom+json")
            self.check(r.status_code == 200 and r.json() == objs,
                       f"{path}: not the instance's metadata ({r.status_code})")
        return got

    def part10(self, accept):
        st, se, sop = self.uids
        decodes = accept == FILE_DEFAULT and self.src.file_meta.TransferSyntaxUID.is_compressed
        r = self.get(self.instance_path, accept=accept, decodes=decodes)
        if r is None:
            return
        if not self.check(r.status_code == 200, f"retrieve [{accept}]: {r.status_code} {head(r)}"):
            return
        parts = multipart(r)
        if not self.check(len(parts) == 1, f"retrieve [{accept}]: {len(parts)} parts"):
            return
        body = parts[0][1]
        # The study holds this instance alone: its series (default representation) and the
        # study (as stored) are the same file.
        level = f"studies/{st}" if accept == FILE_STORED else f"studies/{st}/series/{se}"
        other = multipart(self.get(level, accept=accept))
        self.check(len(other) == 1 and other[0][1] == body,
                   f"retrieve {level} [{accept}]: not the instance's file")
        got = pydicom.dcmread(io.BytesIO(body))
        stored = accept == FILE_STORED
        out_ts = str(got.file_meta.TransferSyntaxUID)
        decoded = not stored and self.src.file_meta.TransferSyntaxUID.is_compressed
        if stored and self.has_pixels():
            want_ts = self.ts if self.src.file_meta.TransferSyntaxUID.is_compressed else \
                "1.2.840.10008.1.2.1"
            self.check(out_ts == want_ts, f"retrieve *: transfer syntax {out_ts}")
        self.compare(self.src, got, f"retrieve {'*' if stored else 'default'} ", True,
                     (CHANGED_BY_DECODING if decoded else set()) | LEFT_OUT_OF_FILES)
        if self.has_pixels():
            if stored and self.src.file_meta.TransferSyntaxUID.is_encapsulated:
                have = list(generate_frames(got.PixelData, number_of_frames=self.frames()))
                self.same_frames(self.stored_frames(), have, "retrieve * frames")
            else:
                self.same_pixels(self.pixel_arrays_of(got), f"retrieve {out_ts} pixels")
        self.validators(body, "retrieve " + ("*" if stored else "default"))

    def pixel_arrays_of(self, got):
        return [np.ascontiguousarray(f) for f in frames_of(got, False)]

    def same_pixels(self, have, what):
        as_rgb = self.decoded_rgb()
        want = self.pixel_arrays(as_rgb=as_rgb) if as_rgb else self.pixel_arrays(as_rgb=False)
        tolerance = 8 if self.ts in LOSSY and self.ts != "1.2.840.10008.1.2.4.81" else 0
        if self.ts == "1.2.840.10008.1.2.4.81":
            tolerance = int(self.src.get("NearLossless", 0) or 0) or 0
        if not self.check(len(want) == len(have), f"{what}: {len(have)} frames, {len(want)} expected"):
            return
        for i, (w, h) in enumerate(zip(want, have)):
            if not self.check(w.shape == h.shape, f"{what} {i + 1}: shape {h.shape}, {w.shape} expected"):
                return
            diff = int(np.max(np.abs(w.astype(np.int64) - h.astype(np.int64)))) if w.size else 0
            if not self.check(diff <= max(tolerance, 0),
                              f"{what} {i + 1}: differs by up to {diff}"):
                return

    def same_frames(self, want, have, what):
        if not self.check(len(want) == len(have), f"{what}: {len(have)} frames, {len(want)} expected"):
            return
        for i, (w, h) in enumerate(zip(want, have)):
            w, h = bytes(w), bytes(h)
            ok = w == h or (len(w) - len(h) in (-1, 1) and w.rstrip(b"\0") == h.rstrip(b"\0"))
            if not self.check(ok, f"{what} {i + 1}: {len(h)} bytes {h[:8].hex()}, "
                                  f"{len(w)} bytes {w[:8].hex()} expected"):
                return

    def frame_checks(self):
        n = self.frames()
        numbers = ",".join(str(i) for i in range(1, n + 1))
        r = self.get(f"{self.instance_path}/frames/{numbers}", accept=STORED)
        if self.check(r.status_code == 200, f"frames *: {r.status_code} {head(r)}"):
            self.same_frames(self.stored_frames(), [b for _, b in multipart(r)], "frames *")
        r = self.get(f"{self.instance_path}/frames/{numbers}", accept=DECODED,
                     decodes=self.src.file_meta.TransferSyntaxUID.is_compressed)
        if r is None:
            return
        if not self.check(r.status_code == 200, f"frames decoded: {r.status_code} {head(r)}"):
            return
        parts = [b for _, b in multipart(r)]
        if not self.src.file_meta.TransferSyntaxUID.is_compressed:
            # Native data is Explicit VR Little Endian as stored.
            self.same_frames(self.stored_frames(), parts, "frames decoded")
            return
        want = self.pixel_arrays(as_rgb=self.decoded_rgb())
        have = []
        for body, w in zip(parts, want):
            if len(body) == w.nbytes:
                have.append(np.frombuffer(body, w.dtype.newbyteorder("<")).reshape(w.shape))
            else:
                have.append(np.zeros((0,)))
        self.same_pixels(have, "frames decoded")

    def rendered(self):
        """The instance's rendered image and WADO-URI image are of its first frame, its
        thumbnail of its middle one."""
        middle = (self.frames() - 1) // 2
        st, se, sop = self.uids
        wado = {"requestType": "WADO", "studyUID": st, "seriesUID": se, "objectUID": sop,
                "contentType": "image/png"}
        if self.undecodable:
            self.get(f"{self.instance_path}/rendered", accept="image/png", decodes=True)
            self.get(f"{self.instance_path}/thumbnail", accept="image/png", decodes=True)
            self.get("wado", params=wado, decodes=True)
            return
        try:
            first, thumb = self.reference(0), self.reference(middle)
        except Exception as e:  # noqa: BLE001 - the oracle cannot render it: say so
            self.check(False, f"rendered: the reference cannot be made: {type(e).__name__}: {e}")
            return
        r = self.get(f"{self.instance_path}/rendered", accept="image/png")
        if self.check(r.status_code == 200, f"rendered: {r.status_code} {head(r)}"):
            self.similar(r.content, first, "rendered")
        r = self.get(f"{self.instance_path}/thumbnail", accept="image/png")
        if self.check(r.status_code == 200, f"thumbnail: {r.status_code} {head(r)}"):
            self.similar(r.content, thumb, "thumbnail", resize=True)
        r = self.get("wado", params=wado)
        if self.check(r.status_code == 200, f"wado-uri: {r.status_code} {head(r)}"):
            self.similar(r.content, first, "wado-uri")

    def similar(self, body, reference, what, resize=False):
        try:
            image = Image.open(io.BytesIO(body))
            image.load()
        except Exception as e:  # noqa: BLE001
            self.check(False, f"{what}: not an image: {e}")
            return
        mode = "RGB" if reference.ndim == 3 else "L"
        got = np.asarray(image.convert(mode)).astype(np.float64)
        ref = reference
        if resize:
            ref = np.asarray(Image.fromarray(reference, mode).resize(
                (got.shape[1], got.shape[0]), Image.Resampling.BOX))
        elif got.shape != ref.shape:
            self.check(False, f"{what}: {got.shape}, {ref.shape} expected")
            return
        ref = ref.astype(np.float64)
        mad = float(np.abs(got - ref).mean())
        if ref.std() < 8:
            # A nearly uniform image: correlation measures only noise; the levels must agree.
            self.check(mad <= 3, f"{what}: mean difference {mad:.2f} from a nearly uniform reference")
            return
        corr = float(np.corrcoef(got.ravel(), ref.ravel())[0, 1]) if got.std() > 0 else 0.0
        self.check(corr >= MIN_CORRELATION[what] and mad <= MAX_MEAN_DIFFERENCE,
                   f"{what}: correlation {corr:.4f}, mean difference {mad:.2f}")

    def validators(self, body, what):
        with tempfile.NamedTemporaryFile(suffix=".dcm") as f:
            f.write(body)
            f.flush()
            d = subprocess.run(["dcmdump", "-q", f.name], capture_output=True, text=True,
                               errors="replace")
            self.check(d.returncode == 0 and not d.stderr.strip(),
                       f"{what}: dcmdump: {d.stderr.strip()[:300]}")
            if self.dciodvfy:
                new = dciodvfy_errors(self.dciodvfy, f.name) - self.source_errors()
                self.check(not new, f"{what}: dciodvfy: {sorted(new)[:5]}")

    def source_errors(self):
        """What dciodvfy finds wrong with the source (a deflated one re-encoded by DCMTK's
        dcmconv first, since dciodvfy does not inflate); read once."""
        if self._source_errors is None:
            if self.ts != "1.2.840.10008.1.2.1.99":
                self._source_errors = dciodvfy_errors(self.dciodvfy, self.path)
            else:
                with tempfile.TemporaryDirectory() as d:
                    plain = os.path.join(d, "inflated.dcm")
                    subprocess.run(["dcmconv", "+te", self.path, plain], check=True,
                                   capture_output=True)
                    self._source_errors = dciodvfy_errors(self.dciodvfy, plain)
        return self._source_errors


def head(r):
    """The start of an answer's body, for a message (only built when one is needed)."""
    return repr(r.content[:200].decode(errors="replace"))


def dciodvfy_errors(exe, path):
    out = subprocess.run([exe, "-new", path], capture_output=True, text=True, errors="replace")
    errors = set()
    for line in (out.stderr + out.stdout).splitlines():
        if line.startswith("Error"):
            # Offsets and values that depend on the file's encoding are not the error.
            errors.add(re.sub(r"@0x[0-9a-fA-F]+|\d+ bytes", "", line).strip())
    return errors


def reinterpret(elem, vr):
    """`elem`'s bytes (held as UN) read as little-endian `vr`, as PS3.5 §6.2.2 allows once
    the VR is known."""
    raw = RawDataElement(elem.tag, vr, len(elem.value or b""), bytes(elem.value or b""), 0,
                         False, True)
    return convert_raw_data_element(raw)


def values(elem):
    v = elem.value
    if v is None or v == "" or v == b"":
        return []
    if isinstance(v, (list, tuple, pydicom.multival.MultiValue)):
        return list(v)
    return [v]


def same(vr, x, y, text_numbers):
    if vr == "DS":
        if text_numbers:
            return str(getattr(x, "original_string", x)).strip() == \
                str(getattr(y, "original_string", y)).strip()
        try:
            return Decimal(str(getattr(x, "original_string", x)).strip()) == \
                Decimal(repr(float(y)) if isinstance(y, float) else str(y).strip())
        except Exception:  # noqa: BLE001
            return str(x).strip() == str(y).strip()
    if vr == "IS":
        if text_numbers:
            return str(getattr(x, "original_string", x)).strip() == \
                str(getattr(y, "original_string", y)).strip()
        try:
            return int(x) == int(y)
        except (TypeError, ValueError):  # not an integer string: compare the text
            return str(x).strip() == str(y).strip()
    if vr == "FL":
        return np.float32(x) == np.float32(y)
    if vr in ("FD", "US", "SS", "UL", "SL", "UV", "SV", "AT"):
        return x == y
    if vr == "PN":
        return str(x).rstrip(" \0") == str(y).rstrip(" \0")
    return str(x).rstrip(" \0") == str(y).rstrip(" \0")


def multipart(r):
    """The parts of a multipart/related answer: [(headers, body)]."""
    ctype = r.headers.get("Content-Type", "")
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if r.status_code != 200 or not m:
        return []
    delimiter = b"--" + m.group(1).encode()
    parts = []
    for chunk in r.content.split(b"\r\n" + delimiter)[0:]:
        chunk = chunk[len(delimiter):] if chunk.startswith(delimiter) else chunk
        if chunk.startswith(b"--"):
            break
        head, _, body = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        parts.append((head.decode(errors="replace"), body))
    return parts


def check_one(item, dciodvfy):
    try:
        return File(item["path"], item["root"], dciodvfy, item.get("undecodable")).run()
    except Exception as e:  # noqa: BLE001 - a crash of the oracle is a difference too
        import traceback
        return {"path": item["path"], "ts": "", "checks": 1, "statuses": {},
                "differences": [f"oracle failed: {type(e).__name__}: {e}",
                                traceback.format_exc()[-800:]]}


def main():
    manifest = json.load(open(sys.argv[1]))
    workers = int(os.environ.get("CORPUS_WORKERS", str(max(2, (os.cpu_count() or 2) + 1))))
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        dciodvfy = [manifest.get("dciodvfy")] * len(manifest["files"])
        files = list(pool.map(check_one, manifest["files"], dciodvfy))
    print(json.dumps({
        "files": files,
        "checks": sum(f["checks"] for f in files),
        "differences": sum(len(f["differences"]) for f in files),
    }, indent=1))


if __name__ == "__main__":
    main()
