//! The shared suite of viewer-request and origin-request behaviour
//! (`edge/tests/shell_cases.json`), through the local server's phases: its viewer-request
//! function with the key fetches it asks for (from an issuer served over HTTP here), and its
//! origin-request function with the edge's credentials. The packaged Lambda@Edge functions
//! pass the same suite under Node (`edge/js/test/packages.test.mjs`), so the two shells cannot
//! disagree.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use dicomweb_edge::dev_issuer::DevIssuer;
use dicomweb_edge::stack::Auth;
use edge::authorizer::AuthMode;
use edge::cloudfront::{HeaderEntry, Request, RequestBody, RequestResult};
use edge::cors::CorsPolicy;
use serde_json::{Value, json};

/// The demo datastore's ID, the same on every run.
const DEMO_DATASTORE: &str = "fe979d40487394a75b813ff62a2f7451";

fn suite() -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge/tests/shell_cases.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Issuer {
    url: String,
    audience: String,
    key: DevIssuer,
    stranger: DevIssuer,
}

impl Issuer {
    fn claims(&self) -> Value {
        json!({"iss": self.url, "aud": self.audience, "sub": "user", "iat": now() - 5, "exp": now() + 600})
    }

    /// The token a case describes, minted with this issuer's key.
    fn mint(&self, t: &Value) -> Option<String> {
        let unsigned = |alg: &str| {
            format!(
                "{}.{}",
                B64.encode(json!({"alg": alg, "typ": "JWT", "kid": self.key.kid()}).to_string()),
                B64.encode(self.claims().to_string())
            )
        };
        Some(match t["kind"].as_str()? {
            "valid" => self.key.sign(&self.claims()).unwrap(),
            "claims" => {
                let mut claims = self.claims();
                for (k, v) in t["claims"].as_object().unwrap() {
                    let obj = claims.as_object_mut().unwrap();
                    match (k.as_str(), v) {
                        (_, Value::Null) => {
                            obj.remove(k);
                        }
                        ("exp" | "nbf" | "iat", Value::Number(n)) => {
                            obj.insert(k.clone(), json!(now() + n.as_i64().unwrap()));
                        }
                        _ => {
                            obj.insert(k.clone(), v.clone());
                        }
                    }
                }
                self.key.sign(&claims).unwrap()
            }
            "garbage" => t["value"].as_str().unwrap().to_owned(),
            "oversized" => {
                let mut claims = self.claims();
                claims["pad"] = json!("x".repeat(9000));
                self.key.sign(&claims).unwrap()
            }
            "tampered" => {
                let token = self.key.sign(&self.claims()).unwrap();
                let parts: Vec<&str> = token.split('.').collect();
                let mut claims = self.claims();
                claims["exp"] = json!(now() + 9999);
                format!(
                    "{}.{}.{}",
                    parts[0],
                    B64.encode(claims.to_string()),
                    parts[2]
                )
            }
            "stranger" => self
                .stranger
                .sign_as(self.key.kid(), &self.claims())
                .unwrap(),
            "alg-none" => format!("{}.", unsigned("none")),
            "hs256" => {
                use hmac::Mac;
                let message = unsigned("HS256");
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(
                    serde_json::to_string(&self.key.jwks()).unwrap().as_bytes(),
                )
                .unwrap();
                mac.update(message.as_bytes());
                format!("{message}.{}", B64.encode(mac.finalize().into_bytes()))
            }
            other => panic!("unknown token kind {other}"),
        })
    }
}

fn fill(s: &str, ds: &str, token: Option<&str>) -> String {
    s.replace("{ds}", ds)
        .replace("{token}", token.unwrap_or(""))
}

fn request(c: &Value, ds: &str, token: Option<&str>) -> Request {
    let mut r = Request {
        client_ip: "203.0.113.9".into(),
        method: c["method"].as_str().unwrap_or("GET").into(),
        uri: fill(c["uri"].as_str().unwrap(), ds, None),
        querystring: fill(c["query"].as_str().unwrap_or(""), ds, token),
        ..Request::default()
    };
    for (k, v) in c["headers"].as_object().into_iter().flatten() {
        r.headers
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(HeaderEntry {
                key: Some(k.clone()),
                value: fill(v.as_str().unwrap(), ds, token),
            });
    }
    if let Some(body) = c["body"].as_str() {
        r.set_header("Content-Type", "application/json");
        r.body = Some(RequestBody {
            input_truncated: c["truncated"].as_bool().unwrap_or(false),
            action: "read-only".into(),
            encoding: "text".into(),
            data: body.into(),
        });
    }
    r
}

fn check(c: &Value, result: &RequestResult, request_id: &str, token: Option<&str>) {
    let name = c["name"].as_str().unwrap();
    let e = &c["expect"];
    match result {
        RequestResult::Forward(r) => {
            let f = e
                .get("forward")
                .unwrap_or_else(|| panic!("{name}: forwarded"));
            if let Some(q) = f["query"].as_str() {
                assert_eq!(r.querystring, q, "{name}");
            }
            for (k, v) in f["headers"].as_object().into_iter().flatten() {
                assert_eq!(r.header(k), v.as_str(), "{name}: {k}");
            }
            if let Some(signed) = f["signed"].as_array() {
                let auth = r.header("authorization").unwrap();
                let list = auth.split("SignedHeaders=").nth(1).unwrap();
                let list: Vec<&str> = list.split(',').next().unwrap().split(';').collect();
                for h in signed {
                    assert!(list.contains(&h.as_str().unwrap()), "{name}: {h} unsigned");
                }
                assert_eq!(r.header("x-amz-cf-id"), Some(request_id), "{name}");
            }
        }
        RequestResult::Respond(r) => {
            assert!(
                e.get("forward").is_none(),
                "{name}: answered {} {:?}",
                r.status,
                r.body
            );
            assert_eq!(r.status, e["status"].to_string(), "{name}: {:?}", r.body);
            for (k, v) in e["headers"].as_object().into_iter().flatten() {
                assert_eq!(r.header(k), v.as_str(), "{name}: {k}");
            }
            if let Some(body) = e["body"].as_str() {
                assert_eq!(r.body.as_deref(), Some(body), "{name}");
            }
            if let Some(t) = token {
                let all = serde_json::to_string(r).unwrap();
                assert!(!all.contains(t), "{name}: the token is echoed");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_passes_the_shared_suite() {
    let suite = suite();
    let audience = suite["config"]["audience"].as_str().unwrap().to_owned();
    let cors = suite["config"]["cors_origin"].as_str().unwrap().to_owned();
    let (key, _) = DevIssuer::generate().unwrap();
    let (stranger, _) = DevIssuer::generate().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let jwks = key.jwks();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (iss, aud, origin) = (url.clone(), audience.clone(), cors.clone());
    let s = common::start_demo(move |o| {
        o.auth = Auth::Issuer(AuthMode::Oidc {
            issuer: iss,
            audiences: vec![aud],
            jwks_uri: None,
        });
        o.cors = CorsPolicy {
            origins: vec![origin],
            ..CorsPolicy::default()
        };
        // The suite's allowlist: the demo datastore only.
        o.datastores = vec![DEMO_DATASTORE.parse().unwrap()];
    })
    .await;
    assert_eq!(s.datastores[0].id.as_str(), DEMO_DATASTORE);
    let issuer = Issuer {
        url,
        audience,
        key,
        stranger,
    };
    let ds = DEMO_DATASTORE;

    let cases = suite["viewer_request"].as_array().unwrap();
    for c in cases {
        let token = issuer.mint(&c["token"]);
        let r = s
            .edge
            .viewer_request(request(c, ds, token.as_deref()))
            .await;
        check(c, &r, "", token.as_deref());
    }
    for c in suite["origin_request"].as_array().unwrap() {
        let request_id = "shell-cases-request-id";
        let (r, _) = s
            .edge
            .origin_request(request(c, ds, None), request_id)
            .await
            .unwrap();
        check(c, &r, request_id, None);
    }
}
