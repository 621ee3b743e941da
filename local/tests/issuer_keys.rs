//! An OIDC issuer's keys through the local stack, which drives the same viewer-request state
//! machine as the Lambda@Edge host: fetched from `{issuer}/.well-known/jwks.json` at start,
//! refetched when a token names a new `kid` but not more than once per cooldown (whole
//! seconds, as the deployed function counts them), and failing closed while the issuer does
//! not know a key.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dicomweb_edge::dev_issuer::DevIssuer;
use dicomweb_edge::stack::Auth;
use edge::authorizer::AuthMode;
use jsonwebtoken::jwk::JwkSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_fetched_refetched_on_new_kid_and_rate_limited() {
    let (old_key, _) = DevIssuer::generate().unwrap();
    let (new_key, _) = DevIssuer::generate().unwrap();
    let published = Arc::new(Mutex::new(old_key.jwks()));
    let fetches = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let (p, f) = (published.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let (p, f) = (p.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let set: JwkSet = p.lock().unwrap().clone();
                axum::Json(set)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let iss = issuer.clone();
    let s = common::start_demo(move |o| {
        o.auth = Auth::Issuer(AuthMode::Oidc {
            issuer: iss,
            audiences: vec!["viewer".into()],
            jwks_uri: None,
        });
        o.jwks_cooldown_seconds = 2;
    })
    .await;
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "fetched at start");
    let inst = &common::demo_series(&s, "Axial 3mm HTJ2K")[0];
    let url = format!("{}{}", s.base_url, inst.frames_path("1"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"iss": issuer, "aud": "viewer", "iat": now, "exp": now + 300});
    let status = |token: String| {
        let url = url.clone();
        async move {
            common::http()
                .get(url)
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(old_key.sign(&claims).unwrap()).await, 200);

    // A key the issuer has not published yet: once the cooldown since the start has passed,
    // one refetch; the key is still unknown, so the token is refused.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let rotated = new_key.sign(&claims).unwrap();
    assert_eq!(status(rotated.clone()).await, 401);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Within the cooldown, more unknown kids cause no fetch.
    for _ in 0..5 {
        assert_eq!(status(rotated.clone()).await, 401);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // The issuer rotates; after the cooldown the new key is fetched and accepted.
    *published.lock().unwrap() = JwkSet {
        keys: [old_key.jwks().keys, new_key.jwks().keys].concat(),
    };
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(status(rotated).await, 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
}

/// An issuer that publishes its keys elsewhere (its discovery document's `jwks_uri`, here
/// Okta's `/oauth2/v1/keys`): with `jwks_uri` set, the keys come from there and from
/// nowhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_come_from_the_configured_jwks_uri() {
    let (key, _) = DevIssuer::generate().unwrap();
    let jwks = key.jwks();
    let elsewhere = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let e = elsewhere.clone();
    let app = axum::Router::new()
        .route(
            "/oauth2/v1/keys",
            axum::routing::get(move || {
                let set = jwks.clone();
                async move { axum::Json(set) }
            }),
        )
        .fallback(move || {
            e.fetch_add(1, Ordering::SeqCst);
            async { http::StatusCode::NOT_FOUND }
        });
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (iss, uri) = (issuer.clone(), format!("{issuer}/oauth2/v1/keys"));
    let s = common::start_demo(move |o| {
        o.auth = Auth::Issuer(AuthMode::Oidc {
            issuer: iss,
            audiences: vec!["viewer".into()],
            jwks_uri: Some(uri),
        });
    })
    .await;
    let inst = &common::demo_series(&s, "Axial 3mm HTJ2K")[0];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"iss": issuer, "aud": "viewer", "iat": now, "exp": now + 300});
    let status = common::http()
        .get(format!("{}{}", s.base_url, inst.frames_path("1")))
        .header(
            "authorization",
            format!("Bearer {}", key.sign(&claims).unwrap()),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert_eq!(
        elsewhere.load(Ordering::SeqCst),
        0,
        "keys asked for elsewhere"
    );
}
