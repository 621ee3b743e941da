//! The shared cache and the origin read a request the same way: any two requests with the
//! same cache key (`edge::behaviors::cache_key`) are read identically by the origin (route,
//! effective Accept, QIDO-RS query), or both refused. Otherwise one user's answer could be
//! served for another request. Requests are generated from the parameters the product reads,
//! then varied in every way a key might not notice: order, percent-encoding of names, tokens,
//! parameters outside the policy, spellings of the same Accept.

use dicomweb::query::raw_pairs;
use edge::behaviors::cache_key;
use edge::routes::{self, Route};
use proptest::prelude::*;

const DS: &str = "0123456789abcdef0123456789abcdef";
const IS_A: &str = "fedcba9876543210fedcba9876543210";
const IS_B: &str = "00000000000000000000000000000001";
const FRAME_A: &str = "00112233445566778899aabbccddeeff";
const FRAME_B: &str = "ffeeddccbbaa99887766554433221100";

fn paths() -> Vec<String> {
    let instance = format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4");
    vec![
        format!("{instance}/frames/1,2"),
        format!("{instance}/bulkdata/7FE00010"),
        format!("{instance}/metadata"),
        format!("/datastore/{DS}/imageSet/{IS_A}/getImageFrame"),
        format!("/datastore/{DS}/studies"),
        format!("/datastore/{DS}/studies/1.2/series"),
        format!("/datastore/{DS}/studies/1.2"),
    ]
}

/// Parameters as (name, value), each name as the product reads it.
fn param() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        prop::sample::select(vec![IS_A, IS_B, "bad"]).prop_map(|v| ("imageSetId".into(), v.into())),
        prop::sample::select(vec![FRAME_A, FRAME_B])
            .prop_map(|v| ("imageFrameId".into(), v.into())),
        prop::sample::select(vec![
            "multipart%2Frelated%3B+type%3D%22application%2Foctet-stream%22",
            "multipart/related;type=application/octet-stream;transfer-syntax=*",
            "image/jpeg",
        ])
        .prop_map(|v| ("accept".into(), v.into())),
        prop::sample::select(vec!["1", "2", "x"]).prop_map(|v| ("limit".into(), v.into())),
        prop::sample::select(vec!["A*", "B"]).prop_map(|v| ("PatientID".into(), v.into())),
        prop::sample::select(vec!["StudyDate", "all"])
            .prop_map(|v| ("includefield".into(), v.into())),
        prop::sample::select(vec!["secret.one", "secret.two"])
            .prop_map(|v| ("token".into(), v.into())),
        Just(("unrelated".to_owned(), "1".to_owned())),
    ]
}

const ACCEPTS: &[&[&str]] = &[
    &[],
    &[r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#],
    &["multipart/related;transfer-syntax=*;type=application/octet-stream"],
    &[
        "multipart/related; type=application/octet-stream",
        "*/*;q=0.1",
    ],
    &["application/dicom+json"],
];

#[derive(Debug, Clone)]
struct Req {
    path: String,
    params: Vec<(String, String)>,
    /// Percent-encode the first letter of each name.
    encode_names: Vec<bool>,
    accept: usize,
    gzip: bool,
}

impl Req {
    fn query(&self) -> String {
        self.params
            .iter()
            .zip(self.encode_names.iter().chain(std::iter::repeat(&false)))
            .map(|((k, v), enc)| {
                let k = if *enc {
                    format!("%{:02X}{}", k.as_bytes()[0], &k[1..])
                } else {
                    k.clone()
                };
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    fn key(&self) -> String {
        cache_key(
            &self.path,
            &self.query(),
            &ACCEPTS[self.accept].join(", "),
            self.gzip,
        )
    }

    /// The key as a CDN that sorts query parameters would build it (CloudFront does not
    /// document whether it keeps their order): the rule must hold either way.
    fn sorted_key(&self) -> String {
        let raw = self.query();
        let mut pairs: Vec<&str> = raw.split('&').collect();
        pairs.sort_unstable();
        cache_key(
            &self.path,
            &pairs.join("&"),
            &ACCEPTS[self.accept].join(", "),
            self.gzip,
        )
    }

    /// What the origin reads, after the authorizer has removed the token and normalised
    /// Accept (as the viewer-request function does before the cache lookup).
    fn reading(&self) -> Option<(Route, Option<String>, Option<dicomweb::qido::Query>, bool)> {
        let raw = self.query();
        let forwarded: Vec<&str> = raw_pairs(&raw)
            .filter(|(n, _)| n != "token")
            .map(|(_, p)| p)
            .collect();
        let query = forwarded.join("&");
        let route = routes::parse("GET", &self.path, Some(&query)).ok()?;
        let accept = ACCEPTS[self.accept];
        let mut headers = http::HeaderMap::new();
        if !accept.is_empty() {
            let normalised = dicomweb::accept::normalize_accept(&accept.join(", "));
            headers.insert(http::header::ACCEPT, normalised.parse().ok()?);
        }
        let accept = edge::http_rules::accept_value(Some(&query), &headers);
        let search = matches!(
            route,
            Route::SearchStudies { .. } | Route::SearchSeries { .. }
        );
        let qido = if search {
            Some(dicomweb::qido::parse(Some(&query)).ok()?)
        } else {
            None
        };
        // Only metadata and search answers are gzip-encoded.
        let gzip = self.gzip && edge::behaviors::for_path(&self.path).cache.gzip;
        Some((route, accept, qido, gzip))
    }
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(paths()),
        prop::collection::vec(param(), 0..5),
        prop::collection::vec(any::<bool>(), 0..5),
        0..ACCEPTS.len(),
        any::<bool>(),
    )
        .prop_map(|(path, params, encode_names, accept, gzip)| Req {
            path,
            params,
            encode_names,
            accept,
            gzip,
        })
}

/// A variation of `r` that a cache key may or may not tell apart.
fn varied(r: Req) -> impl Strategy<Value = Req> {
    let n = r.params.len();
    (
        Just(r),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        prop::collection::vec(any::<bool>(), 0..5),
        prop::option::of(param()),
        0..ACCEPTS.len(),
        any::<bool>(),
    )
        .prop_map(
            move |(mut r, swaps, encode_names, extra, accept, change_accept)| {
                for s in swaps {
                    if n > 1 {
                        let i = s.index(n);
                        r.params.swap(i, (i + 1) % n);
                    }
                }
                r.encode_names = encode_names;
                if let Some(p) = extra {
                    r.params.push(p);
                }
                if change_accept {
                    r.accept = accept;
                }
                r
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn requests_sharing_a_cache_key_are_read_alike(
        (a, b) in request().prop_flat_map(|a| (Just(a.clone()), varied(a)))
    ) {
        if a.key() == b.key() || a.sorted_key() == b.sorted_key() {
            prop_assert_eq!(
                a.reading(),
                b.reading(),
                "one key for {}?{} and {}?{}",
                a.path,
                a.query(),
                b.path,
                b.query()
            );
        }
    }
}

/// The generator reaches both sides of the property: variations that share a key with
/// answers the origin gives, and repeated parameters that are refused.
#[test]
fn the_generator_exercises_shared_keys() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut shared_ok, mut refused) = (0, 0);
    for _ in 0..2000 {
        let a = request().new_tree(&mut runner).unwrap().current();
        let b = varied(a.clone()).new_tree(&mut runner).unwrap().current();
        if a.sorted_key() == b.sorted_key() {
            match a.reading() {
                Some(_) if a.query() != b.query() => shared_ok += 1,
                None => refused += 1,
                _ => {}
            }
        }
    }
    assert!(
        shared_ok > 100,
        "{shared_ok} differing requests sharing a key"
    );
    assert!(refused > 100, "{refused} refused");
}
