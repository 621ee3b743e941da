//! Bearer-token authentication, applicable when the run has a token.

use super::{ANY_SYNTAX, Ctx, Outcome, frames_answer};
use crate::http::{Auth, Exchange, Request};

async fn frame_with(ctx: &Ctx, auth: Auth) -> Exchange {
    let req = Request::get(ctx.target.frames_url("1"))
        .accept(ANY_SYNTAX)
        .auth(auth);
    ctx.send(req).await
}

fn unauthorized(ex: &Exchange) -> Outcome {
    let challenge = ex.header("www-authenticate").unwrap_or_default();
    let ok = ex.status == 401 && challenge.trim_start().starts_with("Bearer");
    Outcome::judge(
        ok,
        ex.sent.clone(),
        "401 with WWW-Authenticate: Bearer …",
        format!("{}; WWW-Authenticate: {challenge:?}", ex.summary()),
    )
}

fn needs_token(ctx: &Ctx) -> Option<Outcome> {
    ctx.session
        .token()
        .is_none()
        .then(|| Outcome::not_applicable("no --token or --token-command given"))
}

pub async fn no_token(ctx: &Ctx) -> Outcome {
    if let Some(na) = needs_token(ctx) {
        return na;
    }
    unauthorized(&frame_with(ctx, Auth::Omit).await)
}

pub async fn bad_token(ctx: &Ctx) -> Outcome {
    if let Some(na) = needs_token(ctx) {
        return na;
    }
    let auth = Auth::Bearer {
        value: "not-a-token".into(),
        label: "the string not-a-token",
    };
    unauthorized(&frame_with(ctx, auth).await)
}

pub async fn tampered_token(ctx: &Ctx) -> Outcome {
    let Some(token) = ctx.session.token() else {
        return Outcome::not_applicable("no --token or --token-command given");
    };
    let Some((signed, signature)) = token.rsplit_once('.').filter(|(s, _)| s.contains('.')) else {
        return Outcome::not_applicable("the token is not a JWS compact serialisation");
    };
    if signature.is_empty() {
        return Outcome::not_applicable("the token is unsigned");
    }
    // A character in the middle: the last one can hold only padding bits.
    let mut sig = signature.as_bytes().to_vec();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == b'A' { b'B' } else { b'A' };
    let auth = Auth::Bearer {
        value: format!("{signed}.{}", String::from_utf8_lossy(&sig)),
        label: "the token with one signature character changed",
    };
    unauthorized(&frame_with(ctx, auth).await)
}

pub async fn with_token(ctx: &Ctx) -> Outcome {
    if let Some(na) = needs_token(ctx) {
        return na;
    }
    let ex = frame_with(ctx, Auth::Session).await;
    match frames_answer(&ex, 1) {
        Ok(_) => Outcome::judge(true, ex.sent.clone(), "200", ex.summary()),
        Err(got) => Outcome::judge(false, ex.sent, "200", got),
    }
}

fn needs_sigv4(ctx: &Ctx) -> Option<Outcome> {
    ctx.session
        .sigv4()
        .is_none()
        .then(|| Outcome::not_applicable("no --sigv4 given"))
}

/// AWS refuses a request without a valid signature with 403 (`MissingAuthenticationToken`,
/// `SignatureDoesNotMatch`); some SigV4 front ends answer 401.
fn refused(ex: &Exchange) -> Outcome {
    Outcome::judge(
        matches!(ex.status, 401 | 403),
        ex.sent.clone(),
        "403 (or 401)",
        ex.summary(),
    )
}

pub async fn sigv4_unsigned(ctx: &Ctx) -> Outcome {
    if let Some(na) = needs_sigv4(ctx) {
        return na;
    }
    refused(&frame_with(ctx, Auth::Omit).await)
}

pub async fn sigv4_tampered(ctx: &Ctx) -> Outcome {
    if let Some(na) = needs_sigv4(ctx) {
        return na;
    }
    refused(&frame_with(ctx, Auth::TamperedSignature).await)
}

pub async fn sigv4_signed(ctx: &Ctx) -> Outcome {
    if let Some(na) = needs_sigv4(ctx) {
        return na;
    }
    let ex = frame_with(ctx, Auth::Session).await;
    match frames_answer(&ex, 1) {
        Ok(_) => Outcome::judge(true, ex.sent.clone(), "200", ex.summary()),
        Err(got) => Outcome::judge(false, ex.sent, "200", got),
    }
}
