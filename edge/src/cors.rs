//! CORS for browser viewers (Fetch standard, "CORS protocol"). Pure: the shells hand in the
//! request's method and headers and apply the header list it returns, on every response,
//! errors included (docs/clients.md: viewers cannot read an error without them).
//!
//! A viewer sends `Authorization` (or `token`) and `Accept`, so preflights must allow those;
//! Cornerstone reads `Content-Range` and the total length of byte-range answers, so those
//! are exposed with `ETag`.

/// Request headers a viewer may send.
pub const ALLOWED_HEADERS: &str =
    "Authorization, Accept, Content-Type, token, Range, If-None-Match";
/// Response headers script may read.
pub const EXPOSED_HEADERS: &str = "Content-Length, Content-Range, ETag, Content-Type, X-Cache";
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, OPTIONS";

/// Which origins may read responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    /// Allowed origins (`scheme://host[:port]`), or `["*"]` for any.
    pub origins: Vec<String>,
    /// How long a browser may cache a preflight answer.
    pub max_age_seconds: u32,
}

impl Default for CorsPolicy {
    fn default() -> Self {
        Self {
            origins: vec!["*".into()],
            max_age_seconds: 600,
        }
    }
}

/// The answer to a preflight request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// 204 for an allowed origin, 403 otherwise.
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
}

impl CorsPolicy {
    fn any(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`.
    pub fn allow_origin(&self, origin: Option<&str>) -> Option<String> {
        if self.any() {
            return Some("*".into());
        }
        let origin = origin?;
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| origin.to_owned())
    }

    /// Headers for an actual (non-preflight) response.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let mut h = Vec::with_capacity(3);
        if let Some(allow) = self.allow_origin(origin) {
            h.push(("access-control-allow-origin", allow));
            h.push(("access-control-expose-headers", EXPOSED_HEADERS.into()));
        }
        if !self.any() {
            // The answer differs per Origin, so shared caches must keep them apart.
            h.push(("vary", "Origin".into()));
        }
        h
    }

    /// The answer to `method` with these headers if it is a CORS preflight (`OPTIONS` with
    /// `Origin` and `Access-Control-Request-Method`), else `None`.
    pub fn preflight(
        &self,
        method: &str,
        origin: Option<&str>,
        request_method: Option<&str>,
    ) -> Option<Preflight> {
        if method != "OPTIONS" || request_method.is_none() {
            return None;
        }
        let origin = origin?;
        let Some(allow) = self.allow_origin(Some(origin)) else {
            return Some(Preflight {
                status: 403,
                headers: vec![("vary", "Origin".into())],
            });
        };
        let mut headers = vec![
            ("access-control-allow-origin", allow),
            ("access-control-allow-methods", ALLOWED_METHODS.into()),
            ("access-control-allow-headers", ALLOWED_HEADERS.into()),
            ("access-control-max-age", self.max_age_seconds.to_string()),
        ];
        if !self.any() {
            headers.push(("vary", "Origin".into()));
        }
        Some(Preflight {
            status: 204,
            headers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(h: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn any_origin_and_listed_origins() {
        let any = CorsPolicy::default();
        let h = any.response_headers(None);
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert!(
            get(&h, "access-control-expose-headers")
                .unwrap()
                .contains("Content-Range")
        );
        let listed = CorsPolicy {
            origins: vec!["https://viewer.example.org".into()],
            ..CorsPolicy::default()
        };
        let h = listed.response_headers(Some("https://viewer.example.org"));
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://viewer.example.org")
        );
        assert_eq!(get(&h, "vary"), Some("Origin"));
        let h = listed.response_headers(Some("https://evil.example"));
        assert_eq!(get(&h, "access-control-allow-origin"), None);
    }

    #[test]
    fn preflight() {
        let p = CorsPolicy::default();
        assert_eq!(p.preflight("GET", Some("https://a"), Some("GET")), None);
        assert_eq!(p.preflight("OPTIONS", Some("https://a"), None), None);
        let ok = p
            .preflight("OPTIONS", Some("https://a"), Some("GET"))
            .unwrap();
        assert_eq!(ok.status, 204);
        let allowed = get(&ok.headers, "access-control-allow-headers").unwrap();
        for h in ["Authorization", "Accept", "Content-Type", "token"] {
            assert!(allowed.contains(h), "{h}");
        }
        let listed = CorsPolicy {
            origins: vec!["https://a".into()],
            ..CorsPolicy::default()
        };
        assert_eq!(
            listed
                .preflight("OPTIONS", Some("https://b"), Some("GET"))
                .unwrap()
                .status,
            403
        );
    }
}
