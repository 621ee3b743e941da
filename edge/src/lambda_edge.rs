//! The two Lambda@Edge functions as their Node.js host drives them, without I/O: the host
//! hands in the CloudFront event's JSON, the time and (for the signer) the credentials, and
//! gets back JSON to return to CloudFront plus what to log. Everything the host might be
//! tempted to decide is decided here: when to fetch the issuer's keys (at the first request,
//! and again for an unknown `kid` at most once per cooldown), what a failed fetch means
//! (nothing: keys stay as they were, so tokens fail closed), what an unusable event gets.
//!
//! The host loop is: call [`ViewerRequestFunction::handle`]; on [`Step::FetchKeys`] fetch the
//! URL (with a timeout), report with [`ViewerRequestFunction::keys_fetched`] or
//! [`ViewerRequestFunction::keys_unavailable`], and call `handle` again. A second
//! `FetchKeys` for the same request cannot happen: the call after a report never asks.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, Context};
use crate::authorizer::{AuthMode, Authorizer, Refusal};
use crate::cloudfront::{Config as EventConfig, Event, Request, RequestResult};
use crate::config::{ConfigError, DeployConfig};
use crate::errors::EdgeError;
use crate::signer::{self, SignerConfig};

/// The header the viewer-request function sets to the URL viewers use
/// (`https://{custom domain or distribution domain}`), for the BulkDataURIs the translator
/// writes into metadata. The template cannot give the translator that URL: the distribution
/// depends on the translator's Function URL. A viewer's own value is replaced.
pub const PUBLIC_URL_HEADER: &str = "x-dicomweb-public-url";

/// `value` if it is `https://host` (or `http://host[:port]`) with nothing after the
/// authority; trailing `/` removed.
pub fn public_url(value: &str) -> Option<String> {
    let v = value.trim().trim_end_matches('/');
    let authority = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))?;
    let ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then(|| v.to_owned())
}

/// What the host does next.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// Fetch the issuer's keys from this URL, report, and call `handle` again.
    FetchKeys(String),
    /// Return `result` to CloudFront; print `log` and `audit` (one JSON line each) when
    /// present.
    Done {
        result: Box<RequestResult>,
        #[serde(skip_serializing_if = "Option::is_none")]
        log: Option<LogLine>,
        /// The viewer-request function's audit event ([`crate::audit`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        audit: Option<Box<AuditEvent>>,
    },
}

/// One log line; it never holds a token, a query value or a signature (the path and query
/// are written as [`crate::http_rules::loggable_target`] writes them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub function: &'static str,
    pub method: String,
    pub path: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The first request of an event with its `config`, or the error (502) when CloudFront sent
/// something else.
fn request_of(event: &[u8], event_type: &str) -> Result<(Request, EventConfig), EdgeError> {
    let event: Event = serde_json::from_slice(event)
        .map_err(|_| EdgeError::BadEvent("the edge function cannot read the event"))?;
    let record = event
        .records
        .into_iter()
        .next()
        .ok_or(EdgeError::BadEvent("the event has no record"))?;
    if record.cf.config.event_type != event_type {
        return Err(EdgeError::BadEvent(
            "the edge function is associated with the wrong event",
        ));
    }
    Ok((record.cf.request, record.cf.config))
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`, as
/// [`crate::cors`] recognises it.
fn is_preflight((method, origin, request_method): &(String, bool, bool)) -> bool {
    method == "OPTIONS" && *origin && *request_method
}

fn status_of(result: &RequestResult) -> u16 {
    match result {
        RequestResult::Respond(r) => r.status.parse().unwrap_or(0),
        RequestResult::Forward(_) => 0,
    }
}

/// The viewer-request function: the authorizer and its keys. The Node.js host drives it
/// with CloudFront's events ([`Self::handle`]); the local server with the same requests,
/// typed ([`Self::handle_request`]).
pub struct ViewerRequestFunction {
    authorizer: Authorizer,
    /// The URL viewers use, when configured (a custom domain, or the local server's address);
    /// otherwise `https://{distribution domain}` from the event.
    public_url: Option<String>,
    jwks_url: Option<String>,
    keys: JwkSet,
    /// When keys were last fetched or tried (seconds since the epoch).
    fetched_at: Option<u64>,
    /// A fetch was reported since the last `handle`: that call must not ask again.
    reported: bool,
    cooldown: u64,
}

impl ViewerRequestFunction {
    pub fn new(config: &DeployConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let auth = config.auth_config()?;
        let jwks_url = match &auth.mode {
            AuthMode::None => None,
            mode => mode.jwks_url(),
        };
        Ok(Self::from_parts(
            Authorizer::new(auth),
            jwks_url,
            JwkSet { keys: Vec::new() },
            config.auth.jwks_refetch_cooldown_seconds,
            config
                .distribution
                .domain_name
                .as_ref()
                .map(|d| format!("https://{d}")),
        ))
    }

    /// The function over an authorizer configured by the caller: `keys` known in advance
    /// (the local development issuer's, with no `jwks_url`), or fetched from `jwks_url` when
    /// the function asks, at most once per `cooldown_seconds` for unknown `kid`s.
    pub fn from_parts(
        authorizer: Authorizer,
        jwks_url: Option<String>,
        keys: JwkSet,
        cooldown_seconds: u64,
        public_url: Option<String>,
    ) -> Self {
        Self {
            authorizer,
            public_url,
            jwks_url,
            keys,
            fetched_at: None,
            reported: false,
            cooldown: cooldown_seconds,
        }
    }

    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// The keys to fetch before the first request (during the container's init), if any.
    pub fn keys_to_prefetch(&self) -> Option<String> {
        self.jwks_url.clone().filter(|_| self.fetched_at.is_none())
    }

    /// Decides on one viewer-request event at `now` (seconds since the epoch).
    pub fn handle(&mut self, event: &[u8], now: u64) -> Step {
        match request_of(event, "viewer-request") {
            Ok((req, config)) => {
                let request_id = config.request_id.unwrap_or_default();
                self.handle_request(req, &config.distribution_domain_name, &request_id, now)
            }
            Err(e) => done_error(e, "viewer-request"),
        }
    }

    /// Decides on one viewer request of the distribution `distribution` (its domain name),
    /// CloudFront's request `request_id`, at `now`: the state machine both shells drive.
    pub fn handle_request(
        &mut self,
        mut req: Request,
        distribution: &str,
        request_id: &str,
        now: u64,
    ) -> Step {
        let may_fetch = !std::mem::take(&mut self.reported);
        if let Some(url) = &self.jwks_url
            && self.fetched_at.is_none()
            && may_fetch
        {
            return Step::FetchKeys(url.clone());
        }
        let (method, path) = (
            req.method.clone(),
            crate::http_rules::loggable_target(&req.uri, Some(&req.querystring)),
        );
        let client_ip = req.client_ip.clone();
        let req_method_origin = (
            req.method.clone(),
            req.header("origin").is_some(),
            req.header("access-control-request-method").is_some(),
        );
        let public_url = match &self.public_url {
            Some(u) => u.clone(),
            None => format!("https://{distribution}"),
        };
        req.set_header(PUBLIC_URL_HEADER, public_url);
        let decision = self.authorizer.viewer_request(req, &self.keys, now);
        if decision.refusal == Some(Refusal::UnknownKey)
            && may_fetch
            && let Some(url) = &self.jwks_url
            && self
                .fetched_at
                .is_none_or(|t| now.saturating_sub(t) >= self.cooldown)
        {
            return Step::FetchKeys(url.clone());
        }
        let status = status_of(&decision.result);
        // A preflight reads nothing: it has no audit event.
        let audit = (!is_preflight(&req_method_origin)).then(|| {
            let context = Context {
                request_id,
                client_ip: &client_ip,
                method: &method,
                now,
            };
            let mut event = AuditEvent::new(context, path.clone(), decision.route.as_ref());
            event.user = decision.user.clone();
            if let Some(r) = decision.refusal {
                event.decision = "refused";
                event.refusal = Some(format!("{r:?}"));
                event.status = Some(status);
            }
            Box::new(event)
        });
        let log = decision.refusal.map(|r| LogLine {
            function: "viewer-request",
            method,
            path,
            status,
            refusal: Some(format!("{r:?}")),
            detail: None,
        });
        Step::Done {
            result: Box::new(decision.result),
            log,
            audit,
        }
    }

    /// The keys fetched at `now`; a body that is not a JWKS counts as unavailable.
    pub fn keys_fetched(&mut self, body: &[u8], now: u64) -> Result<usize, String> {
        self.fetched_at = Some(now);
        self.reported = true;
        let set: JwkSet = serde_json::from_slice(body)
            .map_err(|e| format!("the issuer's keys are not a JWKS: {e}"))?;
        self.keys = set;
        Ok(self.keys.keys.len())
    }

    /// The fetch failed at `now`: the keys stay as they were until the cooldown passes.
    pub fn keys_unavailable(&mut self, now: u64) {
        self.fetched_at = Some(now);
        self.reported = true;
    }
}

/// `result` to return, logged with its body when the function answers itself.
fn answered(result: RequestResult, function: &'static str, method: String, path: String) -> Step {
    let log = match &result {
        RequestResult::Respond(r) => Some(LogLine {
            function,
            method,
            path,
            status: r.status.parse().unwrap_or(0),
            refusal: None,
            detail: r.body.as_deref().map(|b| b.trim().to_owned()),
        }),
        RequestResult::Forward(_) => None,
    };
    Step::Done {
        result: Box::new(result),
        log,
        audit: None,
    }
}

/// An answer to an event that names no usable request.
fn done_error(error: EdgeError, function: &'static str) -> Step {
    answered(
        RequestResult::Respond(error.answer().to_cloudfront()),
        function,
        String::new(),
        String::new(),
    )
}

/// Credentials as the host reads them from Lambda's reserved environment variables.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostCredentials {
    #[serde(default)]
    pub access_key_id: String,
    #[serde(default)]
    pub secret_access_key: String,
    #[serde(default)]
    pub session_token: Option<String>,
}

/// The origin-request function: the signer.
pub struct OriginRequestFunction {
    config: SignerConfig,
}

impl OriginRequestFunction {
    pub fn new(config: &DeployConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config: config.signer_config()?,
        })
    }

    /// The function over a signer configured by the caller (the local server).
    pub fn from_signer(config: SignerConfig) -> Self {
        Self { config }
    }

    /// Signs one origin-request event at `now_millis` (milliseconds since the epoch).
    pub fn handle(&self, event: &[u8], credentials: &[u8], now_millis: u64) -> Step {
        let (req, config) = match request_of(event, "origin-request") {
            Ok(r) => r,
            Err(e) => return done_error(e, "origin-request"),
        };
        let creds = serde_json::from_slice::<HostCredentials>(credentials)
            .ok()
            .filter(|c| !c.access_key_id.is_empty() && !c.secret_access_key.is_empty());
        let Some(c) = creds else {
            let (method, path) = (
                req.method.clone(),
                crate::http_rules::loggable_target(&req.uri, Some(&req.querystring)),
            );
            let refusal = EdgeError::Misconfigured("the signer has no credentials").answer();
            return answered(
                RequestResult::Respond(refusal.to_cloudfront()),
                "origin-request",
                method,
                path,
            );
        };
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            c.session_token.filter(|t| !t.is_empty()),
            None,
            "lambda-environment",
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(now_millis);
        self.handle_request(req, config.request_id.as_deref(), &credentials, now)
    }

    /// One origin-response event (the same function is associated with both events of the
    /// native behavior): HealthImaging's refusals answered from the error table
    /// ([`signer::origin_response`]); logged when it replaces an answer.
    pub fn handle_response(&self, event: &[u8]) -> Step {
        let parsed = serde_json::from_slice::<Event>(event)
            .ok()
            .and_then(|e| e.records.into_iter().next())
            .filter(|r| r.cf.config.event_type == "origin-response")
            .and_then(|r| Some((r.cf.request, r.cf.response?)));
        let Some((req, response)) = parsed else {
            return done_error(
                EdgeError::BadEvent("the origin-response function cannot read the event"),
                "origin-response",
            );
        };
        let received = response.status.clone();
        let answer = signer::origin_response(&req, response);
        let log = (answer.status != received || answer.body.is_some()).then(|| LogLine {
            function: "origin-response",
            method: req.method.clone(),
            path: crate::http_rules::loggable_target(&req.uri, Some(&req.querystring)),
            status: answer.status.parse().unwrap_or(0),
            refusal: None,
            detail: Some(format!("HealthImaging answered {received}")),
        });
        Step::Done {
            result: Box::new(RequestResult::Respond(answer)),
            log,
            audit: None,
        }
    }

    /// Signs one origin request whose CloudFront request ID is `request_id`: the state
    /// machine both shells drive.
    pub fn handle_request(
        &self,
        req: Request,
        request_id: Option<&str>,
        credentials: &Credentials,
        now: SystemTime,
    ) -> Step {
        let (method, path) = (
            req.method.clone(),
            crate::http_rules::loggable_target(&req.uri, Some(&req.querystring)),
        );
        let result = signer::origin_request(&self.config, req, request_id, credentials, now);
        answered(result, "origin-request", method, path)
    }
}
