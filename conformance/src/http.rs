//! The suite's HTTP client: requests described as values, answers read to the end, and a
//! printable summary of what was sent in which tokens and signatures never appear.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4::SigningParams;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// The session's credentials, if it has any: its bearer token, or its SigV4 signature.
    Session,
    /// No `Authorization` header.
    Omit,
    /// This bearer value, shown in summaries as `label` (it may be derived from the real token).
    Bearer { value: String, label: &'static str },
    /// Signed with the session's SigV4 key, then one character of the signature changed.
    TamperedSignature,
}

/// What a session authenticates with.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    /// An OAuth 2.0 bearer token (RFC 6750).
    Bearer(String),
    /// AWS Signature Version 4 in the `Authorization` header.
    SigV4(SigV4),
}

/// A SigV4 key and where it signs for.
#[derive(Clone)]
pub struct SigV4 {
    pub credentials: aws_credential_types::Credentials,
    pub region: String,
    /// The signing name, e.g. `medical-imaging` for AWS HealthImaging.
    pub service: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Bearer(_) => "Bearer(<token>)",
            Credentials::SigV4(_) => "SigV4(<key>)",
        })
    }
}

impl SigV4 {
    /// The `Authorization`, `x-amz-date` and (for temporary keys) `x-amz-security-token`
    /// headers of a request signed at `now` (AWS General Reference, "Signature Version 4
    /// signing process"; the payload is hashed, as every non-S3 service requires).
    pub fn headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: SystemTime,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let identity = self.credentials.clone().into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(now)
            .settings(SigningSettings::default())
            .build()?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        Ok(instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect())
    }
}

/// Changes one hex digit of the `Signature=` in a SigV4 `Authorization` value.
fn tamper(authorization: &str) -> String {
    match authorization.rfind("Signature=") {
        Some(i) => {
            let at = i + "Signature=".len() + 10;
            let mut bytes = authorization.as_bytes().to_vec();
            if let Some(b) = bytes.get_mut(at) {
                *b = if *b == b'0' { b'1' } else { b'0' };
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        None => authorization.to_owned(),
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub auth: Auth,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            auth: Auth::Session,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn accept(self, value: &str) -> Self {
        self.header("Accept", value)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
}

/// A request and the answer to it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// What was sent, for the report: method, URL, headers, with tokens replaced by labels.
    pub sent: String,
    /// 0 when no answer arrived (`error` says why).
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub error: Option<String>,
}

impl Exchange {
    /// An exchange in which no answer arrived, for `error`.
    fn failed(sent: String, error: String) -> Self {
        Self {
            sent,
            status: 0,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            error: Some(error),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// All values of a header, joined by commas as RFC 9110 §5.3 allows.
    pub fn header_list(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A one-line description of the answer: status, type, size, and a short text body.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("no answer: {e}");
        }
        let mut s = format!("{}", self.status);
        if let Some(ct) = self.header("content-type") {
            s.push_str(&format!(", Content-Type: {ct}"));
        }
        s.push_str(&format!(", {} bytes", self.body.len()));
        if self.status >= 300 && !self.body.is_empty() {
            s.push_str(&format!(": {}", snippet(&self.body)));
        }
        s
    }
}

/// The start of a body as text, for reports.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(160)]);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > 160 {
        format!("{:?}…", one_line.trim())
    } else {
        format!("{:?}", one_line.trim())
    }
}

/// A client bound to one target's credentials.
pub struct Session {
    client: reqwest::Client,
    credentials: Credentials,
}

impl Session {
    pub fn new(credentials: Credentials, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            credentials,
        })
    }

    /// The bearer token, when the session has one.
    pub fn token(&self) -> Option<&str> {
        match &self.credentials {
            Credentials::Bearer(t) => Some(t),
            _ => None,
        }
    }

    /// The SigV4 key, when the session signs.
    pub fn sigv4(&self) -> Option<&SigV4> {
        match &self.credentials {
            Credentials::SigV4(k) => Some(k),
            _ => None,
        }
    }

    /// Sends `req` and reads the whole answer; transport failures become an exchange with
    /// status 0, so that the check reports them like any other wrong answer.
    pub async fn send(&self, req: Request) -> Exchange {
        let mut sent = format!("{} {}", req.method, req.url);
        let mut builder = self.client.request(req.method.clone(), &req.url);
        for (name, value) in &req.headers {
            sent.push_str(&format!(" | {name}: {value}"));
            builder = builder.header(name, value);
        }
        builder = match self.authorize(&req, builder, &mut sent) {
            Ok(b) => b,
            Err(e) => return Exchange::failed(sent, e),
        };
        if let Some(body) = req.body {
            sent.push_str(&format!(" | body: {}", snippet(&body)));
            builder = builder.body(body);
        }
        let resp = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Exchange::failed(sent, without_url(&e)),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        match resp.bytes().await {
            Ok(body) => Exchange {
                sent,
                status,
                headers,
                body,
                error: None,
            },
            Err(e) => Exchange {
                status,
                headers,
                ..Exchange::failed(sent, without_url(&e))
            },
        }
    }

    /// Adds the request's credentials to `builder`, and their label to `sent`.
    fn authorize(
        &self,
        req: &Request,
        builder: reqwest::RequestBuilder,
        sent: &mut String,
    ) -> Result<reqwest::RequestBuilder, String> {
        Ok(match (&req.auth, &self.credentials) {
            (Auth::Session, Credentials::Bearer(token)) => {
                sent.push_str(" | Authorization: Bearer <token>");
                builder.bearer_auth(token)
            }
            (Auth::Session | Auth::TamperedSignature, Credentials::SigV4(key)) => {
                let tampered = matches!(req.auth, Auth::TamperedSignature);
                let body = req.body.as_deref().unwrap_or_default();
                let signed = key
                    .headers(
                        req.method.as_str(),
                        &req.url,
                        &req.headers,
                        body,
                        SystemTime::now(),
                    )
                    .map_err(|e| format!("could not sign the request: {e}"))?;
                sent.push_str(if tampered {
                    " | Authorization: AWS4-HMAC-SHA256 <signature with one digit changed>"
                } else {
                    " | Authorization: AWS4-HMAC-SHA256 <signature>"
                });
                signed.into_iter().fold(builder, |b, (name, value)| {
                    if tampered && name.eq_ignore_ascii_case("authorization") {
                        b.header(name, tamper(&value))
                    } else {
                        b.header(name, value)
                    }
                })
            }
            (Auth::Bearer { value, label }, _) => {
                sent.push_str(&format!(" | Authorization: Bearer <{label}>"));
                builder.bearer_auth(value)
            }
            (Auth::Session | Auth::TamperedSignature | Auth::Omit, _) => builder,
        })
    }
}

/// A transport error's description without its URL, which can carry a `token` parameter.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the body was cut short"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
}
