//! What is tested: the base URL, one instance, and what is known about it. Anything not given
//! on the command line is discovered through QIDO-RS and WADO-RS metadata when the server
//! offers them; checks that need what could not be learned are reported as not applicable.

use anyhow::{Context, bail};
use serde_json::Value;

use crate::http::{Request, Session};

/// Explicit VR Little Endian, the default transfer syntax of DICOMweb.
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// What the command line said about the target.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub study: Option<String>,
    pub series: Option<String>,
    pub instance: Option<String>,
    pub frames: Option<u32>,
    pub image_set: Option<String>,
    pub image_frame_id: Option<String>,
    pub native_frame: Option<u32>,
    pub origin: Option<String>,
    pub pixel: Option<Pixel>,
}

/// The image attributes that fix an uncompressed frame's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pixel {
    pub rows: u64,
    pub columns: u64,
    pub samples_per_pixel: u64,
    pub bits_allocated: u64,
}

impl Pixel {
    /// Bytes in one uncompressed frame (PS3.5 §8.1.1; 1-bit data is packed).
    pub fn frame_length(&self) -> u64 {
        (self.rows * self.columns * self.samples_per_pixel * self.bits_allocated).div_ceil(8)
    }
}

/// The native HealthImaging frame that corresponds to one DICOMweb frame of the instance.
#[derive(Debug, Clone)]
pub struct Native {
    pub image_set: String,
    pub image_frame_id: String,
    /// The DICOMweb frame number it is.
    pub frame: u32,
}

/// The target of a run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The DICOMweb root (for this product, `{url}/datastore/{id}`), without a trailing slash.
    pub base_url: String,
    pub study: String,
    pub series: String,
    pub instance: String,
    /// NumberOfFrames, if known.
    pub frames: Option<u32>,
    pub pixel: Option<Pixel>,
    /// The syntax the instance is stored in, if the metadata says.
    pub stored_transfer_syntax: Option<String>,
    pub native: Option<Native>,
    /// An origin the server should allow (CORS checks).
    pub origin: Option<String>,
    /// How each fact was learned, for the report.
    pub notes: Vec<String>,
}

impl Target {
    pub fn instance_url(&self) -> String {
        format!(
            "{}/studies/{}/series/{}/instances/{}",
            self.base_url, self.study, self.series, self.instance
        )
    }

    pub fn frames_url(&self, list: &str) -> String {
        format!("{}/frames/{list}", self.instance_url())
    }

    /// The datastore root, when the base URL has this product's shape `…/datastore/{32 hex}`.
    pub fn datastore_url(&self) -> Option<&str> {
        let (_, id) = self.base_url.rsplit_once("/datastore/")?;
        is_ahi_id(id).then_some(self.base_url.as_str())
    }
}

/// An AHI identifier: 32 lowercase hex characters.
pub fn is_ahi_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Completes `given` into a target, asking the server what it was not told.
pub async fn discover(session: &Session, base_url: &str, given: Given) -> anyhow::Result<Target> {
    let base_url = base_url.trim_end_matches('/').to_owned();
    let mut notes = Vec::new();
    let study = match given.study {
        Some(s) => s,
        None => {
            let url = format!("{base_url}/studies?limit=10");
            let study = first_uid(session, &url, "0020000D").await?;
            notes.push(format!("study found by QIDO-RS: {study}"));
            study
        }
    };
    let series = match given.series {
        Some(s) => s,
        None => {
            let url = format!("{base_url}/studies/{study}/series");
            let series = first_uid(session, &url, "0020000E").await?;
            notes.push(format!("series found by QIDO-RS: {series}"));
            series
        }
    };
    let instance = match given.instance {
        Some(s) => s,
        None => {
            let url = format!("{base_url}/studies/{study}/series/{series}/instances");
            let found = qido(session, &url).await?;
            // Prefer the instance with the most frames: frame-list checks need several.
            let best = found
                .iter()
                .max_by_key(|o| int(o, "00280008").unwrap_or(1))
                .and_then(|o| string(o, "00080018"))
                .with_context(|| format!("no SOPInstanceUID in the answer to {url}"))?;
            notes.push(format!("instance found by QIDO-RS: {best}"));
            best
        }
    };
    let mut target = Target {
        base_url,
        study,
        series,
        instance,
        frames: given.frames,
        pixel: given.pixel,
        stored_transfer_syntax: None,
        native: None,
        origin: given.origin,
        notes,
    };
    let url = format!("{}/metadata", target.instance_url());
    let ex = session
        .send(Request::get(&url).accept("application/dicom+json"))
        .await;
    let metadata = (ex.status == 200)
        .then(|| serde_json::from_slice::<Value>(&ex.body).ok())
        .flatten();
    match metadata.as_ref().and_then(|m| m.get(0)) {
        Some(m) => {
            if target.frames.is_none() {
                target.frames = Some(int(m, "00280008").unwrap_or(1) as u32);
                target
                    .notes
                    .push("frame count from WADO-RS metadata".into());
            }
            if target.pixel.is_none() {
                target.pixel = (|| {
                    Some(Pixel {
                        rows: int(m, "00280010")?,
                        columns: int(m, "00280011")?,
                        samples_per_pixel: int(m, "00280002")?,
                        bits_allocated: int(m, "00280100")?,
                    })
                })();
            }
            target.stored_transfer_syntax = string(m, "00083002").or_else(|| string(m, "00020010"));
        }
        None => target.notes.push(format!(
            "no WADO-RS metadata ({}): frame count {}, pixel attributes {}",
            ex.summary(),
            if target.frames.is_some() {
                "as given"
            } else {
                "unknown"
            },
            if target.pixel.is_some() {
                "as given"
            } else {
                "unknown"
            },
        )),
    }
    if let (Some(image_set), Some(image_frame_id)) = (given.image_set, given.image_frame_id) {
        if !is_ahi_id(&image_set) || !is_ahi_id(&image_frame_id) {
            bail!("--image-set and --image-frame-id take 32 lowercase hex characters");
        }
        target.native = Some(Native {
            image_set,
            image_frame_id,
            frame: given.native_frame.unwrap_or(1),
        });
    }
    Ok(target)
}

/// The first value of `tag` in a QIDO-RS answer.
async fn first_uid(session: &Session, url: &str, tag: &str) -> anyhow::Result<String> {
    qido(session, url)
        .await?
        .iter()
        .find_map(|o| string(o, tag))
        .with_context(|| format!("no ({tag}) in the answer to {url}"))
}

async fn qido(session: &Session, url: &str) -> anyhow::Result<Vec<Value>> {
    let ex = session
        .send(Request::get(url).accept("application/dicom+json"))
        .await;
    if ex.status != 200 {
        bail!(
            "QIDO-RS {url} answered {}; give --study, --series and --instance",
            ex.summary()
        );
    }
    match serde_json::from_slice::<Value>(&ex.body) {
        Ok(Value::Array(a)) if !a.is_empty() => Ok(a),
        Ok(Value::Array(_)) => bail!("QIDO-RS {url} found nothing"),
        _ => bail!("QIDO-RS {url} did not answer a DICOM JSON array"),
    }
}

/// The first value of a DICOM JSON attribute (PS3.18 §F.2) as a string.
pub fn string(obj: &Value, tag: &str) -> Option<String> {
    match obj.get(tag)?.get("Value")?.get(0)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first value of a DICOM JSON attribute as an integer; IS values may arrive as strings.
pub fn int(obj: &Value, tag: &str) -> Option<u64> {
    match obj.get(tag)?.get("Value")?.get(0)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_length_packs_single_bits() {
        let p = |bits_allocated, samples_per_pixel| Pixel {
            rows: 3,
            columns: 5,
            samples_per_pixel,
            bits_allocated,
        };
        assert_eq!(p(16, 1).frame_length(), 30);
        assert_eq!(p(8, 3).frame_length(), 45);
        assert_eq!(p(1, 1).frame_length(), 2);
    }

    #[test]
    fn dicom_json_numbers_may_be_strings() {
        let v = serde_json::json!({
            "00280008": {"vr": "IS", "Value": ["36"]},
            "00280010": {"vr": "US", "Value": [256]},
            "0020000D": {"vr": "UI", "Value": ["1.2.3"]}
        });
        assert_eq!(int(&v, "00280008"), Some(36));
        assert_eq!(int(&v, "00280010"), Some(256));
        assert_eq!(string(&v, "0020000D").as_deref(), Some("1.2.3"));
        assert_eq!(int(&v, "00280011"), None);
    }

    #[test]
    fn only_product_roots_have_a_datastore_url() {
        let mut t = Target {
            base_url: "http://x/datastore/fe979d40487394a75b813ff62a2f7451".into(),
            study: String::new(),
            series: String::new(),
            instance: String::new(),
            frames: None,
            pixel: None,
            stored_transfer_syntax: None,
            native: None,
            origin: None,
            notes: vec![],
        };
        assert!(t.datastore_url().is_some());
        t.base_url = "http://x/dicom-web".into();
        assert!(t.datastore_url().is_none());
    }
}
