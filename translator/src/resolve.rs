//! Resolution of DICOM identities (study, series, SOP instance) to AHI image sets and frame
//! IDs, with the caches that keep AHI's low metadata quotas (SearchImageSets 25/s,
//! GetImageSetMetadata 50/s) out of the frame path.
//!
//! - A study is looked up once with SearchImageSets (filter `DICOMStudyInstanceUID`), whatever
//!   the number of its series, so opening a study costs one search. Candidates are ordered
//!   primary first, then most recently updated.
//! - Each image set's metadata is reduced to an [`ImageSetIndex`]: per instance, the stored
//!   transfer syntax and the frame IDs, nothing else of the (up to 50 MB) document.
//! - Both caches are bounded LRU caches with a time to live; concurrent misses for one key
//!   share a single upstream call (moka's `try_get_with`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dicomweb::Uid;
use edge::routes::Instance;
use healthimaging::api::ImageSetSummary;
use healthimaging::{DatastoreId, ImageSetId, ImageSetMetadata};
use moka::Expiry;
use moka::future::Cache;
use moka::policy::EvictionPolicy;

use edge::EdgeError;

use crate::plan::{InstanceDescription, PixelModule};
use crate::source::Upstream;

/// Cache sizes and lifetimes.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// How long an image set's index is reused before its metadata is read again.
    pub index_ttl: Duration,
    /// How long a study's list of image sets is reused.
    pub search_ttl: Duration,
    /// How long "no image set holds this study" is remembered.
    pub negative_ttl: Duration,
    /// Bound on the indexes kept, in (approximate) bytes.
    pub index_capacity_bytes: u64,
    /// Bound on the studies remembered.
    pub search_capacity: u64,
    /// Bound on whole metadata documents kept for WADO-RS metadata, in (approximate) bytes.
    pub document_capacity_bytes: u64,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            index_ttl: Duration::from_secs(300),
            search_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            index_capacity_bytes: 64 << 20,
            search_capacity: 10_000,
            document_capacity_bytes: 256 << 20,
        }
    }
}

/// The compact index of one image set: series → SOP instance → frames.
#[derive(Debug, Clone)]
pub struct ImageSetIndex {
    pub image_set: ImageSetId,
    pub study: Box<str>,
    series: HashMap<Box<str>, HashMap<Box<str>, Arc<InstanceDescription>>>,
    weight: u32,
}

impl ImageSetIndex {
    pub fn from_metadata(doc: &ImageSetMetadata) -> Self {
        let mut weight = 64usize;
        let series = doc
            .study
            .series
            .iter()
            .map(|(se, s)| {
                let instances = s
                    .instances
                    .iter()
                    .map(|(sop, i)| {
                        weight += 160 + sop.len() + i.image_frames.len() * 56;
                        let frames = Arc::new(InstanceDescription {
                            transfer_syntax: i.transfer_syntax().parse().ok(),
                            frames: i.image_frames.iter().map(|f| f.id.clone()).collect(),
                            pixel: PixelModule::from_attributes(&i.dicom),
                        });
                        (Box::<str>::from(sop.as_str()), frames)
                    })
                    .collect();
                weight += 64 + se.len();
                (Box::<str>::from(se.as_str()), instances)
            })
            .collect();
        Self {
            image_set: doc.image_set_id.clone(),
            study: doc.study_instance_uid().unwrap_or_default().into(),
            series,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
        }
    }

    pub fn instance(&self, series: &str, sop: &str) -> Option<&Arc<InstanceDescription>> {
        self.series.get(series)?.get(sop)
    }

    pub fn has_series(&self, series: &str) -> bool {
        self.series.contains_key(series)
    }
}

/// Where an instance's frames are.
#[derive(Debug, Clone)]
pub struct Located {
    pub image_set: ImageSetId,
    pub instance: Arc<InstanceDescription>,
}

type StudyKey = (DatastoreId, Uid);
type IndexKey = (DatastoreId, ImageSetId);

/// Lifetimes per entry: an empty search result is kept only briefly, so a study imported a
/// moment ago is found soon.
struct SearchExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<StudyKey, Arc<[ImageSetId]>> for SearchExpiry {
    fn expire_after_create(
        &self,
        _key: &StudyKey,
        value: &Arc<[ImageSetId]>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if value.is_empty() {
            self.negative_ttl
        } else {
            self.ttl
        })
    }
}

/// The order image sets of one study are preferred in: primary first, then the most
/// recently updated.
pub fn preference(a: &ImageSetSummary, b: &ImageSetSummary) -> std::cmp::Ordering {
    b.is_primary
        .cmp(&a.is_primary)
        .then(b.updated_at.total_cmp(&a.updated_at))
}

/// Finds image sets and frames, through the caches.
#[derive(Clone)]
pub struct Resolver {
    upstream: Arc<dyn Upstream>,
    studies: Cache<StudyKey, Arc<[ImageSetId]>>,
    indexes: Cache<IndexKey, Arc<ImageSetIndex>>,
    documents: Cache<IndexKey, Arc<Document>>,
}

/// A whole metadata document and the size it was estimated at.
pub struct Document {
    pub metadata: ImageSetMetadata,
    weight: u32,
}

impl Resolver {
    pub fn new(upstream: Arc<dyn Upstream>, config: &ResolverConfig) -> Self {
        let studies = Cache::builder()
            .max_capacity(config.search_capacity)
            .eviction_policy(EvictionPolicy::lru())
            .expire_after(SearchExpiry {
                ttl: config.search_ttl,
                negative_ttl: config.negative_ttl,
            })
            .build();
        let indexes = Cache::builder()
            .max_capacity(config.index_capacity_bytes)
            .weigher(|_k: &IndexKey, v: &Arc<ImageSetIndex>| v.weight)
            .eviction_policy(EvictionPolicy::lru())
            .time_to_live(config.index_ttl)
            .build();
        let documents = Cache::builder()
            .max_capacity(config.document_capacity_bytes)
            .weigher(|_k: &IndexKey, v: &Arc<Document>| v.weight)
            .eviction_policy(EvictionPolicy::lru())
            .time_to_live(config.index_ttl)
            .build();
        Self {
            upstream,
            studies,
            indexes,
            documents,
        }
    }

    /// The image sets holding `study`, primary first, then most recently updated.
    pub async fn image_sets_of(
        &self,
        datastore: &DatastoreId,
        study: &Uid,
    ) -> Result<Arc<[ImageSetId]>, EdgeError> {
        let key = (datastore.clone(), study.clone());
        self.studies
            .try_get_with(key, async {
                let criteria = crate::shared::study_criteria(study);
                let mut found = self.upstream.search(datastore, &criteria).await?;
                found.sort_by(crate::resolve::preference);
                Ok::<_, healthimaging::ClientError>(
                    found.into_iter().map(|s| s.image_set_id).collect(),
                )
            })
            .await
            .map_err(EdgeError::from)
    }

    /// The index of one image set (its current version), made from the cached document when
    /// there is one, so frames after metadata cost no second GetImageSetMetadata.
    pub async fn index(
        &self,
        datastore: &DatastoreId,
        image_set: &ImageSetId,
    ) -> Result<Arc<ImageSetIndex>, EdgeError> {
        let key = (datastore.clone(), image_set.clone());
        self.indexes
            .try_get_with(key, async {
                let doc = self.document(datastore, image_set).await?;
                Ok::<_, EdgeError>(Arc::new(ImageSetIndex::from_metadata(&doc.metadata)))
            })
            .await
            .map_err(|e| (*e).clone())
    }

    /// The whole metadata document of one image set (its current version).
    pub async fn document(
        &self,
        datastore: &DatastoreId,
        image_set: &ImageSetId,
    ) -> Result<Arc<Document>, EdgeError> {
        let key = (datastore.clone(), image_set.clone());
        self.documents
            .try_get_with(key, async {
                let metadata = self.upstream.metadata(datastore, image_set).await?;
                // Serialised size stands for the memory the parsed document holds.
                let weight = serde_json::to_vec(&metadata)
                    .map_or(u32::MAX, |v| u32::try_from(v.len()).unwrap_or(u32::MAX));
                Ok::<_, healthimaging::ClientError>(Arc::new(Document { metadata, weight }))
            })
            .await
            .map_err(EdgeError::from)
    }

    /// Finds the frames of `target`: in `image_set` when the request names one, otherwise in
    /// the study's image sets in preference order.
    pub async fn locate(
        &self,
        datastore: &DatastoreId,
        target: &Instance,
        image_set: Option<&ImageSetId>,
    ) -> Result<Located, EdgeError> {
        let found = |idx: &ImageSetIndex| {
            idx.instance(target.series.as_str(), target.sop.as_str())
                .map(|instance| Located {
                    image_set: idx.image_set.clone(),
                    instance: instance.clone(),
                })
        };
        if let Some(is) = image_set {
            let idx = self.index(datastore, is).await?;
            if *idx.study != *target.study.as_str() {
                return Err(EdgeError::NotFound(format!(
                    "image set {is} does not hold study {}",
                    target.study
                )));
            }
            return found(&idx)
                .ok_or_else(|| not_found(target, idx.has_series(target.series.as_str())));
        }
        let candidates = self.image_sets_of(datastore, &target.study).await?;
        if candidates.is_empty() {
            return Err(EdgeError::NotFound(format!(
                "study {} not found",
                target.study
            )));
        }
        let mut series_seen = false;
        for is in candidates.iter() {
            let idx = self.index(datastore, is).await?;
            if let Some(l) = found(&idx) {
                return Ok(l);
            }
            series_seen |= idx.has_series(target.series.as_str());
        }
        Err(not_found(target, series_seen))
    }
}

fn not_found(target: &Instance, series_exists: bool) -> EdgeError {
    EdgeError::NotFound(if series_exists {
        format!(
            "instance {} not found in series {}",
            target.sop, target.series
        )
    } else {
        format!(
            "series {} not found in study {}",
            target.series, target.study
        )
    })
}
