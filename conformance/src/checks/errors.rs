//! Status codes and bodies of refusals.

use super::{ANY_SYNTAX, Ctx, Outcome, UNKNOWN_UID, expect_each_status, expect_status};
use crate::http::{Exchange, Request};

/// Frame 1 of the target's instance with one of its UIDs replaced.
fn frame_url(ctx: &Ctx, study: &str, series: &str, instance: &str) -> String {
    format!(
        "{}/studies/{study}/series/{series}/instances/{instance}/frames/1",
        ctx.target.base_url
    )
}

async fn get(ctx: &Ctx, url: String) -> Exchange {
    ctx.send(Request::get(url).accept(ANY_SYNTAX)).await
}

pub async fn malformed_uid(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let too_long = format!("1.{}", "2".repeat(64));
    let cases = [
        frame_url(ctx, "1.2.abc", &t.series, &t.instance),
        frame_url(ctx, &t.study, "1..2", &t.instance),
        frame_url(ctx, &t.study, &t.series, &too_long),
    ];
    let mut answers = Vec::new();
    for url in cases {
        answers.push(get(ctx, url).await);
    }
    expect_each_status(&answers, 400)
}

pub async fn unknown_study(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    expect_status(
        &get(ctx, frame_url(ctx, UNKNOWN_UID, &t.series, &t.instance)).await,
        404,
    )
}

pub async fn unknown_series(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    expect_status(
        &get(ctx, frame_url(ctx, &t.study, UNKNOWN_UID, &t.instance)).await,
        404,
    )
}

pub async fn unknown_instance(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    expect_status(
        &get(ctx, frame_url(ctx, &t.study, &t.series, UNKNOWN_UID)).await,
        404,
    )
}

/// Marks of a leaked stack trace or runtime error page.
const INTERNALS: [&str; 5] = [
    "panicked at",
    "stack backtrace",
    "RUST_BACKTRACE",
    "Traceback (most recent call last)",
    "Exception in thread",
];

pub async fn short_body(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let answers = [
        get(ctx, frame_url(ctx, UNKNOWN_UID, &t.series, &t.instance)).await,
        ctx.frames("0", ANY_SYNTAX).await,
    ];
    let expected = "at most 1024 bytes, no stack trace, no token";
    let mut problems = Vec::new();
    for ex in &answers {
        let text = String::from_utf8_lossy(&ex.body);
        if ex.body.len() > 1024 {
            problems.push(format!("{} bytes answering {}", ex.body.len(), ex.sent));
        }
        if let Some(mark) = INTERNALS.iter().find(|m| text.contains(*m)) {
            problems.push(format!("{mark:?} in the answer to {}", ex.sent));
        }
        if ctx.session.token().is_some_and(|tok| text.contains(tok)) {
            problems.push(format!("the token is echoed in the answer to {}", ex.sent));
        }
    }
    let sent = answers.iter().map(|e| e.sent.clone()).collect::<Vec<_>>();
    let got = if problems.is_empty() {
        answers
            .iter()
            .map(Exchange::summary)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        problems.join("\n")
    };
    Outcome::judge(problems.is_empty(), sent.join("\n"), expected, got)
}

pub async fn cors(ctx: &Ctx) -> Outcome {
    let Some(origin) = &ctx.target.origin else {
        return Outcome::not_applicable("no --origin given");
    };
    let t = &ctx.target;
    let url = frame_url(ctx, UNKNOWN_UID, &t.series, &t.instance);
    let ex = ctx
        .send(
            Request::get(url)
                .accept(ANY_SYNTAX)
                .header("Origin", origin),
        )
        .await;
    let allowed = ex.header("access-control-allow-origin").unwrap_or_default();
    let ok = ex.status >= 400 && (allowed == origin || allowed == "*");
    Outcome::judge(
        ok,
        ex.sent.clone(),
        format!("an error status with Access-Control-Allow-Origin: {origin} (or *)"),
        format!("{}; Access-Control-Allow-Origin: {allowed:?}", ex.summary()),
    )
}
