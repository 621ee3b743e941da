//! Rendered resources and thumbnails (PS3.18 §10.4.1.1.3, §10.4.1.1.4) and their query
//! parameters (§8.3.5.1): the answer is an image of the media type asked for, of the frame's
//! size, fitted to a viewport, changed by a window; a malformed parameter is refused. The
//! images are decoded here (the `image` crate) to check their sizes.

use super::{Ctx, Outcome};
use crate::http::Exchange;

fn rendered_url(ctx: &Ctx, query: &str) -> String {
    format!("{}/rendered{query}", ctx.target.instance_url())
}

/// The decoded size of an answer that must be `media_type`, or what it was instead.
fn image_size(ex: &Exchange, media_type: &str) -> Result<(u32, u32), String> {
    let ctype = ex.header("content-type").unwrap_or_default();
    if ex.status != 200 || !ctype.to_ascii_lowercase().starts_with(media_type) {
        return Err(ex.summary());
    }
    image::load_from_memory(&ex.body)
        .map(|i| (i.width(), i.height()))
        .map_err(|e| format!("{}; the body is not an image: {e}", ex.summary()))
}

/// The instance's size from its metadata, or why the check does not apply.
fn frame_size(ctx: &Ctx) -> Result<(u32, u32), Outcome> {
    let p =
        ctx.target.pixel.as_ref().ok_or_else(|| {
            Outcome::not_applicable("the instance's Rows and Columns are not known")
        })?;
    let side = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok((side(p.columns), side(p.rows)))
}

async fn full_size(ctx: &Ctx, media_type: &str) -> Outcome {
    let want = match frame_size(ctx) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let ex = ctx.get(rendered_url(ctx, ""), media_type).await;
    let got = image_size(&ex, media_type);
    Outcome::judge(
        got == Ok(want),
        ex.sent.clone(),
        format!("200, {media_type}, a {}x{} image", want.0, want.1),
        match got {
            Ok((w, h)) => format!("a {w}x{h} image"),
            Err(e) => e,
        },
    )
}

pub async fn jpeg(ctx: &Ctx) -> Outcome {
    full_size(ctx, "image/jpeg").await
}

pub async fn png(ctx: &Ctx) -> Outcome {
    full_size(ctx, "image/png").await
}

pub async fn viewport(ctx: &Ctx) -> Outcome {
    let (w, h) = match frame_size(ctx) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let ex = ctx
        .get(rendered_url(ctx, "?viewport=64,64"), "image/jpeg")
        .await;
    // Fitted with the aspect ratio kept: the longer side is 64, the other in proportion.
    let fits = |(gw, gh): (u32, u32)| {
        let (long, short, src_long, src_short) = if w >= h {
            (gw, gh, w, h)
        } else {
            (gh, gw, h, w)
        };
        let expected = f64::from(src_short) * 64.0 / f64::from(src_long.max(1));
        long == 64 && (f64::from(short) - expected).abs() <= 1.0
    };
    let got = image_size(&ex, "image/jpeg");
    Outcome::judge(
        got.as_ref().is_ok_and(|s| fits(*s)),
        ex.sent.clone(),
        format!("a {w}x{h} frame fitted into 64x64 with its aspect ratio"),
        match got {
            Ok((gw, gh)) => format!("a {gw}x{gh} image"),
            Err(e) => e,
        },
    )
}

pub async fn window(ctx: &Ctx) -> Outcome {
    // Every value above a window far below the data is white, below one far above it black.
    let low = ctx
        .get(rendered_url(ctx, "?window=-1000000,2,linear"), "image/png")
        .await;
    let high = ctx
        .get(rendered_url(ctx, "?window=1000000,2,linear"), "image/png")
        .await;
    let both = image_size(&low, "image/png").and(image_size(&high, "image/png"));
    let differ = low.body != high.body;
    Outcome::judge(
        both.is_ok() && differ,
        format!("{}\n{}", low.sent, high.sent),
        "two different images for a window below and one above every value",
        match both {
            Ok(_) if differ => "two different images".to_owned(),
            Ok(_) => "the same image for both windows".to_owned(),
            Err(e) => e,
        },
    )
}

pub async fn bad_parameter(ctx: &Ctx) -> Outcome {
    let ex = ctx.get(rendered_url(ctx, "?quality=0"), "image/jpeg").await;
    Outcome::judge(
        ex.status == 400,
        ex.sent.clone(),
        "400 for quality=0 (quality is 1 to 100)",
        ex.summary(),
    )
}

pub async fn thumbnail(ctx: &Ctx) -> Outcome {
    let url = format!("{}/thumbnail", ctx.target.instance_url());
    let ex = ctx.get(url, "image/jpeg").await;
    let got = image_size(&ex, "image/jpeg");
    Outcome::judge(
        got.is_ok(),
        ex.sent.clone(),
        "200, image/jpeg, an image",
        match got {
            Ok((w, h)) => format!("a {w}x{h} image"),
            Err(e) => e,
        },
    )
}
