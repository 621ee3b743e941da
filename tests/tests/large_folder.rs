//! A folder much larger than the memory `serve` takes: frames stay in their files, so the
//! server's RSS after the import is bounded by the number of instances (their metadata),
//! not by their pixel data, and frames are still the files' bytes. The folder comes from
//! `tests/tools/generate_folder.py`; the bench `large_folder` runs the same at 5 GB.

use e2e::{Process, proc_status_kib, python_oracle_available, workspace};

#[test]
fn memory_does_not_grow_with_pixel_data_and_frames_are_the_files_bytes() {
    if !python_oracle_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    let status = std::process::Command::new("python3")
        .arg(workspace().join("tests/tools/generate_folder.py"))
        .arg(&folder)
        .args(["--gigabytes", "0.4", "--slices", "100"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let studies = std::fs::read_dir(&folder).unwrap().count();
    let pixel_mib = studies * 100 * 512 * 512 * 2 / (1 << 20);
    assert!(pixel_mib >= 350, "{studies} studies");

    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--cache-mb",
            "0",
            "--data",
            folder.to_str().unwrap(),
        ],
        &[],
    );
    let (rss, peak) = (
        proc_status_kib(p.pid(), "VmRSS:") / 1024,
        proc_status_kib(p.pid(), "VmHWM:") / 1024,
    );
    eprintln!("{studies} studies, {pixel_mib} MiB of pixel data: RSS {rss} MiB, peak {peak} MiB");
    // Studies of 100 uncompressed 512x512 slices (50 MiB of pixel data) and 64 HTJ2K slices
    // each. Holding the frames in memory took more than the pixel data.
    let image_sets = format!("({studies} image sets)");
    assert!(
        p.lines.iter().any(|l| l.ends_with(&image_sets)),
        "{:?}",
        p.lines
    );
    assert!(
        rss < 80 && peak < 120,
        "RSS {rss} MiB after the import, peak {peak} MiB, for {pixel_mib} MiB of pixel data"
    );

    let base = p.dicomweb_url();
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    for file in ["study0003/CT0042.dcm", "study0007/HTCT010.dcm"] {
        let obj = dicom_object::open_file(folder.join(file)).unwrap();
        let uid = |tag| {
            obj.element(tag)
                .unwrap()
                .to_str()
                .unwrap()
                .trim()
                .to_owned()
        };
        use dicom_dictionary_std::tags;
        let url = format!(
            "{base}/studies/{}/series/{}/instances/{}/frames/1",
            uid(tags::STUDY_INSTANCE_UID),
            uid(tags::SERIES_INSTANCE_UID),
            uid(tags::SOP_INSTANCE_UID)
        );
        let r = client
            .get(url)
            .header(
                "accept",
                r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#,
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{file}");
        let boundary =
            dicomweb::multipart::boundary_of(r.headers()["content-type"].to_str().unwrap())
                .unwrap();
        let parts = dicomweb::multipart::parse(&r.bytes().unwrap(), &boundary).unwrap();
        let pixels = obj.element(tags::PIXEL_DATA).unwrap();
        let want = match pixels.value() {
            dicom_core::value::Value::PixelSequence(seq) => seq.fragments()[0].clone(),
            _ => pixels.to_bytes().unwrap().into_owned(),
        };
        assert_eq!(parts.len(), 1);
        assert!(
            parts[0].body == want,
            "{file}: frame differs from the file's"
        );
    }
}
