//! A black-box DICOMweb conformance suite for WADO-RS frame retrieval and the HealthImaging
//! native path, runnable against any base URL: the local stack, a CloudFront deployment, or
//! another DICOMweb server.
//!
//! The flow is `target::discover` (which instance to test, and what is known about it) →
//! `checks::run` (each check sends its requests and judges the answers) → `report` (table,
//! JSON, JUnit). Checks cite the PS3.18 section or the docs/clients.md rule they test, and a
//! check that does not apply to a target says so instead of passing.

pub mod checks;
pub mod http;
pub mod multipart;
pub mod profiles;
pub mod report;
pub mod target;

pub use checks::{Ctx, Finding, Group, Outcome, Verdict};
pub use http::Session;
pub use target::{Given, Target};
