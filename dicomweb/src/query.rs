//! The one parser of query strings (RFC 3986 §3.4 with the form convention that `+` is a
//! space, as DICOMweb clients send it, PS3.18 §8.3.4): names and values percent-decoded, in
//! order. Every reader of a query (routes, QIDO-RS, the authorizer's token lookup, cache
//! keys, log redaction) goes through it, so they cannot disagree about what a parameter is.

/// A query parameter with no meaning here or a malformed value (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid query parameter {name:?}: {reason}")]
pub struct QueryError {
    pub name: String,
    pub reason: String,
}

/// A query string as decoded `(name, value)` pairs, in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Splits and decodes `raw` (without the `?`); empty pairs are skipped, a pair without
    /// `=` has an empty value, and invalid escapes are kept as written.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first parameter named more than once among those `counts` picks, other than those
    /// the standard lets repeat (`includefield`, PS3.18 §8.3.4.3).
    pub fn repeated(&self, counts: impl Fn(&str) -> bool) -> Option<&str> {
        self.0.iter().enumerate().find_map(|(i, (k, _))| {
            (!MAY_REPEAT.contains(&k.as_str())
                && counts(k)
                && self.0[..i].iter().any(|(earlier, _)| earlier == k))
            .then_some(k.as_str())
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parameters the standard lets a request repeat.
pub const MAY_REPEAT: &[&str] = &["includefield"];

/// Splits a raw query into its raw `name=value` pairs with each pair's decoded name, for
/// callers that must keep or drop pairs without re-encoding the rest.
pub fn raw_pairs(raw: &str) -> impl Iterator<Item = (String, &str)> {
    raw.split('&').filter(|p| !p.is_empty()).map(|p| {
        let name = p.split_once('=').map_or(p, |(k, _)| k);
        (decode(name), p)
    })
}

/// Percent-decodes one name or value; `+` is a space.
pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_decoded() {
        let q = QueryParams::parse(Some(
            "accept=multipart%2Frelated%3B+type%3D%22application%2Foctet-stream%22&x=%zz&%74oken=t&&flag",
        ));
        assert_eq!(
            q.first("accept"),
            Some("multipart/related; type=\"application/octet-stream\"")
        );
        assert_eq!(q.first("x"), Some("%zz"));
        assert_eq!(q.first("token"), Some("t"));
        assert_eq!(q.first("flag"), Some(""));
        assert_eq!(q.first("missing"), None);
        assert_eq!(QueryParams::parse(Some("a=%4")).first("a"), Some("%4"));
        let q = QueryParams::parse(Some("a=1&includefield=x&b&%61=2&includefield=y&b"));
        assert_eq!(q.repeated(|_| true), Some("a"));
        assert_eq!(q.repeated(|n| n != "a"), Some("b"));
        assert_eq!(q.repeated(|n| n == "includefield"), None);
        let names: Vec<String> = raw_pairs("%74oken=a&b=c").map(|(n, _)| n).collect();
        assert_eq!(names, ["token", "b"]);
    }
}
