//! Project tasks that are programs rather than shell lines (the `cargo xtask` convention):
//!
//! - `cargo xtask wasm`: the Lambda@Edge module, `target/wasm32/edge.wasm`;
//! - `cargo xtask package --config deploy/config.toml [--out dist]`: everything
//!   `aws cloudformation package/deploy` needs, and with `[viewer]` the viewer's files
//!   (see docs/deploy.md).

mod package;
mod wasm;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "Builds the deployable artefacts")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Builds the Lambda@Edge WebAssembly module and checks what it imports.
    Wasm,
    /// Builds the edge zips (config baked in), the translator's bootstrap zip, the template
    /// and its parameter files.
    Package {
        #[arg(long, default_value = "deploy/config.toml")]
        config: PathBuf,
        #[arg(long, default_value = "dist")]
        out: PathBuf,
        /// Only the two edge zips (no translator build).
        #[arg(long)]
        edge_only: bool,
        /// Package this already-built translator `bootstrap` instead of building it in the
        /// `lambda` profile (the test command packages the one its tests were built with).
        #[arg(long)]
        bootstrap: Option<PathBuf>,
        /// With `[viewer]` enabled: the OHIF `dist/` folder to package (default: where
        /// `scripts/viewer.sh` puts it).
        #[arg(long)]
        viewer: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Paths given on the command line are the caller's; the tasks run from the workspace root.
    let here = std::env::current_dir()?;
    std::env::set_current_dir(workspace_root())?;
    match cli.command {
        Command::Wasm => {
            let module = wasm::build()?;
            println!("{}", module.display());
        }
        Command::Package {
            config,
            out,
            edge_only,
            bootstrap,
            viewer,
        } => package::run(
            &here.join(config),
            &here.join(out),
            edge_only,
            bootstrap.map(|b| here.join(b)),
            viewer.map(|v| here.join(v)),
        )?,
    }
    Ok(())
}

/// The workspace root (this crate's parent), so relative paths mean the same from anywhere.
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}
