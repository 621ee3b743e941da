//! The AHI client: `aws-sdk-medicalimaging` with the standard credential chain against AWS,
//! or with an endpoint override against the emulator (or any AHI-compatible endpoint).
//!
//! The SDK prefixes every image-set call's host with `runtime-` (an endpoint prefix in the
//! service model), also for a custom endpoint; against `http://127.0.0.1:P` that would give
//! `runtime-127.0.0.1`. An interceptor removes the prefix before signing when an endpoint is
//! given, so the signature covers the host actually contacted.

use std::io::Read;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_medicalimaging::Client;
use aws_sdk_medicalimaging::config::{Credentials, Region};
use aws_sdk_medicalimaging::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_medicalimaging::types as sdk;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;

use crate::api::{
    self, AhiError, DicomTags, ErrorKind, GetImageSetResponse, ImageSetSummary, SearchCriteria,
    SearchImageSetsResponse,
};
use crate::ids::{DatastoreId, ImageFrameId, ImageSetId};
use crate::metadata::ImageSetMetadata;

pub use crate::api::ClientError;

fn map_err<E, R>(err: SdkError<E, R>) -> ClientError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::TimeoutError(_) => ClientError::Timeout,
        SdkError::DispatchFailure(f) if f.is_timeout() => ClientError::Timeout,
        SdkError::DispatchFailure(f) => ClientError::Unreachable(match f.as_connector_error() {
            Some(c) => error_chain(c),
            None => "dispatch failure".into(),
        }),
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let kind = e
                .code()
                .and_then(ErrorKind::from_type_name)
                .unwrap_or(ErrorKind::InternalServer);
            ClientError::Service(AhiError::new(kind, e.message().unwrap_or("").to_owned()))
        }
        SdkError::ResponseError(_) => {
            ClientError::InvalidResponse("the response could not be parsed".into())
        }
        _ => ClientError::InvalidResponse(err.to_string()),
    }
}

/// An error and its sources, `outer: inner: …`.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Removes the `runtime-` endpoint prefix from the host of the configured endpoint.
#[derive(Debug)]
struct StripHostPrefix {
    prefixed: String,
    plain: String,
}

impl Intercept for StripHostPrefix {
    fn name(&self) -> &'static str {
        "StripHostPrefix"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if let Some(rest) = request.uri().strip_prefix(&self.prefixed) {
            let uri = format!("{}{}", self.plain, rest);
            request.set_uri(uri)?;
        }
        Ok(())
    }
}

/// Why a response body could not be read: the SDK's stalled-stream protection ends a body
/// that stops arriving (its error type is private, so it is known by its message), which is
/// a timeout (504); anything else broke the connection (502).
fn body_failed(e: aws_smithy_types::byte_stream::error::Error) -> ClientError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.to_string()
            .starts_with("minimum throughput was specified")
        {
            return ClientError::Timeout;
        }
        source = s.source();
    }
    ClientError::Unreachable(e.to_string())
}

/// Timeouts and retries for the SDK.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Attempts per call, including the first (1 disables retries).
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl ClientOptions {
    fn timeouts(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_attempt_timeout(self.attempt_timeout)
            .connect_timeout(self.connect_timeout)
            .build()
    }
}

/// A frame as AHI returns it.
#[derive(Debug, Clone)]
pub struct FrameBytes {
    pub content_type: String,
    pub bytes: Bytes,
}

/// A frame as AHI returns it, in the pieces it arrived in (no copy into one buffer).
#[derive(Debug, Clone)]
pub struct FrameSegments {
    pub content_type: String,
    pub segments: Vec<Bytes>,
}

impl FrameSegments {
    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.segments.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The AHI data-plane client.
#[derive(Debug, Clone)]
pub struct HealthImagingClient {
    inner: Client,
}

impl HealthImagingClient {
    /// The HTTP client of every AHI client: hyper's pool with AWS's default TLS, but idle
    /// connections closed after 20 s (hyper's default keeps them 90 s, so a burst of
    /// concurrent frame requests left hundreds of sockets open long after it) and at most 64
    /// kept per host (more than a viewer's concurrent frames need).
    fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
        use aws_smithy_http_client::tls;
        aws_smithy_http_client::Builder::new()
            .pool_idle_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(64)
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https()
    }

    /// Real AHI: region, credentials and endpoint from the standard AWS chain.
    pub async fn from_env(region: Option<String>, options: &ClientOptions) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(Self::http_client())
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts))
            .timeout_config(options.timeouts());
        if let Some(r) = region {
            loader = loader.region(Region::new(r));
        }
        let conf = loader.load().await;
        Self {
            inner: Client::new(&conf),
        }
    }

    /// An AHI-compatible endpoint such as the emulator (`http://127.0.0.1:PORT`), with
    /// static credentials.
    pub fn for_endpoint(
        endpoint: &str,
        region: &str,
        credentials: Credentials,
        options: &ClientOptions,
    ) -> Self {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", &endpoint));
        let conf = aws_sdk_medicalimaging::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&endpoint)
            .http_client(Self::http_client())
            .credentials_provider(credentials)
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts))
            .timeout_config(options.timeouts())
            .interceptor(StripHostPrefix {
                prefixed: format!("{scheme}://runtime-{host}"),
                plain: format!("{scheme}://{host}"),
            })
            .build();
        Self {
            inner: Client::from_conf(conf),
        }
    }

    /// `GetImageFrame`: the frame's bytes as stored, with AHI's content type.
    pub async fn get_image_frame(
        &self,
        datastore: &DatastoreId,
        image_set: &ImageSetId,
        frame: &ImageFrameId,
    ) -> Result<FrameBytes, ClientError> {
        let f = self
            .get_image_frame_segments(datastore, image_set, frame)
            .await?;
        let bytes = match <[Bytes; 1]>::try_from(f.segments) {
            Ok([one]) => one,
            Err(many) => many.concat().into(),
        };
        Ok(FrameBytes {
            content_type: f.content_type,
            bytes,
        })
    }

    /// `GetImageFrame`, keeping the body in the segments it was received in, for callers
    /// that write it out again (saves copying every frame once).
    pub async fn get_image_frame_segments(
        &self,
        datastore: &DatastoreId,
        image_set: &ImageSetId,
        frame: &ImageFrameId,
    ) -> Result<FrameSegments, ClientError> {
        let info = sdk::ImageFrameInformation::builder()
            .image_frame_id(frame.as_str())
            .build()
            .map_err(|e| ClientError::InvalidResponse(e.to_string()))?;
        let out = self
            .inner
            .get_image_frame()
            .datastore_id(datastore.as_str())
            .image_set_id(image_set.as_str())
            .image_frame_information(info)
            .send()
            .await
            .map_err(map_err)?;
        let content_type = out
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let segments = out
            .image_frame_blob
            .collect()
            .await
            .map_err(body_failed)?
            .into_segments()
            .collect();
        Ok(FrameSegments {
            content_type,
            segments,
        })
    }

    /// `GetImageSetMetadata`, decompressed and parsed.
    pub async fn get_image_set_metadata(
        &self,
        datastore: &DatastoreId,
        image_set: &ImageSetId,
        version: Option<u32>,
    ) -> Result<ImageSetMetadata, ClientError> {
        let out = self
            .inner
            .get_image_set_metadata()
            .datastore_id(datastore.as_str())
            .image_set_id(image_set.as_str())
            .set_version_id(version.map(|v| v.to_string()))
            .send()
            .await
            .map_err(map_err)?;
        let gzipped = out.content_encoding() == Some("gzip");
        let body = out
            .image_set_metadata_blob
            .collect()
            .await
            .map_err(body_failed)?
            .into_bytes();
        let json = if gzipped {
            let mut s = Vec::with_capacity(body.len() * 8);
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut s)
                .map_err(|e| {
                    ClientError::InvalidResponse(format!("metadata is not valid gzip: {e}"))
                })?;
            s
        } else {
            body.to_vec()
        };
        serde_json::from_slice(&json)
            .map_err(|e| ClientError::InvalidResponse(format!("metadata document: {e}")))
    }

    /// `SearchImageSets`, one page.
    pub async fn search_image_sets(
        &self,
        datastore: &DatastoreId,
        criteria: &SearchCriteria,
        max_results: Option<u32>,
        next_token: Option<String>,
    ) -> Result<SearchImageSetsResponse, ClientError> {
        let out = self
            .inner
            .search_image_sets()
            .datastore_id(datastore.as_str())
            .search_criteria(to_sdk_criteria(criteria)?)
            .set_max_results(max_results.map(|m| m as i32))
            .set_next_token(next_token)
            .send()
            .await
            .map_err(map_err)?;
        let summaries = out
            .image_sets_metadata_summaries()
            .iter()
            .map(from_sdk_summary)
            .collect::<Result<_, _>>()?;
        Ok(SearchImageSetsResponse {
            image_sets_metadata_summaries: summaries,
            sort: criteria.sort.clone(),
            next_token: out.next_token().map(str::to_owned),
        })
    }

    /// All pages of a search.
    pub async fn search_all(
        &self,
        datastore: &DatastoreId,
        criteria: &SearchCriteria,
    ) -> Result<Vec<ImageSetSummary>, ClientError> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .search_image_sets(datastore, criteria, Some(50), token)
                .await?;
            all.extend(page.image_sets_metadata_summaries);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    /// `GetImageSet`.
    pub async fn get_image_set(
        &self,
        datastore: &DatastoreId,
        image_set: &ImageSetId,
        version: Option<u32>,
    ) -> Result<GetImageSetResponse, ClientError> {
        let out = self
            .inner
            .get_image_set()
            .datastore_id(datastore.as_str())
            .image_set_id(image_set.as_str())
            .set_version_id(version.map(|v| v.to_string()))
            .send()
            .await
            .map_err(map_err)?;
        let invalid = |what: &str| ClientError::InvalidResponse(format!("GetImageSet: {what}"));
        Ok(GetImageSetResponse {
            datastore_id: out
                .datastore_id()
                .parse()
                .map_err(|_| invalid("datastoreId"))?,
            image_set_id: out
                .image_set_id()
                .parse()
                .map_err(|_| invalid("imageSetId"))?,
            version_id: out.version_id().to_owned(),
            image_set_state: out.image_set_state().as_str().to_owned(),
            image_set_workflow_status: out
                .image_set_workflow_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            created_at: out
                .created_at()
                .map(|t| t.as_secs_f64())
                .unwrap_or_default(),
            updated_at: out
                .updated_at()
                .map(|t| t.as_secs_f64())
                .unwrap_or_default(),
            image_set_arn: out.image_set_arn().unwrap_or_default().to_owned(),
            is_primary: out.is_primary().unwrap_or(true),
        })
    }
}

fn to_sdk_value(v: &api::SearchValue) -> Result<sdk::SearchByAttributeValue, ClientError> {
    use aws_smithy_types::DateTime;
    use sdk::SearchByAttributeValue as V;
    Ok(match v {
        api::SearchValue::PatientId(s) => V::DicomPatientId(s.clone()),
        api::SearchValue::AccessionNumber(s) => V::DicomAccessionNumber(s.clone()),
        api::SearchValue::StudyId(s) => V::DicomStudyId(s.clone()),
        api::SearchValue::StudyInstanceUid(s) => V::DicomStudyInstanceUid(s.clone()),
        api::SearchValue::SeriesInstanceUid(s) => V::DicomSeriesInstanceUid(s.clone()),
        api::SearchValue::CreatedAt(t) => V::CreatedAt(DateTime::from_secs_f64(*t)),
        api::SearchValue::UpdatedAt(t) => V::UpdatedAt(DateTime::from_secs_f64(*t)),
        api::SearchValue::IsPrimary(b) => V::IsPrimary(*b),
        api::SearchValue::StudyDateAndTime(d) => V::DicomStudyDateAndTime(
            sdk::DicomStudyDateAndTime::builder()
                .dicom_study_date(&d.study_date)
                .set_dicom_study_time(d.study_time.clone())
                .build()
                .map_err(|e| ClientError::InvalidResponse(e.to_string()))?,
        ),
    })
}

fn to_sdk_criteria(c: &SearchCriteria) -> Result<sdk::SearchCriteria, ClientError> {
    let invalid = |e: aws_smithy_types::error::operation::BuildError| {
        ClientError::InvalidResponse(e.to_string())
    };
    let mut b = sdk::SearchCriteria::builder();
    for f in &c.filters {
        let op = match f.operator {
            api::Operator::Equal => sdk::Operator::Equal,
            api::Operator::Between => sdk::Operator::Between,
        };
        let filter = sdk::SearchFilter::builder()
            .set_values(Some(
                f.values
                    .iter()
                    .map(to_sdk_value)
                    .collect::<Result<_, _>>()?,
            ))
            .operator(op)
            .build()
            .map_err(invalid)?;
        b = b.filters(filter);
    }
    if let Some(s) = &c.sort {
        let field = match s.sort_field {
            api::SortField::UpdatedAt => sdk::SortField::UpdatedAt,
            api::SortField::CreatedAt => sdk::SortField::CreatedAt,
            api::SortField::StudyDateAndTime => sdk::SortField::DicomStudyDateAndTime,
        };
        let order = match s.sort_order {
            api::SortOrder::Asc => sdk::SortOrder::Asc,
            api::SortOrder::Desc => sdk::SortOrder::Desc,
        };
        b = b.sort(
            sdk::Sort::builder()
                .sort_field(field)
                .sort_order(order)
                .build()
                .map_err(invalid)?,
        );
    }
    Ok(b.build())
}

fn from_sdk_summary(s: &sdk::ImageSetsMetadataSummary) -> Result<ImageSetSummary, ClientError> {
    let t = s.dicom_tags();
    Ok(ImageSetSummary {
        image_set_id: s
            .image_set_id()
            .parse()
            .map_err(|_| ClientError::InvalidResponse("imageSetId".into()))?,
        version: s.version().unwrap_or(1).max(0) as u32,
        created_at: s.created_at().map(|t| t.as_secs_f64()).unwrap_or_default(),
        updated_at: s.updated_at().map(|t| t.as_secs_f64()).unwrap_or_default(),
        dicom_tags: DicomTags {
            patient_id: t.and_then(|t| t.dicom_patient_id()).map(str::to_owned),
            patient_name: t.and_then(|t| t.dicom_patient_name()).map(str::to_owned),
            patient_birth_date: t
                .and_then(|t| t.dicom_patient_birth_date())
                .map(str::to_owned),
            patient_sex: t.and_then(|t| t.dicom_patient_sex()).map(str::to_owned),
            study_instance_uid: t
                .and_then(|t| t.dicom_study_instance_uid())
                .map(str::to_owned),
            study_id: t.and_then(|t| t.dicom_study_id()).map(str::to_owned),
            study_description: t
                .and_then(|t| t.dicom_study_description())
                .map(str::to_owned),
            number_of_study_related_series: t.map_or(0, |t| {
                t.dicom_number_of_study_related_series().max(0) as u32
            }),
            number_of_study_related_instances: t.map_or(0, |t| {
                t.dicom_number_of_study_related_instances().max(0) as u32
            }),
            accession_number: t
                .and_then(|t| t.dicom_accession_number())
                .map(str::to_owned),
            series_instance_uid: t
                .and_then(|t| t.dicom_series_instance_uid())
                .map(str::to_owned),
            series_modality: t.and_then(|t| t.dicom_series_modality()).map(str::to_owned),
            series_body_part: t
                .and_then(|t| t.dicom_series_body_part())
                .map(str::to_owned),
            series_number: t.and_then(|t| t.dicom_series_number()),
            study_date: t.and_then(|t| t.dicom_study_date()).map(str::to_owned),
            study_time: t.and_then(|t| t.dicom_study_time()).map(str::to_owned),
        },
        is_primary: s.is_primary().unwrap_or(true),
    })
}
