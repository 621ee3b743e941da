//! `dicomweb-conformance`: runs the conformance checks against a DICOMweb base URL.
//! Exit status: 0 when nothing failed, 1 when a check failed, 2 when the run could not start.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use conformance::checks::{self, Ctx, Group};
use conformance::cli::{Args, Format};
use conformance::http::SigV4;
use conformance::report::Summary;
use conformance::{Credentials, Given, Session, profiles, target};

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
