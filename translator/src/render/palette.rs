//! Palette colour (PS3.3 C.7.6.3.1.5, C.7.9): the Red, Green and Blue Palette Color Lookup
//! Tables that map each stored value of a PALETTE COLOR image to a colour, given whole or as
//! segments (C.7.9.2). Written here because dicom-pixeldata 0.10 renders palette images as
//! their grey indices; the rules are those pydicom's `apply_color_lut` follows.

use dicom_core::Tag;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// A palette: for each channel, the 8-bit colour of each table entry, and the stored value
/// the first entry maps.
pub struct Palette {
    first: i64,
    channels: [Vec<u8>; 3],
}

impl Palette {
    /// The palette of `obj` (whole tables, else segmented ones), or why there is none.
    pub fn of(obj: &InMemDicomObject) -> Result<Self, String> {
        let descriptors = [
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        ];
        let whole = [
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        ];
        let segmented = [
            tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        ];
        let mut first = 0;
        let mut channels: [Vec<u8>; 3] = Default::default();
        for c in 0..3 {
            let d = numbers(obj, descriptors[c])
                .filter(|d| d.len() == 3)
                .ok_or("the palette has no Lookup Table Descriptor of three values")?;
            // The number of entries, 0 meaning 2^16; the first stored value mapped; the bits
            // of each entry (8 or 16).
            let entries = if d[0] == 0 { 65536 } else { d[0] as usize };
            let bits = u32::try_from(d[2])
                .ok()
                .filter(|b| (1..=16).contains(b))
                .ok_or("the palette's entries are not 1 to 16 bits")?;
            first = d[1];
            let values = match (bytes(obj, whole[c]), bytes(obj, segmented[c])) {
                (Some(data), _) => entries_of(&data, entries, bits),
                (None, Some(data)) => expand_segments(&words(&data), 0, None, None)?,
                (None, None) => return Err("the palette has no Lookup Table Data".into()),
            };
            let top = f64::from((1u32 << bits) - 1);
            channels[c] = values
                .iter()
                .map(|&v| (f64::from(v) / top * 255.0).round().clamp(0.0, 255.0) as u8)
                .collect();
        }
        if channels.iter().any(Vec::is_empty) {
            return Err("the palette's tables are empty".into());
        }
        Ok(Self { first, channels })
    }

    /// The colour of stored value `v`: values below the first mapped one take the first
    /// entry, values past the last the last (C.7.6.3.1.5).
    pub fn rgb(&self, v: i64) -> [u8; 3] {
        [0, 1, 2].map(|c| {
            let t = &self.channels[c];
            let i = (v - self.first).clamp(0, t.len() as i64 - 1) as usize;
            t[i]
        })
    }
}

/// An attribute's numbers (US or SS; a descriptor's second value is either).
fn numbers(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<i64>> {
    match obj.get(tag)?.value() {
        Value::Primitive(PrimitiveValue::U16(v)) => Some(v.iter().map(|&x| i64::from(x)).collect()),
        Value::Primitive(PrimitiveValue::I16(v)) => {
            // A descriptor read as SS: its entry count and bits are unsigned all the same.
            Some(v.iter().map(|&x| i64::from(x as u16)).collect())
        }
        Value::Primitive(p) => p.to_multi_int::<i64>().ok(),
        _ => None,
    }
}

/// A binary attribute's bytes in little endian (DICOM JSON gives them as bytes).
fn bytes(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<u8>> {
    match obj.get(tag)?.value() {
        Value::Primitive(PrimitiveValue::U8(v)) => Some(v.to_vec()),
        Value::Primitive(PrimitiveValue::U16(v)) => {
            Some(v.iter().flat_map(|w| w.to_le_bytes()).collect())
        }
        _ => None,
    }
}

fn words(data: &[u8]) -> Vec<u16> {
    data.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// A whole table's entries: 16-bit words, or (retired, C.7.6.3.1.6) one byte per entry when
/// the entries have 8 bits and the data is exactly that long.
fn entries_of(data: &[u8], entries: usize, bits: u32) -> Vec<u16> {
    if bits == 8 && data.len() == entries {
        return data.iter().map(|&b| u16::from(b)).collect();
    }
    let mut w = words(data);
    w.truncate(entries);
    w
}

/// C.7.9.2: discrete segments (0) copy values, linear ones (1) run from the last value to a
/// new one, indirect ones (2) replay segments found at a word offset. `limit` segments at
/// most (indirect), continuing from `last`.
fn expand_segments(
    data: &[u16],
    start: usize,
    limit: Option<usize>,
    last: Option<u16>,
) -> Result<Vec<u16>, String> {
    let mut lut: Vec<u16> = Vec::new();
    let mut at = start;
    let mut segments = 0;
    let short = || "a segmented palette table ends inside a segment".to_string();
    while at + 1 < data.len() && limit.is_none_or(|l| segments < l) {
        let (opcode, length) = (data[at], usize::from(data[at + 1]));
        at += 2;
        match opcode {
            0 => {
                lut.extend(data.get(at..at + length).ok_or_else(short)?);
                at += length;
            }
            1 => {
                let y0 = lut
                    .last()
                    .copied()
                    .or(last)
                    .ok_or("a segmented palette table starts with a linear segment")?;
                let y1 = *data.get(at).ok_or_else(short)?;
                at += 1;
                let (y0, y1) = (f64::from(y0), f64::from(y1));
                lut.extend(
                    (1..=length).map(|i| {
                        (y0 + (y1 - y0) * i as f64 / length as f64).round_ties_even() as u16
                    }),
                );
            }
            2 => {
                let last = lut
                    .last()
                    .copied()
                    .ok_or("a segmented palette table starts with an indirect segment")?;
                let (lo, hi) = (
                    *data.get(at).ok_or_else(short)?,
                    *data.get(at + 1).ok_or_else(short)?,
                );
                at += 2;
                let offset = (usize::from(hi) << 16) | usize::from(lo);
                if offset >= data.len() || depth_exceeded(limit) {
                    return Err(
                        "a segmented palette table's indirect segment points outside it".into(),
                    );
                }
                lut.extend(expand_segments(data, offset, Some(length), Some(last))?);
            }
            n => {
                return Err(format!(
                    "a segmented palette table has a segment of type {n}"
                ));
            }
        }
        segments += 1;
        if lut.len() > 65536 {
            return Err("a segmented palette table expands past 65536 entries".into());
        }
    }
    Ok(lut)
}

/// Indirect segments within indirect segments are not followed (C.7.9.2.3 allows none).
fn depth_exceeded(limit: Option<usize>) -> bool {
    limit.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_expand_as_the_standard_describes() {
        // Discrete 0, 100; linear to 200 in 4; indirect: replay 1 segment at word 0.
        let data = [0, 2, 0, 100, 1, 4, 200, 2, 1, 0, 0];
        let lut = expand_segments(&data, 0, None, None).unwrap();
        assert_eq!(lut, [0, 100, 125, 150, 175, 200, 0, 100]);
        assert!(expand_segments(&[1, 2, 5], 0, None, None).is_err());
        assert!(expand_segments(&[0, 5, 1], 0, None, None).is_err());
        assert!(expand_segments(&[0, 1, 7, 2, 1, 99, 0], 0, None, None).is_err());
    }

    #[test]
    fn entries_are_words_or_retired_bytes() {
        assert_eq!(entries_of(&[1, 0, 2, 0], 2, 16), [1, 2]);
        assert_eq!(entries_of(&[1, 2], 2, 8), [1, 2]);
        assert_eq!(entries_of(&[1, 0, 2, 0], 2, 8), [1, 2]);
    }
}
