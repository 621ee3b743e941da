//! Wildcard matching, one implementation for the two places that need it: QIDO-RS wild card
//! matching (PS3.4 §C.2.2.2.4: `*` any run, `?` one character) and CloudFront's behavior
//! path patterns (the same two wildcards, case-sensitive).

/// Whether `text` matches `pattern`, where `*` matches any run and `?` any one character.
/// Greedy with one backtrack point (the last `*`), so a pattern of many `*`s costs
/// O(pattern × text) rather than exponential time (a fuzzed `PatientName=*****…X` took
/// seconds per record).
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it now stands for the run up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == b'?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_ps3_4_says() {
        for (pattern, text, want) in [
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*b*", "abc", true),
            ("*x*", "abc", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("**a**", "bab", true),
            ("PHANTOM*", "PHANTOM^CHEST", true),
            ("?", "", false),
        ] {
            assert_eq!(
                matches(pattern.as_bytes(), text.as_bytes()),
                want,
                "{pattern:?} {text:?}"
            );
        }
        // The fuzzed pattern that took exponential time (its input is also in the qido
        // fuzz corpus, which the test suite replays).
        let pattern = format!("{}/ D", "*".repeat(43));
        assert!(!matches(
            pattern.as_bytes(),
            "PHANTOM^CHEST PHANTOM^CHEST".as_bytes()
        ));
    }
}
