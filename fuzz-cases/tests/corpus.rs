//! The fuzz targets in the test suite, bounded: every committed corpus input
//! (`fuzz/corpus/{target}/`: the seeds and what coverage-guided runs kept), then a fixed
//! number of deterministic mutations of them (bit flips, byte edits, truncations, splices),
//! through each target's body. No coverage guidance here (that needs the instrumented
//! build of `fuzz/`, a documented longer command); this keeps everything a long run found
//! tested on every run, and a panic names the target and the input.

use std::path::PathBuf;

/// Mutations per target in a test run.
const MUTATIONS: usize = 4000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    inputs.sort();
    inputs.into_iter().map(|(_, b)| b).collect()
}

/// xorshift64*: the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"%",
    b"%00",
    b"%zz",
    b"&",
    b"=",
    b",",
    b";",
    b"\"",
    b"\\",
    b"*",
    b"-",
    b"..",
    b"\r\n",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\xfe\xff\x00\xe0",
    b"18446744073709551616",
    b"-1",
    b"0",
    b"4294967295",
];

fn mutate(rng: &mut Rng, inputs: &[Vec<u8>]) -> Vec<u8> {
    let mut b = inputs[rng.below(inputs.len())].clone();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 if !b.is_empty() => {
                let i = rng.below(b.len());
                b.truncate(i);
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len());
                let n = rng.below(b.len() - i + 1);
                b.drain(i..i + n);
            }
            4 => {
                let i = rng.below(b.len() + 1);
                let tok = INTERESTING[rng.below(INTERESTING.len())];
                b.splice(i..i, tok.iter().copied());
            }
            5 => {
                let other = &inputs[rng.below(inputs.len())];
                let i = rng.below(b.len() + 1);
                let j = rng.below(other.len() + 1);
                b.truncate(i);
                b.extend_from_slice(&other[j..]);
            }
            _ => {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    let n = rng.below(64).min(b.len() - i);
                    let chunk = b[i..i + n].to_vec();
                    b.splice(i..i, chunk);
                }
            }
        }
    }
    b
}

fn run(target: &str, f: fn(&[u8]), input: &[u8]) {
    let r = std::panic::catch_unwind(|| f(input));
    if r.is_err() {
        panic!(
            "fuzz target {target} failed on input (hex) {}",
            input.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
    }
}

#[test]
fn every_target_holds_on_its_corpus_and_mutations_of_it() {
    for (name, f) in fuzz_cases::TARGETS {
        let inputs = corpus(name);
        assert!(!inputs.is_empty(), "no corpus for {name}");
        for input in &inputs {
            run(name, *f, input);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        let mutations = if *name == "dicom_import" {
            MUTATIONS / 4
        } else {
            MUTATIONS
        };
        for _ in 0..mutations {
            let input = mutate(&mut rng, &inputs);
            run(name, *f, &input);
        }
    }
}
