//! Reads DICOM Part 10 files into what the emulator stores: the instance's attributes split
//! into AHI's patient/study/series/instance levels and written as AHI writes them, and the
//! pixel data split into frames.
//!
//! Frames are served as stored: native (uncompressed) pixel data as Explicit VR Little
//! Endian bytes, encapsulated pixel data as each frame's fragments joined (no item tags).
//! They stay in their files, read on demand ([`FrameBytes`]). The emulator does not transcode to HTJ2K as AHI does on import for some lossless
//! syntaxes; those instances keep their own syntax (see docs/emulator.md).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::mem::InMemElement;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use serde_json::Value as Json;

use super::frame_bytes::{FrameBytes, SourceFile};
use super::multi_valued::MULTI_VALUED;
use crate::media::is_native;
use crate::metadata::DicomAttributes;

/// Why a file was not imported. The import goes on with the other files.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a readable DICOM Part 10 file: {0}")]
    Unreadable(String),
    #[error("missing required attribute {0}")]
    Missing(&'static str),
    #[error("pixel data: {0}")]
    PixelData(String),
    #[error("{0} {1:?} is not a UID (digits in dot-separated components, at most 64 characters)")]
    NotAUid(&'static str, String),
}

/// One imported instance.
#[derive(Debug, Clone)]
pub struct ImportedInstance {
    pub path: PathBuf,
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub patient: DicomAttributes,
    pub study: DicomAttributes,
    pub series: DicomAttributes,
    pub instance: DicomAttributes,
    pub dicom_vrs: BTreeMap<String, String>,
    /// The transfer syntax the frames are served in.
    pub transfer_syntax: String,
    pub frames: Vec<FrameBytes>,
    /// Smallest and largest stored pixel value per frame, where the data is native.
    pub pixel_ranges: Vec<Option<(i64, i64)>>,
}

/// Patient-level attributes (Patient module and de-identification attributes).
const PATIENT_LEVEL: &[Tag] = &[
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    tags::TYPE_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_BIRTH_TIME,
    tags::PATIENT_SEX,
    tags::OTHER_PATIENT_I_DS_SEQUENCE,
    tags::OTHER_PATIENT_NAMES,
    tags::PATIENT_COMMENTS,
    tags::PATIENT_SPECIES_DESCRIPTION,
    tags::PATIENT_BREED_DESCRIPTION,
    tags::RESPONSIBLE_PERSON,
    tags::RESPONSIBLE_ORGANIZATION,
    tags::PATIENT_IDENTITY_REMOVED,
    tags::DEIDENTIFICATION_METHOD,
    tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
];

/// Study-level attributes (General Study and Patient Study modules).
const STUDY_LEVEL: &[Tag] = &[
    tags::STUDY_INSTANCE_UID,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_ID,
    tags::ACCESSION_NUMBER,
    tags::ISSUER_OF_ACCESSION_NUMBER_SEQUENCE,
    tags::STUDY_DESCRIPTION,
    tags::PHYSICIANS_OF_RECORD,
    tags::NAME_OF_PHYSICIANS_READING_STUDY,
    tags::PROCEDURE_CODE_SEQUENCE,
    tags::REFERENCED_STUDY_SEQUENCE,
    tags::ADMITTING_DIAGNOSES_DESCRIPTION,
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
    tags::OCCUPATION,
    tags::ADDITIONAL_PATIENT_HISTORY,
];

/// Series-level attributes (General Series, Frame of Reference, General Equipment).
const SERIES_LEVEL: &[Tag] = &[
    tags::SERIES_INSTANCE_UID,
    tags::MODALITY,
    tags::SERIES_NUMBER,
    tags::SERIES_DATE,
    tags::SERIES_TIME,
    tags::SERIES_DESCRIPTION,
    tags::LATERALITY,
    tags::PERFORMING_PHYSICIAN_NAME,
    tags::OPERATORS_NAME,
    tags::PROTOCOL_NAME,
    tags::BODY_PART_EXAMINED,
    tags::PATIENT_POSITION,
    tags::SMALLEST_PIXEL_VALUE_IN_SERIES,
    tags::LARGEST_PIXEL_VALUE_IN_SERIES,
    tags::PERFORMED_PROCEDURE_STEP_START_DATE,
    tags::PERFORMED_PROCEDURE_STEP_START_TIME,
    tags::PERFORMED_PROCEDURE_STEP_ID,
    tags::PERFORMED_PROCEDURE_STEP_DESCRIPTION,
    tags::REQUEST_ATTRIBUTES_SEQUENCE,
    tags::FRAME_OF_REFERENCE_UID,
    tags::POSITION_REFERENCE_INDICATOR,
    tags::MANUFACTURER,
    tags::INSTITUTION_NAME,
    tags::INSTITUTION_ADDRESS,
    tags::STATION_NAME,
    tags::INSTITUTIONAL_DEPARTMENT_NAME,
    tags::MANUFACTURER_MODEL_NAME,
    tags::DEVICE_SERIAL_NUMBER,
    tags::SOFTWARE_VERSIONS,
];

/// Attributes that never go into the metadata document: the pixel data and its offset tables
/// (served as frames instead).
const EXCLUDED: &[Tag] = &[
    tags::PIXEL_DATA,
    tags::FLOAT_PIXEL_DATA,
    tags::DOUBLE_FLOAT_PIXEL_DATA,
    tags::EXTENDED_OFFSET_TABLE,
    tags::EXTENDED_OFFSET_TABLE_LENGTHS,
];

const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";

fn trim_value(s: &str) -> &str {
    s.trim_end_matches(['\0'])
}

/// The JSON key of an attribute: its keyword, or `GGGGEEEE` for private and unknown tags.
fn key_of(tag: Tag) -> (String, Option<VirtualVr>) {
    if tag.group().is_multiple_of(2)
        && let Some(e) = StandardDataDictionary.by_tag(tag)
    {
        return (e.alias().to_owned(), Some(e.vr()));
    }
    (format!("{:04X}{:04X}", tag.group(), tag.element()), None)
}

fn tag_u32(tag: Tag) -> u32 {
    (u32::from(tag.group()) << 16) | u32::from(tag.element())
}

/// Writes one primitive value as AHI does: numbers for binary numeric VRs, strings for text
/// VRs, base64 for binary VRs, `null` when empty, an array when the dictionary VM allows
/// more than one value or the value has more than one. Unlike AHI, trailing padding of text
/// values is removed (dicom-rs trims it on read; it carries no meaning).
fn primitive_to_json(tag: Tag, vr: VR, value: &PrimitiveValue) -> Json {
    if value.multiplicity() == 0 {
        return Json::Null;
    }
    let items: Vec<Json> = match vr {
        VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN => {
            let bytes = le_bytes(value);
            return Json::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        VR::US | VR::SS | VR::UL | VR::SL | VR::UV | VR::SV => match value {
            PrimitiveValue::U16(v) => v.iter().map(|x| Json::from(*x)).collect(),
            PrimitiveValue::I16(v) => v.iter().map(|x| Json::from(*x)).collect(),
            PrimitiveValue::U32(v) => v.iter().map(|x| Json::from(*x)).collect(),
            PrimitiveValue::I32(v) => v.iter().map(|x| Json::from(*x)).collect(),
            PrimitiveValue::U64(v) => v.iter().map(|x| Json::from(*x)).collect(),
            PrimitiveValue::I64(v) => v.iter().map(|x| Json::from(*x)).collect(),
            other => other
                .to_multi_str()
                .iter()
                .map(|s| {
                    s.trim()
                        .parse::<i64>()
                        .map(Json::from)
                        .unwrap_or(Json::Null)
                })
                .collect(),
        },
        VR::FL | VR::FD => match value {
            PrimitiveValue::F32(v) => v.iter().map(|x| float_json(f64::from(*x))).collect(),
            PrimitiveValue::F64(v) => v.iter().map(|x| float_json(*x)).collect(),
            other => other
                .to_multi_str()
                .iter()
                .map(|s| {
                    s.trim()
                        .parse::<f64>()
                        .map(float_json)
                        .unwrap_or(Json::Null)
                })
                .collect(),
        },
        VR::AT => match value {
            PrimitiveValue::Tags(t) => t
                .iter()
                .map(|t| Json::String(format!("{:04X}{:04X}", t.group(), t.element())))
                .collect(),
            _ => vec![Json::Null],
        },
        _ => value
            .to_multi_str()
            .iter()
            .map(|s| {
                let s = trim_value(s);
                if s.is_empty() {
                    Json::Null
                } else {
                    Json::String(s.to_owned())
                }
            })
            .collect(),
    };
    if items.len() == 1 && MULTI_VALUED.binary_search(&tag_u32(tag)).is_err() {
        items.into_iter().next().unwrap_or(Json::Null)
    } else {
        Json::Array(items)
    }
}

/// An element read with VR UN (an explicit-VR writer that did not know the attribute) with
/// the VR it has: its value is the attribute's value in Implicit VR Little Endian (PS3.5
/// §6.2.2), so it is read again as such an element, and the dictionary gives it its VR
/// (sequences become sequences, tags tags, numbers numbers). A private creator is LO (PS3.5
/// §7.8.1). Other private attributes, whose VR nothing here knows, stay UN; so does a value
/// that does not read as its dictionary VR.
fn resolved(elem: &InMemElement) -> Cow<'_, InMemElement> {
    let (VR::UN, Value::Primitive(PrimitiveValue::U8(bytes))) = (elem.vr(), elem.value()) else {
        return Cow::Borrowed(elem);
    };
    let tag = elem.tag();
    if !tag.group().is_multiple_of(2) && (0x0010..=0x00FF).contains(&tag.element()) {
        let text = String::from_utf8_lossy(&bytes[..]);
        let text = text.trim_end_matches(['\0', ' ']).trim_start();
        return Cow::Owned(InMemElement::new(tag, VR::LO, PrimitiveValue::from(text)));
    }
    if StandardDataDictionary.by_tag(tag).is_none() || !tag.group().is_multiple_of(2) {
        return Cow::Borrowed(elem);
    }
    let Ok(len) = u32::try_from(bytes.len()) else {
        return Cow::Borrowed(elem);
    };
    let mut encoded = Vec::with_capacity(8 + bytes.len());
    encoded.extend_from_slice(&tag.group().to_le_bytes());
    encoded.extend_from_slice(&tag.element().to_le_bytes());
    encoded.extend_from_slice(&len.to_le_bytes());
    encoded.extend_from_slice(&bytes[..]);
    let implicit = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    match InMemDicomObject::read_dataset_with_ts(encoded.as_slice(), &implicit)
        .ok()
        .and_then(|mut obj| obj.take_element(tag).ok())
    {
        Some(e) if e.vr() != VR::UN => Cow::Owned(e),
        _ => Cow::Borrowed(elem),
    }
}

fn float_json(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

/// The bytes of a primitive value in little-endian order.
fn le_bytes(value: &PrimitiveValue) -> Vec<u8> {
    match value {
        PrimitiveValue::U8(v) => v.to_vec(),
        PrimitiveValue::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        other => other.to_bytes().into_owned(),
    }
}

/// The member of a sequence item holding the VRs of the item's own attributes, as an
/// instance's `DICOMVRs` holds those of its top level.
const ITEM_VRS: &str = "DICOMVRs";

/// Converts a data set (the file's, or a sequence item) to keyword-keyed JSON, recording the
/// VR of private tags and of attributes whose dictionary VR is ambiguous in `vrs`.
fn dataset_to_json(obj: &InMemDicomObject, vrs: &mut BTreeMap<String, String>) -> DicomAttributes {
    let mut out = DicomAttributes::new();
    for elem in obj {
        let tag = elem.tag();
        if EXCLUDED.contains(&tag) || tag.element() == 0 {
            continue;
        }
        let elem = resolved(elem);
        let (key, dict_vr) = key_of(tag);
        if !matches!(dict_vr, Some(VirtualVr::Exact(_))) {
            vrs.insert(key.clone(), elem.vr().to_string().to_owned());
        }
        let json = match elem.value() {
            Value::Primitive(p) => primitive_to_json(tag, elem.vr(), p),
            Value::Sequence(seq) => Json::Array(
                seq.items()
                    .iter()
                    .map(|item| {
                        // Each item records its own VRs: a private tag may have another VR
                        // there than at the top level.
                        let mut item_vrs = BTreeMap::new();
                        let mut json = dataset_to_json(item, &mut item_vrs);
                        if !item_vrs.is_empty() {
                            json.insert(ITEM_VRS.into(), serde_json::json!(item_vrs));
                        }
                        Json::Object(json)
                    })
                    .collect(),
            ),
            Value::PixelSequence(_) => continue,
        };
        out.insert(key, json);
    }
    out
}

fn required_str(
    obj: &InMemDicomObject,
    tag: Tag,
    name: &'static str,
) -> Result<String, ImportError> {
    let v = obj
        .element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| match resolved(e).value() {
            Value::Primitive(p) => Some(p.to_str().into_owned()),
            _ => None,
        })
        .map(|s| trim_value(&s).trim().to_owned())
        .unwrap_or_default();
    if v.is_empty() {
        Err(ImportError::Missing(name))
    } else {
        Ok(v)
    }
}

/// A UID the import requires. HealthImaging's API constrains these attributes to valid UIDs
/// (its `DICOMStudyInstanceUID` pattern, `(?:[1-9][0-9]*|0)(\.(?:[1-9][0-9]*|0))*`, at most
/// 64 characters, PS3.5 §9.1), so a file whose UID is something else cannot be imported.
fn required_uid(
    obj: &InMemDicomObject,
    tag: Tag,
    name: &'static str,
) -> Result<String, ImportError> {
    let uid = required_str(obj, tag, name)?;
    let component = |c: &str| {
        !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) && (c == "0" || !c.starts_with('0'))
    };
    if uid.len() <= 64 && uid.split('.').all(component) {
        Ok(uid)
    } else {
        Err(ImportError::NotAUid(name, uid))
    }
}

fn int_attr(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.element_opt(tag).ok().flatten()?;
    match resolved(e).value() {
        Value::Primitive(p) => p.to_int::<i64>().ok(),
        _ => None,
    }
}

fn str_attr(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok().flatten()?;
    match resolved(e).value() {
        Value::Primitive(p) => Some(p.to_str().trim().to_owned()),
        _ => None,
    }
}

/// The file from its `DICM` magic code on (after the 128-byte preamble, when it has one).
fn from_magic(bytes: &[u8]) -> Result<&[u8], ImportError> {
    if bytes.get(128..132) == Some(b"DICM") {
        Ok(&bytes[128..])
    } else if bytes.starts_with(b"DICM") {
        Ok(bytes)
    } else {
        Err(ImportError::Unreadable("no DICM magic code".into()))
    }
}

/// A reader of a byte slice that tells how much it has read.
struct Counting<'a> {
    rest: &'a [u8],
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl std::io::Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rest.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// Where the data set's own Pixel Data lies in the file, as [`scan`] found it.
#[derive(Debug, Default, PartialEq)]
enum PixelLayout {
    /// No Pixel Data, or a file whose bytes are not the data set's (deflated).
    #[default]
    Unknown,
    /// A native value: its offset in the file and its length.
    Native(u64, u64),
    /// Encapsulated: each fragment's value (after the offset table), offset and length.
    Fragments(Vec<(u64, u64)>),
}

/// Reads the file's element headers with dicom-rs's own token reader, as the import reads
/// them, checking each declared length before its value is read, and notes where the data
/// set's Pixel Data lies (so frames can be read from the file later, [`FrameBytes::File`]).
///
/// A file that ends inside its encapsulated Pixel Data is refused (cut short), and so is one
/// in which an element, item or sequence declares more bytes than remain after its header: dicom-rs reserves and zero-fills a value's declared length before it
/// reads the value, so without this check a 674-byte file (pydicom's `UN_sequence.dcm`)
/// drove the import to a 3.6 GB peak; with it, no allocation exceeds the file's size.
/// Deflated data sets are not checked: their declared lengths count inflated bytes. In
/// every file, sequences may nest at most [`MAX_SEQUENCE_DEPTH`] levels and no value outside
/// Pixel Data may exceed [`MAX_METADATA_VALUE`].
/// `preamble` is what precedes `part10` in the file, for byte offsets.
fn scan(part10: &[u8], preamble: u64) -> Result<PixelLayout, ImportError> {
    use dicom_encoding::transfer_syntax::{Codec, TransferSyntaxIndex};
    use dicom_parser::dataset::{DataSetReader, DataToken};
    let unreadable = |e: &dyn std::fmt::Display| ImportError::Unreadable(e.to_string());
    check_meta_group(part10, preamble)?;
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut source = Counting {
        rest: part10,
        read: read.clone(),
    };
    let meta =
        dicom_object::meta::FileMetaTable::from_reader(&mut source).map_err(|e| unreadable(&e))?;
    let registry = dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    let Some(ts) = registry.get(trim_value(meta.transfer_syntax())) else {
        // Unknown: the import reports it.
        return Ok(PixelLayout::Unknown);
    };
    if let Codec::Dataset(adapter) = ts.codec() {
        // Deflated: the nesting and the values' sizes are checked, on the inflated tokens.
        if let Some(adapter) = adapter {
            let inflated = adapter.adapt_reader(Box::new(source));
            let mut depth = Depth::default();
            for token in DataSetReader::new_with_ts(inflated, ts).map_err(|e| unreadable(&e))? {
                let token = token.map_err(|e| unreadable(&e))?;
                depth.follow(&token)?;
                value_fits(&token)?;
            }
        }
        return Ok(PixelLayout::Unknown);
    }
    let total = part10.len() as u64;
    let tokens = DataSetReader::new_with_ts(source, ts).map_err(|e| unreadable(&e))?;
    let mut layout = PixelLayout::Unknown;
    // Sequence nesting, and whether the open pixel sequence is the data set's own.
    let mut depth = 0usize;
    let mut in_pixel_data = false;
    let mut item = (0u64, 0u64);
    let mut nesting = Depth::default();
    for token in tokens {
        let token = token.map_err(|e| unreadable(&e))?;
        nesting.follow(&token)?;
        let at = read.get();
        let len = match &token {
            DataToken::ElementHeader(h) => {
                if depth == 0 && h.tag == tags::PIXEL_DATA {
                    layout = PixelLayout::Native(at + preamble, u64::from(h.len.0));
                }
                h.len
            }
            DataToken::SequenceStart { len, .. } => {
                depth += 1;
                *len
            }
            DataToken::PixelSequenceStart => {
                in_pixel_data = depth == 0;
                if in_pixel_data {
                    layout = PixelLayout::Fragments(Vec::new());
                }
                depth += 1;
                continue;
            }
            DataToken::SequenceEnd => {
                depth = depth.saturating_sub(1);
                in_pixel_data = false;
                continue;
            }
            DataToken::ItemStart { len } => {
                item = (at + preamble, u64::from(len.0));
                *len
            }
            DataToken::ItemValue(_) => {
                if in_pixel_data && let PixelLayout::Fragments(f) = &mut layout {
                    f.push(item);
                }
                continue;
            }
            _ => continue,
        };
        let remaining = total.saturating_sub(at);
        if let Some(n) = len.get()
            && u64::from(n) > remaining
        {
            return Err(ImportError::Unreadable(format!(
                "the header ending at byte {} declares {n} bytes, but only {remaining} remain",
                at + preamble
            )));
        }
        value_fits(&token)?;
    }
    if in_pixel_data {
        // The file ends inside its encapsulated Pixel Data (no Sequence Delimitation Item,
        // PS3.5 §A.4): it was cut short, and what frames it holds cannot be known.
        return Err(ImportError::Unreadable(
            "the file ends inside its encapsulated Pixel Data (no sequence delimiter)".into(),
        ));
    }
    Ok(layout)
}

/// The largest value outside Pixel Data the import reads: one that alone would put an image
/// set's metadata over HealthImaging's 50 MB (its value goes there in base64, 4 characters
/// per 3 bytes), so HealthImaging could not hold the file either. Each such value is copied
/// several times on its way into the metadata; a 50 MB private attribute took the import to
/// a 484 MB peak.
pub const MAX_METADATA_VALUE: u64 = 50_000_000 / 4 * 3;

/// Deepest nesting of sequences (pixel data's included) the import reads. dicom-object
/// builds a data set recursively, so a file of 5,000 nested sequences (181 KB) overflowed
/// the stack; and a document must stay within what every reader of it parses: serde_json
/// stops at 128 levels, which image-set metadata (7 levels, then 2 per sequence) and DICOM
/// JSON (2, then 3 per sequence) reach at about 60 and 40 sequences. Real objects nest a
/// few levels (an SR content tree a dozen or so).
pub const MAX_SEQUENCE_DEPTH: usize = 32;

/// The sequence nesting of a token stream, refused beyond [`MAX_SEQUENCE_DEPTH`] as soon as
/// the token that opens one more level is read (the token reader keeps its own stack).
#[derive(Default)]
struct Depth(usize);

/// Refuses a value outside Pixel Data over [`MAX_METADATA_VALUE`], from its header, before
/// anything reads or copies it.
fn value_fits(token: &dicom_parser::dataset::DataToken) -> Result<(), ImportError> {
    match token {
        dicom_parser::dataset::DataToken::ElementHeader(h)
            if h.tag != tags::PIXEL_DATA
                && h.len
                    .get()
                    .is_some_and(|n| u64::from(n) > MAX_METADATA_VALUE) =>
        {
            Err(ImportError::Unreadable(format!(
                "the element ({:04X},{:04X}) holds {} bytes, more than HealthImaging's 50 MB \
                 of metadata per image set can hold",
                h.tag.group(),
                h.tag.element(),
                h.len.0
            )))
        }
        _ => Ok(()),
    }
}

impl Depth {
    fn follow(&mut self, token: &dicom_parser::dataset::DataToken) -> Result<(), ImportError> {
        use dicom_parser::dataset::DataToken;
        match token {
            DataToken::SequenceStart { .. } | DataToken::PixelSequenceStart => self.0 += 1,
            DataToken::SequenceEnd => self.0 = self.0.saturating_sub(1),
            _ => {}
        }
        if self.0 > MAX_SEQUENCE_DEPTH {
            return Err(ImportError::Unreadable(format!(
                "sequences nest more than {MAX_SEQUENCE_DEPTH} levels deep"
            )));
        }
        Ok(())
    }
}

/// The same check for the file meta group (always Explicit VR Little Endian, PS3.10 §7.1),
/// which dicom-object reads before any token reader exists: every element's length within
/// the file, and no VR that has no known length form (a fuzzed `U\x0c` was read as a
/// gigabyte-long value).
fn check_meta_group(part10: &[u8], preamble: u64) -> Result<(), ImportError> {
    const LONG: [&[u8; 2]; 13] = [
        b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV",
    ];
    const SHORT: [&[u8; 2]; 21] = [
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
        b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
    ];
    let u16_at = |i: usize| u16::from_le_bytes([part10[i], part10[i + 1]]);
    let mut at = 4; // after `DICM`
    // dicom-object reads as far as the group length says, whatever the tags there; without
    // one, while the tags are group 0002.
    let declared_end = (part10.len() >= 16 && &part10[4..10] == b"\x02\x00\x00\x00UL").then(|| {
        16 + u32::from_le_bytes([part10[12], part10[13], part10[14], part10[15]]) as usize
    });
    while part10.len() >= at + 8 && declared_end.map_or(u16_at(at) == 0x0002, |end| at < end) {
        let vr = &part10[at + 4..at + 6];
        let (header, len) = if LONG.iter().any(|v| v.as_slice() == vr) {
            let Some(l) = part10.get(at + 8..at + 12) else {
                break;
            };
            (12, u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
        } else if SHORT.iter().any(|v| v.as_slice() == vr) {
            (8, usize::from(u16_at(at + 6)))
        } else {
            return Err(ImportError::Unreadable(format!(
                "the file meta group has an element of unknown VR at byte {}",
                at as u64 + preamble
            )));
        };
        if at + header + len > part10.len() {
            return Err(ImportError::Unreadable(format!(
                "the file meta element at byte {} declares {len} bytes, beyond the file",
                at as u64 + preamble
            )));
        }
        at += header + len;
    }
    Ok(())
}

/// Reads one file. Errors say what was wrong; the caller names the file. Frames that the
/// file holds as they are served stay there ([`FrameBytes::File`]).
pub fn read_instance(path: &Path) -> Result<ImportedInstance, ImportError> {
    let unreadable = |e: std::io::Error| ImportError::Unreadable(e.to_string());
    let source = SourceFile::at(path).map_err(unreadable)?;
    let bytes = std::fs::read(path).map_err(unreadable)?;
    parse(path, &bytes, Some(Arc::new(source)))
}

/// Imports the Part 10 file `bytes`, read from `path`, keeping its frames in memory.
pub fn parse_instance(path: &Path, bytes: &[u8]) -> Result<ImportedInstance, ImportError> {
    parse(path, bytes, None)
}

fn parse(
    path: &Path,
    bytes: &[u8],
    source: Option<Arc<SourceFile>>,
) -> Result<ImportedInstance, ImportError> {
    let part10 = from_magic(bytes)?;
    let layout = scan(part10, (bytes.len() - part10.len()) as u64)?;
    let obj: DefaultDicomObject = OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(part10)
        .map_err(|e| ImportError::Unreadable(e.to_string()))?;
    let study_uid = required_uid(&obj, tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?;
    let series_uid = required_uid(&obj, tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?;
    let sop_uid = required_uid(&obj, tags::SOP_INSTANCE_UID, "SOPInstanceUID")?;
    let source_ts = trim_value(obj.meta().transfer_syntax()).trim().to_owned();

    let mut vrs = BTreeMap::new();
    let mut all = DicomAttributes::new();
    for elem in obj.meta().to_element_iter() {
        let (key, _) = key_of(elem.tag());
        if let Value::Primitive(p) = elem.value() {
            all.insert(key, primitive_to_json(elem.tag(), elem.vr(), p));
        }
    }
    all.extend(dataset_to_json(&obj, &mut vrs));

    let mut levels = [
        DicomAttributes::new(),
        DicomAttributes::new(),
        DicomAttributes::new(),
    ];
    for (i, level_tags) in [PATIENT_LEVEL, STUDY_LEVEL, SERIES_LEVEL]
        .into_iter()
        .enumerate()
    {
        for tag in level_tags {
            let (key, _) = key_of(*tag);
            if let Some(v) = all.remove(&key) {
                levels[i].insert(key, v);
            }
        }
    }
    let [patient, study, series] = levels;

    let on_disk = source.map(|file| (file, layout));
    let (transfer_syntax, frames, pixel_ranges) = extract_frames(&obj, &source_ts, on_disk)?;
    Ok(ImportedInstance {
        path: path.to_owned(),
        study_uid,
        series_uid,
        sop_uid,
        patient,
        study,
        series,
        instance: all,
        dicom_vrs: vrs,
        transfer_syntax,
        frames,
        pixel_ranges,
    })
}

type Frames = (String, Vec<FrameBytes>, Vec<Option<(i64, i64)>>);

/// The frames of `obj`: read from `on_disk`'s file where the layout found there agrees with
/// what dicom-object read (same fragments, or a native value of the same length in a little
/// endian file), else copied.
fn extract_frames(
    obj: &InMemDicomObject,
    ts: &str,
    on_disk: Option<(Arc<SourceFile>, PixelLayout)>,
) -> Result<Frames, ImportError> {
    let Some(pixel) = obj.element_opt(tags::PIXEL_DATA).ok().flatten() else {
        if obj.get(tags::FLOAT_PIXEL_DATA).is_some()
            || obj.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some()
        {
            // Refused rather than imported without its pixels: frames are Pixel Data's.
            return Err(ImportError::PixelData(
                "Float or Double Float Pixel Data (7FE0,0008/0009) is not imported; frames are \
                 served from Pixel Data (7FE0,0010) only"
                    .into(),
            ));
        }
        // Instances without pixel data (SR, presentation states, …) have no frames.
        return Ok((ts.to_owned(), Vec::new(), Vec::new()));
    };
    let n_frames = number_of_frames(obj)?;
    match pixel.value() {
        Value::PixelSequence(seq) => {
            let fragments = seq.fragments();
            let ext = obj
                .element_opt(tags::EXTENDED_OFFSET_TABLE)
                .ok()
                .flatten()
                .map(|e| {
                    le_bytes(match e.value() {
                        Value::Primitive(p) => p,
                        _ => &PrimitiveValue::Empty,
                    })
                });
            let groups =
                split_fragments(fragments, seq.offset_table(), ext.as_deref(), n_frames, ts)?;
            let in_file = on_disk.and_then(|(file, layout)| match layout {
                PixelLayout::Fragments(f)
                    if f.len() == fragments.len()
                        && f.iter().zip(fragments).all(|(r, v)| r.1 == v.len() as u64) =>
                {
                    Some((file, f))
                }
                _ => None,
            });
            let frames: Vec<FrameBytes> = groups
                .into_iter()
                .map(|g| match &in_file {
                    Some((file, f)) => FrameBytes::File {
                        file: file.clone(),
                        ranges: f[g].into(),
                    },
                    None => FrameBytes::Memory(Bytes::from(fragments[g].concat())),
                })
                .collect();
            let ranges = vec![None; frames.len()];
            Ok((ts.to_owned(), frames, ranges))
        }
        Value::Primitive(p) if is_native(ts) => {
            let bits =
                int_attr(obj, tags::BITS_ALLOCATED).ok_or(ImportError::Missing("BitsAllocated"))?;
            let bytes = native_le_bytes(p, bits, ts == EXPLICIT_VR_BE);
            let rows = int_attr(obj, tags::ROWS).ok_or(ImportError::Missing("Rows"))?;
            let cols = int_attr(obj, tags::COLUMNS).ok_or(ImportError::Missing("Columns"))?;
            let spp = int_attr(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
            let signed = int_attr(obj, tags::PIXEL_REPRESENTATION) == Some(1);
            // YBR_FULL_422 stores two samples per pixel (PS3.3 C.7.6.3.1.2).
            let samples = if str_attr(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref()
                == Some("YBR_FULL_422")
            {
                2
            } else {
                spp
            };
            let frame_bits = rows * cols * samples * bits;
            if frame_bits <= 0 {
                return Err(ImportError::PixelData(
                    "Rows, Columns, SamplesPerPixel and BitsAllocated must be positive".into(),
                ));
            }
            let frame_len = (frame_bits as usize).div_ceil(8);
            // Frames of single bits are packed end to end (PS3.5 §8.1.1): unless a frame's
            // bits fill whole bytes, the next begins inside a byte, and each is taken out
            // on its own, starting on a byte.
            let unaligned = frame_bits % 8 != 0 && n_frames > 1;
            let needed = if unaligned {
                (frame_bits as usize * n_frames).div_ceil(8)
            } else {
                frame_len * n_frames
            };
            if bytes.len() < needed {
                return Err(ImportError::PixelData(format!(
                    "{} bytes of pixel data, {} frames of {} bits expected",
                    bytes.len(),
                    n_frames,
                    frame_bits
                )));
            }
            if unaligned {
                let frames = (0..n_frames)
                    .map(|i| {
                        let bits = frame_bits as usize;
                        FrameBytes::Memory(Bytes::from(bit_slice(&bytes, i * bits, bits)))
                    })
                    .collect();
                return Ok((EXPLICIT_VR_LE.to_owned(), frames, vec![None; n_frames]));
            }
            let ranges = (0..n_frames)
                .map(|i| pixel_range(&bytes[i * frame_len..(i + 1) * frame_len], bits, signed))
                .collect();
            let in_file = on_disk.and_then(|(file, layout)| match layout {
                PixelLayout::Native(offset, len)
                    if len == bytes.len() as u64 && ts != EXPLICIT_VR_BE =>
                {
                    Some((file, offset))
                }
                _ => None,
            });
            let frames = match in_file {
                Some((file, offset)) => (0..n_frames)
                    .map(|i| FrameBytes::File {
                        file: file.clone(),
                        ranges: [(offset + (i * frame_len) as u64, frame_len as u64)].into(),
                    })
                    .collect(),
                None => {
                    let all = Bytes::from(bytes);
                    (0..n_frames)
                        .map(|i| FrameBytes::Memory(all.slice(i * frame_len..(i + 1) * frame_len)))
                        .collect()
                }
            };
            Ok((EXPLICIT_VR_LE.to_owned(), frames, ranges))
        }
        Value::Primitive(_) => Err(ImportError::PixelData(format!(
            "transfer syntax {ts} is compressed but the pixel data is not encapsulated"
        ))),
        Value::Sequence(_) => Err(ImportError::PixelData("pixel data is a sequence".into())),
    }
}

/// Native pixel data in little endian whatever the file's byte order. dicom-rs reads OW as
/// 16-bit words in the file's byte order, which is right for 8 and 16 bits allocated (8-bit
/// samples in a big-endian OW come out swapped in pairs, as PS3.5 §8.1.1 has them); in a
/// big-endian file, samples wider than a word are words whose order must be reversed too,
/// else a 32-bit sample comes out with its halves swapped.
fn native_le_bytes(value: &PrimitiveValue, bits_allocated: i64, big_endian: bool) -> Vec<u8> {
    match (value, bits_allocated) {
        (PrimitiveValue::U16(words), 32 | 64) if big_endian => {
            let per_sample = (bits_allocated / 16) as usize;
            words
                .chunks(per_sample)
                .flat_map(|sample| sample.iter().rev().flat_map(|w| w.to_le_bytes()))
                .collect()
        }
        _ => le_bytes(value),
    }
}

/// `len` bits of `data` from bit `start` (the lowest bit of a byte first, PS3.5 §8.1.1), in
/// bytes of their own, the last padded with zero bits.
fn bit_slice(data: &[u8], start: usize, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len.div_ceil(8)];
    for i in 0..len {
        let b = start + i;
        if (data[b / 8] >> (b % 8)) & 1 == 1 {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// Number of Frames (0028,0008): 1 when absent or empty (single-frame IODs), else a positive
/// integer. A value that is not one is refused, since how the pixel data splits into frames
/// would be a guess.
fn number_of_frames(obj: &InMemDicomObject) -> Result<usize, ImportError> {
    let Some(text) = str_attr(obj, tags::NUMBER_OF_FRAMES).filter(|t| !t.is_empty()) else {
        return Ok(1);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ImportError::PixelData(format!(
                "Number of Frames {text:?} is not a positive integer"
            ))
        })
}

fn pixel_range(frame: &[u8], bits: i64, signed: bool) -> Option<(i64, i64)> {
    let values: Box<dyn Iterator<Item = i64>> = match (bits, signed) {
        (8, false) => Box::new(frame.iter().map(|b| i64::from(*b))),
        (8, true) => Box::new(frame.iter().map(|b| i64::from(*b as i8))),
        (16, false) => Box::new(
            frame
                .chunks_exact(2)
                .map(|c| i64::from(u16::from_le_bytes([c[0], c[1]]))),
        ),
        (16, true) => Box::new(
            frame
                .chunks_exact(2)
                .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))),
        ),
        _ => return None,
    };
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Maps the fragments of encapsulated pixel data to frames (PS3.5 A.4), as the run of
/// fragments each frame takes: one fragment per frame when the counts agree; everything for
/// a single frame; else by the Basic or the Extended Offset Table; else by the codestream
/// start markers of JPEG-family syntaxes.
fn split_fragments(
    fragments: &[Vec<u8>],
    bot: &[u32],
    extended: Option<&[u8]>,
    n_frames: usize,
    ts: &str,
) -> Result<Vec<Range<usize>>, ImportError> {
    if fragments.is_empty() {
        return Err(ImportError::PixelData(
            "encapsulated pixel data has no fragments".into(),
        ));
    }
    if n_frames == 1 {
        #[allow(clippy::single_range_in_vec_init)] // one frame: a list of one run
        return Ok(vec![0..fragments.len()]);
    }
    if fragments.len() == n_frames {
        return Ok((0..n_frames).map(|i| i..i + 1).collect());
    }
    let offsets: Vec<u64> = if bot.len() == n_frames {
        bot.iter().map(|o| u64::from(*o)).collect()
    } else if let Some(ext) = extended.filter(|e| e.len() == n_frames * 8) {
        ext.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect()
    } else {
        return split_by_markers(fragments, n_frames, ts);
    };
    // Offsets count from the first byte of the first fragment's item tag; each item has an
    // 8-byte header.
    let mut starts = Vec::with_capacity(fragments.len());
    let mut pos = 0u64;
    for f in fragments {
        starts.push(pos);
        pos += 8 + f.len() as u64;
    }
    let mut frames = Vec::with_capacity(n_frames);
    for (i, off) in offsets.iter().enumerate() {
        let end = offsets.get(i + 1).copied().unwrap_or(u64::MAX);
        let first = starts.iter().position(|s| s == off).ok_or_else(|| {
            ImportError::PixelData(format!(
                "offset table entry {off} does not start a fragment"
            ))
        })?;
        let count = starts[first..].iter().take_while(|s| **s < end).count();
        frames.push(first..first + count);
    }
    Ok(frames)
}

fn split_by_markers(
    fragments: &[Vec<u8>],
    n_frames: usize,
    ts: &str,
) -> Result<Vec<Range<usize>>, ImportError> {
    let starts_frame = |f: &[u8]| -> bool {
        match ts {
            // JPEG, JPEG-LS: SOI
            t if t.starts_with("1.2.840.10008.1.2.4.5")
                || t.starts_with("1.2.840.10008.1.2.4.6")
                || t.starts_with("1.2.840.10008.1.2.4.7")
                || t.starts_with("1.2.840.10008.1.2.4.8") =>
            {
                f.starts_with(&[0xFF, 0xD8])
            }
            // JPEG 2000 and HTJ2K codestreams: SOC + SIZ
            t if t.starts_with("1.2.840.10008.1.2.4.9")
                || t.starts_with("1.2.840.10008.1.2.4.20") =>
            {
                f.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
            }
            _ => false,
        }
    };
    let mut frames: Vec<Range<usize>> = Vec::with_capacity(n_frames);
    for (i, f) in fragments.iter().enumerate() {
        match frames.last_mut() {
            Some(last) if !starts_frame(f) => last.end = i + 1,
            _ => frames.push(i..i + 1),
        }
    }
    if frames.len() != n_frames {
        return Err(ImportError::PixelData(format!(
            "{} fragments for {} frames and no usable offset table",
            fragments.len(),
            n_frames
        )));
    }
    Ok(frames)
}

/// All files below `dir`, sorted, each with the name of its import job: the first folder
/// under `dir` it lies in (`""` for files directly in `dir`).
pub fn list_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() || ft.is_symlink() {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                let job = if rel.components().count() > 1 {
                    rel.components()
                        .next()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                out.push((job, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_follow_ahi_conventions() {
        let ds = PrimitiveValue::Strs(vec!["-1000 ".to_owned()].into());
        // AHI keeps the padding space of DS values; dicom-rs removes it when reading.
        assert_eq!(
            primitive_to_json(tags::RESCALE_INTERCEPT, VR::DS, &ds),
            Json::from("-1000")
        );
        let wc = PrimitiveValue::Strs(vec!["40".to_owned()].into());
        assert_eq!(
            primitive_to_json(tags::WINDOW_CENTER, VR::DS, &wc),
            serde_json::json!(["40"])
        );
        assert_eq!(
            primitive_to_json(tags::ROWS, VR::US, &PrimitiveValue::from(512_u16)),
            Json::from(512)
        );
        assert_eq!(
            primitive_to_json(tags::ACCESSION_NUMBER, VR::SH, &PrimitiveValue::Empty),
            Json::Null
        );
        let ver = PrimitiveValue::U8(vec![0u8, 1].into());
        assert_eq!(
            primitive_to_json(tags::FILE_META_INFORMATION_VERSION, VR::OB, &ver),
            Json::from("AAE=")
        );
    }

    #[test]
    fn un_values_take_the_dictionary_vr() {
        let un = |tag: Tag, bytes: &[u8]| {
            let e = InMemElement::new(tag, VR::UN, PrimitiveValue::U8(bytes.to_vec().into()));
            resolved(&e).into_owned()
        };
        let e = un(tags::SOP_INSTANCE_UID, b"1.2.3\0");
        assert_eq!((e.vr(), e.to_str().unwrap().as_ref()), (VR::UI, "1.2.3"));
        assert_eq!(un(tags::ROWS, &[0, 2]).to_int::<u16>().unwrap(), 512);
        let ww = un(tags::WINDOW_WIDTH, b"400\\1500");
        assert_eq!(
            primitive_to_json(tags::WINDOW_WIDTH, ww.vr(), ww.value().primitive().unwrap()),
            serde_json::json!(["400", "1500"])
        );
        // An AT and a sequence (one item holding a UI), as an explicit-VR writer that did
        // not know them wrote them.
        let at = un(tags::FRAME_INCREMENT_POINTER, &[0x04, 0x30, 0x0C, 0x00]);
        assert_eq!(at.vr(), VR::AT);
        assert_eq!(
            at.value()
                .primitive()
                .and_then(|p| p.tags().ok().map(|t| t.to_vec())),
            Some(vec![Tag(0x3004, 0x000C)])
        );
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0, 16, 0, 0, 0];
        item.extend_from_slice(&[0x08, 0x00, 0x55, 0x11, 8, 0, 0, 0]);
        item.extend_from_slice(b"1.2.3.4\0");
        let seq = un(tags::REFERENCED_RT_PLAN_SEQUENCE, &item);
        assert_eq!(seq.vr(), VR::SQ);
        let items = seq.items().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0]
                .element(tags::REFERENCED_SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap(),
            "1.2.3.4"
        );
        // A private creator is LO; other private attributes stay UN.
        let creator = un(Tag(0x0009, 0x0010), b"VENDOR ");
        assert_eq!(
            (creator.vr(), creator.to_str().unwrap().as_ref()),
            (VR::LO, "VENDOR")
        );
        assert_eq!(un(Tag(0x0009, 0x1001), &[1, 2]).vr(), VR::UN);
    }

    #[test]
    fn single_bit_frames_are_taken_out_from_any_bit() {
        // Three frames of 5 bits each: 10110, 01101, 11111 (first pixel lowest).
        let bits = [1u8, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1];
        let mut packed = vec![0u8; 2];
        for (i, b) in bits.iter().enumerate() {
            packed[i / 8] |= b << (i % 8);
        }
        assert_eq!(bit_slice(&packed, 0, 5), [0b01101]);
        assert_eq!(bit_slice(&packed, 5, 5), [0b10110]);
        assert_eq!(bit_slice(&packed, 10, 5), [0b11111]);
    }

    #[test]
    fn fragments_split_by_offset_table() {
        let frags = vec![vec![1u8, 2], vec![3u8, 4], vec![5u8, 6, 7, 8]];
        // Frame 1 = fragments 0 and 1, frame 2 = fragment 2.
        let bot = [0u32, 20];
        let frames = split_fragments(&frags, &bot, None, 2, "1.2.840.10008.1.2.4.50").unwrap();
        assert_eq!(frames, [0..2, 2..3]);
        let ext: Vec<u8> = [0u64, 20].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(
            split_fragments(&frags, &[], Some(&ext), 2, "1.2.840.10008.1.2.4.50").unwrap(),
            frames
        );
    }

    #[test]
    fn fragments_split_by_markers_or_fail_clearly() {
        let frags = vec![vec![0xFF, 0xD8, 1], vec![2], vec![0xFF, 0xD8, 3]];
        let frames = split_fragments(&frags, &[], None, 2, "1.2.840.10008.1.2.4.50").unwrap();
        assert_eq!(frames, [0..2, 2..3]);
        let err = split_fragments(&frags, &[], None, 2, "1.2.840.10008.1.2.5").unwrap_err();
        assert!(err.to_string().contains("no usable offset table"), "{err}");
    }

    /// Every file of the demo data and, where the test suite has installed them, of
    /// pydicom's and pydicom-data's test files (every transfer syntax, big endian and
    /// deflated included): the frames read back from the file are the bytes dicom-object's
    /// in-memory reading gives.
    #[test]
    fn frames_on_disk_equal_frames_in_memory() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut dirs = vec![root.join("demo/dicom")];
        if let Ok(libs) = std::fs::read_dir(root.join(".cache/venv/lib")) {
            for lib in libs.flatten() {
                let site = lib.path().join("site-packages");
                dirs.push(site.join("pydicom/data/test_files"));
                dirs.push(site.join("data_store/data"));
            }
        }
        let (mut files, mut on_disk, mut in_memory_only) = (0, 0, 0);
        for dir in dirs {
            let Ok(list) = list_files(&dir) else {
                continue;
            };
            for (_, path) in list {
                let bytes = std::fs::read(&path).unwrap();
                let Ok(in_memory) = parse_instance(&path, &bytes) else {
                    continue;
                };
                let from_file = read_instance(&path).unwrap();
                files += 1;
                assert_eq!(from_file.frames.len(), in_memory.frames.len());
                for (a, b) in from_file.frames.iter().zip(&in_memory.frames) {
                    match a {
                        FrameBytes::File { .. } => on_disk += 1,
                        FrameBytes::Memory(_) => in_memory_only += 1,
                    }
                    assert_eq!(a.len(), b.len(), "{}", path.display());
                    assert_eq!(a.read().unwrap(), b.read().unwrap(), "{}", path.display());
                }
            }
        }
        eprintln!("{files} files: {on_disk} frames on disk, {in_memory_only} in memory");
        // The demo data alone: 86 files, more than 100 frames, all little endian.
        assert!(
            files >= 80 && on_disk > 100,
            "{files} files, {on_disk} frames on disk"
        );
    }
}
