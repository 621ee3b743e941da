//! No log line holds a token, whatever its spelling: `loggable_target` (the one rule for the
//! local access log, the Lambda@Edge functions' lines and the translator Lambda's) writes no
//! value that could be one, for every spelling of `token` the authorizer's lookup decodes, for
//! near-spellings it does not accept (`Token`), and for a token sent as a bare name.

use edge::http_rules::loggable_target;
use proptest::prelude::*;

/// `name` with each byte percent-encoded or case-flipped at random.
fn spelling(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec((any::<bool>(), any::<bool>()), name.len()).prop_map(move |how| {
        name.bytes()
            .zip(how)
            .map(|(b, (encode, flip))| {
                let b = if flip { b.to_ascii_uppercase() } else { b };
                if encode {
                    format!("%{b:02X}")
                } else {
                    (b as char).to_string()
                }
            })
            .collect()
    })
}

/// A JWT-like secret: base64url segments joined by dots.
fn secret() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9_-]{12,40}", 1..4).prop_map(|s| s.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_token_reaches_a_log(
        name in prop_oneof![spelling("token"), spelling("access_token"), "[a-zA-Z]{1,12}"],
        value in secret(),
        bare in any::<bool>(),
        before in "[a-z]{1,8}=[0-9]{1,3}",
    ) {
        let query = if bare {
            format!("{before}&{value}")
        } else {
            format!("{before}&{name}={value}")
        };
        let line = loggable_target("/datastore/x/studies", Some(&query));
        prop_assert!(!line.contains(&value), "{line}");
        // Every segment of the secret is gone, not only the whole.
        for part in value.split('.').filter(|p| p.len() >= 12) {
            prop_assert!(!line.contains(part), "{line}");
        }
    }
}

#[test]
fn identifiers_and_counts_stay_readable() {
    let is = "fedcba9876543210fedcba9876543210";
    assert_eq!(
        loggable_target(
            "/p",
            Some(&format!(
                "imageSetId={is}&limit=10&PatientName=Doe*&%74oken=eyJ.a.b&imageFrameId=zz"
            ))
        ),
        format!("/p?imageSetId={is}&limit=10&PatientName=…&token=…&imageFrameId=…")
    );
    assert_eq!(loggable_target("/p", None), "/p");
    assert_eq!(loggable_target("/p", Some("")), "/p");
    assert_eq!(
        loggable_target("/p", Some("Unknown=1&00100010=Doe&eyJhbGciOi")),
        "/p??=…&00100010=…&?=…"
    );
}
