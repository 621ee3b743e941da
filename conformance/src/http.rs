//! The suite's HTTP client: requests described as values, answers read to the end, and a
//! printable summary of what was sent in which tokens never appear.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// The session's token, if it has one.
    Session,
    /// No `Authorization` header.
    Omit,
    /// This bearer value, shown in summaries as `label` (it may be derived from the real token).
    Bearer { value: String, label: &'static str },
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
    token: Option<String>,
}

impl Session {
    pub fn new(token: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, token })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
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
        match (&req.auth, &self.token) {
            (Auth::Session, Some(token)) => {
                sent.push_str(" | Authorization: Bearer <token>");
                builder = builder.bearer_auth(token);
            }
            (Auth::Session, None) | (Auth::Omit, _) => {}
            (Auth::Bearer { value, label }, _) => {
                sent.push_str(&format!(" | Authorization: Bearer <{label}>"));
                builder = builder.bearer_auth(value);
            }
        }
        if let Some(body) = req.body {
            sent.push_str(&format!(" | body: {}", snippet(&body)));
            builder = builder.body(body);
        }
        let failed = |sent: String, e: reqwest::Error| Exchange {
            sent,
            status: 0,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            error: Some(without_url(&e)),
        };
        let resp = match builder.send().await {
            Ok(r) => r,
            Err(e) => return failed(sent, e),
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
                ..failed(sent, e)
            },
        }
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
