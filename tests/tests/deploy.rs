//! The deployable artefacts as `cargo xtask package` writes them: the packaged Lambda@Edge
//! zips under Node's test runner (edge/js/test), against a JWKS served over HTTP and the
//! HealthImaging emulator; and the refusals of configs a deployment must not use.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{free_port, workspace, xtask};
use healthimaging::api::SearchCriteria;
use sha2::{Digest, Sha256};

const AK: &str = "AKIDDEPLOYTEST";
const SK: &str = "deploy-test-secret";

fn unzip(zip: &Path, into: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).expect("zip")).expect("zip");
    std::fs::create_dir_all(into).unwrap();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        assert!(!name.contains('/'), "{name}: the package is flat");
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        std::fs::write(into.join(&name), bytes).unwrap();
        names.push(name);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packaged_edge_functions_pass_under_node() {
    let (emulator, ds, sdk) = e2e::emulator(AK, SK);
    let hits = sdk
        .search_all(&ds, &SearchCriteria::default())
        .await
        .unwrap();
    let set = &hits[0].image_set_id;
    let meta = sdk.get_image_set_metadata(&ds, set, None).await.unwrap();
    let frame = meta.instances().next().unwrap().2.image_frames[0]
        .id
        .clone();
    let bytes = sdk.get_image_frame(&ds, set, &frame).await.unwrap().bytes;

    let dir = tempfile::tempdir().unwrap();
    let jwks_port = free_port();
    let issuer = format!("http://127.0.0.1:{jwks_port}");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[auth]
mode = "oidc"
issuer = "{issuer}"
audiences = ["dicomweb-deploy-test"]
jwks_refetch_cooldown_seconds = 3
[healthimaging]
region = "us-east-1"
datastores = ["{ds}"]
endpoint = "{}"
[cors]
origins = ["https://viewer.example"]
"#,
            emulator.url
        ),
    )
    .unwrap();
    let out = dir.path().join("dist");
    let package = || {
        let (ok, stdout, stderr) = xtask(&[
            "package",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--edge-only",
        ]);
        assert!(ok, "package failed:\n{stdout}\n{stderr}");
    };
    package();
    let viewer_zip = out.join("viewer-request.zip");
    let size = std::fs::metadata(&viewer_zip).unwrap().len();
    assert!(size < 1024 * 1024, "viewer-request.zip is {size} bytes");
    let viewer = dir.path().join("viewer");
    let origin = dir.path().join("origin");
    let mut files = unzip(&viewer_zip, &viewer);
    files.sort();
    assert_eq!(files, ["config.json", "edge.wasm", "host.mjs", "index.mjs"]);
    unzip(&out.join("origin-request.zip"), &origin);
    // The baked config is the one given.
    let baked: serde_json::Value =
        serde_json::from_slice(&std::fs::read(viewer.join("config.json")).unwrap()).unwrap();
    assert_eq!(baked["auth"]["issuer"], issuer.as_str());
    assert_eq!(baked["healthimaging"]["datastores"][0], ds.as_str());
    // The parameters carry each zip's hash, as Lambda computes CodeSha256.
    let params: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("parameters.json")).unwrap()).unwrap();
    let sha = |p: &PathBuf| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(std::fs::read(p).unwrap()))
    };
    assert_eq!(
        params["Parameters"]["ViewerRequestCodeSha256"],
        sha(&viewer_zip).as_str()
    );
    assert_eq!(params["Parameters"]["Components"], "all");
    // One internal key for the edge functions and the translator, kept in dist/ for the
    // owner only, and reused by the next packaging (the same zips again).
    let key = std::fs::read_to_string(out.join("internal-key")).unwrap();
    assert_eq!(key.len(), 64);
    assert_eq!(baked["internal_key"], key.as_str());
    assert_eq!(params["Parameters"]["InternalKey"], key.as_str());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("internal-key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let first = std::fs::read(&viewer_zip).unwrap();
    package();
    assert_eq!(
        std::fs::read(&viewer_zip).unwrap(),
        first,
        "packaging again changed the zip"
    );

    let test = workspace().join("edge/js/test/packages.test.mjs");
    let node = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(&test)
        .env("VIEWER_DIR", &viewer)
        .env("ORIGIN_DIR", &origin)
        .env("JWKS_PORT", jwks_port.to_string())
        .env("ISSUER", &issuer)
        .env("AUDIENCE", "dicomweb-deploy-test")
        .env("COOLDOWN_SECONDS", "3")
        .env("DATASTORE", ds.as_str())
        .env("IMAGE_SET", set.as_str())
        .env("FRAME_ID", frame.as_str())
        .env("FRAME_SHA256", hex::encode(Sha256::digest(&bytes)))
        .env("EMULATOR_AK", AK)
        .env("EMULATOR_SK", SK)
        .output()
        .expect("run node --test");
    let report = String::from_utf8_lossy(&node.stdout);
    assert!(
        node.status.success(),
        "node --test failed:\n{report}\n{}",
        String::from_utf8_lossy(&node.stderr)
    );
    assert!(report.contains("ℹ pass 9"), "{report}");
    assert!(report.contains("ℹ fail 0"), "{report}");
}

#[test]
fn package_refuses_configs_a_deployment_must_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[auth]\nmode = \"none\"\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n",
            "set auth.acknowledge_unauthenticated = true",
        ),
        (
            "[auth]\nmode = \"none\"\nacknowledge_unauthenticated = true\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n",
            "needs a Web ACL in front",
        ),
        (
            "[auth]\nmode = \"none\"\nacknowledge_unauthenticated = true\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n[protection]\nweb_acl_arn = \"arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/a/b\"\n",
            "is not a CLOUDFRONT-scope WAFv2 Web ACL ARN",
        ),
        (
            "[auth]\nmode = \"none\"\nacknowledge_unauthenticated = true\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n[protection]\nrate_limit_per_ip = 5\n",
            "0 (none) or 100 to 2000000000",
        ),
        (
            "[auth]\nmode = \"oidc\"\nissuer = \"https://id.example\"\naudiences = [\"a\"]\nacknowledge_unauthenticated = true\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n",
            "only for auth.mode = \"none\"",
        ),
        (
            "[auth]\nmode = \"oidc\"\nissuer = \"https://id.example\"\naudiences = [\"a\"]\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = []\n",
            "healthimaging.datastores must list the datastores to serve",
        ),
        (
            "[auth]\nmode = \"cognito\"\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n",
            "needs auth.user_pool_id and auth.client_ids",
        ),
        (
            "[auth]\nmode = \"oidc\"\nissuer = \"https://id.example\"\naudiences = [\"a\"]\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n[viewer]\nenabled = true\n",
            "the viewer needs the OIDC client it signs in as",
        ),
        (
            "[auth]\nmode = \"cognito\"\nuser_pool_id = \"us-east-1_Ab\"\nclient_ids = [\"c1\"]\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n[viewer]\nenabled = true\nclient_id = \"other\"\n",
            "is not one of the accepted app clients",
        ),
        (
            "[auth]\nmode = \"oidc\"\nissuer = \"https://id.example\"\naudiences = [\"a\"]\njwks_uri = \"http://id.example/keys\"\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n",
            "auth.jwks_uri \"http://id.example/keys\" is not an https:// URL",
        ),
        (
            "[auth]\nmode = \"oidc\"\nissuer = \"https://id.example\"\naudiences = [\"a\"]\nsecret = \"x\"\n[healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n",
            "unknown field `secret`",
        ),
    ];
    for (i, (toml, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let (ok, _, stderr) = xtask(&[
            "package",
            "--config",
            path.to_str().unwrap(),
            "--out",
            dir.path().join("out").to_str().unwrap(),
            "--edge-only",
        ]);
        assert!(!ok, "case {i} was packaged");
        assert!(stderr.contains(expected), "case {i}: {stderr}");
    }
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written for a bad config"
    );
}

/// A public dataset: no authentication, packaged only with the acknowledgement and a Web
/// ACL, loudly; the parameters carry the rate limit and the translator's concurrency.
#[test]
fn an_unauthenticated_deployment_needs_acknowledgement_and_a_web_acl() {
    let (_dir, out, printed) = e2e::package(
        "[auth]\nmode = \"none\"\nacknowledge_unauthenticated = true\n\
         [healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n\
         [protection]\nrate_limit_per_ip = 3000\ntranslator_reserved_concurrency = 50\n",
        &["--edge-only"],
    );
    assert!(
        printed.contains("WARNING: this deployment has NO AUTHENTICATION"),
        "{printed}"
    );
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("parameters.json")).unwrap()).unwrap();
    let p = &p["Parameters"];
    assert_eq!(p["AuthMode"], "none");
    assert_eq!(p["RateLimitPerIp"], "3000");
    assert_eq!(p["TranslatorReservedConcurrency"], "50");
    assert!(p.get("WebAclArn").is_none());
}

/// HealthImaging outside us-east-1: parameters for two stacks, the translator's first.
#[test]
fn two_stacks_when_healthimaging_is_not_in_us_east_1() {
    let (_dir, out, _) = e2e::package(
        "[auth]\nmode = \"cognito\"\nuser_pool_id = \"eu-west-1_AbCdEf\"\nclient_ids = [\"c1\", \"c2\"]\n\
         [healthimaging]\nregion = \"eu-west-1\"\ndatastores = [\"0123456789abcdef0123456789abcdef\"]\n",
        &["--edge-only"],
    );
    assert!(!out.join("parameters.json").exists());
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(f)).unwrap()).unwrap()
    };
    let translator = &read("parameters-translator.json")["Parameters"];
    let edge = &read("parameters-edge.json")["Parameters"];
    assert_eq!(translator["Components"], "translator");
    assert_eq!(edge["Components"], "edge");
    for p in [translator, edge] {
        assert_eq!(p["HealthImagingRegion"], "eu-west-1");
        assert_eq!(p["AuthMode"], "cognito");
        assert_eq!(p["CognitoClientIds"], "c1,c2");
    }
    assert!(edge["TranslatorUrl"].as_str().unwrap().starts_with('<'));
    assert!(
        edge["TranslatorRangesUrl"]
            .as_str()
            .unwrap()
            .starts_with('<')
    );
    assert!(
        edge["TranslatorFunctionArn"]
            .as_str()
            .unwrap()
            .starts_with('<')
    );
    // The viewer-request package carries the pool its tokens must come from.
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(out.join("viewer-request.zip")).unwrap()).unwrap();
    let mut baked = String::new();
    zip.by_name("config.json")
        .unwrap()
        .read_to_string(&mut baked)
        .unwrap();
    assert!(
        baked.contains("\"user_pool_id\": \"eu-west-1_AbCdEf\""),
        "{baked}"
    );
}

/// `[viewer]`: the viewer's files in `dist/viewer/` (from `--viewer DIR`, here a stand-in
/// for OHIF's `dist/`), with an `app-config.js` that follows the configuration: the edge as
/// its only data sources, on the same distribution, and the issuer's sign-in (the first of
/// Cognito's clients, the authorization code flow); the parameters turn the viewer on with
/// the Content-Security-Policy computed from that `index.html`.
#[test]
fn the_packaged_viewer_follows_the_config() {
    let ohif = tempfile::tempdir().unwrap();
    let index = r#"<html><head><script>window.PUBLIC_URL="/"</script><script src="/app.bundle.js"></script></head></html>"#;
    std::fs::write(ohif.path().join("index.html"), index).unwrap();
    std::fs::write(ohif.path().join("app-config.js"), "window.config = {};").unwrap();
    std::fs::create_dir(ohif.path().join("assets")).unwrap();
    std::fs::write(ohif.path().join("assets/logo.svg"), "<svg/>").unwrap();
    let (_dir, out, printed) = e2e::package(
        "[auth]\nmode = \"cognito\"\nuser_pool_id = \"us-east-1_AbCdEf\"\nclient_ids = [\"viewerclient\", \"other\"]\n\
         [healthimaging]\nregion = \"us-east-1\"\n\
         datastores = [\"0123456789abcdef0123456789abcdef\", \"fedcba9876543210fedcba9876543210\"]\n\
         [viewer]\nenabled = true\nscopes = [\"openid\", \"email\"]\n\
         sign_in_origins = [\"https://imaging.auth.us-east-1.amazoncognito.com\"]\n",
        &["--edge-only", "--viewer", ohif.path().to_str().unwrap()],
    );
    assert!(printed.contains("viewer"), "{printed}");
    let viewer = out.join("viewer");
    assert_eq!(
        std::fs::read_to_string(viewer.join("index.html")).unwrap(),
        index
    );
    assert_eq!(
        std::fs::read_to_string(viewer.join("assets/logo.svg")).unwrap(),
        "<svg/>"
    );
    let js = std::fs::read_to_string(viewer.join("app-config.js")).unwrap();
    let config = dicomweb_edge::ohif::window_config(&js).unwrap_or_else(|| panic!("{js}"));
    let sources = config["dataSources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    for (s, ds) in sources.iter().zip([
        "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210",
    ]) {
        let c = &s["configuration"];
        assert_eq!(c["wadoRoot"], format!("/datastore/{ds}"));
        assert_eq!(c["qidoRoot"], format!("/datastore/{ds}"));
        // Signed in too, frames stream in with OHIF's Authorization header.
        let stages = &c["stackRetrieveOptions"];
        assert_eq!(stages["stages"][0]["retrieveType"], "streaming");
        assert_eq!(stages["retrieveOptions"]["streaming"]["streaming"], true);
    }
    assert_eq!(
        config["defaultDataSourceName"],
        "0123456789abcdef0123456789abcdef"
    );
    let oidc = &config["oidc"][0];
    assert_eq!(
        oidc["authority"],
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf"
    );
    assert_eq!(oidc["client_id"], "viewerclient");
    assert_eq!(oidc["scope"], "openid email");
    assert_eq!(oidc["response_type"], "code");
    assert_eq!(oidc["redirect_uri"], "/callback");
    assert_eq!(oidc["post_logout_redirect_uri"], "/signed-out");
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("parameters.json")).unwrap()).unwrap();
    let p = &p["Parameters"];
    assert_eq!(p["Viewer"], "true");
    let csp = p["ViewerContentSecurityPolicy"].as_str().unwrap();
    assert!(
        csp.contains("'sha256-iDPt/Ua3DNNwIdzDqulCGYDYPv58ixnA75eez8NxOJg='"),
        "{csp}"
    );
    assert!(
        csp.contains(
            "connect-src 'self' https://cognito-idp.us-east-1.amazonaws.com https://imaging.auth.us-east-1.amazoncognito.com;"
        ),
        "{csp}"
    );
}
