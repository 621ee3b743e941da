//! AHI identifiers: datastore, image set and image frame IDs are 32 lowercase hex characters
//! (API reference, pattern `[0-9a-z]{32}`; in practice hex). They are validated once here.

use std::fmt;
use std::str::FromStr;

/// An identifier that is not 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be 32 lowercase hexadecimal characters")]
pub struct InvalidId {
    /// Which identifier was expected, e.g. "datastore id".
    pub kind: &'static str,
}

fn is_ahi_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

macro_rules! ahi_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The ID as it appears on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Derives an ID from arbitrary parts with SHA-256, so that the same inputs give the
            /// same ID on every run (the emulator's IDs stay stable across restarts).
            pub fn derive(parts: &[&[u8]]) -> Self {
                use sha2::{Digest, Sha256};
                let mut h = Sha256::new();
                h.update($kind.as_bytes());
                for p in parts {
                    h.update((p.len() as u64).to_be_bytes());
                    h.update(p);
                }
                Self(hex::encode(&h.finalize()[..16]))
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                if is_ahi_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidId { kind: $kind })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

ahi_id!(
    /// A HealthImaging datastore ID.
    DatastoreId,
    "datastore id"
);
ahi_id!(
    /// A HealthImaging image set ID.
    ImageSetId,
    "image set id"
);
ahi_id!(
    /// A HealthImaging image frame ID (`ImageFrames[].ID` in the metadata document).
    ImageFrameId,
    "image frame id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_32_lowercase_hex_only() {
        assert!(
            "0123456789abcdef0123456789abcdef"
                .parse::<DatastoreId>()
                .is_ok()
        );
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcdeg",
            "../../etc/passwd0123456789abcdef0",
        ] {
            let err = bad.parse::<ImageSetId>().unwrap_err();
            assert_eq!(err.kind, "image set id", "{bad:?}");
        }
    }

    #[test]
    fn derive_is_deterministic_and_separates_parts() {
        let a = ImageFrameId::derive(&[b"ab", b"c"]);
        assert_eq!(a, ImageFrameId::derive(&[b"ab", b"c"]));
        assert_ne!(a, ImageFrameId::derive(&[b"a", b"bc"]));
        assert_ne!(a.as_str(), ImageSetId::derive(&[b"ab", b"c"]).as_str());
        assert!(a.as_str().parse::<ImageFrameId>().is_ok());
    }

    #[test]
    fn serde_validates() {
        let ok: Result<DatastoreId, _> =
            serde_json::from_str("\"0123456789abcdef0123456789abcdef\"");
        assert!(ok.is_ok());
        let bad: Result<DatastoreId, _> = serde_json::from_str("\"nope\"");
        assert!(bad.is_err());
    }
}
