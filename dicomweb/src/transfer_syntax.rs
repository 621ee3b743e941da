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
        self.capabilities().native
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

/// What this product does with pixel data stored in a transfer syntax: one row of
/// [`SYNTAXES`], which the negotiator (what a frame, an instance or a rendered image is
/// offered in), the documentation (`docs/transfer-syntaxes.md` is generated from it and
/// checked against it) and the viewer's configuration (which syntaxes load progressively)
/// all read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub uid: &'static str,
    pub name: &'static str,
    /// Native (uncompressed) pixel data: served as Explicit VR Little Endian, never decoded.
    pub native: bool,
    /// Compressed frames are decoded here: offered as Explicit VR Little Endian (frames,
    /// bulk data, whole instances) and rendered (JPEG, PNG, thumbnails), for the pixel
    /// modules the decoder takes.
    pub decoded: bool,
    /// A prefix of a frame decodes to a lower resolution (HTJ2K with the RPCL progression),
    /// so a viewer can draw it before the rest arrives: Cornerstone3D decodes these while
    /// a frame streams in, and waits for the whole frame for every other syntax.
    pub progressive: bool,
    /// The syntax is, or may be, lossy (PS3.5 §8.2): decoded pixels differ from the
    /// original within the codec's error, and files decoded from it say so (Lossy Image
    /// Compression "01").
    pub lossy: bool,
}

const fn row(
    uid: &'static str,
    name: &'static str,
    (native, decoded, progressive, lossy): (bool, bool, bool, bool),
) -> Capabilities {
    Capabilities {
        uid,
        name,
        native,
        decoded,
        progressive,
        lossy,
    }
}

/// (native, decoded, progressive, lossy) of the rows below.
const NATIVE: (bool, bool, bool, bool) = (true, false, false, false);
const LOSSLESS: (bool, bool, bool, bool) = (false, true, false, false);
const LOSSY: (bool, bool, bool, bool) = (false, true, false, true);
const STORED_LOSSLESS: (bool, bool, bool, bool) = (false, false, false, false);
const STORED_LOSSY: (bool, bool, bool, bool) = (false, false, false, true);

/// Every transfer syntax of PS3.6 Annex A that can hold pixel data, and what this product
/// does with it. A syntax not listed is served as stored only.
pub const SYNTAXES: &[Capabilities] = &[
    row("1.2.840.10008.1.2", "Implicit VR Little Endian", NATIVE),
    row("1.2.840.10008.1.2.1", "Explicit VR Little Endian", NATIVE),
    row(
        "1.2.840.10008.1.2.1.99",
        "Deflated Explicit VR Little Endian",
        NATIVE,
    ),
    row(
        "1.2.840.10008.1.2.2",
        "Explicit VR Big Endian (retired)",
        NATIVE,
    ),
    row("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", LOSSY),
    row(
        "1.2.840.10008.1.2.4.51",
        "JPEG Extended (Process 2 & 4), 8 and 12 bits",
        LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.57",
        "JPEG Lossless (Process 14)",
        LOSSLESS,
    ),
    row(
        "1.2.840.10008.1.2.4.70",
        "JPEG Lossless, First-Order Prediction (Process 14, SV1)",
        LOSSLESS,
    ),
    row("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", LOSSLESS),
    row(
        "1.2.840.10008.1.2.4.81",
        "JPEG-LS Lossy (Near-Lossless)",
        LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.90",
        "JPEG 2000 (Lossless Only)",
        LOSSLESS,
    ),
    row("1.2.840.10008.1.2.4.91", "JPEG 2000", LOSSY),
    row(
        "1.2.840.10008.1.2.4.92",
        "JPEG 2000 Part 2 Multi-component (Lossless Only)",
        STORED_LOSSLESS,
    ),
    row(
        "1.2.840.10008.1.2.4.93",
        "JPEG 2000 Part 2 Multi-component",
        STORED_LOSSY,
    ),
    row("1.2.840.10008.1.2.4.201", "HTJ2K (Lossless Only)", LOSSLESS),
    row(
        "1.2.840.10008.1.2.4.202",
        "HTJ2K with RPCL Options (Lossless Only)",
        (false, true, true, false),
    ),
    row(
        "1.2.840.10008.1.2.4.203",
        "HTJ2K",
        (false, true, true, true),
    ),
    row("1.2.840.10008.1.2.5", "RLE Lossless", LOSSLESS),
    row(
        "1.2.840.10008.1.2.4.100",
        "MPEG2 Main Profile / Main Level",
        STORED_LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.101",
        "MPEG2 Main Profile / High Level",
        STORED_LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.102",
        "MPEG-4 AVC/H.264 High Profile / Level 4.1",
        STORED_LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.103",
        "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
        STORED_LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.104",
        "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
        STORED_LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.105",
        "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
        STORED_LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.106",
        "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
        STORED_LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.107",
        "HEVC/H.265 Main Profile / Level 5.1",
        STORED_LOSSY,
    ),
    row(
        "1.2.840.10008.1.2.4.108",
        "HEVC/H.265 Main 10 Profile / Level 5.1",
        STORED_LOSSY,
    ),
];

impl TransferSyntax {
    /// This syntax's row of [`SYNTAXES`]; an unlisted syntax is served as stored only.
    pub fn capabilities(&self) -> Capabilities {
        SYNTAXES
            .iter()
            .find(|c| c.uid == self.as_str())
            .copied()
            .unwrap_or(Capabilities {
                uid: "",
                name: "",
                native: false,
                decoded: false,
                progressive: false,
                lossy: true,
            })
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

    /// [`SYNTAXES`] as the Markdown table of `docs/transfer-syntaxes.md`.
    fn markdown_table() -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut t = String::from(
            "| transfer syntax | UID | as stored | decoded and rendered | progressive in the viewer | lossy (is or may be) |\n\
             |---|---|---|---|---|---|\n",
        );
        for c in SYNTAXES {
            let (stored, decoded) = if c.native {
                ("as Explicit VR LE", "native: rendered")
            } else {
                ("yes", yes(c.decoded))
            };
            t.push_str(&format!(
                "| {} | `{}` | {stored} | {decoded} | {} | {} |\n",
                c.name,
                c.uid,
                yes(c.progressive),
                yes(c.lossy)
            ));
        }
        t
    }

    /// The documentation's table is this one (`UPDATE_DOCS=1 cargo test -p dicomweb` writes
    /// it).
    #[test]
    fn the_documentation_shows_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/transfer-syntaxes.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let start = "<!-- SYNTAXES: generated from dicomweb::transfer_syntax::SYNTAXES -->\n";
        let end = "<!-- end of SYNTAXES -->";
        let (head, rest) = doc.split_once(start).expect("the table's start marker");
        let (table, tail) = rest.split_once(end).expect("the table's end marker");
        let want = markdown_table();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, format!("{head}{start}{want}{end}{tail}")).unwrap();
            return;
        }
        assert_eq!(
            table, want,
            "docs/transfer-syntaxes.md's table is not SYNTAXES (UPDATE_DOCS=1 cargo test -p dicomweb writes it)"
        );
    }

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
