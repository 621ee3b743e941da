//! Validators and cache lifetimes of frame answers.

use super::{ANY_SYNTAX, Ctx, Outcome};
use crate::http::Request;

pub async fn etag(ctx: &Ctx) -> Outcome {
    let ex = ctx.frames("1", ANY_SYNTAX).await;
    let etag = ex.header("etag");
    Outcome::judge(
        ex.status == 200 && etag.is_some(),
        ex.sent.clone(),
        "200 with an ETag",
        format!("{}; ETag: {etag:?}", ex.status),
    )
}

/// The value of `directive=N` in a Cache-Control list.
fn seconds(cache_control: &str, directive: &str) -> Option<u64> {
    cache_control.split(',').find_map(|d| {
        let (name, value) = d.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case(directive)
            .then(|| value.trim().trim_matches('"').parse().ok())
            .flatten()
    })
}

pub async fn cache_control(ctx: &Ctx) -> Outcome {
    let ex = ctx.frames("1", ANY_SYNTAX).await;
    let cc = ex.header_list("cache-control");
    let has = |d: &str| cc.split(',').any(|x| x.trim().eq_ignore_ascii_case(d));
    let lifetime = seconds(&cc, "s-maxage").or_else(|| seconds(&cc, "max-age"));
    // Requests carry Authorization, which a shared cache may store only with `public` or
    // `s-maxage` (RFC 9111 §3.5).
    let ok = ex.status == 200
        && lifetime.is_some_and(|s| s > 0)
        && (has("public") || seconds(&cc, "s-maxage").is_some())
        && !has("no-store")
        && !has("private")
        && !has("no-cache");
    Outcome::judge(
        ok,
        ex.sent.clone(),
        "200 with Cache-Control: public (or s-maxage) and a positive max-age",
        format!("{}; Cache-Control: {cc:?}", ex.status),
    )
}

pub async fn if_none_match(ctx: &Ctx) -> Outcome {
    let first = ctx.frames("1", ANY_SYNTAX).await;
    let Some(etag) = first.header("etag") else {
        return Outcome::not_applicable("frame answers carry no ETag");
    };
    let req = Request::get(ctx.target.frames_url("1"))
        .accept(ANY_SYNTAX)
        .header("If-None-Match", etag);
    let ex = ctx.send(req).await;
    Outcome::judge(
        ex.status == 304 && ex.body.is_empty(),
        ex.sent.clone(),
        "304 with no body",
        ex.summary(),
    )
}
