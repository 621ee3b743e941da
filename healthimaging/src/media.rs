//! The `Content-Type` AHI answers `GetImageFrame` with, by the instance's stored transfer
//! syntax (AHI returns frames as stored and never transcodes on this call).

/// Transfer syntaxes whose pixel data is native (uncompressed); their frames are served as
/// Explicit VR Little Endian.
pub fn is_native(transfer_syntax: &str) -> bool {
    matches!(
        transfer_syntax,
        "1.2.840.10008.1.2"
            | "1.2.840.10008.1.2.1"
            | "1.2.840.10008.1.2.2"
            | "1.2.840.10008.1.2.1.99"
    )
}

/// AHI's content type for frames stored in `transfer_syntax`.
pub fn frame_content_type(transfer_syntax: &str) -> &'static str {
    match transfer_syntax {
        "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" | "1.2.840.10008.1.2.2" => {
            "application/octet-stream"
        }
        "1.2.840.10008.1.2.4.50"
        | "1.2.840.10008.1.2.4.51"
        | "1.2.840.10008.1.2.4.57"
        | "1.2.840.10008.1.2.4.70" => "image/jpeg",
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "image/jls",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "image/j2c",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" => "image/jph",
        "1.2.840.10008.1.2.4.203" => "image/jphc",
        "1.2.840.10008.1.2.5" => "image/x-dicom-rle",
        "1.2.840.10008.1.2.4.100" | "1.2.840.10008.1.2.4.101" => "video/mpeg",
        "1.2.840.10008.1.2.4.102"
        | "1.2.840.10008.1.2.4.103"
        | "1.2.840.10008.1.2.4.104"
        | "1.2.840.10008.1.2.4.105"
        | "1.2.840.10008.1.2.4.106" => "video/mp4",
        "1.2.840.10008.1.2.4.107" | "1.2.840.10008.1.2.4.108" => "video/H265",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::frame_content_type as ct;

    #[test]
    fn matches_the_reference_table() {
        assert_eq!(ct("1.2.840.10008.1.2.1"), "application/octet-stream");
        assert_eq!(ct("1.2.840.10008.1.2.4.50"), "image/jpeg");
        assert_eq!(ct("1.2.840.10008.1.2.4.91"), "image/j2c");
        assert_eq!(ct("1.2.840.10008.1.2.4.202"), "image/jph");
        assert_eq!(ct("1.2.840.10008.1.2.4.203"), "image/jphc");
        assert_eq!(ct("1.2.840.10008.1.2.4.102"), "video/mp4");
    }
}
