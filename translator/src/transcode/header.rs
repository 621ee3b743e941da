//! The image size a frame's codestream declares, read from its header before any decoder
//! sees it: a decoder allocates what the codestream says, so a stored frame that claims
//! another size than its instance is refused here instead (PS3.5 §8.2: the codestream and
//! the Image Pixel module describe the same image).

/// Columns, rows and components a codestream's header declares, for the JPEG family (the
/// SOFn of ITU-T T.81 §B.2.2, and SOF55 of JPEG-LS, T.87 §C.2.2) and JPEG 2000 / HTJ2K (the
/// SIZ segment, ISO/IEC 15444-1 §A.5.1); `None` for other syntaxes or a header not found.
pub fn declared_size(syntax: &str, data: &[u8]) -> Option<(u32, u32, u32)> {
    let jpeg = syntax.starts_with("1.2.840.10008.1.2.4.5")
        || syntax.starts_with("1.2.840.10008.1.2.4.7")
        || syntax.starts_with("1.2.840.10008.1.2.4.8");
    let j2k =
        syntax.starts_with("1.2.840.10008.1.2.4.9") || syntax.starts_with("1.2.840.10008.1.2.4.20");
    if jpeg {
        jpeg_frame_header(data)
    } else if j2k {
        siz(data)
    } else {
        None
    }
}

fn be16(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *data.get(at)?,
        *data.get(at + 1)?,
    ])))
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// A JPEG-family marker segment: its marker code, the offset of its `FF` in the codestream,
/// and its body (after the two-byte length).
pub struct Segment<'a> {
    pub marker: u8,
    pub at: usize,
    pub body: &'a [u8],
}

/// The marker segments of a JPEG or JPEG-LS codestream from SOI up to and including the
/// first SOS (ITU-T T.81 §B.1.1.4: `FF`, the code, a length that counts itself), fill bytes
/// skipped; nothing for a codestream that does not start with SOI, and no more at the first
/// byte that does not start a segment or a segment that runs past the end.
pub fn jpeg_segments(data: &[u8]) -> impl Iterator<Item = Segment<'_>> {
    let mut at = if data.starts_with(&[0xFF, 0xD8]) {
        2
    } else {
        data.len()
    };
    std::iter::from_fn(move || {
        while data.get(at) == Some(&0xFF) && data.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if data.get(at) != Some(&0xFF) {
            return None;
        }
        let marker = *data.get(at + 1)?;
        let len = usize::try_from(be16(data, at + 2)?).ok()?;
        let body = data.get(at + 4..(at + 2 + len).max(at + 4))?;
        let segment = Segment { marker, at, body };
        at = if marker == 0xDA {
            data.len()
        } else {
            at + 2 + len
        };
        Some(segment)
    })
}

/// Whether `marker` starts a frame header: SOF0–SOF15 but DHT, JPG and DAC, or SOF55 (JPEG-LS).
pub fn is_frame_header(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC)) || marker == 0xF7
}

/// The first frame header: precision, lines, samples per line, components.
fn jpeg_frame_header(data: &[u8]) -> Option<(u32, u32, u32)> {
    let frame = jpeg_segments(data).find(|s| is_frame_header(s.marker))?;
    let (rows, columns) = (be16(frame.body, 1)?, be16(frame.body, 3)?);
    Some((columns, rows, u32::from(*frame.body.get(5)?)))
}

/// SIZ, which follows SOC: its image extent less its offset.
fn siz(data: &[u8]) -> Option<(u32, u32, u32)> {
    if !data.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return None;
    }
    // SOC, SIZ marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz.
    let (x, y) = (be32(data, 8)?, be32(data, 12)?);
    let (xo, yo) = (be32(data, 16)?, be32(data, 20)?);
    let components = be16(data, 40)?;
    Some((x.checked_sub(xo)?, y.checked_sub(yo)?, components))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_from_jpeg_jpeg_ls_and_jpeg_2000_headers() {
        // SOI, APP0 (length 4), SOF1: length 11, P 12, Y 300, X 200, Nf 1, one component.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC1, 0, 11, 12, 1, 44, 0, 200, 1, 1, 0x11, 0,
        ];
        assert_eq!(
            declared_size("1.2.840.10008.1.2.4.51", &jpeg),
            Some((200, 300, 1))
        );
        let mut jls = jpeg;
        jls[9] = 0xF7;
        assert_eq!(
            declared_size("1.2.840.10008.1.2.4.80", &jls),
            Some((200, 300, 1))
        );
        // SOC, SIZ: Lsiz, Rsiz, Xsiz 30000, Ysiz 20000, offsets 0, tiles…, Csiz 3.
        let mut j2k = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 47, 0, 0];
        for v in [30000u32, 20000, 0, 0, 30000, 20000, 0, 0] {
            j2k.extend_from_slice(&v.to_be_bytes());
        }
        j2k.extend_from_slice(&3u16.to_be_bytes());
        assert_eq!(
            declared_size("1.2.840.10008.1.2.4.202", &j2k),
            Some((30000, 20000, 3))
        );
        assert_eq!(declared_size("1.2.840.10008.1.2.4.90", b"junk"), None);
        // Segments stop at the first scan, and at a length that runs past the end.
        let markers: Vec<u8> = jpeg_segments(&jpeg).map(|s| s.marker).collect();
        assert_eq!(markers, [0xE0, 0xC1]);
        assert_eq!(jpeg_segments(&jpeg[..10]).count(), 1);
        assert_eq!(declared_size("1.2.840.10008.1.2.5", &jpeg), None);
    }
}
