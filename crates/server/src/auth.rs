//! Passwords (argon2id), bearer tokens (random, stored as SHA-256 hashes) and the sign-in
//! rate limit.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Sessions last this long.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Failed sign-ins allowed per account, and per address, within [`RATE_WINDOW_SECONDS`].
pub const RATE_LIMIT: usize = 5;
/// The rate-limit window.
pub const RATE_WINDOW_SECONDS: i64 = 300;
/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// `bytes` random bytes, as hex.
pub fn random_hex(bytes: usize) -> Result<String, String> {
    Ok(hex::encode(random_bytes(bytes)?))
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&random_bytes(16)?).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Hashes a new password after checking its length (400 `weak_password` when too short).
pub fn new_password_hash(password: &str) -> Result<String, crate::error::ApiError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(crate::error::ApiError::bad(
            capstan_api::codes::WEAK_PASSWORD,
            format!("a password needs at least {MIN_PASSWORD} characters"),
        ));
    }
    hash_password(password).map_err(crate::error::ApiError::internal)
}

/// Whether `password` matches `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A well-formed argon2id hash of no password anyone has, verified against when the account
/// does not exist, so that a wrong username costs as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("capstan: no such account").unwrap_or_default())
}

/// Failed sign-ins per key (`user:NAME`, `addr:IP`), within a sliding window.
#[derive(Debug, Default)]
pub struct Limiter {
    failures: HashMap<String, Vec<i64>>,
}

impl Limiter {
    /// Whether any of `keys` is over the limit at `now_s`.
    pub fn blocked(&mut self, keys: &[String], now_s: i64) -> bool {
        keys.iter().any(|k| {
            let list = self.failures.entry(k.clone()).or_default();
            list.retain(|t| now_s - *t < RATE_WINDOW_SECONDS);
            list.len() >= RATE_LIMIT
        })
    }

    /// Records a failure against every key.
    pub fn fail(&mut self, keys: &[String], now_s: i64) {
        for k in keys {
            self.failures.entry(k.clone()).or_default().push(now_s);
        }
        // Keep the map from growing without bound under a flood of distinct names.
        if self.failures.len() > 100_000 {
            self.failures
                .retain(|_, v| v.iter().any(|t| now_s - *t < RATE_WINDOW_SECONDS));
        }
    }
}
