//! The image-set metadata document returned (gzip-compressed) by `GetImageSetMetadata`.
//!
//! Attributes are keyed by DICOM keyword (private or unknown ones by 8-hex-digit tag) and kept
//! as generic JSON: AHI writes text VRs (including DS, IS, DA, TM, PN) as strings, binary
//! numeric VRs (US, SS, UL, SL, FL, FD) as numbers, attributes whose dictionary multiplicity
//! allows more than one value as arrays, empty values as `null`, sequences as arrays of
//! keyword-keyed objects and bulk binary values as base64. `ImageFrames` is typed because the
//! frame IDs are what the rest of the product navigates by.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{DatastoreId, ImageFrameId, ImageSetId};

/// Keyword-keyed DICOM attributes of one level (patient, study, series or instance).
pub type DicomAttributes = serde_json::Map<String, serde_json::Value>;

/// The whole metadata document of one image set version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSetMetadata {
    #[serde(rename = "SchemaVersion")]
    pub schema_version: String,
    #[serde(rename = "DatastoreID")]
    pub datastore_id: DatastoreId,
    #[serde(rename = "ImageSetID")]
    pub image_set_id: ImageSetId,
    #[serde(rename = "Patient")]
    pub patient: Level,
    #[serde(rename = "Study")]
    pub study: Study,
}

/// A level that carries only attributes (the patient).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Level {
    #[serde(rename = "DICOM", default)]
    pub dicom: DicomAttributes,
}

/// The study level: its attributes and its series keyed by SeriesInstanceUID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Study {
    #[serde(rename = "DICOM", default)]
    pub dicom: DicomAttributes,
    #[serde(rename = "Series", default)]
    pub series: BTreeMap<String, Series>,
}

/// One series: its attributes and its instances keyed by SOPInstanceUID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    #[serde(rename = "DICOM", default)]
    pub dicom: DicomAttributes,
    #[serde(rename = "Instances", default)]
    pub instances: BTreeMap<String, Instance>,
}

/// One instance. WADO-RS frame N of the instance is `image_frames[N - 1]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    #[serde(rename = "DICOM", default)]
    pub dicom: DicomAttributes,
    /// VRs of attributes whose VR the keyword does not determine (private tags, `xs` VRs).
    #[serde(rename = "DICOMVRs", default)]
    pub dicom_vrs: BTreeMap<String, String>,
    /// The transfer syntax the frames are stored in; AHI omits it for its default, HTJ2K
    /// lossless RPCL (1.2.840.10008.1.2.4.202).
    #[serde(
        rename = "StoredTransferSyntaxUID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stored_transfer_syntax_uid: Option<String>,
    #[serde(
        rename = "ChecksumType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub checksum_type: Option<String>,
    #[serde(rename = "ImageFrames", default)]
    pub image_frames: Vec<ImageFrame>,
}

/// The transfer syntax AHI stores frames in when `StoredTransferSyntaxUID` is absent.
pub const AHI_DEFAULT_TRANSFER_SYNTAX: &str = "1.2.840.10008.1.2.4.202";

impl Instance {
    /// The stored transfer syntax, with AHI's default applied.
    pub fn transfer_syntax(&self) -> &str {
        self.stored_transfer_syntax_uid
            .as_deref()
            .unwrap_or(AHI_DEFAULT_TRANSFER_SYNTAX)
    }
}

/// One frame of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageFrame {
    #[serde(rename = "ID")]
    pub id: ImageFrameId,
    #[serde(
        rename = "FrameSizeInBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub frame_size_in_bytes: Option<u64>,
    #[serde(
        rename = "MinPixelValue",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub min_pixel_value: Option<i64>,
    #[serde(
        rename = "MaxPixelValue",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_pixel_value: Option<i64>,
    #[serde(
        rename = "PixelDataChecksumFromBaseToFullResolution",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub checksums: Vec<FrameChecksum>,
}

/// CRC32 of the decoded pixels at one resolution level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameChecksum {
    #[serde(rename = "Width")]
    pub width: u32,
    #[serde(rename = "Height")]
    pub height: u32,
    #[serde(rename = "Checksum")]
    pub checksum: u32,
}

impl ImageSetMetadata {
    /// Finds an instance by its series and SOP instance UIDs.
    pub fn instance(&self, series_uid: &str, sop_uid: &str) -> Option<&Instance> {
        self.study.series.get(series_uid)?.instances.get(sop_uid)
    }

    /// All instances with their series UID and SOP instance UID.
    pub fn instances(&self) -> impl Iterator<Item = (&str, &str, &Instance)> {
        self.study.series.iter().flat_map(|(se, s)| {
            s.instances
                .iter()
                .map(move |(sop, i)| (se.as_str(), sop.as_str(), i))
        })
    }

    /// The study's StudyInstanceUID, if the document has one.
    pub fn study_instance_uid(&self) -> Option<&str> {
        self.study.dicom.get("StudyInstanceUID")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document shaped like a real AHI response (values as AHI writes them).
    const SAMPLE: &str = r#"{
      "SchemaVersion": "1.1",
      "DatastoreID": "5bb1dcedf7c14ece969d7fe73c5b87a1",
      "ImageSetID": "3a19e171a2a4f56dd78abf493bd07bda",
      "Patient": {"DICOM": {"PatientID": "NOID", "PatientName": "NAME^NONE", "PatientSex": null}},
      "Study": {"DICOM": {"StudyInstanceUID": "1.2.3", "StudyDate": "20000101"},
        "Series": {"1.2.3.4": {"DICOM": {"Modality": "CT", "SeriesNumber": "1 "},
          "Instances": {"1.2.3.4.5": {
            "DICOM": {"Rows": 640, "PixelSpacing": ["0.25", "0.25 "], "WindowCenter": ["0 "]},
            "DICOMVRs": {},
            "ChecksumType": "DECOMPRESSED",
            "ImageFrames": [{"ID": "586e9e248987bf6aa761ff5b9d790473",
              "PixelDataChecksumFromBaseToFullResolution": [{"Width": 640, "Height": 640, "Checksum": 989529591}],
              "MinPixelValue": 0, "MaxPixelValue": 2025, "FrameSizeInBytes": 168371}]}}}}}
    }"#;

    #[test]
    fn parses_ahi_document_and_applies_default_syntax() {
        let doc: ImageSetMetadata = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(doc.study_instance_uid(), Some("1.2.3"));
        let inst = doc.instance("1.2.3.4", "1.2.3.4.5").unwrap();
        assert_eq!(inst.transfer_syntax(), AHI_DEFAULT_TRANSFER_SYNTAX);
        assert_eq!(inst.image_frames[0].frame_size_in_bytes, Some(168371));
        assert_eq!(inst.image_frames[0].checksums[0].checksum, 989529591);
        assert_eq!(inst.dicom["PixelSpacing"][1], "0.25 ");
        assert_eq!(doc.instances().count(), 1);
        // Round trip keeps everything.
        let again: ImageSetMetadata =
            serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert_eq!(again, doc);
    }

    #[test]
    fn rejects_invalid_frame_id() {
        let bad = SAMPLE.replace("586e9e248987bf6aa761ff5b9d790473", "frame-001");
        assert!(serde_json::from_str::<ImageSetMetadata>(&bad).is_err());
    }
}
