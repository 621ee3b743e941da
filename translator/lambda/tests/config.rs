//! The bootstrap refuses a configuration it cannot run with before it asks Lambda for work,
//! naming the variable, and never echoes the internal key.

use std::process::Command;

fn start(env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    cmd.env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("AHI_REGION", "us-east-1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bootstrap");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_malformed_configuration_is_refused_at_start() {
    let key = "secret-but-not-64-hexadecimal-digits";
    let (ok, text) = start(&[("INTERNAL_KEY", key)]);
    assert!(!ok);
    assert!(
        text.contains("INTERNAL_KEY is not 64 hexadecimal digits"),
        "{text}"
    );
    assert!(!text.contains(key), "the key is echoed: {text}");

    let (ok, text) = start(&[("THROTTLE_PATIENCE", "soon")]);
    assert!(!ok);
    assert!(
        text.contains(r#"THROTTLE_PATIENCE="soon" is not a number"#),
        "{text}"
    );

    let (ok, text) = start(&[("PUBLIC_URL", "https://example.com/path")]);
    assert!(!ok);
    assert!(text.contains("is not scheme://host[:port]"), "{text}");
}
