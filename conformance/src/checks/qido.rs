//! QIDO-RS (PS3.18 §10.6): the attributes each level returns by default, the matching rules
//! of PS3.4 §C.2.2.2 as PS3.18 §8.3.4 applies them to query parameters, paging, and the
//! answers to searches that match nothing or cannot be understood. Expected values come
//! from the target instance's own WADO-RS metadata, so any server's data can be used.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::{Ctx, DICOM_JSON, Outcome, UNKNOWN_UID, expect_each_status};
use crate::dicom_json::{self, Object, first, values};
use crate::http::Exchange;

pub const STUDY_UID: &str = "0020000D";
pub const SERIES_UID: &str = "0020000E";
pub const SOP_UID: &str = "00080018";
const PATIENT_ID: &str = "00100020";
const PATIENT_NAME: &str = "00100010";
const STUDY_DATE: &str = "00080020";
const MODALITY: &str = "00080060";
const MODALITIES_IN_STUDY: &str = "00080061";
const STUDY_SERIES: &str = "00201206";
const STUDY_INSTANCES: &str = "00201208";
pub const SERIES_INSTANCES: &str = "00201209";

/// Study attributes returned by default (PS3.18 Table 10.6.3-3) that instances carry.
const STUDY_TABLE: &[(&str, &str)] = &[
    ("00080020", "StudyDate"),
    ("00080030", "StudyTime"),
    ("00080050", "AccessionNumber"),
    ("00080090", "ReferringPhysicianName"),
    ("00100010", "PatientName"),
    ("00100020", "PatientID"),
    ("00100030", "PatientBirthDate"),
    ("00100040", "PatientSex"),
    ("0020000D", "StudyInstanceUID"),
    ("00200010", "StudyID"),
];
/// Series attributes returned by default (PS3.18 Table 10.6.3-4).
const SERIES_TABLE: &[(&str, &str)] = &[
    ("00080060", "Modality"),
    ("0008103E", "SeriesDescription"),
    ("0020000E", "SeriesInstanceUID"),
    ("00200011", "SeriesNumber"),
];
/// Instance attributes returned by default (PS3.18 Table 10.6.3-5).
const INSTANCE_TABLE: &[(&str, &str)] = &[
    ("00080016", "SOPClassUID"),
    ("00080018", "SOPInstanceUID"),
    ("00200013", "InstanceNumber"),
    ("00280010", "Rows"),
    ("00280011", "Columns"),
    ("00280100", "BitsAllocated"),
    ("00280008", "NumberOfFrames"),
];

/// What a browser percent-encodes in a query (the WHATWG URL Standard's query set), and what
/// would end the value early; `^`, `*` and `?` go as they are, as OHIF sends them.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\'')
    .add(b'&')
    .add(b'=')
    .add(b'+')
    .add(b'%');

/// A query parameter value, percent-encoded.
fn enc(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Sends a search and reads its objects.
async fn search(ctx: &Ctx, path: &str) -> (Exchange, Result<Vec<Object>, String>) {
    let ex = ctx.json(path).await;
    let found = dicom_json::objects(&ex);
    (ex, found)
}

fn uids(found: &[Object], tag: &str) -> Vec<String> {
    found.iter().filter_map(|o| first(o, tag)).collect()
}

fn study_path(ctx: &Ctx) -> String {
    format!("/studies?StudyInstanceUID={}", ctx.target.study)
}

fn series_path(ctx: &Ctx) -> String {
    format!("/studies/{}/series", ctx.target.study)
}

fn instances_path(ctx: &Ctx) -> String {
    format!(
        "/studies/{}/series/{}/instances",
        ctx.target.study, ctx.target.series
    )
}

/// The first value of `tag` in the target's metadata, or the outcome of a check that needs
/// it (not applicable when the instance has none).
async fn metadata_value(ctx: &Ctx, tag: &str, keyword: &str) -> Result<String, Outcome> {
    let meta = ctx.instance_metadata().await?;
    first(&meta, tag)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Outcome::not_applicable(format!("the instance has no {keyword}")))
}

/// Several searches, each with a rule its answer must keep; one outcome for all.
struct Cases {
    sent: Vec<String>,
    got: Vec<String>,
    ok: bool,
}

impl Cases {
    fn new() -> Self {
        Self {
            sent: Vec::new(),
            got: Vec::new(),
            ok: true,
        }
    }

    /// Records one search; `judge` says whether its objects keep the rule, and describes them.
    async fn run(
        &mut self,
        ctx: &Ctx,
        path: &str,
        judge: impl FnOnce(&[Object]) -> (bool, String),
    ) -> Option<Vec<Object>> {
        let (ex, found) = search(ctx, path).await;
        self.sent.push(ex.sent.clone());
        match found {
            Ok(found) => {
                let (ok, got) = judge(&found);
                self.ok &= ok;
                self.got.push(got);
                Some(found)
            }
            Err(e) => {
                self.ok = false;
                self.got.push(e);
                None
            }
        }
    }

    fn outcome(self, expected: impl Into<String>) -> Outcome {
        Outcome::judge(self.ok, self.sent.join("\n"), expected, self.got.join("\n"))
    }
}

/// Judges that a search found exactly the objects with these UIDs (in any order).
fn exactly(tag: &'static str, want: Vec<String>) -> impl FnOnce(&[Object]) -> (bool, String) {
    move |found| {
        let mut got = uids(found, tag);
        got.sort();
        let mut want = want;
        want.sort();
        (got == want, format!("{} found: {got:?}", found.len()))
    }
}

/// Judges that a search found the object with this UID, and every object keeps `each`.
fn includes(
    tag: &'static str,
    uid: String,
    each: impl Fn(&Object) -> bool,
) -> impl FnOnce(&[Object]) -> (bool, String) {
    move |found| {
        let has = uids(found, tag).contains(&uid);
        let strays = found.iter().filter(|o| !each(o)).count();
        (
            has && strays == 0,
            format!(
                "{} found, target {}, {strays} not matching",
                found.len(),
                if has { "included" } else { "missing" }
            ),
        )
    }
}

pub async fn studies(ctx: &Ctx) -> Outcome {
    let (ex, found) = search(ctx, "/studies").await;
    let expected = "200, Content-Type: application/dicom+json, an array of valid DICOM JSON \
                    objects each with a StudyInstanceUID";
    let ct = ex.header("content-type").unwrap_or_default().to_owned();
    let media_ok = ct
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(DICOM_JSON));
    let got = match &found {
        Ok(objects) => {
            let problems: Vec<String> = objects.iter().flat_map(dicom_json::problems).collect();
            let no_uid = objects
                .iter()
                .filter(|o| first(o, STUDY_UID).is_none())
                .count();
            let ok = ex.status == 200 && media_ok && problems.is_empty() && no_uid == 0;
            return Outcome::judge(
                ok,
                ex.sent.clone(),
                expected,
                format!(
                    "{}, Content-Type: {ct:?}, {} studies, {no_uid} without StudyInstanceUID{}",
                    ex.status,
                    objects.len(),
                    summarize(&problems)
                ),
            );
        }
        Err(e) => e.clone(),
    };
    Outcome::judge(false, ex.sent, expected, got)
}

/// The first few problems, for a report line.
fn summarize(problems: &[String]) -> String {
    if problems.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    format!(
        "; {} DICOM JSON problems: {}",
        problems.len(),
        shown.join("; ")
    )
}

/// Compares a level's record with the instance metadata: each table attribute the metadata
/// has is returned with the same values, and each derived attribute in `derived` is present.
async fn level_attributes(
    ctx: &Ctx,
    path: String,
    uid_tag: &str,
    uid: &str,
    table: &[(&str, &str)],
    derived: &[(&str, &str)],
) -> Outcome {
    let meta = match ctx.instance_metadata().await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let (ex, found) = search(ctx, &path).await;
    let expected_names: Vec<&str> = table
        .iter()
        .filter(|(tag, _)| values(&meta, tag).is_some())
        .chain(derived)
        .map(|(_, name)| *name)
        .collect();
    let expected = format!(
        "the record of {uid} carries {} with the instance metadata's values",
        expected_names.join(", ")
    );
    let record = match found {
        Ok(found) => found
            .into_iter()
            .find(|o| first(o, uid_tag).as_deref() == Some(uid)),
        Err(e) => return Outcome::judge(false, ex.sent, expected, e),
    };
    let Some(record) = record else {
        return Outcome::judge(false, ex.sent, expected, format!("{uid} not found"));
    };
    let mut wrong = Vec::new();
    for (tag, name) in table {
        let Some(want) = values(&meta, tag) else {
            continue;
        };
        match values(&record, tag) {
            None => wrong.push(format!("{name} ({tag}) missing")),
            Some(got) if got != want => {
                wrong.push(format!("{name} ({tag}) is {got:?}, metadata {want:?}"))
            }
            Some(_) => {}
        }
    }
    for (tag, name) in derived {
        if values(&record, tag).is_none() {
            wrong.push(format!("{name} ({tag}) missing"));
        }
    }
    Outcome::listing(ex.sent, expected, &wrong, "all present and equal")
}

pub async fn study_attributes(ctx: &Ctx) -> Outcome {
    let mut outcome = level_attributes(
        ctx,
        study_path(ctx),
        STUDY_UID,
        &ctx.target.study,
        STUDY_TABLE,
        &[
            (MODALITIES_IN_STUDY, "ModalitiesInStudy"),
            (STUDY_SERIES, "NumberOfStudyRelatedSeries"),
            (STUDY_INSTANCES, "NumberOfStudyRelatedInstances"),
        ],
    )
    .await;
    // ModalitiesInStudy lists the series' modality.
    if outcome.verdict == super::Verdict::Pass
        && let Ok(meta) = ctx.instance_metadata().await
        && let Some(modality) = first(&meta, MODALITY)
    {
        let (_, found) = search(ctx, &study_path(ctx)).await;
        let listed = found
            .ok()
            .and_then(|f| f.into_iter().next())
            .and_then(|o| values(&o, MODALITIES_IN_STUDY))
            .unwrap_or_default();
        if !listed.contains(&modality) {
            outcome.verdict = super::Verdict::Fail;
            outcome.got = format!("ModalitiesInStudy {listed:?} lacks the series' {modality}");
        }
    }
    outcome
}

pub async fn series_attributes(ctx: &Ctx) -> Outcome {
    level_attributes(
        ctx,
        series_path(ctx),
        SERIES_UID,
        &ctx.target.series,
        SERIES_TABLE,
        &[(SERIES_INSTANCES, "NumberOfSeriesRelatedInstances")],
    )
    .await
}

pub async fn instance_attributes(ctx: &Ctx) -> Outcome {
    level_attributes(
        ctx,
        instances_path(ctx),
        SOP_UID,
        &ctx.target.instance,
        INSTANCE_TABLE,
        &[],
    )
    .await
}

fn count(o: &Object, tag: &str) -> Option<u64> {
    first(o, tag)?.parse().ok()
}

pub async fn counts(ctx: &Ctx) -> Outcome {
    let expected = "NumberOfStudyRelatedSeries = the study's series found, \
                    NumberOfStudyRelatedInstances = the sum of their NumberOfSeriesRelatedInstances, \
                    the series' NumberOfSeriesRelatedInstances = its instances found";
    let mut sent = Vec::new();
    let mut got = Vec::new();
    let mut ok = true;
    let mut fetch = async |path: String| {
        let (ex, found) = search(ctx, &path).await;
        sent.push(ex.sent);
        found
    };
    let study = fetch(study_path(ctx)).await;
    let series = fetch(series_path(ctx)).await;
    let instances = fetch(instances_path(ctx)).await;
    let (study, series, instances) = match (study, series, instances) {
        (Ok(st), Ok(se), Ok(i)) => (st, se, i),
        (st, se, i) => {
            let errors: Vec<String> = [st.err(), se.err(), i.err()]
                .into_iter()
                .flatten()
                .collect();
            return Outcome::judge(false, sent.join("\n"), expected, errors.join("\n"));
        }
    };
    let Some(study) = study.first() else {
        return Outcome::judge(false, sent.join("\n"), expected, "the study was not found");
    };
    let study_series = count(study, STUDY_SERIES);
    ok &= study_series == Some(series.len() as u64);
    got.push(format!(
        "NumberOfStudyRelatedSeries {study_series:?}, {} series found",
        series.len()
    ));
    let per_series: Option<u64> = series.iter().map(|s| count(s, SERIES_INSTANCES)).sum();
    let study_instances = count(study, STUDY_INSTANCES);
    ok &= per_series.is_some() && study_instances == per_series;
    got.push(format!(
        "NumberOfStudyRelatedInstances {study_instances:?}, series sum {per_series:?}"
    ));
    let target = series
        .iter()
        .find(|s| first(s, SERIES_UID).as_deref() == Some(ctx.target.series.as_str()))
        .and_then(|s| count(s, SERIES_INSTANCES));
    ok &= target == Some(instances.len() as u64);
    got.push(format!(
        "series NumberOfSeriesRelatedInstances {target:?}, {} instances found",
        instances.len()
    ));
    Outcome::judge(ok, sent.join("\n"), expected, got.join("; "))
}

pub async fn uid_match(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let mut cases = Cases::new();
    cases
        .run(
            ctx,
            &study_path(ctx),
            exactly(STUDY_UID, vec![t.study.clone()]),
        )
        .await;
    let path = format!("{}?SeriesInstanceUID={}", series_path(ctx), t.series);
    cases
        .run(ctx, &path, exactly(SERIES_UID, vec![t.series.clone()]))
        .await;
    cases.outcome("exactly the study, and within it exactly the series")
}

/// Another study than the target's, from the list of all studies.
async fn other_study(ctx: &Ctx) -> Option<String> {
    let (_, found) = search(ctx, "/studies").await;
    uids(&found.ok()?, STUDY_UID)
        .into_iter()
        .find(|u| *u != ctx.target.study)
}

pub async fn uid_list(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let mut cases = Cases::new();
    let path = format!("/studies?StudyInstanceUID={},{UNKNOWN_UID}", t.study);
    cases
        .run(ctx, &path, exactly(STUDY_UID, vec![t.study.clone()]))
        .await;
    if let Some(other) = other_study(ctx).await {
        let path = format!("/studies?StudyInstanceUID={},{other}", t.study);
        cases
            .run(ctx, &path, exactly(STUDY_UID, vec![t.study.clone(), other]))
            .await;
    }
    cases.outcome("each study listed and no other")
}

pub async fn exact(ctx: &Ctx) -> Outcome {
    let id = match metadata_value(ctx, PATIENT_ID, "PatientID").await {
        Ok(v) => v,
        Err(o) => return o,
    };
    let mut cases = Cases::new();
    let want = id.clone();
    let path = format!("/studies?PatientID={}", enc(&id));
    cases
        .run(
            ctx,
            &path,
            includes(STUDY_UID, ctx.target.study.clone(), move |o| {
                first(o, PATIENT_ID).as_deref() == Some(want.as_str())
            }),
        )
        .await;
    cases.outcome(format!(
        "the study, and only studies whose PatientID is {id:?}"
    ))
}

pub async fn wildcard(ctx: &Ctx) -> Outcome {
    let name = match metadata_value(ctx, PATIENT_NAME, "PatientName").await {
        Ok(v) => v,
        Err(o) => return o,
    };
    let chars: Vec<char> = name.chars().collect();
    if chars.len() < 2 {
        return Outcome::not_applicable(
            "the instance's PatientName is shorter than two characters",
        );
    }
    let prefix: String = chars[..2].iter().collect();
    let rest: String = chars[1..].iter().collect();
    let mut cases = Cases::new();
    let p = prefix.to_lowercase();
    cases
        .run(
            ctx,
            &format!("/studies?PatientName={}", enc(&format!("{prefix}*"))),
            includes(STUDY_UID, ctx.target.study.clone(), move |o| {
                first(o, PATIENT_NAME).is_some_and(|n| n.to_lowercase().starts_with(&p))
            }),
        )
        .await;
    let (len, tail) = (chars.len(), rest.to_lowercase());
    cases
        .run(
            ctx,
            &format!("/studies?PatientName={}", enc(&format!("?{rest}"))),
            includes(STUDY_UID, ctx.target.study.clone(), move |o| {
                first(o, PATIENT_NAME)
                    .is_some_and(|n| n.chars().count() == len && n.to_lowercase().ends_with(&tail))
            }),
        )
        .await;
    cases.outcome(format!(
        "{prefix}* and ?{rest} each find the study, and only names they match"
    ))
}

pub async fn date_range(ctx: &Ctx) -> Outcome {
    let date = match metadata_value(ctx, STUDY_DATE, "StudyDate").await {
        Ok(v) if v.len() == 8 => v,
        Ok(v) => return Outcome::not_applicable(format!("the StudyDate {v:?} is not a date")),
        Err(o) => return o,
    };
    let t = &ctx.target;
    let mut cases = Cases::new();
    for range in [
        format!("{date}-{date}"),
        format!("-{date}"),
        format!("{date}-"),
    ] {
        let path = format!("{}&StudyDate={range}", study_path(ctx));
        cases
            .run(ctx, &path, exactly(STUDY_UID, vec![t.study.clone()]))
            .await;
    }
    let outside = if date.as_str() > "19000102" {
        "19000101-19000102"
    } else {
        "29990101-29990102"
    };
    let path = format!("{}&StudyDate={outside}", study_path(ctx));
    cases.run(ctx, &path, exactly(STUDY_UID, vec![])).await;
    cases.outcome(format!(
        "{date}-{date}, -{date} and {date}- find the study; {outside} does not"
    ))
}

pub async fn universal(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let mut cases = Cases::new();
    let path = format!("{}&PatientID=", study_path(ctx));
    cases
        .run(ctx, &path, exactly(STUDY_UID, vec![t.study.clone()]))
        .await;
    cases.outcome("the study: an empty value matches every value")
}

/// An attribute of the instance's metadata that its default QIDO-RS record lacks, to ask
/// for by `includefield`: a public, non-sequence, non-binary attribute with a value.
async fn extra_attribute(ctx: &Ctx, meta: &Object) -> Option<(String, Vec<String>)> {
    let path = format!(
        "{}?SOPInstanceUID={}",
        instances_path(ctx),
        ctx.target.instance
    );
    let (_, found) = search(ctx, &path).await;
    let default = found.ok()?.into_iter().next().unwrap_or_default();
    let mut tags: Vec<&String> = meta.keys().collect();
    tags.sort();
    tags.into_iter()
        .filter(|tag| {
            let group = u16::from_str_radix(&tag[..4.min(tag.len())], 16).unwrap_or(1);
            // Not SpecificCharacterSet, which every level may return by default.
            group % 2 == 0 && group > 0x0002 && !tag.starts_with("7FE0") && *tag != "00080005"
        })
        .filter(|tag| !default.contains_key(tag.as_str()))
        .find_map(|tag| Some((tag.clone(), values(meta, tag)?)))
}

async fn includefield(ctx: &Ctx, all: bool) -> Outcome {
    let meta = match ctx.instance_metadata().await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let Some((tag, want)) = extra_attribute(ctx, &meta).await else {
        return Outcome::not_applicable(
            "every attribute of the instance's metadata is in its default QIDO-RS record",
        );
    };
    let field = if all { "all" } else { tag.as_str() };
    let path = format!(
        "{}?SOPInstanceUID={}&includefield={field}",
        instances_path(ctx),
        ctx.target.instance
    );
    let expected = format!("the instance's record carries {tag} = {want:?}, as its metadata does");
    let (ex, found) = search(ctx, &path).await;
    match found {
        Ok(found) => {
            let got = found.first().and_then(|o| values(o, &tag));
            Outcome::judge(
                got.as_ref() == Some(&want),
                ex.sent.clone(),
                expected,
                format!("{} found; {tag} = {got:?}", found.len()),
            )
        }
        Err(e) => Outcome::judge(false, ex.sent, expected, e),
    }
}

pub async fn includefield_tag(ctx: &Ctx) -> Outcome {
    includefield(ctx, false).await
}

pub async fn includefield_all(ctx: &Ctx) -> Outcome {
    includefield(ctx, true).await
}

pub async fn paging(ctx: &Ctx) -> Outcome {
    let (ex, all) = search(ctx, "/studies").await;
    let all = match all {
        Ok(all) => uids(&all, STUDY_UID),
        Err(e) => return Outcome::judge(false, ex.sent, "the list of studies", e),
    };
    let mut cases = Cases::new();
    cases.sent.push(ex.sent);
    let mut pages = Vec::new();
    for offset in [0, 1] {
        let path = format!("/studies?limit=1&offset={offset}");
        let want = usize::from(all.len() > offset);
        if let Some(found) = cases
            .run(ctx, &path, |f| {
                (
                    f.len() == want,
                    format!("offset {offset}: {} found", f.len()),
                )
            })
            .await
        {
            pages.extend(uids(&found, STUDY_UID));
        }
    }
    let distinct = pages.len() < 2 || pages[0] != pages[1];
    let listed = pages.iter().all(|p| all.contains(p));
    cases.ok &= distinct && listed;
    cases.got.push(format!(
        "pages {pages:?}: {}, {}",
        if distinct {
            "distinct"
        } else {
            "the same study twice"
        },
        if listed {
            "all in the full list"
        } else {
            "not all in the full list"
        }
    ));
    cases.outcome(format!(
        "limit=1 answers one study of the {} listed; offset=1 the next, another one",
        all.len()
    ))
}

pub async fn fuzzymatching(ctx: &Ctx) -> Outcome {
    let name = match metadata_value(ctx, PATIENT_NAME, "PatientName").await {
        Ok(v) => v,
        Err(o) => return o,
    };
    let mut cases = Cases::new();
    let path = format!("/studies?PatientName={}&fuzzymatching=true", enc(&name));
    cases
        .run(
            ctx,
            &path,
            includes(STUDY_UID, ctx.target.study.clone(), |_| true),
        )
        .await;
    cases.outcome("200 with the study: the exact name still matches with fuzzymatching=true")
}

pub async fn no_match(ctx: &Ctx) -> Outcome {
    let ex = ctx
        .json(&format!("/studies?StudyInstanceUID={UNKNOWN_UID}"))
        .await;
    let empty_array = ex.status == 200
        && serde_json::from_slice::<serde_json::Value>(&ex.body)
            .is_ok_and(|v| v.as_array().is_some_and(|a| a.is_empty()));
    let no_content = ex.status == 204 && ex.body.is_empty();
    Outcome::judge(
        empty_array || no_content,
        ex.sent.clone(),
        "200 with [] (CP-2473), or 204 with no payload",
        ex.summary(),
    )
}

pub async fn bad_parameter(ctx: &Ctx) -> Outcome {
    let mut answers = Vec::new();
    for query in ["limit=many", "StudyDate=not-a-date", "NoSuchAttribute=1"] {
        answers.push(ctx.json(&format!("/studies?{query}")).await);
    }
    expect_each_status(&answers, 400)
}

pub async fn levels(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let mut cases = Cases::new();
    let path = format!("/series?StudyInstanceUID={}", t.study);
    cases
        .run(
            ctx,
            &path,
            includes(SERIES_UID, t.series.clone(), |o| {
                first(o, STUDY_UID).is_none_or(|u| u == ctx.target.study)
            }),
        )
        .await;
    let path = format!(
        "/instances?StudyInstanceUID={}&SeriesInstanceUID={}",
        t.study, t.series
    );
    cases
        .run(ctx, &path, includes(SOP_UID, t.instance.clone(), |_| true))
        .await;
    let path = format!(
        "/studies/{}/instances?SOPInstanceUID={}",
        t.study, t.instance
    );
    cases
        .run(ctx, &path, exactly(SOP_UID, vec![t.instance.clone()]))
        .await;
    cases.outcome(
        "{base}/series finds the series, {base}/instances and {base}/studies/{study}/instances \
         the instance",
    )
}
