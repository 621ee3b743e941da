//! The render step of rendered and thumbnail resources (PS3.18 §8.3.5.1, §10.4.1.1.3): one
//! decoded frame to an 8-bit JPEG or PNG.
//!
//! The grey-scale pipeline is dicom-rs's (`dicom-pixeldata`): the Modality LUT (Rescale
//! Slope and Intercept, PS3.3 C.11.1), then the VOI transform (PS3.3 C.11.2), then
//! MONOCHROME1 inverted; colour images come out as RGB (YBR_FULL and YBR_FULL_422
//! converted). What this module decides, and the documentation states:
//! - the VOI transform is the request's `window` if given, else the instance's first window
//!   (Window Center and Width with its VOI LUT Function), else its first VOI LUT, else the
//!   frame's own value range (min-max);
//! - a frame of an enhanced multi-frame instance takes its own functional group;
//! - `viewport` crops the source region (flipped where its width or height is negative),
//!   then scales it to fit `vw` × `vh` keeping its aspect ratio (reductions by a whole
//!   factor average blocks of source pixels, other sizes are bilinear; a thumbnail is never
//!   enlarged); without a viewport a rendered image has the frame's size and a thumbnail
//!   fits [`THUMBNAIL_SIDE`];
//! - the output's pixels are bounded ([`RenderError::TooLarge`]).
//!
//! Pure: a function of the data set, the frame's bytes and the parameters, run on a blocking
//! thread by the handler and directly by tests and benchmarks.

use std::io::Cursor;

use bytes::Bytes;
use dicom_core::value::Value as DicomValue;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_pixeldata::{PixelDecoder, VoiLutFunction};
use dicomweb::TransferSyntax;
use dicomweb::json::DicomJson;
use dicomweb::rendered::{RenderParams, VoiFunction, Window};
use image::{DynamicImage, ImageEncoder, imageops::FilterType};

use crate::part10::{self, Decoded, Pixels};
use crate::plan::PixelModule;

mod palette;

/// The side of the square a thumbnail fits in without a viewport.
pub const THUMBNAIL_SIDE: u32 = 128;

/// JPEG quality without a `quality` parameter.
pub const DEFAULT_QUALITY: u8 = 90;

/// The media types rendered resources are offered in, the first the default.
pub const MEDIA_TYPES: [&str; 2] = ["image/jpeg", "image/png"];

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
}

impl Format {
    pub fn from_media_type(media_type: &str) -> Self {
        if media_type == "image/png" {
            Format::Png
        } else {
            Format::Jpeg
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Jpeg => MEDIA_TYPES[0],
            Format::Png => MEDIA_TYPES[1],
        }
    }
}

/// One render to do.
#[derive(Debug, Clone)]
pub struct Request {
    pub params: RenderParams,
    pub format: Format,
    pub thumbnail: bool,
    /// The most pixels (width × height) an output may have.
    pub max_pixels: u64,
}

/// Why a frame could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The output would exceed the pixel bound: the client can ask for a smaller viewport.
    #[error(
        "the rendered image would be {width}x{height} pixels, over this server's limit of {limit}; ask for a smaller viewport"
    )]
    TooLarge { width: u32, height: u32, limit: u64 },
    /// The viewport's source region lies outside the image.
    #[error("the viewport's source region starts outside the {columns}x{rows} image")]
    RegionOutside { columns: u32, rows: u32 },
    /// This renderer does not take such pixel data (the reason names what): nothing
    /// acceptable, 406.
    #[error("the frame cannot be rendered here: {0}")]
    Unsupported(String),
    /// The stored frame or its attributes are not what the instance says (the reason names
    /// what): the stored data is at fault, and nothing acceptable can be made of it (406,
    /// logged as a warning).
    #[error("the frame cannot be rendered: {0}")]
    Failed(String),
}

/// Renders one frame: `frame` is its native pixel data, as stored for native syntaxes
/// (`decoded` is `None`), else decoded by [`crate::transcode`] (interleaved, in the
/// photometric interpretation `decoded` names); `number` is its 1-based number in the
/// instance.
pub fn render(
    dataset: DicomJson,
    pixel: &PixelModule,
    decoded: Option<&str>,
    frame: Bytes,
    number: u32,
    request: &Request,
) -> Result<Vec<u8>, RenderError> {
    let failed = |e: &dyn std::fmt::Display| RenderError::Failed(e.to_string());
    // The region and output size are checked before any pixel work.
    let (columns, rows) = (u32::from(pixel.columns), u32::from(pixel.rows));
    let region = source_region(request, columns, rows)?;
    let (out_w, out_h) = output_size(request, region.2.unsigned_abs(), region.3.unsigned_abs());
    let pixels = u64::from(out_w) * u64::from(out_h);
    if pixels > request.max_pixels {
        return Err(RenderError::TooLarge {
            width: out_w,
            height: out_h,
            limit: request.max_pixels,
        });
    }

    let expected = frame_len(pixel);
    if (frame.len() as u64) < expected {
        return Err(RenderError::Failed(format!(
            "the frame holds {} bytes where the instance describes {expected}",
            frame.len()
        )));
    }
    let mut image = match pixel.samples_per_pixel {
        3 => colour_image(pixel, decoded, &frame)?,
        1 => {
            let (pixel, frame) = whole_bytes(pixel, frame);
            let mut obj = part10::object(
                rendering_attributes(dataset),
                Pixels::Native {
                    frames: vec![frame.clone()],
                    words: pixel.bits_allocated > 8,
                    frame_bits: None,
                },
                decoded.map(|photometric| Decoded {
                    photometric_interpretation: photometric.to_owned(),
                    colour: false,
                    lossy_method: None,
                }),
            )
            .map_err(|e| failed(&e))?;
            put_pixel_module(&mut obj, &pixel);
            one_frame(&mut obj, number);
            if &*pixel.photometric_interpretation == "PALETTE COLOR" {
                let palette = palette::Palette::of(&obj).map_err(RenderError::Failed)?;
                palette_image(&pixel, &frame, &palette)?
            } else {
                let modality_lut = modality_lut(&obj);
                let file = part10::with_meta(obj, &TransferSyntax::EXPLICIT_VR_LE)
                    .map_err(|e| failed(&e))?;
                let decoded = file.decode_pixel_data().map_err(|e| failed(&e))?;
                grey_image(
                    &decoded,
                    &pixel,
                    &frame,
                    modality_lut.as_ref(),
                    request.params.window,
                )?
            }
        }
        n => {
            return Err(RenderError::Unsupported(format!(
                "{n} samples per pixel (grey images have 1, colour images 3)"
            )));
        }
    };

    let (x, y, w, h) = region;
    let side = |e: i64| u32::try_from(e.unsigned_abs()).unwrap_or(u32::MAX);
    if (x, y, side(w), side(h)) != (0, 0, columns, rows) {
        image = image.crop_imm(x, y, side(w), side(h));
    }
    if w < 0 {
        image = image.fliph();
    }
    if h < 0 {
        image = image.flipv();
    }
    // Whole-factor reductions (a 256 or 512 frame's 128 thumbnail) average blocks of
    // source pixels; other sizes are resampled bilinearly.
    if (out_w, out_h) != (image.width(), image.height()) {
        image = if image.width() % out_w == 0 && image.height() % out_h == 0 {
            reduced(&image, out_w, out_h)
        } else {
            image.resize_exact(out_w, out_h, FilterType::Triangle)
        };
    }
    encode(&image, request)
}

/// `image` (8-bit grey or RGB) reduced to `w` × `h`: each output pixel the mean of the source
/// pixels its area covers, split at whole pixels (exact for whole factors). Written here because it is a few lines and
/// several times faster than the `image` crate's float filters (`thumbnail`, `resize`),
/// which took more time than the JPEG encoding of a thumbnail.
fn reduced(image: &DynamicImage, w: u32, h: u32) -> DynamicImage {
    let channels = if image.color().has_color() { 3 } else { 1 };
    let (sw, sh) = (image.width() as usize, image.height() as usize);
    let src: &[u8] = image.as_bytes();
    let (w, h) = (w as usize, h as usize);
    // The source columns [x0, x1) of each output column, and rows likewise.
    let spans = |out: usize, size: usize| -> Vec<(usize, usize)> {
        (0..out)
            .map(|i| {
                let a = i * size / out;
                let b = ((i + 1) * size / out).max(a + 1);
                (a, b.min(size))
            })
            .collect()
    };
    let (cols, rows) = (spans(w, sw), spans(h, sh));
    let mut out = Vec::with_capacity(w * h * channels);
    let mut sums = vec![0u32; w * channels];
    for &(y0, y1) in &rows {
        sums.iter_mut().for_each(|s| *s = 0);
        for y in y0..y1 {
            let line = &src[y * sw * channels..(y + 1) * sw * channels];
            for (i, &(x0, x1)) in cols.iter().enumerate() {
                for x in x0..x1 {
                    for c in 0..channels {
                        sums[i * channels + c] += u32::from(line[x * channels + c]);
                    }
                }
            }
        }
        for (i, &(x0, x1)) in cols.iter().enumerate() {
            let n = ((x1 - x0) * (y1 - y0)) as u32;
            for c in 0..channels {
                out.push(((sums[i * channels + c] + n / 2) / n) as u8);
            }
        }
    }
    let (w, h) = (w as u32, h as u32);
    if channels == 3 {
        image::RgbImage::from_raw(w, h, out).map(DynamicImage::ImageRgb8)
    } else {
        image::GrayImage::from_raw(w, h, out).map(DynamicImage::ImageLuma8)
    }
    .unwrap_or_else(|| image.resize_exact(w, h, FilterType::Triangle))
}

/// The attributes rendering reads: the Image Pixel, Modality LUT and VOI LUT modules (group
/// 0028), the functional groups of enhanced instances, and the SOP class and instance the
/// file's meta needs; the rest of the data set is not converted.
fn rendering_attributes(mut dataset: DicomJson) -> DicomJson {
    const KEPT: [&str; 4] = ["00080016", "00080018", "52009229", "52009230"];
    dataset.retain(|tag, _| tag.starts_with("0028") || KEPT.contains(&tag.as_str()));
    dataset
}

/// The source region `(x, y, signed width, signed height)`, clipped to the image.
fn source_region(
    request: &Request,
    columns: u32,
    rows: u32,
) -> Result<(u32, u32, i64, i64), RenderError> {
    let Some(r) = request.params.viewport.and_then(|v| v.region) else {
        return Ok((0, 0, i64::from(columns), i64::from(rows)));
    };
    if r.x >= columns || r.y >= rows {
        return Err(RenderError::RegionOutside { columns, rows });
    }
    let clip = |extent: Option<i64>, from: u32, size: u32| -> i64 {
        let room = i64::from(size - from);
        match extent {
            None => room,
            Some(e) => e.signum() * e.abs().min(room),
        }
    };
    Ok((
        r.x,
        r.y,
        clip(r.width, r.x, columns),
        clip(r.height, r.y, rows),
    ))
}

/// The output size: the region scaled to fit the viewport with its aspect ratio kept (a
/// thumbnail is never enlarged), at least one pixel each way.
fn output_size(request: &Request, w: u64, h: u64) -> (u32, u32) {
    let (vw, vh, enlarge) = match request.params.viewport {
        Some(v) => (u64::from(v.width), u64::from(v.height), !request.thumbnail),
        None if request.thumbnail => (u64::from(THUMBNAIL_SIDE), u64::from(THUMBNAIL_SIDE), false),
        None => return (clamp(w), clamp(h)),
    };
    if !enlarge && w <= vw && h <= vh {
        return (clamp(w), clamp(h));
    }
    // Scale by min(vw / w, vh / h), in integers.
    if w * vh <= h * vw {
        (clamp((w * vh).div_ceil(h.max(1)).min(vw)), clamp(vh))
    } else {
        (clamp(vw), clamp((h * vw).div_ceil(w.max(1)).min(vh)))
    }
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n.max(1)).unwrap_or(u32::MAX)
}

/// Leaves the object describing one frame: Number of Frames 1, the frame's own per-frame
/// functional group, and only the first window and VOI LUT (the ones rendered).
fn one_frame(obj: &mut InMemDicomObject, number: u32) {
    obj.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from("1"),
    ));
    let keep_item = |obj: &mut InMemDicomObject, tag, index: usize| {
        if let Some(item) = obj
            .get(tag)
            .and_then(|e| e.items())
            .and_then(|items| items.get(index).cloned())
        {
            obj.put(DataElement::new(
                tag,
                VR::SQ,
                DicomValue::new_sequence(vec![item], dicom_core::Length::UNDEFINED),
            ));
        }
    };
    keep_item(
        obj,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        number.saturating_sub(1) as usize,
    );
    keep_item(obj, tags::VOILUT_SEQUENCE, 0);
    lut_data_as_words(obj);
    for tag in [
        tags::WINDOW_CENTER,
        tags::WINDOW_WIDTH,
        tags::VOILUT_FUNCTION,
    ] {
        let first = obj
            .get(tag)
            .and_then(|e| e.to_multi_str().ok())
            .and_then(|v| v.first().cloned());
        if let (Some(first), Some(vr)) = (first, obj.get(tag).map(|e| e.vr())) {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(first)));
        }
    }
}

/// A grey frame to 8 bits. dicom-pixeldata reads the Modality LUT's rescale (from the
/// frame's functional group where there is one) and the VOI attributes; the stored values,
/// a Modality LUT Sequence (PS3.3 C.11.1), the VOI transform (C.11.2.1) and the inversion of
/// MONOCHROME1 are applied here. (The crate's own image conversion maps 8 bits stored in 16
/// allocated to black, and its VOI LUT transform panics on a table deeper than Bits Stored.)
fn grey_image(
    decoded: &dicom_pixeldata::DecodedPixelData,
    pixel: &PixelModule,
    frame: &[u8],
    modality_lut: Option<&Lut>,
    window: Option<Window>,
) -> Result<DynamicImage, RenderError> {
    let attribute = |e: dicom_pixeldata::Error| RenderError::Failed(e.to_string());
    let raw = stored_values(pixel, frame)?;
    let (lo, hi) = raw
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if raw.is_empty() {
        return Err(RenderError::Failed("the frame has no pixels".into()));
    }
    let rescale = decoded
        .rescale()
        .map_err(attribute)?
        .first()
        .copied()
        .unwrap_or(dicom_pixeldata::Rescale {
            slope: 1.0,
            intercept: 0.0,
        });
    let modality = |v: i64| match modality_lut {
        Some(lut) => f64::from(lut.get(v)),
        None => v as f64 * rescale.slope + rescale.intercept,
    };
    let own_function = decoded
        .voi_lut_function()
        .map_err(attribute)?
        .and_then(|f| f.first().copied())
        .map(|f| match f {
            VoiLutFunction::LinearExact => VoiFunction::LinearExact,
            VoiLutFunction::Sigmoid => VoiFunction::Sigmoid,
            _ => VoiFunction::Linear,
        })
        .unwrap_or_default();
    let own_window = decoded
        .window()
        .map_err(attribute)?
        .and_then(|w| w.first().copied())
        .filter(|w| w.width > 0.0)
        .map(|w| Window {
            center: w.center,
            width: w.width,
            function: None,
        });
    let table = decoded
        .voi_lut_sequence()
        .map_err(attribute)?
        .and_then(|t| t.first())
        .filter(|t| !t.data.is_empty());
    // The output of a stored value, 0..=1.
    let unit: Box<dyn Fn(f64) -> f64> = match (window.or(own_window), table) {
        (Some(w), _) => {
            let function = w.function.unwrap_or(own_function);
            Box::new(move |x| windowed(x, &w, function))
        }
        (None, Some(t)) => {
            let top = f64::from((1u32 << u32::from(t.bits_stored.clamp(1, 16))) - 1);
            let last = t.data.len() - 1;
            let (first, data) = (f64::from(t.min_pixel_value), t.data.clone());
            Box::new(move |x| {
                let i = (x.round() - first).clamp(0.0, last as f64);
                (f64::from(data[i as usize]) / top).min(1.0)
            })
        }
        (None, None) => {
            let (a, b) = (modality(lo), modality(hi));
            let (min, span) = (a.min(b), (a - b).abs());
            Box::new(move |x| if span > 0.0 { (x - min) / span } else { 0.0 })
        }
    };
    let invert = &*pixel.photometric_interpretation == "MONOCHROME1";
    let grey_of = |v: i64| {
        let y = (unit(modality(v)).clamp(0.0, 1.0) * 255.0).round() as u8;
        if invert { 255 - y } else { y }
    };
    // Over a narrow range of values (every 8- and 16-bit frame), a table of each value's
    // output, so the per-pixel work is one lookup; a wide one (32 bits) pixel by pixel.
    let grey: Vec<u8> = if hi - lo < 1 << 16 {
        let table: Vec<u8> = (lo..=hi).map(grey_of).collect();
        raw.iter().map(|&v| table[(v - lo) as usize]).collect()
    } else {
        raw.iter().map(|&v| grey_of(v)).collect()
    };
    image::GrayImage::from_raw(u32::from(pixel.columns), u32::from(pixel.rows), grey)
        .map(DynamicImage::ImageLuma8)
        .ok_or_else(|| RenderError::Failed("the frame is shorter than Rows x Columns".into()))
}

/// A Modality LUT (PS3.3 C.11.1.1): stored value `first + i` maps to `data[i]`, values
/// outside the table to its ends.
struct Lut {
    first: i64,
    data: Vec<u16>,
}

impl Lut {
    fn get(&self, v: i64) -> u16 {
        let i = (v - self.first).clamp(0, self.data.len() as i64 - 1);
        self.data[i as usize]
    }
}

/// The first item of the Modality LUT Sequence, where there is one with data.
fn modality_lut(obj: &InMemDicomObject) -> Option<Lut> {
    let item = obj.get(tags::MODALITY_LUT_SEQUENCE)?.items()?.first()?;
    let descriptor = item.get(tags::LUT_DESCRIPTOR)?.to_multi_int::<i64>().ok()?;
    let (&entries, &first) = (descriptor.first()?, descriptor.get(1)?);
    let entries = if entries == 0 {
        65536
    } else {
        entries as usize
    };
    let bits = descriptor.get(2).copied().unwrap_or(16);
    let data: Vec<u16> = match item.get(tags::LUT_DATA)?.value() {
        DicomValue::Primitive(PrimitiveValue::U8(b)) if bits <= 8 && b.len() == entries => {
            b.iter().map(|&x| u16::from(x)).collect()
        }
        DicomValue::Primitive(PrimitiveValue::U8(b)) => b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect(),
        DicomValue::Primitive(PrimitiveValue::U16(w)) => w.to_vec(),
        _ => return None,
    };
    (!data.is_empty()).then(|| Lut {
        first,
        data: data.into_iter().take(entries).collect(),
    })
}

/// A palette colour frame to 8-bit RGB through its tables.
fn palette_image(
    pixel: &PixelModule,
    frame: &[u8],
    palette: &palette::Palette,
) -> Result<DynamicImage, RenderError> {
    let rgb: Vec<u8> = stored_values(pixel, frame)?
        .into_iter()
        .flat_map(|v| palette.rgb(v))
        .collect();
    image::RgbImage::from_raw(u32::from(pixel.columns), u32::from(pixel.rows), rgb)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| RenderError::Failed("the frame is shorter than Rows x Columns".into()))
}

/// The bytes one native frame of `pixel` holds: samples of Bits Allocated (bits packed when
/// 1), YBR_FULL_422 with two samples per pixel (PS3.3 C.7.6.3.1.2).
fn frame_len(pixel: &PixelModule) -> u64 {
    if &*pixel.photometric_interpretation == "YBR_FULL_422" && pixel.samples_per_pixel == 3 {
        pixel.native_frame_len() / 3 * 2
    } else {
        pixel.native_frame_len()
    }
}

/// A frame of single bits (Bits Allocated 1, PS3.5 §8.1.1: the first pixel in the lowest bit)
/// as one byte per pixel, so what follows reads bytes; other frames as they are.
fn whole_bytes(pixel: &PixelModule, frame: Bytes) -> (PixelModule, Bytes) {
    if pixel.bits_allocated != 1 {
        return (pixel.clone(), frame);
    }
    let n = usize::from(pixel.rows) * usize::from(pixel.columns);
    let bytes: Vec<u8> = (0..n).map(|i| (frame[i / 8] >> (i % 8)) & 1).collect();
    let pixel = PixelModule {
        bits_allocated: 8,
        bits_stored: 1,
        pixel_representation: 0,
        ..pixel.clone()
    };
    (pixel, Bytes::from(bytes))
}

/// Puts the pixel module the frame is now in into `obj` (after [`whole_bytes`], 8 bits
/// allocated where the instance has 1).
fn put_pixel_module(obj: &mut InMemDicomObject, pixel: &PixelModule) {
    for (tag, value) in [
        (tags::BITS_ALLOCATED, pixel.bits_allocated),
        (tags::BITS_STORED, pixel.bits_stored),
        (tags::HIGH_BIT, pixel.bits_stored.saturating_sub(1)),
    ] {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
}

/// LUT Data (0028,3006) as 16-bit words: from DICOM JSON's InlineBinary it arrives as bytes,
/// which dicom-pixeldata does not read as a table (OW is little endian here, PS3.5 §A.2).
fn lut_data_as_words(obj: &mut InMemDicomObject) {
    let Some(mut item) = obj
        .get(tags::VOILUT_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| items.first().cloned())
    else {
        return;
    };
    let words: Option<Vec<u16>> = match item.get(tags::LUT_DATA).map(|e| e.value()) {
        Some(DicomValue::Primitive(PrimitiveValue::U8(bytes))) => Some(
            bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect(),
        ),
        _ => None,
    };
    if let Some(words) = words {
        item.put(DataElement::new(
            tags::LUT_DATA,
            VR::OW,
            PrimitiveValue::U16(words.into()),
        ));
        obj.put(DataElement::new(
            tags::VOILUT_SEQUENCE,
            VR::SQ,
            DicomValue::new_sequence(vec![item], dicom_core::Length::UNDEFINED),
        ));
    }
}

/// The frame's stored values: 8, 16 or 32 bits allocated, little endian, masked to Bits
/// Stored and sign-extended where Pixel Representation is 1 (PS3.5 §8.1.1).
fn stored_values(pixel: &PixelModule, data: &[u8]) -> Result<Vec<i64>, RenderError> {
    let bits = u32::from(pixel.bits_stored.clamp(1, 32));
    let signed = pixel.pixel_representation == 1;
    let mask = if bits == 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    let value = move |v: u32| -> i64 {
        let v = v & mask;
        if signed && v >> (bits - 1) == 1 {
            i64::from(v) - (1i64 << bits)
        } else {
            i64::from(v)
        }
    };
    let n = usize::from(pixel.rows) * usize::from(pixel.columns);
    let values: Vec<i64> = match pixel.bits_allocated {
        8 => data.iter().take(n).map(|&b| value(u32::from(b))).collect(),
        16 => data
            .chunks_exact(2)
            .take(n)
            .map(|b| value(u32::from(u16::from_le_bytes([b[0], b[1]]))))
            .collect(),
        32 => data
            .chunks_exact(4)
            .take(n)
            .map(|b| value(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        other => {
            return Err(RenderError::Unsupported(format!(
                "{other} bits allocated (8, 16 and 32 are rendered)"
            )));
        }
    };
    if values.len() < n {
        return Err(RenderError::Failed(
            "the frame is shorter than Rows x Columns".into(),
        ));
    }
    Ok(values)
}

/// The VOI functions of PS3.3 C.11.2.1.2.1 (LINEAR), C.11.2.1.3.2 (LINEAR_EXACT) and
/// C.11.2.1.3.1 (SIGMOID), with an output range of 0..=1.
fn windowed(x: f64, w: &Window, function: VoiFunction) -> f64 {
    match function {
        VoiFunction::Linear => {
            let (c, w) = (w.center - 0.5, w.width - 1.0);
            if x <= c - w / 2.0 {
                0.0
            } else if x > c + w / 2.0 {
                1.0
            } else {
                (x - c) / w + 0.5
            }
        }
        VoiFunction::LinearExact => {
            if x <= w.center - w.width / 2.0 {
                0.0
            } else if x > w.center + w.width / 2.0 {
                1.0
            } else {
                (x - w.center) / w.width + 0.5
            }
        }
        VoiFunction::Sigmoid => 1.0 / (1.0 + (-4.0 * (x - w.center) / w.width).exp()),
    }
}

/// A colour frame to 8-bit RGB: samples scaled from Bits Stored, either planar
/// configuration, YBR_FULL and native YBR_FULL_422 (its chroma shared by each pair of
/// pixels) converted by PS3.3 C.7.6.3.1.2's equations. (dicom-pixeldata's YBR conversion
/// departs from them by tens of levels in green.) Decoded frames are interleaved; other YBR
/// forms are decoded to RGB by [`crate::transcode`] already.
fn colour_image(
    pixel: &PixelModule,
    decoded: Option<&str>,
    frame: &[u8],
) -> Result<DynamicImage, RenderError> {
    let failed = |what: &str| RenderError::Failed(what.to_owned());
    let (w, h) = (usize::from(pixel.columns), usize::from(pixel.rows));
    let n = w * h;
    let width = match pixel.bits_allocated {
        8 => 1,
        16 => 2,
        32 => 4,
        other => {
            return Err(RenderError::Unsupported(format!(
                "colour samples of {other} bits (8, 16 and 32 are rendered)"
            )));
        }
    };
    let photometric = decoded.unwrap_or(&pixel.photometric_interpretation);
    // YBR_FULL_422 as stored (native): each pair of pixels in a row is Y1 Y2 Cb Cr.
    let pairs = decoded.is_none() && photometric == "YBR_FULL_422";
    let samples = if pairs { n * 2 } else { n * 3 };
    if frame.len() < samples * width || (pairs && w % 2 == 1) {
        return Err(failed(
            "a colour frame must have 3 samples of Rows x Columns",
        ));
    }
    let bits = u32::from(pixel.bits_stored.clamp(1, 32));
    let mask = if bits == 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    let top = f64::from(mask);
    let planar = decoded.is_none() && pixel.planar_configuration == 1 && !pairs;
    let at = |k: usize| -> f64 {
        let b = &frame[k * width..(k + 1) * width];
        let v = match width {
            1 => u32::from(b[0]),
            2 => u32::from(u16::from_le_bytes([b[0], b[1]])),
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        };
        f64::from(v & mask) / top * 255.0
    };
    let sample = |i: usize, s: usize| -> f64 {
        if pairs {
            let pair = i / 2 * 4;
            at(if s == 0 { pair + i % 2 } else { pair + 1 + s })
        } else if planar {
            at(s * n + i)
        } else {
            at(i * 3 + s)
        }
    };
    let ybr = matches!(photometric, "YBR_FULL" | "YBR_FULL_422");
    let mut rgb = Vec::with_capacity(n * 3);
    for i in 0..n {
        let (a, b, c) = (sample(i, 0), sample(i, 1), sample(i, 2));
        let px = if ybr {
            let (cb, cr) = (b - 128.0, c - 128.0);
            [
                a + 1.402 * cr,
                a - 0.344_136 * cb - 0.714_136 * cr,
                a + 1.772 * cb,
            ]
        } else {
            [a, b, c]
        };
        rgb.extend(px.map(|v| v.round().clamp(0.0, 255.0) as u8));
    }
    image::RgbImage::from_raw(u32::from(pixel.columns), u32::from(pixel.rows), rgb)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| failed("the frame is shorter than Rows x Columns"))
}

/// Encodes an 8-bit grey or RGB image (what [`grey_image`] and [`colour_image`] make, and
/// cropping, flipping and scaling keep).
fn encode(image: &DynamicImage, request: &Request) -> Result<Vec<u8>, RenderError> {
    let failed = |e: image::ImageError| RenderError::Failed(e.to_string());
    let mut out = Cursor::new(Vec::new());
    let (bytes, width, height, colour) = (
        image.as_bytes(),
        image.width(),
        image.height(),
        image.color().into(),
    );
    match request.format {
        Format::Jpeg => {
            let quality = request.params.quality.unwrap_or(DEFAULT_QUALITY);
            let side = |n: u32| {
                u16::try_from(n)
                    .map_err(|_| RenderError::Failed(format!("{n} pixels exceed JPEG's 65535")))
            };
            let kind = if image.color().has_color() {
                jpeg_encoder::ColorType::Rgb
            } else {
                jpeg_encoder::ColorType::Luma
            };
            jpeg_encoder::Encoder::new(out.get_mut(), quality)
                .encode(bytes, side(width)?, side(height)?, kind)
                .map_err(|e| RenderError::Failed(e.to_string()))?;
        }
        Format::Png => {
            image::codecs::png::PngEncoder::new(&mut out)
                .write_image(bytes, width, height, colour)
                .map_err(failed)?;
        }
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicomweb::rendered::{Region, Viewport};

    fn request(viewport: Option<Viewport>, thumbnail: bool) -> Request {
        Request {
            params: RenderParams {
                viewport,
                ..RenderParams::default()
            },
            format: Format::Png,
            thumbnail,
            max_pixels: 1 << 26,
        }
    }

    fn vp(width: u32, height: u32, region: Option<Region>) -> Option<Viewport> {
        Some(Viewport {
            width,
            height,
            region,
        })
    }

    #[test]
    fn the_output_fits_the_viewport_keeping_the_aspect_ratio() {
        let size = |r: &Request, w, h| output_size(r, w, h);
        assert_eq!(size(&request(None, false), 512, 256), (512, 256));
        assert_eq!(
            size(&request(vp(128, 128, None), false), 512, 256),
            (128, 64)
        );
        assert_eq!(
            size(&request(vp(100, 400, None), false), 512, 256),
            (100, 50)
        );
        assert_eq!(
            size(&request(vp(1024, 1024, None), false), 512, 256),
            (1024, 512)
        );
        // Thumbnails shrink to fit, never grow.
        assert_eq!(size(&request(None, true), 512, 256), (128, 64));
        assert_eq!(size(&request(None, true), 64, 32), (64, 32));
        assert_eq!(size(&request(vp(1024, 1024, None), true), 64, 32), (64, 32));
        assert_eq!(size(&request(vp(10, 10, None), false), 10_000, 1), (10, 1));
    }

    #[test]
    fn reductions_average_the_covered_pixels() {
        let grey = image::GrayImage::from_raw(4, 2, vec![0, 10, 20, 30, 40, 50, 60, 70]).unwrap();
        let r = reduced(&DynamicImage::ImageLuma8(grey), 2, 1);
        assert_eq!(r.as_bytes(), [25, 45]);
        // 3 -> 2 columns: [0, 1) and [1, 3).
        let grey = image::GrayImage::from_raw(3, 1, vec![9, 10, 20]).unwrap();
        assert_eq!(
            reduced(&DynamicImage::ImageLuma8(grey), 2, 1).as_bytes(),
            [9, 15]
        );
        let rgb = image::RgbImage::from_raw(2, 1, vec![0, 100, 200, 10, 110, 210]).unwrap();
        let r = reduced(&DynamicImage::ImageRgb8(rgb), 1, 1);
        assert_eq!(r.as_bytes(), [5, 105, 205]);
    }

    #[test]
    fn regions_are_clipped_and_keep_their_flips() {
        let region = |v| source_region(&request(v, false), 512, 256);
        assert_eq!(region(None), Ok((0, 0, 512, 256)));
        let r = |x, y, w, h| {
            vp(
                64,
                64,
                Some(Region {
                    x,
                    y,
                    width: w,
                    height: h,
                }),
            )
        };
        assert_eq!(region(r(10, 20, None, None)), Ok((10, 20, 502, 236)));
        assert_eq!(
            region(r(500, 0, Some(-100), Some(50))),
            Ok((500, 0, -12, 50))
        );
        assert_eq!(
            region(r(512, 0, None, None)),
            Err(RenderError::RegionOutside {
                columns: 512,
                rows: 256
            })
        );
    }
}
