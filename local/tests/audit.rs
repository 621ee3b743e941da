//! The audit trail (`serve --audit-log`): one line for each request to the DICOMweb paths,
//! cache hits and refusals included, naming the verified user, the action and the UIDs, with
//! the answer's status and the cache's hit or miss, under the request ID the answer and the
//! origin carry; no token, signature or search value in any line.

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use common::*;
use dicomweb_edge::dev_issuer::{DEV_AUDIENCE, DEV_ISSUER};
use dicomweb_edge::stack::Auth;
use serde_json::{Value, json};

const DS: &str = "fe979d40487394a75b813ff62a2f7451";

/// The audit lines written so far, by request ID, once `count` have been written (a line
/// is written when its answer has ended, just after the client has it).
async fn lines(path: &std::path::Path, count: usize) -> (String, HashMap<String, Value>) {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= count {
            let by_id = text
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).expect("one JSON object per line");
                    (v["requestId"].as_str().unwrap().to_owned(), v)
                })
                .collect();
            return (text, by_id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {count} audit lines");
}

#[tokio::test]
async fn every_request_has_one_audit_line_naming_who_what_and_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let state = dir.path().join("state");
    let s = start_demo(|o| {
        o.auth = Auth::Dev { state_dir: state };
        o.audit_log = Some(log.clone());
        o.datastores = vec![DS.parse().unwrap()];
    })
    .await;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let issuer = s.dev_issuer.clone().unwrap();
    let token = issuer
        .sign(
            &json!({"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "reader-7",
                       "azp": "ohif-viewer", "iat": now, "exp": now + 600}),
        )
        .unwrap();
    let ct = demo_series(&s, "Axial 3mm")[0].clone();
    let root = format!("/datastore/{DS}");
    let instance = format!(
        "{root}/studies/{}/series/{}/instances/{}",
        ct.study, ct.series, ct.sop
    );
    let native = format!("{root}/imageSet/{}/getImageFrame", ct.image_set);

    // (label, method, path, accept, with token, body)
    let requests: Vec<(&str, &str, String, Option<&str>, bool)> = vec![
        (
            "search",
            "GET",
            format!("{root}/studies?PatientName=PHANTOM*"),
            None,
            true,
        ),
        (
            "metadata",
            "GET",
            format!("{root}/studies/{}/series/{}/metadata", ct.study, ct.series),
            None,
            true,
        ),
        (
            "frames miss",
            "GET",
            format!("{instance}/frames/1"),
            Some(OHIF_DEFAULT),
            true,
        ),
        (
            "frames hit",
            "GET",
            format!("{instance}/frames/1"),
            Some(OHIF_DEFAULT),
            true,
        ),
        (
            "retrieve",
            "GET",
            instance.clone(),
            Some("application/dicom; transfer-syntax=*"),
            true,
        ),
        (
            "rendered",
            "GET",
            format!("{instance}/rendered"),
            None,
            true,
        ),
        (
            "thumbnail",
            "GET",
            format!("{root}/studies/{}/series/{}/thumbnail", ct.study, ct.series),
            None,
            true,
        ),
        (
            "bulkdata",
            "GET",
            format!("{instance}/bulkdata/7FE00010"),
            Some(OHIF_DEFAULT),
            true,
        ),
        (
            "native get",
            "GET",
            format!("{native}?imageFrameId={}", ct.frames[0]),
            None,
            true,
        ),
        ("native post", "POST", native.clone(), None, true),
        (
            "wado-uri",
            "GET",
            format!(
                "{root}/wado?requestType=WADO&studyUID={}&seriesUID={}&objectUID={}",
                ct.study, ct.series, ct.sop
            ),
            None,
            true,
        ),
        (
            "token in the query",
            "GET",
            format!("{instance}/metadata?token={token}"),
            None,
            false,
        ),
        (
            "no token",
            "GET",
            format!("{instance}/metadata"),
            None,
            false,
        ),
        (
            "another datastore",
            "GET",
            "/datastore/0123456789abcdef0123456789abcdef/studies".into(),
            None,
            true,
        ),
        ("no such path", "GET", format!("{root}/nothing"), None, true),
    ];
    let mut ids = HashMap::new();
    for (label, method, path, accept, bearer) in &requests {
        let url = format!("{}{path}", s.base_url);
        let mut req = if *method == "POST" {
            http()
                .post(url)
                .header("content-type", "application/json")
                .body(json!({"imageFrameId": ct.frames[0].to_string()}).to_string())
        } else {
            http().get(url)
        };
        if let Some(a) = accept {
            req = req.header("accept", *a);
        }
        if *bearer {
            req = req.bearer_auth(&token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let id = header(resp.headers(), "x-amz-cf-id").to_owned();
        assert_eq!(
            id.len(),
            56,
            "{label}: CloudFront's request ID on the answer"
        );
        resp.bytes().await.unwrap();
        ids.insert(*label, (id, status));
    }
    // A preflight reads nothing and has no line; nor do the viewer's keys.
    let preflight = http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}{root}/studies", s.base_url),
        )
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let keys = http()
        .get(format!("{}/.well-known/jwks.json", s.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 200);

    // The translator's own requests through the edge (shared resolution: the study's image
    // sets and the image set's metadata) are audited too, under no user.
    let internal = 2;
    let (text, by_id) = lines(&log, requests.len() + internal).await;
    assert_eq!(text.lines().count(), requests.len() + internal, "{text}");
    let resolutions: Vec<&Value> = by_id
        .values()
        .filter(|l| l["action"] == "internal")
        .collect();
    assert_eq!(resolutions.len(), internal, "{text}");
    for l in resolutions {
        assert_eq!((&l["user"], &l["status"]), (&Value::Null, &json!(200)));
    }
    let line = |label: &str| -> &Value {
        let (id, _) = &ids[label];
        by_id
            .get(id)
            .unwrap_or_else(|| panic!("{label}: no line for {id}"))
    };
    for (label, (_, status)) in &ids {
        let l = line(label);
        assert_eq!(l["type"], "dicomweb-edge.audit");
        assert_eq!(l["version"], 1);
        assert_eq!(l["status"], *status, "{label}");
        assert_eq!(l["clientIp"], "127.0.0.1");
        let time = l["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == 20, "{time}");
    }
    let user = json!({"sub": "reader-7", "iss": DEV_ISSUER, "clientId": "ohif-viewer"});
    let expect = [
        ("search", "search", "110112"),
        ("metadata", "metadata", "110103"),
        ("frames miss", "frames", "110103"),
        ("frames hit", "frames", "110103"),
        ("retrieve", "retrieve", "110103"),
        ("rendered", "rendered", "110103"),
        ("thumbnail", "thumbnail", "110103"),
        ("bulkdata", "bulkdata", "110103"),
        ("native get", "native", "110103"),
        ("native post", "native", "110103"),
        ("wado-uri", "rendered", "110103"),
        ("token in the query", "metadata", "110103"),
    ];
    for (label, action, event) in expect {
        let l = line(label);
        assert_eq!(l["action"], action, "{label}");
        assert_eq!(l["dicomEventId"], event, "{label}");
        assert_eq!(l["decision"], "allowed", "{label}");
        assert_eq!(l["status"], 200, "{label}");
        assert_eq!(l["user"], user, "{label}");
        assert_eq!(l["datastore"], DS, "{label}");
        assert_eq!(
            l["method"],
            if label == "native post" {
                "POST"
            } else {
                "GET"
            }
        );
    }
    // The UIDs and IDs each path names.
    assert_eq!(line("search")["study"], Value::Null);
    assert_eq!(line("metadata")["series"], ct.series.as_str());
    for label in [
        "frames miss",
        "retrieve",
        "rendered",
        "bulkdata",
        "wado-uri",
    ] {
        let l = line(label);
        assert_eq!(
            (
                l["study"].as_str(),
                l["series"].as_str(),
                l["instance"].as_str()
            ),
            (
                Some(ct.study.as_str()),
                Some(ct.series.as_str()),
                Some(ct.sop.as_str())
            ),
            "{label}"
        );
    }
    assert_eq!(line("frames miss")["frames"], "1");
    assert_eq!(line("thumbnail")["series"], ct.series.as_str());
    assert_eq!(line("native get")["imageSet"], ct.image_set.to_string());
    assert_eq!(line("native get")["imageFrame"], ct.frames[0].to_string());
    assert_eq!(line("native post")["imageSet"], ct.image_set.to_string());
    // Hits are audited as well as misses.
    assert_eq!(line("frames miss")["cache"], "Miss");
    assert_eq!(line("frames hit")["cache"], "Hit");
    // Refusals: who, when known, and why.
    let l = line("no token");
    assert_eq!(
        (&l["decision"], &l["refusal"], &l["status"], &l["user"]),
        (
            &json!("refused"),
            &json!("MissingToken"),
            &json!(401),
            &Value::Null
        )
    );
    assert_eq!(l["instance"], ct.sop.as_str());
    let l = line("another datastore");
    assert_eq!(
        (&l["decision"], &l["refusal"], &l["status"]),
        (&json!("refused"), &json!("ForbiddenDatastore"), &json!(403))
    );
    assert_eq!(
        l["user"], user,
        "a verified user refused a datastore is named"
    );
    assert_eq!(l["datastore"], "0123456789abcdef0123456789abcdef");
    let l = line("no such path");
    assert_eq!(
        (&l["action"], &l["status"]),
        (&json!("unknown"), &json!(404))
    );
    // Nothing secret, and no search value: not the token nor its signature, however sent.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature), "{text}");
    assert!(!text.contains(&token[..40]));
    assert!(!text.contains("PHANTOM"), "{text}");
    assert!(!text.to_ascii_lowercase().contains("bearer"));
    assert!(
        line("token in the query")["target"]
            .as_str()
            .unwrap()
            .ends_with("/metadata?token=…")
    );
    // The file is its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
