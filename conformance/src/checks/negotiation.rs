//! Accept negotiation for frames (PS3.18 §8.7), with the strings real viewers send.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::{ANY_SYNTAX, Ctx, Outcome, describe, frames_answer};
use crate::http::{Exchange, Request};
use crate::multipart::Multipart;
use crate::target::EXPLICIT_VR_LE;

/// OHIF with `omitQuotationForMultipartRequest`, and Cornerstone3D's default.
const UNQUOTED: &str = "multipart/related; type=application/octet-stream; transfer-syntax=*";
/// Python dicomweb-client's default: no transfer syntax, so Explicit VR LE is asked for.
const DICOMWEB_CLIENT: &str = r#"multipart/related; type="application/octet-stream""#;

/// One frame with `accept` must answer 200 with one part.
async fn one_part(ctx: &Ctx, accept: &str) -> Outcome {
    let ex = ctx.frames("1", accept).await;
    let expected = "200, multipart/related with one part";
    match frames_answer(&ex, 1) {
        Ok(m) => Outcome::judge(true, ex.sent.clone(), expected, describe(&ex, &m)),
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

/// Frame 1's answer to `transfer-syntax=*`: its media type and syntax.
async fn stored(ctx: &Ctx) -> Result<(Exchange, Multipart, String, String), Outcome> {
    let ex = ctx.frames("1", ANY_SYNTAX).await;
    let m = frames_answer(&ex, 1).map_err(|got| {
        Outcome::not_applicable(format!(
            "frame 1 with transfer-syntax=* did not answer: {got}"
        ))
    })?;
    let part = &m.parts[0];
    match (part.media_type(), part.transfer_syntax()) {
        (Some(t), Some(ts)) => Ok((ex, m, t, ts)),
        _ => Err(Outcome::not_applicable(
            "frame 1's part has no media type or transfer-syntax (see multipart.part-type)",
        )),
    }
}

pub async fn quoted(ctx: &Ctx) -> Outcome {
    one_part(ctx, ANY_SYNTAX).await
}

pub async fn unquoted(ctx: &Ctx) -> Outcome {
    one_part(ctx, UNQUOTED).await
}

pub async fn any_syntax(ctx: &Ctx) -> Outcome {
    let ex = ctx.frames("1", ANY_SYNTAX).await;
    let expected = match &ctx.target.stored_transfer_syntax {
        Some(ts) => format!("200, one part with transfer-syntax={ts} (the stored syntax)"),
        None => "200, one part with a transfer-syntax parameter".to_owned(),
    };
    let m = match frames_answer(&ex, 1) {
        Ok(m) => m,
        Err(got) => return Outcome::judge(false, ex.sent, expected, got),
    };
    let ts = m.parts[0].transfer_syntax();
    let ok = match (&ts, &ctx.target.stored_transfer_syntax) {
        (Some(got), Some(stored)) => got == stored,
        (Some(_), None) => true,
        (None, _) => false,
    };
    Outcome::judge(ok, ex.sent.clone(), expected, describe(&ex, &m))
}

pub async fn explicit(ctx: &Ctx) -> Outcome {
    let (_, _, media_type, ts) = match stored(ctx).await {
        Ok(s) => s,
        Err(na) => return na,
    };
    let accept = format!(r#"multipart/related; type="{media_type}"; transfer-syntax={ts}"#);
    let ex = ctx.frames("1", &accept).await;
    let expected = format!("200, one part {media_type} with transfer-syntax={ts}");
    match frames_answer(&ex, 1) {
        Ok(m) => {
            let p = &m.parts[0];
            let ok = p.transfer_syntax().as_deref() == Some(ts.as_str())
                && p.media_type().as_deref() == Some(media_type.as_str());
            Outcome::judge(ok, ex.sent.clone(), expected, describe(&ex, &m))
        }
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

pub async fn unsupported(ctx: &Ctx) -> Outcome {
    const MPEG2: &str = "1.2.840.10008.1.2.4.100";
    if ctx.target.stored_transfer_syntax.as_deref() == Some(MPEG2) {
        return Outcome::not_applicable("the instance is MPEG2 video");
    }
    let accept = format!(r#"multipart/related; type="video/mpeg2"; transfer-syntax={MPEG2}"#);
    let ex = ctx.frames("1", &accept).await;
    Outcome::judge(ex.status == 406, ex.sent.clone(), "406", ex.summary())
}

pub async fn accept_query(ctx: &Ctx) -> Outcome {
    let query = utf8_percent_encode(ANY_SYNTAX, NON_ALPHANUMERIC);
    let url = format!("{}?accept={query}", ctx.target.frames_url("1"));
    // What a browser's fetch() sends when the caller sets no Accept.
    let ex = ctx.send(Request::get(url).accept("*/*")).await;
    let expected = "200, multipart/related with one part, as the query parameter asks";
    match frames_answer(&ex, 1) {
        Ok(m) => Outcome::judge(true, ex.sent.clone(), expected, describe(&ex, &m)),
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

pub async fn accept_list(ctx: &Ctx) -> Outcome {
    one_part(
        ctx,
        r#"application/dicom+json, multipart/related; type="application/octet-stream"; transfer-syntax=*"#,
    )
    .await
}

pub async fn ohif_requested(ctx: &Ctx) -> Outcome {
    let ts = match &ctx.target.stored_transfer_syntax {
        Some(ts) => ts.clone(),
        None => match stored(ctx).await {
            Ok((_, _, _, ts)) => ts,
            Err(na) => return na,
        },
    };
    let accept = format!(
        r#"multipart/related; type="application/octet-stream"; transfer-syntax="{ts}"; transfer-syntax="*""#
    );
    let ex = ctx.frames("1", &accept).await;
    let expected = format!("200, one part with transfer-syntax={ts}");
    match frames_answer(&ex, 1) {
        Ok(m) => {
            let ok = m.parts[0].transfer_syntax().as_deref() == Some(ts.as_str());
            Outcome::judge(ok, ex.sent.clone(), expected, describe(&ex, &m))
        }
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

pub async fn dicomweb_client(ctx: &Ctx) -> Outcome {
    let ex = ctx.frames("1", DICOMWEB_CLIENT).await;
    let expected = format!(
        "200 with one application/octet-stream part in {EXPLICIT_VR_LE}, or 406 from a server \
         that does not decompress"
    );
    if ex.status == 406 {
        return Outcome::judge(true, ex.sent.clone(), expected, ex.summary());
    }
    match frames_answer(&ex, 1) {
        Ok(m) => {
            let p = &m.parts[0];
            let ok = p.media_type().as_deref() == Some("application/octet-stream")
                && p.transfer_syntax().is_none_or(|ts| ts == EXPLICIT_VR_LE);
            Outcome::judge(ok, ex.sent.clone(), expected, describe(&ex, &m))
        }
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}
