//! Byte ranges of a single-part frame (RFC 9110 §14), which progressive viewers read in
//! pieces. A server need not support ranges; one that says `Accept-Ranges: bytes` on the
//! answer must honour them as RFC 9110 defines, and that is what these checks hold it to.

use bytes::Bytes;

use super::{Ctx, Outcome};
use crate::http::{Exchange, Request};

/// One frame as one part, in the syntax it is stored in.
const SINGLE_PART: &str = "application/octet-stream; transfer-syntax=*";

/// The whole single-part frame and its ETag, or why the range checks do not apply.
async fn whole(ctx: &Ctx) -> Result<(Exchange, Bytes), Outcome> {
    let ex = ctx.get(ctx.target.frames_url("1"), SINGLE_PART).await;
    let single = ex
        .header("content-type")
        .is_some_and(|t| !t.to_ascii_lowercase().starts_with("multipart/"));
    if ex.status != 200 || !single {
        return Err(Outcome::not_applicable(format!(
            "no single-part frame for Accept: {SINGLE_PART} ({})",
            ex.summary()
        )));
    }
    if !ex
        .header("accept-ranges")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes"))
    {
        return Err(Outcome::not_applicable(
            "the single-part frame does not say Accept-Ranges: bytes",
        ));
    }
    let body = ex.body.clone();
    Ok((ex, body))
}

async fn with_range(ctx: &Ctx, range: &str, if_range: Option<&str>) -> Exchange {
    let mut req = Request::get(ctx.target.frames_url("1"))
        .accept(SINGLE_PART)
        .header("Range", range);
    if let Some(t) = if_range {
        req = req.header("If-Range", t);
    }
    ctx.send(req).await
}

/// Judges a 206 that must hold bytes `first..=last` of `whole`.
fn part(ex: &Exchange, whole: &[u8], first: usize, last: usize, sent: String) -> Outcome {
    let len = whole.len();
    let want_range = format!("bytes {first}-{last}/{len}");
    let got_range = ex.header("content-range").unwrap_or_default();
    let same = ex.body.as_ref() == &whole[first..=last];
    Outcome::judge(
        ex.status == 206 && got_range == want_range && same,
        sent,
        format!("206, Content-Range: {want_range}, those bytes of the whole frame"),
        format!(
            "{}; Content-Range: {got_range:?}; the body {} those bytes",
            ex.summary(),
            if same { "is" } else { "is not" }
        ),
    )
}

pub async fn first_bytes(ctx: &Ctx) -> Outcome {
    let (full, whole) = match whole(ctx).await {
        Ok(w) => w,
        Err(o) => return o,
    };
    let last = 99.min(whole.len().saturating_sub(1));
    let ex = with_range(ctx, &format!("bytes=0-{last}"), None).await;
    let sent = format!("{}\n{}", full.sent, ex.sent);
    part(&ex, &whole, 0, last, sent)
}

pub async fn suffix(ctx: &Ctx) -> Outcome {
    let (full, whole) = match whole(ctx).await {
        Ok(w) => w,
        Err(o) => return o,
    };
    let n = 64.min(whole.len());
    let ex = with_range(ctx, &format!("bytes=-{n}"), None).await;
    let sent = format!("{}\n{}", full.sent, ex.sent);
    part(&ex, &whole, whole.len() - n, whole.len() - 1, sent)
}

pub async fn unsatisfiable(ctx: &Ctx) -> Outcome {
    let (full, whole) = match whole(ctx).await {
        Ok(w) => w,
        Err(o) => return o,
    };
    let ex = with_range(ctx, &format!("bytes={}-", whole.len()), None).await;
    let want = format!("bytes */{}", whole.len());
    let got = ex.header("content-range").unwrap_or_default();
    Outcome::judge(
        ex.status == 416 && got == want,
        format!("{}\n{}", full.sent, ex.sent),
        format!("416 with Content-Range: {want}"),
        format!("{}; Content-Range: {got:?}", ex.summary()),
    )
}

pub async fn if_range(ctx: &Ctx) -> Outcome {
    let (full, whole) = match whole(ctx).await {
        Ok(w) => w,
        Err(o) => return o,
    };
    let Some(etag) = full.header("etag").map(str::to_owned) else {
        return Outcome::not_applicable("the single-part frame has no ETag");
    };
    let matching = with_range(ctx, "bytes=0-9", Some(&etag)).await;
    let other = with_range(ctx, "bytes=0-9", Some("\"another-version\"")).await;
    let last = 9.min(whole.len().saturating_sub(1));
    let ok = matching.status == 206
        && matching.body.as_ref() == &whole[..=last]
        && other.status == 200
        && other.body == whole;
    Outcome::judge(
        ok,
        format!("{}\n{}\n{}", full.sent, matching.sent, other.sent),
        "206 for If-Range with the ETag; 200 with the whole frame for another entity tag",
        format!("{}\n{}", matching.summary(), other.summary()),
    )
}
