//! The edge: the functions CloudFront runs (authorizer, signer, translator), the local
//! server that plays CloudFront's part, and the `dicomweb-edge` command line.

pub mod cli;
