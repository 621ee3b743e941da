//! The public key of a [`DecodingKey`] as the JWK the host's `crypto.createPublicKey` takes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

/// The JWK of `key` for use with `alg`, or `None` for keys the host cannot use (HMAC
/// secrets, DER blobs that are not EC points).
pub fn public_jwk(alg: Algorithm, key: &DecodingKey) -> Option<String> {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let jwk = match (alg, key.kind()) {
        (
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
            DecodingKeyKind::RsaModulusExponent { n, e },
        ) => serde_json::json!({"kty": "RSA", "n": b64(n), "e": b64(e)}),
        (Algorithm::ES256 | Algorithm::ES384, DecodingKeyKind::SecretOrDer(point)) => {
            // An uncompressed SEC1 point: 0x04 || x || y.
            let (crv, size) = match alg {
                Algorithm::ES256 => ("P-256", 32),
                _ => ("P-384", 48),
            };
            if point.len() != 1 + 2 * size || point[0] != 4 {
                return None;
            }
            serde_json::json!({"kty": "EC", "crv": crv,
                "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..])})
        }
        (Algorithm::EdDSA, DecodingKeyKind::SecretOrDer(x)) if x.len() == 32 => {
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x)})
        }
        _ => return None,
    };
    Some(jwk.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_and_ec_keys_become_jwks() {
        let rsa = DecodingKey::from_rsa_components("AQAB", "AQAB").unwrap();
        let jwk: serde_json::Value =
            serde_json::from_str(&public_jwk(Algorithm::RS256, &rsa).unwrap()).unwrap();
        assert_eq!(
            jwk,
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})
        );
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let y = URL_SAFE_NO_PAD.encode([2u8; 32]);
        let ec = DecodingKey::from_ec_components(&x, &y).unwrap();
        let jwk: serde_json::Value =
            serde_json::from_str(&public_jwk(Algorithm::ES256, &ec).unwrap()).unwrap();
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["x"], x.as_str());
        assert_eq!(jwk["y"], y.as_str());
        // A P-256 point offered for ES384, and an HMAC secret, are not usable.
        assert_eq!(public_jwk(Algorithm::ES384, &ec), None);
        assert_eq!(
            public_jwk(Algorithm::HS256, &DecodingKey::from_secret(b"k")),
            None
        );
    }
}
