//! The command line: `dicomweb-edge serve` (the local stack) and `dicomweb-edge emulator`
//! (the HealthImaging emulator alone).

mod emulator;
mod serve;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use healthimaging::emulator::quotas::Quotas;

#[derive(Debug, Parser)]
#[command(
    name = "dicomweb-edge",
    version,
    about = "DICOMweb edge for AWS HealthImaging"
)]
pub struct Cli {
    /// More log output on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local stack: the DICOMweb edge in front of the embedded HealthImaging
    /// emulator (demo data by default) or of AWS HealthImaging.
    Serve(Box<ServeArgs>),
    /// Run the local AWS HealthImaging emulator alone.
    Emulator(EmulatorArgs),
    /// Print a token of the development issuer that `serve --auth dev` (the default) accepts.
    Token(TokenArgs),
}

/// How `serve` authenticates viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthKind {
    /// Tokens of the local development issuer (`dicomweb-edge token`).
    Dev,
    /// Amazon Cognito access tokens (--cognito-region, --cognito-user-pool-id, --client-id).
    Cognito,
    /// Any OIDC issuer (--oidc-issuer, --audience).
    Oidc,
    /// No authentication: loopback addresses only.
    None,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Lifetime of the token in seconds.
    #[arg(value_name = "SECONDS", long, default_value_t = 3600)]
    pub expires_in: u64,
    /// A scope to grant (repeatable).
    #[arg(value_name = "SCOPE", long)]
    pub scope: Vec<String>,
}

/// Where `serve` sends HealthImaging calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UpstreamKind {
    /// The embedded emulator, on its own loopback port.
    Emulator,
    /// AWS HealthImaging, with the standard AWS credential chain.
    Aws,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the edge; port 0 picks a free port.
    #[arg(value_name = "ADDR", long, default_value = serve::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The URL viewers reach this server by, for BulkDataURIs in metadata (default: the
    /// listening address, e.g. http://127.0.0.1:8080; set it behind a proxy).
    #[arg(value_name = "URL", long)]
    pub public_url: Option<String>,
    /// Where HealthImaging calls go.
    #[arg(
        help_heading = "HealthImaging",
        long,
        value_enum,
        default_value = "emulator"
    )]
    pub upstream: UpstreamKind,
    /// A folder of DICOM Part 10 files for the embedded emulator; one datastore per folder
    /// (repeatable). Default: the demo dataset.
    #[arg(help_heading = "HealthImaging", long = "data", value_name = "DIR")]
    pub data: Vec<PathBuf>,
    /// AWS region of HealthImaging (with --upstream aws; else from the AWS configuration).
    #[arg(value_name = "REGION", help_heading = "HealthImaging", long)]
    pub region: Option<String>,
    /// A datastore viewers may reach (repeatable; default: any); others get 403. With
    /// --upstream aws, also the datastores announced.
    #[arg(help_heading = "HealthImaging", long, value_name = "ID")]
    pub datastore: Vec<healthimaging::DatastoreId>,
    /// Address of the embedded emulator (default: a free loopback port, printed on start).
    #[arg(hide_default_value = true, value_name = "ADDR", help_heading = "HealthImaging", long, default_value_t = serve::default_emulator_listen())]
    pub emulator_listen: SocketAddr,
    /// HealthImaging's request-rate quotas the emulator enforces: `none`, or `aws-default`
    /// (AHI's default quotas: GetImageFrame 1,000/s, GetImageSetMetadata 50/s,
    /// SearchImageSets and GetImageSet 25/s, each with a burst of twice that).
    #[arg(value_name = "none|aws-default", help_heading = "HealthImaging", long, default_value = "none", value_parser = parse_quotas)]
    pub quotas: Quotas,
    /// GetImageFrame calls in flight per request.
    #[arg(value_name = "N", help_heading = "HealthImaging", long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub frame_concurrency: u16,
    /// Time limit of one HealthImaging call attempt, in milliseconds (a call makes up to 3
    /// attempts).
    #[arg(
        value_name = "MS",
        help_heading = "HealthImaging",
        long,
        default_value_t = 10_000
    )]
    pub upstream_timeout_ms: u64,
    /// Seconds a HealthImaging call may spend waiting out throttling (retried with
    /// exponential backoff and jitter) before the viewer gets 503; 0 answers the first
    /// refusal.
    #[arg(
        value_name = "SECONDS",
        help_heading = "HealthImaging",
        long,
        default_value_t = 20
    )]
    pub throttle_patience: u64,
    /// How viewers authenticate.
    #[arg(
        help_heading = "Authentication",
        long,
        value_enum,
        default_value = "dev"
    )]
    pub auth: AuthKind,
    /// With --auth oidc: the issuer (`iss`).
    #[arg(
        value_name = "URL",
        help_heading = "Authentication",
        long,
        required_if_eq("auth", "oidc")
    )]
    pub oidc_issuer: Option<String>,
    /// With --auth oidc: where the issuer publishes its keys, the `jwks_uri` of its
    /// /.well-known/openid-configuration (default: {issuer}/.well-known/jwks.json).
    #[arg(help_heading = "Authentication", long, value_name = "URL")]
    pub oidc_jwks_uri: Option<String>,
    /// With --auth oidc: an accepted audience (repeatable).
    #[arg(
        value_name = "AUDIENCE",
        help_heading = "Authentication",
        long,
        required_if_eq("auth", "oidc")
    )]
    pub audience: Vec<String>,
    /// With --auth cognito: the user pool's region.
    #[arg(
        value_name = "REGION",
        help_heading = "Authentication",
        long,
        required_if_eq("auth", "cognito")
    )]
    pub cognito_region: Option<String>,
    /// With --auth cognito: the user pool ID.
    #[arg(
        value_name = "ID",
        help_heading = "Authentication",
        long,
        required_if_eq("auth", "cognito")
    )]
    pub cognito_user_pool_id: Option<String>,
    /// With --auth cognito: an accepted app client ID (repeatable).
    #[arg(
        value_name = "ID",
        help_heading = "Authentication",
        long,
        required_if_eq("auth", "cognito")
    )]
    pub client_id: Vec<String>,
    /// A scope every token must grant (repeatable).
    #[arg(help_heading = "Authentication", long, value_name = "SCOPE")]
    pub required_scope: Vec<String>,
    /// The prebuilt OHIF viewer to serve at `/` (a folder with its index.html); by default
    /// the one `scripts/viewer.sh` puts in `.cache/ohif`, when it is there.
    #[arg(
        help_heading = "Viewer",
        long,
        value_name = "DIR",
        env = "DICOMWEB_EDGE_VIEWER",
        conflicts_with = "no_viewer"
    )]
    pub viewer: Option<std::path::PathBuf>,
    /// Serve no viewer.
    #[arg(help_heading = "Viewer", long)]
    pub no_viewer: bool,
    /// With --auth oidc or cognito: the public client (no secret) the viewer signs in as,
    /// with the authorization code flow and PKCE; the client's redirect URI is
    /// {public URL}/callback. Default with cognito: the first --client-id.
    #[arg(help_heading = "Viewer", long, value_name = "ID")]
    pub viewer_client_id: Option<String>,
    /// The scopes the viewer asks for (repeatable; default: openid).
    #[arg(help_heading = "Viewer", long, value_name = "SCOPE")]
    pub viewer_scope: Vec<String>,
    /// Another https origin the sign-in talks to, for the viewer's Content-Security-Policy
    /// (repeatable): with cognito, the hosted UI's domain.
    #[arg(help_heading = "Viewer", long, value_name = "URL")]
    pub viewer_sign_in_origin: Vec<String>,
    /// An origin allowed to read responses (repeatable); `*` for any.
    #[arg(
        value_name = "ORIGIN",
        help_heading = "Answers",
        long,
        default_value = "*"
    )]
    pub cors_origin: Vec<String>,
    /// Size of the shared edge cache in MiB; 0 disables it.
    #[arg(
        value_name = "MIB",
        help_heading = "Answers",
        long,
        default_value_t = 256
    )]
    pub cache_mb: u64,
    /// max-age of frame responses, in seconds.
    #[arg(
        value_name = "SECONDS",
        help_heading = "Answers",
        long,
        default_value_t = 31_536_000
    )]
    pub frames_max_age: u64,
    /// max-age of metadata and search responses, in seconds.
    #[arg(
        value_name = "SECONDS",
        help_heading = "Answers",
        long,
        default_value_t = 60
    )]
    pub metadata_max_age: u64,
    /// The largest frame decoded server-side, in MiB; larger frames are served as stored only.
    #[arg(
        value_name = "MIB",
        help_heading = "Answers",
        long,
        default_value_t = 256
    )]
    pub max_decoded_frame_mb: u64,
    /// The most pixels a rendered image or thumbnail may have, in megapixels.
    #[arg(
        value_name = "MEGAPIXELS",
        help_heading = "Answers",
        long,
        default_value_t = 64
    )]
    pub max_rendered_megapixels: u64,
    /// Append one JSON line per request to FILE (created with mode 0600): who asked for
    /// which study, series, instance or frames, when, from where, and the answer's status
    /// and cache hit or miss (docs/operations.md).
    #[arg(help_heading = "Operations", long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Serve metrics in Prometheus' text format at http://ADDR/metrics, a listener of its
    /// own outside the DICOMweb URL space and without authentication (port 0 picks a free
    /// port, printed on the `metrics` line): requests by action, status and cache result,
    /// HealthImaging calls by operation and outcome, their time (docs/operations.md).
    #[arg(help_heading = "Operations", long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds a client has to send a request's head, after connecting or after the
    /// previous answer on a kept-alive connection (the idle timeout); then it is closed.
    #[arg(value_name = "SECONDS", help_heading = "Limits and timeouts", long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds a client has to send a POST body once its head has arrived (then 408).
    #[arg(value_name = "SECONDS", help_heading = "Limits and timeouts", long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout: u64,
    /// Seconds a client may leave an answer unread: once a write to it has waited this
    /// long, the connection is closed and what the answer held is freed.
    #[arg(value_name = "SECONDS", help_heading = "Limits and timeouts", long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub send_timeout: u64,
    /// The most frames held in memory ahead of the clients reading them, in MiB, across all
    /// requests: when it is spent, fetches wait for clients to read.
    #[arg(value_name = "MIB", help_heading = "Limits and timeouts", long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub read_ahead_mb: u64,
    /// Seconds an image set's frame index is reused before its metadata is read again.
    #[arg(
        value_name = "SECONDS",
        help_heading = "Translator instances",
        long,
        default_value_t = 300
    )]
    pub metadata_ttl: u64,
    /// Seconds a study's list of image sets is reused.
    #[arg(
        value_name = "SECONDS",
        help_heading = "Translator instances",
        long,
        default_value_t = 60
    )]
    pub search_ttl: u64,
    /// Translator instances, each with its own caches and HealthImaging client, requests
    /// spread over them at random: a deployment's Lambda instances, on one machine (the
    /// scale bench uses it).
    #[arg(value_name = "K", help_heading = "Translator instances", long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub translators: u16,
    /// Each translator instance resolves studies alone, instead of sharing what it
    /// resolves through the edge's cache (for comparison).
    #[arg(help_heading = "Translator instances", long)]
    pub no_shared_resolution: bool,
}

#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// A folder of DICOM Part 10 files; one datastore per folder (repeatable). Without it,
    /// the committed demo dataset is served.
    #[arg(long = "data", value_name = "DIR")]
    pub data: Vec<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(value_name = "ADDR", long, default_value = "127.0.0.18089")]
    pub listen: SocketAddr,
    /// HealthImaging's request-rate quotas the emulator enforces: `none`, or `aws-default`
    /// (AHI's default quotas: GetImageFrame 1,000/s, GetImageSetMetadata 50/s,
    /// SearchImageSets and GetImageSet 25/s, each with a burst of twice that).
    #[arg(value_name = "none|aws-default", long, default_value = "none", value_parser = parse_quotas)]
    pub quotas: Quotas,
    /// The region requests must be signed for.
    #[arg(value_name = "REGION", long, default_value = healthimaging::emulator::DEFAULT_REGION)]
    pub region: String,
    /// Access key ID to accept (else AWS_ACCESS_KEY_ID, else the documented default).
    #[arg(value_name = "ID", long, requires = "secret_access_key")]
    pub access_key_id: Option<String>,
    /// Secret access key to accept (else AWS_SECRET_ACCESS_KEY, else the default).
    #[arg(value_name = "KEY", long, requires = "access_key_id")]
    pub secret_access_key: Option<String>,
    /// Session token that signed requests must carry (else AWS_SESSION_TOKEN, if set with
    /// the environment's keys).
    #[arg(value_name = "TOKEN", long)]
    pub session_token: Option<String>,
}

fn parse_quotas(name: &str) -> Result<Quotas, String> {
    Quotas::named(name).ok_or_else(|| "expected none or aws-default".to_owned())
}

/// The `--data` folders, or the committed demo dataset when none is given.
fn data_dirs_or_demo(data: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    if !data.is_empty() {
        return Ok(data.to_vec());
    }
    let demo = healthimaging::emulator::demo_data_dir();
    anyhow::ensure!(
        demo.is_dir(),
        "the demo dataset was not found at {}; pass --data DIR",
        demo.display()
    );
    Ok(vec![demo])
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Emulator(args) => emulator::run(args).await,
        Command::Token(args) => token::run(args),
    }
}
