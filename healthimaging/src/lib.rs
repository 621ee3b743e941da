//! AWS HealthImaging (AHI): typed requests and responses of the data plane, the image-set
//! metadata model, a client built on `aws-sdk-medicalimaging`, and a local emulator that
//! speaks AHI's wire protocol.
//!
//! The model (`ids`, `metadata`, `api`, `media`) has no I/O and builds for any target; the
//! client and the emulator are behind the `client` and `emulator` features.

pub mod api;
pub mod ids;
pub mod media;
pub mod metadata;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "emulator")]
pub mod emulator;

pub use api::{AhiError, ClientError, ErrorKind};
pub use ids::{DatastoreId, ImageFrameId, ImageSetId, InvalidId};
pub use metadata::ImageSetMetadata;

/// The SigV4 signing name of the AHI data plane.
pub const SIGNING_NAME: &str = "medical-imaging";
