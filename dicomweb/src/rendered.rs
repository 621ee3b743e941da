//! The query parameters of rendered and thumbnail resources (PS3.18 §8.3.5.1, Table 8.3.5-1):
//! `window`, `viewport`, `quality`, and the two this implementation refuses by name
//! (`annotation`, `iccprofile` other than `no`), parsed once into typed values.

use crate::query::{QueryError, QueryParams};

/// The VOI LUT function of a `window` (PS3.3 C.11.2.1.2, C.11.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoiFunction {
    #[default]
    Linear,
    LinearExact,
    Sigmoid,
}

/// `window=center,width[,function]`: replaces the instance's own VOI transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
    /// `None`: the instance's VOI LUT Function, else linear.
    pub function: Option<VoiFunction>,
}

/// The source region of a viewport, in pixels of the source image; a negative width or
/// height flips the region about that axis (PS3.18 §8.3.5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    /// `None`: to the right (bottom) edge of the image.
    pub width: Option<i64>,
    pub height: Option<i64>,
}

/// `viewport=vw,vh[,sx,sy,sw,sh]`: the rendered image is scaled to fit `width` × `height`
/// with its aspect ratio kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
    pub region: Option<Region>,
}

/// The parameters of one rendered or thumbnail request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RenderParams {
    pub window: Option<Window>,
    pub viewport: Option<Viewport>,
    /// 1..=100, for lossy media types.
    pub quality: Option<u8>,
}

/// The largest viewport side accepted (pixels); the translator also bounds the whole image.
pub const MAX_VIEWPORT_SIDE: u32 = 16_384;

fn error(name: &str, reason: impl Into<String>) -> QueryError {
    QueryError {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

impl RenderParams {
    /// The rendered resources' parameters (`thumbnail` false) or a thumbnail's (only
    /// `viewport`, PS3.18 §8.3.5.1.3's table marks the others as not applicable). Other
    /// query parameters (`accept`, `imageSetId`) are not this parser's.
    pub fn parse(query: &QueryParams, thumbnail: bool) -> Result<Self, QueryError> {
        let mut p = RenderParams::default();
        if let Some(v) = query.first("viewport") {
            p.viewport = Some(viewport(v)?);
        }
        for name in ["window", "quality", "annotation"] {
            if thumbnail && query.first(name).is_some() {
                return Err(error(name, "a thumbnail takes only viewport"));
            }
        }
        if let Some(v) = query.first("window") {
            p.window = Some(window(v)?);
        }
        if let Some(v) = query.first("quality") {
            p.quality = Some(quality(v).map_err(|r| error("quality", r))?);
        }
        if query.first("annotation").is_some() {
            return Err(error(
                "annotation",
                "burned-in annotation is not supported; ask without it",
            ));
        }
        if let Some(v) = query.first("iccprofile")
            && !v.trim().eq_ignore_ascii_case("no")
        {
            return Err(error(
                "iccprofile",
                "only iccprofile=no is supported (images are sent without a profile)",
            ));
        }
        Ok(p)
    }
}

/// A JPEG quality: an integer from 1 to 100 (also WADO-URI's `imageQuality`).
pub fn quality(s: &str) -> Result<u8, String> {
    s.trim()
        .parse()
        .ok()
        .filter(|q| (1..=100).contains(q))
        .ok_or_else(|| "an integer from 1 to 100".to_owned())
}

/// A viewport side in pixels, 1 to [`MAX_VIEWPORT_SIDE`] (also WADO-URI's `rows`, `columns`).
pub fn viewport_side(s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_VIEWPORT_SIDE).contains(n))
        .ok_or_else(|| format!("{s:?} is not an integer from 1 to {MAX_VIEWPORT_SIDE}"))
}

fn number(name: &str, what: &str, s: &str) -> Result<f64, QueryError> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| error(name, format!("{what} {s:?} is not a number")))
}

fn window(v: &str) -> Result<Window, QueryError> {
    let parts: Vec<&str> = v.split(',').collect();
    let (center, width, function) = match parts.as_slice() {
        [c, w] => (c, w, None),
        [c, w, f] => (c, w, Some(*f)),
        _ => return Err(error("window", "center,width[,function]")),
    };
    let center = number("window", "the center", center)?;
    let width = number("window", "the width", width)?;
    let function = function
        .map(
            |f| match f.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "linear" => Ok(VoiFunction::Linear),
                "linear-exact" => Ok(VoiFunction::LinearExact),
                "sigmoid" => Ok(VoiFunction::Sigmoid),
                _ => Err(error(
                    "window",
                    format!("the function {f:?} is not linear, linear-exact or sigmoid"),
                )),
            },
        )
        .transpose()?;
    // PS3.3 C.11.2.1.2.1: at least 1 for LINEAR, above 0 for the others.
    let least = if function.unwrap_or_default() == VoiFunction::Linear {
        1.0
    } else {
        f64::MIN_POSITIVE
    };
    if width < least {
        return Err(error(
            "window",
            format!("the width {width} is too small (linear needs at least 1, others above 0)"),
        ));
    }
    Ok(Window {
        center,
        width,
        function,
    })
}

fn viewport(v: &str) -> Result<Viewport, QueryError> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() != 2 && parts.len() != 6 {
        return Err(error("viewport", "vw,vh or vw,vh,sx,sy,sw,sh"));
    }
    let side = |what: &str, s: &str| -> Result<u32, QueryError> {
        viewport_side(s).map_err(|r| error("viewport", format!("{what} {r}")))
    };
    let width = side("vw", parts[0])?;
    let height = side("vh", parts[1])?;
    let region = if parts.len() == 6 {
        let offset = |what: &str, s: &str| -> Result<u32, QueryError> {
            if s.is_empty() {
                return Ok(0);
            }
            s.parse::<u32>().map_err(|_| {
                error(
                    "viewport",
                    format!("{what} {s:?} is not a non-negative integer"),
                )
            })
        };
        let extent = |what: &str, s: &str| -> Result<Option<i64>, QueryError> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<i64>()
                .ok()
                .filter(|n| *n != 0 && n.unsigned_abs() <= u64::from(u32::MAX))
                .map(Some)
                .ok_or_else(|| {
                    error(
                        "viewport",
                        format!("{what} {s:?} is not a non-zero integer"),
                    )
                })
        };
        Some(Region {
            x: offset("sx", parts[2])?,
            y: offset("sy", parts[3])?,
            width: extent("sw", parts[4])?,
            height: extent("sh", parts[5])?,
        })
    } else {
        None
    };
    Ok(Viewport {
        width,
        height,
        region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<RenderParams, QueryError> {
        RenderParams::parse(&QueryParams::parse(Some(q)), false)
    }

    fn refused(q: &str) -> String {
        let e = parse(q).unwrap_err();
        format!("{}: {}", e.name, e.reason)
    }

    #[test]
    fn the_standards_forms_parse() {
        let p = parse("window=40,400&viewport=256,128&quality=80").unwrap();
        assert_eq!(
            p.window,
            Some(Window {
                center: 40.0,
                width: 400.0,
                function: None
            })
        );
        assert_eq!(
            p.viewport,
            Some(Viewport {
                width: 256,
                height: 128,
                region: None
            })
        );
        assert_eq!(p.quality, Some(80));
        let p = parse("window=-600.5,1500,SIGMOID&viewport=64,64,10,20,-100,").unwrap();
        assert_eq!(p.window.unwrap().function, Some(VoiFunction::Sigmoid));
        assert_eq!(p.window.unwrap().center, -600.5);
        assert_eq!(
            p.viewport.unwrap().region,
            Some(Region {
                x: 10,
                y: 20,
                width: Some(-100),
                height: None
            })
        );
        assert_eq!(
            parse("window=1,2,linear-exact")
                .unwrap()
                .window
                .unwrap()
                .function,
            Some(VoiFunction::LinearExact)
        );
        assert_eq!(
            parse("iccprofile=no&accept=image/png").unwrap(),
            RenderParams::default()
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert!(refused("window=40").starts_with("window:"));
        assert!(refused("window=a,400").contains("center"));
        assert!(refused("window=40,0").contains("too small"));
        assert!(refused("window=40,0.5").contains("too small"));
        assert!(parse("window=40,0.5,sigmoid").is_ok());
        assert!(refused("window=40,NaN").contains("not a number"));
        assert!(refused("window=40,inf").contains("not a number"));
        assert!(refused("window=40,400,cubic").contains("cubic"));
        assert!(refused("viewport=0,10").contains("vw"));
        assert!(refused("viewport=100000,10").contains("vw"));
        assert!(refused("viewport=10").starts_with("viewport:"));
        assert!(refused("viewport=10,10,1,2,0,5").contains("sw"));
        assert!(refused("viewport=10,10,-1,2,3,5").contains("sx"));
        assert!(refused("quality=0").starts_with("quality:"));
        assert!(refused("quality=101").starts_with("quality:"));
        assert!(refused("annotation=patient").starts_with("annotation:"));
        assert!(refused("iccprofile=srgb").starts_with("iccprofile:"));
        let thumb = |q: &str| RenderParams::parse(&QueryParams::parse(Some(q)), true);
        assert!(thumb("viewport=64,64").is_ok());
        assert_eq!(thumb("window=1,2").unwrap_err().name, "window");
    }
}
