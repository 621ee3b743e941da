//! WADO-RS frame lists (PS3.18 §8.3.5.1, `{frames}`): 1-based frame numbers separated by
//! commas (or `%2C`), no duplicates, any order; parts are answered in request order.

use std::num::NonZeroU32;

/// The most frames one request may name; longer lists are refused rather than fanned out.
pub const MAX_FRAMES_PER_REQUEST: usize = 1000;

/// A validated, non-empty list of distinct 1-based frame numbers in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameList(Vec<NonZeroU32>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFrameList {
    #[error("frame list is empty")]
    Empty,
    #[error("frame number {0:?} is not a positive integer")]
    NotANumber(String),
    #[error("frame numbers start at 1")]
    Zero,
    /// One frame, one spelling: `01` would be frame 1 under a cache key of its own.
    #[error("frame number {0:?} has a leading zero")]
    LeadingZero(String),
    #[error("frame {0} is listed twice")]
    Duplicate(u32),
    #[error("more than {MAX_FRAMES_PER_REQUEST} frames requested")]
    TooMany,
    #[error("frame {requested} does not exist: the instance has {available} frame(s)")]
    OutOfRange { requested: u32, available: u32 },
}

impl FrameList {
    /// Parses the `{frames}` path segment as it appears in the URL (`%2C` allowed).
    pub fn parse(segment: &str) -> Result<Self, InvalidFrameList> {
        let normalised = segment.replace("%2C", ",").replace("%2c", ",");
        if normalised.is_empty() {
            return Err(InvalidFrameList::Empty);
        }
        let mut out: Vec<NonZeroU32> = Vec::new();
        for part in normalised.split(',') {
            if out.len() == MAX_FRAMES_PER_REQUEST {
                return Err(InvalidFrameList::TooMany);
            }
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidFrameList::NotANumber(
                    part.chars().take(20).collect(),
                ));
            }
            if part.len() > 1 && part.starts_with('0') {
                return Err(InvalidFrameList::LeadingZero(
                    part.chars().take(20).collect(),
                ));
            }
            let n: u32 = part
                .parse()
                .map_err(|_| InvalidFrameList::NotANumber(part.chars().take(20).collect()))?;
            let n = NonZeroU32::new(n).ok_or(InvalidFrameList::Zero)?;
            if out.contains(&n) {
                return Err(InvalidFrameList::Duplicate(n.get()));
            }
            out.push(n);
        }
        Ok(FrameList(out))
    }

    /// Frames 1 to `count`: an instance's whole pixel data (no per-request bound applies).
    pub fn all(count: u32) -> Result<Self, InvalidFrameList> {
        let frames: Vec<NonZeroU32> = (1..=count).filter_map(NonZeroU32::new).collect();
        if frames.is_empty() {
            return Err(InvalidFrameList::Empty);
        }
        Ok(FrameList(frames))
    }

    /// The frame numbers in request order.
    pub fn numbers(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().map(|n| n.get())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks every frame against the instance's number of frames.
    pub fn check_range(&self, available: u32) -> Result<(), InvalidFrameList> {
        match self.numbers().find(|n| *n > available) {
            Some(requested) => Err(InvalidFrameList::OutOfRange {
                requested,
                available,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_request_order() {
        let l = FrameList::parse("3,1%2C2,10").unwrap();
        assert_eq!(l.numbers().collect::<Vec<_>>(), [3, 1, 2, 10]);
        assert!(l.check_range(10).is_ok());
        assert_eq!(
            l.check_range(9),
            Err(InvalidFrameList::OutOfRange {
                requested: 10,
                available: 9
            })
        );
    }

    #[test]
    fn rejects_bad_lists() {
        use InvalidFrameList::*;
        let cases = [
            ("", Empty),
            ("0", Zero),
            ("1,,2", NotANumber(String::new())),
            ("-1", NotANumber("-1".into())),
            ("1.5", NotANumber("1.5".into())),
            ("abc", NotANumber("abc".into())),
            ("+1", NotANumber("+1".into())),
            ("99999999999", NotANumber("99999999999".into())),
            ("2,1,2", Duplicate(2)),
            ("01", LeadingZero("01".into())),
            ("1,002", LeadingZero("002".into())),
            ("00", LeadingZero("00".into())),
        ];
        for (s, want) in cases {
            assert_eq!(FrameList::parse(s).unwrap_err(), want, "{s:?}");
        }
        let long = (1..=1001)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(FrameList::parse(&long).unwrap_err(), TooMany);
    }
}
