//! The exported functions and the host-backed signature provider (wasm32 only).

use std::cell::RefCell;

use edge::config::DeployConfig;
use edge::lambda_edge::{OriginRequestFunction, Step, ViewerRequestFunction};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result as JwtResult};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, signature};

use crate::jwk::public_jwk;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn verify_signature(
        alg: *const u8,
        alg_len: usize,
        jwk: *const u8,
        jwk_len: usize,
        msg: *const u8,
        msg_len: usize,
        sig: *const u8,
        sig_len: usize,
    ) -> u32;
}

thread_local! {
    static INPUTS: RefCell<[Vec<u8>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static VIEWER: RefCell<Option<ViewerRequestFunction>> = const { RefCell::new(None) };
    static ORIGIN: RefCell<Option<OriginRequestFunction>> = const { RefCell::new(None) };
}

/// A buffer of `len` bytes for argument `slot` (0 or 1), valid until the next call.
#[unsafe(no_mangle)]
pub extern "C" fn input_buffer(slot: u32, len: usize) -> *mut u8 {
    INPUTS.with_borrow_mut(|inputs| {
        let buf = &mut inputs[(slot as usize).min(1)];
        buf.clear();
        buf.resize(len, 0);
        buf.as_mut_ptr()
    })
}

/// Where the last answer is.
#[unsafe(no_mangle)]
pub extern "C" fn output_ptr() -> *const u8 {
    OUTPUT.with_borrow(|o| o.as_ptr())
}

fn input(slot: usize) -> Vec<u8> {
    INPUTS.with_borrow_mut(|inputs| std::mem::take(&mut inputs[slot]))
}

fn answer(value: serde_json::Value) -> usize {
    OUTPUT.with_borrow_mut(|o| {
        o.clear();
        // Serialising a `Value` cannot fail.
        let _ = serde_json::to_writer(&mut *o, &value);
        o.len()
    })
}

/// The step as JSON, and its audit event, when it has one, as a line of its own after a
/// `\n` (compact JSON holds no raw newline): the host prints that line as it is instead of
/// parsing and serialising it again, which cost more than the rest of a cached token's
/// request (docs/operations.md).
fn answer_step(mut step: Step) -> usize {
    let audit = match &mut step {
        Step::Done { audit, .. } => audit.take(),
        Step::FetchKeys(_) => None,
    };
    OUTPUT.with_borrow_mut(|o| {
        o.clear();
        // A `Step` serialises whatever it holds.
        let _ = serde_json::to_writer(&mut *o, &step);
        if let Some(event) = audit {
            o.push(b'\n');
            let _ = serde_json::to_writer(&mut *o, &event);
        }
        o.len()
    })
}

fn config() -> Result<DeployConfig, String> {
    serde_json::from_slice(&input(0)).map_err(|e| format!("the baked config is invalid: {e}"))
}

fn init_result(r: Result<(), String>) -> usize {
    match r {
        Ok(()) => answer(serde_json::json!({"ok": true})),
        Err(e) => answer(serde_json::json!({"error": e})),
    }
}

/// Sets up the viewer-request function from the config JSON in slot 0; the answer names the
/// keys to fetch before the first request.
#[unsafe(no_mangle)]
pub extern "C" fn viewer_request_init() -> usize {
    install_provider();
    match config().and_then(|c| ViewerRequestFunction::new(&c).map_err(|e| e.to_string())) {
        Ok(f) => {
            let prefetch = f.keys_to_prefetch();
            VIEWER.set(Some(f));
            answer(serde_json::json!({"ok": true, "fetchKeys": prefetch}))
        }
        Err(e) => answer(serde_json::json!({"error": e})),
    }
}

/// One viewer-request event (slot 0) at `now` seconds: a [`Step`].
#[unsafe(no_mangle)]
pub extern "C" fn viewer_request(now: f64) -> usize {
    let event = input(0);
    VIEWER.with_borrow_mut(|f| match f {
        Some(f) => answer_step(f.handle(&event, now as u64)),
        None => answer(serde_json::json!({"error": "viewer_request_init was not called"})),
    })
}

/// The result of fetching the keys: the body in slot 0 when `ok` is 1.
#[unsafe(no_mangle)]
pub extern "C" fn viewer_request_keys(now: f64, ok: u32) -> usize {
    let body = input(0);
    VIEWER.with_borrow_mut(|f| match f {
        Some(f) if ok == 1 => match f.keys_fetched(&body, now as u64) {
            Ok(n) => answer(serde_json::json!({"keys": n})),
            Err(e) => answer(serde_json::json!({"error": e})),
        },
        Some(f) => {
            f.keys_unavailable(now as u64);
            answer(serde_json::json!({"keys": null}))
        }
        None => answer(serde_json::json!({"error": "viewer_request_init was not called"})),
    })
}

/// Sets up the origin-request function from the config JSON in slot 0.
#[unsafe(no_mangle)]
pub extern "C" fn origin_request_init() -> usize {
    init_result(config().and_then(|c| {
        let f = OriginRequestFunction::new(&c).map_err(|e| e.to_string())?;
        ORIGIN.set(Some(f));
        Ok(())
    }))
}

/// One origin-request event (slot 0) with credentials (slot 1) at `now_millis`.
#[unsafe(no_mangle)]
pub extern "C" fn origin_request(now_millis: f64) -> usize {
    let (event, credentials) = (input(0), input(1));
    ORIGIN.with_borrow(|f| match f {
        Some(f) => answer_step(f.handle(&event, &credentials, now_millis as u64)),
        None => answer(serde_json::json!({"error": "origin_request_init was not called"})),
    })
}

/// One origin-response event (slot 0), for the same function on the native behavior.
#[unsafe(no_mangle)]
pub extern "C" fn origin_response() -> usize {
    let event = input(0);
    ORIGIN.with_borrow(|f| match f {
        Some(f) => answer_step(f.handle_response(&event)),
        None => answer(serde_json::json!({"error": "origin_request_init was not called"})),
    })
}

/// Signature checks by the host; signing is never needed at the edge.
static HOST_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: host_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

fn install_provider() {
    // A second init finds it installed already, which is what it wants.
    let _ = HOST_PROVIDER.install_default();
}

fn no_signer(_: &Algorithm, _: &EncodingKey) -> JwtResult<Box<dyn JwtSigner>> {
    Err(ErrorKind::InvalidAlgorithm.into())
}

fn host_verifier(alg: &Algorithm, key: &DecodingKey) -> JwtResult<Box<dyn JwtVerifier>> {
    let jwk = public_jwk(*alg, key).ok_or(ErrorKind::InvalidKeyFormat)?;
    Ok(Box::new(HostVerifier { alg: *alg, jwk }))
}

struct HostVerifier {
    alg: Algorithm,
    jwk: String,
}

impl signature::Verifier<Vec<u8>> for HostVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let alg = format!("{:?}", self.alg);
        // SAFETY: each pointer/length pair is a live slice for the duration of the call; the
        // host only reads them.
        let ok = unsafe {
            verify_signature(
                alg.as_ptr(),
                alg.len(),
                self.jwk.as_ptr(),
                self.jwk.len(),
                msg.as_ptr(),
                msg.len(),
                sig.as_ptr(),
                sig.len(),
            )
        };
        if ok == 1 {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtVerifier for HostVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn no_randomness(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}

getrandom::register_custom_getrandom!(no_randomness);
