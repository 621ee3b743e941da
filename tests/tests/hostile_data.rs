//! Hostile files in `--data`: a file that declares an element longer than the file is
//! skipped with the reason, before dicom-rs would reserve (and zero-fill) the declared
//! length. pydicom's `UN_sequence.dcm` (674 bytes) used to drive the import to a 3.6 GB peak
//! for 45 s; now the whole process stays within a small bound and valid files beside it are
//! served.

use std::io::Write;

use e2e::*;

/// Appends one Explicit VR Little Endian element.
fn element(out: &mut Vec<u8>, group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) {
    out.extend(group.to_le_bytes());
    out.extend(elem.to_le_bytes());
    out.extend(vr);
    if matches!(vr, b"OB" | b"OW" | b"UN" | b"SQ") {
        out.extend([0, 0]);
        out.extend((value.len() as u32).to_le_bytes());
    } else {
        out.extend((value.len() as u16).to_le_bytes());
    }
    out.extend(value);
}

/// A Part 10 file of `dataset` (its bytes in transfer syntax `ts`, NUL-padded).
fn part10(ts: &[u8], dataset: &[u8]) -> Vec<u8> {
    let mut meta = Vec::new();
    element(&mut meta, 0x0002, 0x0001, b"OB", &[0, 1]);
    element(
        &mut meta,
        0x0002,
        0x0002,
        b"UI",
        b"1.2.840.10008.5.1.4.1.1.7\0",
    );
    element(&mut meta, 0x0002, 0x0003, b"UI", b"1.2.3.4.5.6.7.8\0");
    element(&mut meta, 0x0002, 0x0010, b"UI", ts);
    let mut out = vec![0u8; 128];
    out.extend(b"DICM");
    element(
        &mut out,
        0x0002,
        0x0000,
        b"UL",
        &(meta.len() as u32).to_le_bytes(),
    );
    out.extend(meta);
    out.extend(dataset);
    out
}

/// What the emulator made of a folder: its peak RSS, its datastore lines and its log.
struct Imported {
    peak_mib: u64,
    datastores: String,
    log: String,
}

/// Imports `dir` with `dicomweb-edge emulator`.
fn import(dir: &std::path::Path) -> Imported {
    let log = tempfile::NamedTempFile::new().unwrap();
    let p = Process::start_with_stderr(
        &[
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--data",
            dir.to_str().unwrap(),
        ],
        &[],
        log.reopen().unwrap(),
    );
    let peak_mib = proc_status_kib(p.pid(), "VmHWM:") / 1024;
    let datastores = p.lines.join("\n");
    drop(p);
    Imported {
        peak_mib,
        datastores,
        log: std::fs::read_to_string(log.path()).unwrap(),
    }
}

/// The line that says the import skipped `name`.
fn skipped<'a>(log: &'a str, name: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains("skipped file") && l.contains(name))
        .unwrap_or_else(|| panic!("{name} not skipped: {log}"))
}

/// A Part 10 file whose Pixel Data element declares `declared` bytes and holds 4.
fn lying_file(declared: u32) -> Vec<u8> {
    let mut dataset = Vec::new();
    element(&mut dataset, 0x0020, 0x000D, b"UI", b"1.2.3.4\0");
    // Pixel Data, OB, declared length far beyond the file.
    dataset.extend(0x7FE0u16.to_le_bytes());
    dataset.extend(0x0010u16.to_le_bytes());
    dataset.extend(b"OB\0\0");
    dataset.extend(declared.to_le_bytes());
    dataset.extend([1, 2, 3, 4]);
    part10(b"1.2.840.10008.1.2.1\0", &dataset)
}

/// An instance's data set whose Content Sequence nests `levels` deep (undefined lengths,
/// as SR writers emit them), with a Code Meaning in the innermost item.
fn nested_dataset(levels: usize, sop: &str) -> Vec<u8> {
    let mut out = Vec::new();
    element(
        &mut out,
        0x0008,
        0x0016,
        b"UI",
        b"1.2.840.10008.5.1.4.1.1.88.33\0",
    );
    let mut uid = sop.as_bytes().to_vec();
    if uid.len() % 2 == 1 {
        uid.push(0);
    }
    element(&mut out, 0x0008, 0x0018, b"UI", &uid);
    element(&mut out, 0x0008, 0x0060, b"CS", b"SR");
    element(
        &mut out,
        0x0020,
        0x000D,
        b"UI",
        b"1.2.826.0.1.3680043.8.498.1\0",
    );
    element(
        &mut out,
        0x0020,
        0x000E,
        b"UI",
        b"1.2.826.0.1.3680043.8.498.2\0",
    );
    let header = |out: &mut Vec<u8>, group: u16, elem: u16| {
        out.extend(group.to_le_bytes());
        out.extend(elem.to_le_bytes());
    };
    for _ in 0..levels {
        header(&mut out, 0x0040, 0xA730);
        out.extend(b"SQ\0\0");
        out.extend(u32::MAX.to_le_bytes());
        header(&mut out, 0xFFFE, 0xE000);
        out.extend(u32::MAX.to_le_bytes());
    }
    element(&mut out, 0x0008, 0x0104, b"LO", b"innermost ");
    for _ in 0..levels {
        header(&mut out, 0xFFFE, 0xE00D);
        out.extend(0u32.to_le_bytes());
        header(&mut out, 0xFFFE, 0xE0DD);
        out.extend(0u32.to_le_bytes());
    }
    out
}

#[test]
fn a_file_declaring_more_than_it_holds_is_skipped_within_a_small_bound() {
    if !python_oracle_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let un_sequence = python(
        "import pydicom.data; print(pydicom.data.get_testdata_file('UN_sequence.dcm'))",
        &[],
    );
    std::fs::copy(un_sequence.trim(), dir.path().join("UN_sequence.dcm")).unwrap();
    std::fs::File::create(dir.path().join("lying.dcm"))
        .unwrap()
        .write_all(&lying_file(0xF000_0000))
        .unwrap();
    // A valid file beside them is still imported.
    let demo = workspace().join("demo/dicom/ct-phantom");
    let valid = std::fs::read_dir(&demo)
        .unwrap()
        .flat_map(|e| std::fs::read_dir(e.unwrap().path()).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "dcm"))
        .expect("a demo file");
    std::fs::copy(&valid, dir.path().join("valid.dcm")).unwrap();

    let Imported {
        peak_mib,
        datastores,
        log,
    } = import(dir.path());
    for name in ["UN_sequence.dcm", "lying.dcm"] {
        let line = skipped(&log, name);
        assert!(line.contains("declares"), "{line}");
    }
    assert!(datastores.contains("(1 image sets)"), "{datastores}");
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
}

/// Sequences nested deeper than the import reads (32 levels) are refused with the reason,
/// also in a deflated file, without exhausting the stack (5,000 levels overflowed it); a
/// file at the limit is served, and its metadata read by every reader on the way (the
/// emulator's store, the translator) and written out as DICOM JSON that a JSON parser with
/// serde_json's default depth limit reads.
#[test]
fn deep_nesting_is_refused_at_import_and_what_is_imported_is_served() {
    const EXPLICIT_LE: &[u8] = b"1.2.840.10008.1.2.1\0";
    const DEFLATED: &[u8] = b"1.2.840.10008.1.2.1.99";
    let dir = tempfile::tempdir().unwrap();
    let deflated = |dataset: &[u8]| {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(dataset).unwrap();
        z.finish().unwrap()
    };
    let files = [
        (
            "limit.dcm",
            part10(
                EXPLICIT_LE,
                &nested_dataset(32, "1.2.826.0.1.3680043.8.498.3"),
            ),
        ),
        (
            "one-more.dcm",
            part10(
                EXPLICIT_LE,
                &nested_dataset(33, "1.2.826.0.1.3680043.8.498.4"),
            ),
        ),
        (
            "deep.dcm",
            part10(
                EXPLICIT_LE,
                &nested_dataset(5_000, "1.2.826.0.1.3680043.8.498.5"),
            ),
        ),
        (
            "deep-deflated.dcm",
            part10(
                DEFLATED,
                &deflated(&nested_dataset(5_000, "1.2.826.0.1.3680043.8.498.6")),
            ),
        ),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let p = Process::start_with_stderr(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--no-viewer",
            "--data",
        ]
        .into_iter()
        .chain([dir.path().to_str().unwrap()])
        .collect::<Vec<_>>(),
        &[],
        log.reopen().unwrap(),
    );
    let base = p.dicomweb_url();
    let url = format!(
        "{base}/studies/1.2.826.0.1.3680043.8.498.1/series/1.2.826.0.1.3680043.8.498.2/instances/1.2.826.0.1.3680043.8.498.3/metadata"
    );
    let resp = reqwest::blocking::get(&url).unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_str(&text).expect("within serde_json's depth");
    for _ in 0..32 {
        doc = doc
            .pointer("/0/0040A730/Value")
            .or(doc.pointer("/0040A730/Value"))
            .cloned()
            .unwrap_or_else(|| panic!("{doc}"));
        doc = doc[0].clone();
    }
    assert_eq!(doc["00080104"]["Value"][0], "innermost");
    let search = reqwest::blocking::get(format!("{base}/instances"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(search.matches("\"00080018\"").count(), 1, "{search}");
    drop(p);
    let log = std::fs::read_to_string(log.path()).unwrap();
    for name in ["one-more.dcm", "deep.dcm", "deep-deflated.dcm"] {
        let line = skipped(&log, name);
        assert!(line.contains("more than 32 levels"), "{line}");
    }
}

/// A value outside Pixel Data too large for HealthImaging's 50 MB of metadata per image set
/// (a 40 MB private attribute: 53 MB as base64) is refused with the reason before anything
/// copies it (a 50 MB one took the import to a 484 MB peak); a 1 MB one beside it imports.
#[test]
fn a_value_too_large_for_the_metadata_is_refused_within_a_small_bound() {
    let dataset = |sop: &str, private_bytes: usize| {
        let mut out = Vec::new();
        element(
            &mut out,
            0x0008,
            0x0016,
            b"UI",
            b"1.2.840.10008.5.1.4.1.1.7\0",
        );
        element(&mut out, 0x0008, 0x0018, b"UI", sop.as_bytes());
        element(&mut out, 0x0009, 0x0010, b"LO", b"HUGE");
        element(&mut out, 0x0009, 0x1001, b"OB", &vec![7u8; private_bytes]);
        element(
            &mut out,
            0x0020,
            0x000D,
            b"UI",
            b"1.2.826.0.1.3680043.8.498.7\0",
        );
        element(
            &mut out,
            0x0020,
            0x000E,
            b"UI",
            b"1.2.826.0.1.3680043.8.498.8\0",
        );
        out
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("huge.dcm"),
        part10(
            b"1.2.840.10008.1.2.1\0",
            &dataset("1.2.826.0.1.3680043.8.498.9\0", 40_000_000),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("large.dcm"),
        part10(
            b"1.2.840.10008.1.2.1\0",
            &dataset("1.2.826.0.1.3680043.8.498.10", 1_000_000),
        ),
    )
    .unwrap();
    let Imported {
        peak_mib,
        datastores,
        log,
    } = import(dir.path());
    let line = skipped(&log, "huge.dcm");
    assert!(
        line.contains("(0009,1001) holds 40000000 bytes, more than HealthImaging's 50 MB"),
        "{line}"
    );
    assert!(datastores.contains("(1 image sets)"), "{datastores}");
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
}
