//! DICOM Part 10 files (PS3.10 §7) rebuilt from an image set's metadata and its frames, for
//! WADO-RS retrieve (PS3.18 §10.4.1.1.1).
//!
//! The data set comes from the instance's DICOM JSON ([`crate::metadata::instance_dataset`]:
//! every attribute AHI keeps, with its VR, binary values inline, IS/DS as stored text), read
//! into a dicom-rs object by `dicom-json`; dicom-rs's writer writes the file. What this
//! module adds is small and ours: Pixel Data (native, or encapsulated with a Basic Offset
//! Table, one fragment per frame, PS3.5 §A.4), the File Meta Information, and the
//! attributes a decoded representation changes (PS3.3 C.7.6.3.1.2 Photometric
//! Interpretation, C.7.6.3.1.3 Planar Configuration, C.7.6.1.1.5 Lossy Image Compression),
//! and leaves out an Icon Image Sequence whose pixel data HealthImaging did not keep.

use bytes::Bytes;
use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value as DicomValue};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, FileMetaTableBuilder, InMemDicomObject};
use dicomweb::TransferSyntax;
use dicomweb::json::DicomJson;
use edge::EdgeError;

/// This implementation's identity in the files it writes (PS3.7 D.3.3.2): a UUID-derived
/// UID (PS3.5 §B.2), fixed for the product.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.245616839523851003442786209618446411089";
/// Implementation Version Name (0002,0013), at most 16 characters.
pub const IMPLEMENTATION_VERSION_NAME: &str = "DICOMWEB_EDGE_01";

/// The pixel data of a rebuilt file.
pub enum Pixels {
    /// No Pixel Data (an instance without frames).
    None,
    /// Native pixel data: the frames' bytes concatenated, written OW when `words` (Bits
    /// Allocated over 8) else OB (PS3.5 §8.2). Frames of single bits (`frame_bits`, their
    /// bits each, each frame starting on a byte) are packed end to end as PS3.5 §8.1.1 has
    /// them, where a frame's bits do not fill whole bytes.
    Native {
        frames: Vec<Bytes>,
        words: bool,
        frame_bits: Option<u64>,
    },
    /// Encapsulated pixel data, one fragment per frame.
    Encapsulated(Vec<Bytes>),
}

/// Attribute changes for frames that were decoded rather than served as stored.
pub struct Decoded {
    /// The photometric interpretation the decoded bytes are in.
    pub photometric_interpretation: String,
    /// Several samples per pixel (Planar Configuration is then 0: interleaved).
    pub colour: bool,
    /// The stored syntax was lossy: Lossy Image Compression "01" must say so.
    pub lossy_method: Option<&'static str>,
}

/// The Lossy Image Compression Method (0028,2114) a lossy stored syntax implies (PS3.3
/// C.7.6.1.1.5.1), or `None` for syntaxes that are lossless or may be either.
pub fn lossy_method(stored: &TransferSyntax) -> Option<&'static str> {
    match stored.as_str() {
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => Some("ISO_10918_1"),
        "1.2.840.10008.1.2.4.81" => Some("ISO_14495_1"),
        _ => None,
    }
}

/// Frames of `bits` single bits each (each starting on a byte) packed end to end.
fn packed_bits(frames: &[Bytes], bits: u64) -> Vec<u8> {
    let bits = usize::try_from(bits).unwrap_or(usize::MAX);
    let mut out = vec![0u8; (bits.saturating_mul(frames.len())).div_ceil(8)];
    for (n, frame) in frames.iter().enumerate() {
        for i in 0..bits.min(frame.len() * 8) {
            if (frame[i / 8] >> (i % 8)) & 1 == 1 {
                let at = n * bits + i;
                out[at / 8] |= 1 << (at % 8);
            }
        }
    }
    out
}

fn invalid(what: String) -> EdgeError {
    EdgeError::from(healthimaging::ClientError::InvalidResponse(what))
}

/// Writes one instance as a Part 10 file in `ts`.
pub fn write(
    dataset: DicomJson,
    ts: &TransferSyntax,
    pixels: Pixels,
    decoded: Option<Decoded>,
) -> Result<Vec<u8>, EdgeError> {
    let file = with_meta(object(dataset, pixels, decoded)?, ts)?;
    let mut out = Vec::new();
    file.write_all(&mut out)
        .map_err(|e| invalid(format!("the instance cannot be written as DICOM: {e}")))?;
    Ok(out)
}

/// The instance's File Meta Information for `ts` (PS3.10 §7.1).
pub fn with_meta(
    obj: InMemDicomObject,
    ts: &TransferSyntax,
) -> Result<FileDicomObject<InMemDicomObject>, EdgeError> {
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(ts.as_str())
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME),
    )
    .map_err(|e| {
        invalid(format!(
            "the instance has no valid SOP class or instance UID: {e}"
        ))
    })
}

/// One instance's data set as a dicom-rs object, with its pixel data.
pub fn object(
    dataset: DicomJson,
    pixels: Pixels,
    decoded: Option<Decoded>,
) -> Result<InMemDicomObject, EdgeError> {
    let json = serde_json::Value::Object(dataset.into_iter().collect());
    let mut obj: InMemDicomObject = dicom_json::from_value(json)
        .map_err(|e| invalid(format!("the metadata is not a DICOM data set: {e}")))?;
    // HealthImaging keeps no Icon Image Sequence pixel data ("DICOM support" in its developer
    // guide), and an icon without Pixel Data is not valid (Type 1 in PS3.3 C.7.6.1.1.6): the
    // optional icon is left out rather than written broken.
    let icon_without_pixels = obj
        .get(tags::ICON_IMAGE_SEQUENCE)
        .and_then(|e| e.items())
        .is_some_and(|items| items.iter().any(|i| i.get(tags::PIXEL_DATA).is_none()));
    if icon_without_pixels {
        obj.remove_element(tags::ICON_IMAGE_SEQUENCE);
    }
    if let Some(d) = decoded {
        obj.put(DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from(d.photometric_interpretation.as_str()),
        ));
        if d.colour {
            obj.put(DataElement::new(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                PrimitiveValue::from(0_u16),
            ));
        }
        if let Some(method) = d.lossy_method {
            obj.put(DataElement::new(
                tags::LOSSY_IMAGE_COMPRESSION,
                VR::CS,
                PrimitiveValue::from("01"),
            ));
            if obj.get(tags::LOSSY_IMAGE_COMPRESSION_METHOD).is_none() {
                obj.put(DataElement::new(
                    tags::LOSSY_IMAGE_COMPRESSION_METHOD,
                    VR::CS,
                    PrimitiveValue::from(method),
                ));
            }
        }
    }
    match pixels {
        Pixels::None => {}
        Pixels::Native {
            frames,
            words,
            frame_bits,
        } => {
            let mut data = match frame_bits {
                Some(bits) if bits % 8 != 0 => packed_bits(&frames, bits),
                _ => frames.concat(),
            };
            if data.len() % 2 == 1 {
                data.push(0);
            }
            let vr = if words { VR::OW } else { VR::OB };
            obj.put(DataElement::new(
                tags::PIXEL_DATA,
                vr,
                PrimitiveValue::from(data),
            ));
        }
        Pixels::Encapsulated(frames) => {
            // Fragments have even lengths (PS3.5 §A.4); the offsets count each item's
            // 8-byte header. A table that would not fit in 32 bits is left empty.
            let fragments: Vec<Vec<u8>> = frames
                .iter()
                .map(|f| {
                    let mut v = f.to_vec();
                    if v.len() % 2 == 1 {
                        v.push(0);
                    }
                    v
                })
                .collect();
            let mut offsets = Vec::with_capacity(fragments.len());
            let mut at = 0u64;
            for f in &fragments {
                offsets.push(at);
                at += 8 + f.len() as u64;
            }
            let table: Vec<u32> = if at <= u64::from(u32::MAX) && fragments.len() > 1 {
                offsets.into_iter().map(|o| o as u32).collect()
            } else {
                Vec::new()
            };
            obj.put(DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                DicomValue::from(PixelFragmentSequence::new(table, fragments)),
            ));
        }
    }
    Ok(obj)
}
