//! Media types and transfer syntaxes of frame (pixel data) resources, PS3.18 Table 8.7.3-5,
//! and AHI's own names for some of them.

pub use healthimaging::media::is_native;

pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The DICOMweb media type for frames in `transfer_syntax` (native data: served as Explicit
/// VR Little Endian, `application/octet-stream`).
pub fn frame_media_type(transfer_syntax: &str) -> &'static str {
    match transfer_syntax {
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

/// The transfer syntax a media type means when the client names none (PS3.18 §8.7.3.5.2);
/// `None` where the standard gives no default (image/jphc: the stored syntax is served).
pub fn default_transfer_syntax(media_type: &str) -> Option<&'static str> {
    Some(match media_type.to_ascii_lowercase().as_str() {
        "application/octet-stream" => EXPLICIT_VR_LE,
        "image/jpeg" => "1.2.840.10008.1.2.4.70",
        "image/jls" => "1.2.840.10008.1.2.4.80",
        "image/jp2" => "1.2.840.10008.1.2.4.90",
        "image/jpx" => "1.2.840.10008.1.2.4.92",
        "image/dicom-rle" => "1.2.840.10008.1.2.5",
        "video/mpeg2" => "1.2.840.10008.1.2.4.100",
        "video/mp4" => "1.2.840.10008.1.2.4.102",
        "video/h265" => "1.2.840.10008.1.2.4.107",
        _ => return None,
    })
}

/// The syntax frames are served in: native data as Explicit VR LE, the rest as stored.
pub fn served_transfer_syntax(stored: &str) -> &str {
    if is_native(stored) {
        EXPLICIT_VR_LE
    } else {
        stored
    }
}

/// The DICOMweb media type for AHI's `GetImageFrame` content type (`image/jph` and
/// `image/j2c` are AHI's names).
pub fn from_ahi_content_type(content_type: &str) -> &str {
    match content_type {
        "image/jph" | "image/jphc" => "image/jphc",
        "image/j2c" => "image/jp2",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_defaults_agree() {
        for ts in [
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.5",
        ] {
            assert_eq!(default_transfer_syntax(frame_media_type(ts)), Some(ts));
        }
        assert_eq!(frame_media_type("1.2.840.10008.1.2.4.202"), "image/jphc");
        assert_eq!(default_transfer_syntax("image/jphc"), None);
        assert_eq!(
            default_transfer_syntax("Application/Octet-Stream"),
            Some(EXPLICIT_VR_LE)
        );
        assert_eq!(served_transfer_syntax("1.2.840.10008.1.2"), EXPLICIT_VR_LE);
        assert_eq!(from_ahi_content_type("image/jph"), "image/jphc");
        assert_eq!(from_ahi_content_type("image/j2c"), "image/jp2");
    }
}
