//! The error answer: every 4xx and 5xx carries a stable machine code and a sentence.

use serde::{Deserialize, Serialize};

/// An error. `code` is stable (see [`codes`]); `message` is for people and may change.
/// 5xx answers say `internal` and never carry internal details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The stable code, e.g. `unauthenticated`, `forbidden`, `malformed_json`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// More about where it went wrong, when there is more to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

/// Where an error was found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetails {
    /// In a batch of edits: the position of the edit that was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// For an invalid snapshot or edit: every validation problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<crate::questions::IssueItem>,
}

/// The stable codes the server itself gives. Errors of the core keep the core's codes
/// (`unknown_capability`, `unknown_context`, `unknown_role`, `bad_parent_level`, …).
pub mod codes {
    /// No or an unknown bearer token.
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    /// The session's time is over.
    pub const SESSION_EXPIRED: &str = "session_expired";
    /// Wrong username or password.
    pub const BAD_CREDENTIALS: &str = "bad_credentials";
    /// A missing or wrong TOTP code.
    pub const BAD_SECOND_FACTOR: &str = "bad_second_factor";
    /// Too many failed sign-ins.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Signed in, but not allowed to do this.
    pub const FORBIDDEN: &str = "forbidden";
    /// The body is not the JSON this endpoint reads.
    pub const MALFORMED_JSON: &str = "malformed_json";
    /// A query string that does not parse.
    pub const BAD_QUERY: &str = "bad_query";
    /// The body is larger than the server accepts.
    pub const TOO_LARGE: &str = "too_large";
    /// No such endpoint.
    pub const NOT_FOUND: &str = "not_found";
    /// No such user (or not one the caller may see).
    pub const UNKNOWN_USER: &str = "unknown_user";
    /// A batch based on an old revision.
    pub const STALE_REVISION: &str = "stale_revision";
    /// A batch with no edits.
    pub const EMPTY_BATCH: &str = "empty_batch";
    /// A password that is too short.
    pub const WEAK_PASSWORD: &str = "weak_password";
    /// The site setting `support_access` is off.
    pub const SUPPORT_DISABLED: &str = "support_access_disabled";
    /// No such support request, grant or staff account.
    pub const UNKNOWN_SUPPORT_ITEM: &str = "unknown_support_item";
    /// The support request or grant is not in a state that allows this.
    pub const SUPPORT_STATE: &str = "support_state";
    /// A support scope or duration outside what is allowed.
    pub const BAD_SUPPORT_GRANT: &str = "bad_support_grant";
    /// A username that is taken.
    pub const DUPLICATE_USERNAME: &str = "duplicate_username";
    /// The edit would leave the site without an active site administrator.
    pub const LAST_ADMIN: &str = "last_admin";
    /// A user id that belonged to a deleted user: ids are never reused.
    pub const RETIRED_USER_ID: &str = "retired_user_id";
    /// A batch with more edits than the server takes at once.
    pub const BATCH_TOO_LARGE: &str = "batch_too_large";
    /// A name, text or password longer than the server accepts.
    pub const TOO_LONG: &str = "too_long";
    /// A batch key that is malformed, or that another caller's batch used.
    pub const BAD_BATCH_ID: &str = "bad_batch_id";
    /// The database file is gone or was replaced: the server accepts no more writes.
    pub const STORE_UNAVAILABLE: &str = "store_unavailable";
    /// The request took longer than the server allows (a slow client or a huge request).
    pub const TIMEOUT: &str = "timeout";
    /// Something failed inside the server; nothing more is said.
    pub const INTERNAL: &str = "internal";
}
