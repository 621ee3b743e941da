//! The readable table, the summary line, and the JSON and JUnit reports.

use std::fmt::Write as _;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde_json::json;

use crate::checks::{Basis, Finding, Group, Verdict};
use crate::target::Target;

/// Counts by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub not_applicable: usize,
    pub known_deviations: usize,
}

impl Summary {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut s = Summary::default();
        for f in findings {
            match f.outcome.verdict {
                Verdict::Pass => s.passed += 1,
                Verdict::Fail => s.failed += 1,
                Verdict::NotApplicable => s.not_applicable += 1,
                Verdict::KnownDeviation => s.known_deviations += 1,
            }
        }
        s
    }

    pub fn line(&self) -> String {
        let mut line = format!(
            "{} passed, {} failed, {} not applicable",
            self.passed, self.failed, self.not_applicable
        );
        if self.known_deviations > 0 {
            let _ = write!(line, ", {} known deviations", self.known_deviations);
        }
        line
    }
}

fn label(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::NotApplicable => "N/A",
        Verdict::KnownDeviation => "KNOWN",
    }
}

/// Indents continuation lines of a multi-line field.
fn field(out: &mut String, name: &str, value: &str) {
    let pad = " ".repeat(8 + name.len() + 2);
    let _ = writeln!(
        out,
        "        {name}: {}",
        value.replace('\n', &format!("\n{pad}"))
    );
}

/// How a check that is not a requirement of the standard is labelled.
pub const PRODUCT_RULE: &str = "this product's rule, not a requirement of the standard";

/// The table: one line per check, then what it sent, expected and got.
pub fn table(target: &Target, findings: &[Finding]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "target   {}", target.base_url);
    let _ = writeln!(
        out,
        "instance {} / {} / {} ({} frames)",
        target.study,
        target.series,
        target.instance,
        target
            .frames
            .map_or("unknown number of".to_owned(), |n| n.to_string())
    );
    for note in &target.notes {
        let _ = writeln!(out, "note     {note}");
    }
    let _ = writeln!(
        out,
        "(below, {{instance}} is {}, {{base}} is {})",
        target.instance_url(),
        target.base_url
    );
    out.push('\n');
    let short = |s: &str| {
        s.replace(&target.instance_url(), "{instance}")
            .replace(&target.base_url, "{base}")
    };
    for f in findings {
        let _ = writeln!(
            out,
            "{:<5}  {:<36} {}",
            label(f.outcome.verdict),
            f.id,
            f.title
        );
        match f.basis {
            Basis::Standard => field(&mut out, "cite", f.cite),
            Basis::Product => field(&mut out, "cite", &format!("{} [{}]", f.cite, PRODUCT_RULE)),
        }
        if f.outcome.verdict == Verdict::NotApplicable {
            field(&mut out, "why", &f.outcome.got);
            continue;
        }
        field(&mut out, "sent", &short(&f.outcome.sent));
        field(&mut out, "expected", &f.outcome.expected);
        field(&mut out, "got", &f.outcome.got);
    }
    let _ = writeln!(out, "\n{}", Summary::of(findings).line());
    out
}

/// The JSON report: the target, every finding, and the counts.
pub fn json(target: &Target, findings: &[Finding]) -> serde_json::Value {
    let s = Summary::of(findings);
    json!({
        "target": {
            "base_url": target.base_url,
            "study": target.study,
            "series": target.series,
            "instance": target.instance,
            "frames": target.frames,
            "notes": target.notes,
        },
        "checks": findings,
        "summary": {
            "passed": s.passed,
            "failed": s.failed,
            "not_applicable": s.not_applicable,
            "known_deviations": s.known_deviations,
        },
    })
}

/// The JUnit XML report: one `testsuite` per group; not applicable checks and known
/// deviations are `skipped` with the reason as their message. The shape is the one Jenkins'
/// xUnit plugin validates (its `junit-10.xsd`, which pytest also writes to and tests against),
/// so only that schema's attributes appear.
pub fn junit(findings: &[Finding]) -> anyhow::Result<String> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let total = Summary::of(findings);
    let suites: Vec<(Group, Vec<&Finding>)> = Group::ALL
        .into_iter()
        .map(|g| (g, findings.iter().filter(|f| f.group == g).collect()))
        .filter(|(_, f): &(Group, Vec<&Finding>)| !f.is_empty())
        .collect();
    w.create_element("testsuites")
        .with_attributes([
            ("name", "dicomweb-conformance"),
            ("tests", findings.len().to_string().as_str()),
            ("failures", total.failed.to_string().as_str()),
            ("errors", "0"),
        ])
        .write_inner_content(|w| {
            for (group, cases) in &suites {
                let s = Summary::of(cases.iter().copied());
                w.create_element("testsuite")
                    .with_attributes([
                        ("name", group.name()),
                        ("tests", cases.len().to_string().as_str()),
                        ("failures", s.failed.to_string().as_str()),
                        ("errors", "0"),
                        (
                            "skipped",
                            (s.not_applicable + s.known_deviations).to_string().as_str(),
                        ),
                    ])
                    .write_inner_content(|w| {
                        for f in cases {
                            junit_case(w, f)?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    let mut xml = String::from_utf8(w.into_inner())?;
    xml.push('\n');
    Ok(xml)
}

fn junit_case(w: &mut Writer<Vec<u8>>, f: &Finding) -> std::io::Result<()> {
    let classname = match f.basis {
        Basis::Standard => format!("{} ({})", f.title, f.cite),
        Basis::Product => format!("{} ({}; {PRODUCT_RULE})", f.title, f.cite),
    };
    w.create_element("testcase")
        .with_attributes([("name", f.id), ("classname", classname.as_str())])
        .write_inner_content(|w| {
            let o = &f.outcome;
            match o.verdict {
                Verdict::Pass => {}
                Verdict::Fail => {
                    w.create_element("failure")
                        .with_attribute(("message", o.got.as_str()))
                        .write_text_content(BytesText::new(&o.expected))?;
                }
                Verdict::NotApplicable | Verdict::KnownDeviation => {
                    w.create_element("skipped")
                        .with_attribute(("message", o.got.as_str()))
                        .write_empty()?;
                }
            }
            let out = format!("sent: {}\nexpected: {}\ngot: {}", o.sent, o.expected, o.got);
            w.create_element("system-out")
                .write_text_content(BytesText::new(&out))?;
            Ok(())
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    fn finding(id: &'static str, group: Group, outcome: Outcome) -> Finding {
        Finding {
            id,
            group,
            title: "title",
            cite: "PS3.18",
            basis: Basis::Standard,
            outcome,
        }
    }

    fn findings() -> Vec<Finding> {
        vec![
            finding(
                "frames.a",
                Group::Frames,
                Outcome::judge(true, "GET /a", "200", "200"),
            ),
            finding(
                "frames.b",
                Group::Frames,
                Outcome::judge(false, "GET /b", "400", "500 <&>"),
            ),
            finding("auth.c", Group::Auth, Outcome::not_applicable("no token")),
        ]
    }

    #[test]
    fn summary_counts_each_verdict() {
        let s = Summary::of(&findings());
        assert_eq!(s.line(), "1 passed, 1 failed, 1 not applicable");
    }

    #[test]
    fn junit_has_a_suite_per_group_with_failures_and_skips() {
        let xml = junit(&findings()).unwrap();
        assert!(
            xml.contains(
                r#"<testsuites name="dicomweb-conformance" tests="3" failures="1" errors="0">"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<testsuite name="frames" tests="2" failures="1" errors="0" skipped="0">"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="500 &lt;&amp;&gt;">400</failure>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<skipped message="no token"/>"#), "{xml}");
    }

    #[test]
    fn json_lists_checks_and_counts() {
        let target = Target {
            base_url: "http://x".into(),
            study: "1".into(),
            series: "2".into(),
            instance: "3".into(),
            frames: Some(2),
            pixel: None,
            stored_transfer_syntax: None,
            native: None,
            origin: None,
            notes: vec![],
        };
        let v = json(&target, &findings());
        assert_eq!(v["summary"]["failed"], 1);
        assert_eq!(v["checks"][1]["verdict"], "fail");
        assert_eq!(v["checks"][1]["sent"], "GET /b");
        assert_eq!(v["checks"][2]["verdict"], "not_applicable");
        assert_eq!(v["checks"][2]["group"], "auth");
    }
}
