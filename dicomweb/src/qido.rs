//! QIDO-RS query parameters and matching (PS3.18 §8.3.4, matching rules of PS3.4 §C.2.2.2),
//! over records keyed by DICOM keyword as HealthImaging writes them.
//!
//! Supported: single value matching (person names case-insensitively), wildcards `*` and `?`
//! for text VRs, UID lists (`,` or `\`), date and time ranges (`a-b`, `-b`, `a-`), universal
//! matching (empty value), `limit`, `offset`, `includefield` (keywords, tags or `all`) and
//! `fuzzymatching` (accepted; makes text matching case-insensitive). Parameters naming no
//! attribute, nested attributes and malformed values are refused with a message.

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{Map, Value};

/// Query parameters that are not attribute matches and not QIDO's own.
const IGNORED: [&str; 3] = ["token", "accept", "charset"];

/// One attribute to match.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub keyword: String,
    pub vr: String,
    pub value: String,
}

/// Which attributes an answer carries beyond the level's defaults.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Include {
    #[default]
    Defaults,
    All,
    Keywords(Vec<String>),
}

/// A parsed QIDO-RS query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub filters: Vec<Filter>,
    pub include: Include,
    pub fuzzy: bool,
    pub limit: Option<usize>,
    pub offset: usize,
}

pub use crate::query::QueryError;

fn error(name: &str, reason: impl Into<String>) -> QueryError {
    QueryError {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// The keyword and VR of a keyword or `GGGGEEEE` tag.
pub fn attribute(name: &str) -> Option<(String, String)> {
    let entry = if name.len() == 8 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        let tag = u32::from_str_radix(name, 16).ok()?;
        StandardDataDictionary.by_tag(Tag((tag >> 16) as u16, tag as u16))?
    } else {
        StandardDataDictionary.by_name(name)?
    };
    let vr = match entry.vr() {
        dicom_core::dictionary::VirtualVr::Exact(vr) => vr.to_string(),
        _ => "US",
    };
    Some((entry.alias().to_owned(), vr.to_owned()))
}

/// Parses a request's query string.
pub fn parse(query: Option<&str>) -> Result<Query, QueryError> {
    let mut q = Query::default();
    for (name, value) in crate::query::QueryParams::parse(query).iter() {
        let (name, value) = (name.to_owned(), value.to_owned());
        match name.as_str() {
            "limit" => {
                q.limit = Some(value.parse().map_err(|_| error(&name, "not a count"))?);
            }
            "offset" => q.offset = value.parse().map_err(|_| error(&name, "not a count"))?,
            "fuzzymatching" => {
                q.fuzzy = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(error(&name, "must be true or false")),
                }
            }
            "includefield" => {
                for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if field == "all" {
                        q.include = Include::All;
                        continue;
                    }
                    let (keyword, _) = attribute(field)
                        .ok_or_else(|| error(&name, format!("{field:?} is not an attribute")))?;
                    match &mut q.include {
                        Include::All => {}
                        Include::Keywords(k) => k.push(keyword),
                        Include::Defaults => q.include = Include::Keywords(vec![keyword]),
                    }
                }
            }
            n if IGNORED.contains(&n) => {}
            n if n.contains('.') => {
                return Err(error(n, "matching on nested attributes is not supported"));
            }
            n => {
                let (keyword, vr) = attribute(n)
                    .ok_or_else(|| error(n, "not a QIDO-RS parameter or DICOM attribute"))?;
                if vr == "SQ" {
                    return Err(error(n, "matching on sequences is not supported"));
                }
                check_value(n, &vr, &value)?;
                q.filters.push(Filter { keyword, vr, value });
            }
        }
    }
    Ok(q)
}

fn check_value(name: &str, vr: &str, value: &str) -> Result<(), QueryError> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let ok = match vr {
        // A date or a range of dates, either side open (PS3.4 C.2.2.2.5); each a real
        // calendar date, so 20231399 is refused rather than matched as a string.
        "DA" => {
            let (a, b) = value.split_once('-').unwrap_or((value, ""));
            valid_date(a) && valid_date(b) && !(a.is_empty() && b.is_empty())
        }
        "TM" | "DT" => {
            let (a, b) = value.split_once('-').unwrap_or((value, ""));
            digits(a) && digits(b)
        }
        "UI" => value.split([',', '\\']).all(digits),
        _ => true,
    };
    if ok {
        Ok(())
    } else if vr == "UI" {
        Err(error(name, "UIDs are digits and dots"))
    } else {
        Err(error(name, "dates and times are digits, ranges a-b"))
    }
}

/// `YYYYMMDD` naming a day of the Gregorian calendar (PS3.5 Table 6.2-1, DA); empty is an
/// open side of a range. Written here: three numbers and a leap-year rule need no crate.
fn valid_date(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    (1..=days).contains(&d)
}

impl Query {
    /// Whether `record` satisfies every filter.
    pub fn matches(&self, record: &Map<String, Value>) -> bool {
        self.filters.iter().all(|f| {
            if f.value.is_empty() {
                return true;
            }
            values(record.get(&f.keyword))
                .iter()
                .any(|v| matches_one(f, v, self.fuzzy))
        })
    }

    /// Whether `keyword` is asked for by `includefield` or a filter.
    pub fn wants(&self, keyword: &str) -> bool {
        match &self.include {
            Include::All => true,
            Include::Keywords(k) if k.iter().any(|x| x == keyword) => true,
            _ => self.filters.iter().any(|f| f.keyword == keyword),
        }
    }

    /// The page of `items` that `offset` and `limit` select.
    pub fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let limit = self.limit.unwrap_or(usize::MAX);
        items.into_iter().skip(self.offset).take(limit).collect()
    }
}

/// A record's value as text values (numbers written out, person names as their text).
fn values(v: Option<&Value>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a.iter().flat_map(|x| values(Some(x))).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(other) => vec![other.to_string()],
    }
}

fn matches_one(f: &Filter, have: &str, fuzzy: bool) -> bool {
    let want = f.value.as_str();
    match f.vr.as_str() {
        "UI" => want.split([',', '\\']).any(|u| u == have),
        "DA" | "TM" | "DT" if want.contains('-') => {
            let (lo, hi) = want.split_once('-').unwrap_or((want, ""));
            (lo.is_empty() || have >= lo) && (hi.is_empty() || have <= hi || have.starts_with(hi))
        }
        "IS" | "DS" | "US" | "SS" | "UL" | "SL" | "FL" | "FD" => {
            match (want.trim().parse::<f64>(), have.trim().parse::<f64>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => want == have,
            }
        }
        vr => {
            let fold = fuzzy || vr == "PN";
            let (want, have) = if fold {
                (want.to_lowercase(), have.to_lowercase())
            } else {
                (want.to_owned(), have.to_owned())
            };
            if want.contains(['*', '?']) {
                crate::wildcard::matches(want.as_bytes(), have.as_bytes())
            } else {
                want == have
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Map<String, Value> {
        json!({
            "PatientName": "PHANTOM^CHEST",
            "PatientID": "DEMO001",
            "StudyDate": "20240115",
            "StudyInstanceUID": "1.2.3",
            "ModalitiesInStudy": ["CT", "OT"],
            "NumberOfStudyRelatedInstances": 73,
            "AccessionNumber": null
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn matches(query: &str) -> bool {
        parse(Some(query)).unwrap().matches(&record())
    }

    #[test]
    fn each_matching_rule() {
        assert!(matches("PatientID=DEMO001"));
        assert!(!matches("PatientID=DEMO"));
        assert!(matches("PatientName=phantom*"), "PN is case-insensitive");
        assert!(matches("PatientName=PH?NTOM^CHEST"));
        assert!(!matches("PatientName=*HEAD*"));
        assert!(matches("PatientID=demo*&fuzzymatching=true"));
        assert!(!matches("PatientID=demo*"));
        assert!(matches("StudyDate=20240101-20240131"));
        assert!(matches("StudyDate=-20240115"));
        assert!(matches("StudyDate=20240115-"));
        assert!(parse(Some("StudyDate=20240229")).is_ok(), "a leap day");
        assert!(!matches("StudyDate=20240116-"));
        assert!(matches("StudyInstanceUID=9.9,1.2.3"));
        assert!(matches("0020000D=1.2.3"), "tags work as keywords");
        assert!(!matches("StudyInstanceUID=1.2"));
        assert!(matches("ModalitiesInStudy=CT"));
        assert!(!matches("ModalitiesInStudy=MR"));
        assert!(matches("NumberOfStudyRelatedInstances=73"));
        assert!(
            matches("AccessionNumber="),
            "empty value is universal matching"
        );
        assert!(
            !matches("AccessionNumber=A1"),
            "a missing value matches nothing"
        );
        assert!(matches("PatientName=PHANTOM%5ECHEST"), "percent-decoded");
    }

    #[test]
    fn paging_and_includefield() {
        let q = parse(Some(
            "limit=2&offset=1&includefield=00081030,ModalitiesInStudy",
        ))
        .unwrap();
        assert_eq!(q.page(vec![1, 2, 3, 4]), [2, 3]);
        assert!(q.wants("StudyDescription") && q.wants("ModalitiesInStudy"));
        assert!(!q.wants("PatientAge"));
        let all = parse(Some("includefield=all&token=x")).unwrap();
        assert_eq!(all.include, Include::All);
        assert!(all.filters.is_empty(), "token is not a filter");
    }

    #[test]
    fn bad_parameters_are_refused_with_their_name() {
        for (query, name) in [
            ("limit=-1", "limit"),
            ("offset=x", "offset"),
            ("fuzzymatching=yes", "fuzzymatching"),
            ("includefield=NotAnAttribute", "includefield"),
            ("Frobnicate=1", "Frobnicate"),
            ("StudyDate=2024-01-15", "StudyDate"),
            ("StudyDate=20231399", "StudyDate"),
            ("StudyDate=20230229", "StudyDate"),
            ("StudyDate=20240132-20240201", "StudyDate"),
            ("StudyDate=2024", "StudyDate"),
            ("StudyDate=-", "StudyDate"),
            ("StudyInstanceUID=1.2.abc", "StudyInstanceUID"),
            ("ReferencedSeriesSequence=1", "ReferencedSeriesSequence"),
            (
                "ReferencedSeriesSequence.SeriesInstanceUID=1",
                "ReferencedSeriesSequence.SeriesInstanceUID",
            ),
        ] {
            let e = parse(Some(query)).unwrap_err();
            assert_eq!(e.name, name, "{query}");
        }
    }
}
