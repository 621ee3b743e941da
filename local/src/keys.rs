//! The keys the local authorizer verifies tokens with: none, the development issuer's (also
//! published at `/.well-known/jwks.json`), or an issuer's JWKS fetched over HTTP(S). A fetched
//! set is refetched when a token names an unknown `kid`, at most once per cooldown, so a
//! stream of forged `kid`s cannot turn the edge into a traffic source; when the issuer
//! cannot be reached, the set stays as it was (empty at first), so tokens fail: fail closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::request::Parts;
use http::{Response, header};
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;

/// The path the development issuer's keys are published at.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// A source of verification keys.
pub enum Keys {
    /// A fixed set; `publish` serves it at [`JWKS_PATH`].
    Static { jwks: Arc<JwkSet>, publish: bool },
    /// An issuer's published set.
    Remote(RemoteKeys),
}

/// A JWKS fetched from `url` and cached.
pub struct RemoteKeys {
    url: String,
    client: reqwest::Client,
    cooldown: Duration,
    state: Mutex<(Arc<JwkSet>, Option<Instant>)>,
}

impl RemoteKeys {
    /// Fetches the set once now (failures are logged; the set starts empty).
    pub async fn new(url: String, cooldown: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let keys = Self {
            url,
            client,
            cooldown,
            state: Mutex::new((Arc::new(JwkSet { keys: Vec::new() }), None)),
        };
        let _ = keys.refetch(true).await;
        keys
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let r = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("status {}", r.status()));
        }
        r.json::<JwkSet>().await.map_err(|e| e.to_string())
    }

    /// Fetches again unless the last fetch was within the cooldown.
    async fn refetch(&self, force: bool) -> Option<Arc<JwkSet>> {
        let mut state = self.state.lock().await;
        if !force && state.1.is_some_and(|t| t.elapsed() < self.cooldown) {
            return None;
        }
        state.1 = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                tracing::info!(url = %self.url, keys = set.keys.len(), "fetched the issuer's keys");
                state.0 = Arc::new(set);
                Some(state.0.clone())
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "cannot fetch the issuer's keys");
                None
            }
        }
    }
}

impl Keys {
    /// No keys: for `--auth none`, where tokens are not looked at.
    pub fn none() -> Self {
        Keys::Static {
            jwks: Arc::new(JwkSet { keys: Vec::new() }),
            publish: false,
        }
    }

    /// The current set.
    pub async fn current(&self) -> Arc<JwkSet> {
        match self {
            Keys::Static { jwks, .. } => jwks.clone(),
            Keys::Remote(r) => r.state.lock().await.0.clone(),
        }
    }

    /// A fresh set after an unknown `kid`, unless fixed or within the cooldown.
    pub async fn refresh(&self) -> Option<Arc<JwkSet>> {
        match self {
            Keys::Static { .. } => None,
            Keys::Remote(r) => r.refetch(false).await,
        }
    }

    /// The answer to `GET /.well-known/jwks.json` when this edge publishes its keys.
    pub fn published(&self, req: &Parts) -> Option<Response<Body>> {
        let Keys::Static {
            jwks,
            publish: true,
        } = self
        else {
            return None;
        };
        if req.method != http::Method::GET || req.uri.path() != JWKS_PATH {
            return None;
        }
        let body = serde_json::to_vec(jwks.as_ref()).ok()?;
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "public, max-age=300")
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .body(Body::from(body))
            .ok()
    }
}
