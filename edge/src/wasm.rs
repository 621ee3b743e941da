//! What the wasm32 build needs from its environment.
//!
//! `getrandom` 0.2 has no source of randomness on `wasm32-unknown-unknown` unless one is
//! registered. Nothing at the edge needs randomness (JWT verification and SigV4 signing are
//! deterministic), so the source refuses: a future caller that does draw randomness fails
//! loudly instead of silently getting predictable bytes.

fn no_randomness(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}

getrandom::register_custom_getrandom!(no_randomness);
