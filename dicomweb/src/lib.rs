//! DICOMweb protocol (PS3.18) without I/O: identifiers, frame lists and `multipart/related`.
//! Route parsing and Accept negotiation join with the frame-retrieval work.

pub mod frames;
pub mod multipart;
pub mod uid;

pub use frames::{FrameList, InvalidFrameList};
pub use uid::{InvalidUid, Uid};
