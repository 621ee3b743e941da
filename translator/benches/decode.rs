//! Per-frame decode time of the transform step (HTJ2K → Explicit VR LE) on one codestream,
//! for scripts/bench-decode.sh, which runs OpenJPH on the same codestream in the same run.
//!
//! Usage: cargo bench -p translator --bench decode -- FILE.j2c ROWS COLUMNS ITERATIONS
//! Prints the mean time per frame in microseconds.

use std::time::Instant;

use translator::plan::PixelModule;
use translator::transcode::decode_frame;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [file, rows, columns, iterations] = args.as_slice() else {
        eprintln!("usage: decode FILE.j2c ROWS COLUMNS ITERATIONS");
        std::process::exit(2);
    };
    let codestream = std::fs::read(file).expect("read the codestream");
    let number = |s: &str| s.parse::<u32>().expect("a number");
    let pixel = PixelModule {
        rows: number(rows) as u16,
        columns: number(columns) as u16,
        samples_per_pixel: 1,
        bits_allocated: 16,
        bits_stored: 16,
        pixel_representation: 0,
        photometric_interpretation: "MONOCHROME2".into(),
        planar_configuration: 0,
    };
    let ts = dicomweb::TransferSyntax::HTJ2K_RPCL_LOSSLESS;
    let n = number(iterations);
    let start = Instant::now();
    for _ in 0..n {
        let out = decode_frame(&ts, &pixel, &codestream, u64::MAX).expect("decodes");
        std::hint::black_box(out);
    }
    println!("{:.1}", start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
}
