//! Syntax of the multipart answer to a frame list (two frames when the instance has them).

use super::{ANY_SYNTAX, Ctx, Outcome, frames_answer};
use crate::http::Exchange;
use crate::multipart::{Multipart, find, param, parse_media_type};

async fn sample(ctx: &Ctx) -> (Exchange, Result<Multipart, String>) {
    let list = ctx.sample_list();
    let ex = ctx.frames(list, ANY_SYNTAX).await;
    let parts = list.split(',').count();
    let m = frames_answer(&ex, parts);
    (ex, m)
}

pub async fn boundary(ctx: &Ctx) -> Outcome {
    let (ex, m) = sample(ctx).await;
    let expected = "boundary= in Content-Type, 1-70 characters, in no payload";
    let m = match m {
        Ok(m) => m,
        Err(got) => return Outcome::judge(false, ex.sent, expected, got),
    };
    let b = m.boundary.as_bytes();
    let inside = m.parts.iter().position(|p| find(&p.payload, b).is_some());
    let ok = (1..=70).contains(&b.len()) && inside.is_none();
    let got = match inside {
        Some(i) => format!("boundary {:?} occurs inside part {}", m.boundary, i + 1),
        None => format!("boundary {:?} ({} characters)", m.boundary, b.len()),
    };
    Outcome::judge(ok, ex.sent.clone(), expected, got)
}

pub async fn start(ctx: &Ctx) -> Outcome {
    let (ex, m) = sample(ctx).await;
    let expected = "the body's first bytes are --<boundary>CRLF";
    let m = match m {
        Ok(m) => m,
        Err(got) => return Outcome::judge(false, ex.sent, expected, got),
    };
    let first = format!("--{}\r\n", m.boundary);
    let ok = ex.body.starts_with(first.as_bytes());
    let got = format!(
        "the body begins \"{}\"",
        ex.body[..ex.body.len().min(first.len() + 8)].escape_ascii()
    );
    Outcome::judge(ok, ex.sent.clone(), expected, got)
}

pub async fn crlf(ctx: &Ctx) -> Outcome {
    let (ex, m) = sample(ctx).await;
    let expected = "CRLF before each delimiter, after each delimiter line and each part header";
    match m {
        Ok(m) if m.crlf_violations.is_empty() => {
            Outcome::judge(true, ex.sent.clone(), expected, "CRLF throughout")
        }
        Ok(m) => Outcome::judge(
            false,
            ex.sent.clone(),
            expected,
            m.crlf_violations.join("; "),
        ),
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

pub async fn close(ctx: &Ctx) -> Outcome {
    let (ex, m) = sample(ctx).await;
    let expected = "CRLF--<boundary>-- after the last part, nothing but CRLF after it";
    let m = match m {
        Ok(m) => m,
        Err(got) => return Outcome::judge(false, ex.sent, expected, got),
    };
    let close = format!("\r\n--{}--", m.boundary);
    let body = &ex.body[..];
    let ok = body.ends_with(close.as_bytes()) || body.ends_with(format!("{close}\r\n").as_bytes());
    let tail = body[body.len().saturating_sub(close.len() + 2)..].escape_ascii();
    Outcome::judge(
        ok,
        ex.sent.clone(),
        expected,
        format!("the body ends \"{tail}\""),
    )
}

pub async fn part_type(ctx: &Ctx) -> Outcome {
    let (ex, m) = sample(ctx).await;
    let expected = "every part: a header written `Content-Type:` whose media type is the answer's \
                    type= and which has transfer-syntax=";
    let m = match m {
        Ok(m) => m,
        Err(got) => return Outcome::judge(false, ex.sent, expected, got),
    };
    let declared = ex
        .header("content-type")
        .and_then(|ct| param(ct, "type"))
        .map(|t| parse_media_type(&t).0);
    for (i, p) in m.parts.iter().enumerate() {
        let exact = p.headers.iter().any(|(n, _)| n == "Content-Type");
        let problem = if p.header("content-type").is_none() {
            Some("has no Content-Type".to_owned())
        } else if !exact {
            Some("writes the header name in another case than `Content-Type`".to_owned())
        } else if p.transfer_syntax().is_none() {
            Some(format!(
                "has no transfer-syntax parameter: {:?}",
                p.header("content-type").unwrap_or_default()
            ))
        } else if declared.is_some() && p.media_type() != declared {
            Some(format!(
                "is {:?} but the answer declares type={:?}",
                p.media_type().unwrap_or_default(),
                declared.clone().unwrap_or_default()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Outcome::judge(
                false,
                ex.sent.clone(),
                expected,
                format!("part {} {problem}", i + 1),
            );
        }
    }
    let first = m.parts[0].header("content-type").unwrap_or_default();
    Outcome::judge(
        true,
        ex.sent.clone(),
        expected,
        format!("e.g. `Content-Type: {first}`"),
    )
}

pub async fn part_location(ctx: &Ctx) -> Outcome {
    let (ex, m) = sample(ctx).await;
    let expected = "every part has Content-Location";
    let m = match m {
        Ok(m) => m,
        Err(got) => return Outcome::judge(false, ex.sent, expected, got),
    };
    match m
        .parts
        .iter()
        .position(|p| p.header("content-location").is_none())
    {
        Some(i) => Outcome::judge(
            false,
            ex.sent.clone(),
            expected,
            format!("part {} has no Content-Location", i + 1),
        ),
        None => Outcome::judge(
            true,
            ex.sent.clone(),
            expected,
            format!(
                "e.g. Content-Location: {}",
                m.parts[0].header("content-location").unwrap_or_default()
            ),
        ),
    }
}
