//! The development token issuer: an RSA key kept in a local state directory, tokens signed
//! with it (RS256), and its public JWKS, so the whole authenticated flow runs offline. Its
//! tokens are ordinary OIDC access tokens for issuer [`DEV_ISSUER`] and audience
//! [`DEV_AUDIENCE`]; nothing in the authorizer treats them specially.

use std::path::{Path, PathBuf};

use anyhow::Context;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use sha2::{Digest, Sha256};

/// `iss` of development tokens.
pub const DEV_ISSUER: &str = "urn:dicomweb-edge:dev-issuer";
/// `aud` of development tokens.
pub const DEV_AUDIENCE: &str = "dicomweb-edge";

/// A signing key and its public JWK.
pub struct DevIssuer {
    encoding: EncodingKey,
    jwk: Jwk,
}

impl DevIssuer {
    /// A fresh 2048-bit RSA key.
    pub fn generate() -> anyhow::Result<(Self, Vec<u8>)> {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .context("cannot generate an RSA key")?;
        let der = key
            .to_pkcs1_der()
            .context("cannot encode the RSA key")?
            .as_bytes()
            .to_vec();
        Ok((Self::from_pkcs1_der(&der)?, der))
    }

    /// The key from its PKCS#1 DER encoding.
    pub fn from_pkcs1_der(der: &[u8]) -> anyhow::Result<Self> {
        let key = rsa::RsaPrivateKey::from_pkcs1_der(der).context("not a PKCS#1 RSA key")?;
        let public = key
            .to_public_key()
            .to_pkcs1_der()
            .context("cannot encode the public key")?;
        let encoding = EncodingKey::from_rsa_der(der);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .context("cannot describe the key as a JWK")?;
        jwk.common.key_id = Some(hex::encode(&Sha256::digest(public.as_bytes())[..8]));
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(Self { encoding, jwk })
    }

    /// The key in `dir/dev-issuer-key.der`, created (mode 0600) on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("dev-issuer-key.der");
        if let Ok(der) = std::fs::read(&path) {
            return Self::from_pkcs1_der(&der)
                .with_context(|| format!("{} is not a usable key", path.display()));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let (issuer, der) = Self::generate()?;
        if let Err(e) = write_private(&path, &der) {
            // Another process created it meanwhile: use theirs.
            return match std::fs::read(&path) {
                Ok(der) => Self::from_pkcs1_der(&der),
                Err(_) => Err(e),
            };
        }
        Ok(issuer)
    }

    pub fn kid(&self) -> &str {
        self.jwk.common.key_id.as_deref().unwrap_or_default()
    }

    /// The public key set to publish.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk.clone()],
        }
    }

    /// Signs `claims` with this key (RS256, this key's `kid`).
    pub fn sign(&self, claims: &serde_json::Value) -> anyhow::Result<String> {
        self.sign_as(self.kid(), claims)
    }

    /// Signs `claims` with this key, naming `kid` in the header (tests use it to pose as
    /// another key).
    pub fn sign_as(&self, kid: &str, claims: &serde_json::Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("cannot sign the token")
    }

    /// A development access token valid from `now` for `expires_in` seconds.
    pub fn token(&self, now: u64, expires_in: u64, scopes: &[String]) -> anyhow::Result<String> {
        let mut claims = serde_json::json!({
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": "dev-user",
            "iat": now,
            "nbf": now,
            "exp": now + expires_in,
        });
        if !scopes.is_empty() {
            claims["scope"] = scopes.join(" ").into();
        }
        self.sign(&claims)
    }
}

/// The documented state directory: `$DICOMWEB_EDGE_STATE_DIR`, else
/// `$XDG_STATE_HOME/dicomweb-edge`, else `~/.local/state/dicomweb-edge`.
pub fn state_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env("DICOMWEB_EDGE_STATE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = env("XDG_STATE_HOME") {
        return PathBuf::from(d).join("dicomweb-edge");
    }
    env("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".local/state/dicomweb-edge")
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
