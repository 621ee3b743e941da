//! DICOMweb protocol (PS3.18) without I/O: the edge's routes, identifiers, frame lists and
//! `multipart/related`. Accept negotiation joins with the frame-retrieval work.

pub mod frames;
pub mod multipart;
pub mod route;
pub mod uid;

pub use frames::{FrameList, InvalidFrameList};
pub use route::{Route, RouteError};
pub use uid::{InvalidUid, Uid};
