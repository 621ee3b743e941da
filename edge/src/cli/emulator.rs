//! `dicomweb-edge emulator`: imports the data, binds, prints what scripts need on stdout
//! (one `datastore …` line per datastore, then the ready line `listening on http://…`).

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use healthimaging::emulator::{Emulator, EmulatorConfig, demo_data_dir};

use super::EmulatorArgs;

pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let data_dirs = if args.data.is_empty() {
        let demo = demo_data_dir();
        anyhow::ensure!(
            demo.is_dir(),
            "the demo dataset was not found at {}; pass --data DIR",
            demo.display()
        );
        vec![demo]
    } else {
        args.data.clone()
    };
    for d in &data_dirs {
        anyhow::ensure!(d.is_dir(), "--data {}: not a folder", d.display());
    }
    let config = EmulatorConfig {
        data_dirs,
        region: args.region.clone(),
        credentials: vec![EmulatorConfig::credentials_from(
            args.access_key_id,
            args.secret_access_key,
            args.session_token,
        )],
    };
    let started = std::time::Instant::now();
    let (emulator, report) = tokio::task::spawn_blocking(move || Emulator::load(&config))
        .await
        .context("import task failed")?
        .context("cannot read the data folder")?;
    tracing::info!(
        instances = report.instances,
        frames = report.frames,
        skipped = report.skipped.len(),
        millis = started.elapsed().as_millis() as u64,
        "import finished"
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Scripts read these lines; a closed stdout must not stop the server.
    let mut out = std::io::stdout().lock();
    for ds in emulator.datastores() {
        let _ = writeln!(
            out,
            "datastore {} {} ({} image sets)",
            ds.id,
            ds.name,
            ds.image_sets.len()
        );
    }
    let _ = writeln!(out, "region {}", args.region);
    let _ = writeln!(out, "listening on http://{addr}");
    let _ = out.flush();
    drop(out);
    Arc::new(emulator)
        .serve(listener)
        .await
        .context("server failed")
}
