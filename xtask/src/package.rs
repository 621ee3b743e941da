//! `cargo xtask package`: the artefacts of one deployment, from one config file.
//!
//! Writes to the output folder:
//! - `viewer-request.zip`, `origin-request.zip`: the Node.js host (`edge/js`), the trimmed
//!   module and `config.json` (Lambda@Edge has no environment variables, so the config is
//!   baked in); the viewer zip must stay under 1 MB (Lambda@Edge viewer-trigger quota);
//! - `translator.zip`: the `bootstrap` for `provided.al2023` (profile `lambda`), checked to
//!   need no glibc newer than the Lambda image's 2.34;
//! - `template.yaml`: `deploy/template.yaml`, next to the zips it names;
//! - `parameters*.json`: the template's parameters for `aws cloudformation deploy
//!   --parameter-overrides file://…`, including each edge zip's SHA-256 (a Lambda version is
//!   published only for exactly that code; a new hash replaces the version).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use base64::Engine;
use edge::config::DeployConfig;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Lambda@Edge's limit for viewer-trigger packages (zipped).
const VIEWER_ZIP_LIMIT: usize = 1024 * 1024;
/// Lambda@Edge's limit for origin-trigger packages (zipped).
const ORIGIN_ZIP_LIMIT: usize = 50 * 1024 * 1024;
/// glibc of the `provided.al2023` image.
const LAMBDA_GLIBC: (u32, u32) = (2, 34);
/// The shared libraries the bootstrap may need: glibc's and GCC's runtime, which every
/// `provided.al2023` function has. (The C++ runtime of CharLS is linked in statically,
/// `.cargo/config.toml`.)
const LAMBDA_LIBRARIES: [&str; 5] = [
    "libc.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "ld-linux-x86-64.so.2",
    "libpthread.so.0",
];

pub fn run(
    config_path: &Path,
    out: &Path,
    edge_only: bool,
    bootstrap: Option<PathBuf>,
    viewer: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut config = load_config(config_path)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    if config.internal_key.is_none() {
        config.internal_key = Some(internal_key(out)?);
    }
    let config_json = serde_json::to_vec_pretty(&config)?;

    let module = crate::wasm::build()?;
    let wasm = std::fs::read(&module)?;
    let host = std::fs::read("edge/js/host.mjs")?;
    let mut hashes = Vec::new();
    for (name, handler, limit) in [
        (
            "viewer-request",
            "edge/js/viewer-request.mjs",
            VIEWER_ZIP_LIMIT,
        ),
        (
            "origin-request",
            "edge/js/origin-request.mjs",
            ORIGIN_ZIP_LIMIT,
        ),
    ] {
        let zip = zip_files(&[
            ("index.mjs", std::fs::read(handler)?, 0o644),
            ("host.mjs", host.clone(), 0o644),
            ("edge.wasm", wasm.clone(), 0o644),
            ("config.json", config_json.clone(), 0o644),
        ])?;
        ensure!(
            zip.len() < limit,
            "{name}.zip is {} bytes; Lambda@Edge allows {limit}",
            zip.len()
        );
        let path = out.join(format!("{name}.zip"));
        std::fs::write(&path, &zip)?;
        println!("{}: {} bytes", path.display(), zip.len());
        hashes.push(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip)));
    }

    if !edge_only {
        let bootstrap = match bootstrap {
            Some(b) => b,
            None => build_bootstrap()?,
        };
        let glibc = max_glibc(&bootstrap)?;
        ensure!(
            glibc <= LAMBDA_GLIBC,
            "bootstrap needs glibc {}.{}; provided.al2023 has {}.{}",
            glibc.0,
            glibc.1,
            LAMBDA_GLIBC.0,
            LAMBDA_GLIBC.1
        );
        let foreign: Vec<String> = needed_libraries(&bootstrap)?
            .into_iter()
            .filter(|l| !LAMBDA_LIBRARIES.contains(&l.as_str()))
            .collect();
        ensure!(
            foreign.is_empty(),
            "bootstrap needs {foreign:?}, which provided.al2023 may not have"
        );
        let zip = zip_files(&[("bootstrap", std::fs::read(&bootstrap)?, 0o755)])?;
        let path = out.join("translator.zip");
        std::fs::write(&path, &zip)?;
        println!(
            "{}: {} bytes (x86_64, needs glibc {}.{})",
            path.display(),
            zip.len(),
            glibc.0,
            glibc.1
        );
    }

    let csp = if config.viewer.enabled {
        Some(viewer_bundle(&config, viewer, &out.join("viewer"))?)
    } else {
        None
    };

    std::fs::copy("deploy/template.yaml", out.join("template.yaml"))?;
    for (file, params) in parameter_files(&config, &hashes[0], &hashes[1], csp.as_deref()) {
        let path = out.join(file);
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&json!({ "Parameters": params }))?,
        )?;
        println!("{}", path.display());
    }
    Ok(())
}

/// The edge's internal key for a package in `out`: the one an earlier run wrote to
/// `out/internal-key` (so packaging again gives the same zips), else a new random one,
/// written there readable by its owner only. The edge functions' config and the
/// translator's `InternalKey` parameter must hold the same key, so both stacks of a
/// two-stack deployment come from one `dist/`.
fn internal_key(out: &Path) -> anyhow::Result<String> {
    let path = out.join("internal-key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let key = edge::internal::InternalKey::from_hex(&text)
            .with_context(|| format!("{} is not 64 hexadecimal digits", path.display()))?;
        return Ok(key.to_hex());
    }
    let key = edge::internal::InternalKey::new(rand::random()).to_hex();
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(key.as_bytes())?;
    Ok(key)
}

/// Reads and checks the config. A deployment without authentication (`auth.mode =
/// "none"`, for public or open datasets) needs the explicit acknowledgement and a Web ACL,
/// and is announced loudly.
pub fn load_config(path: &Path) -> anyhow::Result<DeployConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: DeployConfig =
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    config
        .validate()
        .with_context(|| format!("{} is not valid", path.display()))?;
    if config.auth.mode == "none" {
        ensure!(
            config.auth.acknowledge_unauthenticated,
            "auth.mode = \"none\" lets anyone with the URL read the datastores; for a public \
             or open dataset, set auth.acknowledge_unauthenticated = true"
        );
        ensure!(
            config.protection.has_web_acl(),
            "auth.mode = \"none\" needs a Web ACL in front: protection.web_acl_arn or \
             protection.rate_limit_per_ip"
        );
        eprintln!(
            "WARNING: this deployment has NO AUTHENTICATION: anyone with its URL can read \
             datastores {}. Only the datastore allowlist and the Web ACL stand in front of them.",
            config.healthimaging.datastores.join(", ")
        );
    } else {
        ensure!(
            !config.auth.acknowledge_unauthenticated,
            "auth.acknowledge_unauthenticated is only for auth.mode = \"none\""
        );
    }
    ensure!(
        !config.healthimaging.datastores.is_empty(),
        "healthimaging.datastores must list the datastores to serve"
    );
    Ok(config)
}

/// The template's parameters: one file when AHI is in us-east-1 (one stack), else one for
/// the translator's stack (AHI region) and one for the edge stack (us-east-1).
/// `[viewer]`: OHIF's files in `out` (`dist/viewer/`, for `aws s3 sync` into the template's
/// viewer bucket) with an `app-config.js` generated from the configuration: one data source
/// per datastore at `/datastore/{id}` of the same distribution (no CORS), signing in with the
/// issuer the authorizer trusts. Progressive loading over byte ranges stays off where the
/// viewer signs in: its range requests carry no Authorization header, and a signed-in page
/// has no token in its URL to give them. The viewer's files come from `viewer` or where
/// `scripts/viewer.sh` put them (it checks the npm tarball's SHA-512). Returns the
/// Content-Security-Policy for the template's viewer behavior.
fn viewer_bundle(
    config: &DeployConfig,
    viewer: Option<PathBuf>,
    out: &Path,
) -> anyhow::Result<String> {
    use edge::viewer as ohif;
    let fetched = Path::new(".cache/ohif")
        .join(ohif::OHIF_VERSION)
        .join("package/dist");
    let dist = viewer
        .or_else(|| fetched.join("index.html").is_file().then_some(fetched))
        .with_context(|| {
        format!(
            "[viewer] enabled, but the viewer's files are missing: scripts/viewer.sh fetches OHIF {} (or pass --viewer DIR)",
            ohif::OHIF_VERSION
        )
    })?;
    let index = std::fs::read_to_string(dist.join("index.html"))
        .with_context(|| format!("{} holds no viewer (no index.html)", dist.display()))?;
    let sign_in = config.viewer_sign_in()?;
    let sources = ohif::data_sources(
        config
            .healthimaging
            .datastores
            .iter()
            .map(|d| (format!("/datastore/{d}"), d.as_str())),
    );
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    copy_tree(&dist, out)?;
    std::fs::write(
        out.join("app-config.js"),
        ohif::app_config(&sources, sign_in.as_ref()),
    )?;
    println!(
        "{}: OHIF {} with app-config.js",
        out.display(),
        ohif::OHIF_VERSION
    );
    let origins = sign_in.as_ref().map(|s| s.origins()).unwrap_or_default();
    Ok(ohif::content_security_policy(&index, &origins))
}

/// Copies the files under `from` to `to` (symbolic links are not followed).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn parameter_files(
    c: &DeployConfig,
    viewer_sha: &str,
    origin_sha: &str,
    viewer_csp: Option<&str>,
) -> Vec<(&'static str, serde_json::Map<String, serde_json::Value>)> {
    let mut common = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        common.insert(k.to_owned(), json!(v));
    };
    put("AuthMode", c.auth.mode.clone());
    put("CognitoUserPoolId", c.auth.user_pool_id.clone());
    put("CognitoClientIds", c.auth.client_ids.join(","));
    put("OidcIssuer", c.auth.issuer.clone());
    put("OidcAudiences", c.auth.audiences.join(","));
    put("HealthImagingRegion", c.healthimaging.region.clone());
    put("DatastoreIds", c.healthimaging.datastores.join(","));
    put("CorsOrigins", c.cors.origins.join(","));
    put("FramesMaxAge", c.cache.frames_max_age_seconds.to_string());
    put(
        "MetadataMaxAge",
        c.cache.metadata_max_age_seconds.to_string(),
    );
    if let Some(arn) = &c.protection.web_acl_arn {
        put("WebAclArn", arn.clone());
    }
    put("RateLimitPerIp", c.protection.rate_limit_per_ip.to_string());
    if let Some(n) = c.protection.translator_reserved_concurrency {
        put("TranslatorReservedConcurrency", n.to_string());
    }
    if let Some(p) = &c.distribution.price_class {
        put("PriceClass", p.clone());
    }
    if let Some(d) = &c.distribution.domain_name {
        put("DomainName", d.clone());
    }
    if let Some(a) = &c.distribution.certificate_arn {
        put("CertificateArn", a.clone());
    }
    if let Some(k) = &c.internal_key {
        put("InternalKey", k.clone());
    }
    put("ViewerRequestCodeSha256", viewer_sha.to_owned());
    put("OriginRequestCodeSha256", origin_sha.to_owned());
    if let Some(csp) = viewer_csp {
        put("Viewer", "true".to_owned());
        put("ViewerContentSecurityPolicy", csp.to_owned());
    }

    let with = |components: &str, extra: &[(&str, &str)]| {
        let mut p = common.clone();
        p.insert("Components".into(), json!(components));
        for (k, v) in extra {
            p.insert((*k).into(), json!(v));
        }
        p
    };
    if c.healthimaging.region == "us-east-1" {
        vec![("parameters.json", with("all", &[]))]
    } else {
        vec![
            ("parameters-translator.json", with("translator", &[])),
            (
                "parameters-edge.json",
                with(
                    "edge",
                    &[
                        (
                            "TranslatorUrl",
                            "<TranslatorUrl output of the translator stack>",
                        ),
                        (
                            "TranslatorFunctionArn",
                            "<TranslatorFunctionArn output of the translator stack>",
                        ),
                        (
                            "TranslatorRangesUrl",
                            "<TranslatorRangesUrl output of the translator stack>",
                        ),
                    ],
                ),
            ),
        ]
    }
}

/// A zip with fixed timestamps, so the same inputs give the same bytes (and hash).
fn zip_files(files: &[(&str, Vec<u8>, u32)]) -> anyhow::Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes, mode) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(*mode);
        w.start_file(*name, options)?;
        w.write_all(bytes)?;
    }
    Ok(w.finish()?.into_inner())
}

/// The translator's `bootstrap` in the `lambda` profile (release, no debug information;
/// x86_64: the machine's target).
fn build_bootstrap() -> anyhow::Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--profile",
            "lambda",
            "--locked",
            "-p",
            "translator-lambda",
            "--bin",
            "bootstrap",
        ])
        .status()
        .context("cannot run cargo")?;
    ensure!(status.success(), "building the translator failed");
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    Ok(PathBuf::from(dir).join("lambda/bootstrap"))
}

/// The shared libraries the binary names (`NEEDED` in `objdump -p`).
pub fn needed_libraries(binary: &Path) -> anyhow::Result<Vec<String>> {
    let out = Command::new("objdump")
        .arg("-p")
        .arg(binary)
        .output()
        .context("cannot run objdump (binutils)")?;
    ensure!(
        out.status.success(),
        "objdump -p {} failed",
        binary.display()
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("NEEDED"))
        .map(|l| l.trim().to_owned())
        .collect())
}

/// The newest `GLIBC_x.y` symbol version the binary needs (`objdump -T`).
pub fn max_glibc(binary: &Path) -> anyhow::Result<(u32, u32)> {
    let out = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .context("cannot run objdump (binutils)")?;
    if !out.status.success() {
        bail!("objdump -T {} failed", binary.display());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut max = (0, 0);
    for word in text.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        if let Some(v) = word.strip_prefix("GLIBC_")
            && let Some((a, b)) = v.split_once('.')
        {
            let minor = b.split('.').next().unwrap_or(b);
            if let (Ok(a), Ok(b)) = (a.parse(), minor.parse()) {
                max = max.max((a, b));
            }
        }
    }
    ensure!(max != (0, 0), "{} names no glibc version", binary.display());
    Ok(max)
}
