//! The edge: the functions CloudFront runs (authorizer, signer, translator), the local
//! server that plays CloudFront's part, and the `dicomweb-edge` command line.

//!
//! The cores CloudFront runs at the edge (`cloudfront`, `cors`, `authorizer`, `signer`, and
//! `lambda_edge`, which drives them for the Node.js host, with `config`) do no
//! I/O and build for `wasm32-unknown-unknown` with `--no-default-features`; the rest needs the
//! `local` feature (on by default).

pub mod authorizer;
pub mod cloudfront;
pub mod config;
pub mod cors;
pub mod lambda_edge;
pub mod signer;

#[cfg(feature = "local")]
pub mod cli;
#[cfg(feature = "local")]
pub mod dev_issuer;
#[cfg(feature = "local")]
pub mod errors;
#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "local")]
pub mod translator;
