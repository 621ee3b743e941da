//! DICOM JSON values (PS3.18 Annex F): data sets keyed by tag.

use std::collections::BTreeMap;

use serde_json::Value;

/// A DICOM JSON data set: attribute objects keyed by tag (`GGGGEEEE`, uppercase), which a
/// sorted map keeps in tag order (PS3.18 §F.2.1.1).
pub type DicomJson = BTreeMap<String, Value>;

/// The tag of Pixel Data (7FE0,0010).
pub const PIXEL_DATA: u32 = 0x7FE0_0010;

/// `GGGGEEEE` in uppercase hex, the key of an attribute in DICOM JSON.
pub fn tag_key(tag: u32) -> String {
    format!("{tag:08X}")
}
