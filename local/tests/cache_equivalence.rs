//! What the edge cache serves is what the origin would have answered: requests generated
//! around the demo data (paths, parameter orders and spellings, repeats, tokens, Accept
//! spellings, gzip) go to a stack with the cache and to one without; every answer, hit or
//! miss, has the status and the bytes of the uncached one. Both stacks announce the same
//! public URL, so BulkDataURIs agree.

mod common;

use common::*;
use rand::{Rng, SeedableRng};

const ACCEPTS: &[Option<&str>] = &[
    None,
    Some(OHIF_DEFAULT),
    Some("multipart/related;type=application/octet-stream;transfer-syntax=*"),
    Some(
        r#"multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1"#,
    ),
    Some("application/octet-stream"),
    Some("application/dicom+json"),
    Some("image/png"),
];

async fn fetch(
    base: &str,
    path: &str,
    accept: Option<&str>,
    gzip: bool,
) -> (u16, String, bytes::Bytes) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .build()
        .unwrap();
    let mut r = client.get(format!("{base}{path}"));
    if let Some(a) = accept {
        r = r.header("accept", a);
    }
    if gzip {
        r = r.header("accept-encoding", "gzip");
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let cache = header(r.headers(), "x-cache").to_owned();
    (status, cache, r.bytes().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cached_answer_is_the_origins_answer() {
    let public = "http://edge.example";
    let cached = start_demo(|o| o.translator.public_url = Some(public.into())).await;
    let fresh = start_demo(|o| {
        o.cache_bytes = 0;
        o.translator.public_url = Some(public.into());
    })
    .await;
    let ct = demo_series(&cached, "Axial 3mm HTJ2K");
    let cine = &demo_series(&cached, "Rotating phantom cine")[0];
    let (a, b) = (&ct[0], &ct[1]);
    let root = format!("/datastore/{}", a.datastore);
    let paths = [
        a.frames_path("1"),
        b.frames_path("1"),
        cine.frames_path("2,1"),
        cine.frames_path("1,2"),
        format!(
            "{}/bulkdata/7FE00010",
            a.frames_path("").trim_end_matches("/frames/")
        ),
        format!("{root}/studies/{}/metadata", a.study),
        format!("{root}/studies/{}/series/{}/metadata", a.study, a.series),
        format!("{root}/studies"),
        format!("{root}/studies/{}/series", a.study),
        format!("{root}/imageSet/{}/getImageFrame", a.image_set),
    ];
    let params: Vec<(&str, String)> = vec![
        ("imageSetId", a.image_set.to_string()),
        ("imageSetId", "00000000000000000000000000000000".into()),
        ("imageFrameId", a.frames[0].to_string()),
        ("imageFrameId", b.frames[0].to_string()),
        ("accept", "image%2Fjhc".into()),
        ("accept", "application%2Foctet-stream".into()),
        ("limit", "1".into()),
        ("offset", "1".into()),
        ("PatientID", "*".into()),
        ("includefield", "all".into()),
        ("token", "not-a-token".into()),
        ("%74oken", "x".into()),
        ("unrelated", "1".into()),
    ];

    // Seeded: the same requests on every run.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED);
    let mut pick = |n: usize| rng.random_range(0..n);
    let (mut hits, mut total) = (0, 0);
    for _ in 0..400 {
        let path = &paths[pick(paths.len())];
        let n = pick(4);
        let query: Vec<String> = (0..n)
            .map(|_| {
                let (k, v) = &params[pick(params.len())];
                format!("{k}={v}")
            })
            .collect();
        let target = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let accept = ACCEPTS[pick(ACCEPTS.len())];
        let gzip = pick(2) == 0;
        let (status, cache, body) = fetch(&cached.base_url, &target, accept, gzip).await;
        let (want_status, _, want) = fetch(&fresh.base_url, &target, accept, gzip).await;
        total += 1;
        hits += usize::from(cache == "Hit");
        assert_eq!(
            (status, body.len()),
            (want_status, want.len()),
            "{target} Accept {accept:?} gzip {gzip} ({cache})"
        );
        if body != want {
            panic!("{target} Accept {accept:?} gzip {gzip} ({cache}): the bytes differ");
        }
    }
    // Seeded, so the same share every run: repeats of earlier keys, in other spellings.
    assert!(
        hits > total / 10,
        "{hits} hits of {total}: the requests share too few keys"
    );
}
