//! Rendered resources and thumbnails through `serve` (PS3.18 §10.4.1.1.3, §10.4.1.1.4),
//! checked against an independent rendering of the source files (pydicom's Modality and VOI
//! LUT functions, `tests/tools/rendered_oracle.py`), and their refusals, cache headers and
//! edge-cache behaviour.

use std::path::Path;

use e2e::{Process, json_output, python_modules_available, workspace};
use reqwest::blocking::Client;
use serde_json::Value;

const ORACLE: &str = "pydicom, numpy, PIL, pylibjpeg, openjpeg, libjpeg";

/// `serve` over the demo data and `extra` (datastores named after their folders), with the
/// edge cache on; the DICOMweb roots by folder name.
fn serve(extra: &Path) -> (Process, Vec<(String, String)>) {
    let demo = workspace().join("demo/dicom");
    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--no-viewer",
            "--data",
            &demo.display().to_string(),
            "--data",
            &extra.display().to_string(),
        ],
        &[],
    );
    let roots = p
        .datastores_by_name()
        .into_iter()
        .map(|(name, id)| (name, format!("{}/datastore/{id}", p.url)))
        .collect();
    (p, roots)
}

fn cases() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("render-cases")
        .tempdir()
        .expect("tempdir");
    let cases = dir.path().join("cases");
    let status = std::process::Command::new("python3")
        .arg(workspace().join("tests/tools/rendered_cases.py"))
        .arg(&cases)
        .status()
        .expect("run rendered_cases.py");
    assert!(status.success());
    dir
}

fn oracle(root: &str, folder: &Path) -> Value {
    json_output(
        std::process::Command::new("python3")
            .arg(workspace().join("tests/tools/rendered_oracle.py"))
            .arg(root)
            .arg(folder),
    )
}

/// Every demo instance and every generated case (MONOCHROME1, a VOI LUT, signed rescaled
/// data with two windows, 12 bits without a window, YBR_FULL) renders as pydicom does: PNG
/// within a mean absolute difference of 1 grey level (default, a given window, sigmoid),
/// JPEG (quality 90) within 4, `viewport=64,64` at the fitted size within 2 of Pillow's
/// bilinear reduction.
#[test]
fn rendered_images_match_pydicom() {
    if !python_modules_available(ORACLE) {
        return;
    }
    let tmp = cases();
    let (_p, roots) = serve(&tmp.path().join("cases"));
    let mut counted = 0;
    for (name, folder) in [
        ("dicom", workspace().join("demo/dicom")),
        ("cases", tmp.path().join("cases")),
    ] {
        let root = &roots.iter().find(|(n, _)| n == name).expect(name).1;
        let report = oracle(root, &folder);
        assert_eq!(report["skipped"], serde_json::json!([]), "{report}");
        let instances = report["instances"].as_array().expect("instances");
        assert!(instances.len() >= if name == "dicom" { 86 } else { 5 });
        for i in instances {
            for c in i["checks"].as_array().expect("checks") {
                let what = format!("{} {}: {c}", i["path"], c["name"]);
                assert_eq!(c["status"], 200, "{what}");
                let check = c["name"].as_str().unwrap();
                let media = if check == "jpeg" {
                    "image/jpeg"
                } else {
                    "image/png"
                };
                assert_eq!(c["content_type"], media, "{what}");
                assert_eq!(c["size"], c["expected_size"], "{what}");
                let bound = match check {
                    "jpeg" => 4.0,
                    "viewport" => 2.0,
                    _ => 1.0,
                };
                let mad = c["mad"].as_f64().expect("compared");
                assert!(
                    mad < bound,
                    "{what}: mean absolute difference {mad} ≥ {bound}"
                );
                counted += 1;
            }
        }
    }
    assert!(counted > 400, "{counted} comparisons");
}

fn get(client: &Client, url: &str, accept: Option<&str>) -> reqwest::blocking::Response {
    let mut r = client.get(url);
    if let Some(a) = accept {
        r = r.header("Accept", a);
    }
    r.send().expect("GET")
}

/// A client, the demo datastore's root and the CT phantom's study UID.
fn demo_ct(roots: &[(String, String)]) -> (Client, String, String) {
    let root = roots
        .iter()
        .find(|(n, _)| n == "dicom")
        .expect("demo")
        .1
        .clone();
    let c = Client::new();
    let studies: Value = get(&c, &format!("{root}/studies?ModalitiesInStudy=CT"), None)
        .json()
        .expect("studies");
    let study = studies[0]["0020000D"]["Value"][0]
        .as_str()
        .expect("study")
        .to_owned();
    (c, root, study)
}

fn size(body: &[u8]) -> (u32, u32) {
    let i = image::load_from_memory(body).expect("an image");
    (i.width(), i.height())
}

/// Thumbnails of every level, the refusals of the error table, and the cache: ETag and 304,
/// an edge-cache hit for the same parameters and a miss for others.
#[test]
fn thumbnails_refusals_and_caching() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_p, roots) = serve(tmp.path());
    let (c, root, study) = demo_ct(&roots);
    let root = &root;
    let series: Value = get(&c, &format!("{root}/studies/{study}/series"), None)
        .json()
        .expect("series");
    let uid = |v: &Value, tag: &str| v[tag]["Value"][0].as_str().unwrap().to_owned();
    let first_series = series
        .as_array()
        .unwrap()
        .iter()
        .min_by_key(|s| s["00200011"]["Value"][0].as_i64().unwrap_or(i64::MAX))
        .map(|s| uid(s, "0020000E"))
        .unwrap();
    let instances: Value = get(
        &c,
        &format!("{root}/studies/{study}/series/{first_series}/instances"),
        None,
    )
    .json()
    .expect("instances");
    let sop = uid(&instances[0], "00080018");
    let series_url = format!("{root}/studies/{study}/series/{first_series}");
    let instance = format!("{series_url}/instances/{sop}");

    // Thumbnails: JPEG within 128x128 at every level; a viewport is honoured.
    for url in [
        format!("{root}/studies/{study}/thumbnail"),
        format!("{series_url}/thumbnail"),
        format!("{instance}/thumbnail"),
        format!("{instance}/frames/1/thumbnail"),
    ] {
        let r = get(&c, &url, None);
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["content-type"], "image/jpeg", "{url}");
        let (w, h) = size(&r.bytes().unwrap());
        assert!(
            w <= 128 && h <= 128 && w.max(h) == 128.min(w.max(h)),
            "{url}: {w}x{h}"
        );
    }
    let r = get(
        &c,
        &format!("{instance}/thumbnail?viewport=32,32"),
        Some("image/png"),
    );
    assert_eq!(r.headers()["content-type"], "image/png");
    let (w, h) = size(&r.bytes().unwrap());
    assert!(w.max(h) == 32, "{w}x{h}");
    // The study's thumbnail is its first series' (the same picture), revalidated like
    // metadata; an instance's is immutable.
    let study_thumb = get(&c, &format!("{root}/studies/{study}/thumbnail"), None);
    let cc = study_thumb.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!cc.contains("immutable"), "{cc}");
    let study_bytes = study_thumb.bytes().unwrap();
    let series_bytes = get(&c, &format!("{series_url}/thumbnail"), None)
        .bytes()
        .unwrap();
    assert_eq!(study_bytes, series_bytes);
    let r = get(&c, &format!("{instance}/rendered"), None);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    // Rendered: the window changes the picture; an explicit frame equals the instance's.
    let plain = get(&c, &format!("{instance}/rendered"), Some("image/png"))
        .bytes()
        .unwrap();
    let frame1 = get(
        &c,
        &format!("{instance}/frames/1/rendered"),
        Some("image/png"),
    )
    .bytes()
    .unwrap();
    assert_eq!(plain, frame1);
    let narrow = get(
        &c,
        &format!("{instance}/rendered?window=0,100"),
        Some("image/png"),
    )
    .bytes()
    .unwrap();
    assert_ne!(plain, narrow);
    assert_eq!(size(&narrow), size(&plain));

    // Refusals, each naming what is wrong.
    for (path, accept, status, names) in [
        ("rendered?window=40", None, 400, "window"),
        ("rendered?window=40,0", None, 400, "window"),
        ("rendered?quality=0", None, 400, "quality"),
        ("rendered?quality=abc", None, 400, "quality"),
        ("rendered?viewport=0,10", None, 400, "viewport"),
        ("rendered?viewport=64,64,9999,0,,", None, 400, "outside"),
        ("rendered?annotation=patient", None, 400, "annotation"),
        ("rendered?viewport=16384,16384", None, 400, "limit"),
        ("rendered?window=1,2&window=3,4", None, 400, "repeated"),
        ("thumbnail?window=40,400", None, 400, "window"),
        ("frames/1,2/rendered", None, 406, "one frame"),
        ("frames/99/rendered", None, 400, "99"),
        ("rendered", Some("image/gif"), 406, "image/jpeg"),
        ("rendered", Some("application/dicom"), 406, "image/png"),
    ] {
        let r = get(&c, &format!("{instance}/{path}"), accept);
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        let body = r.text().unwrap();
        assert!(body.contains(names), "{path}: {body}");
    }
    let r = get(&c, &format!("{root}/studies/{study}/rendered"), None);
    assert_eq!(r.status(), 406);
    assert!(r.text().unwrap().contains("thumbnail"));
    let r = get(&c, &format!("{root}/studies/9.9.9/thumbnail"), None);
    assert_eq!(r.status(), 404);

    // The edge cache: the same request is a hit, another window a miss; ETag → 304.
    let url = format!("{instance}/rendered?window=40,400&viewport=100,100");
    let first = get(&c, &url, None);
    assert_eq!(first.headers()["x-cache"], "Miss");
    let etag = first.headers()["etag"].clone();
    let body = first.bytes().unwrap();
    let again = get(&c, &url, None);
    assert_eq!(again.headers()["x-cache"], "Hit");
    assert_eq!(again.bytes().unwrap(), body);
    assert_eq!(size(&body), (100, 100));
    let other = get(
        &c,
        &format!("{instance}/rendered?window=40,401&viewport=100,100"),
        None,
    );
    assert_eq!(other.headers()["x-cache"], "Miss");
    let r = c.get(&url).header("If-None-Match", etag).send().unwrap();
    assert_eq!(r.status(), 304);
}

/// WADO-URI (PS3.18 §9) answers what the WADO-RS resource it names answers, byte for byte:
/// `application/dicom` the instance's Part 10 file (pydicom reads it: the right SOP instance,
/// Explicit VR LE by default), `image/jpeg` (the default) and `image/png` the rendered frame
/// with `windowCenter`/`windowWidth`, `rows`/`columns` and `frameNumber` mapped to `window`,
/// `viewport` and the frame; bad or unsupported parameters are refused by name.
#[test]
fn wado_uri_answers_as_wado_rs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_p, roots) = serve(tmp.path());
    let (c, root, study) = demo_ct(&roots);
    let root = &root;
    let instances: Value = get(&c, &format!("{root}/studies/{study}/instances"), None)
        .json()
        .expect("instances");
    // A multi-frame instance, so frameNumber matters.
    let multi = instances
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["00280008"]["Value"][0].as_i64().unwrap_or(1) > 1)
        .expect("a multi-frame instance");
    let uid = |tag: &str| multi[tag]["Value"][0].as_str().unwrap().to_owned();
    let (series, sop) = (uid("0020000E"), uid("00080018"));
    let wado =
        format!("{root}/wado?requestType=WADO&studyUID={study}&seriesUID={series}&objectUID={sop}");
    let rs = format!("{root}/studies/{study}/series/{series}/instances/{sop}");
    let body = |url: &str, accept: Option<&str>| {
        let r = get(&c, url, accept);
        assert_eq!(r.status(), 200, "{url}");
        let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
        (ctype, r.bytes().unwrap())
    };

    let (ctype, jpeg) = body(&wado, None);
    assert_eq!(ctype, "image/jpeg");
    assert_eq!(jpeg, body(&format!("{rs}/rendered"), None).1);
    let (ctype, png) = body(
        &format!(
            "{wado}&contentType=image/png&windowCenter=40&windowWidth=400&rows=64&frameNumber=2"
        ),
        None,
    );
    assert_eq!(ctype, "image/png");
    let same = body(
        &format!("{rs}/frames/2/rendered?window=40,400&viewport=16384,64"),
        Some("image/png"),
    );
    assert_eq!(png, same.1);
    assert_eq!(size(&png).1, 64);

    let (ctype, file) = body(&format!("{wado}&contentType=application/dicom"), None);
    assert!(ctype.starts_with("application/dicom"), "{ctype}");
    assert_eq!(file, body(&rs, Some("application/dicom")).1);
    let stored = body(
        &format!("{wado}&contentType=application/dicom&transferSyntax=*"),
        None,
    );
    let rs_stored = body(&rs, Some("application/dicom; transfer-syntax=*"));
    assert_eq!((stored.0, stored.1), (rs_stored.0, rs_stored.1));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wado.dcm");
    std::fs::write(&path, &file).unwrap();
    if python_modules_available("pydicom") {
        let read = e2e::python(
            "import sys, pydicom; ds = pydicom.dcmread(sys.argv[1]); \
             print(ds.SOPInstanceUID, ds.file_meta.TransferSyntaxUID, ds.NumberOfFrames)",
            &[path.to_str().unwrap()],
        );
        let frames = multi["00280008"]["Value"][0].as_i64().unwrap();
        assert_eq!(read.trim(), format!("{sop} 1.2.840.10008.1.2.1 {frames}"));
    }

    for (query, status, names) in [
        ("&windowCenter=40", 400, "windowWidth"),
        ("&windowCenter=a&windowWidth=4", 400, "windowCenter"),
        ("&rows=0", 400, "rows"),
        ("&imageQuality=101", 400, "imageQuality"),
        ("&region=0,0,1,1", 400, "region"),
        ("&anonymize=yes", 400, "anonymize"),
        ("&frameNumber=999", 400, "999"),
        ("&contentType=video/mpeg", 406, "image/jpeg"),
        (
            "&contentType=application/dicom&transferSyntax=1.2.3.4",
            406,
            "application/dicom",
        ),
    ] {
        let r = get(&c, &format!("{wado}{query}"), None);
        assert_eq!(r.status(), status, "{query}");
        let text = r.text().unwrap();
        assert!(text.contains(names), "{query}: {text}");
    }
    for url in [
        format!("{root}/wado?requestType=WADO&studyUID={study}&seriesUID={series}"),
        format!("{root}/wado?studyUID={study}&seriesUID={series}&objectUID={sop}"),
        format!("{root}/wado?requestType=WADO&studyUID=x&seriesUID={series}&objectUID={sop}"),
    ] {
        assert_eq!(get(&c, &url, None).status(), 400, "{url}");
    }
}
