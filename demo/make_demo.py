#!/usr/bin/env python3
"""Makes the demo dataset in demo/dicom/ (committed; run again to reproduce it).

Two patients, two studies, two import jobs (one folder each):

  ct-phantom/  patient DEMO001, study "CT PHANTOM"
    series 1  CT, 64 axial slices 256x256, 16-bit, HTJ2K lossless RPCL (1.2.840.10008.1.2.4.202)
    series 2  CT, 8 thick slices 256x256, 16-bit, Explicit VR Little Endian (uncompressed)
    series 3  one multi-frame instance, 36 frames 128x128, 16-bit, HTJ2K lossless RPCL
  mixed/       patient DEMO002, study "MR AND PHOTO"
    series 1  MR, 12 slices 256x256, 8-bit, JPEG baseline (1.2.840.10008.1.2.4.50)
    series 2  XC, one RGB photograph 320x240, Explicit VR Little Endian

The pictures are analytic phantoms (ellipsoids, bars, text-free shapes), not noise, so a
viewer shows something recognisable. HTJ2K is encoded by OpenJPH 0.31 (the reference
implementation, built to WebAssembly by the npm package @cornerstonejs/codec-openjph; see
htj2k.mjs): reversible, RPCL progression, TLM marker segments and one tile-part per
resolution level, as 1.2.840.10008.1.2.4.202 asks, so that the first bytes of a frame decode
to a lower resolution. Each codestream is decoded again with OpenJPEG's opj_decompress
(libopenjp2-tools) and compared with the source pixels, so the lossless claim is checked
when the data is made.

Requirements: python3 with pydicom>=3, numpy, Pillow; Node.js and npm (the encoder is
installed into demo/node_modules from package-lock.json); opj_decompress.
Usage: python3 demo/make_demo.py [OUT_DIR]   (default: demo/dicom next to this file)
Output is deterministic: the same tools give byte-identical files.
"""

import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, HTJ2KLosslessRPCL, JPEGBaseline8Bit

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_MULTIFRAME_WORD = "1.2.840.10008.5.1.4.1.1.7.3"
VL_PHOTO = "1.2.840.10008.5.1.4.1.1.77.1.4"
IMPLEMENTATION_UID = "2.25.230712341108410521003245712318"


def uid(*parts) -> UID:
    """A stable 2.25 UID derived from names, so regenerated files keep their UIDs."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return UID("2.25." + str(int.from_bytes(digest[:16], "big")))


def base_dataset(sop_class, sop_uid, ts, patient, study, series, number):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = "DICOMWEB_EDGE"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient
    (ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber,
     ds.StudyDescription) = study
    ds.ReferringPhysicianName = "REFERRER^DEMO"
    ds.SeriesInstanceUID, ds.Modality, ds.SeriesNumber, ds.SeriesDescription = series
    ds.SeriesDate = ds.StudyDate
    ds.SeriesTime = ds.StudyTime
    ds.Manufacturer = "dicomweb-edge demo"
    ds.InstanceNumber = number
    ds.ContentDate = ds.StudyDate
    ds.ContentTime = ds.StudyTime
    return ds


def set_pixels_module(ds, rows, cols, bits_stored, samples=1, photometric="MONOCHROME2"):
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 if bits_stored <= 8 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if samples > 1:
        ds.PlanarConfiguration = 0


def ct_phantom(z, size=256, n=64):
    """Stored values (HU + 1024) of a 3D head-and-body-like ellipsoid phantom at slice z."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    u = (x - size / 2) / (size / 2)
    v = (y - size / 2) / (size / 2)
    w = (z - n / 2) / (n / 2)
    hu = np.full((size, size), -1000.0)
    body = (u / 0.85) ** 2 + (v / 0.68) ** 2 + (w / 1.3) ** 2 <= 1
    hu[body] = 30
    fat = body & ~((u / 0.8) ** 2 + (v / 0.63) ** 2 + (w / 1.3) ** 2 <= 1)
    hu[fat] = -90
    for cx, cy, rx, ry in ((-0.32, 0.0, 0.22, 0.3), (0.32, 0.0, 0.22, 0.3)):
        lung = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2 + (w / 0.9) ** 2 <= 1
        hu[lung] = -820
    spine = (u / 0.09) ** 2 + ((v - 0.48) / 0.09) ** 2 <= 1
    hu[spine] = 700
    cord = (u / 0.035) ** 2 + ((v - 0.48) / 0.035) ** 2 <= 1
    hu[cord] = 40
    heart = ((u + 0.08) / 0.2) ** 2 + ((v + 0.12) / 0.17) ** 2 + ((w - 0.1) / 0.5) ** 2 <= 1
    hu[heart] = 45
    # A contrast-filled vessel that moves across slices, so scrolling shows motion.
    vessel = ((u - 0.12 - 0.1 * w) / 0.05) ** 2 + ((v + 0.05) / 0.05) ** 2 <= 1
    hu[vessel & body] = 300
    # Ribs: a ring of small bright dots.
    for k in range(12):
        a = 2 * np.pi * k / 12
        rib = ((u - 0.78 * np.cos(a)) / 0.04) ** 2 + ((v - 0.6 * np.sin(a)) / 0.04) ** 2 <= 1
        hu[rib & body] = 900
    # Deterministic low-amplitude texture (not random noise).
    hu += np.where(body, 6 * np.sin(x * 0.9 + z) * np.cos(y * 0.7), 0)
    return np.clip(np.round(hu + 1024), 0, 4095).astype(np.uint16)


def htj2k(pixels: np.ndarray, bits: int, work: Path, name: str) -> bytes:
    """Encodes one grayscale frame with htj2k.mjs (reversible, RPCL, TLM, tile-parts by
    resolution) and checks that OpenJPEG decodes it back to the same pixels."""
    src = work / f"{name}.pgm"
    out = work / f"{name}.j2c"
    back = work / f"{name}.back.pgm"
    maxval = (1 << bits) - 1
    rows, cols = pixels.shape
    header = f"P5\n{cols} {rows}\n{maxval}\n".encode()
    src.write_bytes(header + pixels.astype(">u2").tobytes())
    subprocess.run(
        ["node", str(Path(__file__).resolve().parent / "htj2k.mjs"), str(src), str(out)],
        check=True, stdout=subprocess.DEVNULL,
    )
    subprocess.run(["opj_decompress", "-i", str(out), "-o", str(back)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    decoded = read_pgm(back)
    if not np.array_equal(decoded, pixels):
        raise SystemExit(f"HTJ2K round trip of {name} is not lossless")
    return out.read_bytes()


def read_pgm(path: Path) -> np.ndarray:
    """Reads a binary PGM, skipping comment lines (OpenJPEG writes one)."""
    data = path.read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1
    cols, rows, maxval = int(fields[1]), int(fields[2]), int(fields[3])
    dtype = ">u2" if maxval > 255 else "u1"
    size = rows * cols * np.dtype(dtype).itemsize
    return np.frombuffer(data[pos:pos + size], dtype=dtype).reshape(rows, cols)


def save(ds, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def ct_geometry(ds, z, thickness):
    ds.ImagePositionPatient = [-125.0, -125.0, float(z)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.9765625, 0.9765625]
    ds.SliceThickness = thickness
    ds.SliceLocation = float(z)
    ds.FrameOfReferenceUID = uid("demo", "ct", "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = [40, -600]
    ds.WindowWidth = [400, 1500]
    ds.BodyPartExamined = "CHEST"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.KVP = 120


def make_ct_study(out: Path, work: Path):
    patient = ("PHANTOM^CHEST", "DEMO001", "19700101", "O")
    study_uid = uid("demo", "ct", "study")
    study = (study_uid, "20240115", "093000", "CT1", "ACC-0001", "CT PHANTOM")
    job = out / "ct-phantom"

    series = (uid("demo", "ct", "series", 1), "CT", 1, "Axial 3mm HTJ2K")
    for i in range(64):
        z = i * 3.0
        px = ct_phantom(i)
        sop = uid("demo", "ct", "s1", i)
        ds = base_dataset(CT_IMAGE, sop, HTJ2KLosslessRPCL, patient, study, series, i + 1)
        set_pixels_module(ds, 256, 256, 12)
        ct_geometry(ds, z, 3.0)
        ds.PixelData = encapsulate([htj2k(px, 12, work, f"ct{i}")])
        ds["PixelData"].VR = "OB"
        save(ds, job / "series1-htj2k" / f"CT{i + 1:03d}.dcm")

    series = (uid("demo", "ct", "series", 2), "CT", 2, "Axial 24mm uncompressed")
    for i in range(8):
        px = ct_phantom(i * 8 + 4)
        sop = uid("demo", "ct", "s2", i)
        ds = base_dataset(CT_IMAGE, sop, ExplicitVRLittleEndian, patient, study, series, i + 1)
        set_pixels_module(ds, 256, 256, 12)
        ct_geometry(ds, (i * 8 + 4) * 3.0, 24.0)
        ds.PixelData = px.tobytes()
        ds["PixelData"].VR = "OW"
        save(ds, job / "series2-uncompressed" / f"CT{i + 1:03d}.dcm")

    series = (uid("demo", "ct", "series", 3), "OT", 3, "Rotating phantom cine (36 frames)")
    frames = []
    for f in range(36):
        img = Image.new("I;16", (128, 128), 0)
        d = ImageDraw.Draw(img)
        a = 2 * np.pi * f / 36
        d.ellipse((14, 14, 114, 114), fill=1500)
        cx, cy = 64 + 30 * np.cos(a), 64 + 30 * np.sin(a)
        d.ellipse((cx - 12, cy - 12, cx + 12, cy + 12), fill=3800)
        d.rectangle((58, 20, 70, 108), fill=2600)
        px = np.array(img, dtype=np.uint16)
        frames.append(htj2k(px, 12, work, f"cine{f}"))
    sop = uid("demo", "ct", "s3", 0)
    ds = base_dataset(SC_MULTIFRAME_WORD, sop, HTJ2KLosslessRPCL, patient, study, series, 1)
    set_pixels_module(ds, 128, 128, 12)
    ds.NumberOfFrames = 36
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = 100
    ds.WindowCenter = 2000
    ds.WindowWidth = 4000
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    save(ds, job / "series3-multiframe" / "MF001.dcm")


def mr_slice(i, size=256):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    u = (x - size / 2) / (size / 2)
    v = (y - size / 2) / (size / 2)
    img = np.zeros((size, size))
    head = (u / 0.75) ** 2 + (v / 0.9) ** 2 <= 1
    img[head] = 90
    brain = (u / 0.66) ** 2 + (v / 0.8) ** 2 <= 1
    img = np.where(brain, 150 + 40 * np.cos(6 * np.arctan2(v, u) + i * 0.3) * (u * u + v * v), img)
    for cx in (-0.2, 0.2):
        ventricle = ((u - cx) / 0.08) ** 2 + ((v + 0.05) / (0.25 + 0.01 * i)) ** 2 <= 1
        img[ventricle] = 40
    return np.clip(img, 0, 255).astype(np.uint8)


def make_mixed_study(out: Path):
    patient = ("COLOR^MIXED", "DEMO002", "19851224", "F")
    study_uid = uid("demo", "mixed", "study")
    study = (study_uid, "20240220", "141500", "MX1", "ACC-0002", "MR AND PHOTO")
    job = out / "mixed"

    series = (uid("demo", "mixed", "series", 1), "MR", 1, "Axial T2 JPEG baseline")
    for i in range(12):
        px = mr_slice(i)
        buf = io.BytesIO()
        Image.fromarray(px, mode="L").save(buf, format="JPEG", quality=92, optimize=False)
        sop = uid("demo", "mixed", "s1", i)
        ds = base_dataset(MR_IMAGE, sop, JPEGBaseline8Bit, patient, study, series, i + 1)
        set_pixels_module(ds, 256, 256, 8)
        ds.ImagePositionPatient = [-120.0, -120.0, float(i * 5)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.9375, 0.9375]
        ds.SliceThickness = 5
        ds.FrameOfReferenceUID = uid("demo", "mixed", "frame-of-reference")
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.PixelData = encapsulate([buf.getvalue()])
        ds["PixelData"].VR = "OB"
        save(ds, job / "series1-jpeg" / f"MR{i + 1:03d}.dcm")

    series = (uid("demo", "mixed", "series", 2), "XC", 2, "Clinical photograph (RGB)")
    img = Image.new("RGB", (320, 240), (235, 222, 200))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 170, 320, 240), fill=(70, 110, 60))
    d.ellipse((40, 30, 140, 130), fill=(240, 190, 40))
    d.polygon([(170, 170), (240, 60), (310, 170)], fill=(90, 90, 160))
    d.rectangle((200, 120, 230, 170), fill=(180, 40, 40))
    px = np.array(img, dtype=np.uint8)
    sop = uid("demo", "mixed", "s2", 0)
    ds = base_dataset(VL_PHOTO, sop, ExplicitVRLittleEndian, patient, study, series, 1)
    set_pixels_module(ds, 240, 320, 8, samples=3, photometric="RGB")
    ds.PixelData = px.tobytes()
    ds["PixelData"].VR = "OB"
    save(ds, job / "series2-rgb" / "XC001.dcm")


def main():
    here = Path(__file__).resolve().parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "dicom"
    for tool in ("node", "npm", "opj_decompress"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install nodejs npm libopenjp2-tools")
    if not (here / "node_modules" / "@cornerstonejs" / "codec-openjph").exists():
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=here, check=True)
    if out.exists():
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory() as tmp:
        make_ct_study(out, Path(tmp))
    make_mixed_study(out)
    files = sorted(out.rglob("*.dcm"))
    total = sum(f.stat().st_size for f in files)
    print(f"wrote {len(files)} files, {total / 1e6:.1f} MB, to {out}")


if __name__ == "__main__":
    main()
