//! Bulk data (PS3.18 §10.4.1.1.5, §F.2.7): every BulkDataURI the metadata gives resolves,
//! and Pixel Data's bulk data holds the instance's frames.

use super::{ANY_SYNTAX, Ctx, Outcome};
use crate::dicom_json;
use crate::http::Request;
use crate::multipart;

/// Bulk data as stored: octet-stream parts in any syntax (PS3.18 §8.7.3.5.2).
const BULK: &str = ANY_SYNTAX;
/// At most this many BulkDataURIs are fetched per run.
const MAX_URIS: usize = 16;

/// A BulkDataURI resolved against the metadata's URL (it may be relative, RFC 3986 §5).
fn absolute(ctx: &Ctx, uri: &str) -> String {
    let base = format!("{}/metadata", ctx.target.instance_url());
    reqwest::Url::parse(&base)
        .and_then(|b| b.join(uri))
        .map(|u| u.to_string())
        .unwrap_or_else(|_| uri.to_owned())
}

/// The parts' payloads of a 200 multipart answer, or what was wrong.
fn payloads(ex: &crate::http::Exchange) -> Result<Vec<bytes::Bytes>, String> {
    if ex.status != 200 {
        return Err(ex.summary());
    }
    let ct = ex.header("content-type").unwrap_or_default();
    let m = multipart::parse(ct, &ex.body).map_err(|e| format!("{}: {e}", ex.summary()))?;
    if m.parts.is_empty() || m.parts.iter().any(|p| p.payload.is_empty()) {
        return Err(format!("{}: no parts, or an empty one", ex.summary()));
    }
    Ok(m.parts.into_iter().map(|p| p.payload).collect())
}

pub async fn uris_resolve(ctx: &Ctx) -> Outcome {
    let meta = match ctx.instance_metadata().await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let uris = dicom_json::bulk_data_uris(&meta);
    if uris.is_empty() {
        return Outcome::not_applicable("the instance's metadata has no BulkDataURI");
    }
    let mut sent = Vec::new();
    let mut got = Vec::new();
    let mut ok = true;
    for (tag, uri) in uris.iter().take(MAX_URIS) {
        let ex = ctx.get(absolute(ctx, uri), BULK).await;
        sent.push(ex.sent.clone());
        match payloads(&ex) {
            Ok(p) => got.push(format!(
                "{tag}: 200, {} parts, {} bytes",
                p.len(),
                p.iter().map(|b| b.len()).sum::<usize>()
            )),
            Err(e) => {
                ok = false;
                got.push(format!("{tag}: {e}"));
            }
        }
    }
    Outcome::judge(
        ok,
        sent.join("\n"),
        format!(
            "each of the {} BulkDataURIs answers 200 with non-empty octet-stream parts",
            uris.len().min(MAX_URIS)
        ),
        got.join("\n"),
    )
}

pub async fn pixel_data(ctx: &Ctx) -> Outcome {
    let meta = match ctx.instance_metadata().await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let Some(uri) = meta
        .get("7FE00010")
        .and_then(|a| a.get("BulkDataURI"))
        .and_then(|u| u.as_str())
    else {
        return Outcome::not_applicable("the instance's Pixel Data has no BulkDataURI");
    };
    let Some(frames) = ctx.target.frames else {
        return Outcome::not_applicable("the instance's number of frames is unknown");
    };
    let bulk = ctx.get(absolute(ctx, uri), BULK).await;
    let list: Vec<String> = (1..=frames).map(|f| f.to_string()).collect();
    let framed = ctx
        .send(Request::get(ctx.target.frames_url(&list.join(","))).accept(BULK))
        .await;
    let sent = format!("{}\n{}", bulk.sent, framed.sent);
    let expected = format!(
        "the bulk data's bytes are frames 1..{frames}'s bytes, in order (transfer-syntax=* on both)"
    );
    let (b, f) = match (payloads(&bulk), payloads(&framed)) {
        (Ok(b), Ok(f)) => (b, f),
        (b, f) => {
            let errors: Vec<String> = [b.err(), f.err()].into_iter().flatten().collect();
            return Outcome::judge(false, sent, expected, errors.join("\n"));
        }
    };
    let joined = |p: &[bytes::Bytes]| p.concat();
    let (bb, fb) = (joined(&b), joined(&f));
    // Native pixel data is padded to an even length (PS3.5 §7.1.1); frames need not be.
    let same = bb == fb || (bb.len() == fb.len() + 1 && bb.starts_with(&fb));
    Outcome::judge(
        same,
        sent,
        expected,
        format!(
            "bulk data {} parts, {} bytes; frames {} parts, {} bytes; {}",
            b.len(),
            bb.len(),
            f.len(),
            fb.len(),
            if same { "equal" } else { "different" }
        ),
    )
}
