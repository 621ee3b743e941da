//! The local stack and the `dicomweb-edge` command line. One process plays the deployed
//! product's parts on loopback: [`server`] is CloudFront (it drives the edge functions of
//! the `edge` crate, keeps the shared [`cache`] keyed by the behaviors table, and adds the
//! viewer-response phase), the `translator` crate answers in process, the HealthImaging
//! emulator is the upstream, and [`dev_issuer`] mints development tokens. [`stack`] wires
//! them together; [`cli`] is the thin binary's argument parsing.

pub mod audit_log;
pub mod cache;
pub mod cli;
pub mod dev_issuer;
pub mod keys;
pub mod metrics;
pub mod ohif;
pub mod server;
pub mod stack;
