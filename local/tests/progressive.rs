//! Progressive HTJ2K: the demo's HTJ2K Lossless RPCL frames (1.2.840.10008.1.2.4.202) hold
//! one tile-part per resolution level, listed in the main header's TLM segment (PS3.5
//! §8.2.15; ITU-T T.800 §A.7.1). A client reads the first bytes of a frame with `Range`, finds
//! in the TLM segment where each lower-resolution image ends, and decodes that prefix alone.
//! Here OpenJPEG (not the encoder, OpenJPH) decodes every prefix, asked for through the edge
//! as a byte range, at its reduced resolution, and must give exactly the pixels it gives for
//! the whole frame at that resolution.

mod common;

use common::*;
use dicomweb_edge::stack::RunningStack;

const SINGLE_PART: &str = "image/jphc; transfer-syntax=1.2.840.10008.1.2.4.202";

/// The end of the main header and, from its TLM segment, where each tile-part ends: one
/// per resolution level, lowest first. `None` when `prefix` holds no whole main header.
fn tile_part_ends(prefix: &[u8]) -> Option<(usize, Vec<usize>)> {
    let u16_at = |at: usize| Some(u16::from_be_bytes(prefix.get(at..at + 2)?.try_into().ok()?));
    let mut at = 2;
    let mut lengths = Vec::new();
    loop {
        let marker = u16_at(at)?;
        if marker == 0xFF90 {
            break;
        }
        let len = u16_at(at + 2)? as usize;
        if marker == 0xFF55 {
            // Ztlm, Stlm = 0x60 (16-bit Ttlm, 32-bit Ptlm), then the entries.
            assert_eq!(prefix[at + 5], 0x60, "TLM layout");
            for e in prefix[at + 6..at + 2 + len].chunks_exact(6) {
                lengths.push(u32::from_be_bytes(e[2..6].try_into().ok()?) as usize);
            }
        }
        at += 2 + len;
    }
    let ends = lengths
        .iter()
        .scan(at, |end, l| {
            *end += l;
            Some(*end)
        })
        .collect();
    Some((at, ends))
}

/// Width, height and samples of `codestream` decoded by OpenJPEG `reduce` levels down.
fn decode(codestream: &[u8], reduce: u32) -> (u32, u32, Vec<i32>) {
    let params = jpeg2k::DecodeParameters::new().reduce(reduce);
    let image = jpeg2k::Image::from_bytes_with(codestream, params).expect("OpenJPEG decodes");
    let c = &image.components()[0];
    (c.width(), c.height(), c.data().to_vec())
}

async fn range(s: &RunningStack, path: &str, first: usize, last: usize) -> (String, Vec<u8>) {
    let resp = http()
        .get(format!("{}{path}", s.base_url))
        .header("accept", SINGLE_PART)
        .header("range", format!("bytes={first}-{last}"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 206, "{path} bytes={first}-{last}");
    let content_range = header(resp.headers(), "content-range").to_owned();
    (content_range, resp.bytes().await.expect("body").to_vec())
}

/// Checks one frame; returns the bytes up to the end of each resolution level.
async fn check_frame(s: &RunningStack, path: &str, whole: &[u8]) -> Vec<usize> {
    // The main header is short: the first 1 KiB holds it, TLM segment included.
    let (content_range, head) = range(s, path, 0, 1023).await;
    assert_eq!(content_range, format!("bytes 0-1023/{}", whole.len()));
    let (header_len, ends) = tile_part_ends(&head).expect("a main header in 1 KiB");
    assert!(header_len < 1024);
    assert!(ends.len() >= 5, "{path}: {} tile-parts in TLM", ends.len());
    let levels = ends.len() as u32 - 1;
    // The tile-parts cover the codestream up to its EOC marker (then, in an odd-length
    // codestream, the pad byte that makes a DICOM fragment even).
    let last = *ends.last().unwrap();
    assert_eq!(&whole[last..last + 2], &[0xFF, 0xD9], "{path}");
    assert!(whole.len() - last <= 3, "{path}");
    let (full_w, full_h, _) = decode(whole, 0);
    for (r, &end) in ends.iter().enumerate() {
        let (_, mut prefix) = range(s, path, 0, end - 1).await;
        assert_eq!(&prefix[..], &whole[..end]);
        prefix.extend_from_slice(&[0xFF, 0xD9]);
        let reduce = levels - r as u32;
        let got = decode(&prefix, reduce);
        let want = decode(whole, reduce);
        assert_eq!(
            (got.0, got.1),
            (full_w.div_ceil(1 << reduce), full_h.div_ceil(1 << reduce)),
            "{path} level {r}"
        );
        assert!(
            got == want,
            "{path}: the first {end} bytes decode differently"
        );
    }
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_bytes_of_an_htj2k_frame_decode_to_a_lower_resolution() {
    let s = start_demo(|_| {}).await;
    let ct = demo_series(&s, "Axial 3mm HTJ2K");
    assert_eq!(ct.len(), 64);
    let mut report = Vec::new();
    for i in &ct {
        let path = i.frames_path("1");
        let (status, _, whole) = get(&s, &path, Some(SINGLE_PART)).await;
        assert_eq!(status, 200);
        report.push(check_frame(&s, &path, &whole).await);
    }
    let cine = &demo_series(&s, "Rotating phantom cine")[0];
    for n in 1..=cine.frames.len() {
        let path = cine.frames_path(&n.to_string());
        let (status, _, whole) = get(&s, &path, Some(SINGLE_PART)).await;
        assert_eq!(status, 200);
        check_frame(&s, &path, &whole).await;
    }
    // Bytes up to each level of the CT (256 × 256), for the docs: the median over its slices.
    for r in 0..report[0].len() {
        let mut k: Vec<usize> = report.iter().map(|e| e[r]).collect();
        k.sort_unstable();
        let side = 256 >> (report[0].len() - 1 - r);
        eprintln!(
            "CT level {r} ({side}x{side}): median {} bytes of a frame",
            k[k.len() / 2]
        );
    }
}
