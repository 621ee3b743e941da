//! AHI data-plane requests and responses as they appear on the wire (restJson1): JSON bodies,
//! field names as in the API reference, timestamps as epoch seconds. Shared by the emulator
//! (which serves them) and by code that inspects raw requests (the edge signer).

use serde::{Deserialize, Serialize};

use crate::ids::{DatastoreId, ImageFrameId, ImageSetId};

/// Body of `POST /datastore/{ds}/imageSet/{is}/getImageFrame`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageFrameInformation {
    pub image_frame_id: ImageFrameId,
}

/// Body of `POST /datastore/{ds}/searchImageSets` (the `searchCriteria` structure itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchCriteria {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<SearchFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
}

/// One filter: `EQUAL` takes one value, `BETWEEN` two (lower and upper bound).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchFilter {
    pub values: Vec<SearchValue>,
    pub operator: Operator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    #[serde(rename = "EQUAL")]
    Equal,
    #[serde(rename = "BETWEEN")]
    Between,
}

/// A search value: a union, exactly one field set (`SearchByAttributeValue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SearchValue {
    #[serde(rename = "DICOMPatientId")]
    PatientId(String),
    #[serde(rename = "DICOMAccessionNumber")]
    AccessionNumber(String),
    #[serde(rename = "DICOMStudyId")]
    StudyId(String),
    #[serde(rename = "DICOMStudyInstanceUID")]
    StudyInstanceUid(String),
    #[serde(rename = "DICOMSeriesInstanceUID")]
    SeriesInstanceUid(String),
    /// Epoch seconds.
    #[serde(rename = "createdAt")]
    CreatedAt(f64),
    /// Epoch seconds.
    #[serde(rename = "updatedAt")]
    UpdatedAt(f64),
    #[serde(rename = "DICOMStudyDateAndTime")]
    StudyDateAndTime(StudyDateAndTime),
    #[serde(rename = "isPrimary")]
    IsPrimary(bool),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyDateAndTime {
    /// `YYYYMMDD`.
    #[serde(rename = "DICOMStudyDate")]
    pub study_date: String,
    /// `HHMMSS[.ffffff]`, optional.
    #[serde(
        rename = "DICOMStudyTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub study_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    pub sort_order: SortOrder,
    pub sort_field: SortField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortOrder {
    #[serde(rename = "ASC")]
    Asc,
    #[serde(rename = "DESC")]
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortField {
    #[serde(rename = "updatedAt")]
    UpdatedAt,
    #[serde(rename = "createdAt")]
    CreatedAt,
    #[serde(rename = "DICOMStudyDateAndTime")]
    StudyDateAndTime,
}

/// Response of `SearchImageSets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchImageSetsResponse {
    pub image_sets_metadata_summaries: Vec<ImageSetSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One search hit (`ImageSetsMetadataSummary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSetSummary {
    pub image_set_id: ImageSetId,
    pub version: u32,
    pub created_at: f64,
    pub updated_at: f64,
    #[serde(rename = "DICOMTags")]
    pub dicom_tags: DicomTags,
    pub is_primary: bool,
}

/// The study- and series-level tags AHI indexes for search and returns in summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DicomTags {
    #[serde(
        rename = "DICOMPatientId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub patient_id: Option<String>,
    #[serde(
        rename = "DICOMPatientName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub patient_name: Option<String>,
    #[serde(
        rename = "DICOMPatientBirthDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub patient_birth_date: Option<String>,
    #[serde(
        rename = "DICOMPatientSex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub patient_sex: Option<String>,
    #[serde(
        rename = "DICOMStudyInstanceUID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub study_instance_uid: Option<String>,
    #[serde(
        rename = "DICOMStudyId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub study_id: Option<String>,
    #[serde(
        rename = "DICOMStudyDescription",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub study_description: Option<String>,
    #[serde(rename = "DICOMNumberOfStudyRelatedSeries", default)]
    pub number_of_study_related_series: u32,
    #[serde(rename = "DICOMNumberOfStudyRelatedInstances", default)]
    pub number_of_study_related_instances: u32,
    #[serde(
        rename = "DICOMAccessionNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub accession_number: Option<String>,
    #[serde(
        rename = "DICOMSeriesInstanceUID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub series_instance_uid: Option<String>,
    #[serde(
        rename = "DICOMSeriesModality",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub series_modality: Option<String>,
    #[serde(
        rename = "DICOMSeriesBodyPart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub series_body_part: Option<String>,
    #[serde(
        rename = "DICOMSeriesNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub series_number: Option<i32>,
    #[serde(
        rename = "DICOMStudyDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub study_date: Option<String>,
    #[serde(
        rename = "DICOMStudyTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub study_time: Option<String>,
}

/// Response of `GetImageSet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetImageSetResponse {
    pub datastore_id: DatastoreId,
    pub image_set_id: ImageSetId,
    pub version_id: String,
    pub image_set_state: String,
    pub image_set_workflow_status: String,
    pub created_at: f64,
    pub updated_at: f64,
    pub image_set_arn: String,
    pub is_primary: bool,
}

/// The AHI error types and their HTTP status codes (restJson1: the status, the header
/// `x-amzn-ErrorType` and a body `{"message": …}`). This is the one table of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Validation,
    ResourceNotFound,
    AccessDenied,
    Throttling,
    Conflict,
    InternalServer,
    ServiceQuotaExceeded,
    /// Signature missing from the request.
    MissingAuthenticationToken,
    /// Signature does not match, is expired, or is scoped to another service or region.
    InvalidSignature,
    /// Unknown access key or invalid session token.
    UnrecognizedClient,
    /// `Authorization` header present but not well formed.
    IncompleteSignature,
    /// No operation at this method and path.
    UnknownOperation,
}

impl ErrorKind {
    const TABLE: [(ErrorKind, &'static str, u16); 12] = [
        (ErrorKind::Validation, "ValidationException", 400),
        (
            ErrorKind::ResourceNotFound,
            "ResourceNotFoundException",
            404,
        ),
        (ErrorKind::AccessDenied, "AccessDeniedException", 403),
        (ErrorKind::Throttling, "ThrottlingException", 429),
        (ErrorKind::Conflict, "ConflictException", 409),
        (ErrorKind::InternalServer, "InternalServerException", 500),
        (
            ErrorKind::ServiceQuotaExceeded,
            "ServiceQuotaExceededException",
            402,
        ),
        (
            ErrorKind::MissingAuthenticationToken,
            "MissingAuthenticationTokenException",
            403,
        ),
        (
            ErrorKind::InvalidSignature,
            "InvalidSignatureException",
            403,
        ),
        (
            ErrorKind::UnrecognizedClient,
            "UnrecognizedClientException",
            403,
        ),
        (
            ErrorKind::IncompleteSignature,
            "IncompleteSignatureException",
            400,
        ),
        (
            ErrorKind::UnknownOperation,
            "UnknownOperationException",
            404,
        ),
    ];

    fn row(self) -> (ErrorKind, &'static str, u16) {
        Self::TABLE
            .into_iter()
            .find(|(k, _, _)| *k == self)
            .unwrap_or((self, "InternalServerException", 500))
    }

    /// The value of `x-amzn-ErrorType`.
    pub fn type_name(self) -> &'static str {
        self.row().1
    }

    /// The HTTP status code AHI answers with.
    pub fn status(self) -> u16 {
        self.row().2
    }

    /// The error an AHI answer of `status` stands for: its `x-amzn-ErrorType` when that
    /// names a known type, else the type AHI answers with that status (any other failure
    /// counts as an internal error).
    pub fn of_answer(status: u16, error_type: Option<&str>) -> Self {
        error_type
            .and_then(Self::from_type_name)
            .unwrap_or(match status {
                400 => ErrorKind::Validation,
                402 => ErrorKind::ServiceQuotaExceeded,
                403 => ErrorKind::AccessDenied,
                404 => ErrorKind::ResourceNotFound,
                409 => ErrorKind::Conflict,
                429 => ErrorKind::Throttling,
                _ => ErrorKind::InternalServer,
            })
    }

    /// Parses an `x-amzn-ErrorType` value; AWS may append `:<uri>` after the name.
    pub fn from_type_name(name: &str) -> Option<Self> {
        let name = name.split(':').next().unwrap_or(name);
        Self::TABLE
            .into_iter()
            .find(|(_, n, _)| *n == name)
            .map(|(k, _, _)| k)
    }
}

/// An AHI error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.type_name())]
pub struct AhiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AhiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The JSON body AHI sends with the error.
    pub fn body(&self) -> String {
        serde_json::json!({ "message": self.message }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_criteria_matches_the_sdk_wire_shape() {
        // What aws-sdk-medicalimaging serialises for an EQUAL on study UID plus a sort.
        let wire = r#"{"filters":[{"values":[{"DICOMStudyInstanceUID":"1.2.3"}],"operator":"EQUAL"}],"sort":{"sortOrder":"ASC","sortField":"DICOMStudyDateAndTime"}}"#;
        let c: SearchCriteria = serde_json::from_str(wire).unwrap();
        assert_eq!(
            c.filters[0].values[0],
            SearchValue::StudyInstanceUid("1.2.3".into())
        );
        assert_eq!(
            c.sort.as_ref().unwrap().sort_field,
            SortField::StudyDateAndTime
        );
        let between = r#"{"filters":[{"values":[{"DICOMStudyDateAndTime":{"DICOMStudyDate":"19900101"}},{"DICOMStudyDateAndTime":{"DICOMStudyDate":"20261231","DICOMStudyTime":"235959"}}],"operator":"BETWEEN"}]}"#;
        let c: SearchCriteria = serde_json::from_str(between).unwrap();
        assert_eq!(c.filters[0].operator, Operator::Between);
        assert!(
            serde_json::from_str::<SearchCriteria>(
                r#"{"filters":[{"values":[{"Nope":"x"}],"operator":"EQUAL"}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn error_table_round_trips() {
        for (kind, name, status) in ErrorKind::TABLE {
            assert_eq!(kind.type_name(), name);
            assert_eq!(kind.status(), status);
            assert_eq!(ErrorKind::from_type_name(name), Some(kind));
        }
        assert_eq!(
            ErrorKind::from_type_name("ThrottlingException:http://internal.amazon.com/coral/"),
            Some(ErrorKind::Throttling)
        );
        assert_eq!(ErrorKind::from_type_name("Bogus"), None);
    }

    #[test]
    fn frame_information_is_strict() {
        let ok: ImageFrameInformation =
            serde_json::from_str(r#"{"imageFrameId":"0123456789abcdef0123456789abcdef"}"#).unwrap();
        assert_eq!(
            ok.image_frame_id.as_str(),
            "0123456789abcdef0123456789abcdef"
        );
        for bad in [
            r#"{}"#,
            r#"{"imageFrameId":"x"}"#,
            r#"{"imageFrameId":1}"#,
            "[]",
            "nope",
        ] {
            assert!(
                serde_json::from_str::<ImageFrameInformation>(bad).is_err(),
                "{bad}"
            );
        }
    }
}

/// Why a call to HealthImaging failed, as the client reports it (part of the model, so
/// that code without the client, such as the edge's error table, can classify failures).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// AHI answered with an error.
    #[error("{0}")]
    Service(AhiError),
    /// No answer within the attempt or operation timeout.
    #[error("HealthImaging did not answer in time")]
    Timeout,
    /// The endpoint could not be reached, or the connection broke.
    #[error("HealthImaging is unreachable: {0}")]
    Unreachable(String),
    /// AHI answered, but not with what the API promises.
    #[error("unexpected response from HealthImaging: {0}")]
    InvalidResponse(String),
}

impl ClientError {
    /// The AHI error type, when AHI answered with one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Service(e) => Some(e.kind),
            _ => None,
        }
    }
}
