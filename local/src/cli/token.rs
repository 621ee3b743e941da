//! `dicomweb-edge token`: prints, on stdout and alone, a token of the development issuer
//! (key in the state directory, created on first use) that `serve --auth dev` accepts.

use std::time::SystemTime;

use anyhow::Context;

use super::TokenArgs;
use crate::dev_issuer::{DevIssuer, state_dir};

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let issuer = DevIssuer::load_or_create(&state_dir())?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    println!("{}", issuer.token(now, args.expires_in, &args.scope)?);
    Ok(())
}
