#!/usr/bin/env python3
"""Lays the real-world corpus out as datastore folders for `dicomweb-edge serve`: every file
of pydicom's test files and of pydicom-data, and the objects `highdicom_objects.py` makes
(binary and fractional segmentations, a Comprehensive 3D SR, their CT), each as an import
job of its own (a subfolder),
spread over datastores `ds0`, `ds1`, … so that no two files in one datastore share a Study,
Series or SOP Instance UID (the corpus reuses UIDs across copies of one image in several
syntaxes; each copy is a separate import, not a collision). Files pydicom cannot read go to
`ds0`, where the import is expected to refuse them.

Prints JSON: {"datastores": ["ds0", …], "files": [{"source", "path", "datastore",
"readable"}]}.

Usage: corpus_layout.py OUT_DIR
"""
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pydicom

warnings.simplefilter("ignore")


def sources(made):
    dirs = [Path(pydicom.__file__).parent / "data" / "test_files", made]
    try:
        import data_store

        dirs.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    for d in dirs:
        for p in sorted(d.rglob("*")):
            if p.is_file():
                yield p


def uids(path):
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        return [str(ds[k].value) for k in
                ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")]
    except Exception:  # noqa: BLE001 - not readable: the import must refuse it
        return None


def main():
    out = Path(sys.argv[1])
    made = out / "made-with-highdicom"
    subprocess.run([sys.executable, str(Path(__file__).with_name("highdicom_objects.py")),
                    str(made)], check=True, capture_output=True)
    stores = []  # the UIDs each datastore holds
    files = []
    for n, src in enumerate(sources(made)):
        ids = uids(src)
        if ids is None:
            i = 0
        else:
            i = next((k for k, s in enumerate(stores) if not s & set(ids)), len(stores))
        while len(stores) <= i:
            stores.append(set())
        stores[i] |= set(ids or [])
        dest = out / f"ds{i}" / f"{n:04}" / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        files.append({"source": str(src), "path": str(dest), "datastore": f"ds{i}",
                      "readable": ids is not None})
    print(json.dumps({"datastores": [f"ds{i}" for i in range(len(stores))], "files": files}))


if __name__ == "__main__":
    main()
