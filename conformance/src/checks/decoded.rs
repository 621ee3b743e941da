use super::{Ctx, Outcome, describe, frames_answer};
use crate::target::EXPLICIT_VR_LE;

pub async fn length(ctx: &Ctx) -> Outcome {
    let Some(pixel) = ctx.target.pixel else {
        return Outcome::not_applicable(
            "Rows, Columns, SamplesPerPixel, BitsAllocated unknown (no WADO-RS metadata)",
        );
    };
    let accept = format!(
        r#"multipart/related; type="application/octet-stream"; transfer-syntax={EXPLICIT_VR_LE}"#
    );
    let ex = ctx.frames("1", &accept).await;
    if ex.status == 406 {
        return Outcome::not_applicable(format!(
            "the server does not offer frame 1 uncompressed (406); stored as {}",
            ctx.target
                .stored_transfer_syntax
                .as_deref()
                .unwrap_or("unknown")
        ));
    }
    let want = pixel.frame_length();
    let expected = format!(
        "200, one part of {} × {} × {} × {}/8 = {want} bytes",
        pixel.rows, pixel.columns, pixel.samples_per_pixel, pixel.bits_allocated
    );
    match frames_answer(&ex, 1) {
        Ok(m) => Outcome::judge(
            m.parts[0].payload.len() as u64 == want,
            ex.sent.clone(),
            expected,
            describe(&ex, &m),
        ),
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

/// Frame 1 asked for as `application/octet-stream` with no transfer syntax: Explicit VR LE,
/// whatever the stored syntax (a server that stores compressed data decodes it).
pub async fn default_syntax(ctx: &Ctx) -> Outcome {
    let ex = ctx
        .frames("1", r#"multipart/related; type="application/octet-stream""#)
        .await;
    let length = ctx.target.pixel.map(|p| p.frame_length());
    let expected = match length {
        Some(n) => format!("200, one part in {EXPLICIT_VR_LE} of {n} bytes"),
        None => format!("200, one part in {EXPLICIT_VR_LE}"),
    };
    match frames_answer(&ex, 1) {
        Ok(m) => {
            let p = &m.parts[0];
            // A part without the parameter is in the media type's default syntax.
            let ts_ok = p.transfer_syntax().is_none_or(|ts| ts == EXPLICIT_VR_LE);
            let len_ok = length.is_none_or(|n| p.payload.len() as u64 == n);
            Outcome::judge(
                ts_ok && len_ok,
                ex.sent.clone(),
                expected,
                describe(&ex, &m),
            )
        }
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}
