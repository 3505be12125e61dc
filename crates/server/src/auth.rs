//! Passwords (argon2id), bearer tokens (random, stored as SHA-256 hashes) and the sign-in
//! rate limit.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Sessions last this long.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Failed sign-ins of one account from one address before it must wait.
pub const RATE_LIMIT: u32 = 5;
/// Failures are forgotten this long after the last one.
pub const RATE_WINDOW_SECONDS: i64 = 300;
/// The first wait after [`RATE_LIMIT`] failures; each further failure doubles it …
pub const BACKOFF_FIRST_SECONDS: i64 = 30;
/// … up to this.
pub const BACKOFF_MAX_SECONDS: i64 = 900;
/// Failed sign-ins from one address, over all accounts, within [`RATE_WINDOW_SECONDS`],
/// before that address must wait (password spraying).
pub const ADDRESS_LIMIT: u32 = 50;
/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;
/// Password hashes computed at once; the rest wait their turn off the async workers.
pub const HASHING_SLOTS: usize = 2;

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

/// Refuses a new password that is too short (400 `weak_password`) or too long (422
/// `too_long`, over [`crate::limits::MAX_PASSWORD`]).
pub fn check_new_password(password: &str) -> Result<(), crate::error::ApiError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(crate::error::ApiError::bad(
            capstan_api::codes::WEAK_PASSWORD,
            format!("a password needs at least {MIN_PASSWORD} characters"),
        ));
    }
    crate::limits::check_password(password)
}

/// Hashes a new password after [`check_new_password`], on the hashing pool.
pub async fn new_password_hash(password: &str) -> Result<String, crate::error::ApiError> {
    check_new_password(password)?;
    let password = password.to_string();
    hashing(move || hash_password(&password))
        .await?
        .map_err(crate::error::ApiError::internal)
}

/// Whether `password` matches `hash` (with no hash: checked against a dummy one, so that an
/// unknown account costs as long as a wrong password), on the hashing pool.
pub async fn verify_async(
    password: &str,
    hash: Option<&str>,
) -> Result<bool, crate::error::ApiError> {
    if crate::limits::check_password(password).is_err() {
        return Ok(false);
    }
    let password = password.to_string();
    let hash = hash.map(str::to_string);
    hashing(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            let _ = verify_password(&password, dummy_hash());
            false
        }
    })
    .await
}

/// Runs password hashing on the blocking pool, at most [`HASHING_SLOTS`] at once, so that a
/// flood of sign-ins never holds the async workers that answer every other request.
async fn hashing<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, crate::error::ApiError> {
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(HASHING_SLOTS);
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(crate::error::ApiError::internal)?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(crate::error::ApiError::internal)
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

/// Failed sign-ins, counted per account-and-address (so that failures from one place never
/// lock the owner out from another) and per address (password spraying), with a wait that
/// doubles with every failure past the limit.
#[derive(Debug, Default)]
pub struct Limiter {
    failures: HashMap<String, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: i64,
}

impl Failures {
    /// How long after the last failure this record makes sign-ins wait (for an
    /// account-and-address).
    fn backoff(&self) -> i64 {
        if self.count < RATE_LIMIT {
            return 0;
        }
        let doublings = (self.count - RATE_LIMIT).min(16);
        (BACKOFF_FIRST_SECONDS << doublings).min(BACKOFF_MAX_SECONDS)
    }

    fn forgotten(&self, now_s: i64) -> bool {
        now_s - self.last >= RATE_WINDOW_SECONDS.max(self.backoff())
    }
}

/// What a sign-in attempt is counted against.
#[derive(Debug, Clone)]
pub struct AttemptKeys {
    /// The account from this address.
    pub account: String,
    /// The address.
    pub address: String,
}

impl AttemptKeys {
    /// The keys of a sign-in to `account` (e.g. `user:alice`) from `address`.
    pub fn new(account: &str, address: &str) -> Self {
        AttemptKeys {
            account: format!("{account}@{address}"),
            address: format!("addr:{address}"),
        }
    }
}

impl Limiter {
    /// How many seconds the attempt must wait (0: it may go on).
    pub fn wait(&mut self, keys: &AttemptKeys, now_s: i64) -> i64 {
        // Only this attempt's two records: a sign-in never walks the whole table.
        for k in [&keys.account, &keys.address] {
            if self.failures.get(k).is_some_and(|f| f.forgotten(now_s)) {
                self.failures.remove(k);
            }
        }
        let account = self
            .failures
            .get(&keys.account)
            .filter(|f| f.count >= RATE_LIMIT)
            .map_or(0, |f| f.last + f.backoff() - now_s);
        let address = self
            .failures
            .get(&keys.address)
            .filter(|f| f.count >= ADDRESS_LIMIT)
            .map_or(0, |f| f.last + RATE_WINDOW_SECONDS - now_s);
        account.max(address).max(0)
    }

    /// Records a failure.
    pub fn fail(&mut self, keys: &AttemptKeys, now_s: i64) {
        for k in [&keys.account, &keys.address] {
            let f = self.failures.entry(k.clone()).or_insert(Failures {
                count: 0,
                last: now_s,
            });
            if f.forgotten(now_s) {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now_s;
        }
        // Keep the map from growing without bound under a flood of distinct names.
        if self.failures.len() > 100_000 {
            self.failures.retain(|_, f| !f.forgotten(now_s));
        }
    }

    /// Forgets the account-and-address failures after a successful sign-in.
    pub fn succeed(&mut self, keys: &AttemptKeys) {
        self.failures.remove(&keys.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_from_one_address_never_lock_the_account_elsewhere() {
        let mut l = Limiter::default();
        let attacker = AttemptKeys::new("user:admin", "203.0.113.9");
        let owner = AttemptKeys::new("user:admin", "198.51.100.7");
        for _ in 0..RATE_LIMIT {
            assert_eq!(l.wait(&attacker, 1000), 0);
            l.fail(&attacker, 1000);
        }
        assert_eq!(l.wait(&attacker, 1000), BACKOFF_FIRST_SECONDS);
        assert_eq!(l.wait(&owner, 1000), 0, "the owner elsewhere gets in");
        l.fail(&attacker, 1000);
        assert_eq!(
            l.wait(&attacker, 1000),
            2 * BACKOFF_FIRST_SECONDS,
            "backoff doubles"
        );
        for _ in 0..20 {
            l.fail(&attacker, 1000);
        }
        assert_eq!(l.wait(&attacker, 1000), BACKOFF_MAX_SECONDS);
        assert_eq!(l.wait(&attacker, 1000 + BACKOFF_MAX_SECONDS), 0, "it ends");
    }

    #[test]
    fn an_address_spraying_many_accounts_waits() {
        let mut l = Limiter::default();
        for i in 0..ADDRESS_LIMIT {
            let k = AttemptKeys::new(&format!("user:u{i}"), "203.0.113.9");
            assert_eq!(l.wait(&k, 50), 0);
            l.fail(&k, 50);
        }
        let next = AttemptKeys::new("user:fresh", "203.0.113.9");
        assert!(l.wait(&next, 50) > 0);
        let elsewhere = AttemptKeys::new("user:fresh", "198.51.100.7");
        assert_eq!(l.wait(&elsewhere, 50), 0);
    }
}
