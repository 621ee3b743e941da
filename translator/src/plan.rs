//! The plan step: from the route, the Accept value and the instance's description to what
//! the answer will be, with no I/O. Execution (fetch → transform → encode → stream, in
//! [`crate::frames`]) only carries a plan out, so every decision here is testable in
//! microseconds over in-memory descriptions.
//!
//! Pixel data is offered as stored (native data as Explicit VR LE) and, where the stored
//! syntax is compressed and [`crate::transcode`] can decode it, as Explicit VR LE decoded
//! from it (PS3.18 §8.7.3.5.2: the default of `application/octet-stream`). The stored form
//! comes first: `*/*`, no Accept and `transfer-syntax=*` get the bytes as stored.

use dicomweb::accept::{Forms, Offer, Rendition, negotiate};
use dicomweb::{FrameList, TransferSyntax};
use edge::EdgeError;
use healthimaging::{ClientError, ImageFrameId};
use serde_json::{Map, Value};

/// The Image Pixel module of an instance (PS3.3 C.7.6.3), what a decoder needs beside the
/// frame's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelModule {
    pub rows: u16,
    pub columns: u16,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    /// 0 unsigned, 1 two's complement.
    pub pixel_representation: u16,
    pub photometric_interpretation: Box<str>,
    /// 0 colour-by-pixel, 1 colour-by-plane (only meaningful with several samples).
    pub planar_configuration: u16,
}

impl PixelModule {
    /// The module from an instance's attributes (HealthImaging files them by keyword);
    /// `None` when a required attribute is missing (not an image).
    pub fn from_attributes(attrs: &Map<String, Value>) -> Option<Self> {
        let number = |k: &str| -> Option<u16> {
            let v = attrs.get(k)?;
            let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
            v.as_u64()
                .or_else(|| v.as_str()?.trim().parse().ok())
                .and_then(|n| u16::try_from(n).ok())
        };
        let bits_allocated = number("BitsAllocated")?;
        Some(Self {
            rows: number("Rows")?,
            columns: number("Columns")?,
            samples_per_pixel: number("SamplesPerPixel").unwrap_or(1),
            bits_allocated,
            bits_stored: number("BitsStored").unwrap_or(bits_allocated),
            pixel_representation: number("PixelRepresentation").unwrap_or(0),
            photometric_interpretation: attrs
                .get("PhotometricInterpretation")
                .and_then(Value::as_str)
                .unwrap_or("MONOCHROME2")
                .trim()
                .into(),
            planar_configuration: number("PlanarConfiguration").unwrap_or(0),
        })
    }
}

/// What the translator knows of one instance once located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDescription {
    /// The stored transfer syntax (HealthImaging's default applied when the document omits
    /// it); `None` when the document names something that is not a UID.
    pub transfer_syntax: Option<TransferSyntax>,
    /// WADO-RS frame N is `frames[N - 1]`.
    pub frames: Box<[ImageFrameId]>,
    /// `None` for instances without pixel data.
    pub pixel: Option<PixelModule>,
}

impl InstanceDescription {
    /// What one frame is reserved of the read-ahead budget ([`crate::read_ahead`]): its
    /// native size, exact for native data and the decoded size of the others.
    pub fn frame_reservation(&self) -> u64 {
        self.pixel
            .as_ref()
            .map_or(0, crate::plan::PixelModule::native_frame_len)
    }
}

/// What happens to the stored bytes on the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    /// The bytes as HealthImaging returns them.
    AsStored,
    /// Each frame decoded from `from` to native pixel data ([`crate::transcode`]).
    Decode {
        from: TransferSyntax,
        pixel: PixelModule,
    },
}

impl Transform {
    /// The transform that produces the chosen offer from the stored frames.
    fn for_offer(offer: &Offer, instance: &InstanceDescription) -> Self {
        match (&instance.transfer_syntax, &instance.pixel) {
            (Some(from), Some(pixel)) if !offer.stored => Transform::Decode {
                from: from.clone(),
                pixel: pixel.clone(),
            },
            _ => Transform::AsStored,
        }
    }
}

/// The answer to a frames request, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramesPlan {
    pub rendition: Rendition,
    /// Frame numbers with their frame IDs, in request order.
    pub frames: Vec<(u32, ImageFrameId)>,
    pub transform: Transform,
}

impl FramesPlan {
    /// The transfer syntax every part is labelled with.
    pub fn transfer_syntax(&self) -> TransferSyntax {
        self.rendition
            .transfer_syntax
            .clone()
            .unwrap_or(TransferSyntax::EXPLICIT_VR_LE)
    }
}

/// The representations frames of `instance` can be answered in, in order of preference:
/// as stored, then Explicit VR LE decoded from a compressed syntax when a decoder exists and
/// a decoded frame fits in `decode_bound` bytes. A document whose stored syntax is not a UID
/// offers nothing it could label truthfully: 502.
pub fn frame_offers(
    instance: &InstanceDescription,
    decode_bound: u64,
) -> Result<Vec<Offer>, EdgeError> {
    let stored = instance.transfer_syntax.as_ref().ok_or_else(|| {
        EdgeError::from(ClientError::InvalidResponse(
            "the image set's StoredTransferSyntaxUID is not a UID".into(),
        ))
    })?;
    let mut offers = vec![Offer::stored(stored)];
    let decodable = instance.pixel.as_ref().is_some_and(|p| {
        p.native_frame_len() <= decode_bound && crate::transcode::can_decode_module(stored, p)
    });
    if decodable {
        offers.push(Offer::converted(TransferSyntax::EXPLICIT_VR_LE));
    }
    Ok(offers)
}

/// Plans WADO-RS frames (PS3.18 §8.3.5.1, §8.7.3): the frame numbers must exist (400), one
/// offer must be acceptable (406); a single-part answer only for one frame.
pub fn frames(
    accept: Option<&str>,
    instance: &InstanceDescription,
    list: &FrameList,
    decode_bound: u64,
) -> Result<FramesPlan, EdgeError> {
    list.check_range(u32::try_from(instance.frames.len()).unwrap_or(u32::MAX))?;
    let forms = if list.len() == 1 {
        Forms::BOTH
    } else {
        Forms::MULTIPART
    };
    let offers = frame_offers(instance, decode_bound)?;
    let rendition = negotiate(accept, &offers, forms)?;
    let transform = Transform::for_offer(&offers[rendition.offer], instance);
    let frames = list
        .numbers()
        .map(|n| (n, instance.frames[n as usize - 1].clone()))
        .collect();
    Ok(FramesPlan {
        rendition,
        frames,
        transform,
    })
}

/// The media type of whole instances (PS3.18 §8.7.3.5.1).
pub const DICOM: &str = "application/dicom";

/// The representations whole instances can be answered in, in order of preference: Explicit
/// VR LE first (PS3.18 §8.7.3.5.2: the default of `application/dicom`; decoded when the
/// frames are compressed and decodable), then the stored syntax. Instances without frames
/// and native data are Explicit VR LE only.
pub fn instance_offers(
    instance: &InstanceDescription,
    decode_bound: u64,
) -> Result<Vec<Offer>, EdgeError> {
    let offer = |ts: TransferSyntax, stored: bool| Offer {
        media_type: DICOM,
        transfer_syntax: Some(ts),
        stored,
    };
    if instance.frames.is_empty() {
        return Ok(vec![offer(TransferSyntax::EXPLICIT_VR_LE, true)]);
    }
    Ok(frame_offers(instance, decode_bound)?
        .into_iter()
        .rev()
        .filter_map(|o| Some(offer(o.transfer_syntax?, o.stored)))
        .collect())
}

/// How one instance of a retrieve is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePlan {
    /// The file's transfer syntax.
    pub transfer_syntax: TransferSyntax,
    pub transform: Transform,
}

/// Plans WADO-RS retrieve of whole instances (PS3.18 §10.4.1.1.1, §8.7.3.5): each instance
/// in the best of its own offers (a series may mix stored syntaxes), the whole request 406
/// when one of them has nothing acceptable; a single-part answer only for one instance.
/// Returns whether the answer is multipart, and each instance's plan.
pub fn instances(
    accept: Option<&str>,
    instances: &[&InstanceDescription],
    decode_bound: u64,
) -> Result<(bool, Vec<InstancePlan>), EdgeError> {
    let forms = if instances.len() == 1 {
        Forms::BOTH
    } else {
        Forms::MULTIPART
    };
    let mut multipart = true;
    let mut plans = Vec::with_capacity(instances.len());
    for i in instances {
        let offers = instance_offers(i, decode_bound)?;
        let r = negotiate(accept, &offers, forms)?;
        multipart = r.multipart;
        let offer = &offers[r.offer];
        plans.push(InstancePlan {
            transfer_syntax: r.transfer_syntax.unwrap_or(TransferSyntax::EXPLICIT_VR_LE),
            transform: Transform::for_offer(offer, i),
        });
    }
    Ok((multipart, plans))
}

/// The media types metadata and search answers are offered in (always written as
/// `application/dicom+json`; `application/json` is accepted for clients that ask for it).
pub fn json_offers() -> [Offer; 2] {
    [
        Offer::media("application/dicom+json"),
        Offer::media("application/json"),
    ]
}

/// Whether a DICOM JSON answer is acceptable (PS3.18 §8.7.3.2); else 406.
pub fn json(accept: Option<&str>) -> Result<(), EdgeError> {
    negotiate(accept, &json_offers(), Forms::SINGLE)
        .map(|_| ())
        .map_err(|e| match EdgeError::from(e) {
            EdgeError::NotAcceptable { .. } => EdgeError::NotAcceptable {
                available: "application/dicom+json".into(),
            },
            other => other,
        })
}

/// Whether bulk data other than Pixel Data is acceptable: `multipart/related` of
/// `application/octet-stream` (PS3.18 §8.7.3.3.2); else 406.
pub fn bulkdata(accept: Option<&str>) -> Result<(), EdgeError> {
    negotiate(
        accept,
        &[Offer::media(dicomweb::transfer_syntax::OCTET_STREAM)],
        Forms::MULTIPART,
    )
    .map(|_| ())
    .map_err(EdgeError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn instance(ts: &str, frames: usize) -> InstanceDescription {
        InstanceDescription {
            transfer_syntax: Some(ts.parse().unwrap()),
            frames: (0..frames)
                .map(|i| format!("{i:032x}").parse().unwrap())
                .collect(),
            pixel: None,
        }
    }

    fn list(s: &str) -> FrameList {
        FrameList::parse(s).unwrap()
    }

    const BOUND: u64 = 1 << 30;

    const OHIF: &str = r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#;

    #[test]
    fn frames_in_request_order_as_stored() {
        let i = instance("1.2.840.10008.1.2.4.202", 5);
        let p = frames(Some(OHIF), &i, &list("3,1"), BOUND).unwrap();
        assert_eq!(p.frames.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(p.frames[0].1, i.frames[2]);
        assert!(p.rendition.multipart);
        assert_eq!(p.rendition.media_type, "image/jphc");
        assert_eq!(p.transfer_syntax().as_str(), "1.2.840.10008.1.2.4.202");
        assert_eq!(p.transform, Transform::AsStored);
    }

    #[test]
    fn native_data_is_labelled_explicit_vr_le() {
        let i = instance("1.2.840.10008.1.2", 1);
        let p = frames(None, &i, &list("1"), BOUND).unwrap();
        assert_eq!(p.transfer_syntax(), TransferSyntax::EXPLICIT_VR_LE);
        assert_eq!(p.rendition.media_type, "application/octet-stream");
        let p = frames(Some("application/octet-stream"), &i, &list("1"), BOUND).unwrap();
        assert!(!p.rendition.multipart, "one frame may be single-part");
    }

    #[test]
    fn refusals() {
        let i = instance("1.2.840.10008.1.2.4.202", 2);
        assert!(matches!(
            frames(Some(OHIF), &i, &list("3"), BOUND),
            Err(EdgeError::Frames(_))
        ));
        // dicomweb-client's default asks for Explicit VR LE, which cannot be decoded
        // without a pixel module.
        let e = frames(
            Some(r#"multipart/related; type="application/octet-stream""#),
            &i,
            &list("1"),
            BOUND,
        )
        .unwrap_err();
        assert!(matches!(e, EdgeError::NotAcceptable { .. }), "{e}");
        assert_eq!(e.answer().status, 406);
        assert!(matches!(
            frames(Some("multipart/related; q=2"), &i, &list("1"), BOUND),
            Err(EdgeError::MalformedAccept(_))
        ));
        // Single-part only for one frame.
        assert!(frames(Some("image/jphc"), &i, &list("1,2"), BOUND).is_err());
        // A stored syntax that is not a UID is HealthImaging's fault, never guessed at.
        let broken = InstanceDescription {
            transfer_syntax: None,
            ..i
        };
        assert_eq!(
            frames(None, &broken, &list("1"), BOUND)
                .unwrap_err()
                .answer()
                .status,
            502
        );
    }

    fn ct(ts: &str) -> InstanceDescription {
        InstanceDescription {
            pixel: Some(PixelModule {
                rows: 512,
                columns: 512,
                samples_per_pixel: 1,
                bits_allocated: 16,
                bits_stored: 16,
                pixel_representation: 1,
                photometric_interpretation: "MONOCHROME2".into(),
                planar_configuration: 0,
            }),
            ..instance(ts, 3)
        }
    }

    #[test]
    fn compressed_frames_are_also_offered_decoded() {
        let i = ct("1.2.840.10008.1.2.4.202");
        // dicomweb-client's default (no syntax: application/octet-stream's default).
        for accept in [
            r#"multipart/related; type="application/octet-stream""#,
            r#"multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1"#,
            "application/octet-stream",
            // q-values decide: the decoded form is preferred here.
            "image/jphc; q=0.5, application/octet-stream",
        ] {
            let p = frames(Some(accept), &i, &list("1"), BOUND).unwrap();
            assert_eq!(
                p.transfer_syntax(),
                TransferSyntax::EXPLICIT_VR_LE,
                "{accept}"
            );
            assert_eq!(p.rendition.media_type, "application/octet-stream");
            assert_eq!(
                p.transform,
                Transform::Decode {
                    from: "1.2.840.10008.1.2.4.202".parse().unwrap(),
                    pixel: i.pixel.clone().unwrap()
                }
            );
        }
        // As stored for `*`, no Accept, `*/*` and the stored type.
        for accept in [
            Some(OHIF),
            None,
            Some("*/*"),
            Some("image/jphc, application/octet-stream; q=0.9"),
        ] {
            let p = frames(accept, &i, &list("1"), BOUND).unwrap();
            assert_eq!(p.transform, Transform::AsStored, "{accept:?}");
        }
        // Beyond the bound, only the stored form remains (406 names it).
        let e = frames(Some("application/octet-stream"), &i, &list("1"), 1000).unwrap_err();
        assert_eq!(e.answer().status, 406);
        assert!(e.to_string().contains("image/jphc"), "{e}");
        // Native data is not decoded again.
        let native = frames(None, &ct("1.2.840.10008.1.2"), &list("1"), BOUND).unwrap();
        assert_eq!(native.transform, Transform::AsStored);
        // Syntaxes without a decoder: only the stored form.
        let mpeg = ct("1.2.840.10008.1.2.4.100");
        assert!(frames(Some("application/octet-stream"), &mpeg, &list("1"), BOUND).is_err());
    }

    #[test]
    fn instances_default_to_explicit_vr_le_and_star_means_stored() {
        let htj2k = ct("1.2.840.10008.1.2.4.202");
        let native = ct("1.2.840.10008.1.2.1");
        let dicomweb_client = r#"multipart/related; type="application/dicom""#;
        let star = r#"multipart/related; type="application/dicom"; transfer-syntax=*"#;
        let (multipart, p) = instances(Some(dicomweb_client), &[&htj2k, &native], BOUND).unwrap();
        assert!(multipart);
        assert_eq!(p[0].transfer_syntax, TransferSyntax::EXPLICIT_VR_LE);
        assert!(matches!(p[0].transform, Transform::Decode { .. }));
        assert_eq!(p[1].transfer_syntax, TransferSyntax::EXPLICIT_VR_LE);
        assert_eq!(p[1].transform, Transform::AsStored);
        let (_, p) = instances(Some(star), &[&htj2k, &native], BOUND).unwrap();
        assert_eq!(p[0].transfer_syntax, TransferSyntax::HTJ2K_RPCL_LOSSLESS);
        assert_eq!(p[0].transform, Transform::AsStored);
        assert_eq!(p[1].transfer_syntax, TransferSyntax::EXPLICIT_VR_LE);
        // No Accept: the default, Explicit VR LE.
        let (_, p) = instances(None, &[&htj2k], BOUND).unwrap();
        assert_eq!(p[0].transfer_syntax, TransferSyntax::EXPLICIT_VR_LE);
        // One instance may be single-part; several may not.
        let (multipart, _) = instances(Some("application/dicom"), &[&htj2k], BOUND).unwrap();
        assert!(!multipart);
        assert!(instances(Some("application/dicom"), &[&htj2k, &native], BOUND).is_err());
        // Nothing decodable and the default asked for: 406 naming the stored syntax.
        let e = instances(Some(dicomweb_client), &[&htj2k], 10).unwrap_err();
        assert_eq!(e.answer().status, 406);
        assert!(
            e.to_string()
                .contains("transfer-syntax=1.2.840.10008.1.2.4.202"),
            "{e}"
        );
        // An instance without frames (a report) is Explicit VR LE.
        let sr = InstanceDescription {
            frames: Box::new([]),
            pixel: None,
            ..htj2k.clone()
        };
        let (_, p) = instances(Some(star), &[&sr], BOUND).unwrap();
        assert_eq!(p[0].transfer_syntax, TransferSyntax::EXPLICIT_VR_LE);
    }

    #[test]
    fn json_and_bulkdata_acceptance() {
        assert!(json(None).is_ok());
        assert!(json(Some("application/json, text/plain;q=0.5")).is_ok());
        let e = json(Some("text/html")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the requested media type or transfer syntax is not available; available: application/dicom+json"
        );
        assert!(
            bulkdata(Some(
                r#"multipart/related; type="application/octet-stream""#
            ))
            .is_ok()
        );
        assert!(bulkdata(Some("image/jpeg")).is_err());
    }

    #[test]
    fn pixel_module_from_ahi_attributes() {
        let attrs = json!({
            "Rows": 512, "Columns": 256, "BitsAllocated": 16, "BitsStored": 12,
            "PixelRepresentation": 1, "SamplesPerPixel": 1,
            "PhotometricInterpretation": "MONOCHROME2 "
        });
        let m = PixelModule::from_attributes(attrs.as_object().unwrap()).unwrap();
        assert_eq!((m.rows, m.columns, m.bits_stored), (512, 256, 12));
        assert_eq!(&*m.photometric_interpretation, "MONOCHROME2");
        let rgb = json!({"Rows": 2, "Columns": 2, "BitsAllocated": 8, "SamplesPerPixel": 3,
            "PhotometricInterpretation": "RGB", "PlanarConfiguration": 1});
        let m = PixelModule::from_attributes(rgb.as_object().unwrap()).unwrap();
        assert_eq!((m.samples_per_pixel, m.planar_configuration), (3, 1));
        assert!(PixelModule::from_attributes(json!({"Rows": 1}).as_object().unwrap()).is_none());
    }
}
