//! `dicomweb-edge emulator`: imports the data, binds, prints what scripts need on stdout
//! (one `datastore …` line per datastore, then the ready line `listening on http://…`).

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use healthimaging::emulator::EmulatorConfig;

use super::EmulatorArgs;

pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let config = EmulatorConfig {
        data_dirs: super::data_dirs_or_demo(&args.data)?,
        region: args.region.clone(),
        credentials: vec![EmulatorConfig::credentials_from(
            args.access_key_id,
            args.secret_access_key,
            args.session_token,
        )],
    };
    let (emulator, _report) = crate::stack::import(config).await?;
    emulator.set_quotas(args.quotas.clone());
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
