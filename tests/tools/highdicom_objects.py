#!/usr/bin/env python3
"""Writes objects made with highdicom (the reference implementation of the DICOM object
models the AI and annotation tools use) beside the corpus, for what pydicom's test files
lack: a binary segmentation whose frames do not end on a byte (1 bit allocated, 5 × 7
pixels: 35 bits a frame, packed end to end), a fractional one, and a Comprehensive 3D SR
measuring it (coordinates as FL values, nested content items), over a small CT series of odd
size that pydicom writes; and a Parametric Map of 32-bit floats (Float Pixel Data), which the
import refuses. Every object is deterministic (fixed UIDs).

Usage: highdicom_objects.py OUT_DIR  (writes OUT_DIR/<name>.dcm; prints the names)
"""
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = "1.2.826.0.1.3680043.10.1137."


def uid(name):
    return generate_uid(prefix=ROOT, entropy_srcs=[name])


def ct_slice(n):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid(f"ct-{n}")
    ds.SOPClassUID = pydicom.uid.CTImageStorage
    ds.SOPInstanceUID = uid(f"ct-{n}")
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("ct-series")
    ds.FrameOfReferenceUID = uid("frame-of-reference")
    ds.PatientName = "Highdicom^Phantom"
    ds.PatientID = "HD-1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate, ds.StudyTime = "20240301", "101500"
    ds.AccessionNumber = "HD-ACC"
    ds.StudyID = "1"
    ds.ReferringPhysicianName = ""
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = n + 1
    ds.Manufacturer = "pydicom"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [0.0, 0.0, float(n)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.0
    ds.Rows, ds.Columns = 5, 7
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    pixels = (np.arange(35, dtype=np.uint16).reshape(5, 7) * (n + 3) * 20) % 4096
    ds.PixelData = pixels.tobytes()
    return ds


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    ct = [ct_slice(n) for n in range(3)]
    written = []
    for n, ds in enumerate(ct):
        ds.save_as(out / f"highdicom_ct_{n + 1}.dcm", enforce_file_format=True)
        written.append(f"highdicom_ct_{n + 1}.dcm")

    mask = np.zeros((3, 5, 7), dtype=bool)
    mask[:, 1:4, 2:6] = True
    mask[1, 0, 0] = True
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="phantom",
        segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    common = dict(
        source_images=ct,
        segment_descriptions=[description],
        manufacturer="highdicom",
        manufacturer_model_name="corpus",
        software_versions=hd.__version__,
        device_serial_number="1",
        omit_empty_frames=False,
    )
    for kind, pixels, series_number in [
        ("binary", mask, 2),
        ("fractional", mask.astype(np.float32) * 0.75, 3),
    ]:
        seg = hd.seg.Segmentation(
            pixel_array=pixels,
            segmentation_type=hd.seg.SegmentationTypeValues[kind.upper()],
            series_instance_uid=uid(f"seg-{kind}-series"),
            series_number=series_number,
            sop_instance_uid=uid(f"seg-{kind}"),
            instance_number=1,
            **common,
        )
        name = f"highdicom_seg_{kind}.dcm"
        seg.save_as(out / name)
        written.append(name)

    parametric = hd.pm.ParametricMap(
        source_images=ct,
        pixel_array=np.linspace(0.0, 1.0, 105, dtype=np.float32).reshape(3, 5, 7),
        series_instance_uid=uid("pm-series"),
        series_number=5,
        sop_instance_uid=uid("pm"),
        instance_number=1,
        manufacturer="highdicom",
        manufacturer_model_name="corpus",
        software_versions=hd.__version__,
        device_serial_number="1",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[hd.pm.RealWorldValueMapping(
            lut_label="unit",
            lut_explanation="a ramp",
            unit=codes.UCUM.NoUnits,
            value_range=(0.0, 1.0),
            slope=1.0,
            intercept=0.0,
        )],
        window_center=0.5,
        window_width=1.0,
    )
    parametric.save_as(out / "highdicom_parametric_map_float.dcm")
    written.append("highdicom_parametric_map_float.dcm")

    region = hd.sr.ImageRegion3D(
        graphic_type=hd.sr.GraphicTypeValues3D.POLYGON,
        graphic_data=np.array([[1.0, 0.5, 1.0], [2.5, 0.5, 1.0], [2.5, 1.5, 1.0], [1.0, 0.5, 1.0]]),
        frame_of_reference_uid=uid("frame-of-reference"),
    )
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid("tracking"), identifier="roi 1"),
        referenced_region=region,
        finding_type=codes.SCT.Tissue,
        measurements=[
            hd.sr.Measurement(
                name=codes.SCT.Area,
                value=1.5,
                unit=codes.UCUM.SquareMillimeter,
            )
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Person,
                observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                    name="Reader^Corpus"
                ),
            )
        ),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[group],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=ct,
        content=report,
        series_instance_uid=uid("sr-series"),
        series_number=4,
        sop_instance_uid=uid("sr"),
        instance_number=1,
        manufacturer="highdicom",
    )
    sr.save_as(out / "highdicom_sr_comprehensive3d.dcm")
    written.append("highdicom_sr_comprehensive3d.dcm")
    print("\n".join(written))


if __name__ == "__main__":
    main()
