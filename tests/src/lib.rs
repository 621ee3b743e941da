//! Helpers for the end-to-end tests: build and start the `dicomweb-edge` binary, read its
//! stdout contract, and call the Python oracles the test command installs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `dicomweb-edge` binary of this build profile, built once per test process.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("dicomweb-edge")).clone()
}

/// The `dicomweb-conformance` binary of this build profile, built once per test process.
pub fn conformance_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("dicomweb-conformance")).clone()
}

/// The translator's Lambda `bootstrap` of this build profile, for `cargo xtask package
/// --bootstrap` (packaging would otherwise build it again in the `lambda` profile).
/// `cargo test --workspace` builds it for `translator/lambda/tests/config.rs`.
pub fn bootstrap_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("bootstrap")).clone()
}

/// The workspace binary `name` of the test's own profile. `cargo test --workspace` has built
/// it beside the tests (with the same features), which the test command says with
/// `DICOMWEB_EDGE_BINARIES_BUILT=1`; otherwise (`cargo test -p e2e` alone) it is built here.
/// A `cargo build` from inside a workspace-wide test run would resolve features for one
/// package and rebuild most dependencies a second time.
fn build(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let built = profile_dir.join(name);
    if std::env::var_os("DICOMWEB_EDGE_BINARIES_BUILT").is_some() {
        assert!(
            built.exists(),
            "{} was not built by cargo test --workspace",
            built.display()
        );
        return built;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args(["build", "--quiet", "--bin", name]);
    if profile_dir.ends_with("release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building {name} failed");
    profile_dir.join(name)
}

/// A running `dicomweb-edge` process, killed on drop.
pub struct Process {
    child: Child,
    /// The stdout lines printed up to and including the ready line.
    pub lines: Vec<String>,
    /// The URL of the ready line `listening on http://…`.
    pub url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts `dicomweb-edge ARGS…` and waits (up to 180 s) for `listening on http://…`.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Process {
        Self::start_with_stderr(args, envs, Stdio::inherit())
    }

    /// As `start`, with stderr (the log) sent to `stderr`.
    pub fn start_with_stderr(
        args: &[&str],
        envs: &[(&str, &str)],
        stderr: impl Into<Stdio>,
    ) -> Process {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .env("RUST_LOG", "warn");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn dicomweb-edge");
        let stdout = child.stdout.take();
        // Owned by `Process` from here on, so a failure below still kills and reaps it.
        let mut process = Process {
            child,
            lines: Vec::new(),
            url: String::new(),
        };
        let stdout = stdout.expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!("no ready line from dicomweb-edge; got {:?}", process.lines)
            });
            let url = line.strip_prefix("listening on ").map(str::to_owned);
            process.lines.push(line);
            if let Some(url) = url {
                process.url = url;
                return process;
            }
        }
    }

    /// The process ID (for reading `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL on the first `dicomweb` line of `serve` (a datastore's DICOMweb root).
    pub fn dicomweb_url(&self) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix("dicomweb "))
            .expect("a dicomweb line")
            .to_owned()
    }

    /// The URL on the `upstream` line of `serve` (its embedded emulator).
    pub fn upstream_url(&self) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix("upstream "))
            .and_then(|l| l.split_whitespace().next())
            .expect("an upstream line")
            .to_owned()
    }

    /// An AWS SDK client of `serve`'s embedded emulator, with its documented credentials.
    pub fn upstream_sdk(&self) -> healthimaging::client::HealthImagingClient {
        healthimaging::client::HealthImagingClient::for_endpoint(
            &self.upstream_url(),
            healthimaging::emulator::DEFAULT_REGION,
            aws_credential_types::Credentials::new(
                healthimaging::emulator::DEFAULT_ACCESS_KEY_ID,
                healthimaging::emulator::DEFAULT_SECRET_ACCESS_KEY,
                None,
                None,
                "e2e",
            ),
            &healthimaging::client::ClientOptions::default(),
        )
    }

    /// The values of lines `datastore <id> …`.
    pub fn datastores(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix("datastore "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    /// The datastores of lines `datastore <id> <name> …`, by name: the id of each.
    pub fn datastores_by_name(&self) -> std::collections::BTreeMap<String, String> {
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix("datastore "))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let id = w.next()?;
                Some((w.next()?.to_owned(), id.to_owned()))
            })
            .collect()
    }
}

/// Runs a tool that answers with JSON on stdout: its JSON, after asserting it succeeded
/// (its stderr otherwise).
pub fn json_output(cmd: &mut Command) -> serde_json::Value {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// Whether the Python oracles can run here. With `DICOMWEB_EDGE_FULL_TESTS=1` (the test
/// command sets it) they must; a plain `cargo test` on a bare machine skips them loudly.
pub fn python_oracle_available() -> bool {
    python_modules_available("pydicom, numpy")
}

/// Whether `python3` can import `modules` (comma-separated), with the same rule as above.
pub fn python_modules_available(modules: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("DICOMWEB_EDGE_FULL_TESTS").as_deref() != Ok("1"),
            "python3 with {modules} is required (scripts/test.sh installs them)"
        );
        eprintln!(
            "SKIPPED: python3 with {modules} not installed; run scripts/test.sh for the full suite"
        );
    }
    ok
}

/// Runs `python3 ARGS…`, requires success, and returns its stdout.
fn run_python(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 {:?} failed: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a Python snippet and returns its stdout.
pub fn python(code: &str, args: &[&str]) -> String {
    let mut argv: Vec<&std::ffi::OsStr> = vec!["-c".as_ref(), code.as_ref()];
    argv.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
    String::from_utf8(run_python(&argv)).expect("utf-8")
}

/// The frame manifest of `dir` from `tests/tools/frame_manifest.py` (pydicom).
pub fn frame_manifest(dir: &Path) -> serde_json::Value {
    let script = workspace().join("tests/tools/frame_manifest.py");
    let out = run_python(&[script.as_os_str(), dir.as_os_str()]);
    serde_json::from_slice(&out).expect("manifest JSON")
}

/// A `kB` field of /proc/PID/status (`VmRSS:`, `VmHWM:`), in KiB; 0 when absent.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A free port on loopback (for a server a test must name before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `cargo xtask ARGS…` in the workspace: (success, stdout, stderr).
pub fn xtask<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (bool, String, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace())
        .args(["run", "--quiet", "--locked", "-p", "xtask", "--"])
        .args(args)
        .output()
        .expect("run cargo xtask");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `dicomweb-edge emulator` with the demo data and these credentials; its first datastore
/// and an SDK client for it.
pub fn emulator(
    access_key: &str,
    secret_key: &str,
) -> (
    Process,
    healthimaging::DatastoreId,
    healthimaging::client::HealthImagingClient,
) {
    let p = Process::start(
        &["emulator", "--listen", "127.0.0.1:0"],
        &[
            ("AWS_ACCESS_KEY_ID", access_key),
            ("AWS_SECRET_ACCESS_KEY", secret_key),
        ],
    );
    let ds = p.datastores()[0].parse().expect("datastore id");
    let sdk = healthimaging::client::HealthImagingClient::for_endpoint(
        &p.url,
        "us-east-1",
        aws_credential_types::Credentials::new(access_key, secret_key, None, None, "e2e"),
        &healthimaging::client::ClientOptions::default(),
    );
    (p, ds, sdk)
}

/// `cargo xtask package` of the config `toml` into a new temporary folder (plus `extra`
/// arguments, e.g. `--edge-only`); requires success. Returns the folder, the output folder
/// and what packaging printed (stdout, then stderr).
pub fn package(toml: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, toml).expect("write config");
    let out = dir.path().join("dist");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "package".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let (ok, stdout, stderr) = xtask(&args);
    assert!(ok, "package failed:\n{stdout}\n{stderr}");
    (dir, out, format!("{stdout}{stderr}"))
}

/// The `studies/{study}/series/{series}/instances/{sop}` path of each DICOM file in `folder`
/// (read with dicom-rs), sorted.
pub fn instance_paths(folder: &Path) -> Vec<String> {
    use dicom_dictionary_std::tags;
    let mut out: Vec<String> = std::fs::read_dir(folder)
        .expect("folder")
        .map(|e| {
            let obj = dicom_object::open_file(e.expect("entry").path()).expect("DICOM");
            let v = |t| {
                obj.element(t)
                    .expect("UID")
                    .to_str()
                    .expect("text")
                    .trim_end_matches('\0')
                    .to_owned()
            };
            format!(
                "studies/{}/series/{}/instances/{}",
                v(tags::STUDY_INSTANCE_UID),
                v(tags::SERIES_INSTANCE_UID),
                v(tags::SOP_INSTANCE_UID)
            )
        })
        .collect();
    out.sort();
    out
}

/// Progressive HTJ2K as a client reads it: where each resolution level ends, from the TLM
/// segment, and OpenJPEG's decoding of a codestream at a reduced resolution.
pub mod htj2k {
    /// The end of the main header and, from its TLM segment (ITU-T T.800 §A.7.1), where
    /// each tile-part ends: one per resolution level, lowest first, in the demo's frames.
    /// `None` when `prefix` holds no whole main header.
    pub fn tile_part_ends(prefix: &[u8]) -> Option<(usize, Vec<usize>)> {
        let u16_at = |at: usize| Some(u16::from_be_bytes(prefix.get(at..at + 2)?.try_into().ok()?));
        let mut at = 2;
        let mut lengths = Vec::new();
        loop {
            let marker = u16_at(at)?;
            if marker == 0xFF90 {
                break;
            }
            let len = u16_at(at + 2)? as usize;
            if marker == 0xFF55 {
                // Ztlm, Stlm = 0x60 (16-bit Ttlm, 32-bit Ptlm), then the entries.
                assert_eq!(prefix.get(at + 5), Some(&0x60), "TLM layout");
                for e in prefix.get(at + 6..at + 2 + len)?.chunks_exact(6) {
                    lengths.push(u32::from_be_bytes(e[2..6].try_into().ok()?) as usize);
                }
            }
            at += 2 + len;
        }
        let ends = lengths
            .iter()
            .scan(at, |end, l| {
                *end += l;
                Some(*end)
            })
            .collect();
        Some((at, ends))
    }

    /// Width, height and samples of `codestream` decoded by OpenJPEG `reduce` levels down;
    /// a prefix must end with an EOC marker (`FF D9`).
    pub fn decode(codestream: &[u8], reduce: u32) -> (u32, u32, Vec<i32>) {
        let params = jpeg2k::DecodeParameters::new().reduce(reduce);
        let image = jpeg2k::Image::from_bytes_with(codestream, params).expect("OpenJPEG decodes");
        let c = &image.components()[0];
        (c.width(), c.height(), c.data().to_vec())
    }
}

/// A real OpenID Connect provider on loopback (`tests/ohif/oidc_provider.mjs`: npm
/// `oidc-provider` with its own sign-in pages), issuing JWT access tokens for one audience;
/// stopped on drop.
pub struct OidcProvider {
    child: Child,
    /// `http://127.0.0.1:PORT`, the tokens' `iss`.
    pub issuer: String,
    /// Where it publishes its keys (its discovery document's `jwks_uri`).
    pub jwks_uri: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OidcProvider {
    /// Whether `scripts/install-ohif.sh` installed it.
    pub fn installed() -> bool {
        workspace()
            .join("tests/ohif/node_modules/oidc-provider")
            .exists()
    }

    /// A provider with one public client, `client_id` (redirect URI
    /// `http://127.0.0.1/callback` on any port), whose access tokens name `audience` and
    /// grant the non-OpenID scopes of `scope` (space-separated). Its log (methods and paths)
    /// goes to `log`.
    pub fn start(client_id: &str, audience: &str, scope: &str, log: &Path) -> OidcProvider {
        let log = std::fs::File::create(log).expect("the provider's log");
        let mut child = Command::new("node")
            .arg(workspace().join("tests/ohif/oidc_provider.mjs"))
            .args([client_id, audience, scope])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("run node");
        let mut line = String::new();
        let read = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        let ready: serde_json::Value = match read {
            Ok(n) if n > 0 => serde_json::from_str(&line).expect("the provider's JSON line"),
            _ => {
                let _ = child.kill();
                panic!("the OIDC provider did not start");
            }
        };
        OidcProvider {
            child,
            issuer: ready["issuer"].as_str().expect("issuer").to_owned(),
            jwks_uri: ready["jwks_uri"].as_str().expect("jwks_uri").to_owned(),
        }
    }
}
