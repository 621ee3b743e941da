//! DICOM JSON (PS3.18 §F.2) from HealthImaging's metadata attributes.
//!
//! AHI keys attributes by keyword (by `GGGGEEEE` for private and unknown tags), writes text
//! VRs as strings (IS and DS included), binary numbers as numbers, binary VRs as base64,
//! multi-valued attributes as arrays, empty values as `null` and sequences as arrays of
//! objects, and lists in `DICOMVRs` the VR of attributes whose keyword does not fix it.
//! DICOM JSON keys attributes by tag and names each VR (§F.2.2), wraps values in a `Value`
//! array, writes IS and DS as numbers (§F.2.3), person names as objects with `Alphabetic`,
//! `Ideographic` and `Phonetic` groups (§F.2.2), and binary values as `InlineBinary` or, when
//! large, as a `BulkDataURI` the server can answer (§F.2.6, §F.2.7).

use std::collections::BTreeMap;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_dictionary_std::StandardDataDictionary;
use dicomweb::json::{DicomJson, tag_key};
use serde_json::{Map, Value};

/// Converts AHI attributes to DICOM JSON.
#[derive(Debug, Clone, Copy)]
pub struct Converter<'a> {
    /// AHI's `DICOMVRs` of the instance, by key.
    pub vrs: &'a BTreeMap<String, String>,
    /// Where bulk data of this instance is served: a top-level binary value longer than
    /// `inline_limit` bytes becomes `BulkDataURI: {bulkdata}/{GGGGEEEE}`. Without it, every
    /// binary value is inline.
    pub bulkdata: Option<&'a str>,
    pub inline_limit: usize,
    /// Write what rebuilding a file needs rather than what a metadata answer shows: IS and DS
    /// values as AHI's text (`0.50` stays `0.50`) instead of the JSON numbers PS3.18 §F.2.3
    /// asks of metadata answers, and an empty sequence as `"Value": []`, which dicom-rs
    /// reads as a sequence of no items (without it, an element of no value, which its
    /// writer leaves out, and a Type 2 sequence would vanish from the file).
    pub for_file: bool,
}

impl Converter<'_> {
    /// Adds `attrs` to `out`; an attribute already there is replaced (callers merge the
    /// patient, study, series and instance levels in that order). Keywords the standard
    /// dictionary does not know are left out: without a tag they cannot be written.
    pub fn convert(&self, attrs: &Map<String, Value>, out: &mut DicomJson) {
        self.level(attrs, out, true, &VrsOf::Map(self.vrs));
    }

    fn level(&self, attrs: &Map<String, Value>, out: &mut DicomJson, top: bool, vrs: &VrsOf) {
        for (key, value) in attrs {
            let Some((tag, dictionary_vr)) = lookup(key) else {
                continue;
            };
            let vr = match vrs.get(key) {
                Some(vr) => vr,
                None => choose_vr(dictionary_vr, value),
            };
            out.insert(tag_key(tag), self.attribute(tag, vr, value, top, vrs));
        }
    }

    fn attribute(&self, tag: u32, vr: &str, value: &Value, top: bool, vrs: &VrsOf) -> Value {
        let mut obj = Map::new();
        obj.insert("vr".into(), Value::String(vr.to_owned()));
        match vr {
            "SQ" => {
                let items: Vec<Value> = list(value)
                    .filter_map(Value::as_object)
                    .map(|item| {
                        let mut nested = DicomJson::new();
                        // An item's own VRs (the emulator writes them where an item has
                        // private or ambiguous attributes), else the enclosing level's.
                        let own = item.get(ITEM_VRS).and_then(Value::as_object);
                        let item_vrs = own.map_or_else(|| vrs.clone(), VrsOf::Item);
                        self.level(item, &mut nested, false, &item_vrs);
                        Value::Object(nested.into_iter().collect())
                    })
                    .collect();
                if !items.is_empty() || self.for_file {
                    obj.insert("Value".into(), Value::Array(items));
                }
            }
            "OB" | "OD" | "OF" | "OL" | "OV" | "OW" | "UN" => {
                if let Some(b64) = value.as_str().filter(|s| !s.is_empty()) {
                    let bytes = b64.len() / 4 * 3;
                    match self.bulkdata {
                        Some(base) if top && bytes > self.inline_limit => {
                            obj.insert(
                                "BulkDataURI".into(),
                                Value::String(format!("{base}/{}", tag_key(tag))),
                            );
                        }
                        _ => {
                            obj.insert("InlineBinary".into(), Value::String(b64.to_owned()));
                        }
                    }
                }
            }
            _ => {
                let values: Vec<Value> = list(value)
                    .map(|v| match (vr, v) {
                        ("IS" | "DS", Value::String(_)) if self.for_file => v.clone(),
                        _ => one_value(vr, v),
                    })
                    .collect();
                if values.iter().any(|v| !v.is_null()) {
                    obj.insert("Value".into(), Value::Array(values));
                }
            }
        }
        Value::Object(obj)
    }
}

/// The member of a sequence item that holds the VRs of its attributes, as `DICOMVRs` holds
/// an instance's. A private tag can have another VR in an item than at the top level (under
/// another private creator), so the VRs of nested attributes are kept per item.
pub const ITEM_VRS: &str = "DICOMVRs";

/// Where the VRs of one level's attributes come from.
#[derive(Clone)]
enum VrsOf<'a> {
    Map(&'a BTreeMap<String, String>),
    Item(&'a Map<String, Value>),
}

impl VrsOf<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self {
            VrsOf::Map(m) => m.get(key).map(String::as_str),
            VrsOf::Item(m) => m.get(key).and_then(Value::as_str),
        }
    }
}

/// The key AHI files a tag's attribute under: its keyword, or `GGGGEEEE` for private tags
/// and tags the dictionary does not know.
pub fn ahi_key(tag: u32) -> String {
    let t = Tag((tag >> 16) as u16, tag as u16);
    match StandardDataDictionary.by_tag(t) {
        Some(e) if t.group().is_multiple_of(2) => e.alias().to_owned(),
        _ => tag_key(tag),
    }
}

/// Whether `key` names File Meta Information (group 0002, PS3.10 §7.1), which describes a
/// file rather than the data set.
pub fn is_file_meta(key: &str) -> bool {
    lookup(key).is_some_and(|(tag, _)| tag >> 16 == 0x0002)
}

/// Whether the attribute AHI files under `key` holds binary data (a bulk data candidate):
/// its VR from `vrs` (AHI's `DICOMVRs`) or the dictionary is OB, OD, OF, OL, OV, OW or UN.
pub fn is_binary(key: &str, vrs: &BTreeMap<String, String>) -> bool {
    let binary = |vr: &str| matches!(vr, "OB" | "OD" | "OF" | "OL" | "OV" | "OW" | "UN");
    if let Some(vr) = vrs.get(key) {
        return binary(vr);
    }
    match lookup(key).and_then(|(_, vr)| vr) {
        Some(VirtualVr::Exact(vr)) => binary(vr.to_string()),
        Some(VirtualVr::Ox | VirtualVr::Px | VirtualVr::Lt) => true,
        _ => false,
    }
}

/// The tag and dictionary VR of an AHI key: a keyword, or `GGGGEEEE`.
fn lookup(key: &str) -> Option<(u32, Option<VirtualVr>)> {
    if key.len() == 8 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let tag = u32::from_str_radix(key, 16).ok()?;
        let vr = StandardDataDictionary
            .by_tag(Tag((tag >> 16) as u16, tag as u16))
            .map(|e| e.vr());
        return Some((tag, vr));
    }
    let entry = StandardDataDictionary.by_name(key)?;
    let t = entry.tag();
    Some((
        (u32::from(t.group()) << 16) | u32::from(t.element()),
        Some(entry.vr()),
    ))
}

/// The VR when AHI did not record one: the dictionary's, with the context-dependent ones
/// decided by the value (PS3.5 §6.2: US or SS by sign, OB or OW for binary data).
fn choose_vr(vr: Option<VirtualVr>, value: &Value) -> &'static str {
    match vr {
        Some(VirtualVr::Exact(vr)) => vr.to_string(),
        Some(VirtualVr::Xs) => {
            if list(value).any(|v| v.as_i64().is_some_and(|n| n < 0)) {
                "SS"
            } else {
                "US"
            }
        }
        Some(VirtualVr::Lt) if !value.is_string() => "US",
        Some(VirtualVr::Ox | VirtualVr::Px | VirtualVr::Lt) => "OW",
        _ => "UN",
    }
}

/// An AHI value as the list of its values.
fn list(value: &Value) -> impl Iterator<Item = &Value> {
    let items: &[Value] = match value {
        Value::Null => &[],
        Value::Array(a) => a,
        other => std::slice::from_ref(other),
    };
    items.iter()
}

fn one_value(vr: &str, v: &Value) -> Value {
    match (vr, v) {
        (_, Value::Null) => Value::Null,
        ("PN", Value::String(s)) => person_name(s),
        ("IS" | "SS" | "US" | "SL" | "UL" | "SV" | "UV", Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map_or_else(|_| v.clone(), Value::from),
        ("DS" | "FL" | "FD", Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| v.clone(), Value::Number),
        (_, Value::Number(n))
            if !matches!(
                vr,
                "IS" | "DS" | "SS" | "US" | "SL" | "UL" | "SV" | "UV" | "FL" | "FD"
            ) =>
        {
            Value::String(n.to_string())
        }
        _ => v.clone(),
    }
}

/// A PN value's component groups (`Alphabetic=Ideographic=Phonetic`, PS3.5 §6.2.1).
fn person_name(s: &str) -> Value {
    let mut name = Map::new();
    for (group, text) in ["Alphabetic", "Ideographic", "Phonetic"]
        .into_iter()
        .zip(s.split('='))
    {
        if !text.is_empty() {
            name.insert(group.into(), Value::String(text.to_owned()));
        }
    }
    if name.is_empty() {
        Value::Null
    } else {
        Value::Object(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(attrs: Value, vrs: &[(&str, &str)], bulkdata: Option<&str>) -> Value {
        let vrs: BTreeMap<String, String> = vrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let c = Converter {
            vrs: &vrs,
            bulkdata,
            inline_limit: 8,
            for_file: false,
        };
        let mut out = DicomJson::new();
        c.convert(attrs.as_object().unwrap(), &mut out);
        serde_json::to_value(out).unwrap()
    }

    #[test]
    fn values_take_the_types_dicom_json_requires() {
        let out = convert(
            json!({
                "PatientName": "Doe^Jane=山田^花子",
                "Rows": 256,
                "PixelSpacing": ["0.5", "0.75"],
                "InstanceNumber": "3",
                "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
                "StudyDate": "20240102",
                "AccessionNumber": null,
                "FrameIncrementPointer": "00181063",
                "NotAKeyword": "dropped"
            }),
            &[],
            None,
        );
        assert_eq!(
            out,
            json!({
                "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY", "AXIAL"]},
                "00080020": {"vr": "DA", "Value": ["20240102"]},
                "00080050": {"vr": "SH"},
                "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane", "Ideographic": "山田^花子"}]},
                "00200013": {"vr": "IS", "Value": [3]},
                "00280009": {"vr": "AT", "Value": ["00181063"]},
                "00280010": {"vr": "US", "Value": [256]},
                "00280030": {"vr": "DS", "Value": [0.5, 0.75]}
            })
        );
        // Keys come out in tag order.
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn ahi_keys_are_keywords_or_tags() {
        assert_eq!(ahi_key(0x0010_0010), "PatientName");
        assert_eq!(ahi_key(0x0009_1010), "00091010");
        assert_eq!(ahi_key(0x7FE0_0010), "PixelData");
        let vrs = BTreeMap::from([("00091010".to_owned(), "OB".to_owned())]);
        assert!(is_binary("EncapsulatedDocument", &vrs));
        assert!(is_binary("00091010", &vrs));
        assert!(!is_binary("PatientName", &vrs));
        assert!(!is_binary("00091011", &vrs));
        assert!(is_file_meta("TransferSyntaxUID") && is_file_meta("00020012"));
        assert!(!is_file_meta("PatientName"));
    }

    #[test]
    fn sequences_private_tags_and_ambiguous_vrs() {
        let out = convert(
            json!({
                "ReferencedImageSequence": [
                    {"ReferencedSOPInstanceUID": "1.2.3", "ReferencedFrameNumber": "2"}
                ],
                "00091010": "vendor",
                "SmallestImagePixelValue": -20,
                "LargestImagePixelValue": 900
            }),
            &[("00091010", "LO")],
            None,
        );
        assert_eq!(
            out,
            json!({
                "00081140": {"vr": "SQ", "Value": [{
                    "00081155": {"vr": "UI", "Value": ["1.2.3"]},
                    "00081160": {"vr": "IS", "Value": [2]}
                }]},
                "00091010": {"vr": "LO", "Value": ["vendor"]},
                "00280106": {"vr": "SS", "Value": [-20]},
                "00280107": {"vr": "US", "Value": [900]}
            })
        );
    }

    #[test]
    fn large_binary_values_become_bulk_data_uris_at_the_top_level_only() {
        let big = "QUFBQUFBQUFBQUFB"; // 12 bytes
        let small = "QUFB"; // 3 bytes
        let out = convert(
            json!({
                "IconImageSequence": [{"PixelData": big}],
                "RedPaletteColorLookupTableData": big,
                "EncapsulatedDocument": small
            }),
            &[
                ("PixelData", "OB"),
                ("RedPaletteColorLookupTableData", "OW"),
            ],
            Some("http://x/bulkdata"),
        );
        assert_eq!(
            out["00281201"],
            json!({"vr": "OW", "BulkDataURI": "http://x/bulkdata/00281201"})
        );
        assert_eq!(out["00420011"], json!({"vr": "OB", "InlineBinary": small}));
        assert_eq!(
            out["00880200"]["Value"][0]["7FE00010"],
            json!({"vr": "OB", "InlineBinary": big})
        );
    }
}
