//! HS256 JSON Web Tokens (RFC 7519) signed with a 256-bit key generated per install. Only HS256
//! is accepted: the header is checked, so `alg: none` or key-confusion tricks are refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::Path;

use crate::{Error, Result};

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// Bearer tokens longer than this are refused before decoding anything.
const MAX_TOKEN_LEN: usize = 4096;

/// What a bearer token asserts. Roles are not carried: they are looked up per request so that a
/// role change or a deleted user takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Username.
    pub sub: String,
    /// Tenant of the user at issue time.
    pub ten: String,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Expires at, epoch seconds.
    pub exp: i64,
    /// Issued at in epoch ms: a password change voids tokens issued before it, to the ms.
    #[serde(default)]
    pub iat_ms: i64,
}

/// The signing key.
#[derive(Clone)]
pub struct JwtKey([u8; 32]);

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(..)")
    }
}

impl JwtKey {
    /// A key from raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// Load the key file, creating it (mode 0600) with fresh random bytes on first start.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let io = |source| Error::Key {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(path) {
            Ok(b) => {
                let k: [u8; 32] = b.as_slice().try_into().map_err(|_| {
                    io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "key file must hold exactly 32 bytes",
                    ))
                })?;
                Ok(Self(k))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = [0u8; 32];
                getrandom::fill(&mut k).map_err(|e| io(std::io::Error::other(e.to_string())))?;
                write_private(path, &k).map_err(io)?;
                Ok(Self(k))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
        m.update(data);
        m
    }

    /// Sign claims into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let mut s = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
        let sig = self.mac(s.as_bytes()).finalize().into_bytes();
        s.push('.');
        s.push_str(&B64.encode(sig));
        s
    }

    /// Check signature, header and expiry (`now` in epoch seconds) and return the claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidToken("too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::InvalidToken("not a compact jwt"));
        };
        let sig = B64
            .decode(sig)
            .map_err(|_| Error::InvalidToken("bad signature encoding"))?;
        let signed = &token[..h.len() + 1 + p.len()];
        self.mac(signed.as_bytes())
            .verify_slice(&sig)
            .map_err(|_| Error::InvalidToken("bad signature"))?;
        let header = B64
            .decode(h)
            .map_err(|_| Error::InvalidToken("bad header"))?;
        let header: serde_json::Value =
            serde_json::from_slice(&header).map_err(|_| Error::InvalidToken("bad header"))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(Error::InvalidToken("unsupported algorithm"));
        }
        let payload = B64
            .decode(p)
            .map_err(|_| Error::InvalidToken("bad payload"))?;
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|_| Error::InvalidToken("bad claims"))?;
        if claims.exp <= now {
            return Err(Error::InvalidToken("expired"));
        }
        Ok(claims)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "admin".into(),
            ten: "default".into(),
            iat: 0,
            exp,
            iat_ms: 0,
        }
    }

    #[test]
    fn sign_verify_and_tamper() {
        let k = JwtKey::from_bytes([7; 32]);
        let t = k.sign(&claims(100));
        assert_eq!(k.verify(&t, 50).unwrap(), claims(100));
        assert!(k.verify(&t, 100).is_err(), "expired");
        assert!(JwtKey::from_bytes([8; 32]).verify(&t, 50).is_err());
        let mut forged = t.clone();
        forged.insert(forged.len() - 3, 'A');
        assert!(k.verify(&forged, 50).is_err());
        for junk in ["", "a.b", "a.b.c.d", "...", &"x".repeat(5000)] {
            assert!(k.verify(junk, 0).is_err());
        }
    }

    #[test]
    fn alg_none_refused() {
        let k = JwtKey::from_bytes([7; 32]);
        let h = B64.encode(r#"{"alg":"none"}"#);
        let p = B64.encode(serde_json::to_vec(&claims(100)).unwrap());
        assert!(k.verify(&format!("{h}.{p}."), 0).is_err());
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = std::env::temp_dir().join(format!("kaiwu-jwt-{}", std::process::id()));
        let path = dir.join("secrets/jwt.key");
        let a = JwtKey::load_or_create(&path).unwrap();
        let b = JwtKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
