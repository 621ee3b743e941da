//! `dicomweb-edge emulator`: imports the data, binds, prints what scripts need on stdout
//! (one `datastore …` line per datastore, then the ready line `listening on http://…`).

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
    let (emulator, report) = tokio::task::spawn_blocking(move || Emulator::load(&config))
        .await
        .context("import task failed")?
        .context("cannot read the data folder")?;
    tracing::info!(
        instances = report.instances,
        frames = report.frames,
        skipped = report.skipped.len(),
        "import finished"
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    for ds in emulator.datastores() {
        println!(
            "datastore {} {} ({} image sets)",
            ds.id,
            ds.name,
            ds.image_sets.len()
        );
    }
    println!("region {}", args.region);
    println!("listening on http://{addr}");
    Arc::new(emulator).serve(listener).await.context("server failed")
}
