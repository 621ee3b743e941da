//! A local AWS HealthImaging: imports folders of DICOM files and serves GetImageFrame,
//! GetImageSetMetadata, SearchImageSets and GetImageSet with AHI's paths, methods, status
//! codes, headers and bodies, checking SigV4 on every call.
//!
//! For tests it injects faults (latency, throttling, server errors) and counts calls per
//! operation; both are reachable in-process and through loopback-only admin routes under
//! `/_emulator/`.

mod frame_bytes;
mod import;
mod multi_valued;
pub mod quotas;
mod server;
pub mod sigv4;
mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use frame_bytes::{FrameBytes, FrameReadError, SourceFile};
pub use import::{ImportError, ImportedInstance, parse_instance, read_instance};
pub use sigv4::{Credentials, Verifier};
pub use store::{Datastore, Duplicate, Frame, ImageSet, ImageSetVersion};

use crate::ids::DatastoreId;

/// The key pair the emulator accepts when none is configured. Documented in docs/emulator.md;
/// it only ever guards a loopback emulator.
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIDLOCALEMULATOR";
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "local-emulator-secret-access-key";
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where the committed demo dataset lives in a checkout.
pub fn demo_data_dir() -> PathBuf {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/dicom");
    if compiled.is_dir() {
        compiled
    } else {
        PathBuf::from("demo/dicom")
    }
}

/// What to serve and whom to trust.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// One datastore per folder; its ID is derived from the folder's name.
    pub data_dirs: Vec<PathBuf>,
    pub region: String,
    pub credentials: Vec<Credentials>,
}

impl EmulatorConfig {
    /// Credentials from explicit values, else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`
    /// (and `AWS_SESSION_TOKEN`), else the documented default pair.
    pub fn credentials_from(
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        session_token: Option<String>,
    ) -> Credentials {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match (access_key_id, secret_access_key) {
            (Some(a), Some(s)) => Credentials {
                access_key_id: a,
                secret_access_key: s,
                session_token,
            },
            _ => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(a), Some(s)) => Credentials {
                    access_key_id: a,
                    secret_access_key: s,
                    session_token: session_token.or_else(|| env("AWS_SESSION_TOKEN")),
                },
                _ => Credentials {
                    access_key_id: DEFAULT_ACCESS_KEY_ID.into(),
                    secret_access_key: DEFAULT_SECRET_ACCESS_KEY.into(),
                    session_token,
                },
            },
        }
    }
}

/// Fault injection settings. Rates are probabilities per call (0.0–1.0); `operations`
/// limits the faults to the named operations (empty: all). Injected errors are of
/// `error_type` (an AHI error type name such as `AccessDeniedException`; default
/// `InternalServerException`), with that type's status code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub latency_ms: u64,
    pub throttle_rate: f64,
    pub error_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub operations: Vec<String>,
}

impl Faults {
    fn applies_to(&self, op: &str) -> bool {
        self.operations.is_empty() || self.operations.iter().any(|o| o == op)
    }
}

/// A file that was not imported, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub instances: usize,
    pub frames: usize,
    pub skipped: Vec<Skipped>,
    /// Copies of SOP instances a job already held, kept in non-primary image sets.
    pub duplicates: Vec<Duplicate>,
}

/// How often a long import reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// An import's progress over all its files, logged every [`PROGRESS_EVERY`] while it
/// lasts: files and bytes done, rate, time left, files skipped.
struct Progress {
    started: std::time::Instant,
    files: usize,
    bytes: u64,
    done: Mutex<(usize, u64, usize, std::time::Instant)>,
}

impl Progress {
    fn new(sizes: impl Iterator<Item = u64>) -> Self {
        let (mut files, mut bytes) = (0, 0);
        for size in sizes {
            files += 1;
            bytes += size;
        }
        let started = std::time::Instant::now();
        Self {
            started,
            files,
            bytes,
            done: Mutex::new((0, 0, 0, started)),
        }
    }

    fn file_done(&self, size: u64, skipped: bool) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let (files, bytes, skips, last) = &mut *done;
        *files += 1;
        *bytes += size;
        *skips += usize::from(skipped);
        if last.elapsed() < PROGRESS_EVERY || *files == self.files {
            return;
        }
        *last = std::time::Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        let left = secs * self.bytes.saturating_sub(*bytes) as f64 / (*bytes).max(1) as f64;
        tracing::info!(
            target: "healthimaging::import",
            "import: {files} of {} files ({} of {} MB), {:.0} files/s, about {left:.0} s left, {skips} skipped",
            self.files,
            *bytes >> 20,
            self.bytes >> 20,
            *files as f64 / secs,
        );
    }
}

/// Reads the listed files `(job, path, size)` on every core; the results are in the order
/// listed.
fn read_all(
    files: &[(String, PathBuf, u64)],
    progress: &Progress,
) -> Vec<Result<ImportedInstance, ImportError>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let read: Vec<(usize, Result<ImportedInstance, ImportError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.min(files.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((_, path, size)) = files.get(i) else {
                            return out;
                        };
                        // A panic in the DICOM reader skips the file, not the import.
                        let result = std::panic::catch_unwind(|| read_instance(path))
                            .unwrap_or_else(|_| {
                                Err(ImportError::Unreadable("the DICOM reader failed".into()))
                            });
                        progress.file_done(*size, result.is_err());
                        out.push((i, result));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut results: Vec<Option<Result<ImportedInstance, ImportError>>> =
        files.iter().map(|_| None).collect();
    for (i, r) in read {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ImportError::Unreadable("not read".into()))))
        .collect()
}

/// The emulator's state, shared by the server's tasks.
pub struct Emulator {
    datastores: BTreeMap<DatastoreId, Datastore>,
    /// The datastores in the order of their folders (`--data A --data B`: A first).
    order: Vec<DatastoreId>,
    verifier: Verifier,
    faults: Mutex<Faults>,
    calls: Mutex<BTreeMap<String, u64>>,
    buckets: Mutex<quotas::Buckets>,
    clock: Box<dyn Fn() -> SystemTime + Send + Sync>,
}

impl Emulator {
    /// Imports every configured folder. Unreadable files are skipped and reported; the
    /// import fails only when a folder cannot be listed.
    pub fn load(config: &EmulatorConfig) -> std::io::Result<(Self, ImportReport)> {
        let mut report = ImportReport::default();
        let mut datastores = BTreeMap::new();
        let mut order = Vec::new();
        let start = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64().floor())
            .unwrap_or(0.0);
        let mut tick = 0u64;
        let mut clock = move || {
            tick += 1;
            start + tick as f64 / 1000.0
        };
        let mut listed = Vec::new();
        for dir in &config.data_dirs {
            let files = import::list_files(dir)?;
            let sized: Vec<(String, PathBuf, u64)> = files
                .into_iter()
                .map(|(job, path)| {
                    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                    (job, path, size)
                })
                .collect();
            listed.push(sized);
        }
        let progress = Progress::new(listed.iter().flatten().map(|f| f.2));
        for (dir, files) in config.data_dirs.iter().zip(&listed) {
            let name = dir
                .canonicalize()
                .unwrap_or_else(|_| dir.clone())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "datastore".into());
            let mut ds = Datastore::new(&name, &config.region);
            // One job at a time (files are listed by job), so the parsed attributes held
            // at once are one job's.
            for job in files.chunk_by(|a, b| a.0 == b.0) {
                let mut instances = Vec::new();
                for ((_, path, _), result) in job.iter().zip(read_all(job, &progress)) {
                    match result {
                        Ok(inst) => {
                            report.instances += 1;
                            report.frames += inst.frames.len();
                            instances.push(inst);
                        }
                        Err(e) => {
                            tracing::warn!(file = %path.display(), reason = %e, "skipped file");
                            report.skipped.push(Skipped {
                                path: path.clone(),
                                reason: e.to_string(),
                            });
                        }
                    }
                }
                for d in ds.import_job(&job[0].0, instances, &mut clock) {
                    tracing::warn!(
                        file = %d.path.display(),
                        sop_instance_uid = %d.sop_uid,
                        image_set = %d.image_set,
                        "this instance is already in the job: imported into a non-primary image set"
                    );
                    report.duplicates.push(d);
                }
            }
            if !order.contains(&ds.id) {
                order.push(ds.id.clone());
            }
            datastores.insert(ds.id.clone(), ds);
        }
        let emulator = Self {
            datastores,
            order,
            verifier: Verifier {
                credentials: config.credentials.clone(),
                region: config.region.clone(),
                service: crate::SIGNING_NAME.into(),
                max_skew: Duration::from_secs(300),
            },
            faults: Mutex::new(Faults::default()),
            calls: Mutex::new(BTreeMap::new()),
            buckets: Mutex::new(quotas::Buckets::default()),
            clock: Box::new(SystemTime::now),
        };
        Ok((emulator, report))
    }

    /// Replaces the clock used for signature expiry (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The datastores in the order of their folders.
    pub fn datastores(&self) -> impl Iterator<Item = &Datastore> {
        self.order.iter().filter_map(|id| self.datastores.get(id))
    }

    pub fn datastore(&self, id: &DatastoreId) -> Option<&Datastore> {
        self.datastores.get(id)
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    pub fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Calls received per operation since start or the last reset, signed or not.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Clears the call counters and the faults, and refills the quotas' buckets.
    pub fn reset(&self) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.set_faults(Faults::default());
        let quotas = self.quotas();
        self.set_quotas(quotas);
    }

    /// Enforces `quotas` from now on, with full buckets ([`quotas`]; none by default).
    pub fn set_quotas(&self, quotas: quotas::Quotas) {
        *self.buckets.lock().unwrap_or_else(|e| e.into_inner()) = quotas::Buckets::new(quotas);
    }

    pub fn quotas(&self) -> quotas::Quotas {
        let b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        b.quotas().clone()
    }

    /// Calls refused for being over a quota, per operation, since the quotas were set.
    pub fn throttled(&self) -> BTreeMap<String, u64> {
        let b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        b.throttled().clone()
    }

    /// Takes one call of `op` from its quota; `false` when the call is over it.
    fn admit(&self, op: &str) -> bool {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        b.admit(op, std::time::Instant::now())
    }

    fn count(&self, op: &str) {
        *self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(op.to_owned())
            .or_default() += 1;
    }

    /// Serves until the listener fails.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        server::serve(self, listener).await
    }

    /// The router, for embedding the emulator into another server. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()`: the admin routes check the peer.
    pub fn router(self: Arc<Self>) -> axum::Router {
        server::router(self)
    }
}
