//! `dicomweb-edge serve`: the local stack. Prints what a user and scripts need on stdout
//! (datastores, the upstream, each DICOMweb root, a sample request, an OHIF data source, the
//! viewer's link), then the ready line `listening on http://HOST:PORT`.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use healthimaging::client::ClientOptions;

use super::{AuthKind, ServeArgs, UpstreamKind};
use crate::stack::{self, Auth, RunningStack, StackOptions, Upstream};
use edge::authorizer::AuthMode;
use edge::config::{ViewerSettings, ViewerSignIn};
use edge::cors::CorsPolicy;
use translator::TranslatorConfig;
use translator::resolve::ResolverConfig;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let upstream = match args.upstream {
        UpstreamKind::Emulator => Upstream::Emulator {
            data_dirs: super::data_dirs_or_demo(&args.data)?,
            listen: args.emulator_listen,
            quotas: args.quotas.clone(),
        },
        UpstreamKind::Aws => {
            anyhow::ensure!(
                args.data.is_empty(),
                "--data is for the embedded emulator, not --upstream aws"
            );
            anyhow::ensure!(
                args.quotas.0.is_empty(),
                "--quotas is for the embedded emulator; HealthImaging enforces its own"
            );
            Upstream::Aws {
                region: args.region.clone(),
                datastores: args.datastore.clone(),
            }
        }
    };
    let auth = match args.auth {
        AuthKind::Dev => Auth::Dev {
            state_dir: crate::dev_issuer::state_dir(),
        },
        AuthKind::None => {
            anyhow::ensure!(
                args.listen.ip().is_loopback(),
                "--auth none is refused on a non-loopback address ({})",
                args.listen
            );
            tracing::warn!(
                "AUTHENTICATION IS OFF (--auth none): anyone who can reach {} can read the images",
                args.listen
            );
            Auth::None
        }
        AuthKind::Oidc => Auth::Issuer(AuthMode::Oidc {
            issuer: args.oidc_issuer.clone().unwrap_or_default(),
            audiences: args.audience.clone(),
            jwks_uri: args.oidc_jwks_uri.clone(),
        }),
        AuthKind::Cognito => Auth::Issuer(AuthMode::Cognito {
            region: args.cognito_region.clone().unwrap_or_default(),
            user_pool_id: args.cognito_user_pool_id.clone().unwrap_or_default(),
            client_ids: args.client_id.clone(),
        }),
    };
    anyhow::ensure!(
        args.oidc_jwks_uri.is_none() || matches!(args.auth, AuthKind::Oidc),
        "--oidc-jwks-uri is for --auth oidc"
    );
    let viewer_sign_in = viewer_sign_in(&args, &auth)?;
    let options = StackOptions {
        upstream,
        listen: args.listen,
        translator: TranslatorConfig {
            frame_concurrency: usize::from(args.frame_concurrency),
            frames_max_age_seconds: args.frames_max_age,
            metadata_max_age_seconds: args.metadata_max_age,
            public_url: args.public_url.clone(),
            max_decoded_frame_bytes: args.max_decoded_frame_mb << 20,
            max_rendered_pixels: args.max_rendered_megapixels << 20,
            resolver: ResolverConfig {
                index_ttl: Duration::from_secs(args.metadata_ttl),
                search_ttl: Duration::from_secs(args.search_ttl),
                ..ResolverConfig::default()
            },
            internal_key: None,
            throttle_patience: Duration::from_secs(args.throttle_patience),
            read_ahead: translator::read_ahead::ReadAhead::new(args.read_ahead_mb << 20),
            observer: Default::default(),
        },
        client: ClientOptions {
            attempt_timeout: Duration::from_millis(args.upstream_timeout_ms),
            ..ClientOptions::default()
        },
        cache_bytes: args.cache_mb << 20,
        cors: CorsPolicy {
            origins: args.cors_origin.clone(),
            ..CorsPolicy::default()
        },
        auth,
        datastores: args.datastore.clone(),
        jwks_cooldown_seconds: edge::config::DEFAULT_JWKS_COOLDOWN_SECONDS,
        timeouts: crate::server::Timeouts {
            header_read: Duration::from_secs(args.header_timeout),
            body_read: Duration::from_secs(args.body_timeout),
            send: Duration::from_secs(args.send_timeout),
        },
        translators: usize::from(args.translators),
        shared_resolution: !args.no_shared_resolution,
        viewer: if args.no_viewer {
            None
        } else {
            args.viewer.clone().or_else(crate::ohif::default_dist)
        },
        viewer_sign_in,
        required_scopes: args.required_scope.clone(),
        audit_log: args.audit_log.clone(),
        metrics_listen: args.metrics_listen,
    };
    let running = stack::start(options).await?;
    // Scripts read these lines; a closed stdout must not stop the server.
    let _ = print_banner(&running, &mut std::io::stdout().lock());
    running
        .wait(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// How the served viewer signs in, by the rule the deployed viewer follows
/// ([`ViewerSettings::sign_in`]): with an issuer's tokens, as `--viewer-client-id` (with
/// Cognito, by default the first `--client-id`); with an OIDC issuer and no client, not at
/// all (the banner says so).
fn viewer_sign_in(args: &ServeArgs, auth: &Auth) -> anyhow::Result<Option<ViewerSignIn>> {
    let given = args.viewer_client_id.is_some()
        || !args.viewer_scope.is_empty()
        || !args.viewer_sign_in_origin.is_empty();
    let mode = match auth {
        Auth::Issuer(mode) => mode,
        _ => {
            anyhow::ensure!(
                !given,
                "--viewer-client-id, --viewer-scope and --viewer-sign-in-origin are for --auth oidc or cognito"
            );
            return Ok(None);
        }
    };
    if matches!(mode, AuthMode::Oidc { .. }) && args.viewer_client_id.is_none() {
        anyhow::ensure!(
            !given,
            "--viewer-scope and --viewer-sign-in-origin need --viewer-client-id"
        );
        return Ok(None);
    }
    let settings = ViewerSettings {
        enabled: true,
        client_id: args.viewer_client_id.clone().unwrap_or_default(),
        scopes: args.viewer_scope.clone(),
        sign_in_origins: args.viewer_sign_in_origin.clone(),
    };
    settings.sign_in(mode).map_err(anyhow::Error::from)
}

fn print_banner(s: &RunningStack, out: &mut impl Write) -> std::io::Result<()> {
    let base = &s.base_url;
    for d in &s.datastores {
        if d.name.is_empty() {
            writeln!(out, "datastore {}", d.id)?;
        } else {
            writeln!(
                out,
                "datastore {} {} ({} image sets)",
                d.id, d.name, d.image_sets
            )?;
        }
    }
    match &s.emulator {
        Some(e) => writeln!(
            out,
            "upstream {} (HealthImaging emulator, region {}, access key {})",
            e.url,
            e.region,
            stack::emulator_credentials().access_key_id
        )?,
        None => writeln!(
            out,
            "upstream AWS HealthImaging (standard credential chain)"
        )?,
    }
    for d in &s.datastores {
        writeln!(out, "dicomweb {base}/datastore/{}", d.id)?;
    }
    let token_flag = if s.dev_issuer.is_some() {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "dicomweb-edge".into());
        writeln!(
            out,
            "auth development issuer; tokens: {exe} token; keys: {base}{}",
            crate::keys::JWKS_PATH
        )?;
        format!(" -H \"Authorization: Bearer $({exe} token)\"")
    } else {
        String::new()
    };
    let mut demo_study = None;
    if let Some(e) = &s.emulator
        && let Some((ds, study, series, sop)) = e.emulator.datastores().find_map(|d| {
            let set = d.image_sets.values().find(|s| s.is_primary)?;
            let meta = set.latest().metadata();
            let (se, sop, _) = meta.instances().next()?;
            Some((
                d.id.clone(),
                meta.study_instance_uid()?.to_owned(),
                se.to_owned(),
                sop.to_owned(),
            ))
        })
    {
        writeln!(
            out,
            "try: curl -sD- -o frame.bin{token_flag} -H 'Accept: multipart/related; type=\"application/octet-stream\"; transfer-syntax=*' {base}/datastore/{ds}/studies/{study}/series/{series}/instances/{sop}/frames/1"
        )?;
        demo_study = Some(study);
    }
    if let Some(d) = s.datastores.first() {
        let root = format!("{base}/datastore/{}", d.id);
        let ohif = crate::ohif::data_source(&root, "dicomweb-edge");
        writeln!(out, "ohif data source: {ohif}")?;
    }
    match (&s.viewer_url, &s.dev_issuer) {
        (Some(url), None) => match (&s.viewer_sign_in, &s.auth_mode) {
            (Some(sign_in), _) => writeln!(
                out,
                "viewer {url} (signs in at {} as client {}, returning to {url}callback)",
                sign_in.authority, sign_in.client_id
            )?,
            (None, AuthMode::None) => writeln!(out, "viewer {url}")?,
            (None, _) => writeln!(
                out,
                "viewer {url} (no sign-in: pass --viewer-client-id, a public client of the issuer whose redirect URI is {url}callback)"
            )?,
        },
        // OHIF takes a bearer token from the URL of a study it opens (`?token=`, removed
        // from the address once read) and sends it on every request; its study list alone
        // has no such parameter.
        (Some(url), Some(issuer)) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            match (demo_study, issuer.token(now, VIEWER_TOKEN_SECONDS, &[])) {
                (Some(study), Ok(token)) => writeln!(
                    out,
                    "viewer {url}viewer?StudyInstanceUIDs={study}&token={token} (the demo \
                     study, with a development token valid {} hours)",
                    VIEWER_TOKEN_SECONDS / 3600
                )?,
                _ => writeln!(
                    out,
                    "viewer {url}viewer?StudyInstanceUIDs=<study UID>&token=<dicomweb-edge token>"
                )?,
            }
        }
        (None, _) => writeln!(
            out,
            "viewer none: scripts/viewer.sh fetches OHIF {} into .cache/ohif, then start serve again",
            crate::ohif::OHIF_VERSION
        )?,
    }
    if let Some(url) = &s.metrics_url {
        writeln!(out, "metrics {url}")?;
    }
    writeln!(out, "listening on {base}")?;
    out.flush()
}

/// How long the development token in the printed viewer link lasts.
const VIEWER_TOKEN_SECONDS: u64 = 12 * 3600;

/// The default address of `serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The default address of the embedded emulator: a free port (printed on start).
pub fn default_emulator_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
