//! The audit event: one per viewer request, cache hits and refusals included, written by the
//! viewer-request function, the one place that sees every request. It says who (the verified
//! token's subject, issuer and client), what (the action and the UIDs or HealthImaging IDs the
//! path names), when, from where, and what was decided; never a token, a signature, a search
//! value or any other attribute of a patient (docs/operations.md, "The audit trail", has the
//! shape and its mapping to DICOM's audit messages, PS3.15 Annex A.5).
//!
//! The viewer-request function knows the decision but not the final status; the local server
//! adds the status and the cache's `Hit`/`Miss` when the answer has ended, and deployed they
//! are in CloudFront's access log under the same request ID.

use serde::Serialize;

use crate::routes::{RenderTarget, Route};

/// The version of the audit line's shape; a change that removes or renames a field raises it.
pub const VERSION: u32 = 1;

/// What a request does with the images, by the resource it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// QIDO-RS.
    Search,
    /// WADO-RS metadata.
    Metadata,
    /// WADO-RS frames.
    Frames,
    /// WADO-RS bulk data.
    Bulkdata,
    /// WADO-RS retrieve of whole instances, and WADO-URI's instances.
    Retrieve,
    /// Rendered images (WADO-RS and WADO-URI).
    Rendered,
    Thumbnail,
    /// HealthImaging's own `getImageFrame`, GET or POST.
    Native,
    /// The translator's internal resources (shared resolution), signed with the internal key.
    Internal,
    /// A path outside the URL space, or a malformed one.
    Unknown,
}

impl Action {
    /// The name the audit line gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Search => "search",
            Action::Metadata => "metadata",
            Action::Frames => "frames",
            Action::Bulkdata => "bulkdata",
            Action::Retrieve => "retrieve",
            Action::Rendered => "rendered",
            Action::Thumbnail => "thumbnail",
            Action::Native => "native",
            Action::Internal => "internal",
            Action::Unknown => "unknown",
        }
    }

    /// The action of a request for `route` (`None`: no route).
    pub fn of(route: Option<&Route>) -> Self {
        let context = Context {
            request_id: "",
            client_ip: "",
            method: "",
            now: 0,
        };
        AuditEvent::new(context, String::new(), route).action
    }

    /// The DICOM audit message this action is reported as (PS3.15 Annex A.5.3: Query,
    /// or DICOM Instances Accessed), as its event ID code.
    pub fn dicom_event_id(self) -> &'static str {
        match self {
            Action::Search => "110112",
            _ => "110103",
        }
    }
}

/// The verified token's identity. Claims of a token that failed verification are never
/// recorded: nothing in them can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub iss: String,
    /// `client_id` (Cognito, RFC 9068) or else `azp` (OpenID Connect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Always `dicomweb-edge.audit`, so the lines can be told from other log lines.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: u32,
    /// UTC, RFC 3339, to the second.
    pub time: String,
    /// CloudFront's request ID (`x-edge-request-id` in its access log, `X-Amz-Cf-Id` at the
    /// origin and in the answer).
    pub request_id: String,
    pub client_ip: String,
    pub method: String,
    /// The path and query as the access log writes them
    /// ([`crate::http_rules::loggable_target`]: no query value but IDs and paging).
    pub target: String,
    pub action: Action,
    /// The DICOM audit event this is (see [`Action::dicom_event_id`]).
    pub dicom_event_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datastore: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The frame numbers asked for, as the path lists them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_set: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_frame: Option<String>,
    /// `allowed` (passed on to the cache and the origin) or `refused` (answered here).
    pub decision: &'static str,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The answer's status: the refusal's here; locally, also an allowed request's, once
    /// answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Locally, `Hit` or `Miss` of the edge cache, once answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
}

/// Where a request happened and which request it was.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub request_id: &'a str,
    pub client_ip: &'a str,
    pub method: &'a str,
    /// Seconds since the epoch.
    pub now: u64,
}

impl AuditEvent {
    /// The event of a request for `route` (`None`: no route), before the decision.
    pub fn new(context: Context<'_>, target: String, route: Option<&Route>) -> Self {
        let mut event = AuditEvent {
            kind: "dicomweb-edge.audit",
            version: VERSION,
            time: rfc3339(context.now),
            request_id: context.request_id.to_owned(),
            client_ip: context.client_ip.to_owned(),
            method: context.method.to_owned(),
            target,
            action: Action::Unknown,
            dicom_event_id: Action::Unknown.dicom_event_id(),
            user: None,
            datastore: None,
            study: None,
            series: None,
            instance: None,
            frames: None,
            image_set: None,
            image_frame: None,
            decision: "allowed",
            refusal: None,
            status: None,
            cache: None,
        };
        if let Some(route) = route {
            event.datastore = Some(route.datastore().to_string());
            event.names(route);
        }
        event.dicom_event_id = event.action.dicom_event_id();
        event
    }

    /// Records the resource `route` names.
    fn names(&mut self, route: &Route) {
        let text = |u: &dicomweb::Uid| Some(u.to_string());
        match route {
            Route::NativeFramePost { image_set, .. } => {
                self.action = Action::Native;
                self.image_set = Some(image_set.to_string());
            }
            Route::NativeFrameGet {
                image_set, frame, ..
            } => {
                self.action = Action::Native;
                self.image_set = Some(image_set.to_string());
                self.image_frame = Some(frame.to_string());
            }
            Route::Frames {
                target,
                frames,
                image_set,
                ..
            } => {
                self.action = Action::Frames;
                self.instance_of(target);
                self.frames = Some(frame_list(frames));
                self.image_set = image_set.as_ref().map(ToString::to_string);
            }
            Route::SearchStudies { .. } | Route::SearchAllSeries { .. } => {
                self.action = Action::Search;
            }
            Route::SearchSeries { study, .. } => {
                self.action = Action::Search;
                self.study = text(study);
            }
            Route::SearchInstances { study, series, .. } => {
                self.action = Action::Search;
                self.study = text(study);
                self.series = text(series);
            }
            Route::SearchAllInstances { study, .. } => {
                self.action = Action::Search;
                self.study = study.as_ref().and_then(text);
            }
            Route::Retrieve {
                study,
                series,
                sop,
                image_set,
                ..
            } => {
                self.action = Action::Retrieve;
                self.study = text(study);
                self.series = series.as_ref().and_then(text);
                self.instance = sop.as_ref().and_then(text);
                self.image_set = image_set.as_ref().map(ToString::to_string);
            }
            Route::StudyMetadata {
                study, image_set, ..
            } => {
                self.action = Action::Metadata;
                self.study = text(study);
                self.image_set = image_set.as_ref().map(ToString::to_string);
            }
            Route::SeriesMetadata {
                study,
                series,
                image_set,
                ..
            } => {
                self.action = Action::Metadata;
                self.study = text(study);
                self.series = text(series);
                self.image_set = image_set.as_ref().map(ToString::to_string);
            }
            Route::InstanceMetadata {
                target, image_set, ..
            } => {
                self.action = Action::Metadata;
                self.instance_of(target);
                self.image_set = image_set.as_ref().map(ToString::to_string);
            }
            Route::Bulkdata {
                target, image_set, ..
            } => {
                self.action = Action::Bulkdata;
                self.instance_of(target);
                self.image_set = image_set.as_ref().map(ToString::to_string);
            }
            Route::Rendered {
                target,
                thumbnail,
                image_set,
                ..
            } => {
                self.action = if *thumbnail {
                    Action::Thumbnail
                } else {
                    Action::Rendered
                };
                match target {
                    RenderTarget::Study(study) => self.study = text(study),
                    RenderTarget::Series(study, series) => {
                        self.study = text(study);
                        self.series = text(series);
                    }
                    RenderTarget::Instance(i) => self.instance_of(i),
                    RenderTarget::Frames(i, frames) => {
                        self.instance_of(i);
                        self.frames = Some(frame_list(frames));
                    }
                }
                self.image_set = image_set.as_ref().map(ToString::to_string);
            }
            Route::WadoUri { route, .. } => self.names(route),
            Route::ResolveStudy { study, .. } => {
                self.action = Action::Internal;
                self.study = text(study);
            }
            Route::ResolveImageSet { image_set, .. } => {
                self.action = Action::Internal;
                self.image_set = Some(image_set.to_string());
            }
        }
    }

    fn instance_of(&mut self, target: &crate::routes::Instance) {
        self.study = Some(target.study.to_string());
        self.series = Some(target.series.to_string());
        self.instance = Some(target.sop.to_string());
    }

    /// The line as written: one JSON object.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn frame_list(frames: &dicomweb::FrameList) -> String {
    frames
        .numbers()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `secs` since the epoch as RFC 3339 UTC (`2026-12-08T01:02:03Z`), by the days-to-civil
/// conversion of the proleptic Gregorian calendar (H. Hinnant, "chrono-Compatible Low-Level
/// Date Algorithms"): a dozen lines here instead of a date crate in the WebAssembly module.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_the_lines() {
        for a in [
            Action::Search,
            Action::Metadata,
            Action::Frames,
            Action::Bulkdata,
            Action::Retrieve,
            Action::Rendered,
            Action::Thumbnail,
            Action::Native,
            Action::Internal,
            Action::Unknown,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // `date -u -d @…` on this machine.
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    fn event(path: &str, query: Option<&str>) -> AuditEvent {
        let route = crate::routes::parse("GET", path, query).unwrap();
        let context = Context {
            request_id: "id",
            client_ip: "203.0.113.9",
            method: "GET",
            now: 0,
        };
        AuditEvent::new(context, path.to_owned(), Some(&route))
    }

    #[test]
    fn each_resource_names_its_action_and_uids() {
        let ds = "/datastore/fe979d40487394a75b813ff62a2f7451";
        let e = event(
            &format!("{ds}/studies/1.2/series/1.3/instances/1.4/frames/3,1"),
            None,
        );
        assert_eq!(e.action, Action::Frames);
        assert_eq!(e.dicom_event_id, "110103");
        assert_eq!(
            (
                e.study.as_deref(),
                e.series.as_deref(),
                e.instance.as_deref()
            ),
            (Some("1.2"), Some("1.3"), Some("1.4"))
        );
        assert_eq!(e.frames.as_deref(), Some("3,1"));
        assert_eq!(
            e.datastore.as_deref(),
            Some("fe979d40487394a75b813ff62a2f7451")
        );

        let e = event(&format!("{ds}/studies"), Some("PatientName=DOE*"));
        assert_eq!((e.action, e.dicom_event_id), (Action::Search, "110112"));
        assert!(!e.to_line().contains("DOE"), "{}", e.to_line());

        let e = event(&format!("{ds}/studies/1.2/series/1.3/thumbnail"), None);
        assert_eq!(e.action, Action::Thumbnail);
        assert_eq!(e.series.as_deref(), Some("1.3"));

        let e = event(
            &format!("{ds}/wado"),
            Some(
                "requestType=WADO&studyUID=1.2&seriesUID=1.3&objectUID=1.4&contentType=application/dicom",
            ),
        );
        assert_eq!(
            (e.action, e.instance.as_deref()),
            (Action::Retrieve, Some("1.4"))
        );

        let e = event(
            &format!("{ds}/imageSet/0123456789abcdef0123456789abcdef/getImageFrame"),
            Some("imageFrameId=fedcba9876543210fedcba9876543210"),
        );
        assert_eq!(e.action, Action::Native);
        assert_eq!(
            e.image_frame.as_deref(),
            Some("fedcba9876543210fedcba9876543210")
        );
    }
}
