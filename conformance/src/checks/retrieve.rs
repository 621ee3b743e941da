//! WADO-RS retrieve of whole instances (PS3.18 §10.4.1.1.1): each part a DICOM Part 10 file
//! (PS3.10 §7) that parses, in the transfer syntax asked for.

use super::{Ctx, Outcome, describe, frames_answer};
use crate::http::{Exchange, Request};
use crate::target::EXPLICIT_VR_LE;

const INSTANCES: &str = r#"multipart/related; type="application/dicom""#;
const INSTANCES_AS_STORED: &str =
    r#"multipart/related; type="application/dicom"; transfer-syntax=*"#;

/// The transfer syntax and SOP instance UID of a Part 10 file, or why it is not one.
fn file_syntax(bytes: &[u8]) -> Result<(String, String), String> {
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err("not a Part 10 file (no DICM prefix at byte 128)".into());
    }
    let obj =
        dicom_object::from_reader(&bytes[128..]).map_err(|e| format!("does not parse: {e}"))?;
    let sop = obj
        .element(dicom_dictionary_std::tags::SOP_INSTANCE_UID)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches('\0').trim().to_owned())
        .unwrap_or_default();
    Ok((
        obj.meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_owned(),
        sop,
    ))
}

/// Every part of `ex` is a Part 10 file; their (syntax, SOP instance UID), or what was wrong.
fn files(ex: &Exchange, parts: Option<usize>) -> Result<Vec<(String, String)>, String> {
    let m = match parts {
        Some(n) => frames_answer(ex, n)?,
        None => {
            let ct = ex.header("content-type").unwrap_or_default();
            if ex.status != 200 {
                return Err(ex.summary());
            }
            crate::multipart::parse(ct, &ex.body).map_err(|e| format!("{}: {e}", ex.summary()))?
        }
    };
    let mut out = Vec::new();
    for (i, p) in m.parts.iter().enumerate() {
        if !p
            .media_type()
            .is_some_and(|t| t.eq_ignore_ascii_case("application/dicom"))
        {
            return Err(format!(
                "part {}: not application/dicom ({})",
                i + 1,
                describe(ex, &m)
            ));
        }
        out.push(file_syntax(&p.payload).map_err(|e| format!("part {}: {e}", i + 1))?);
    }
    if out.is_empty() {
        return Err(format!("{}: no parts", ex.summary()));
    }
    Ok(out)
}

/// Retrieves the instance with `accept` and judges that it is one Part 10 file of that SOP
/// instance in `syntax`.
async fn one_file(ctx: &Ctx, accept: &str, syntax: &str) -> Outcome {
    let ex = ctx
        .send(Request::get(ctx.target.instance_url()).accept(accept))
        .await;
    let expected = format!(
        "200, one application/dicom part: a Part 10 file of SOP instance {} in {syntax}",
        ctx.target.instance
    );
    match files(&ex, Some(1)) {
        Ok(f) => {
            let (ts, sop) = &f[0];
            Outcome::judge(
                ts == syntax && *sop == ctx.target.instance,
                ex.sent.clone(),
                expected,
                format!("{}, file in {ts}, SOP instance {sop}", ex.status),
            )
        }
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

pub async fn instance_default(ctx: &Ctx) -> Outcome {
    one_file(ctx, INSTANCES, EXPLICIT_VR_LE).await
}

pub async fn instance_explicit(ctx: &Ctx) -> Outcome {
    // The stored syntax, from the metadata or else from the file `transfer-syntax=*` answers.
    let stored = match ctx.target.stored_transfer_syntax.clone() {
        Some(ts) => ts,
        None => {
            let ex = ctx
                .send(Request::get(ctx.target.instance_url()).accept(INSTANCES_AS_STORED))
                .await;
            match files(&ex, Some(1)) {
                Ok(f) => f[0].0.clone(),
                Err(e) => {
                    return Outcome::not_applicable(format!(
                        "the stored syntax is unknown: no metadata says, and transfer-syntax=* \
                         answered {e}"
                    ));
                }
            }
        }
    };
    let accept =
        format!(r#"multipart/related; type="application/dicom"; transfer-syntax={stored}"#);
    one_file(ctx, &accept, &stored).await
}

pub async fn instance_any(ctx: &Ctx) -> Outcome {
    let ex = ctx
        .send(Request::get(ctx.target.instance_url()).accept(INSTANCES_AS_STORED))
        .await;
    let expected = match &ctx.target.stored_transfer_syntax {
        Some(ts) => format!("200, one Part 10 file (this product: in the stored syntax {ts})"),
        None => "200, one Part 10 file in any syntax".into(),
    };
    match files(&ex, Some(1)) {
        Ok(f) => Outcome::judge(
            true,
            ex.sent.clone(),
            expected,
            format!("{}, file in {}", ex.status, f[0].0),
        ),
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

pub async fn series(ctx: &Ctx) -> Outcome {
    let url = format!(
        "{}/studies/{}/series/{}",
        ctx.target.base_url, ctx.target.study, ctx.target.series
    );
    let ex = ctx.send(Request::get(url).accept(INSTANCES)).await;
    let expected = format!(
        "200, every part a Part 10 file in Explicit VR Little Endian, one of them SOP instance {}",
        ctx.target.instance
    );
    match files(&ex, None) {
        Ok(f) => {
            let ok = f.iter().all(|(ts, _)| ts == EXPLICIT_VR_LE)
                && f.iter().any(|(_, sop)| *sop == ctx.target.instance);
            let syntaxes: std::collections::BTreeSet<&str> =
                f.iter().map(|(ts, _)| ts.as_str()).collect();
            Outcome::judge(
                ok,
                ex.sent.clone(),
                expected,
                format!("{}, {} files in {syntaxes:?}", ex.status, f.len()),
            )
        }
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

pub async fn unavailable(ctx: &Ctx) -> Outcome {
    // MPEG-2 video cannot be produced from still images: nothing acceptable.
    let accept =
        r#"multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.100"#;
    let ex = ctx
        .send(Request::get(ctx.target.instance_url()).accept(accept))
        .await;
    super::expect_status(&ex, 406)
}
