//! A black-box conformance suite for a DICOMweb Studies Service (QIDO-RS search, WADO-RS
//! metadata, bulk data, frames and instances) and the HealthImaging native path, runnable
//! against any base URL: the local stack, a CloudFront deployment, AHI's own DICOMweb API
//! (signed with SigV4), or another DICOMweb server.
//!
//! The flow is `target::discover` (which instance to test, and what is known about it) →
//! `checks::run` (each check sends its requests and judges the answers) → `report` (table,
//! JSON, JUnit). Checks cite the PS3.18 section or the docs/clients.md rule they test, and a
//! check that does not apply to a target says so instead of passing.

pub mod checks;
pub mod cli;
pub mod dicom_json;
pub mod http;
pub mod multipart;
pub mod profiles;
pub mod report;
pub mod target;

pub use checks::{Ctx, Finding, Group, Outcome, Verdict};
pub use http::{Credentials, Session};
pub use target::{Given, Target};
