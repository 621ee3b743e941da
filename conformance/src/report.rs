//! The readable table, the summary line, and the JSON and JUnit reports.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::json;

use crate::checks::{Finding, Group, Verdict};
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
    pub fn of(findings: &[Finding]) -> Self {
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
        field(&mut out, "cite", f.cite);
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

/// The JUnit XML report: one test suite per group; not applicable and known deviations are
/// skipped test cases with the reason as their message.
pub fn junit(findings: &[Finding]) -> anyhow::Result<String> {
    let mut report = Report::new("dicomweb-conformance");
    for group in Group::ALL {
        let mut suite = TestSuite::new(group.name());
        for f in findings.iter().filter(|f| f.group == group) {
            let mut status = match f.outcome.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Verdict::NotApplicable | Verdict::KnownDeviation => TestCaseStatus::skipped(),
            };
            if f.outcome.verdict != Verdict::Pass {
                status.set_message(f.outcome.got.as_str());
            }
            let mut case = TestCase::new(f.id, status);
            case.set_classname(format!("{} ({})", f.title, f.cite));
            case.set_system_out(format!(
                "sent: {}\nexpected: {}\ngot: {}",
                f.outcome.sent, f.outcome.expected, f.outcome.got
            ));
            suite.add_test_case(case);
        }
        if !suite.test_cases.is_empty() {
            report.add_test_suite(suite);
        }
    }
    Ok(report.to_string()?)
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
                r#"<testsuites name="dicomweb-conformance" tests="3" failures="1" errors="0""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<testsuite name="frames" tests="2" disabled="0" errors="0" failures="1""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="500 &lt;&amp;&gt;""#),
            "{xml}"
        );
        assert!(xml.contains(r#"<skipped message="no token""#), "{xml}");
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
