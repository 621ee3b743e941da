//! RLE Lossless (PS3.5 Annex G) for every Bits Allocated DICOM uses with it: 8, 16, 32 and
//! 64. Written here because it is small and the registry's reader takes only 8 and 16 bits
//! (a 32-bit dose grid or RGB image stored RLE would not decode), and one decoder for every
//! depth keeps one rule.
//!
//! A frame is a 64-byte header (the number of segments, then up to 15 offsets from the
//! frame's start) and the segments, each a byte plane compressed with the PackBits scheme of
//! G.3.1: one segment per byte of each sample, the samples in order and each sample's bytes
//! from the most significant (G.2). Decoded frames are native pixel data: samples
//! interleaved, little endian.

/// Decodes one RLE frame of `rows × columns` pixels of `samples` samples, `bytes` bytes each.
pub fn decode(
    frame: &[u8],
    rows: usize,
    columns: usize,
    samples: usize,
    bytes: usize,
) -> Result<Vec<u8>, String> {
    let header = frame
        .get(..64)
        .ok_or("the frame is shorter than its 64-byte RLE header")?;
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let segments = word(0) as usize;
    let expected = samples * bytes;
    if segments != expected {
        return Err(format!(
            "{segments} RLE segments where {samples} samples of {bytes} bytes need {expected}"
        ));
    }
    if segments > 15 {
        return Err(format!("{segments} RLE segments, at most 15 allowed"));
    }
    let offsets: Vec<usize> = (0..segments).map(|s| word(4 + 4 * s) as usize).collect();
    let pixels = rows * columns;
    let mut out = vec![0u8; pixels * expected];
    let mut plane = Vec::with_capacity(pixels);
    for (s, &start) in offsets.iter().enumerate() {
        let end = offsets.get(s + 1).copied().unwrap_or(frame.len());
        let data = frame
            .get(start..end.max(start))
            .filter(|_| start >= 64 && end <= frame.len())
            .ok_or_else(|| format!("RLE segment {} lies outside the frame", s + 1))?;
        plane.clear();
        unpack_bits(data, pixels, &mut plane)?;
        // Segment s holds byte (bytes - 1 - s % bytes) of sample s / bytes, little endian.
        let (sample, byte) = (s / bytes, bytes - 1 - s % bytes);
        let at = sample * bytes + byte;
        for (i, &b) in plane.iter().enumerate() {
            out[i * expected + at] = b;
        }
    }
    Ok(out)
}

/// G.3.1: a header byte n of 0..=127 copies the next n + 1 bytes, -1..=-127 repeats the next
/// byte 1 - n times, -128 does nothing. A segment may end with a padding byte, so decoding
/// stops once `len` bytes are out.
fn unpack_bits(mut data: &[u8], len: usize, out: &mut Vec<u8>) -> Result<(), String> {
    while out.len() < len {
        let Some((&n, rest)) = data.split_first() else {
            return Err(format!(
                "an RLE segment decodes to {} bytes where {len} are needed",
                out.len()
            ));
        };
        let n = n as i8;
        data = rest;
        match n {
            0..=127 => {
                let count = n as usize + 1;
                let literal = data
                    .get(..count)
                    .ok_or("an RLE literal run goes past its segment")?;
                out.extend_from_slice(literal);
                data = &data[count..];
            }
            -127..=-1 => {
                let (&b, rest) = data
                    .split_first()
                    .ok_or("an RLE replicate run goes past its segment")?;
                out.extend(std::iter::repeat_n(b, (1 - i16::from(n)) as usize));
                data = rest;
            }
            -128 => {}
        }
    }
    out.truncate(len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(segments: &[&[u8]]) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut at = 64u32;
        let mut body = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            header[4 + 4 * i..8 + 4 * i].copy_from_slice(&at.to_le_bytes());
            body.extend_from_slice(s);
            at += s.len() as u32;
        }
        header.extend(body);
        header
    }

    #[test]
    fn packbits_runs_and_literals() {
        let mut out = Vec::new();
        // Literal of 2, a run of 3 × 7, a no-op, literal of 1, and a padding byte.
        unpack_bits(&[1, 10, 20, (-2i8) as u8, 7, 0x80, 0, 9, 0], 6, &mut out).unwrap();
        assert_eq!(out, [10, 20, 7, 7, 7, 9]);
        assert!(unpack_bits(&[5, 1], 6, &mut Vec::new()).is_err());
    }

    #[test]
    fn planes_become_little_endian_interleaved_samples() {
        // One 32-bit sample per pixel, two pixels: 0x01020304 and 0x0A0B0C0D.
        let planes: [&[u8]; 4] = [&[1, 1, 0x0A], &[1, 2, 0x0B], &[1, 3, 0x0C], &[1, 4, 0x0D]];
        let out = decode(&frame(&planes), 1, 2, 1, 4).unwrap();
        assert_eq!(out, [4, 3, 2, 1, 0x0D, 0x0C, 0x0B, 0x0A]);
        // RGB, 8 bits: segments R, G, B.
        let planes: [&[u8]; 3] = [&[0, 10], &[0, 20], &[0, 30]];
        assert_eq!(decode(&frame(&planes), 1, 1, 3, 1).unwrap(), [10, 20, 30]);
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert!(decode(&[0; 10], 1, 1, 1, 1).is_err());
        let planes: [&[u8]; 1] = [&[0, 1]];
        let e = decode(&frame(&planes), 1, 1, 1, 2).unwrap_err();
        assert!(
            e.contains("2 bytes need 2") || e.contains("segments"),
            "{e}"
        );
        let mut bad = frame(&planes);
        bad[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert!(decode(&bad, 1, 1, 1, 1).is_err());
    }
}
