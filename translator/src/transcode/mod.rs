//! The transform step: frames decoded from their stored syntax to native pixel data, the
//! payload of Explicit VR Little Endian (PS3.5 §8.1.1, §A.2).
//!
//! Decoding is mostly dicom-rs's: the transfer syntax registry's pixel data readers (8-bit
//! JPEG baseline and extended, and JPEG lossless, through `jpeg-decoder`; JPEG 2000 and HTJ2K
//! through OpenJPEG; JPEG-LS through CharLS). A frame from `GetImageFrame` is one
//! codestream, so it is presented to the reader as a one-frame, one-fragment object
//! described by the instance's [`PixelModule`]. Two syntaxes the registry reads only in part
//! are decoded here: JPEG with 12-bit samples ([`jpeg12`], libjpeg-turbo) and RLE Lossless
//! of every width ([`rle`]). Which syntaxes decode at all is the table
//! [`dicomweb::transfer_syntax::SYNTAXES`]; a test below holds it to the decoders.
//!
//! What the decoded bytes are (PS3.5 §8.2, PS3.3 C.7.6.3.1.2), which the Part 10 writer and
//! the documentation state:
//! - samples interleaved (Planar Configuration 0), little endian, Bits Allocated wide;
//! - signed data (Pixel Representation 1) sign-extended from Bits Stored, as the DICOM
//!   header says, also where a codestream declares its samples unsigned;
//! - colour JPEG and JPEG 2000 / HTJ2K with a colour transform (YBR_FULL_422, YBR_ICT,
//!   YBR_RCT) come out as RGB; RLE keeps its photometric interpretation (YBR_FULL stays
//!   YBR_FULL, which native data may carry);
//! - a JPEG labelled RGB whose codestream has neither a JFIF nor an Adobe marker was
//!   compressed without a colour transform (PS3.5 §8.2.1: the Photometric Interpretation
//!   describes the compressed components), so it is decoded without one, as pydicom does;
//!   the registry's reader would assume YCbCr, as a JPEG decoder must without the header.
//!
//! Everything here is a pure function of the stored syntax, the pixel module and the bytes,
//! so it runs on a blocking thread in the shells and in microbenchmarks alike.

use std::borrow::Cow;

use dicom_encoding::adapters::{PixelDataObject, RawPixelData};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicomweb::TransferSyntax;

use crate::plan::PixelModule;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The stored syntax has no decoder here.
    #[error("no decoder for transfer syntax {0}")]
    Unsupported(String),
    /// The decoded frame would be larger than the configured bound.
    #[error("a decoded frame of {size} bytes exceeds the bound of {bound} bytes")]
    TooLarge { size: u64, bound: u64 },
    /// The decoder refused the codestream (corrupt, or a feature it lacks).
    #[error("{syntax} frame did not decode: {reason}")]
    Failed { syntax: String, reason: String },
}

mod header;
mod jpeg12;
mod rle;

/// The decoder of one stored syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    /// The transfer syntax registry's reader (`jpeg-decoder`, OpenJPEG, CharLS).
    Registry,
    /// [`rle`], for every Bits Allocated.
    Rle,
    /// [`jpeg12`], for JPEG with more than 8 bits per sample.
    Jpeg12,
}

/// The decoder for frames of `pixel` stored in `ts`, if one takes them: the registry's JPEG
/// readers take 8 bits per DCT sample and up to 16 lossless, JPEG 2000 and JPEG-LS 8 or 16
/// bits allocated; 12-bit JPEG goes to libjpeg-turbo, RLE of any width to [`rle`]. Checked
/// when planning, so what has no decoder is not offered (406 naming what is) rather than
/// tried; a frame that fails its decoder is refused after its fetch.
fn decoder(ts: &TransferSyntax, pixel: &PixelModule) -> Option<Decoder> {
    if !ts.capabilities().decoded {
        return None;
    }
    let dct = matches!(
        ts.as_str(),
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51"
    );
    match (ts.as_str(), pixel.bits_allocated) {
        ("1.2.840.10008.1.2.5", 8 | 16 | 32 | 64) => Some(Decoder::Rle),
        (_, 16) if dct && (9..=12).contains(&pixel.bits_stored) => Some(Decoder::Jpeg12),
        (_, 8 | 16) if !dct || pixel.bits_stored <= 8 => {
            registry_reads(ts).then_some(Decoder::Registry)
        }
        _ => None,
    }
}

fn registry_reads(ts: &TransferSyntax) -> bool {
    TransferSyntaxRegistry
        .get(ts.as_str())
        .is_some_and(|t| t.pixel_data_reader().is_some())
}

/// Whether frames of `pixel` stored in `ts` decode here (see [`decoder`]).
pub fn can_decode_module(ts: &TransferSyntax, pixel: &PixelModule) -> bool {
    decoder(ts, pixel).is_some()
}

impl PixelModule {
    /// The size in bytes of one native frame (PS3.5 §8.1.1; Bits Allocated 1 packs bits).
    pub fn native_frame_len(&self) -> u64 {
        let samples = u64::from(self.rows) * u64::from(self.columns);
        let samples = samples * u64::from(self.samples_per_pixel.max(1));
        if self.bits_allocated == 1 {
            samples.div_ceil(8)
        } else {
            samples * u64::from(self.bits_allocated.div_ceil(8))
        }
    }

    /// The photometric interpretation of frames decoded from `stored` (see the module
    /// documentation): colour data that the codec's colour transform turns back to RGB is
    /// RGB, everything else keeps its interpretation.
    pub fn decoded_photometric_interpretation(&self, stored: &TransferSyntax) -> &str {
        let pi = &*self.photometric_interpretation;
        let transformed = matches!(pi, "YBR_FULL_422" | "YBR_FULL" | "YBR_ICT" | "YBR_RCT");
        let codec_converts = matches!(
            stored.as_str(),
            "1.2.840.10008.1.2.4.50"
                | "1.2.840.10008.1.2.4.51"
                | "1.2.840.10008.1.2.4.90"
                | "1.2.840.10008.1.2.4.91"
                | "1.2.840.10008.1.2.4.201"
                | "1.2.840.10008.1.2.4.202"
                | "1.2.840.10008.1.2.4.203"
        );
        if self.samples_per_pixel == 3 && transformed && codec_converts {
            "RGB"
        } else {
            pi
        }
    }
}

/// Decodes one frame stored in `stored` to native pixel data (interleaved samples, little
/// endian), refusing frames whose decoded size exceeds `bound` bytes before decoding.
pub fn decode_frame(
    stored: &TransferSyntax,
    pixel: &PixelModule,
    codestream: &[u8],
    bound: u64,
) -> Result<Vec<u8>, DecodeError> {
    let size = pixel.native_frame_len();
    if size > bound {
        return Err(DecodeError::TooLarge { size, bound });
    }
    let failed = |reason: String| DecodeError::Failed {
        syntax: stored.to_string(),
        reason,
    };
    let decoder =
        decoder(stored, pixel).ok_or_else(|| DecodeError::Unsupported(stored.to_string()))?;
    // Decoders allocate what the codestream declares: a frame that declares another image
    // than its instance is refused before any of them sees it.
    if let Some((columns, rows, components)) = header::declared_size(stored.as_str(), codestream)
        && (columns, rows, components)
            != (
                u32::from(pixel.columns),
                u32::from(pixel.rows),
                u32::from(pixel.samples_per_pixel.max(1)),
            )
    {
        return Err(failed(format!(
            "the stored frame does not match its instance: its codestream declares \
             {columns}x{rows} with {components} components, the instance {}x{} with {}",
            pixel.columns, pixel.rows, pixel.samples_per_pixel
        )));
    }
    let mut out = Vec::new();
    match decoder {
        Decoder::Rle => {
            let bytes = usize::from(pixel.bits_allocated / 8);
            out = rle::decode(
                codestream,
                usize::from(pixel.rows),
                usize::from(pixel.columns),
                usize::from(pixel.samples_per_pixel.max(1)),
                bytes,
            )
            .map_err(failed)?;
        }
        Decoder::Jpeg12 => {
            out = jpeg12::decode(
                codestream,
                pixel.rows,
                pixel.columns,
                pixel.samples_per_pixel,
            )
            .map_err(failed)?;
        }
        Decoder::Registry if untransformed_rgb_jpeg(stored, pixel, codestream) => {
            out = rgb_jpeg_without_transform(codestream, pixel).map_err(failed)?;
        }
        Decoder::Registry => {
            let reader = TransferSyntaxRegistry
                .get(stored.as_str())
                .and_then(|t| t.pixel_data_reader())
                .ok_or_else(|| DecodeError::Unsupported(stored.to_string()))?;
            let frame = OneFrame {
                syntax: stored.as_str(),
                pixel,
                codestream,
            };
            reader
                .decode_frame(&frame, 0, &mut out)
                .map_err(|e| failed(e.to_string()))?;
        }
    }
    // Readers size the output from the pixel module; a codestream whose own header disagrees
    // must not produce a frame of another size under this instance's description.
    if out.len() as u64 != size {
        return Err(failed(format!(
            "decoded {} bytes where the pixel module describes {size}",
            out.len()
        )));
    }
    sign_extend(pixel, &mut out);
    Ok(out)
}

/// Whether a colour JPEG (DCT) frame is labelled RGB and its codestream says nothing of a
/// colour transform: no JFIF APP0 and no Adobe APP14 before the first scan.
fn untransformed_rgb_jpeg(stored: &TransferSyntax, pixel: &PixelModule, data: &[u8]) -> bool {
    let dct = matches!(
        stored.as_str(),
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51"
    );
    if !dct || pixel.samples_per_pixel != 3 || &*pixel.photometric_interpretation != "RGB" {
        return false;
    }
    if !data.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    !header::jpeg_segments(data).any(|s| {
        (s.marker == 0xE0 && s.body.starts_with(b"JFIF\0"))
            || (s.marker == 0xEE && s.body.starts_with(b"Adobe"))
    })
}

/// Decodes an RGB JPEG without a colour transform. jpeg-decoder 0.3 writes such lines
/// plane by plane (`color_no_convert` copies each component's line in turn), so each line
/// is interleaved here.
fn rgb_jpeg_without_transform(codestream: &[u8], pixel: &PixelModule) -> Result<Vec<u8>, String> {
    let mut decoder = jpeg_decoder::Decoder::new(codestream);
    decoder.set_color_transform(jpeg_decoder::ColorTransform::None);
    let planar_lines = decoder.decode().map_err(|e| e.to_string())?;
    let width = usize::from(pixel.columns);
    let line = width * 3;
    if line == 0 || planar_lines.len() % line != 0 {
        return Err(format!(
            "decoded {} bytes, not lines of {line}",
            planar_lines.len()
        ));
    }
    let mut out = vec![0u8; planar_lines.len()];
    for (src, dst) in planar_lines
        .chunks_exact(line)
        .zip(out.chunks_exact_mut(line))
    {
        for x in 0..width {
            for c in 0..3 {
                dst[x * 3 + c] = src[c * width + x];
            }
        }
    }
    Ok(out)
}

/// Sign-extends every sample from Bits Stored to Bits Allocated when the pixel module says
/// the data is signed (PS3.3 C.7.6.3.1: the value is two's complement in Bits Stored bits).
/// Codecs differ here (a JPEG sample is unsigned; a JPEG 2000 codestream may or may not say
/// signed), so the header decides, as in pydicom. Idempotent on data already extended.
fn sign_extend(pixel: &PixelModule, data: &mut [u8]) {
    let (stored, allocated) = (
        u32::from(pixel.bits_stored),
        u32::from(pixel.bits_allocated),
    );
    if pixel.pixel_representation != 1 || stored == 0 || stored >= allocated {
        return;
    }
    let shift = allocated - stored;
    match allocated {
        8 => data
            .iter_mut()
            .for_each(|b| *b = (((*b << shift) as i8) >> shift) as u8),
        16 => data.chunks_exact_mut(2).for_each(|c| {
            let v = (i16::from_le_bytes([c[0], c[1]]) << shift) >> shift;
            c.copy_from_slice(&v.to_le_bytes());
        }),
        _ => {}
    }
}

/// One stored frame seen as the one-frame object a pixel data reader decodes.
struct OneFrame<'a> {
    syntax: &'a str,
    pixel: &'a PixelModule,
    codestream: &'a [u8],
}

impl PixelDataObject for OneFrame<'_> {
    fn transfer_syntax_uid(&self) -> &str {
        self.syntax
    }
    fn rows(&self) -> Option<u16> {
        Some(self.pixel.rows)
    }
    fn cols(&self) -> Option<u16> {
        Some(self.pixel.columns)
    }
    fn samples_per_pixel(&self) -> Option<u16> {
        Some(self.pixel.samples_per_pixel)
    }
    fn bits_allocated(&self) -> Option<u16> {
        Some(self.pixel.bits_allocated)
    }
    fn bits_stored(&self) -> Option<u16> {
        Some(self.pixel.bits_stored)
    }
    fn photometric_interpretation(&self) -> Option<&str> {
        Some(&self.pixel.photometric_interpretation)
    }
    fn number_of_frames(&self) -> Option<u32> {
        Some(1)
    }
    fn number_of_fragments(&self) -> Option<u32> {
        Some(1)
    }
    fn fragment(&self, fragment: usize) -> Option<Cow<'_, [u8]>> {
        (fragment == 0).then_some(Cow::Borrowed(self.codestream))
    }
    fn offset_table(&self) -> Option<Cow<'_, [u32]>> {
        None
    }
    fn raw_pixel_data(&self) -> Option<RawPixelData> {
        Some(RawPixelData {
            fragments: [self.codestream.to_vec()].into_iter().collect(),
            offset_table: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mono16(rows: u16, columns: u16) -> PixelModule {
        PixelModule {
            rows,
            columns,
            samples_per_pixel: 1,
            bits_allocated: 16,
            bits_stored: 16,
            pixel_representation: 0,
            photometric_interpretation: "MONOCHROME2".into(),
            planar_configuration: 0,
        }
    }

    #[test]
    fn every_syntax_the_table_calls_decoded_has_a_decoder() {
        for row in dicomweb::transfer_syntax::SYNTAXES {
            let ts: TransferSyntax = row.uid.parse().unwrap();
            let eight = PixelModule {
                bits_allocated: 8,
                bits_stored: 8,
                ..mono16(2, 2)
            };
            let decodes = [eight, mono16(2, 2)]
                .iter()
                .any(|px| can_decode_module(&ts, px));
            assert_eq!(decodes, row.decoded, "{}", row.name);
            assert!(!(row.native && row.decoded), "{}", row.name);
        }
    }

    #[test]
    fn modules_the_decoders_do_not_take_are_not_offered() {
        let ts = TransferSyntax::RLE_LOSSLESS;
        assert!(can_decode_module(&ts, &mono16(2, 2)));
        let dose = PixelModule {
            bits_allocated: 32,
            bits_stored: 32,
            ..mono16(2, 2)
        };
        assert!(can_decode_module(&ts, &dose));
        let jpeg2000: TransferSyntax = "1.2.840.10008.1.2.4.90".parse().unwrap();
        assert!(!can_decode_module(&jpeg2000, &dose));
        let extended: TransferSyntax = "1.2.840.10008.1.2.4.51".parse().unwrap();
        let twelve = PixelModule {
            bits_stored: 12,
            ..mono16(2, 2)
        };
        assert!(can_decode_module(&extended, &twelve));
        let sixteen = PixelModule {
            bits_stored: 16,
            ..mono16(2, 2)
        };
        assert!(!can_decode_module(&extended, &sixteen));
        assert!(can_decode_module(
            &TransferSyntax::JPEG_LOSSLESS_SV1,
            &sixteen
        ));
        // Video has no frame decoder.
        let mpeg = "1.2.840.10008.1.2.4.100".parse().unwrap();
        assert!(!can_decode_module(&mpeg, &mono16(2, 2)));
        assert!(!can_decode_module(
            &TransferSyntax::EXPLICIT_VR_LE,
            &mono16(2, 2)
        ));
    }

    #[test]
    fn refusals_are_precise() {
        let px = mono16(4096, 4096);
        let htj2k = TransferSyntax::HTJ2K_RPCL_LOSSLESS;
        assert_eq!(
            decode_frame(&htj2k, &px, b"x", 1 << 20),
            Err(DecodeError::TooLarge {
                size: 4096 * 4096 * 2,
                bound: 1 << 20
            })
        );
        let e = decode_frame(&htj2k, &mono16(2, 2), b"not a codestream", 1 << 20).unwrap_err();
        assert!(matches!(e, DecodeError::Failed { .. }), "{e}");
        let mpeg = "1.2.840.10008.1.2.4.100".parse().unwrap();
        assert!(matches!(
            decode_frame(&mpeg, &mono16(2, 2), b"", 1 << 20),
            Err(DecodeError::Unsupported(_))
        ));
    }

    /// A frame whose own header declares a larger image than its instance (a 12 KB JPEG
    /// claiming 65500×65500 took 17–28 s and 4.5 GB before it panicked in the decoder; an
    /// HTJ2K one claiming 30000×30000 cost 400 MB) is refused before any decoder sees it.
    #[test]
    fn a_frame_whose_header_lies_about_its_size_is_refused_before_decoding() {
        let mut px = mono16(256, 256);
        px.bits_allocated = 8;
        px.bits_stored = 8;
        // A real baseline JPEG of the instance's size, then its SOF patched to 65500×65500.
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&[128u8; 256 * 256], 256, 256, jpeg_encoder::ColorType::Luma)
            .unwrap();
        assert!(decode_frame(&TransferSyntax::JPEG_BASELINE, &px, &jpeg, 1 << 30).is_ok());
        let sof = header::jpeg_segments(&jpeg)
            .find(|s| header::is_frame_header(s.marker))
            .unwrap()
            .at;
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xDC, 0xFF, 0xDC]);
        let started = std::time::Instant::now();
        let e = decode_frame(&TransferSyntax::JPEG_BASELINE, &px, &jpeg, 1 << 30).unwrap_err();
        assert!(
            e.to_string()
                .contains("declares 65500x65500 with 1 components"),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // The same for a JPEG 2000 / HTJ2K SIZ declaring 30000×30000.
        let mut j2k = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [30000u32, 30000, 0, 0, 30000, 30000, 0, 0] {
            j2k.extend_from_slice(&v.to_be_bytes());
        }
        j2k.extend_from_slice(&[0, 1, 15, 1, 1, 0xFF, 0xD9]);
        let e = decode_frame(
            &TransferSyntax::HTJ2K_RPCL_LOSSLESS,
            &mono16(256, 256),
            &j2k,
            1 << 30,
        )
        .unwrap_err();
        assert!(e.to_string().contains("declares 30000x30000"), "{e}");
    }

    #[test]
    fn rle_decodes_to_native_bytes() {
        // PS3.5 Annex G: a header with one segment, then a literal run of 4 bytes
        // (control byte 3 = copy the next 4 bytes).
        let mut rle = vec![0u8; 64];
        rle[0] = 1;
        rle[4] = 64;
        rle.extend_from_slice(&[3, 10, 20, 30, 40]);
        let px = PixelModule {
            bits_allocated: 8,
            bits_stored: 8,
            ..mono16(2, 2)
        };
        let out = decode_frame(&TransferSyntax::RLE_LOSSLESS, &px, &rle, 1 << 20).unwrap();
        assert_eq!(out, [10, 20, 30, 40]);
    }

    #[test]
    fn signed_samples_are_extended_from_bits_stored() {
        let px = PixelModule {
            bits_stored: 12,
            pixel_representation: 1,
            ..mono16(1, 3)
        };
        // 0x0FFF is -1 in 12 bits; 0x0800 is -2048; 0x07FF stays 2047.
        let mut data = [0xFF, 0x0F, 0x00, 0x08, 0xFF, 0x07];
        sign_extend(&px, &mut data);
        assert_eq!(data, [0xFF, 0xFF, 0x00, 0xF8, 0xFF, 0x07]);
        let again = data;
        sign_extend(&px, &mut data);
        assert_eq!(data, again);
        let unsigned = PixelModule {
            pixel_representation: 0,
            ..px
        };
        let mut data = [0xFF, 0x0F];
        sign_extend(&unsigned, &mut data);
        assert_eq!(data, [0xFF, 0x0F]);
    }

    #[test]
    fn rgb_jpeg_without_markers_is_not_colour_transformed() {
        let rgb = PixelModule {
            samples_per_pixel: 3,
            bits_allocated: 8,
            bits_stored: 8,
            photometric_interpretation: "RGB".into(),
            ..mono16(2, 2)
        };
        let ts = TransferSyntax::JPEG_BASELINE;
        // SOI, DQT (length 4), SOS.
        let bare = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xDA];
        assert!(untransformed_rgb_jpeg(&ts, &rgb, &bare));
        let mut jfif = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x07];
        jfif.extend_from_slice(b"JFIF\0");
        jfif.extend_from_slice(&[0xFF, 0xDA]);
        assert!(!untransformed_rgb_jpeg(&ts, &rgb, &jfif));
        let mut adobe = vec![0xFF, 0xD8, 0xFF, 0xEE, 0x00, 0x07];
        adobe.extend_from_slice(b"Adobe");
        adobe.extend_from_slice(&[0xFF, 0xDA]);
        assert!(!untransformed_rgb_jpeg(&ts, &rgb, &adobe));
        let ybr = PixelModule {
            photometric_interpretation: "YBR_FULL_422".into(),
            ..rgb.clone()
        };
        assert!(!untransformed_rgb_jpeg(&ts, &ybr, &bare));
        assert!(!untransformed_rgb_jpeg(
            &TransferSyntax::JPEG_LOSSLESS_SV1,
            &rgb,
            &bare
        ));
    }

    #[test]
    fn decoded_colour_is_rgb_where_the_codec_converts_it() {
        let ybr = PixelModule {
            samples_per_pixel: 3,
            photometric_interpretation: "YBR_FULL_422".into(),
            ..mono16(2, 2)
        };
        assert_eq!(
            ybr.decoded_photometric_interpretation(&TransferSyntax::JPEG_BASELINE),
            "RGB"
        );
        let ybr_rle = PixelModule {
            photometric_interpretation: "YBR_FULL".into(),
            ..ybr
        };
        assert_eq!(
            ybr_rle.decoded_photometric_interpretation(&TransferSyntax::RLE_LOSSLESS),
            "YBR_FULL"
        );
        assert_eq!(
            mono16(1, 1).decoded_photometric_interpretation(&TransferSyntax::JPEG_BASELINE),
            "MONOCHROME2"
        );
    }
}
