//! DICOMweb protocol (PS3.18) without I/O: the edge's routes, identifiers, frame lists,
//! Accept negotiation, media types and transfer syntaxes, and `multipart/related`.

pub mod accept;
pub mod frames;
pub mod media;
pub mod multipart;
pub mod route;
pub mod uid;

pub use frames::{FrameList, InvalidFrameList};
pub use route::{Route, RouteError};
pub use uid::{InvalidUid, Uid};
