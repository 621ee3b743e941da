//! JPEG with 9 to 12 bits per sample (the DCT processes 2 and 4 of JPEG Extended, transfer
//! syntax 1.2.840.10008.1.2.4.51, PS3.5 §8.2.1), which neither `jpeg-decoder` nor any other
//! Rust decoder takes: decoded by libjpeg-turbo 3 (`tj3Decompress12`), built from the source
//! `turbojpeg-sys` carries.
//!
//! The codestream's own header must describe the instance's frame (size, components,
//! precision) before anything is allocated, and libjpeg-turbo is told the most pixels it may
//! decode, so a stored frame that claims another size is refused rather than decoded.
//! Colour: libjpeg converts YCbCr to RGB when the codestream says (or implies, by its
//! markers) that it holds YCbCr, as for the 8-bit processes (see the module above).
//! A sequential process codes all 64 coefficients of each block whatever its scan header's
//! spectral selection says (ITU-T T.81 §B.2.3: Ss 0, Se 63, Ah and Al 0 for sequential
//! DCT). Some encoders wrote other values there; the IJG library that DCMTK uses ignores
//! them, but libjpeg-turbo takes Se as the last coefficient and decodes a wrong image with
//! only a warning. So those fields are set to what a sequential scan means before decoding,
//! and any other warning stops decoding rather than serving what it made.

use turbojpeg_sys as tj;

/// A TurboJPEG decompressor, destroyed when dropped.
struct Handle(tj::tjhandle);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

impl Handle {
    fn error(&self) -> String {
        // SAFETY: tj3GetErrorStr returns a NUL-terminated string owned by the handle (or a
        // static one), valid until the next call on it.
        unsafe {
            let s = tj::tj3GetErrorStr(self.0);
            if s.is_null() {
                return "libjpeg-turbo failed".into();
            }
            std::ffi::CStr::from_ptr(s).to_string_lossy().into_owned()
        }
    }

    fn get(&self, param: tj::TJPARAM) -> i32 {
        // SAFETY: a valid handle; tj3Get reads a parameter.
        unsafe { tj::tj3Get(self.0, param as i32) }
    }
}

/// Decodes one frame of `rows × columns` pixels with `samples` components (1 or 3) to native
/// pixel data: 16-bit little-endian samples, interleaved.
pub fn decode(codestream: &[u8], rows: u16, columns: u16, samples: u16) -> Result<Vec<u8>, String> {
    let format = match samples {
        1 => tj::TJPF_TJPF_GRAY,
        3 => tj::TJPF_TJPF_RGB,
        n => {
            return Err(format!(
                "{n} samples per pixel are not decoded from 12-bit JPEG"
            ));
        }
    };
    // SAFETY: tj3Init has no preconditions; a null handle is an error.
    let handle = Handle(unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as i32) });
    if handle.0.is_null() {
        return Err("libjpeg-turbo could not start a decompressor".into());
    }
    let codestream = &*sequential_scans_in_full(codestream);
    let pixels = usize::from(rows) * usize::from(columns);
    // SAFETY: valid handle and buffer; the header call only reads `codestream`.
    let header = unsafe {
        tj::tj3Set(
            handle.0,
            tj::TJPARAM_TJPARAM_MAXPIXELS as i32,
            pixels.max(1) as i32,
        );
        tj::tj3Set(handle.0, tj::TJPARAM_TJPARAM_STOPONWARNING as i32, 1);
        tj::tj3DecompressHeader(handle.0, codestream.as_ptr(), codestream.len() as _)
    };
    if header != 0 {
        return Err(handle.error());
    }
    let (width, height) = (
        handle.get(tj::TJPARAM_TJPARAM_JPEGWIDTH),
        handle.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT),
    );
    let precision = handle.get(tj::TJPARAM_TJPARAM_PRECISION);
    if (width, height) != (i32::from(columns), i32::from(rows)) {
        return Err(format!(
            "the codestream is {width}x{height}, the instance {columns}x{rows}"
        ));
    }
    if !(9..=12).contains(&precision) {
        return Err(format!(
            "the codestream has {precision}-bit samples, not 9 to 12"
        ));
    }
    let mut out = vec![0i16; pixels * usize::from(samples)];
    // SAFETY: `out` holds width × height × samples 16-bit samples, the size tj3Decompress12
    // writes for this pixel format with pitch 0 (rows packed), checked against the header.
    let status = unsafe {
        tj::tj3Decompress12(
            handle.0,
            codestream.as_ptr(),
            codestream.len() as _,
            out.as_mut_ptr(),
            0,
            format as i32,
        )
    };
    if status != 0 {
        return Err(handle.error());
    }
    Ok(out.iter().flat_map(|s| s.to_le_bytes()).collect())
}

/// The codestream with the spectral selection and successive approximation of every scan
/// of a sequential frame (SOF0, SOF1) set to 0, 63 and 0, where they are not already.
fn sequential_scans_in_full(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut sequential = false;
    for s in super::header::jpeg_segments(data) {
        sequential |= matches!(s.marker, 0xC0 | 0xC1);
        if s.marker != 0xDA {
            continue;
        }
        // Ns, then Ns component selectors of 2 bytes, then Ss, Se, Ah|Al.
        let fields = 1 + 2 * usize::from(*s.body.first().unwrap_or(&0));
        if sequential
            && s.body
                .get(fields..fields + 3)
                .is_some_and(|f| f != [0, 63, 0])
        {
            let at = s.at + 4 + fields;
            let mut out = data.to_vec();
            out[at..at + 3].copy_from_slice(&[0, 63, 0]);
            return std::borrow::Cow::Owned(out);
        }
    }
    std::borrow::Cow::Borrowed(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_what_is_wrong() {
        assert!(decode(b"not a jpeg", 2, 2, 1).is_err());
        assert!(decode(&[], 2, 2, 1).is_err());
        assert!(
            decode(&[0xFF, 0xD8], 2, 2, 2)
                .unwrap_err()
                .contains("2 samples")
        );
    }

    #[test]
    fn sequential_scans_are_read_in_full() {
        // SOI, SOF1 (length 2, no body), SOS with one component and Ss 0, Se 0, Ah|Al 0.
        let stream = [
            0xFF, 0xD8, 0xFF, 0xC1, 0, 2, 0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0, 0, 9,
        ];
        let fixed = sequential_scans_in_full(&stream);
        assert_eq!(&fixed[13..16], &[0, 63, 0]);
        assert_eq!(fixed.len(), stream.len());
        // A progressive frame (SOF2) keeps its scan's fields.
        let mut progressive = stream;
        progressive[3] = 0xC2;
        assert_eq!(&*sequential_scans_in_full(&progressive), &progressive[..]);
    }
}
