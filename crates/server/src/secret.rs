//! Secrets at rest: TOTP secrets are sealed (XChaCha20-Poly1305) with a server key that is
//! not in the database, so that a copy of the database file alone does not give anyone the
//! staff accounts' second factor.
//!
//! The key comes from `CAPSTAN_SECRET_KEY` (64 hex digits) or from the key file beside the
//! database (`<db>.key`, made on first start with mode 0600). Sealed text is
//! `v1:<nonce hex>:<ciphertext hex>`; secrets stored before sealing existed are sealed at
//! start.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::{Connection, params};
use std::path::Path;

/// The environment variable that holds the key (64 hex digits).
pub const KEY_ENV: &str = "CAPSTAN_SECRET_KEY";

const PREFIX: &str = "v1:";
const AAD: &[u8] = b"capstan/totp-secret";

/// The server key.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A key from 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text.trim()).map_err(|_| "the key is not hex".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the key needs 64 hex digits (32 bytes)".to_string())?;
        Ok(SecretKey(key))
    }

    /// A new random key.
    pub fn random() -> Result<Self, String> {
        let bytes = crate::auth::random_bytes(32)?;
        Self::from_hex(&hex::encode(bytes))
    }

    /// The key from [`KEY_ENV`], else from the key file beside the database at `db`
    /// (made when missing).
    pub fn from_env_or_file(db: &Path) -> Result<Self, String> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Self::from_hex(&text).map_err(|e| format!("{KEY_ENV}: {e}"));
        }
        let mut name = db.as_os_str().to_owned();
        name.push(".key");
        let path = std::path::PathBuf::from(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::random()?;
                write_private(&path, &hex::encode(key.0))
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(key)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Seals a secret.
    pub fn seal(&self, plain: &str) -> Result<String, String> {
        let nonce_bytes = crate::auth::random_bytes(24)?;
        let nonce = XNonce::from_slice(&nonce_bytes);
        let sealed = XChaCha20Poly1305::new((&self.0).into())
            .encrypt(
                nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: AAD,
                },
            )
            .map_err(|_| "sealing failed".to_string())?;
        Ok(format!(
            "{PREFIX}{}:{}",
            hex::encode(nonce_bytes),
            hex::encode(sealed)
        ))
    }

    /// Opens a sealed secret (`None`: not sealed with this key, or tampered with).
    pub fn open(&self, sealed: &str) -> Option<String> {
        let rest = sealed.strip_prefix(PREFIX)?;
        let (nonce, body) = rest.split_once(':')?;
        let nonce = hex::decode(nonce).ok().filter(|n| n.len() == 24)?;
        let body = hex::decode(body).ok()?;
        let plain = XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &body,
                    aad: AAD,
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }

    /// Seals every TOTP secret still stored in plain text (databases made before sealing).
    pub fn seal_legacy_totp(&self, db: &Connection) -> Result<usize, String> {
        let mut q = db
            .prepare("SELECT id, totp_secret FROM staff WHERE totp_secret NOT LIKE 'v1:%'")
            .map_err(|e| e.to_string())?;
        let rows: Vec<(u32, String)> = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| e.to_string())?;
        for (id, plain) in &rows {
            db.execute(
                "UPDATE staff SET totp_secret = ?2 WHERE id = ?1",
                params![id, self.seal(plain)?],
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(rows.len())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let k = SecretKey::random().unwrap();
        let sealed = k.seal("JBSWY3DPEHPK3PXP").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(k.open(&sealed).as_deref(), Some("JBSWY3DPEHPK3PXP"));
        let other = SecretKey::random().unwrap();
        assert_eq!(other.open(&sealed), None);
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert_eq!(k.open(&tampered), None);
        assert_eq!(k.open("JBSWY3DPEHPK3PXP"), None);
    }
}
