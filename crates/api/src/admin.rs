//! Passwords and service keys.

use capstan_core::Timestamp;
use serde::{Deserialize, Serialize};

/// A new password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// At least 8 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 8, example = "a-long-passphrase")
    )]
    pub password: String,
    /// The caller's current password: needed (and checked) when changing one's own.
    #[serde(default)]
    pub current_password: Option<String>,
}

/// A new service key, for a backend that asks questions (check, explain, …) about any user.
/// Keys read; they never edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What it is for (1 to 200 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, example = "gradebook service")
    )]
    pub name: String,
    /// Days until the key stops working (1 to 365; default 90).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 365, example = 90))]
    pub expires_in_days: Option<u32>,
}

/// The state of a service key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// It works.
    Active,
    /// Its time is over.
    Expired,
    /// Revoked by an administrator.
    Revoked,
    /// Its creator may no longer make keys (deleted, suspended, or without
    /// `moodle/site:config`): it stops working until the creator has that right again.
    CreatorLacksRight,
}

/// A service key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// Its id.
    pub id: u32,
    /// What it is for.
    pub name: String,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// The site user who made it (none: made with `capstan-server --create-api-key`).
    #[serde(default)]
    pub created_by: Option<u32>,
    /// When it stops working (none: keys made on the server's command line).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
    /// When it was revoked.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
    /// Whether it works now, and if not why.
    pub status: KeyStatus,
}

/// A key was made: the secret is shown this once (send it as a bearer token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyCreated {
    /// The key.
    pub key: ApiKey,
    /// The bearer token.
    pub secret: String,
}
