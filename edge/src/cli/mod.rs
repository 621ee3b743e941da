//! The command line: `dicomweb-edge emulator` (more commands join as the product grows).

mod emulator;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Run the local AWS HealthImaging emulator alone.
    Emulator(EmulatorArgs),
}

#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// A folder of DICOM Part 10 files; one datastore per folder (repeatable). Without it,
    /// the committed demo dataset is served.
    #[arg(long = "data", value_name = "DIR")]
    pub data: Vec<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// The region requests must be signed for.
    #[arg(long, default_value = healthimaging::emulator::DEFAULT_REGION)]
    pub region: String,
    /// Access key ID to accept (else AWS_ACCESS_KEY_ID, else the documented default).
    #[arg(long, requires = "secret_access_key")]
    pub access_key_id: Option<String>,
    /// Secret access key to accept (else AWS_SECRET_ACCESS_KEY, else the default).
    #[arg(long, requires = "access_key_id")]
    pub secret_access_key: Option<String>,
    /// Session token that signed requests must carry (else AWS_SESSION_TOKEN, if set with
    /// the environment's keys).
    #[arg(long)]
    pub session_token: Option<String>,
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
        Command::Emulator(args) => emulator::run(args).await,
    }
}
