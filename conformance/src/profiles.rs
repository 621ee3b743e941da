//! Known deviations of other servers, so that a comparison run states exactly where they
//! differ from what the suite checks, and why. A listed check that fails is reported as a
//! known deviation; a listed check that passes is reported as a failure, so the list cannot
//! go stale.

use crate::checks::{Finding, Verdict};

/// A check a server is known to fail, and why.
pub struct Deviation {
    pub check: &'static str,
    pub reason: &'static str,
}

/// Orthanc 1.10 with its DICOMweb plugin 1.7 (Debian 12 `orthanc`, `orthanc-dicomweb`),
/// loaded with the demo dataset (`scripts/conformance-orthanc.sh`).
pub const ORTHANC: &[Deviation] = &[
    Deviation {
        check: "frames.duplicate",
        reason: "Orthanc answers 200 with the frame repeated; PS3.18 defines the frame list as \
                 non-duplicate frame numbers",
    },
    Deviation {
        check: "negotiation.unsupported",
        reason: "Orthanc answers 400, calling video/mpeg2 with the MPEG2 syntax incompatible, \
                 where a media type it cannot supply calls for 406",
    },
    Deviation {
        check: "negotiation.accept-list",
        reason: "Orthanc reads only the first Accept entry and answers 400 unless that entry is \
                 multipart/related",
    },
    Deviation {
        check: "errors.malformed-uid",
        reason: "Orthanc does not check UID syntax and answers 404 for any UID it does not hold",
    },
    Deviation {
        check: "errors.cors",
        reason: "Orthanc has no CORS support (deployments put a proxy in front of it)",
    },
    Deviation {
        check: "cors.preflight",
        reason: "Orthanc has no CORS support: OPTIONS answers 404",
    },
    Deviation {
        check: "cors.expose",
        reason: "Orthanc has no CORS support",
    },
    Deviation {
        check: "retrieve.unavailable",
        reason: "Orthanc answers 500 (\"Error encountered within the plugin engine\") when asked \
                 for an instance in a syntax it cannot transcode to, where PS3.18 calls for 406",
    },
    Deviation {
        check: "caching.etag",
        reason: "Orthanc sends no ETag on frames; the check states this product's CDN caching \
                 rules (docs/architecture.md), which PS3.18 does not require",
    },
    Deviation {
        check: "caching.cache-control",
        reason: "Orthanc sends no Cache-Control on frames; the check states this product's CDN \
                 caching rules (docs/architecture.md), which PS3.18 does not require",
    },
    Deviation {
        check: "qido.includefield-all",
        reason: "Orthanc does not support includefield=all (its DICOMweb plugin's Status.txt); \
                 it answers only the attributes it would answer by default",
    },
    Deviation {
        check: "qido.bad-parameter",
        reason: "Orthanc answers a malformed StudyDate with 200 and no match, and ignores a \
                 parameter that names no attribute, where PS3.18 calls for 400",
    },
    Deviation {
        check: "rendered.thumbnail",
        reason: "Orthanc's DICOMweb plugin 1.7 has no thumbnail resources (404)",
    },
    Deviation {
        check: "metadata.validators",
        reason: "Orthanc sends no ETag on metadata; the check states this product's CDN caching \
                 rules (docs/architecture.md), which PS3.18 does not require",
    },
];

/// The profiles `--profile` accepts.
pub fn named(name: &str) -> Option<&'static [Deviation]> {
    match name {
        "orthanc" => Some(ORTHANC),
        _ => None,
    }
}

/// Marks the findings `profile` explains.
pub fn apply(profile: &[Deviation], findings: &mut [Finding]) {
    for f in findings {
        let Some(d) = profile.iter().find(|d| d.check == f.id) else {
            continue;
        };
        match f.outcome.verdict {
            Verdict::Fail => {
                f.outcome.verdict = Verdict::KnownDeviation;
                f.outcome.got = format!("{} [known deviation: {}]", f.outcome.got, d.reason);
            }
            Verdict::Pass => {
                f.outcome.verdict = Verdict::Fail;
                f.outcome.got = format!(
                    "{} [passed, but the profile lists it as a known deviation ({}); update \
                     conformance/src/profiles.rs]",
                    f.outcome.got, d.reason
                );
            }
            Verdict::NotApplicable | Verdict::KnownDeviation => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Basis, Group, Outcome};

    fn finding(id: &'static str, ok: bool) -> Finding {
        Finding {
            id,
            group: Group::Frames,
            title: "t",
            cite: "c",
            basis: Basis::Standard,
            outcome: Outcome::judge(ok, "GET /", "200", "got"),
        }
    }

    #[test]
    fn listed_failures_become_known_and_listed_passes_become_failures() {
        const PROFILE: &[Deviation] = &[
            Deviation {
                check: "a",
                reason: "because",
            },
            Deviation {
                check: "b",
                reason: "was fixed",
            },
        ];
        let mut findings = vec![finding("a", false), finding("b", true), finding("c", false)];
        apply(PROFILE, &mut findings);
        let verdicts: Vec<_> = findings.iter().map(|f| f.outcome.verdict).collect();
        assert_eq!(
            verdicts,
            [Verdict::KnownDeviation, Verdict::Fail, Verdict::Fail]
        );
        assert!(
            findings[0]
                .outcome
                .got
                .ends_with("[known deviation: because]")
        );
        assert!(
            findings[1]
                .outcome
                .got
                .contains("update conformance/src/profiles.rs")
        );
    }

    #[test]
    fn every_orthanc_deviation_names_a_check() {
        let ids: Vec<_> = crate::checks::all().iter().map(|c| c.id).collect();
        for d in ORTHANC {
            assert!(ids.contains(&d.check), "{}", d.check);
        }
    }
}
