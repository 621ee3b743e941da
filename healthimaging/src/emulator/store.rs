//! The emulator's data: datastores of image sets, each with its versions and frames, and the
//! rules AHI applies on import and search.
//!
//! Import (one datastore per data folder): every first-level subfolder is one import job,
//! files directly in the folder form a job of their own; jobs are applied in name order. The
//! instances of one study in one job become a new image set when the study has none yet; it
//! is the study's primary image set. A later job for the same study is merged into the
//! primary image set as a new version when it agrees with it (no SOP instance already
//! present, same PatientID); otherwise it becomes a separate image set with
//! `isPrimary: false`, as AHI does for conflicting data. A job that holds one SOP instance
//! twice keeps both: the second copy goes to a non-primary image set of its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use bytes::Bytes;
use serde_json::Value as Json;

use super::frame_bytes::FrameBytes;
use super::import::ImportedInstance;
use crate::api::{
    AhiError, DicomTags, ErrorKind, GetImageSetResponse, ImageSetSummary, Operator, SearchCriteria,
    SearchImageSetsResponse, SearchValue, SortField, SortOrder,
};
use crate::ids::{DatastoreId, ImageFrameId, ImageSetId};
use crate::media::frame_content_type;
use crate::metadata::{ImageFrame, ImageSetMetadata, Instance, Level, Study};

/// The AWS account the emulator pretends to be in (used in ARNs only).
pub const ACCOUNT_ID: &str = "000000000000";

/// One stored frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub bytes: FrameBytes,
    pub content_type: &'static str,
}

/// One version of an image set.
#[derive(Debug)]
pub struct ImageSetVersion {
    pub version: u32,
    pub updated_at: f64,
    /// The gzip-compressed JSON served by GetImageSetMetadata: the only copy of the document
    /// kept (see [`ImageSetVersion::metadata`]), so that a large folder costs a few hundred
    /// bytes of memory per instance rather than its parsed attributes.
    pub metadata_gz: Bytes,
    pub tags: DicomTags,
    /// The series the version holds, for searches by SeriesInstanceUID.
    series: BTreeSet<String>,
}

impl ImageSetVersion {
    /// The metadata document, parsed again from what GetImageSetMetadata serves.
    pub fn metadata(&self) -> ImageSetMetadata {
        let json = flate2::read::GzDecoder::new(self.metadata_gz.as_ref());
        // The document was written by `build_version` from an `ImageSetMetadata` of files
        // whose nesting the import bounds (`import::MAX_SEQUENCE_DEPTH`) within serde_json's.
        serde_json::from_reader(json).expect("stored metadata parses")
    }
}

#[derive(Debug)]
pub struct ImageSet {
    pub id: ImageSetId,
    pub is_primary: bool,
    pub created_at: f64,
    pub versions: Vec<ImageSetVersion>,
    /// Frames of every version (frames are immutable; new versions add frames).
    pub frames: HashMap<ImageFrameId, Frame>,
}

impl ImageSet {
    pub fn latest(&self) -> &ImageSetVersion {
        // Invariant: an image set is created with its first version.
        &self.versions[self.versions.len() - 1]
    }

    /// The requested version, or the latest.
    pub fn version(&self, v: Option<u32>) -> Result<&ImageSetVersion, AhiError> {
        match v {
            None => Ok(self.latest()),
            Some(n) => self
                .versions
                .iter()
                .find(|x| x.version == n)
                .ok_or_else(|| {
                    not_found(format!(
                        "Image set version {n} does not exist for image set {}.",
                        self.id
                    ))
                }),
        }
    }
}

/// A copy of a SOP instance that one import job held more than once, and the non-primary
/// image set it went to.
#[derive(Debug, Clone)]
pub struct Duplicate {
    pub path: std::path::PathBuf,
    pub sop_uid: String,
    pub image_set: ImageSetId,
}

#[derive(Debug)]
pub struct Datastore {
    pub id: DatastoreId,
    pub name: String,
    pub region: String,
    pub image_sets: BTreeMap<ImageSetId, ImageSet>,
}

pub fn not_found(msg: impl Into<String>) -> AhiError {
    AhiError::new(ErrorKind::ResourceNotFound, msg)
}

fn validation(msg: impl Into<String>) -> AhiError {
    AhiError::new(ErrorKind::Validation, msg)
}

fn str_attr(attrs: &serde_json::Map<String, Json>, key: &str) -> Option<String> {
    match attrs.get(key)? {
        Json::String(s) => Some(s.trim().to_owned()),
        Json::Array(a) => a.first()?.as_str().map(|s| s.trim().to_owned()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Datastore {
    /// A datastore whose ID is derived from its name, so it is the same on every run.
    pub fn new(name: &str, region: &str) -> Self {
        Self {
            id: DatastoreId::derive(&[name.as_bytes()]),
            name: name.to_owned(),
            region: region.to_owned(),
            image_sets: BTreeMap::new(),
        }
    }

    pub fn image_set(&self, id: &ImageSetId) -> Result<&ImageSet, AhiError> {
        self.image_sets.get(id).ok_or_else(|| {
            not_found(format!(
                "Image set {id} does not exist in datastore {}.",
                self.id
            ))
        })
    }

    /// Applies one import job; `clock` supplies strictly increasing timestamps. Returns the
    /// instances the job held more than once: HealthImaging never drops a SOP instance it is
    /// given and keeps conflicting data as non-primary image sets ("Understanding image sets"
    /// in its developer guide), so the second copy of an instance in one job goes to a
    /// non-primary image set of its own (the third to another, and so on).
    pub fn import_job(
        &mut self,
        job: &str,
        instances: Vec<ImportedInstance>,
        clock: &mut impl FnMut() -> f64,
    ) -> Vec<Duplicate> {
        let mut by_study: BTreeMap<String, Vec<Vec<ImportedInstance>>> = BTreeMap::new();
        for i in instances {
            let rounds = by_study.entry(i.study_uid.clone()).or_default();
            let round = rounds
                .iter()
                .position(|r| r.iter().all(|x| x.sop_uid != i.sop_uid))
                .unwrap_or(rounds.len());
            if round == rounds.len() {
                rounds.push(Vec::new());
            }
            rounds[round].push(i);
        }
        let mut duplicates = Vec::new();
        for (study_uid, rounds) in by_study {
            for (round, group) in rounds.into_iter().enumerate() {
                if round == 0 {
                    self.import_study(job, &study_uid, group, clock);
                    continue;
                }
                let id = ImageSetId::derive(&[
                    self.id.as_str().as_bytes(),
                    study_uid.as_bytes(),
                    job.as_bytes(),
                    &round.to_be_bytes(),
                ]);
                duplicates.extend(group.iter().map(|i| Duplicate {
                    path: i.path.clone(),
                    sop_uid: i.sop_uid.clone(),
                    image_set: id.clone(),
                }));
                self.insert_image_set(id, false, &group, clock);
            }
        }
        duplicates
    }

    /// The instances of one study in one job (each SOP instance once): merged into the
    /// study's primary image set as a new version when they agree with it, else a new image
    /// set, primary when the study had none.
    fn import_study(
        &mut self,
        job: &str,
        study_uid: &str,
        group: Vec<ImportedInstance>,
        clock: &mut impl FnMut() -> f64,
    ) {
        let primary = self.image_sets.values_mut().find(|s| {
            s.is_primary && s.latest().tags.study_instance_uid.as_deref() == Some(study_uid)
        });
        let base = primary.as_ref().map(|set| set.latest().metadata());
        match (primary, base) {
            (Some(set), Some(base)) if agrees(&base, &group) => {
                let now = clock();
                let version = set.latest().version + 1;
                let (metadata, frames) = merge_metadata(&base, &group, &set.id);
                set.frames.extend(frames);
                set.versions.push(build_version(version, now, metadata));
            }
            (other, _) => {
                let is_primary = other.is_none();
                let id = ImageSetId::derive(&[
                    self.id.as_str().as_bytes(),
                    study_uid.as_bytes(),
                    job.as_bytes(),
                ]);
                self.insert_image_set(id, is_primary, &group, clock);
            }
        }
    }

    fn insert_image_set(
        &mut self,
        id: ImageSetId,
        is_primary: bool,
        group: &[ImportedInstance],
        clock: &mut impl FnMut() -> f64,
    ) {
        let now = clock();
        let (metadata, frames) = new_metadata(group, &self.id, &id);
        let set = ImageSet {
            id: id.clone(),
            is_primary,
            created_at: now,
            versions: vec![build_version(1, now, metadata)],
            frames,
        };
        self.image_sets.insert(id, set);
    }

    /// `GetImageSet`.
    pub fn get_image_set(
        &self,
        id: &ImageSetId,
        version: Option<u32>,
    ) -> Result<GetImageSetResponse, AhiError> {
        let set = self.image_set(id)?;
        let v = set.version(version)?;
        Ok(GetImageSetResponse {
            datastore_id: self.id.clone(),
            image_set_id: set.id.clone(),
            version_id: v.version.to_string(),
            image_set_state: "ACTIVE".into(),
            image_set_workflow_status: "IMPORTED".into(),
            created_at: set.created_at,
            updated_at: v.updated_at,
            image_set_arn: format!(
                "arn:aws:medical-imaging:{}:{ACCOUNT_ID}:datastore/{}/imageset/{}",
                self.region, self.id, set.id
            ),
            is_primary: set.is_primary,
        })
    }

    /// `SearchImageSets`: filters are ANDed, each matched against the latest version.
    pub fn search(
        &self,
        criteria: &SearchCriteria,
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<SearchImageSetsResponse, AhiError> {
        validate_criteria(criteria)?;
        let mut hits: Vec<&ImageSet> = self
            .image_sets
            .values()
            .filter(|s| {
                criteria
                    .filters
                    .iter()
                    .all(|f| matches_filter(s, f.operator, &f.values))
            })
            .collect();
        let (field, order) = criteria
            .sort
            .as_ref()
            .map_or((SortField::UpdatedAt, SortOrder::Desc), |s| {
                (s.sort_field, s.sort_order)
            });
        hits.sort_by(|a, b| {
            let key = |s: &ImageSet| -> (String, String) {
                let v = s.latest();
                let primary = match field {
                    SortField::UpdatedAt => format!("{:020.6}", v.updated_at),
                    SortField::CreatedAt => format!("{:020.6}", s.created_at),
                    SortField::StudyDateAndTime => format!(
                        "{}{}",
                        v.tags.study_date.clone().unwrap_or_default(),
                        v.tags.study_time.clone().unwrap_or_default()
                    ),
                };
                (primary, s.id.to_string())
            };
            let ord = key(a).cmp(&key(b));
            if order == SortOrder::Desc {
                ord.reverse()
            } else {
                ord
            }
        });

        let fingerprint = criteria_fingerprint(criteria);
        let start = match next_token {
            None => 0,
            Some(t) => parse_token(t, &fingerprint)?,
        };
        let end = (start + max_results).min(hits.len());
        let page = hits.get(start..end).unwrap_or(&[]);
        let next_token = (end < hits.len()).then(|| make_token(end, &fingerprint));
        Ok(SearchImageSetsResponse {
            image_sets_metadata_summaries: page
                .iter()
                .map(|s| {
                    let v = s.latest();
                    ImageSetSummary {
                        image_set_id: s.id.clone(),
                        version: v.version,
                        created_at: s.created_at,
                        updated_at: v.updated_at,
                        dicom_tags: v.tags.clone(),
                        is_primary: s.is_primary,
                    }
                })
                .collect(),
            sort: criteria.sort.clone(),
            next_token,
        })
    }
}

fn agrees(primary: &ImageSetMetadata, group: &[ImportedInstance]) -> bool {
    let patient_id = str_attr(&primary.patient.dicom, "PatientID");
    group.iter().all(|i| {
        primary
            .study
            .series
            .values()
            .all(|s| !s.instances.contains_key(&i.sop_uid))
            && str_attr(&i.patient, "PatientID") == patient_id
    })
}

type Built = (ImageSetMetadata, HashMap<ImageFrameId, Frame>);

fn new_metadata(group: &[ImportedInstance], ds: &DatastoreId, id: &ImageSetId) -> Built {
    let empty = ImageSetMetadata {
        schema_version: "1.1".into(),
        datastore_id: ds.clone(),
        image_set_id: id.clone(),
        patient: Level::default(),
        study: Study::default(),
    };
    merge_metadata(&empty, group, id)
}

/// Adds instances to a copy of `base`. Level attributes already present are kept (the first
/// instance of a level defines it).
fn merge_metadata(base: &ImageSetMetadata, group: &[ImportedInstance], id: &ImageSetId) -> Built {
    let mut doc = base.clone();
    let mut frames = HashMap::new();
    for inst in group {
        for (k, v) in &inst.patient {
            doc.patient
                .dicom
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        for (k, v) in &inst.study {
            doc.study
                .dicom
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        let series = doc.study.series.entry(inst.series_uid.clone()).or_default();
        for (k, v) in &inst.series {
            series.dicom.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let content_type = frame_content_type(&inst.transfer_syntax);
        let image_frames = inst
            .frames
            .iter()
            .enumerate()
            .map(|(n, bytes)| {
                let fid = ImageFrameId::derive(&[
                    id.as_str().as_bytes(),
                    inst.sop_uid.as_bytes(),
                    &n.to_be_bytes(),
                ]);
                frames.insert(
                    fid.clone(),
                    Frame {
                        bytes: bytes.clone(),
                        content_type,
                    },
                );
                let range = inst.pixel_ranges.get(n).copied().flatten();
                ImageFrame {
                    id: fid,
                    frame_size_in_bytes: Some(bytes.len()),
                    min_pixel_value: range.map(|r| r.0),
                    max_pixel_value: range.map(|r| r.1),
                    checksums: Vec::new(),
                }
            })
            .collect();
        series.instances.insert(
            inst.sop_uid.clone(),
            Instance {
                dicom: inst.instance.clone(),
                dicom_vrs: inst.dicom_vrs.clone(),
                stored_transfer_syntax_uid: Some(inst.transfer_syntax.clone()),
                checksum_type: None,
                image_frames,
            },
        );
    }
    (doc, frames)
}

fn build_version(version: u32, updated_at: f64, metadata: ImageSetMetadata) -> ImageSetVersion {
    let json = serde_json::to_vec(&metadata).unwrap_or_default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let gz = gz
        .write_all(&json)
        .and_then(|_| gz.finish())
        .unwrap_or_default();
    ImageSetVersion {
        version,
        updated_at,
        metadata_gz: Bytes::from(gz),
        tags: summary_tags(&metadata),
        series: metadata.study.series.into_keys().collect(),
    }
}

/// The `DICOMTags` of a search hit. Series-level tags are filled when the image set holds
/// exactly one series.
fn summary_tags(doc: &ImageSetMetadata) -> DicomTags {
    let p = &doc.patient.dicom;
    let s = &doc.study.dicom;
    let one_series = (doc.study.series.len() == 1)
        .then(|| doc.study.series.iter().next())
        .flatten();
    DicomTags {
        patient_id: str_attr(p, "PatientID"),
        patient_name: str_attr(p, "PatientName"),
        patient_birth_date: str_attr(p, "PatientBirthDate"),
        patient_sex: str_attr(p, "PatientSex"),
        study_instance_uid: str_attr(s, "StudyInstanceUID"),
        study_id: str_attr(s, "StudyID"),
        study_description: str_attr(s, "StudyDescription"),
        number_of_study_related_series: doc.study.series.len() as u32,
        number_of_study_related_instances: doc
            .study
            .series
            .values()
            .map(|x| x.instances.len() as u32)
            .sum(),
        accession_number: str_attr(s, "AccessionNumber"),
        series_instance_uid: one_series.map(|(uid, _)| uid.clone()),
        series_modality: one_series.and_then(|(_, x)| str_attr(&x.dicom, "Modality")),
        series_body_part: one_series.and_then(|(_, x)| str_attr(&x.dicom, "BodyPartExamined")),
        series_number: one_series
            .and_then(|(_, x)| str_attr(&x.dicom, "SeriesNumber")?.parse().ok()),
        study_date: str_attr(s, "StudyDate"),
        study_time: str_attr(s, "StudyTime"),
    }
}

/// AHI's rules for a search request: an EQUAL filter takes one value, a BETWEEN filter two
/// values of the same attribute, and BETWEEN applies to time stamps and study date/time only.
fn validate_criteria(c: &SearchCriteria) -> Result<(), AhiError> {
    for f in &c.filters {
        match f.operator {
            Operator::Equal if f.values.len() != 1 => {
                return Err(validation("An EQUAL filter takes exactly one value."));
            }
            Operator::Between => {
                let [a, b] = &f.values[..] else {
                    return Err(validation(
                        "A BETWEEN filter takes exactly two values (lower and upper bound).",
                    ));
                };
                let ok = matches!(
                    (a, b),
                    (SearchValue::CreatedAt(_), SearchValue::CreatedAt(_))
                        | (SearchValue::UpdatedAt(_), SearchValue::UpdatedAt(_))
                        | (
                            SearchValue::StudyDateAndTime(_),
                            SearchValue::StudyDateAndTime(_)
                        )
                );
                if !ok {
                    return Err(validation(
                        "BETWEEN applies to createdAt, updatedAt and DICOMStudyDateAndTime, with both bounds of the same attribute.",
                    ));
                }
            }
            Operator::Equal => {}
        }
        for v in &f.values {
            if let SearchValue::StudyDateAndTime(d) = v
                && (d.study_date.len() != 8 || !d.study_date.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(validation("DICOMStudyDate must have the form YYYYMMDD."));
            }
        }
    }
    Ok(())
}

fn date_time_key(d: &crate::api::StudyDateAndTime, upper: bool) -> String {
    let time = d.study_time.clone().unwrap_or_else(|| {
        if upper {
            "235959.999999".into()
        } else {
            "000000".into()
        }
    });
    format!("{}{}", d.study_date, time)
}

fn matches_filter(set: &ImageSet, op: Operator, values: &[SearchValue]) -> bool {
    let v = set.latest();
    let t = &v.tags;
    let eq = |field: &Option<String>, want: &str| field.as_deref() == Some(want);
    match (op, values) {
        (Operator::Equal, [value]) => match value {
            SearchValue::PatientId(x) => eq(&t.patient_id, x),
            SearchValue::AccessionNumber(x) => eq(&t.accession_number, x),
            SearchValue::StudyId(x) => eq(&t.study_id, x),
            SearchValue::StudyInstanceUid(x) => eq(&t.study_instance_uid, x),
            SearchValue::SeriesInstanceUid(x) => v.series.contains(x),
            SearchValue::CreatedAt(x) => set.created_at == *x,
            SearchValue::UpdatedAt(x) => v.updated_at == *x,
            SearchValue::IsPrimary(x) => set.is_primary == *x,
            SearchValue::StudyDateAndTime(d) => {
                eq(&t.study_date, &d.study_date)
                    && d.study_time
                        .as_ref()
                        .is_none_or(|tm| t.study_time.as_deref() == Some(tm.as_str()))
            }
        },
        (Operator::Between, [lo, hi]) => match (lo, hi) {
            (SearchValue::CreatedAt(a), SearchValue::CreatedAt(b)) => {
                (*a..=*b).contains(&set.created_at)
            }
            (SearchValue::UpdatedAt(a), SearchValue::UpdatedAt(b)) => {
                (*a..=*b).contains(&v.updated_at)
            }
            (SearchValue::StudyDateAndTime(a), SearchValue::StudyDateAndTime(b)) => {
                let Some(date) = &t.study_date else {
                    return false;
                };
                let key = format!("{date}{}", t.study_time.clone().unwrap_or_default());
                date_time_key(a, false) <= key && key <= date_time_key(b, true)
            }
            _ => false,
        },
        _ => false,
    }
}

fn criteria_fingerprint(c: &SearchCriteria) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(c).unwrap_or_default();
    hex::encode(&Sha256::digest(json)[..8])
}

/// Page tokens are opaque to clients: the offset of the next page and a fingerprint of the
/// criteria they belong to, hex-encoded.
fn make_token(offset: usize, fingerprint: &str) -> String {
    hex::encode(format!("{offset}:{fingerprint}"))
}

fn parse_token(token: &str, fingerprint: &str) -> Result<usize, AhiError> {
    let bad = || validation("The nextToken is invalid or does not belong to this search.");
    let raw = hex::decode(token).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (offset, fp) = raw.split_once(':').ok_or_else(bad)?;
    if fp != fingerprint {
        return Err(bad());
    }
    offset.parse().map_err(|_| bad())
}
