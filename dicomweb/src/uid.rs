//! DICOM unique identifiers (PS3.5 §9.1): at most 64 characters, digits and dots, no empty
//! component, no leading zero in a component ("0" alone is one). HealthImaging holds study,
//! series and instance UIDs to the same rule, so a path that breaks it names nothing and is
//! refused as malformed rather than looked for.

use std::fmt;
use std::str::FromStr;

/// A validated DICOM UID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(String);

/// Why a string is not a UID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUid {
    #[error("UID is empty")]
    Empty,
    #[error("UID is longer than 64 characters")]
    TooLong,
    #[error("UID may contain only digits and dots")]
    BadCharacter,
    #[error("UID has an empty component")]
    EmptyComponent,
    #[error("UID has a component with a leading zero")]
    LeadingZero,
}

impl Uid {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Uid {
    type Err = InvalidUid;
    fn from_str(s: &str) -> Result<Self, InvalidUid> {
        if s.is_empty() {
            return Err(InvalidUid::Empty);
        }
        if s.len() > 64 {
            return Err(InvalidUid::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(InvalidUid::BadCharacter);
        }
        if s.split('.').any(str::is_empty) {
            return Err(InvalidUid::EmptyComponent);
        }
        if s.split('.').any(|c| c.len() > 1 && c.starts_with('0')) {
            return Err(InvalidUid::LeadingZero);
        }
        Ok(Uid(s.to_owned()))
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_uids() {
        for ok in ["1.2.840.10008.1.2.1", "2.25.0", "0.1", &"1".repeat(64)] {
            assert!(ok.parse::<Uid>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_uids() {
        let cases = [
            ("", InvalidUid::Empty),
            (&"1".repeat(65), InvalidUid::TooLong),
            ("1.2.a", InvalidUid::BadCharacter),
            ("1.2 .3", InvalidUid::BadCharacter),
            ("1..2", InvalidUid::EmptyComponent),
            ("01.2", InvalidUid::LeadingZero),
            ("1.2.03.4", InvalidUid::LeadingZero),
            (".1.2", InvalidUid::EmptyComponent),
            ("1.2.", InvalidUid::EmptyComponent),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<Uid>().unwrap_err(), want, "{s:?}");
        }
    }
}
