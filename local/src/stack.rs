//! The whole local stack in one process (docs/architecture.md, "The local stack"): the upstream (the
//! embedded AHI emulator on its own loopback port, or real AHI), the translator and the
//! local edge server. `dicomweb-edge serve`, the tests and the benchmark start it the same
//! way.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use aws_credential_types::provider::SharedCredentialsProvider;
use healthimaging::DatastoreId;
use healthimaging::client::{ClientOptions, HealthImagingClient};
use healthimaging::emulator::quotas::Quotas;
use healthimaging::emulator::{
    Credentials, DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, Emulator,
    EmulatorConfig, ImportReport,
};
use tokio::task::JoinHandle;

use crate::cache::EdgeCache;
use crate::dev_issuer::{DEV_AUDIENCE, DEV_ISSUER, DevIssuer};
use crate::keys::Keys;
use crate::server::{LocalEdge, NativeOrigin};
use edge::authorizer::{AuthConfig, AuthMode, Authorizer};
use edge::config::ViewerSignIn;
use edge::cors::CorsPolicy;
use edge::lambda_edge::{OriginRequestFunction, ViewerRequestFunction};
use edge::signer::SignerConfig;
use jsonwebtoken::jwk::JwkSet;
use translator::{Translator, TranslatorConfig};

/// Where the translator's AHI calls go.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// The embedded emulator, serving these folders (one datastore each) on `listen`,
    /// enforcing `quotas`.
    Emulator {
        data_dirs: Vec<PathBuf>,
        listen: SocketAddr,
        quotas: Quotas,
    },
    /// AWS HealthImaging in `region` (standard credential chain); `datastores` are the
    /// datastores to announce.
    Aws {
        region: Option<String>,
        datastores: Vec<DatastoreId>,
    },
}

/// How viewers authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No authentication (loopback only).
    None,
    /// The development issuer whose key lives in `state_dir` (see `dicomweb-edge token`).
    Dev { state_dir: PathBuf },
    /// Cognito or an OIDC issuer; keys come from its published JWKS.
    Issuer(AuthMode),
}

/// Everything `start` needs.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub upstream: Upstream,
    pub listen: SocketAddr,
    pub translator: TranslatorConfig,
    pub client: ClientOptions,
    /// Bytes of edge cache; 0 disables it.
    pub cache_bytes: u64,
    pub cors: CorsPolicy,
    pub auth: Auth,
    /// Datastores viewers may reach; empty: any.
    pub datastores: Vec<DatastoreId>,
    /// Least time between two fetches of an issuer's JWKS for unknown `kid`s (the deployed
    /// functions' `jwks_refetch_cooldown_seconds`, with the same default).
    pub jwks_cooldown_seconds: u64,
    pub timeouts: crate::server::Timeouts,
    /// Translator instances, each with its own caches and HealthImaging client (as Lambda
    /// instances are); requests are spread over them at random.
    pub translators: usize,
    /// Whether the instances share what they resolve through the edge's cache
    /// ([`translator::shared`]; not without a cache); otherwise each resolves alone.
    pub shared_resolution: bool,
    /// The folder of the prebuilt OHIF viewer to serve beside the edge ([`crate::ohif`]).
    pub viewer: Option<PathBuf>,
    /// How that viewer signs in (with `Auth::Issuer`); without it, it loads progressively.
    pub viewer_sign_in: Option<ViewerSignIn>,
    /// Scopes every token must grant.
    pub required_scopes: Vec<String>,
    /// The file each request's audit event is appended to ([`crate::audit_log`]).
    pub audit_log: Option<PathBuf>,
    /// Where `/metrics` is served ([`crate::metrics`]), apart from the edge.
    pub metrics_listen: Option<SocketAddr>,
}

impl StackOptions {
    /// The embedded emulator with `data_dirs`, everything on free loopback ports.
    pub fn emulator(data_dirs: Vec<PathBuf>) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            upstream: Upstream::Emulator {
                data_dirs,
                listen: any,
                quotas: Quotas::default(),
            },
            listen: any,
            translator: TranslatorConfig::default(),
            client: ClientOptions::default(),
            cache_bytes: 256 << 20,
            cors: CorsPolicy::default(),
            auth: Auth::None,
            datastores: Vec::new(),
            jwks_cooldown_seconds: edge::config::DEFAULT_JWKS_COOLDOWN_SECONDS,
            timeouts: crate::server::Timeouts::default(),
            translators: 1,
            shared_resolution: true,
            viewer: None,
            viewer_sign_in: None,
            required_scopes: Vec::new(),
            audit_log: None,
            metrics_listen: None,
        }
    }
}

/// A datastore the stack serves.
#[derive(Debug, Clone)]
pub struct DatastoreInfo {
    pub id: DatastoreId,
    pub name: String,
    pub image_sets: usize,
}

/// The embedded emulator, when the stack runs one.
pub struct EmbeddedEmulator {
    pub emulator: Arc<Emulator>,
    pub url: String,
    pub region: String,
    pub report: ImportReport,
}

/// A started stack.
pub struct RunningStack {
    /// `http://HOST:PORT` of the edge.
    pub base_url: String,
    pub edge: Arc<LocalEdge>,
    pub emulator: Option<EmbeddedEmulator>,
    pub datastores: Vec<DatastoreInfo>,
    /// The development issuer, with `Auth::Dev`.
    pub dev_issuer: Option<Arc<DevIssuer>>,
    /// Where the OHIF viewer is served, when it is.
    pub viewer_url: Option<String>,
    /// Where the metrics are served, when they are.
    pub metrics_url: Option<String>,
    /// How it signs in, when it does.
    pub viewer_sign_in: Option<ViewerSignIn>,
    /// Whom the authorizer trusts.
    pub auth_mode: AuthMode,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl RunningStack {
    /// Serves until a server fails or `shutdown` resolves.
    pub async fn wait(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let tasks = futures_util::future::select_all(std::mem::take(&mut self.tasks));
        tokio::select! {
            (r, _, _) = tasks => r.context("server task failed")?.context("server failed"),
            () = shutdown => Ok(()),
        }
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The credentials the embedded emulator accepts and the translator signs with: the
/// documented local pair, never the environment's (those are for real AWS).
pub fn emulator_credentials() -> Credentials {
    Credentials {
        access_key_id: DEFAULT_ACCESS_KEY_ID.into(),
        secret_access_key: DEFAULT_SECRET_ACCESS_KEY.into(),
        session_token: None,
    }
}

/// Imports the emulator's folders off the async threads, logging what the import did.
pub async fn import(config: EmulatorConfig) -> anyhow::Result<(Emulator, ImportReport)> {
    for d in &config.data_dirs {
        anyhow::ensure!(d.is_dir(), "--data {}: not a folder", d.display());
    }
    let started = std::time::Instant::now();
    let (emulator, report) = tokio::task::spawn_blocking(move || Emulator::load(&config))
        .await
        .context("import task failed")?
        .context("cannot read the data folder")?;
    tracing::info!(
        instances = report.instances,
        frames = report.frames,
        skipped = report.skipped.len(),
        duplicates = report.duplicates.len(),
        millis = started.elapsed().as_millis() as u64,
        "import finished"
    );
    Ok((emulator, report))
}

/// Imports the data (if emulated), binds both servers and starts serving.
pub async fn start(opts: StackOptions) -> anyhow::Result<RunningStack> {
    let mut tasks = Vec::new();
    let instances = opts.translators.max(1);
    let (clients, emulator, datastores, native) = match opts.upstream {
        Upstream::Emulator {
            data_dirs,
            listen,
            quotas,
        } => {
            let (emulator, report) = import(EmulatorConfig {
                data_dirs,
                region: DEFAULT_REGION.into(),
                credentials: vec![emulator_credentials()],
            })
            .await?;
            emulator.set_quotas(quotas);
            let emulator = Arc::new(emulator);
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen} for the emulator"))?;
            let url = format!("http://{}", listener.local_addr()?);
            tasks.push(tokio::spawn(emulator.clone().serve(listener)));
            let creds = emulator_credentials();
            let clients = (0..instances)
                .map(|_| {
                    HealthImagingClient::for_endpoint(
                        &url,
                        DEFAULT_REGION,
                        aws_credentials(&creds),
                        &opts.client,
                    )
                })
                .collect();
            let datastores: Vec<DatastoreInfo> = emulator
                .datastores()
                .map(|d| DatastoreInfo {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    image_sets: d.image_sets.len(),
                })
                .collect();
            let port = url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(80);
            let native = NativeOrigin {
                function: OriginRequestFunction::from_signer(SignerConfig {
                    region: DEFAULT_REGION.into(),
                    host: "127.0.0.1".into(),
                    protocol: "http".into(),
                    port,
                }),
                region: DEFAULT_REGION.into(),
                credentials: SharedCredentialsProvider::new(aws_credentials(&creds)),
                client: NativeOrigin::http_client(&opts.client),
            };
            let embedded = EmbeddedEmulator {
                emulator,
                url,
                region: DEFAULT_REGION.into(),
                report,
            };
            (clients, Some(embedded), datastores, native)
        }
        Upstream::Aws { region, datastores } => {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(r) = &region {
                loader = loader.region(aws_config::Region::new(r.clone()));
            }
            let conf = loader.load().await;
            let region = conf
                .region()
                .map(|r| r.to_string())
                .context("no AWS region: pass --region or configure one")?;
            let native = NativeOrigin {
                function: OriginRequestFunction::from_signer(SignerConfig::aws(&region)),
                region: region.clone(),
                credentials: conf
                    .credentials_provider()
                    .context("no AWS credentials provider")?,
                client: NativeOrigin::http_client(&opts.client),
            };
            let mut clients = Vec::new();
            for _ in 0..instances {
                clients
                    .push(HealthImagingClient::from_env(Some(region.clone()), &opts.client).await);
            }
            let datastores = datastores
                .into_iter()
                .map(|id| DatastoreInfo {
                    id,
                    name: String::new(),
                    image_sets: 0,
                })
                .collect();
            (clients, None, datastores, native)
        }
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let mut translator = opts.translator;
    translator
        .public_url
        .get_or_insert_with(|| base_url.clone());
    let public_url = translator.public_url.clone();
    // The key of the edge's internal requests, new with every start: only this process's
    // translators can fetch the internal resources. Without an edge cache there is nothing
    // to share them through.
    let internal_key = (opts.shared_resolution && opts.cache_bytes > 0)
        .then(|| edge::internal::InternalKey::new(rand::random()));
    translator.internal_key = internal_key.clone();
    let metrics = opts
        .metrics_listen
        .map(|_| Arc::new(crate::metrics::Metrics::new()));
    if let Some(m) = &metrics {
        translator.observer = translator::observe::SharedObserver(m.clone());
    }
    let translators: Vec<Arc<Translator>> = clients
        .into_iter()
        .map(|c: HealthImagingClient| Arc::new(Translator::new(Arc::new(c), translator.clone())))
        .collect();
    let cache = (opts.cache_bytes > 0).then(|| EdgeCache::new(opts.cache_bytes));
    // The development issuer's keys are known and published here; an issuer's are fetched
    // when the viewer-request function asks for them.
    let (mode, keys, jwks_url, known, dev_issuer) = match opts.auth {
        Auth::None => (
            AuthMode::None,
            Keys::none(),
            None,
            JwkSet { keys: Vec::new() },
            None,
        ),
        Auth::Dev { state_dir } => {
            let issuer = tokio::task::spawn_blocking(move || DevIssuer::load_or_create(&state_dir))
                .await
                .context("key task failed")??;
            let jwks = issuer.jwks();
            let mode = AuthMode::Oidc {
                issuer: DEV_ISSUER.into(),
                audiences: vec![DEV_AUDIENCE.into()],
                jwks_uri: None,
            };
            let keys = Keys::new(Some(Arc::new(jwks.clone())));
            (mode, keys, None, jwks, Some(Arc::new(issuer)))
        }
        Auth::Issuer(mode) => {
            let url = mode.jwks_url().context("this auth mode has no issuer")?;
            (
                mode,
                Keys::none(),
                Some(url),
                JwkSet { keys: Vec::new() },
                None,
            )
        }
    };
    let sign_in = opts.viewer_sign_in;
    let ohif = match opts.viewer {
        Some(dist) => {
            let root = public_url.as_deref().unwrap_or(&base_url);
            // A datastore of AWS has no name here; OHIF needs one per source.
            let sources = crate::ohif::data_sources(datastores.iter().map(|d| {
                let name = if d.name.is_empty() {
                    d.id.as_str()
                } else {
                    &d.name
                };
                (format!("{root}/datastore/{}", d.id), name)
            }));
            let app_config = crate::ohif::app_config(&sources, sign_in.as_ref());
            let origins = sign_in.as_ref().map(|s| s.origins()).unwrap_or_default();
            Some(Arc::new(crate::ohif::OhifViewer::new(
                dist, app_config, &origins,
            )?))
        }
        None => None,
    };
    let auth_mode = mode.clone();
    let mut auth = AuthConfig::new(mode);
    auth.cors = opts.cors;
    auth.required_scopes = opts.required_scopes;
    auth.datastores = opts.datastores;
    auth.internal_key = internal_key;
    let viewer = ViewerRequestFunction::from_parts(
        Authorizer::new(auth),
        jwks_url,
        known,
        opts.jwks_cooldown_seconds,
        public_url,
    );
    let viewer_url = ohif.as_ref().map(|_| format!("{base_url}/"));
    let audit_log = match &opts.audit_log {
        Some(path) => Some(Arc::new(
            crate::audit_log::AuditLog::open(path)
                .with_context(|| format!("cannot open the audit log {}", path.display()))?,
        )),
        None => None,
    };
    let edge = Arc::new(
        LocalEdge::new(translators[0].clone(), cache, viewer, keys, Some(native))
            .with_translators(translators)
            .with_body_read_timeout(opts.timeouts.body_read)
            .with_ohif(ohif)
            .with_audit_log(audit_log)
            .with_metrics(metrics.clone()),
    );
    let metrics_url = match (opts.metrics_listen, metrics) {
        (Some(addr), Some(m)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?;
            let url = format!("http://{}/metrics", listener.local_addr()?);
            tasks.push(tokio::spawn(crate::server::serve(
                listener,
                m.router(),
                opts.timeouts,
            )));
            Some(url)
        }
        _ => None,
    };
    edge.prefetch_keys().await;
    let router = edge.clone().router();
    tasks.push(tokio::spawn(crate::server::serve(
        listener,
        router,
        opts.timeouts,
    )));
    Ok(RunningStack {
        base_url,
        edge,
        emulator,
        datastores,
        dev_issuer,
        viewer_url,
        metrics_url,
        viewer_sign_in: sign_in,
        auth_mode,
        tasks,
    })
}

fn aws_credentials(c: &Credentials) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        &c.access_key_id,
        &c.secret_access_key,
        c.session_token.clone(),
        None,
        "dicomweb-edge-emulator",
    )
}
