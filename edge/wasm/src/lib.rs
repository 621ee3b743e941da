//! The Lambda@Edge functions (`edge::lambda_edge`) as one WebAssembly module, and the ABI the
//! Node.js host in `edge/js/host.mjs` speaks. It is written by hand rather than with
//! `wasm-bindgen` because it is five functions over byte buffers, and the module must import
//! nothing but the one primitive below.
//!
//! Calls: the host asks for an input buffer per argument ([`input_buffer`]), writes JSON into
//! it, calls a function, which returns the length of its JSON answer, and reads that many
//! bytes at [`output_ptr`]. Numbers (times) are passed as `f64`.
//!
//! Import: `env.verify_signature(alg, jwk, message, signature) -> 1 | 0`, each argument a
//! (pointer, length) pair; `alg` is the JWS name (`RS256`…), `jwk` the public key as a JWK
//! (RFC 7517). Rust has already chosen the key and checked that the algorithm is allowed; the
//! host only runs Node's `crypto.verify`, which is ~20x faster than pure-Rust RSA compiled to
//! WebAssembly (docs/architecture.md, "Edge functions").

#[cfg(target_arch = "wasm32")]
mod abi;
#[cfg(target_arch = "wasm32")]
pub use abi::*;

pub mod jwk;
