//! The local server's shared response cache, standing in for CloudFront's.
//!
//! Rules, as CloudFront applies them with this product's cache policies (docs/architecture.md):
//! - GET and HEAD are answered from the cache, keyed as the behavior for the path keys
//!   ([`edge::behaviors::cache_key`]: the query parameters its policy keeps, in request order,
//!   and the normalised `Accept`, so equivalent Accept values share an entry);
//!   `Authorization` and `token` never enter the key, so one entry serves every user;
//! - only answers to GET are stored (an answer to HEAD has no body to store);
//! - a response is stored only if its `Cache-Control` allows a shared cache to
//!   (`s-maxage` or `max-age` > 0; not `no-store`, `private` or `no-cache`), for that long;
//! - a response is stored only once its body has been read completely (an aborted stream is
//!   never stored) and only up to a size limit per object;
//! - a fresh hit is answered with `Age`, and with 304 when `If-None-Match` matches its ETag;
//! - simultaneous misses of one key are collapsed ("Simultaneous requests for the same object
//!   (request collapsing)", CloudFront developer guide): the first goes to the origin, the
//!   others wait for its answer to be stored and are answered from the cache, or go to the
//!   origin themselves if it was not stored. Only what can be stored is waited for: the
//!   others are released as soon as the first's answer is known not to be storable (its
//!   headers forbid it, it is a part, it is or grows larger than the per-object limit), and
//!   after [`COLLAPSE_WAIT`] at most, since here the first's viewer paces the fetch (one
//!   client reading a retrieve at 10 KB/s held every other request of its URL for 30 s, over
//!   and over). Such a key is then not collapsed for [`UNCOLLAPSED_FOR`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use moka::Expiry;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use tokio::sync::watch;

use edge::http_rules::{accept_header, accepts_gzip, if_none_match};

/// A stored response.
#[derive(Debug)]
struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
    ttl: Duration,
}

struct PerEntry;

impl Expiry<String, Arc<Cached>> for PerEntry {
    fn expire_after_create(&self, _: &String, v: &Arc<Cached>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// Whether a cache lookup found the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "Hit",
            CacheStatus::Miss => "Miss",
        }
    }
}

/// A bounded in-memory cache of complete responses.
#[derive(Clone)]
pub struct EdgeCache {
    entries: Cache<String, Arc<Cached>>,
    max_object_bytes: usize,
    /// Bytes inserted since moka last applied its pending inserts and evictions.
    unapplied: Arc<AtomicUsize>,
    /// Keys being fetched from the origin; the receivers learn when the fetch has ended.
    in_flight: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    /// Keys whose last answer could not be stored or kept others waiting too long: their
    /// misses go to the origin each on its own.
    uncollapsed: Cache<String, ()>,
    collapse_wait: Duration,
}

/// How long a collapsed request waits for the first one's answer before going to the
/// origin itself. An answer the cache can store (at most an eighth of its capacity) comes
/// from the origin in well under this; one that takes longer is being read slowly.
pub const COLLAPSE_WAIT: Duration = Duration::from_secs(3);

/// How long a key whose answer could not be stored, or was slow, is not collapsed.
pub const UNCOLLAPSED_FOR: Duration = Duration::from_secs(60);

/// A miss's place among simultaneous misses of its key.
pub enum Flight {
    /// The first: fetch from the origin and pass the guard to [`EdgeCache::store`].
    Leader(FlightGuard),
    /// Another fetch of the key has ended and stored its answer: this one.
    Hit(Response<Body>),
    /// Another fetch ended without storing (or took too long): fetch alone.
    Alone,
}

/// Held while the first miss of a key is being fetched and stored; dropping it releases
/// the requests waiting for it.
pub struct FlightGuard {
    in_flight: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    key: String,
    _done: watch::Sender<()>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        if let Ok(mut m) = self.in_flight.lock() {
            m.remove(&self.key);
        }
    }
}

impl EdgeCache {
    /// A cache holding at most `capacity_bytes` of bodies; no single object may take more
    /// than an eighth of it.
    pub fn new(capacity_bytes: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|k: &String, v: &Arc<Cached>| {
                    u32::try_from(k.len() + v.body.len() + 512).unwrap_or(u32::MAX)
                })
                .eviction_policy(EvictionPolicy::lru())
                .expire_after(PerEntry)
                .build(),
            max_object_bytes: usize::try_from(capacity_bytes / 8).unwrap_or(usize::MAX),
            unapplied: Arc::new(AtomicUsize::new(0)),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            uncollapsed: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(UNCOLLAPSED_FOR)
                .build(),
            collapse_wait: COLLAPSE_WAIT,
        }
    }

    /// The same cache with another [`COLLAPSE_WAIT`] (for tests).
    pub fn with_collapse_wait(mut self, wait: Duration) -> Self {
        self.collapse_wait = wait;
        self
    }

    /// Joins the misses of `key`: the first leads, the others wait until it has ended and
    /// are then answered from what it stored, if it stored anything.
    pub async fn collapse(&self, key: &str, req: &Parts) -> Flight {
        if self.uncollapsed.contains_key(key) {
            return Flight::Alone;
        }
        let waiting = {
            let Ok(mut m) = self.in_flight.lock() else {
                return Flight::Alone;
            };
            match m.get(key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(());
                    m.insert(key.to_owned(), rx);
                    return Flight::Leader(FlightGuard {
                        in_flight: self.in_flight.clone(),
                        key: key.to_owned(),
                        _done: tx,
                    });
                }
            }
        };
        let mut waiting = waiting;
        // `changed` fails once the leader's sender is dropped: the fetch has ended.
        let ended = tokio::time::timeout(self.collapse_wait, async {
            while waiting.changed().await.is_ok() {}
        })
        .await;
        if ended.is_err() {
            self.uncollapsed.insert(key.to_owned(), ());
        }
        self.lookup(key, req).map_or(Flight::Alone, Flight::Hit)
    }

    /// The cache key of a request, `None` when the method is not cacheable.
    pub fn key(req: &Parts) -> Option<String> {
        if req.method != Method::GET && req.method != Method::HEAD {
            return None;
        }
        let accept = accept_header(&req.headers).unwrap_or_default();
        Some(edge::behaviors::cache_key(
            req.uri.path(),
            req.uri.query().unwrap_or(""),
            &accept,
            accepts_gzip(&req.headers),
        ))
    }

    /// A fresh stored answer to `req`, if there is one.
    pub fn lookup(&self, key: &str, req: &Parts) -> Option<Response<Body>> {
        let hit = self.entries.get(key)?;
        let age = hit.stored.elapsed();
        if age >= hit.ttl {
            return None;
        }
        let etag = hit.headers.get(header::ETAG).and_then(|v| v.to_str().ok());
        let not_modified = etag.is_some_and(|e| if_none_match(&req.headers, e));
        let mut r = if not_modified {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            for name in [
                header::ETAG,
                header::CACHE_CONTROL,
                header::VARY,
                header::CONTENT_TYPE,
            ] {
                if let Some(v) = hit.headers.get(&name) {
                    r.headers_mut().insert(name, v.clone());
                }
            }
            r
        } else if hit.status == StatusCode::OK
            && req.headers.contains_key(header::RANGE)
            && hit
                .headers
                .get(header::ACCEPT_RANGES)
                .is_some_and(|v| v == "bytes")
        {
            // A range of a stored whole answer, as CloudFront answers it from its cache.
            translator::answer::ranged(&req.headers, hit.headers.clone(), vec![hit.body.clone()])
        } else {
            let mut r = Response::new(Body::from(hit.body.clone()));
            *r.status_mut() = hit.status;
            *r.headers_mut() = hit.headers.clone();
            r
        };
        r.headers_mut()
            .insert(header::AGE, HeaderValue::from(age.as_secs()));
        Some(r)
    }

    /// Passes `resp` through, storing it under `key` once its body has been read completely
    /// if its headers allow; `guard` (of the miss that led) is released once it is stored
    /// or will not be.
    pub fn store(
        &self,
        key: String,
        resp: Response<Body>,
        guard: Option<FlightGuard>,
    ) -> Response<Body> {
        // A part is not the answer the key names (the key holds no Range).
        if resp.status() == StatusCode::PARTIAL_CONTENT {
            return resp;
        }
        let Some(ttl) = shared_lifetime(resp.headers()) else {
            return resp;
        };
        let (parts, body) = resp.into_parts();
        let expected: Option<usize> = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        if expected.is_some_and(|n| n > self.max_object_bytes) {
            self.uncollapsed.insert(key, ());
            return Response::from_parts(parts, body);
        }
        let tee = Tee {
            inner: body.into_data_stream(),
            sink: Some(Sink {
                cache: self.clone(),
                expected,
                key,
                status: parts.status,
                headers: parts.headers.clone(),
                ttl,
                chunks: Vec::new(),
                len: 0,
                _guard: guard,
            }),
        };
        Response::from_parts(parts, Body::from_stream(tee))
    }

    /// Number of stored responses (after pending maintenance).
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the stored responses weigh against the capacity (after pending maintenance).
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}

/// How long a shared cache may keep a response with these headers (RFC 9111 §5.2.2).
pub fn shared_lifetime(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    let mut s_maxage = None;
    for v in headers.get_all(header::CACHE_CONTROL) {
        for d in v.to_str().ok()?.split(',') {
            let d = d.trim();
            let (name, value) = d.split_once('=').unwrap_or((d, ""));
            match name.to_ascii_lowercase().as_str() {
                "no-store" | "private" | "no-cache" => return None,
                "max-age" => max_age = value.trim_matches('"').parse::<u64>().ok(),
                "s-maxage" => s_maxage = value.trim_matches('"').parse::<u64>().ok(),
                _ => {}
            }
        }
    }
    s_maxage
        .or(max_age)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

struct Sink {
    cache: EdgeCache,
    /// `Content-Length`, when known: a server stops polling the body once it has sent that
    /// many bytes, so reaching it counts as the end.
    expected: Option<usize>,
    key: String,
    status: StatusCode,
    headers: HeaderMap,
    ttl: Duration,
    /// The body so far, as the chunks passed through (joined once complete, so what is
    /// stored is one allocation of exactly its length).
    chunks: Vec<Bytes>,
    len: usize,
    /// Released with the sink: when the answer is stored, or abandoned.
    _guard: Option<FlightGuard>,
}

/// Forwards a body while keeping a copy; the copy is stored when the body ends normally.
struct Tee<S> {
    inner: S,
    sink: Option<Sink>,
}

impl<S> Stream for Tee<S>
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = Pin::new(&mut this.inner).poll_next(cx);
        let complete = match &item {
            Poll::Ready(Some(Ok(chunk))) => match &mut this.sink {
                Some(s) if s.len + chunk.len() > s.cache.max_object_bytes => {
                    s.cache.uncollapsed.insert(s.key.clone(), ());
                    this.sink = None;
                    false
                }
                Some(s) => {
                    s.len += chunk.len();
                    s.chunks.push(chunk.clone());
                    s.expected == Some(s.len)
                }
                None => false,
            },
            Poll::Ready(Some(Err(_))) => {
                this.sink = None;
                false
            }
            Poll::Ready(None) => this
                .sink
                .as_ref()
                .is_some_and(|s| s.expected.is_none_or(|n| n == s.len)),
            Poll::Pending => false,
        };
        if complete && let Some(s) = this.sink.take() {
            let mut body = BytesMut::with_capacity(s.len);
            for c in &s.chunks {
                body.extend_from_slice(c);
            }
            s.cache.entries.insert(
                s.key,
                Arc::new(Cached {
                    status: s.status,
                    headers: s.headers,
                    body: body.freeze(),
                    stored: Instant::now(),
                    ttl: s.ttl,
                }),
            );
            // moka applies inserts and evictions in batches, and until then entries over the
            // capacity stay alive (with 2 MB answers the cache held twice its capacity).
            // Applying them once a sixteenth of the capacity is pending bounds that.
            let unapplied = s.cache.unapplied.fetch_add(s.len, Ordering::Relaxed) + s.len;
            if unapplied >= s.cache.max_object_bytes / 2 {
                s.cache.unapplied.store(0, Ordering::Relaxed);
                s.cache.entries.run_pending_tasks();
            }
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, accept: Option<&str>) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        if let Some(a) = accept {
            b = b.header("accept", a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn key_ignores_token_and_equivalent_accept_forms() {
        let a = EdgeCache::key(&parts(
            "GET",
            "/x?a=1&token=secret&b=2",
            Some(r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#),
        ))
        .unwrap();
        let b = EdgeCache::key(&parts(
            "HEAD",
            "/x?a=1&b=2",
            Some("multipart/related;transfer-syntax=*;type=application/octet-stream"),
        ))
        .unwrap();
        assert_eq!(a, b);
        assert!(!a.contains("secret"));
        assert_ne!(
            a,
            EdgeCache::key(&parts("GET", "/x?a=1&b=2", Some("image/jpeg"))).unwrap()
        );
        assert_eq!(EdgeCache::key(&parts("POST", "/x", None)), None);
        // Parameters keep their order (a repeated one is refused by the route parser, so
        // these are never answered with 200).
        assert_ne!(
            EdgeCache::key(&parts("GET", "/x?a=1&a=2", None)),
            EdgeCache::key(&parts("GET", "/x?a=2&a=1", None))
        );
    }

    #[test]
    fn lifetimes_follow_cache_control() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::CACHE_CONTROL, v.parse().unwrap());
            m
        };
        assert_eq!(
            shared_lifetime(&h("public, max-age=60, immutable")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            shared_lifetime(&h("max-age=60, s-maxage=5")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(shared_lifetime(&h("no-store")), None);
        assert_eq!(shared_lifetime(&h("private, max-age=60")), None);
        assert_eq!(shared_lifetime(&h("max-age=0")), None);
        assert_eq!(shared_lifetime(&HeaderMap::new()), None);
    }

    /// The origin of the collapsing test: counts its calls, answers after a pause.
    async fn slow_origin(calls: &AtomicUsize, cache_control: &'static str) -> Response<Body> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut r = Response::new(Body::from("answer"));
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        r
    }

    #[tokio::test]
    async fn simultaneous_misses_are_collapsed_into_one_origin_request() {
        for (cache_control, origin_calls) in [("max-age=60", 1), ("no-store", 8)] {
            let cache = EdgeCache::new(1 << 20);
            let calls = AtomicUsize::new(0);
            let req = parts("GET", "/collapsed", None);
            let key = EdgeCache::key(&req).unwrap();
            let one = || async {
                let resp = match cache.lookup(&key, &req) {
                    Some(hit) => hit,
                    None => match cache.collapse(&key, &req).await {
                        Flight::Hit(hit) => hit,
                        Flight::Leader(g) => {
                            let r = slow_origin(&calls, cache_control).await;
                            cache.store(key.clone(), r, Some(g))
                        }
                        Flight::Alone => {
                            let r = slow_origin(&calls, cache_control).await;
                            cache.store(key.clone(), r, None)
                        }
                    },
                };
                axum::body::to_bytes(resp.into_body(), 100).await.unwrap()
            };
            let bodies = futures_util::future::join_all((0..8).map(|_| one())).await;
            assert!(
                bodies.iter().all(|b| &b[..] == b"answer"),
                "{cache_control}"
            );
            // A cacheable answer serves the waiting requests; one that may not be stored
            // sends each of them to the origin.
            assert_eq!(
                calls.load(Ordering::SeqCst),
                origin_calls,
                "{cache_control}"
            );
            assert!(cache.in_flight.lock().unwrap().is_empty());
        }
    }

    /// A leader whose viewer reads slowly (here: not at all) keeps the others waiting only
    /// the collapse wait, once; an answer larger than the cache can store keeps nobody
    /// waiting. Then the key's misses go to the origin on their own at once.
    #[tokio::test]
    async fn nobody_waits_on_a_slow_or_unstorable_answer() {
        let wait = Duration::from_millis(300);
        let cacheable = |body: Body, length: Option<usize>| {
            let mut r = Response::new(body);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            );
            if let Some(n) = length {
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            r
        };
        for (name, large) in [("slow", false), ("large", true)] {
            let cache = EdgeCache::new(1 << 20).with_collapse_wait(wait);
            let req = parts("GET", &format!("/{name}"), None);
            let key = EdgeCache::key(&req).unwrap();
            let Flight::Leader(guard) = cache.collapse(&key, &req).await else {
                panic!("the first miss leads");
            };
            // The leader's answer: a first chunk, then nothing (a viewer that stopped
            // reading), or a declared length over the per-object limit.
            let body = Body::from_stream(futures_util::StreamExt::chain(
                futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"ab"))]),
                futures_util::stream::pending(),
            ));
            let length = large.then_some((1 << 20) / 8 + 1);
            let leader = cache.store(key.clone(), cacheable(body, length), Some(guard));
            let started = Instant::now();
            let flight = cache.collapse(&key, &req).await;
            assert!(matches!(flight, Flight::Alone), "{name}");
            let waited = started.elapsed();
            if large {
                assert!(waited < wait / 2, "{name}: waited {waited:?}");
            } else {
                assert!(waited >= wait, "{name}: waited {waited:?}");
            }
            // Later misses of the key, while the leader is still there, do not wait.
            let started = Instant::now();
            assert!(matches!(cache.collapse(&key, &req).await, Flight::Alone));
            assert!(started.elapsed() < wait / 2, "{name}");
            drop(leader);
        }
    }

    #[tokio::test]
    async fn stores_complete_bodies_only() {
        let cache = EdgeCache::new(1 << 20);
        let req = parts("GET", "/a", None);
        let key = EdgeCache::key(&req).unwrap();
        let ok = || {
            let mut r = Response::new(Body::from_stream(futures_util::stream::iter([
                Ok::<_, std::io::Error>(Bytes::from_static(b"ab")),
                Ok(Bytes::from_static(b"cd")),
            ])));
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            );
            r.headers_mut()
                .insert(header::ETAG, HeaderValue::from_static("\"e\""));
            r
        };
        // Dropped before the end: not stored.
        let r = cache.store(key.clone(), ok(), None);
        drop(r);
        assert!(cache.lookup(&key, &req).is_none());
        // Read to the end: stored, served with Age, and 304 on a matching If-None-Match.
        let r = cache.store(key.clone(), ok(), None);
        let body = axum::body::to_bytes(r.into_body(), 100).await.unwrap();
        assert_eq!(&body[..], b"abcd");
        let hit = cache.lookup(&key, &req).unwrap();
        assert_eq!(hit.headers()[header::AGE], "0");
        assert_eq!(
            &axum::body::to_bytes(hit.into_body(), 100).await.unwrap()[..],
            b"abcd"
        );
        let mut conditional = parts("GET", "/a", None);
        conditional
            .headers
            .insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"e\""));
        assert_eq!(
            cache.lookup(&key, &conditional).unwrap().status(),
            StatusCode::NOT_MODIFIED
        );
        // An aborted stream is not stored.
        let other = "/b?\n".to_owned();
        let mut broken = Response::new(Body::from_stream(futures_util::stream::iter([
            Ok(Bytes::from_static(b"ab")),
            Err(std::io::Error::other("upstream failed")),
        ])));
        broken.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        let r = cache.store(other.clone(), broken, None);
        assert!(axum::body::to_bytes(r.into_body(), 100).await.is_err());
        assert!(cache.lookup(&other, &req).is_none());
    }

    /// What the cache keeps alive, evicted or not yet, stays within its capacity and a
    /// sixteenth more, however large the answers (moka applies evictions in batches).
    #[tokio::test]
    async fn holds_no_more_than_its_capacity() {
        let capacity = 8 << 20;
        let cache = EdgeCache::new(capacity);
        for i in 0..40 {
            let mut r = Response::new(Body::from(vec![0u8; 1 << 20]));
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            );
            let r = cache.store(format!("/{i}"), r, None);
            axum::body::to_bytes(r.into_body(), 2 << 20).await.unwrap();
            let alive: u64 = cache
                .entries
                .iter()
                .map(|(k, v)| (k.len() + v.body.len() + 512) as u64)
                .sum();
            assert!(
                alive <= capacity + capacity / 16,
                "{alive} bytes alive after {i}"
            );
        }
        assert!(cache.len() >= 6);
    }
}
