use super::{ANY_SYNTAX, Ctx, Outcome, describe, expect_status, frames_answer};

pub async fn single(ctx: &Ctx) -> Outcome {
    let ex = ctx.frames("1", ANY_SYNTAX).await;
    let expected = "200, multipart/related with one non-empty part";
    match frames_answer(&ex, 1) {
        Ok(m) => Outcome::judge(true, ex.sent.clone(), expected, describe(&ex, &m)),
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

/// Asks for frames out of order and compares each part with the frame fetched alone.
pub async fn order(ctx: &Ctx) -> Outcome {
    let list: &[u32] = match ctx.target.frames {
        Some(n) if n >= 3 => &[3, 1, 2],
        Some(2) => &[2, 1],
        Some(_) => return Outcome::not_applicable("the instance has one frame"),
        None => return Outcome::not_applicable("frame count unknown (give --frames)"),
    };
    let joined = list
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let ex = ctx.frames(&joined, ANY_SYNTAX).await;
    let expected = format!("200, parts equal to frames {joined} fetched one by one, in that order");
    let m = match frames_answer(&ex, list.len()) {
        Ok(m) => m,
        Err(got) => return Outcome::judge(false, ex.sent, expected, got),
    };
    let mut sent = ex.sent.clone();
    let mut alone = Vec::new();
    for n in list {
        let single = ctx.frames(&n.to_string(), ANY_SYNTAX).await;
        sent.push('\n');
        sent.push_str(&single.sent);
        match frames_answer(&single, 1) {
            Ok(s) => alone.push(s.parts[0].payload.clone()),
            Err(got) => {
                return Outcome::judge(false, sent, expected, format!("frame {n} alone: {got}"));
            }
        }
    }
    // Which frame each part is, judged by its bytes.
    let seen: Vec<String> = m
        .parts
        .iter()
        .map(|p| {
            alone
                .iter()
                .position(|a| *a == p.payload)
                .map_or("?".to_owned(), |i| list[i].to_string())
        })
        .collect();
    let ok = m.parts.iter().zip(&alone).all(|(p, a)| p.payload == *a);
    let got = format!(
        "{}; the parts are frames {}",
        describe(&ex, &m),
        seen.join(",")
    );
    Outcome::judge(ok, sent, expected, got)
}

pub async fn last(ctx: &Ctx) -> Outcome {
    let Some(n) = ctx.target.frames else {
        return Outcome::not_applicable("frame count unknown (give --frames)");
    };
    let ex = ctx.frames(&n.to_string(), ANY_SYNTAX).await;
    let expected = format!("200, one part (frame {n} of {n})");
    match frames_answer(&ex, 1) {
        Ok(m) => Outcome::judge(true, ex.sent.clone(), expected, describe(&ex, &m)),
        Err(got) => Outcome::judge(false, ex.sent, expected, got),
    }
}

async fn bad_list(ctx: &Ctx, list: &str) -> Outcome {
    expect_status(&ctx.frames(list, ANY_SYNTAX).await, 400)
}

pub async fn zero(ctx: &Ctx) -> Outcome {
    bad_list(ctx, "0").await
}

pub async fn negative(ctx: &Ctx) -> Outcome {
    bad_list(ctx, "-1").await
}

pub async fn non_numeric(ctx: &Ctx) -> Outcome {
    bad_list(ctx, "first").await
}

pub async fn duplicate(ctx: &Ctx) -> Outcome {
    bad_list(ctx, "1,1").await
}

pub async fn beyond_end(ctx: &Ctx) -> Outcome {
    match ctx.target.frames {
        Some(n) => bad_list(ctx, &(n + 1).to_string()).await,
        None => Outcome::not_applicable("frame count unknown (give --frames)"),
    }
}
