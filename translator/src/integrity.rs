//! What can be checked of a stored frame before it is served or cached: HealthImaging may
//! answer `GetImageFrame` with 200 and a frame cut short (with a `Content-Length` to match),
//! and frames are cached for a year as immutable, so each one is held to what its instance
//! and its own codestream say a whole frame is:
//! - native pixel data: exactly Rows × Columns × Samples × Bits Allocated / 8 bytes (1-bit
//!   data rounded up to a byte, YBR_FULL_422 two samples a pixel, PS3.3 C.7.6.3.1.2), or one
//!   more when that is odd (the padding of a value, PS3.5 §7.1.1);
//! - JPEG and JPEG-LS: SOI first and EOI last (ITU-T T.81 §B.2.1, T.87);
//! - JPEG 2000 and HTJ2K: SOC first (or a JP2 signature box) and EOC last (ISO/IEC 15444-1
//!   §A.4);
//! - RLE: a header of 1–15 segments whose offsets lie within the frame (PS3.5 §G.5).
//!
//! Encoders pad the last fragment to an even length, with `00` or `FF` after the end marker
//! (pydicom's test files have both), so those bytes are skipped before the end is looked
//! for. Video and other syntaxes are passed as they come.

use bytes::Bytes;
use dicomweb::TransferSyntax;
use edge::EdgeError;
use healthimaging::client::FrameSegments;
use healthimaging::{DatastoreId, ImageFrameId, ImageSetId};

use crate::plan::PixelModule;
use crate::source::Upstream;

/// A frame fetched from `upstream` and held to `whole`; `what` names it in the refusal
/// ("frame 3"), made only then.
pub async fn fetch(
    upstream: &dyn Upstream,
    (datastore, image_set, frame): (&DatastoreId, &ImageSetId, &ImageFrameId),
    whole: &WholeFrame,
    what: impl FnOnce() -> String,
) -> Result<FrameSegments, EdgeError> {
    let f = upstream.frame(datastore, image_set, frame).await?;
    let labelled;
    let whole = match whole {
        WholeFrame::AsLabelled => {
            labelled = WholeFrame::of_media_type(&f.content_type);
            &labelled
        }
        other => other,
    };
    whole
        .check(&f.segments)
        .map_err(|reason| EdgeError::IncompleteFrame(format!("{}: {reason}", what())))?;
    Ok(f)
}

/// What a whole stored frame looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WholeFrame {
    /// Native pixel data of this many bytes.
    Native(u64),
    /// A JPEG or JPEG-LS codestream.
    Jpeg,
    /// A JPEG 2000 or HTJ2K codestream.
    Jpeg2000,
    /// RLE Lossless segments.
    Rle,
    /// Judged by the media type HealthImaging labels it with (the native `getImageFrame`,
    /// where the instance is not known): codestreams by their markers, native data not.
    AsLabelled,
    /// Nothing that can be checked.
    Unchecked,
}

impl WholeFrame {
    /// The frames of an instance stored in `stored` with `pixel`.
    pub fn of_instance(stored: Option<&TransferSyntax>, pixel: Option<&PixelModule>) -> Self {
        match (stored, pixel) {
            (Some(ts), Some(px)) if ts.is_native() => {
                let pixels = u64::from(px.rows) * u64::from(px.columns);
                let samples = if &*px.photometric_interpretation == "YBR_FULL_422" {
                    pixels * 2
                } else {
                    pixels * u64::from(px.samples_per_pixel.max(1))
                };
                WholeFrame::Native(if px.bits_allocated == 1 {
                    samples.div_ceil(8)
                } else {
                    samples * u64::from(px.bits_allocated.div_ceil(8))
                })
            }
            (Some(ts), _) => Self::of_media_type(ts.media_type()),
            (None, _) => WholeFrame::Unchecked,
        }
    }

    /// A frame in `content_type` (a DICOMweb or HealthImaging media type).
    pub fn of_media_type(content_type: &str) -> Self {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jls" => WholeFrame::Jpeg,
            "image/jp2" | "image/j2c" | "image/jpx" | "image/jph" | "image/jphc" => {
                WholeFrame::Jpeg2000
            }
            "image/dicom-rle" => WholeFrame::Rle,
            _ => WholeFrame::Unchecked,
        }
    }

    /// `Ok` when `segments` (one frame, in order) is whole; else why not.
    pub fn check(&self, segments: &[Bytes]) -> Result<(), String> {
        let len: u64 = segments.iter().map(|s| s.len() as u64).sum();
        let first = |n: usize| -> Vec<u8> {
            segments
                .iter()
                .flat_map(|s| s.iter().copied())
                .take(n)
                .collect()
        };
        // The last `n` bytes once the padding after an end marker is skipped.
        let last = |n: usize| -> Vec<u8> {
            let mut tail: Vec<u8> = segments
                .iter()
                .rev()
                .flat_map(|s| s.iter().rev().copied())
                .skip_while(|b| matches!(b, 0x00 | 0xFF))
                .take(n)
                .collect();
            tail.reverse();
            tail
        };
        let shown = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
        match self {
            WholeFrame::Native(expected) => {
                let padded = expected + expected % 2;
                if len == *expected || len == padded {
                    Ok(())
                } else {
                    Err(format!(
                        "{len} bytes of native pixel data, where the instance's frames have {expected}"
                    ))
                }
            }
            WholeFrame::Jpeg => {
                let (head, tail) = (first(2), last(2));
                if head != [0xFF, 0xD8] {
                    Err(format!(
                        "the JPEG codestream starts with {} (not SOI)",
                        shown(&head)
                    ))
                } else if tail != [0xFF, 0xD9] {
                    Err(format!(
                        "the JPEG codestream of {len} bytes has no EOI at its end (ends {})",
                        shown(&tail)
                    ))
                } else {
                    Ok(())
                }
            }
            WholeFrame::Jpeg2000 => {
                let (head, tail) = (first(8), last(2));
                let starts = head.starts_with(&[0xFF, 0x4F])
                    || head == [0x00, 0x00, 0x00, 0x0C, b'j', b'P', b' ', b' '];
                if !starts {
                    Err(format!(
                        "the JPEG 2000 codestream starts with {} (not SOC)",
                        shown(&head[..head.len().min(2)])
                    ))
                } else if tail != [0xFF, 0xD9] {
                    Err(format!(
                        "the JPEG 2000 codestream of {len} bytes has no EOC at its end (ends {})",
                        shown(&tail)
                    ))
                } else {
                    Ok(())
                }
            }
            WholeFrame::Rle => {
                let header = first(64);
                let word = |i: usize| {
                    u64::from(u32::from_le_bytes([
                        header[i * 4],
                        header[i * 4 + 1],
                        header[i * 4 + 2],
                        header[i * 4 + 3],
                    ]))
                };
                if header.len() < 64 {
                    return Err(format!("{len} bytes, shorter than an RLE header"));
                }
                let count = word(0);
                if !(1..=15).contains(&count) {
                    return Err(format!("the RLE header declares {count} segments"));
                }
                let mut previous = 63;
                for i in 1..=count as usize {
                    let offset = word(i);
                    if offset <= previous || offset >= len {
                        return Err(format!(
                            "RLE segment {i} starts at {offset}, outside the {len}-byte frame"
                        ));
                    }
                    previous = offset;
                }
                Ok(())
            }
            WholeFrame::AsLabelled | WholeFrame::Unchecked => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(b: &[u8]) -> Vec<Bytes> {
        vec![Bytes::copy_from_slice(b)]
    }

    #[test]
    fn native_frames_have_the_instances_size() {
        let px = |rows, columns, spp, bits, pi: &str| PixelModule {
            rows,
            columns,
            samples_per_pixel: spp,
            bits_allocated: bits,
            bits_stored: bits,
            pixel_representation: 0,
            photometric_interpretation: pi.into(),
            planar_configuration: 0,
        };
        let ts = TransferSyntax::EXPLICIT_VR_LE;
        let whole = |p: PixelModule| WholeFrame::of_instance(Some(&ts), Some(&p));
        assert_eq!(
            whole(px(4, 4, 1, 16, "MONOCHROME2")),
            WholeFrame::Native(32)
        );
        assert_eq!(whole(px(3, 3, 1, 1, "MONOCHROME2")), WholeFrame::Native(2));
        assert_eq!(whole(px(2, 2, 3, 8, "YBR_FULL_422")), WholeFrame::Native(8));
        assert_eq!(whole(px(3, 3, 3, 8, "RGB")), WholeFrame::Native(27));
        let w = WholeFrame::Native(27);
        assert!(w.check(&one(&[0; 27])).is_ok());
        assert!(w.check(&one(&[0; 28])).is_ok(), "padded to even");
        assert!(
            w.check(&[Bytes::from(vec![0; 20]), Bytes::from(vec![0; 7])])
                .is_ok()
        );
        let e = w.check(&one(&[0; 13])).unwrap_err();
        assert_eq!(
            e,
            "13 bytes of native pixel data, where the instance's frames have 27"
        );
        assert!(w.check(&one(&[])).is_err());
    }

    #[test]
    fn codestreams_need_their_start_and_end_markers() {
        let jpeg = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        assert!(WholeFrame::Jpeg.check(&one(&jpeg)).is_ok());
        // Padding after EOI, across segments.
        assert!(
            WholeFrame::Jpeg
                .check(&[
                    Bytes::from_static(&[0xFF, 0xD8, 1, 0xFF]),
                    Bytes::from_static(&[0xD9, 0xFF])
                ])
                .is_ok()
        );
        assert!(
            WholeFrame::Jpeg
                .check(&one(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9, 0]))
                .is_ok()
        );
        let cut = WholeFrame::Jpeg.check(&one(&jpeg[..4])).unwrap_err();
        assert!(cut.contains("no EOI"), "{cut}");
        assert!(
            WholeFrame::Jpeg
                .check(&one(&[]))
                .unwrap_err()
                .contains("not SOI")
        );
        let j2k = [0xFF, 0x4F, 0xFF, 0x51, 9, 9, 0xFF, 0xD9];
        assert!(WholeFrame::Jpeg2000.check(&one(&j2k)).is_ok());
        assert!(
            WholeFrame::Jpeg2000
                .check(&one(&j2k[..6]))
                .unwrap_err()
                .contains("no EOC")
        );
        let mut jp2 = b"\0\0\0\x0cjP  \r\n\x87\n".to_vec();
        jp2.extend([0xFF, 0xD9, 0]);
        assert!(WholeFrame::Jpeg2000.check(&one(&jp2)).is_ok());
        assert_eq!(
            WholeFrame::of_instance(Some(&TransferSyntax::HTJ2K_RPCL_LOSSLESS), None),
            WholeFrame::Jpeg2000
        );
        assert_eq!(WholeFrame::of_media_type("image/jph"), WholeFrame::Jpeg2000);
        assert_eq!(WholeFrame::of_media_type("image/jpeg"), WholeFrame::Jpeg);
        assert_eq!(
            WholeFrame::of_media_type("application/octet-stream"),
            WholeFrame::Unchecked
        );
    }

    #[test]
    fn rle_headers_point_inside_the_frame() {
        let mut rle = vec![0u8; 64];
        rle[0] = 1;
        rle[4] = 64;
        rle.extend([0, 1]);
        assert!(WholeFrame::Rle.check(&one(&rle)).is_ok());
        assert!(
            WholeFrame::Rle
                .check(&one(&rle[..64]))
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            WholeFrame::Rle
                .check(&one(&rle[..10]))
                .unwrap_err()
                .contains("shorter")
        );
        rle[0] = 16;
        assert!(WholeFrame::Rle.check(&one(&rle)).is_err());
    }
}
