#!/usr/bin/env python3
"""Searches and reads metadata with the Python `dicomweb-client` through a DICOMweb root, and
compares everything with what pydicom reads from the source files (an independent reader and
an independent DICOM JSON parser: pydicom's `Dataset.from_json`).

Checks: the studies found (UIDs, patient, accession, modalities, counts), a PatientID
filter, each study's series (modality, description, instance count), each series'
instances, every attribute of every source file (pixel data and file meta excepted)
against the series metadata, and, for uncompressed files, the frames behind the Pixel Data
BulkDataURI against the file's pixel data. Prints JSON:
{"studies", "series", "instances", "attributes", "bulkdata_frames", "mismatches": [...]}.

Usage: dicomweb_client_search.py DICOMWEB_ROOT FOLDER
"""
import json
import sys
from pathlib import Path

import pydicom
from dicomweb_client.api import DICOMwebClient

root, folder = sys.argv[1:3]
client = DICOMwebClient(url=root)
summary = {"studies": 0, "series": 0, "instances": 0, "attributes": 0, "bulkdata_frames": 0,
           "mismatches": []}


def miss(what, want, got):
    summary["mismatches"].append({"what": what, "want": str(want), "got": str(got)})


def first(obj, tag):
    v = obj.get(tag, {}).get("Value", [None])
    return v[0] if v else None


def same(a, b):
    if isinstance(a, (list, pydicom.multival.MultiValue)):
        return isinstance(b, (list, pydicom.multival.MultiValue)) and len(a) == len(b) and all(
            same(x, y) for x, y in zip(a, b))
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).rstrip(" \0") == str(b).rstrip(" \0")


files = {}
for path in sorted(p for p in Path(folder).rglob("*.dcm")):
    ds = pydicom.dcmread(path)
    files.setdefault(ds.StudyInstanceUID, {}).setdefault(ds.SeriesInstanceUID, {})[ds.SOPInstanceUID] = ds

studies = {first(s, "0020000D"): s for s in client.search_for_studies()}
if set(studies) != set(files):
    miss("study UIDs", sorted(files), sorted(studies))
for study_uid, series_map in files.items():
    summary["studies"] += 1
    any_ds = next(iter(next(iter(series_map.values())).values()))
    found = studies.get(study_uid, {})
    for tag, want in [("00100020", any_ds.PatientID), ("00080050", any_ds.AccessionNumber),
                      ("00201206", len(series_map)),
                      ("00201208", sum(len(i) for i in series_map.values()))]:
        if not same(want, first(found, tag)):
            miss(f"study {study_uid} {tag}", want, first(found, tag))
    name = (first(found, "00100010") or {}).get("Alphabetic")
    if name != str(any_ds.PatientName):
        miss(f"study {study_uid} PatientName", any_ds.PatientName, name)
    modalities = sorted({next(iter(i.values())).Modality for i in series_map.values()})
    if sorted(found.get("00080061", {}).get("Value", [])) != modalities:
        miss(f"study {study_uid} ModalitiesInStudy", modalities, found.get("00080061"))
    by_patient = client.search_for_studies(search_filters={"PatientID": any_ds.PatientID})
    if [first(s, "0020000D") for s in by_patient] != [study_uid]:
        miss(f"PatientID={any_ds.PatientID}", [study_uid], [first(s, "0020000D") for s in by_patient])

    series_found = {first(s, "0020000E"): s for s in client.search_for_series(study_uid)}
    if set(series_found) != set(series_map):
        miss(f"study {study_uid} series", sorted(series_map), sorted(series_found))
    for series_uid, instances in series_map.items():
        summary["series"] += 1
        s = series_found.get(series_uid, {})
        one = next(iter(instances.values()))
        for tag, want in [("00080060", one.Modality), ("0008103E", one.SeriesDescription),
                          ("00201209", len(instances))]:
            if not same(want, first(s, tag)):
                miss(f"series {series_uid} {tag}", want, first(s, tag))
        found_sops = {first(i, "00080018") for i in client.search_for_instances(study_uid, series_uid)}
        if found_sops != set(instances):
            miss(f"series {series_uid} instances", sorted(instances), sorted(found_sops))
        metadata = {first(m, "00080018"): m for m in client.retrieve_series_metadata(study_uid, series_uid)}
        for sop, src in instances.items():
            summary["instances"] += 1
            if sop not in metadata:
                miss(f"metadata of {sop}", "present", "absent")
                continue
            if not src.file_meta.TransferSyntaxUID.is_compressed:
                uri = metadata[sop].get("7FE00010", {}).get("BulkDataURI")
                n = int(getattr(src, "NumberOfFrames", 1) or 1)
                length = len(src.PixelData) // n
                parts = client.retrieve_bulkdata(uri) if uri else []
                want = [src.PixelData[i * length:(i + 1) * length] for i in range(n)]
                if parts != want:
                    miss(f"{sop} Pixel Data bulk data", f"{n} frames", f"{len(parts)} parts")
                summary["bulkdata_frames"] += len(parts)
            got = pydicom.Dataset.from_json(metadata[sop])
            for elem in src:
                if elem.tag.group == 0x7FE0 or elem.tag.group == 0x0002:
                    continue
                summary["attributes"] += 1
                other = got.get(elem.tag)
                if other is None:
                    miss(f"{sop} {elem.tag} {elem.keyword}", elem.value, "absent")
                elif elem.VR == "SQ":
                    if len(other.value) != len(elem.value):
                        miss(f"{sop} {elem.keyword} items", len(elem.value), len(other.value))
                elif not same(elem.value, other.value):
                    miss(f"{sop} {elem.tag} {elem.keyword}", elem.value, other.value)

print(json.dumps(summary))
