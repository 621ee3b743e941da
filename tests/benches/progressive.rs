//! Time and bytes to a first decodable image of the demo CT, progressive byte ranges
//! against the whole frame, in one run: through `serve --cache-mb 0` (every request goes to
//! the emulator), for each of the demo CT's 64 HTJ2K slices (256 × 256), as a client that
//! decodes with OpenJPEG:
//!
//! - **whole**: GET the frame as one part, decode it at full resolution;
//! - **to level r**: GET `Range: bytes=0-1023` (the main header and its TLM segment), then,
//!   where the level ends later, the bytes up to its end, and decode that prefix at the
//!   level's reduced resolution (the way a client uses the TLM markers; Cornerstone3D asks
//!   for a fixed first range instead, the same bytes for a level that fits in it).
//!
//! It prints, per level, the median bytes and milliseconds (requests and decode) over the
//! slices, the best of `--rounds` runs (3), and the ratio to the whole frame. On loopback
//! the transfer costs almost nothing, so the time is the requests' and the decoder's; over a
//! real network the bytes ratio is what the first image saves.
//!
//! `cargo bench -p e2e --bench progressive` (options: `-- --rounds N`).

mod common;

use std::time::{Duration, Instant};

use common::arg;
use e2e::htj2k::{decode, tile_part_ends};
use e2e::{instance_paths, workspace};
use reqwest::blocking::Client;

const SINGLE_PART: &str = "image/jphc; transfer-syntax=1.2.840.10008.1.2.4.202";

fn fetch(http: &Client, url: &str, range: Option<(usize, usize)>) -> Vec<u8> {
    let mut r = http.get(url).header("accept", SINGLE_PART);
    if let Some((first, last)) = range {
        r = r.header("range", format!("bytes={first}-{last}"));
    }
    let r = r.send().expect("request");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.bytes().expect("body").to_vec()
}

/// The bytes and the time to an image of `level` (`None`: the whole frame, full size).
fn first_image(http: &Client, url: &str, level: Option<usize>) -> (usize, Duration) {
    let started = Instant::now();
    let Some(level) = level else {
        let whole = fetch(http, url, None);
        let (w, _, _) = decode(&whole, 0);
        assert_eq!(w, 256);
        return (whole.len(), started.elapsed());
    };
    let mut prefix = fetch(http, url, Some((0, 1023)));
    let (_, ends) = tile_part_ends(&prefix).expect("a main header in 1 KiB");
    let end = ends[level];
    if end > prefix.len() {
        prefix.extend(fetch(http, url, Some((prefix.len(), end - 1))));
    }
    prefix.truncate(end);
    let bytes = prefix.len();
    prefix.extend_from_slice(&[0xFF, 0xD9]);
    let reduce = (ends.len() - 1 - level) as u32;
    let (w, _, _) = decode(&prefix, reduce);
    assert_eq!(w, 256 >> reduce);
    (bytes, started.elapsed())
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let rounds = arg("--rounds", 3);
    let demo = workspace().join("demo/dicom/ct-phantom/series1-htj2k");
    let (_p, root) = common::serve_uncached(&demo);
    let urls: Vec<String> = instance_paths(&demo)
        .iter()
        .map(|i| format!("{root}/{i}/frames/1"))
        .collect();
    let http = Client::new();
    let levels = tile_part_ends(&fetch(&http, &urls[0], Some((0, 1023))))
        .expect("TLM")
        .1
        .len();
    let mut cases: Vec<Option<usize>> = (0..levels - 1).map(Some).collect();
    cases.push(None);
    for url in &urls {
        first_image(&http, url, None); // warm-up
    }
    println!(
        "first decodable image of the demo CT (64 slices, 256x256 HTJ2K RPCL), serve --cache-mb 0, best of {rounds}"
    );
    println!(
        "{:<24} {:>10} {:>9} {:>10} {:>9}",
        "image", "bytes", "of whole", "ms", "of whole"
    );
    let mut results = Vec::new();
    for case in &cases {
        let mut best: Option<(usize, Duration)> = None;
        for _ in 0..rounds {
            let runs: Vec<(usize, Duration)> =
                urls.iter().map(|u| first_image(&http, u, *case)).collect();
            let m = (
                median(runs.iter().map(|r| r.0).collect()),
                median(runs.iter().map(|r| r.1).collect()),
            );
            best = Some(match best {
                Some(b) if b.1 <= m.1 => b,
                _ => m,
            });
        }
        results.push((*case, best.expect("a round")));
    }
    let (whole_bytes, whole_time) = results.last().expect("whole").1;
    for (case, (bytes, time)) in &results {
        let name = match case {
            Some(l) => {
                let side = 256 >> (levels - 1 - l);
                format!("level {l} ({side}x{side})")
            }
            None => "whole frame (256x256)".to_owned(),
        };
        println!(
            "{name:<24} {bytes:>10} {:>8.1}% {:>10.2} {:>8.1}%",
            100.0 * *bytes as f64 / whole_bytes as f64,
            time.as_secs_f64() * 1e3,
            100.0 * time.as_secs_f64() / whole_time.as_secs_f64()
        );
    }
}
