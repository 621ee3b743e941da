//! The edge cores: everything CloudFront runs for this product, as pure functions of
//! (configuration, request, keys, credentials, now) that do no I/O and build for
//! `wasm32-unknown-unknown`. The shells that drive them are the Node.js host of the
//! Lambda@Edge functions (`edge/js`, `edge/wasm`) and the local server (`dicomweb-edge`).
//!
//! In the order a request meets them (docs/architecture.md): [`routes`] (the URL space),
//! [`behaviors`] (which CloudFront behavior, origin and cache key), [`authorizer`]
//! (viewer-request) with [`cors`], [`signer`] (origin-request), [`lambda_edge`] (the
//! functions as the host drives them; the viewer-request function writes each request's
//! [`audit`] event), and the rules every phase shares: [`errors`] (the one
//! error table), [`http_rules`] (conditional requests, cache directives, query-derived keys) and
//! [`cloudfront`] (the event types).

pub mod audit;
pub mod authorizer;
pub mod behaviors;
pub mod cloudfront;
pub mod config;
pub mod cors;
pub mod errors;
pub mod http_rules;
pub mod internal;
pub mod lambda_edge;
pub mod routes;
pub mod signer;
pub mod viewer;

pub use errors::{EdgeError, ErrorAnswer};
pub use routes::{Route, RouteError};
