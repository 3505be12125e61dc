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
