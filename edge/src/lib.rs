//! The edge: the functions CloudFront runs (authorizer, signer, translator), the local
//! server that plays CloudFront's part, and the `dicomweb-edge` command line.

pub mod authorizer;
pub mod cli;
pub mod cloudfront;
pub mod cors;
pub mod dev_issuer;
pub mod errors;
pub mod local;
pub mod signer;
pub mod translator;
