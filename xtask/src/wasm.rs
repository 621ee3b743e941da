//! The Lambda@Edge module: `scripts/build-wasm.sh` compiles `edge-wasm` for
//! wasm32-unknown-unknown; this keeps only the exports the Node host calls and drops what
//! nothing then reaches (with `walrus`). A cdylib exports every `#[no_mangle]` function of
//! every crate linked in, and `js-sys` (a wasm32 dependency of `jsonwebtoken`) brings
//! thousands of wasm-bindgen descriptors that import JavaScript glue; without them the module
//! is a fraction of the size and imports only `env.verify_signature`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail, ensure};

/// What `edge/js/host.mjs` calls.
pub const EXPORTS: &[&str] = &[
    "memory",
    "input_buffer",
    "output_ptr",
    "viewer_request_init",
    "viewer_request",
    "viewer_request_keys",
    "origin_request_init",
    "origin_request",
    "origin_response",
];

/// What the host provides.
pub const IMPORTS: &[(&str, &str)] = &[("env", "verify_signature")];

/// Builds, trims and checks the module; returns its path.
pub fn build() -> anyhow::Result<PathBuf> {
    let out = Command::new("scripts/build-wasm.sh")
        .arg("--quiet")
        .output()
        .context("cannot run scripts/build-wasm.sh")?;
    if !out.status.success() {
        bail!(
            "scripts/build-wasm.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let raw = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(PathBuf::from)
        .context("scripts/build-wasm.sh printed no module path")?;
    let module = raw.with_file_name("edge.wasm");
    trim(&raw, &module)?;
    Ok(module)
}

/// Writes `input` with only [`EXPORTS`] to `output` and checks its imports.
pub fn trim(input: &PathBuf, output: &PathBuf) -> anyhow::Result<()> {
    let mut m = walrus::Module::from_file(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let unwanted: Vec<_> = m
        .exports
        .iter()
        .filter(|e| !EXPORTS.contains(&e.name.as_str()))
        .map(|e| e.id())
        .collect();
    for id in unwanted {
        m.exports.delete(id);
    }
    let missing: Vec<_> = EXPORTS
        .iter()
        .filter(|n| m.exports.iter().all(|e| e.name != **n))
        .collect();
    ensure!(missing.is_empty(), "the module lacks exports {missing:?}");
    walrus::passes::gc::run(&mut m);
    // What is left of wasm-bindgen's runtime sits in the function table, unreachable from our
    // exports but kept by it; its imports become functions that trap, as a call into absent
    // JavaScript would.
    let glue: Vec<_> = m
        .imports
        .iter()
        .filter(|i| i.module.starts_with("__wbindgen"))
        .filter_map(|i| match i.kind {
            walrus::ImportKind::Function(f) => Some(f),
            _ => None,
        })
        .collect();
    for f in glue {
        m.replace_imported_func(f, |(body, _)| {
            body.unreachable();
        })?;
    }
    walrus::passes::gc::run(&mut m);
    let custom: Vec<_> = m.customs.iter().map(|(id, _)| id).collect();
    for id in custom {
        m.customs.delete(id);
    }
    let imports: Vec<(String, String)> = m
        .imports
        .iter()
        .map(|i| (i.module.clone(), i.name.clone()))
        .collect();
    let expected: Vec<(String, String)> = IMPORTS
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    ensure!(
        imports == expected,
        "the module imports {imports:?}; the Node host provides only {expected:?}"
    );
    m.emit_wasm_file(output)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(())
}
