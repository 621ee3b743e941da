//! CORS as browsers enforce it (Fetch Standard §3.2): a viewer on another origin sends
//! `Authorization`, so every frame request is preflighted.

use reqwest::Method;

use super::{ANY_SYNTAX, Ctx, Outcome};
use crate::http::{Auth, Request};

/// Whether a comma-separated header list names `item` (case-insensitively) or is `*`.
fn lists(list: &str, item: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|v| v == "*" || v.eq_ignore_ascii_case(item))
}

pub async fn preflight(ctx: &Ctx) -> Outcome {
    let Some(origin) = &ctx.target.origin else {
        return Outcome::not_applicable("no --origin given");
    };
    let req = Request::new(Method::OPTIONS, ctx.target.frames_url("1"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization,accept")
        .auth(Auth::Omit);
    let ex = ctx.send(req).await;
    let allow_origin = ex.header("access-control-allow-origin").unwrap_or_default();
    let allow_headers = ex.header_list("access-control-allow-headers");
    let allow_methods = ex.header_list("access-control-allow-methods");
    // `*` does not cover Authorization (Fetch Standard §3.2.5): it must be named.
    let authorization = allow_headers
        .split(',')
        .any(|h| h.trim().eq_ignore_ascii_case("authorization"));
    let ok = (200..300).contains(&ex.status)
        && (allow_origin == origin || allow_origin == "*")
        && authorization
        && lists(&allow_headers, "accept")
        && (allow_methods.is_empty() || lists(&allow_methods, "GET"));
    Outcome::judge(
        ok,
        ex.sent.clone(),
        format!(
            "2xx; Access-Control-Allow-Origin {origin} or *; Allow-Headers naming authorization \
             and accept; GET allowed"
        ),
        format!(
            "{}; Allow-Origin {allow_origin:?}; Allow-Headers {allow_headers:?}; \
             Allow-Methods {allow_methods:?}",
            ex.status
        ),
    )
}

pub async fn expose(ctx: &Ctx) -> Outcome {
    let Some(origin) = &ctx.target.origin else {
        return Outcome::not_applicable("no --origin given");
    };
    let req = Request::get(ctx.target.frames_url("1"))
        .accept(ANY_SYNTAX)
        .header("Origin", origin);
    let ex = ctx.send(req).await;
    let allow_origin = ex.header("access-control-allow-origin").unwrap_or_default();
    let exposed = ex.header_list("access-control-expose-headers");
    let ok = ex.status == 200
        && (allow_origin == origin || allow_origin == "*")
        && ["content-length", "content-range", "etag"]
            .iter()
            .all(|h| lists(&exposed, h));
    Outcome::judge(
        ok,
        ex.sent.clone(),
        format!(
            "200; Access-Control-Allow-Origin {origin} or *; Expose-Headers with Content-Length, \
             Content-Range, ETag"
        ),
        format!(
            "{}; Allow-Origin {allow_origin:?}; Expose-Headers {exposed:?}",
            ex.status
        ),
    )
}
