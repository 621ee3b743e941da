//! Hostile files in `--data`: a file that declares an element longer than the file is
//! skipped with the reason, before dicom-rs would reserve (and zero-fill) the declared
//! length. pydicom's `UN_sequence.dcm` (674 bytes) used to drive the import to a 3.6 GB peak
//! for 45 s; now the whole process stays within a small bound and valid files beside it are
//! served.

use std::io::Write;

use e2e::*;

/// A Part 10 file whose Pixel Data element declares `declared` bytes and holds 4.
fn lying_file(declared: u32) -> Vec<u8> {
    let ts = b"1.2.840.10008.1.2.1\0";
    let mut meta = Vec::new();
    let element = |out: &mut Vec<u8>, group: u16, elem: u16, vr: &[u8; 2], value: &[u8]| {
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
    };
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
    element(&mut out, 0x0020, 0x000D, b"UI", b"1.2.3.4\0");
    // Pixel Data, OB, declared length far beyond the file.
    out.extend(0x7FE0u16.to_le_bytes());
    out.extend(0x0010u16.to_le_bytes());
    out.extend(b"OB\0\0");
    out.extend(declared.to_le_bytes());
    out.extend([1, 2, 3, 4]);
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

    let log = tempfile::NamedTempFile::new().unwrap();
    let p = Process::start_with_stderr(
        &[
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--data",
            dir.path().to_str().unwrap(),
        ],
        &[],
        log.reopen().unwrap(),
    );
    let peak_mib = proc_status_kib(p.pid(), "VmHWM:") / 1024;
    let datastores = p.lines.join("\n");
    drop(p);
    let log = std::fs::read_to_string(log.path()).unwrap();
    for name in ["UN_sequence.dcm", "lying.dcm"] {
        let line = log
            .lines()
            .find(|l| l.contains("skipped file") && l.contains(name))
            .unwrap_or_else(|| panic!("{name} not skipped: {log}"));
        assert!(line.contains("declares"), "{line}");
    }
    assert!(datastores.contains("(1 image sets)"), "{datastores}");
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
}
