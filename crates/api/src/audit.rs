//! The audit log: append-only, hash-chained.

use capstan_core::Timestamp;
use serde::{Deserialize, Serialize};

/// Filters of the audit report (all optional; results oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// `true`: only entries made under a support identity; `false`: only the others.
    #[serde(default)]
    pub support: Option<bool>,
    /// Only entries by this site user.
    #[serde(default)]
    pub user: Option<u32>,
    /// Only entries at or after this instant.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime))]
    pub from: Option<Timestamp>,
    /// Only entries before this instant.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime))]
    pub until: Option<Timestamp>,
    /// Pagination: entries after this sequence number (the last page's `next_after`).
    #[serde(default)]
    pub after: Option<i64>,
    /// Page size (1 to 500, default 100).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Its sequence number (1, 2, …; never reused).
    pub seq: i64,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// The site user who acted (none: the server itself or an anonymous caller).
    #[serde(default)]
    pub actor: Option<u32>,
    /// The real person behind a support identity: the staff account's username.
    #[serde(default)]
    pub staff: Option<String>,
    /// The support identifier, when the actor was a support user.
    #[serde(default)]
    pub support_identifier: Option<String>,
    /// What happened (`login`, `changes`, `support_allow`, `request`, …).
    pub action: String,
    /// The details: for changes, each edit with the value before and after.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
    /// The tenants the entry is about (tenant administrators see only theirs).
    pub tenants: Vec<u32>,
    /// Its hash (SHA-256 over the previous hash and this entry).
    pub hash: String,
}

/// A page of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// The entries, oldest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; none when this page is the last.
    #[serde(default)]
    pub next_after: Option<i64>,
}

/// The hash chain, recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainReport {
    /// Every entry is there and unchanged.
    pub ok: bool,
    /// Entries checked.
    pub entries: i64,
    /// The first entry that was edited, or follows a deleted one.
    #[serde(default)]
    pub first_bad: Option<i64>,
}
