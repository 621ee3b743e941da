//! Transfer syntaxes (PS3.5 §10, PS3.6 Annex A) and the media types DICOMweb serves pixel
//! data in (PS3.18 Table 8.7.3-5): one type, validated once, with the tables that belong to
//! it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::uid::{InvalidUid, Uid};

/// A transfer syntax UID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferSyntax(Cow<'static, str>);

/// `application/octet-stream`, the media type of native (uncompressed) pixel data.
pub const OCTET_STREAM: &str = "application/octet-stream";

impl TransferSyntax {
    /// Implicit VR Little Endian (1.2.840.10008.1.2).
    pub const IMPLICIT_VR_LE: Self = Self::known("1.2.840.10008.1.2");
    /// Explicit VR Little Endian (1.2.840.10008.1.2.1): native pixel data on the web.
    pub const EXPLICIT_VR_LE: Self = Self::known("1.2.840.10008.1.2.1");
    /// Deflated Explicit VR Little Endian.
    pub const DEFLATED_EXPLICIT_VR_LE: Self = Self::known("1.2.840.10008.1.2.1.99");
    /// Explicit VR Big Endian (retired).
    pub const EXPLICIT_VR_BE: Self = Self::known("1.2.840.10008.1.2.2");
    /// JPEG Baseline (Process 1).
    pub const JPEG_BASELINE: Self = Self::known("1.2.840.10008.1.2.4.50");
    /// JPEG Lossless, First-Order Prediction (Process 14, SV1): `image/jpeg`'s default.
    pub const JPEG_LOSSLESS_SV1: Self = Self::known("1.2.840.10008.1.2.4.70");
    /// JPEG 2000 Image Compression (Lossless Only): `image/jp2`'s default.
    pub const JPEG_2000_LOSSLESS: Self = Self::known("1.2.840.10008.1.2.4.90");
    /// JPEG 2000 Image Compression.
    pub const JPEG_2000: Self = Self::known("1.2.840.10008.1.2.4.91");
    /// High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only), what
    /// HealthImaging stores on import by default.
    pub const HTJ2K_RPCL_LOSSLESS: Self = Self::known("1.2.840.10008.1.2.4.202");
    /// RLE Lossless.
    pub const RLE_LOSSLESS: Self = Self::known("1.2.840.10008.1.2.5");

    const fn known(uid: &'static str) -> Self {
        Self(Cow::Borrowed(uid))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pixel data is native (uncompressed): it is served as Explicit VR LE.
    pub fn is_native(&self) -> bool {
        matches!(
            self.as_str(),
            "1.2.840.10008.1.2"
                | "1.2.840.10008.1.2.1"
                | "1.2.840.10008.1.2.2"
                | "1.2.840.10008.1.2.1.99"
        )
    }

    /// The syntax pixel data stored in this syntax is served in as it is: native data as
    /// Explicit VR LE (Implicit VR and Big Endian are not used on the web), the rest as
    /// stored.
    pub fn as_served(&self) -> TransferSyntax {
        if self.is_native() {
            Self::EXPLICIT_VR_LE
        } else {
            self.clone()
        }
    }

    /// The DICOMweb media type of pixel data in this syntax (PS3.18 Table 8.7.3-5);
    /// native syntaxes and unknown ones: `application/octet-stream`.
    pub fn media_type(&self) -> &'static str {
        match self.as_str() {
            "1.2.840.10008.1.2.4.50"
            | "1.2.840.10008.1.2.4.51"
            | "1.2.840.10008.1.2.4.57"
            | "1.2.840.10008.1.2.4.70" => "image/jpeg",
            "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "image/jls",
            "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "image/jp2",
            "1.2.840.10008.1.2.4.92" | "1.2.840.10008.1.2.4.93" => "image/jpx",
            "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
                "image/jphc"
            }
            "1.2.840.10008.1.2.5" => "image/dicom-rle",
            "1.2.840.10008.1.2.4.100" | "1.2.840.10008.1.2.4.101" => "video/mpeg2",
            "1.2.840.10008.1.2.4.102"
            | "1.2.840.10008.1.2.4.103"
            | "1.2.840.10008.1.2.4.104"
            | "1.2.840.10008.1.2.4.105"
            | "1.2.840.10008.1.2.4.106" => "video/mp4",
            "1.2.840.10008.1.2.4.107" | "1.2.840.10008.1.2.4.108" => "video/H265",
            _ => OCTET_STREAM,
        }
    }

    /// The syntax a media type means when the client names none (PS3.18 §8.7.3.5.2);
    /// `None` where the standard gives no default (`image/jphc`: the stored syntax is meant).
    pub fn default_for(media_type: &str) -> Option<TransferSyntax> {
        Some(Self::known(
            match media_type.to_ascii_lowercase().as_str() {
                OCTET_STREAM | "application/dicom" => "1.2.840.10008.1.2.1",
                "image/jpeg" => "1.2.840.10008.1.2.4.70",
                "image/jls" => "1.2.840.10008.1.2.4.80",
                "image/jp2" => "1.2.840.10008.1.2.4.90",
                "image/jpx" => "1.2.840.10008.1.2.4.92",
                "image/dicom-rle" => "1.2.840.10008.1.2.5",
                "video/mpeg2" => "1.2.840.10008.1.2.4.100",
                "video/mp4" => "1.2.840.10008.1.2.4.102",
                "video/h265" => "1.2.840.10008.1.2.4.107",
                _ => return None,
            },
        ))
    }
}

impl FromStr for TransferSyntax {
    type Err = InvalidUid;

    fn from_str(s: &str) -> Result<Self, InvalidUid> {
        let uid: Uid = s.parse()?;
        Ok(Self(Cow::Owned(uid.as_str().to_owned())))
    }
}

impl fmt::Display for TransferSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TransferSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferSyntax({})", self.0)
    }
}

impl PartialEq<str> for TransferSyntax {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> TransferSyntax {
        s.parse().unwrap()
    }

    #[test]
    fn table_and_defaults_agree() {
        for t in [
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.5",
        ] {
            assert_eq!(TransferSyntax::default_for(ts(t).media_type()), Some(ts(t)));
        }
        assert_eq!(ts("1.2.840.10008.1.2.4.202").media_type(), "image/jphc");
        assert_eq!(TransferSyntax::default_for("image/jphc"), None);
        assert_eq!(
            TransferSyntax::default_for("Application/Octet-Stream"),
            Some(TransferSyntax::EXPLICIT_VR_LE)
        );
        assert_eq!(
            ts("1.2.840.10008.1.2").as_served(),
            TransferSyntax::EXPLICIT_VR_LE
        );
        assert_eq!(
            TransferSyntax::HTJ2K_RPCL_LOSSLESS.as_served(),
            TransferSyntax::HTJ2K_RPCL_LOSSLESS
        );
    }

    #[test]
    fn only_uids_parse() {
        assert!("1.2.840.10008.1.2.4.202".parse::<TransferSyntax>().is_ok());
        assert!("*".parse::<TransferSyntax>().is_err());
        assert!("1.2.x".parse::<TransferSyntax>().is_err());
        assert!("".parse::<TransferSyntax>().is_err());
    }
}
