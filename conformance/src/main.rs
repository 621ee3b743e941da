//! `dicomweb-conformance`: runs the conformance checks against a DICOMweb base URL.
//! Exit status: 0 when nothing failed, 1 when a check failed, 2 when the run could not start.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use conformance::checks::{self, Ctx, Group};
use conformance::http::SigV4;
use conformance::report::{self, Summary};
use conformance::{Credentials, Given, Session, profiles, target};

#[derive(Parser, Debug)]
#[command(
    name = "dicomweb-conformance",
    about = "Checks a DICOMweb server's Studies Service (QIDO-RS, WADO-RS metadata, bulk data, \
             frames, instances) and the HealthImaging native path against PS3.18 and what real \
             viewers need."
)]
struct Args {
    /// The DICOMweb root, e.g. https://d111.cloudfront.net/datastore/<id> or
    /// http://127.0.0.1:8042/dicom-web.
    #[arg(long, required_unless_present = "list")]
    base_url: Option<String>,
    /// A bearer token for every request (prefer --token-command: arguments are visible to
    /// other users of the machine).
    #[arg(long, conflicts_with_all = ["token_command", "sigv4"])]
    token: Option<String>,
    /// A shell command that prints a bearer token, e.g. "dicomweb-edge token".
    #[arg(long, conflicts_with = "sigv4")]
    token_command: Option<String>,
    /// Sign every request with AWS Signature Version 4, with the key of the standard AWS
    /// credential chain (environment, shared config and credentials files, SSO, web
    /// identity, container and instance roles), e.g. for AHI's own DICOMweb API.
    #[arg(long)]
    sigv4: bool,
    /// The region to sign for (default: the chain's, e.g. AWS_REGION).
    #[arg(long, requires = "sigv4")]
    region: Option<String>,
    /// The SigV4 signing name.
    #[arg(long, requires = "sigv4", default_value = "medical-imaging")]
    sigv4_service: String,
    /// Study, series and SOP instance to test; found by QIDO-RS when not given.
    #[arg(long)]
    study: Option<String>,
    #[arg(long)]
    series: Option<String>,
    #[arg(long)]
    instance: Option<String>,
    /// The instance's NumberOfFrames, when the server has no WADO-RS metadata.
    #[arg(long)]
    frames: Option<u32>,
    /// Rows,Columns,SamplesPerPixel,BitsAllocated of the instance, when the server has no
    /// WADO-RS metadata (enables the decoded-length check).
    #[arg(long, value_delimiter = ',', value_name = "ROWS,COLUMNS,SAMPLES,BITS")]
    pixel: Vec<u64>,
    /// HealthImaging image set holding the instance (enables the native checks).
    #[arg(long, requires = "image_frame_id")]
    image_set: Option<String>,
    /// HealthImaging image frame ID of DICOMweb frame --native-frame of the instance.
    #[arg(long, requires = "image_set")]
    image_frame_id: Option<String>,
    /// Which DICOMweb frame --image-frame-id is.
    #[arg(long, default_value_t = 1)]
    native_frame: u32,
    /// An origin the server should allow (enables the CORS checks).
    #[arg(long)]
    origin: Option<String>,
    /// Run only these groups (comma-separated or repeated): frames, multipart, negotiation,
    /// errors, cors, auth, caching, native, decoded, retrieve, qido, metadata, bulkdata, range.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// What to print on stdout: the readable table, the JSON report or the JUnit XML report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write a report to a file: `--report json FILE`, `--report junit FILE` or
    /// `--report text FILE` (repeatable).
    #[arg(long, num_args = 2, value_names = ["FORMAT", "FILE"])]
    report: Vec<String>,
    /// Known deviations of a server to expect (`orthanc`); see conformance/src/profiles.rs.
    #[arg(long)]
    profile: Option<String>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// List the checks and exit.
    #[arg(long)]
    list: bool,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
}

impl Format {
    fn parse(s: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(s, false).ok()
    }

    fn render(
        self,
        target: &target::Target,
        findings: &[checks::Finding],
    ) -> anyhow::Result<String> {
        Ok(match self {
            Format::Text => report::table(target, findings),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(&report::json(target, findings))?;
                s.push('\n');
                s
            }
            Format::Junit => report::junit(findings)?,
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for c in checks::all() {
            let basis = match c.basis {
                checks::Basis::Standard => "",
                checks::Basis::Product => " [this product's rule]",
            };
            println!("{:<36} {}  ({}){basis}", c.id, c.title, c.cite);
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the suite; `Ok(true)` when no check failed.
async fn run(args: Args) -> anyhow::Result<bool> {
    let groups = args
        .only
        .iter()
        .map(|g| Group::parse(g.trim()).with_context(|| format!("unknown group {g:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let profile = match &args.profile {
        Some(name) => {
            Some(profiles::named(name).with_context(|| format!("unknown profile {name:?}"))?)
        }
        None => None,
    };
    let mut reports = Vec::new();
    for pair in args.report.chunks(2) {
        let [format, file] = pair else {
            bail!("--report takes a format and a file")
        };
        let Some(format) = Format::parse(format) else {
            bail!("--report format is text, json or junit, not {format:?}");
        };
        reports.push((format, PathBuf::from(file)));
    }
    let credentials = match (&args.token, &args.token_command) {
        (Some(t), _) => Credentials::Bearer(t.trim().to_owned()),
        (None, Some(cmd)) => Credentials::Bearer(token_from(cmd)?),
        (None, None) if args.sigv4 => {
            Credentials::SigV4(sigv4_key(args.region.clone(), &args.sigv4_service).await?)
        }
        (None, None) => Credentials::None,
    };
    let session = Session::new(credentials, Duration::from_secs(args.timeout))?;
    let given = Given {
        study: args.study,
        series: args.series,
        instance: args.instance,
        frames: args.frames,
        image_set: args.image_set,
        image_frame_id: args.image_frame_id,
        native_frame: Some(args.native_frame),
        origin: args.origin,
        pixel: match args.pixel[..] {
            [rows, columns, samples_per_pixel, bits_allocated] => Some(target::Pixel {
                rows,
                columns,
                samples_per_pixel,
                bits_allocated,
            }),
            [] => None,
            _ => bail!("--pixel takes four numbers: ROWS,COLUMNS,SAMPLES,BITS"),
        },
    };
    let base_url = args.base_url.context("--base-url is required")?;
    let target = target::discover(&session, &base_url, given).await?;
    let ctx = Ctx::new(session, target);
    let mut findings = checks::run(&ctx, &groups).await;
    if let Some(profile) = profile {
        profiles::apply(profile, &mut findings);
    }
    print!("{}", args.format.render(&ctx.target, &findings)?);
    for (format, file) in reports {
        let text = format.render(&ctx.target, &findings)?;
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(Summary::of(&findings).failed == 0)
}

/// The key and region of the standard AWS credential chain, resolved once for the run.
async fn sigv4_key(region: Option<String>, service: &str) -> anyhow::Result<SigV4> {
    use aws_credential_types::provider::ProvideCredentials;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r));
    }
    let config = loader.load().await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .context("--sigv4 needs a region: --region, AWS_REGION or the shared config file")?;
    let provider = config
        .credentials_provider()
        .context("--sigv4: no AWS credential provider")?;
    let credentials = provider
        .provide_credentials()
        .await
        .context("--sigv4: the AWS credential chain found no key")?;
    Ok(SigV4 {
        credentials,
        region,
        service: service.to_owned(),
    })
}

/// Runs `cmd` with `sh -c` and takes its trimmed stdout as the token (never printed).
fn token_from(cmd: &str) -> anyhow::Result<String> {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .with_context(|| format!("running --token-command {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "--token-command {cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let token = String::from_utf8(out.stdout)
        .context("--token-command printed something that is not text")?
        .trim()
        .to_owned();
    if token.is_empty() {
        bail!("--token-command {cmd:?} printed nothing");
    }
    Ok(token)
}
