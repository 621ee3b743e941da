//! The deployment's configuration: one document (`deploy/config.toml`) that packaging reads,
//! bakes into the Lambda@Edge zips as JSON (Lambda@Edge has no environment variables) and
//! turns into the CloudFormation parameters and the translator's environment. The edge
//! functions read it back with the same types, so the packaged functions and the template
//! cannot disagree about the issuer, the datastores or the CORS origins.

use healthimaging::DatastoreId;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use crate::authorizer::{AuthConfig, AuthMode};
use crate::cors::CorsPolicy;
use crate::internal::InternalKey;
use crate::signer::SignerConfig;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    pub auth: AuthSettings,
    #[serde(default)]
    pub cors: CorsSettings,
    pub healthimaging: HealthImagingSettings,
    #[serde(default)]
    pub cache: CacheSettings,
    #[serde(default)]
    pub protection: ProtectionSettings,
    #[serde(default)]
    pub distribution: DistributionSettings,
    #[serde(default)]
    pub viewer: ViewerSettings,
    /// The key of the edge's internal requests (64 hexadecimal digits,
    /// [`crate::internal`]). Packaging generates one when the file has none and gives it to
    /// the edge functions and the translator; without one, translator instances do not share
    /// what they resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_key: Option<String>,
}

/// Whom the authorizer trusts (see [`AuthMode`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `cognito`, `oidc` or `none`. Packaging takes `none` (public or open datasets) only
    /// with `acknowledge_unauthenticated = true` and a Web ACL in front
    /// ([`ProtectionSettings`]).
    pub mode: String,
    /// That anyone who has the URL may read the datastores (needed for `mode = "none"`).
    #[serde(default)]
    pub acknowledge_unauthenticated: bool,
    /// Cognito: the user pool's region and id, and the app clients allowed.
    #[serde(default)]
    pub user_pool_id: String,
    #[serde(default)]
    pub user_pool_region: String,
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// OIDC: the issuer (`iss`) and audiences.
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// OIDC: where the issuer publishes its keys, the `jwks_uri` of its
    /// `{issuer}/.well-known/openid-configuration` (default `{issuer}/.well-known/jwks.json`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jwks_uri: String,
    /// Accepted algorithms (RS256, RS384, RS512, ES256, ES384, PS256, PS384, PS512, EdDSA);
    /// empty: RS256/384/512 and ES256/384.
    #[serde(default)]
    pub algorithms: Vec<String>,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// Accept the token from a `token` query parameter (OHIF's `?token=`); it is removed
    /// before the cache key and the origin see the request.
    #[serde(default = "yes")]
    pub token_query: bool,
    #[serde(default = "yes")]
    pub token_header: bool,
    /// How often, at most, an unknown `kid` makes the edge refetch the issuer's keys.
    #[serde(default = "default_cooldown")]
    pub jwks_refetch_cooldown_seconds: u64,
}

fn yes() -> bool {
    true
}

/// The default of `jwks_refetch_cooldown_seconds`, for the deployed functions and the local
/// server alike.
pub const DEFAULT_JWKS_COOLDOWN_SECONDS: u64 = 300;

fn default_cooldown() -> u64 {
    DEFAULT_JWKS_COOLDOWN_SECONDS
}

/// Origins whose scripts may read responses; `["*"]` for any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    pub origins: Vec<String>,
    #[serde(default = "default_preflight_max_age")]
    pub max_age_seconds: u32,
}

fn default_preflight_max_age() -> u32 {
    600
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            origins: vec!["*".into()],
            max_age_seconds: default_preflight_max_age(),
        }
    }
}

/// What protects the datastores' quotas from one client: AWS WAF on the distribution (an
/// existing Web ACL, or one the template builds with a per-IP rate-based rule) and the
/// translator's reserved concurrency, which bounds the HealthImaging calls in flight.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionSettings {
    /// An existing WAFv2 Web ACL of scope CLOUDFRONT (`arn:aws:wafv2:us-east-1:…:global/webacl/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_acl_arn: Option<String>,
    /// Requests per client IP per 5 minutes before the built-in Web ACL blocks it (429);
    /// 0: no built-in Web ACL. Ignored when `web_acl_arn` is set.
    #[serde(default)]
    pub rate_limit_per_ip: u64,
    /// Concurrent executions reserved for (and limiting) the translator; none: unreserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translator_reserved_concurrency: Option<u32>,
}

impl ProtectionSettings {
    /// Whether a Web ACL will be in front of the distribution.
    pub fn has_web_acl(&self) -> bool {
        self.web_acl_arn.is_some() || self.rate_limit_per_ip > 0
    }
}

/// Where the data is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthImagingSettings {
    /// AHI's region; the translator runs there.
    pub region: String,
    /// The datastores served (the allowlist; IAM is scoped to them).
    pub datastores: Vec<String>,
    /// Another runtime endpoint (`http://127.0.0.1:PORT` for the emulator in tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Cache lifetimes, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    #[serde(default = "default_frames_max_age")]
    pub frames_max_age_seconds: u64,
    #[serde(default = "default_metadata_max_age")]
    pub metadata_max_age_seconds: u64,
}

fn default_frames_max_age() -> u64 {
    365 * 24 * 3600
}

fn default_metadata_max_age() -> u64 {
    60
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            frames_max_age_seconds: default_frames_max_age(),
            metadata_max_age_seconds: default_metadata_max_age(),
        }
    }
}

/// The CloudFront distribution (used by packaging for the template's parameters).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionSettings {
    /// `PriceClass_100`, `PriceClass_200` or `PriceClass_All`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_class: Option<String>,
    /// A custom domain and its ACM certificate (in us-east-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
}

/// `[viewer]`: the OHIF viewer on the same distribution (packaging puts its files in
/// `dist/viewer/`, the template serves them from a private bucket), signing in with the
/// issuer the authorizer trusts (OpenID Connect authorization code flow with PKCE).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerSettings {
    #[serde(default)]
    pub enabled: bool,
    /// The OIDC client the viewer signs in as: a public client (no secret) whose sign-in
    /// redirects to `https://{domain}/callback`. Default with Cognito: the first of
    /// `auth.client_ids`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    /// The scopes it asks for (default `openid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Other origins the sign-in talks to, for the viewer's Content-Security-Policy: with
    /// Cognito, its hosted UI domain (`https://NAME.auth.REGION.amazoncognito.com`), where the
    /// token endpoint is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sign_in_origins: Vec<String>,
}

impl ViewerSettings {
    /// How a viewer signs in to an authorizer of `mode`: `None` where the authorizer takes
    /// no tokens (`auth.mode = "none"`, a public dataset), so the viewer signs in nowhere.
    /// The deployed viewer and `serve`'s follow this one rule.
    pub fn sign_in(&self, mode: &AuthMode) -> Result<Option<ViewerSignIn>, ConfigError> {
        let Some(authority) = mode.issuer() else {
            return Ok(None);
        };
        let client_id = match (mode, self.client_id.as_str()) {
            (_, id) if !id.is_empty() => id.to_owned(),
            (AuthMode::Cognito { client_ids, .. }, _) => client_ids[0].clone(),
            _ => {
                return Err(bad(
                    "the viewer needs the OIDC client it signs in as, a public client (viewer.client_id, --viewer-client-id)",
                ));
            }
        };
        if let AuthMode::Cognito { client_ids, .. } = mode
            && !client_ids.contains(&client_id)
        {
            return Err(bad(format!(
                "the viewer's client {client_id:?} is not one of the accepted app clients (auth.client_ids, --client-id), so the authorizer would refuse its tokens"
            )));
        }
        if !client_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(bad(
                "the viewer's client ID has characters a client ID cannot hold",
            ));
        }
        let scopes = if self.scopes.is_empty() {
            vec!["openid".to_owned()]
        } else {
            self.scopes.clone()
        };
        for o in &self.sign_in_origins {
            if !o.starts_with("https://") || o.contains(['"', ' ', ';', ',']) {
                return Err(bad(format!(
                    "the viewer's sign-in origin {o:?} is not https://host (viewer.sign_in_origins, --viewer-sign-in-origin)"
                )));
            }
        }
        if scopes.iter().any(|s| {
            s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        }) {
            return Err(bad(
                "the viewer's scopes must be visible ASCII without quotes (viewer.scopes, --viewer-scope)",
            ));
        }
        Ok(Some(ViewerSignIn {
            authority,
            client_id,
            scope: scopes.join(" "),
            other_origins: self.sign_in_origins.clone(),
        }))
    }
}

/// How the viewer signs in: OHIF's `oidc` settings, and where its Content-Security-Policy
/// must let the sign-in go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerSignIn {
    /// The issuer (its `/.well-known/openid-configuration` names the endpoints).
    pub authority: String,
    pub client_id: String,
    /// Space-separated.
    pub scope: String,
    /// Origins the sign-in talks to besides the authority's ([`ViewerSettings::sign_in_origins`]).
    pub other_origins: Vec<String>,
}

impl ViewerSignIn {
    /// The authority and the other origins, for the Content-Security-Policy.
    pub fn origins(&self) -> Vec<&str> {
        std::iter::once(self.authority.as_str())
            .chain(self.other_origins.iter().map(String::as_str))
            .collect()
    }
}

/// A configuration the edge cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

impl DeployConfig {
    /// Checks what the types cannot: required fields per mode, IDs, names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.auth_mode()?;
        self.algorithms()?;
        self.datastores()?;
        self.internal_key()?;
        let region = &self.healthimaging.region;
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(format!(
                "healthimaging.region {region:?} is not a region name"
            )));
        }
        let p = &self.protection;
        if let Some(arn) = &p.web_acl_arn
            && !(arn.starts_with("arn:aws:wafv2:us-east-1:") && arn.contains(":global/webacl/"))
        {
            return Err(bad(format!(
                "protection.web_acl_arn {arn:?} is not a CLOUDFRONT-scope WAFv2 Web ACL ARN \
                 (arn:aws:wafv2:us-east-1:ACCOUNT:global/webacl/NAME/ID)"
            )));
        }
        // AWS WAF's bounds for a rate-based rule's limit (AWS WAF developer guide).
        if p.rate_limit_per_ip != 0 && !(100..=2_000_000_000).contains(&p.rate_limit_per_ip) {
            return Err(bad(
                "protection.rate_limit_per_ip: 0 (none) or 100 to 2000000000 requests per 5 minutes",
            ));
        }
        if p.translator_reserved_concurrency == Some(0) {
            return Err(bad(
                "protection.translator_reserved_concurrency = 0 would stop the translator; leave it out for none",
            ));
        }
        if self.viewer.enabled {
            self.viewer_sign_in()?;
        }
        for o in &self.cors.origins {
            if o != "*" && !(o.starts_with("https://") || o.starts_with("http://")) {
                return Err(bad(format!(
                    "cors.origins: {o:?} is not scheme://host[:port] or \"*\""
                )));
            }
        }
        Ok(())
    }

    /// The viewer's sign-in, for `[viewer]` with `enabled` (see [`ViewerSettings::sign_in`]).
    pub fn viewer_sign_in(&self) -> Result<Option<ViewerSignIn>, ConfigError> {
        self.viewer.sign_in(&self.auth_mode()?)
    }

    /// The internal key, validated.
    pub fn internal_key(&self) -> Result<Option<InternalKey>, ConfigError> {
        self.internal_key
            .as_deref()
            .map(|k| {
                InternalKey::from_hex(k)
                    .ok_or_else(|| bad("internal_key must be 64 hexadecimal digits"))
            })
            .transpose()
    }

    /// The allowlisted datastores, validated.
    pub fn datastores(&self) -> Result<Vec<DatastoreId>, ConfigError> {
        self.healthimaging
            .datastores
            .iter()
            .map(|d| {
                d.parse::<DatastoreId>().map_err(|_| {
                    bad(format!(
                        "healthimaging.datastores: {d:?} is not a datastore ID"
                    ))
                })
            })
            .collect()
    }

    pub fn auth_mode(&self) -> Result<AuthMode, ConfigError> {
        let a = &self.auth;
        match a.mode.as_str() {
            "none" => Ok(AuthMode::None),
            "cognito" => {
                if a.user_pool_id.is_empty() || a.client_ids.is_empty() {
                    return Err(bad(
                        "auth.mode = \"cognito\" needs auth.user_pool_id and auth.client_ids",
                    ));
                }
                let region = if a.user_pool_region.is_empty() {
                    a.user_pool_id
                        .split_once('_')
                        .map(|(r, _)| r.to_owned())
                        .ok_or_else(|| bad("auth.user_pool_id is not REGION_ID"))?
                } else {
                    a.user_pool_region.clone()
                };
                Ok(AuthMode::Cognito {
                    region,
                    user_pool_id: a.user_pool_id.clone(),
                    client_ids: a.client_ids.clone(),
                })
            }
            "oidc" => {
                if a.issuer.is_empty() || a.audiences.is_empty() {
                    return Err(bad(
                        "auth.mode = \"oidc\" needs auth.issuer and auth.audiences",
                    ));
                }
                if !a.jwks_uri.is_empty() && !a.jwks_uri.starts_with("https://") {
                    return Err(bad(format!(
                        "auth.jwks_uri {:?} is not an https:// URL",
                        a.jwks_uri
                    )));
                }
                Ok(AuthMode::Oidc {
                    issuer: a.issuer.clone(),
                    audiences: a.audiences.clone(),
                    jwks_uri: (!a.jwks_uri.is_empty()).then(|| a.jwks_uri.clone()),
                })
            }
            other => Err(bad(format!(
                "auth.mode {other:?}: expected \"cognito\", \"oidc\" or \"none\""
            ))),
        }
    }

    fn algorithms(&self) -> Result<Vec<Algorithm>, ConfigError> {
        self.auth
            .algorithms
            .iter()
            .map(|a| match a.parse::<Algorithm>() {
                Ok(alg)
                    if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) =>
                {
                    Ok(alg)
                }
                _ => Err(bad(format!(
                    "auth.algorithms: {a:?} is not an asymmetric JWS algorithm"
                ))),
            })
            .collect()
    }

    /// The authorizer's configuration.
    pub fn auth_config(&self) -> Result<AuthConfig, ConfigError> {
        let mut c = AuthConfig::new(self.auth_mode()?);
        let algorithms = self.algorithms()?;
        if !algorithms.is_empty() {
            c.algorithms = algorithms;
        }
        c.required_scopes = self.auth.required_scopes.clone();
        c.token_query = self.auth.token_query;
        c.token_header = self.auth.token_header;
        c.datastores = self.datastores()?;
        c.internal_key = self.internal_key()?;
        c.cors = CorsPolicy {
            origins: self.cors.origins.clone(),
            max_age_seconds: self.cors.max_age_seconds,
        };
        Ok(c)
    }

    /// The signer's configuration: AHI's runtime endpoint, or the configured one.
    pub fn signer_config(&self) -> Result<SignerConfig, ConfigError> {
        let region = &self.healthimaging.region;
        match &self.healthimaging.endpoint {
            None => Ok(SignerConfig::aws(region)),
            Some(url) => {
                let mut c = SignerConfig::from_url(url)
                    .ok_or_else(|| bad(format!("healthimaging.endpoint {url:?} is not a URL")))?;
                c.region = region.clone();
                Ok(c)
            }
        }
    }
}
