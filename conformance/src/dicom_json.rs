//! Reading and judging DICOM JSON (PS3.18 Annex F): the answers of QIDO-RS and of WADO-RS
//! metadata. Written for the suite rather than taken from a DICOM library because its job is
//! to report each way an answer departs from Annex F, where a library would only accept or
//! refuse the whole document.

use base64::Engine;
use serde_json::{Map, Value};

use crate::http::Exchange;

/// One DICOM JSON object: attributes keyed by tag.
pub type Object = Map<String, Value>;

/// The objects of a 200 DICOM JSON array, or of a 204 with no payload (a search without
/// matches, PS3.18 §8.3.4.4.1); any other answer is described as the error.
pub fn objects(ex: &Exchange) -> Result<Vec<Object>, String> {
    if ex.status == 204 && ex.body.is_empty() {
        return Ok(Vec::new());
    }
    if ex.status != 200 {
        return Err(ex.summary());
    }
    match serde_json::from_slice::<Value>(&ex.body) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(o) => Ok(o),
                _ => Err(format!("{}: item {} is not an object", ex.summary(), i + 1)),
            })
            .collect(),
        Ok(_) => Err(format!("{}: not a JSON array", ex.summary())),
        Err(e) => Err(format!("{}: not JSON ({e})", ex.summary())),
    }
}

/// Value representations whose values are JSON strings (PS3.18 Table F.2.3-1).
const STRING_VRS: &[&str] = &[
    "AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UR", "UT",
];
/// Value representations whose values are JSON numbers. SV and UV may also be strings, since
/// 64-bit integers do not survive every JSON reader (PS3.18 §F.2.3.1).
const NUMBER_VRS: &[&str] = &["DS", "FD", "FL", "IS", "SL", "SS", "SV", "UL", "US", "UV"];
/// Value representations whose values are bytes: `InlineBinary` or `BulkDataURI`, never
/// `Value` (PS3.18 §F.2.6, §F.2.7).
const BINARY_VRS: &[&str] = &["OB", "OD", "OF", "OL", "OV", "OW", "UN"];

/// Every departure of `obj` from PS3.18 Annex F, each naming the attribute (with the path
/// through sequences) and the rule; empty when the object is valid.
pub fn problems(obj: &Object) -> Vec<String> {
    let mut out = Vec::new();
    check_object(obj, "", &mut out);
    out
}

fn check_object(obj: &Object, path: &str, out: &mut Vec<String>) {
    for (tag, attr) in obj {
        let at = format!("{path}{tag}");
        if tag.len() != 8 || !tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')) {
            out.push(format!(
                "{at}: a key is eight uppercase hexadecimal digits (§F.2.1.1)"
            ));
        }
        let Some(attr) = attr.as_object() else {
            out.push(format!("{at}: an attribute is an object (§F.2.2)"));
            continue;
        };
        let Some(vr) = attr.get("vr").and_then(Value::as_str) else {
            out.push(format!("{at}: no \"vr\" (§F.2.2)"));
            continue;
        };
        let forms = ["Value", "BulkDataURI", "InlineBinary"]
            .iter()
            .filter(|k| attr.contains_key(**k))
            .count();
        if forms > 1 {
            out.push(format!(
                "{at}: at most one of Value, BulkDataURI and InlineBinary (§F.2.2)"
            ));
        }
        if let Some(uri) = attr.get("BulkDataURI")
            && !uri.is_string()
        {
            out.push(format!("{at}: BulkDataURI is a string (§F.2.7)"));
        }
        if let Some(b64) = attr.get("InlineBinary") {
            if !BINARY_VRS.contains(&vr) {
                out.push(format!(
                    "{at}: InlineBinary only for OB, OD, OF, OL, OV, OW and UN, not {vr} (§F.2.6)"
                ));
            }
            let decodes = b64
                .as_str()
                .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
            if !decodes {
                out.push(format!("{at}: InlineBinary is base64 text (§F.2.6)"));
            }
        }
        let Some(value) = attr.get("Value") else {
            continue;
        };
        let Some(values) = value.as_array() else {
            out.push(format!("{at}: Value is an array (§F.2.3)"));
            continue;
        };
        if BINARY_VRS.contains(&vr) {
            out.push(format!(
                "{at}: {vr} carries InlineBinary or BulkDataURI, not Value (§F.2.6, §F.2.7)"
            ));
            continue;
        }
        for (i, v) in values.iter().enumerate() {
            let item = format!("{at}[{i}]");
            // Empty values within a multi-valued attribute are null (§F.2.5).
            if v.is_null() && vr != "SQ" {
                continue;
            }
            match vr {
                "SQ" => match v.as_object() {
                    Some(o) => check_object(o, &format!("{item}."), out),
                    None => out.push(format!("{item}: SQ items are objects (§F.2.3)")),
                },
                "PN" => check_person_name(v, &item, out),
                "AT" => {
                    let ok = v
                        .as_str()
                        .is_some_and(|s| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()));
                    if !ok {
                        out.push(format!(
                            "{item}: AT values are eight hexadecimal digits (§F.2.3)"
                        ));
                    }
                }
                _ if STRING_VRS.contains(&vr) => {
                    if !v.is_string() {
                        out.push(format!("{item}: {vr} values are strings (§F.2.3)"));
                    }
                }
                _ if NUMBER_VRS.contains(&vr) => {
                    let ok = v.is_number() || (matches!(vr, "SV" | "UV") && v.is_string());
                    if !ok {
                        out.push(format!("{item}: {vr} values are numbers (§F.2.3)"));
                    }
                }
                _ => out.push(format!(
                    "{at}: {vr:?} is not a value representation (PS3.5 §6.2)"
                )),
            }
        }
    }
}

fn check_person_name(v: &Value, item: &str, out: &mut Vec<String>) {
    let Some(name) = v.as_object() else {
        out.push(format!(
            "{item}: PN values are objects with Alphabetic, Ideographic or Phonetic (§F.2.2)"
        ));
        return;
    };
    for (group, text) in name {
        if !matches!(group.as_str(), "Alphabetic" | "Ideographic" | "Phonetic") {
            out.push(format!(
                "{item}: {group:?} is not a person name group (§F.2.2)"
            ));
        } else if !text.is_string() {
            out.push(format!("{item}.{group}: a string (§F.2.2)"));
        }
    }
}

/// An attribute's values as comparable text: strings trimmed, numbers in one spelling (so `2`,
/// `2.0` and `"2"` agree), person names by their Alphabetic group. `None` when the attribute
/// is absent, has no values, or is a sequence or bytes.
pub fn values(obj: &Object, tag: &str) -> Option<Vec<String>> {
    let attr = obj.get(tag)?.as_object()?;
    let values = attr.get("Value")?.as_array()?;
    if values.is_empty() || attr.get("vr").and_then(Value::as_str) == Some("SQ") {
        return None;
    }
    Some(values.iter().map(text).collect())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => number_spelling(s.trim()).unwrap_or_else(|| s.trim().to_owned()),
        Value::Number(n) => number_spelling(&n.to_string()).unwrap_or_else(|| n.to_string()),
        Value::Object(o) => o
            .get("Alphabetic")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A decimal number in its shortest spelling, for text that is one.
fn number_spelling(s: &str) -> Option<String> {
    let looks_numeric = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if !looks_numeric {
        return None;
    }
    s.parse::<f64>().ok().map(|f| f.to_string())
}

/// The first value of an attribute as comparable text.
pub fn first(obj: &Object, tag: &str) -> Option<String> {
    values(obj, tag)?.into_iter().next()
}

/// Every `BulkDataURI` in an object, with the path of its attribute, through sequences.
pub fn bulk_data_uris(obj: &Object) -> Vec<(String, String)> {
    fn walk(obj: &Object, path: &str, out: &mut Vec<(String, String)>) {
        for (tag, attr) in obj {
            let at = format!("{path}{tag}");
            if let Some(uri) = attr.get("BulkDataURI").and_then(Value::as_str) {
                out.push((at.clone(), uri.to_owned()));
            }
            if let Some(items) = attr.get("Value").and_then(Value::as_array) {
                for (i, item) in items.iter().enumerate() {
                    if let Some(o) = item.as_object() {
                        walk(o, &format!("{at}[{i}]."), out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(obj, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_valid_object_has_no_problems() {
        let o = obj(json!({
            "00080018": {"vr": "UI", "Value": ["1.2.3"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JANE"}]},
            "00200013": {"vr": "IS", "Value": [4]},
            "00081140": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2"]}}]},
            "00091010": {"vr": "OB", "InlineBinary": "AAEC"},
            "7FE00010": {"vr": "OW", "BulkDataURI": "http://x/bulkdata/7FE00010"},
            "00280034": {"vr": "IS", "Value": [1, null]},
            "00081030": {"vr": "LO"}
        }));
        assert_eq!(problems(&o), Vec::<String>::new());
    }

    #[test]
    fn each_departure_is_named() {
        let o = obj(json!({
            "0008001a": {"vr": "UI", "Value": ["1.2.3"]},
            "00100010": {"vr": "PN", "Value": ["DOE^JANE"]},
            "00200013": {"vr": "IS", "Value": "4"},
            "00280010": {"vr": "US", "Value": ["512"]},
            "00081140": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [1]}}]},
            "00091010": {"vr": "OB", "Value": ["AAEC"]},
            "00091011": {"vr": "LO", "InlineBinary": "AAEC"},
            "00091012": {"vr": "XX", "Value": ["a"]},
            "00091013": {"Value": ["a"]}
        }));
        let p = problems(&o);
        for expected in [
            "0008001a: a key is eight uppercase",
            "00100010[0]: PN values are objects",
            "00200013: Value is an array",
            "00280010[0]: US values are numbers",
            "00081140[0].00081155[0]: UI values are strings",
            "00091010: OB carries InlineBinary or BulkDataURI, not Value",
            "00091011: InlineBinary only for",
            "00091012: \"XX\" is not a value representation",
            "00091013: no \"vr\"",
        ] {
            assert!(
                p.iter().any(|s| s.starts_with(expected)),
                "{expected}: {p:#?}"
            );
        }
        assert_eq!(p.len(), 9, "{p:#?}");
    }

    #[test]
    fn values_compare_across_spellings() {
        let a = obj(json!({"00200013": {"vr": "IS", "Value": [2]},
                           "00100010": {"vr": "PN", "Value": [{"Alphabetic": "A^B "}]},
                           "00280030": {"vr": "DS", "Value": [0.5, 0.5]}}));
        let b = obj(json!({"00200013": {"vr": "IS", "Value": ["2"]},
                           "00100010": {"vr": "PN", "Value": [{"Alphabetic": "A^B", "Ideographic": "x"}]},
                           "00280030": {"vr": "DS", "Value": ["0.50", "5e-1"]}}));
        for tag in ["00200013", "00100010", "00280030"] {
            assert_eq!(values(&a, tag), values(&b, tag), "{tag}");
        }
        assert_eq!(values(&a, "00080018"), None);
    }

    #[test]
    fn bulk_data_uris_are_found_inside_sequences() {
        let o = obj(json!({
            "7FE00010": {"vr": "OW", "BulkDataURI": "a"},
            "00540016": {"vr": "SQ", "Value": [{"00282000": {"vr": "OB", "BulkDataURI": "b"}}]}
        }));
        assert_eq!(
            bulk_data_uris(&o),
            [
                ("7FE00010".to_owned(), "a".to_owned()),
                ("00540016[0].00282000".to_owned(), "b".to_owned())
            ]
        );
    }
}
