//! The edge's internal resources: what translator instances share through the CDN so that
//! many cold instances cost HealthImaging one search and one metadata read per cache, not one
//! each (docs/architecture.md, "Many translator instances").
//!
//! Two resources, under `/datastore/{ds}/internal/` ([`crate::routes::Route::ResolveStudy`],
//! [`crate::routes::Route::ResolveImageSet`]): a study's image sets (SearchImageSets'
//! summaries) and one image set's metadata document. A translator instance that misses its
//! own cache fetches them from the distribution; CloudFront collapses simultaneous requests
//! for one object into one origin request ("Simultaneous requests for the same object
//! (request collapsing)", CloudFront developer guide) and keeps the answer for its short
//! `max-age`, so the instance that answers is the only one that calls HealthImaging.
//!
//! Only the translator may fetch them: each request carries [`HEADER`], an HMAC-SHA256 over
//! the path and an expiry with a key that packaging generates and gives to both the edge
//! functions and the translator. The viewer-request function checks it instead of a user's
//! token and removes it, so it reaches neither the cache key nor the origin.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The request header that carries the internal signature: `{expires}.{hex MAC}`.
pub const HEADER: &str = "x-dicomweb-edge-internal";

/// How long a signature is valid for, and the most the signer's clock may run ahead.
pub const VALIDITY_SECONDS: u64 = 300;

/// The key shared by the edge functions and the translator (32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct InternalKey([u8; 32]);

impl std::fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalKey(…)")
    }
}

impl InternalKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from its configured form: 64 hexadecimal digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut bytes).ok()?;
        Some(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn mac(&self, path: &str, expires: u64) -> Hmac<Sha256> {
        // HMAC takes keys of any length; 32 bytes cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(expires.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(path.as_bytes());
        mac
    }

    /// The header value for a GET of `path` at `now` (seconds since the epoch).
    pub fn sign(&self, path: &str, now: u64) -> String {
        let expires = now + VALIDITY_SECONDS;
        let tag = self.mac(path, expires).finalize().into_bytes();
        format!("{expires}.{}", hex::encode(tag))
    }

    /// Whether `value` signs `path` and is valid at `now`: not expired, and not expiring
    /// further ahead than a signature made now would.
    pub fn verify(&self, path: &str, value: &str, now: u64) -> bool {
        let Some((expires, tag)) = value.trim().split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return false;
        };
        if expires < now || expires > now + 2 * VALIDITY_SECONDS {
            return false;
        }
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(tag, &mut bytes).is_err() {
            return false;
        }
        // `verify_slice` compares in constant time.
        self.mac(path, expires).verify_slice(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_hold_for_their_path_and_time_only() {
        let key = InternalKey::new([7; 32]);
        let path = "/datastore/fe979d40487394a75b813ff62a2f7451/internal/studies/1.2.3";
        let now = 1_800_000_000;
        let sig = key.sign(path, now);
        assert!(key.verify(path, &sig, now));
        assert!(key.verify(path, &sig, now + VALIDITY_SECONDS));
        assert!(
            !key.verify(path, &sig, now + VALIDITY_SECONDS + 1),
            "expired"
        );
        assert!(!key.verify(&format!("{path}4"), &sig, now), "another path");
        assert!(
            !InternalKey::new([8; 32]).verify(path, &sig, now),
            "another key"
        );
        // A signature claiming a far expiry was not made by a signer with a sane clock.
        let far = key.sign(path, now + 10 * VALIDITY_SECONDS);
        assert!(!key.verify(path, &far, now));
        for bad in [
            "",
            ".",
            "x.y",
            "123",
            &format!("{}.00", now + 1),
            &sig[..sig.len() - 2],
        ] {
            assert!(!key.verify(path, bad, now), "{bad:?}");
        }
    }

    #[test]
    fn keys_read_from_hex_and_never_print() {
        let key = InternalKey::new([0xab; 32]);
        assert_eq!(InternalKey::from_hex(&key.to_hex()), Some(key.clone()));
        assert_eq!(InternalKey::from_hex("abcd"), None);
        assert_eq!(InternalKey::from_hex(&"zz".repeat(32)), None);
        assert!(!format!("{key:?}").contains("ab"));
    }
}
