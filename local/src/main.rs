//! `dicomweb-edge`: the local stack and its tools. Parses arguments and hands over to the
//! command; the work happens in the library.

use clap::Parser;

mod allocator;

fn main() -> std::process::ExitCode {
    let cli = dicomweb_edge::cli::Cli::parse();
    dicomweb_edge::cli::init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dicomweb_edge::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
