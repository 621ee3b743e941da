//! The translator as a Lambda function: CloudFront's origin for DICOMweb and the native GET,
//! reached through a Function URL (`AuthType: AWS_IAM`, Origin Access Control) whose
//! `InvokeMode: RESPONSE_STREAM` lets multipart answers of any size (up to 200 MB) stream.
//!
//! Configuration comes from environment variables (the template sets them):
//! - `AHI_REGION`: HealthImaging's region (default: `AWS_REGION`, the function's own);
//! - `AHI_ENDPOINT`: another AHI-compatible endpoint, e.g. the emulator (tests);
//! - `PUBLIC_URL`: the URL viewers use, for BulkDataURIs (default: the one the
//!   viewer-request function names);
//! - `FRAMES_MAX_AGE`, `METADATA_MAX_AGE` (seconds), `FRAME_CONCURRENCY`.
//!
//! Credentials come from the Lambda environment through the standard AWS chain.

#![recursion_limit = "256"]

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use healthimaging::client::{ClientOptions, HealthImagingClient};
use lambda_http::{Error, Request, service_fn};
use translator::{Translator, TranslatorConfig};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .ok()
            .with_context(|| format!("{name}={v:?} is not a number")),
    }
}

fn translator_config() -> anyhow::Result<TranslatorConfig> {
    let defaults = TranslatorConfig::default();
    let public_url = match var("PUBLIC_URL") {
        None => None,
        Some(v) => match edge::lambda_edge::public_url(&v) {
            Some(url) => Some(url),
            None => bail!("PUBLIC_URL={v:?} is not scheme://host[:port]"),
        },
    };
    Ok(TranslatorConfig {
        frame_concurrency: number("FRAME_CONCURRENCY", defaults.frame_concurrency)?.max(1),
        frames_max_age_seconds: number("FRAMES_MAX_AGE", defaults.frames_max_age_seconds)?,
        metadata_max_age_seconds: number("METADATA_MAX_AGE", defaults.metadata_max_age_seconds)?,
        public_url,
        max_decoded_frame_bytes: number(
            "MAX_DECODED_FRAME_MB",
            defaults.max_decoded_frame_bytes >> 20,
        )? << 20,
        ..defaults
    })
}

async fn client() -> anyhow::Result<HealthImagingClient> {
    let region = var("AHI_REGION").or_else(|| var("AWS_REGION"));
    let options = ClientOptions::default();
    match var("AHI_ENDPOINT") {
        None => Ok(HealthImagingClient::from_env(region, &options).await),
        Some(endpoint) => {
            let region = region.context("AHI_ENDPOINT needs AHI_REGION or AWS_REGION")?;
            let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region.clone()))
                .load()
                .await;
            let provider = conf
                .credentials_provider()
                .context("no AWS credentials in the environment")?;
            use aws_credential_types::provider::ProvideCredentials as _;
            let credentials = provider
                .provide_credentials()
                .await
                .context("cannot read AWS credentials")?;
            Ok(HealthImagingClient::for_endpoint(
                &endpoint,
                &region,
                credentials,
                &options,
            ))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time()
        .init();
    let config = translator_config()?;
    let translator = Arc::new(Translator::new(Arc::new(client().await?), config));
    lambda_http::run_with_streaming_response(service_fn(move |req: Request| {
        let translator = translator.clone();
        async move {
            let started = Instant::now();
            let (parts, _) = req.into_parts();
            let response = translator.handle(&parts).await;
            tracing::info!(
                method = %parts.method,
                path = edge::http_rules::loggable_target(parts.uri.path(), parts.uri.query()),
                status = response.status().as_u16(),
                ms = started.elapsed().as_millis() as u64,
                "answered"
            );
            Ok::<_, Error>(response)
        }
    }))
    .await
}
