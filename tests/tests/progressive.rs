//! Progressive HTJ2K through `serve`: the demo's HTJ2K Lossless RPCL frames
//! (1.2.840.10008.1.2.4.202) hold one tile-part per resolution level, listed in the main
//! header's TLM segment (PS3.5 §8.2.15; ITU-T T.800 §A.7.1). A client reads the first bytes
//! of a frame with `Range`, finds in the TLM segment where each lower resolution ends, and
//! decodes that prefix alone. Here OpenJPEG (not the encoder, OpenJPH) decodes every prefix,
//! asked for as a byte range, at its reduced resolution, and must give exactly the pixels it
//! gives for the whole frame at that resolution.

use e2e::htj2k::{decode, tile_part_ends};
use e2e::{Process, instance_paths, workspace};
use reqwest::blocking::Client;

const SINGLE_PART: &str = "image/jphc; transfer-syntax=1.2.840.10008.1.2.4.202";

fn get(http: &Client, url: &str, range: Option<(usize, usize)>) -> (u16, Option<String>, Vec<u8>) {
    let mut r = http.get(url).header("accept", SINGLE_PART);
    if let Some((first, last)) = range {
        r = r.header("range", format!("bytes={first}-{last}"));
    }
    let r = r.send().expect("request");
    let status = r.status().as_u16();
    let content_range = r
        .headers()
        .get("content-range")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, content_range, r.bytes().expect("body").to_vec())
}

/// Checks one frame; returns the bytes up to the end of each resolution level.
fn check_frame(http: &Client, url: &str) -> Vec<usize> {
    let (status, _, whole) = get(http, url, None);
    assert_eq!(status, 200, "{url}");
    // The main header is short: the first 1 KiB holds it, TLM segment included.
    let (status, content_range, head) = get(http, url, Some((0, 1023)));
    assert_eq!(status, 206);
    assert_eq!(content_range, Some(format!("bytes 0-1023/{}", whole.len())));
    let (header_len, ends) = tile_part_ends(&head).expect("a main header in 1 KiB");
    assert!(header_len < 1024);
    assert!(ends.len() >= 5, "{url}: {} tile-parts in TLM", ends.len());
    let levels = ends.len() as u32 - 1;
    // The tile-parts cover the codestream up to its EOC marker (then, in an odd-length
    // codestream, the pad byte that makes a DICOM fragment even).
    let last = *ends.last().unwrap();
    assert_eq!(&whole[last..last + 2], &[0xFF, 0xD9], "{url}");
    assert!(whole.len() - last <= 3, "{url}");
    let (full_w, full_h, _) = decode(&whole, 0);
    for (r, &end) in ends.iter().enumerate() {
        let (status, _, mut prefix) = get(http, url, Some((0, end - 1)));
        assert_eq!(status, 206);
        assert_eq!(&prefix[..], &whole[..end]);
        prefix.extend_from_slice(&[0xFF, 0xD9]);
        let reduce = levels - r as u32;
        let got = decode(&prefix, reduce);
        let want = decode(&whole, reduce);
        assert_eq!(
            (got.0, got.1),
            (full_w.div_ceil(1 << reduce), full_h.div_ceil(1 << reduce)),
            "{url} level {r}"
        );
        assert!(
            got == want,
            "{url}: the first {end} bytes decode differently"
        );
    }
    ends
}

#[test]
fn the_first_bytes_of_an_htj2k_frame_decode_to_a_lower_resolution() {
    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--no-viewer",
        ],
        &[],
    );
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);
    let http = Client::new();
    let demo = workspace().join("demo/dicom/ct-phantom");
    let ct = instance_paths(&demo.join("series1-htj2k"));
    assert_eq!(ct.len(), 64);
    let report: Vec<Vec<usize>> = ct
        .iter()
        .map(|i| check_frame(&http, &format!("{root}/{i}/frames/1")))
        .collect();
    let cine = instance_paths(&demo.join("series3-multiframe"));
    for n in 1..=36 {
        check_frame(&http, &format!("{root}/{}/frames/{n}", cine[0]));
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
