//! CloudFront's Lambda@Edge event format ("Lambda@Edge event structure", CloudFront
//! Developer Guide), which the authorizer and signer take and return. `aws_lambda_events`
//! has no CloudFront types, so they are defined here.
//!
//! Headers are a map from the lowercased name to the list of `{key, value}` entries, one per
//! occurrence. Fields CloudFront may add later are kept in `extra` maps, so a request
//! returned to CloudFront loses nothing it came with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Extra fields kept as they came.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// Headers: lowercased name → entries in order.
pub type Headers = BTreeMap<String, Vec<HeaderEntry>>;

/// One header occurrence; `key` is the name as sent (case preserved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

/// The event CloudFront passes to a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Records")]
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub cf: Cf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cf {
    pub config: Config,
    pub request: Request,
    /// Present in viewer-response and origin-response events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub distribution_domain_name: String,
    pub distribution_id: String,
    /// `viewer-request`, `origin-request`, `origin-response`, `viewer-response`.
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A request as CloudFront represents it; returned (possibly modified) to forward it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub client_ip: String,
    pub headers: Headers,
    pub method: String,
    /// Without the leading `?`; empty when there is none.
    pub querystring: String,
    pub uri: String,
    /// Only with "include body" on the association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<RequestBody>,
    /// Only in origin-request events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The request body: base64 or text, truncated at 40 KB (viewer) or 1 MB (origin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestBody {
    pub input_truncated: bool,
    /// `read-only` or `replace`.
    pub action: String,
    /// `base64` or `text`.
    pub encoding: String,
    pub data: String,
}

/// Where an origin-request goes: a custom origin or an S3 origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomOrigin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Origin>,
}

/// The `Host` value of an origin: the host, with the port unless it is the scheme's default.
pub fn authority(protocol: &str, host: &str, port: u16) -> String {
    match (protocol, port) {
        ("https", 443) | ("http", 80) => host.to_owned(),
        _ => format!("{host}:{port}"),
    }
}

impl CustomOrigin {
    /// Where a request to this origin goes: `scheme://authority{uri}[?query]`.
    pub fn url(&self, uri: &str, query: &str) -> String {
        let authority = authority(&self.protocol, &self.domain_name, self.port);
        if query.is_empty() {
            format!("{}://{authority}{uri}", self.protocol)
        } else {
            format!("{}://{authority}{uri}?{query}", self.protocol)
        }
    }
}

impl CustomOrigin {
    /// A custom origin as this product's distribution configures one (keep-alive 5 s, read
    /// timeout 30 s, TLS 1.2), with its origin custom headers.
    pub fn new(protocol: &str, domain_name: &str, port: u16, custom_headers: Headers) -> Self {
        CustomOrigin {
            custom_headers,
            domain_name: domain_name.to_owned(),
            keepalive_timeout: 5,
            path: String::new(),
            port,
            protocol: protocol.to_owned(),
            read_timeout: 30,
            response_completion_timeout: None,
            ssl_protocols: vec!["TLSv1.2".into()],
            extra: Default::default(),
        }
    }
}

impl From<CustomOrigin> for Origin {
    fn from(custom: CustomOrigin) -> Self {
        Origin {
            custom: Some(custom),
            s3: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomOrigin {
    #[serde(default)]
    pub custom_headers: Headers,
    pub domain_name: String,
    pub keepalive_timeout: u32,
    pub path: String,
    pub port: u16,
    pub protocol: String,
    pub read_timeout: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_completion_timeout: Option<u32>,
    pub ssl_protocols: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Origin {
    pub auth_method: String,
    #[serde(default)]
    pub custom_headers: Headers,
    pub domain_name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A response: received in response events, or generated by a request trigger.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The status code as a string, e.g. `"401"`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `text` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a viewer- or origin-request function returns: the request to forward, or a response
/// to answer with instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestResult {
    Respond(Response),
    Forward(Box<Request>),
}

impl Request {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())?
            .first()
            .map(|h| h.value.as_str())
    }

    /// All values of header `name`.
    pub fn header_values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .map(|h| h.value.as_str())
    }

    /// Sets header `name` to one value, replacing any it had.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        set_header(&mut self.headers, name, value);
    }
}

/// `headers` as an HTTP header map, every value kept in order; names or values HTTP cannot
/// carry are left out.
pub fn to_header_map(headers: &Headers) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    for (name, entries) in headers {
        let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        for e in entries {
            if let Ok(v) = http::HeaderValue::from_str(&e.value) {
                out.append(name.clone(), v);
            }
        }
    }
    out
}

/// Sets `name` to one value in `headers`, replacing any it had.
pub fn set_header(headers: &mut Headers, name: &str, value: impl Into<String>) {
    headers.insert(
        name.to_ascii_lowercase(),
        vec![HeaderEntry {
            key: Some(name.to_owned()),
            value: value.into(),
        }],
    );
}

impl Response {
    /// A generated response with a text body.
    pub fn text(status: u16, body: &str) -> Self {
        let mut r = Response {
            status: status.to_string(),
            status_description: http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .map(str::to_owned),
            body: (!body.is_empty()).then(|| body.to_owned()),
            ..Response::default()
        };
        if !body.is_empty() {
            set_header(&mut r.headers, "Content-Type", "text/plain; charset=utf-8");
        }
        r
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())?
            .first()
            .map(|h| h.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The viewer-request example of "Lambda@Edge event structure".
    const VIEWER_REQUEST: &str = r#"{
      "Records": [{"cf": {
        "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
          "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-request",
          "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
        "request": {"clientIp": "203.0.113.178",
          "headers": {"host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
            "user-agent": [{"key": "User-Agent", "value": "curl/7.66.0"}],
            "accept": [{"key": "accept", "value": "*/*"}]},
          "method": "GET", "querystring": "", "uri": "/"}}}]}"#;

    /// The origin-request example of the same page.
    const ORIGIN_REQUEST: &str = r#"{
      "Records": [{"cf": {
        "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
          "distributionId": "EDFDVBD6EXAMPLE", "eventType": "origin-request",
          "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
        "request": {"clientIp": "203.0.113.178",
          "headers": {"x-forwarded-for": [{"key": "X-Forwarded-For", "value": "203.0.113.178"}],
            "user-agent": [{"key": "User-Agent", "value": "Amazon CloudFront"}],
            "via": [{"key": "Via", "value": "2.0 2afae0d44e2540f472c0635ab62c232b.cloudfront.net (CloudFront)"}],
            "host": [{"key": "Host", "value": "example.org"}],
            "cache-control": [{"key": "Cache-Control", "value": "no-cache, cf-no-cache"}]},
          "method": "GET",
          "origin": {"custom": {"customHeaders": {}, "domainName": "example.org",
            "keepaliveTimeout": 5, "path": "", "port": 443, "protocol": "https",
            "readTimeout": 30, "responseCompletionTimeout": 30,
            "sslProtocols": ["TLSv1", "TLSv1.1", "TLSv1.2"]}},
          "querystring": "", "uri": "/"}}}]}"#;

    /// The older full-field request example: both origin kinds, custom headers.
    const ALL_REQUEST_FIELDS: &str = r#"{
      "Records": [{"cf": {
        "config": {"distributionDomainName": "d123.cloudfront.net",
          "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-request",
          "requestId": "MRVMF7KydIvxMWfJIglgwHQwZsbG2IhRJ07sn9AkKUFSHS9EXAMPLE=="},
        "request": {"clientIp": "2001:0db8:85a3:0:0:8a2e:0370:7334",
          "querystring": "size=large", "uri": "/picture.jpg", "method": "GET",
          "headers": {"host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
            "user-agent": [{"key": "User-Agent", "value": "curl/7.51.0"}]},
          "origin": {
            "custom": {"customHeaders": {"my-origin-custom-header": [{"key": "My-Origin-Custom-Header", "value": "Test"}]},
              "domainName": "example.com", "keepaliveTimeout": 5, "path": "/custom_path",
              "port": 443, "protocol": "https", "readTimeout": 5, "sslProtocols": ["TLSv1", "TLSv1.1"]},
            "s3": {"authMethod": "origin-access-identity",
              "customHeaders": {"my-origin-custom-header": [{"key": "My-Origin-Custom-Header", "value": "Test"}]},
              "domainName": "my-bucket.s3.amazonaws.com", "path": "/s3_path", "region": "us-east-1"}}}}}]}"#;

    /// The viewer-response example.
    const VIEWER_RESPONSE: &str = r#"{
      "Records": [{"cf": {
        "config": {"distributionDomainName": "d123.cloudfront.net",
          "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-response",
          "requestId": "xGN7KWpVEmB9Dp7ctcVFQC4E-nrcOcEKS3QyAez--06dV7TEXAMPLE=="},
        "request": {"clientIp": "2001:0db8:85a3:0:0:8a2e:0370:7334", "method": "GET",
          "uri": "/picture.jpg", "querystring": "size=large",
          "headers": {"host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
            "user-agent": [{"key": "User-Agent", "value": "curl/7.18.1"}]}},
        "response": {"status": "200", "statusDescription": "OK",
          "headers": {"server": [{"key": "Server", "value": "MyCustomOrigin"}],
            "set-cookie": [{"key": "Set-Cookie", "value": "theme=light"},
              {"key": "Set-Cookie", "value": "sessionToken=abc123; Expires=Wed, 09 Jun 2021 10:18:14 GMT"}]}}}}]}"#;

    /// A request with its body included (origin-request, "include body").
    const WITH_BODY: &str = r#"{
      "Records": [{"cf": {
        "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
          "distributionId": "EDFDVBD6EXAMPLE", "eventType": "origin-request"},
        "request": {"clientIp": "203.0.113.178", "headers": {}, "method": "POST",
          "querystring": "", "uri": "/datastore/x/imageSet/y/getImageFrame",
          "body": {"inputTruncated": false, "action": "read-only", "encoding": "base64",
            "data": "eyJpbWFnZUZyYW1lSWQiOiJhIn0="},
          "someFutureField": {"kept": true}}}}]}"#;

    #[test]
    fn documented_events_round_trip() {
        for doc in [
            VIEWER_REQUEST,
            ORIGIN_REQUEST,
            ALL_REQUEST_FIELDS,
            VIEWER_RESPONSE,
            WITH_BODY,
        ] {
            let event: Event = serde_json::from_str(doc).unwrap();
            let original: serde_json::Value = serde_json::from_str(doc).unwrap();
            assert_eq!(serde_json::to_value(&event).unwrap(), original);
        }
        let e: Event = serde_json::from_str(ORIGIN_REQUEST).unwrap();
        let r = &e.records[0].cf.request;
        assert_eq!(r.header("Host"), Some("example.org"));
        assert_eq!(
            r.origin
                .as_ref()
                .unwrap()
                .custom
                .as_ref()
                .unwrap()
                .read_timeout,
            30
        );
        let e: Event = serde_json::from_str(VIEWER_RESPONSE).unwrap();
        let resp = e.records[0].cf.response.as_ref().unwrap();
        assert_eq!(resp.headers["set-cookie"].len(), 2);
    }

    #[test]
    fn results_serialise_as_cloudfront_expects() {
        let r = RequestResult::Respond(Response::text(401, "unauthorized\n"));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "401");
        assert_eq!(v["statusDescription"], "Unauthorized");
        assert_eq!(
            v["headers"]["content-type"][0]["value"],
            "text/plain; charset=utf-8"
        );
        let e: Event = serde_json::from_str(VIEWER_REQUEST).unwrap();
        let fwd = RequestResult::Forward(Box::new(e.records[0].cf.request.clone()));
        let v = serde_json::to_value(&fwd).unwrap();
        assert_eq!(v["uri"], "/");
        assert!(v.get("status").is_none());
        // A result read back is the same kind.
        let back: RequestResult = serde_json::from_value(v).unwrap();
        assert!(matches!(back, RequestResult::Forward(_)));
    }
}
