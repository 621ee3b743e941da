//! DICOMweb protocol (PS3.18) without I/O: the edge's routes, identifiers, frame lists,
//! Accept negotiation, media types and transfer syntaxes, `multipart/related`, and (feature
//! `json`) DICOM JSON from HealthImaging metadata.

pub mod accept;
pub mod frames;
#[cfg(feature = "json")]
pub mod json;
pub mod media;
pub mod multipart;
#[cfg(feature = "json")]
pub mod qido;
pub mod route;
pub mod uid;

pub use frames::{FrameList, InvalidFrameList};
pub use route::{Route, RouteError};
pub use uid::{InvalidUid, Uid};
