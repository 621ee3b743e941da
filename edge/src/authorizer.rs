//! The authorizer: CloudFront's viewer-request function, run on every request, cache hits
//! included. A pure function of (configuration, request, JWKS, now): it reads no clock,
//! network or environment, so the same code runs in the local server and, compiled to
//! WebAssembly, in Lambda@Edge.
//!
//! In order: CORS preflight is answered; paths outside the product's URL space are refused
//! (404, before authentication: the URL space is public knowledge); the bearer token is found
//! (`Authorization: Bearer`, else optionally a `token` header or `token` query parameter) and
//! verified; the datastore must be allowlisted (403). A `token` query parameter is removed
//! from the forwarded request, so it reaches neither cache keys nor origin logs, and `Accept`
//! is normalised so equivalent headers share a cache entry.
//!
//! Verification (RFC 7519, RFC 8725): `jsonwebtoken` checks the signature with the JWKS key
//! named by `kid`, only for the configured asymmetric algorithms (never `none`, never HMAC,
//! so a token "signed" with the public key as an HMAC secret fails); `iss` must equal the
//! configured issuer; `exp` is required, `nbf` and `iat` must not be in the future, all with
//! a small leeway; Cognito access tokens must carry `token_use: access` and one of the
//! configured `client_id`s, OIDC tokens one of the configured audiences; required scopes
//! must all be granted. Rejections say only `invalid_token` (RFC 6750 §3.1).
//!
//! A viewer sends the same token with every request, and RSA verification costs ~1 ms in
//! WebAssembly (measured: docs/architecture.md, "Edge functions"), so verified tokens are remembered, keyed by a SHA-256 of the
//! whole token, until their `exp`.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use dicomweb::query::raw_pairs;
use healthimaging::DatastoreId;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::audit::User;
use crate::cloudfront::{self, Request, RequestResult, Response};
use crate::cors::CorsPolicy;
use crate::errors::EdgeError;
use crate::internal::InternalKey;
use crate::routes::{self, Route, RouteError};

/// Whom the authorizer trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// No authentication (local use only).
    None,
    /// Amazon Cognito access tokens of one user pool, for the listed app clients.
    Cognito {
        region: String,
        user_pool_id: String,
        client_ids: Vec<String>,
    },
    /// Any OIDC issuer; tokens must name one of `audiences` in `aud`. Its keys are at
    /// `jwks_uri` (the `jwks_uri` of its `/.well-known/openid-configuration`), by default
    /// `{issuer}/.well-known/jwks.json`.
    Oidc {
        issuer: String,
        audiences: Vec<String>,
        jwks_uri: Option<String>,
    },
}

impl AuthMode {
    /// The `iss` tokens must carry; for Cognito,
    /// `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`.
    pub fn issuer(&self) -> Option<String> {
        match self {
            AuthMode::None => None,
            AuthMode::Cognito {
                region,
                user_pool_id,
                ..
            } => Some(format!(
                "https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
            )),
            AuthMode::Oidc { issuer, .. } => Some(issuer.clone()),
        }
    }

    /// Where the issuer publishes its keys: the configured `jwks_uri`, else
    /// `{issuer}/.well-known/jwks.json` (Cognito's documented location, and Auth0's).
    pub fn jwks_url(&self) -> Option<String> {
        if let AuthMode::Oidc {
            jwks_uri: Some(uri),
            ..
        } = self
        {
            return Some(uri.clone());
        }
        self.issuer()
            .map(|i| format!("{}/.well-known/jwks.json", i.trim_end_matches('/')))
    }
}

/// The authorizer's configuration.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Accepted signature algorithms; only asymmetric ones are honoured.
    pub algorithms: Vec<Algorithm>,
    pub leeway_seconds: u64,
    /// Scopes every token must grant (`scope`, space-separated, or `scp`).
    pub required_scopes: Vec<String>,
    /// Longer tokens are refused unread.
    pub max_token_bytes: usize,
    /// Also take the token from a `token` header.
    pub token_header: bool,
    /// Also take the token from a `token` query parameter.
    pub token_query: bool,
    /// Datastores that may be reached; empty: any.
    pub datastores: Vec<DatastoreId>,
    pub cors: CorsPolicy,
    /// Verified tokens remembered at most.
    pub token_cache_entries: usize,
    /// The key internal requests are signed with ([`crate::internal`]); without it the
    /// internal resources are refused.
    pub internal_key: Option<InternalKey>,
}

impl AuthConfig {
    pub fn new(mode: AuthMode) -> Self {
        Self {
            mode,
            algorithms: vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::ES256,
                Algorithm::ES384,
            ],
            leeway_seconds: 30,
            required_scopes: Vec::new(),
            max_token_bytes: 8192,
            token_header: true,
            token_query: true,
            datastores: Vec::new(),
            cors: CorsPolicy::default(),
            token_cache_entries: 10_000,
            internal_key: None,
        }
    }
}

/// Why a request was refused (for logs and tests; never sent to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoSuchRoute,
    MethodNotAllowed,
    MissingToken,
    OversizedToken,
    /// Not a JWT, bad base64 or JSON, or an algorithm that is not allowed (incl. `none`).
    MalformedToken,
    /// The JWKS has no key with the token's `kid`; the shell may refetch the JWKS (once per
    /// cooldown) and ask again.
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
    WrongTokenUse,
    MissingScope,
    ForbiddenDatastore,
    OriginNotAllowed,
    /// An internal resource without a valid internal signature.
    NotInternal,
}

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub result: RequestResult,
    /// Why it was refused, when it was.
    pub refusal: Option<Refusal>,
    /// Who the verified token names, once verified (for the audit trail).
    pub user: Option<User>,
    /// The resource the request names, when its path is one.
    pub route: Option<Route>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    azp: Option<String>,
    iss: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    token_use: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    scp: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
struct Verified {
    exp: u64,
    scopes: Vec<String>,
    user: User,
}

/// The viewer-request function and its cache of verified tokens.
pub struct Authorizer {
    config: AuthConfig,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

impl Authorizer {
    pub fn new(config: AuthConfig) -> Self {
        Self {
            config,
            verified: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Decides on one viewer request at time `now` (seconds since the epoch).
    pub fn viewer_request(&self, mut req: Request, jwks: &JwkSet, now: u64) -> Decision {
        let origin = req.header("origin").map(str::to_owned);
        if let Some(p) = self.config.cors.preflight(
            &req.method,
            origin.as_deref(),
            req.header("access-control-request-method"),
        ) {
            let mut r = if p.status == 204 {
                Response::text(p.status, "")
            } else {
                EdgeError::OriginNotAllowed.answer().to_cloudfront()
            };
            for (n, v) in p.headers {
                cloudfront::set_header(&mut r.headers, n, v);
            }
            return Decision {
                result: RequestResult::Respond(r),
                refusal: (p.status != 204).then_some(Refusal::OriginNotAllowed),
                user: None,
                route: None,
            };
        }
        let route = routes::parse(&req.method, &req.uri, Some(&req.querystring));
        let named = route.as_ref().ok().cloned();
        let datastore = match &route {
            Ok(r) => Some(r.datastore().clone()),
            Err(e @ RouteError::NotFound) => {
                return self.refuse(EdgeError::Route(e.clone()), Refusal::NoSuchRoute, &origin);
            }
            Err(e @ RouteError::MethodNotAllowed { .. }) => {
                return self.refuse(
                    EdgeError::Route(e.clone()),
                    Refusal::MethodNotAllowed,
                    &origin,
                );
            }
            // A malformed part: the origin answers it precisely, once authenticated.
            Err(RouteError::Invalid { .. }) => None,
        };

        // Internal resources take the internal signature instead of a user's token; the
        // signature never travels further than this function.
        let signature = req.header(crate::internal::HEADER).map(str::to_owned);
        req.headers.remove(crate::internal::HEADER);
        let internal = route.as_ref().is_ok_and(|r| r.is_internal());
        let token = self.take_token(&mut req);
        if internal {
            let signed = match (&self.config.internal_key, &signature) {
                (Some(key), Some(sig)) => key.verify(&req.uri, sig, now),
                _ => false,
            };
            if !signed {
                return self
                    .refuse(EdgeError::InternalOnly, Refusal::NotInternal, &origin)
                    .naming(named, None);
            }
        }
        let mut user = None;
        if !internal && self.config.mode != AuthMode::None {
            let Some(token) = token else {
                return self
                    .unauthorized(Refusal::MissingToken, false, &origin)
                    .naming(named, None);
            };
            match self.verify(&token, jwks, now) {
                Ok(u) => user = Some(u),
                Err(r) => return self.unauthorized(r, true, &origin).naming(named, None),
            }
        }
        if let Some(ds) = datastore
            && !self.config.datastores.is_empty()
            && !self.config.datastores.contains(&ds)
        {
            return self
                .refuse(
                    EdgeError::ForbiddenDatastore,
                    Refusal::ForbiddenDatastore,
                    &origin,
                )
                .naming(named, user);
        }
        let accept: Vec<&str> = req.header_values("accept").collect();
        if !accept.is_empty() {
            let normalised = dicomweb::accept::normalize_accept(&accept.join(", "));
            req.set_header("Accept", normalised);
        }
        Decision {
            result: RequestResult::Forward(Box::new(req)),
            refusal: None,
            user,
            route: named,
        }
    }

    /// Finds the token and removes every `token` query parameter from the request (its name
    /// decoded as the query parser decodes it, so `%74oken` is a `token` too).
    fn take_token(&self, req: &mut Request) -> Option<String> {
        let from_query = dicomweb::query::QueryParams::parse(Some(&req.querystring))
            .first("token")
            .map(str::to_owned);
        if from_query.is_some() {
            req.querystring = raw_pairs(&req.querystring)
                .filter(|(name, _)| name != "token")
                .map(|(_, pair)| pair)
                .collect::<Vec<_>>()
                .join("&");
        }
        let bearer = req.header("authorization").and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        });
        bearer
            .or_else(|| {
                self.config
                    .token_header
                    .then(|| req.header("token").map(|t| t.trim().to_owned()))
                    .flatten()
            })
            .or(from_query.filter(|_| self.config.token_query))
            .filter(|t| !t.is_empty())
    }

    fn verify(&self, token: &str, jwks: &JwkSet, now: u64) -> Result<User, Refusal> {
        if token.len() > self.config.max_token_bytes {
            return Err(Refusal::OversizedToken);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(v) = self.cached(&key, now) {
            return self.check_scopes(&v.scopes).map(|()| v.user);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::MalformedToken)?;
        let asymmetric = matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::EdDSA
        );
        if !asymmetric || !self.config.algorithms.contains(&header.alg) {
            return Err(Refusal::MalformedToken);
        }
        let jwk = header
            .kid
            .as_deref()
            .and_then(|kid| jwks.find(kid))
            .ok_or(Refusal::UnknownKey)?;
        let decoding = DecodingKey::from_jwk(jwk).map_err(|_| Refusal::UnknownKey)?;
        // The signature is checked with the crate's primitive and the claims read here:
        // `jsonwebtoken::decode` would also validate times against the system clock (on
        // wasm32 a JavaScript import), and times are checked below against `now`.
        let (message, signature) = token.rsplit_once('.').ok_or(Refusal::MalformedToken)?;
        let payload = message
            .split_once('.')
            .map(|(_, p)| p)
            .ok_or(Refusal::MalformedToken)?;
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &decoding, header.alg) {
            Ok(true) => {}
            Ok(false) => return Err(Refusal::BadSignature),
            Err(e) => {
                return Err(match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
                    | jsonwebtoken::errors::ErrorKind::InvalidAlgorithmName
                    | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
                    | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
                    | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey => Refusal::UnknownKey,
                    _ => Refusal::MalformedToken,
                });
            }
        }
        let claims: Claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(Refusal::MalformedToken)?;
        self.check_claims(&claims, now)?;
        let scopes: Vec<String> = match (&claims.scope, &claims.scp) {
            (Some(s), _) => s.split_whitespace().map(str::to_owned).collect(),
            (None, Some(v)) => v.clone(),
            (None, None) => Vec::new(),
        };
        self.check_scopes(&scopes)?;
        let exp = claims.exp.unwrap_or_default() as u64;
        let user = User {
            sub: claims.sub,
            // `check_claims` required it.
            iss: claims.iss.unwrap_or_default(),
            client_id: claims.client_id.or(claims.azp),
        };
        self.remember(
            key,
            Verified {
                exp,
                scopes,
                user: user.clone(),
            },
            now,
        );
        Ok(user)
    }

    fn check_claims(&self, claims: &Claims, now: u64) -> Result<(), Refusal> {
        let leeway = self.config.leeway_seconds as f64;
        let now = now as f64;
        let exp = claims.exp.ok_or(Refusal::Expired)?;
        if exp + leeway <= now {
            return Err(Refusal::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf - leeway > now)
            || claims.iat.is_some_and(|iat| iat - leeway > now)
        {
            return Err(Refusal::NotYetValid);
        }
        if claims.iss.is_none() || claims.iss != self.config.mode.issuer() {
            return Err(Refusal::WrongIssuer);
        }
        match &self.config.mode {
            AuthMode::None => Ok(()),
            AuthMode::Cognito { client_ids, .. } => {
                if claims.token_use.as_deref() != Some("access") {
                    return Err(Refusal::WrongTokenUse);
                }
                let ok = claims
                    .client_id
                    .as_ref()
                    .is_some_and(|c| client_ids.contains(c));
                if ok {
                    Ok(())
                } else {
                    Err(Refusal::WrongAudience)
                }
            }
            AuthMode::Oidc { audiences, .. } => {
                let aud: Vec<&str> = match &claims.aud {
                    Some(serde_json::Value::String(s)) => vec![s.as_str()],
                    Some(serde_json::Value::Array(a)) => {
                        a.iter().filter_map(|v| v.as_str()).collect()
                    }
                    _ => Vec::new(),
                };
                if aud.iter().any(|a| audiences.iter().any(|b| b == a)) {
                    Ok(())
                } else {
                    Err(Refusal::WrongAudience)
                }
            }
        }
    }

    fn check_scopes(&self, granted: &[String]) -> Result<(), Refusal> {
        if self
            .config
            .required_scopes
            .iter()
            .all(|s| granted.contains(s))
        {
            Ok(())
        } else {
            Err(Refusal::MissingScope)
        }
    }

    fn cached(&self, key: &[u8; 32], now: u64) -> Option<Verified> {
        let map = self.verified.lock().ok()?;
        map.get(key).filter(|v| v.exp > now).cloned()
    }

    fn remember(&self, key: [u8; 32], v: Verified, now: u64) {
        let Ok(mut map) = self.verified.lock() else {
            return;
        };
        if map.len() >= self.config.token_cache_entries {
            map.retain(|_, e| e.exp > now);
            if map.len() >= self.config.token_cache_entries {
                map.clear();
            }
        }
        map.insert(key, v);
    }

    /// An answer from the error table, with the CORS headers a viewer needs to read it.
    fn refuse(&self, error: EdgeError, refusal: Refusal, origin: &Option<String>) -> Decision {
        let mut r = error.answer().to_cloudfront();
        for (n, v) in self.config.cors.response_headers(origin.as_deref()) {
            cloudfront::set_header(&mut r.headers, n, v);
        }
        Decision {
            result: RequestResult::Respond(r),
            refusal: Some(refusal),
            user: None,
            route: None,
        }
    }

    /// 401 with a challenge (RFC 6750 §3): `error="invalid_token"` when a token was sent.
    fn unauthorized(&self, refusal: Refusal, sent: bool, origin: &Option<String>) -> Decision {
        self.refuse(
            EdgeError::Unauthorized { token_sent: sent },
            refusal,
            origin,
        )
    }
}

impl Decision {
    /// The same decision, naming the request's resource and the verified user.
    fn naming(mut self, route: Option<Route>, user: Option<User>) -> Self {
        self.route = route;
        self.user = user;
        self
    }
}
