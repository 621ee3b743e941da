//! The HealthImaging native path beside DICOMweb (`…/datastore/{ds}/imageSet/{is}/getImageFrame`).

use reqwest::Method;

use super::{ANY_SYNTAX, Ctx, Outcome, frames_answer};
use crate::http::{Exchange, Request};
use crate::target::Native;

/// The native frame and its datastore root, or why the check does not apply.
fn native(ctx: &Ctx) -> Result<(&str, &Native), Outcome> {
    let Some(native) = &ctx.target.native else {
        return Err(Outcome::not_applicable(
            "no --image-set and --image-frame-id given",
        ));
    };
    match ctx.target.datastore_url() {
        Some(root) => Ok((root, native)),
        None => Err(Outcome::not_applicable(
            "the base URL does not end in /datastore/{id}",
        )),
    }
}

/// Compares a native answer with the DICOMweb frame it corresponds to.
async fn same_bytes(ctx: &Ctx, native: &Native, ex: Exchange) -> Outcome {
    let frame = ctx.frames(&native.frame.to_string(), ANY_SYNTAX).await;
    let expected = format!(
        "200 with the bytes of DICOMweb frame {} (transfer-syntax=*)",
        native.frame
    );
    let sent = format!("{}\n{}", ex.sent, frame.sent);
    let dicomweb = match frames_answer(&frame, 1) {
        Ok(m) => m.parts[0].payload.clone(),
        Err(got) => return Outcome::judge(false, sent, expected, format!("DICOMweb: {got}")),
    };
    let ok = ex.status == 200 && ex.body == dicomweb;
    let got = if ex.status == 200 {
        format!(
            "{} bytes natively, {} bytes by DICOMweb, {}",
            ex.body.len(),
            dicomweb.len(),
            if ex.body == dicomweb {
                "equal"
            } else {
                "different"
            }
        )
    } else {
        ex.summary()
    };
    Outcome::judge(ok, sent, expected, got)
}

pub async fn post(ctx: &Ctx) -> Outcome {
    let (root, native) = match native(ctx) {
        Ok(n) => n,
        Err(na) => return na,
    };
    let url = format!("{root}/imageSet/{}/getImageFrame", native.image_set);
    let body = serde_json::json!({ "imageFrameId": native.image_frame_id }).to_string();
    let req = Request::new(Method::POST, url)
        .header("Content-Type", "application/json")
        .body(body);
    let ex = ctx.send(req).await;
    same_bytes(ctx, native, ex).await
}

pub async fn get(ctx: &Ctx) -> Outcome {
    let (root, native) = match native(ctx) {
        Ok(n) => n,
        Err(na) => return na,
    };
    let url = format!(
        "{root}/imageSet/{}/getImageFrame?imageFrameId={}",
        native.image_set, native.image_frame_id
    );
    let ex = ctx.send(Request::get(url)).await;
    same_bytes(ctx, native, ex).await
}
