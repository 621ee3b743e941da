//! The emulator's HTTP shell: routes AHI's paths to the store, answers with AHI's status
//! codes, headers and restJson1 error shapes, and hosts the loopback-only admin routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use rand::Rng;

use super::quotas::Quotas;
use super::sigv4::SignedRequest;
use super::{Emulator, Faults};
use crate::api::{AhiError, ErrorKind, ImageFrameInformation, SearchCriteria};
use crate::ids::{DatastoreId, ImageSetId};

/// Larger bodies than any AHI data-plane request are refused.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    GetImageFrame,
    GetImageSetMetadata,
    GetImageSet,
    SearchImageSets,
}

impl Operation {
    const ALL: [Operation; 4] = [
        Operation::GetImageFrame,
        Operation::GetImageSetMetadata,
        Operation::GetImageSet,
        Operation::SearchImageSets,
    ];

    fn name(self) -> &'static str {
        match self {
            Operation::GetImageFrame => "GetImageFrame",
            Operation::GetImageSetMetadata => "GetImageSetMetadata",
            Operation::GetImageSet => "GetImageSet",
            Operation::SearchImageSets => "SearchImageSets",
        }
    }
}

/// A routed AHI call: the operation and its path parameters, still unvalidated.
struct Route<'a> {
    op: Operation,
    datastore: &'a str,
    image_set: Option<&'a str>,
}

fn route<'a>(method: &Method, path: &'a str) -> Option<Route<'a>> {
    if method != Method::POST {
        return None;
    }
    let segs: Vec<&str> = path.split('/').collect();
    match segs[..] {
        ["", "datastore", ds, "searchImageSets"] => Some(Route {
            op: Operation::SearchImageSets,
            datastore: ds,
            image_set: None,
        }),
        ["", "datastore", ds, "imageSet", is, action] => {
            let op = match action {
                "getImageFrame" => Operation::GetImageFrame,
                "getImageSetMetadata" => Operation::GetImageSetMetadata,
                "getImageSet" => Operation::GetImageSet,
                _ => return None,
            };
            Some(Route {
                op,
                datastore: ds,
                image_set: Some(is),
            })
        }
        _ => None,
    }
}

pub(super) fn router(emulator: Arc<Emulator>) -> Router {
    Router::new().fallback(handle).with_state(emulator)
}

pub(super) async fn serve(
    emulator: Arc<Emulator>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Responses go out in one write; Nagle's algorithm would only delay their last segment.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        router(emulator).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

fn request_id() -> String {
    let n: u128 = rand::rng().random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn response(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn error_response(e: &AhiError) -> Response {
    let status = StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = response(status, "application/json", e.body());
    r.headers_mut().insert(
        "x-amzn-ErrorType",
        HeaderValue::from_static(e.kind.type_name()),
    );
    r
}

fn json_response(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => response(StatusCode::OK, "application/json", body),
        Err(_) => error_response(&AhiError::new(
            ErrorKind::InternalServer,
            "Failed to serialise the response.",
        )),
    }
}

async fn handle(
    State(em): State<Arc<Emulator>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = if path.starts_with("/_emulator/") {
        admin(&em, peer, req).await
    } else {
        match ahi_call(&em, req).await {
            Ok(r) => r,
            Err(e) => error_response(&e),
        }
    };
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        resp.headers_mut().insert("x-amzn-RequestId", id);
    }
    tracing::info!(
        target: "healthimaging::emulator",
        %method,
        %path,
        status = resp.status().as_u16(),
        error = resp.headers().get("x-amzn-ErrorType").and_then(|v| v.to_str().ok()).unwrap_or(""),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

async fn ahi_call(em: &Emulator, req: Request) -> Result<Response, AhiError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let Some(route) = route(&parts.method, path) else {
        return Err(AhiError::new(
            ErrorKind::UnknownOperation,
            format!("No operation at {} {}.", parts.method, path),
        ));
    };
    em.count(route.op.name());

    let faults = em.faults();
    let faulty = faults.applies_to(route.op.name());
    if faulty && faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }

    let body: Bytes = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| AhiError::new(ErrorKind::Validation, "The request body is too large."))?;
    em.verifier.verify(
        &SignedRequest {
            method: parts.method.as_str(),
            raw_path: path,
            raw_query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
        },
        (em.clock)(),
    )?;

    // Quotas are per account, so only signed calls count against them.
    if !em.admit(route.op.name()) {
        return Err(AhiError::new(ErrorKind::Throttling, "Rate exceeded"));
    }
    if faulty {
        inject(&faults)?;
    }

    let ds_id: DatastoreId = route
        .datastore
        .parse()
        .map_err(|e: crate::ids::InvalidId| AhiError::new(ErrorKind::Validation, e.to_string()))?;
    let ds = em.datastore(&ds_id).ok_or_else(|| {
        AhiError::new(
            ErrorKind::ResourceNotFound,
            format!("Datastore {ds_id} does not exist."),
        )
    })?;
    let image_set = match route.image_set {
        Some(is) => {
            let id: ImageSetId = is.parse().map_err(|e: crate::ids::InvalidId| {
                AhiError::new(ErrorKind::Validation, e.to_string())
            })?;
            Some(id)
        }
        None => None,
    };
    let query = Query::parse(parts.uri.query())?;

    match (route.op, image_set) {
        (Operation::GetImageFrame, Some(is)) => {
            let info: ImageFrameInformation = serde_json::from_slice(&body).map_err(|_| {
                AhiError::new(
                    ErrorKind::Validation,
                    "The request body must be {\"imageFrameId\": \"<32 hexadecimal characters>\"}.",
                )
            })?;
            let set = ds.image_set(&is)?;
            let frame = set.frames.get(&info.image_frame_id).ok_or_else(|| {
                AhiError::new(
                    ErrorKind::ResourceNotFound,
                    format!(
                        "Image frame {} does not exist in image set {is}.",
                        info.image_frame_id
                    ),
                )
            })?;
            let (bytes, content_type) = (frame.bytes.clone(), frame.content_type);
            let read = tokio::task::spawn_blocking(move || bytes.read())
                .await
                .map_err(|e| AhiError::new(ErrorKind::InternalServer, e.to_string()))?;
            let bytes = read.map_err(|e| {
                tracing::error!(target: "healthimaging::emulator", error = %e, "frame not served");
                AhiError::new(ErrorKind::InternalServer, e.to_string())
            })?;
            Ok(response(StatusCode::OK, content_type, bytes))
        }
        (Operation::GetImageSetMetadata, Some(is)) => {
            let set = ds.image_set(&is)?;
            let v = set.version(query.version)?;
            let mut r = response(StatusCode::OK, "application/json", v.metadata_gz.clone());
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            Ok(r)
        }
        (Operation::GetImageSet, Some(is)) => {
            Ok(json_response(&ds.get_image_set(&is, query.version)?))
        }
        (Operation::SearchImageSets, None) => {
            let criteria: SearchCriteria = if body.is_empty() {
                SearchCriteria::default()
            } else {
                serde_json::from_slice(&body).map_err(|e| {
                    AhiError::new(
                        ErrorKind::Validation,
                        format!("The search criteria are not valid: {e}."),
                    )
                })?
            };
            let max = query.max_results.unwrap_or(50);
            Ok(json_response(&ds.search(
                &criteria,
                max,
                query.next_token.as_deref(),
            )?))
        }
        _ => Err(AhiError::new(
            ErrorKind::UnknownOperation,
            "No such operation.",
        )),
    }
}

/// The quotas in force and the calls they refused: `{"quotas": {op: {rate, burst}},
/// "throttled": {op: n}}`.
fn quotas_response(em: &Emulator) -> Response {
    json_response(&serde_json::json!({
        "quotas": em.quotas(),
        "throttled": em.throttled(),
    }))
}

fn inject(faults: &Faults) -> Result<(), AhiError> {
    let mut rng = rand::rng();
    if faults.throttle_rate > 0.0 && rng.random::<f64>() < faults.throttle_rate {
        return Err(AhiError::new(ErrorKind::Throttling, "Rate exceeded"));
    }
    if faults.error_rate > 0.0 && rng.random::<f64>() < faults.error_rate {
        let kind = faults
            .error_type
            .as_deref()
            .and_then(ErrorKind::from_type_name)
            .unwrap_or(ErrorKind::InternalServer);
        return Err(AhiError::new(
            kind,
            format!("{} (injected by the emulator).", kind.type_name()),
        ));
    }
    Ok(())
}

/// The query parameters AHI's data-plane operations take.
#[derive(Default)]
struct Query {
    version: Option<u32>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Result<Self, AhiError> {
        let mut q = Query::default();
        let invalid = |m: &str| AhiError::new(ErrorKind::Validation, m);
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map_err(|_| invalid("Query parameters must be UTF-8."))?;
            match k {
                "version" => {
                    q.version = Some(
                        v.parse::<u32>()
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| invalid("version must be a positive integer."))?,
                    )
                }
                "maxResults" => {
                    q.max_results = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|n| (1..=50).contains(n))
                            .ok_or_else(|| invalid("maxResults must be between 1 and 50."))?,
                    )
                }
                "nextToken" => {
                    if v.is_empty() || v.len() > 8192 {
                        return Err(invalid("nextToken must be 1 to 8192 characters."));
                    }
                    q.next_token = Some(v.into_owned());
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// `/_emulator/calls` (GET), `/_emulator/faults` (GET, PUT), `/_emulator/reset` (POST);
/// only from loopback peers.
async fn admin(em: &Emulator, peer: SocketAddr, req: Request) -> Response {
    if !peer.ip().is_loopback() {
        return response(
            StatusCode::FORBIDDEN,
            "text/plain",
            "admin routes are loopback-only\n",
        );
    }
    let (parts, body) = req.into_parts();
    let body = if parts.method == Method::PUT {
        let Ok(body) = to_bytes(body, MAX_BODY).await else {
            return response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                "body too large\n",
            );
        };
        body
    } else {
        Bytes::new()
    };
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/_emulator/calls") => json_response(&em.calls()),
        (&Method::GET, "/_emulator/faults") => json_response(&em.faults()),
        (&Method::GET, "/_emulator/quotas") => quotas_response(em),
        (&Method::PUT, "/_emulator/quotas") => {
            let quotas = match serde_json::from_slice::<Quotas>(&body) {
                Ok(q) => q,
                Err(e) => {
                    return response(
                        StatusCode::BAD_REQUEST,
                        "text/plain",
                        format!("invalid quotas: {e}\n"),
                    );
                }
            };
            if let Some(op) = quotas
                .0
                .keys()
                .find(|o| !Operation::ALL.iter().any(|k| k.name() == o.as_str()))
            {
                return response(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("{op} is not an operation the emulator serves\n"),
                );
            }
            if let Some(why) = quotas.invalid() {
                return response(StatusCode::BAD_REQUEST, "text/plain", format!("{why}\n"));
            }
            em.set_quotas(quotas);
            quotas_response(em)
        }
        (&Method::PUT, "/_emulator/faults") => match serde_json::from_slice::<Faults>(&body) {
            Ok(f)
                if f.error_type
                    .as_deref()
                    .is_some_and(|t| ErrorKind::from_type_name(t).is_none()) =>
            {
                response(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "error_type is not an AWS HealthImaging error type\n",
                )
            }
            Ok(f)
                if f.operations
                    .iter()
                    .any(|o| !Operation::ALL.iter().any(|k| k.name() == o)) =>
            {
                response(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "operations must name GetImageFrame, GetImageSetMetadata, GetImageSet or SearchImageSets\n",
                )
            }
            Ok(f) if f.latency_ms > MAX_LATENCY_MS => response(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("latency_ms must be at most {MAX_LATENCY_MS}\n"),
            ),
            Ok(f)
                if (0.0..=1.0).contains(&f.throttle_rate)
                    && (0.0..=1.0).contains(&f.error_rate) =>
            {
                em.set_faults(f);
                json_response(&em.faults())
            }
            Ok(_) => response(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "rates must be between 0 and 1\n",
            ),
            Err(e) => response(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("invalid faults: {e}\n"),
            ),
        },
        (&Method::POST, "/_emulator/reset") => {
            em.reset();
            response(StatusCode::NO_CONTENT, "text/plain", Body::empty())
        }
        (_, path) => {
            let allow = match path {
                "/_emulator/calls" => "GET",
                "/_emulator/faults" | "/_emulator/quotas" => "GET, PUT",
                "/_emulator/reset" => "POST",
                _ => return response(StatusCode::NOT_FOUND, "text/plain", "unknown admin route\n"),
            };
            let mut r = response(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                format!("this admin route takes {allow}\n"),
            );
            if let Ok(v) = http::HeaderValue::from_str(allow) {
                r.headers_mut().insert(http::header::ALLOW, v);
            }
            r
        }
    }
}

/// The longest injected latency (a minute): longer ones only hang the callers.
const MAX_LATENCY_MS: u64 = 60_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_ahi_paths() {
        let ds = "0123456789abcdef0123456789abcdef";
        let path = format!("/datastore/{ds}/imageSet/{ds}/getImageFrame");
        let r = route(&Method::POST, &path).unwrap();
        assert_eq!(r.op, Operation::GetImageFrame);
        assert_eq!(r.image_set, Some(ds));
        assert_eq!(
            route(&Method::POST, &format!("/datastore/{ds}/searchImageSets"))
                .unwrap()
                .op,
            Operation::SearchImageSets
        );
        assert!(route(&Method::GET, &format!("/datastore/{ds}/searchImageSets")).is_none());
        assert!(
            route(
                &Method::POST,
                &format!("/datastore/{ds}/imageSet/{ds}/deleteImageSet")
            )
            .is_none()
        );
        assert!(route(&Method::POST, "/").is_none());
    }

    #[test]
    fn query_validation() {
        assert_eq!(Query::parse(Some("version=2")).unwrap().version, Some(2));
        assert_eq!(
            Query::parse(Some("maxResults=50&nextToken=a%3D"))
                .unwrap()
                .next_token
                .as_deref(),
            Some("a=")
        );
        for bad in [
            "version=0",
            "version=x",
            "maxResults=0",
            "maxResults=51",
            "nextToken=",
        ] {
            let e = Query::parse(Some(bad)).err().unwrap();
            assert_eq!(e.kind, ErrorKind::Validation, "{bad}");
        }
    }
}
