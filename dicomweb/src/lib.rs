//! DICOMweb (DICOM PS3.18) without I/O and without knowledge of any archive: UIDs, frame
//! lists, transfer syntaxes and their media types, Accept parsing and negotiation over the
//! representations a server offers, `multipart/related`, and (feature `json`) DICOM JSON
//! values and QIDO-RS matching.

pub mod accept;
pub mod attributes;
pub mod frames;
#[cfg(feature = "json")]
pub mod json;
pub mod multipart;
#[cfg(feature = "json")]
pub mod qido;
pub mod query;
pub mod rendered;
pub mod transfer_syntax;
pub mod uid;
pub mod wildcard;

pub use frames::{FrameList, InvalidFrameList};
pub use transfer_syntax::TransferSyntax;
pub use uid::{InvalidUid, Uid};
