//! The site and its changes: revisions, batches of edits, conflicts.

use capstan_core::{EditOp, Timestamp};
use serde::{Deserialize, Serialize};

/// A batch of edits against the revision the client's site is based on. All or nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeBatch {
    /// The revision the edits were made on. A batch on an older revision is refused with 409.
    pub base_revision: u64,
    /// The edits, in order.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::edit_ops))]
    pub ops: Vec<EditOp>,
    /// The client's key for this batch (8 to 64 letters, digits, `-` or `_`; a random one per
    /// batch): a batch sent again with the same key, after its answer was lost, is not applied
    /// twice: the answer is the revision it was accepted as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
}

/// The data of a `revision` event on `GET /events`: the site moved on to this revision (and
/// nothing about what changed: that is read with the caller's own rights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionEvent {
    /// The site's revision.
    pub revision: u64,
}

/// A batch was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    /// The site's new revision.
    pub revision: u64,
}

/// One accepted batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// The revision it made.
    pub revision: u64,
    /// Its edits (for a tenant-scoped caller, only those about what it may see).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::edit_ops))]
    pub ops: Vec<EditOp>,
    /// The site user who made it (none for the server's own changes, such as support expiry).
    #[serde(default)]
    pub by: Option<u32>,
    /// The support identifier, when a support user made it.
    #[serde(default)]
    pub support_identifier: Option<String>,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
}

/// Changes after a revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeList {
    /// The site's current revision.
    pub revision: u64,
    /// The changes after the asked revision, oldest first.
    pub changes: Vec<Change>,
}

/// A batch based on a stale revision (409): never merged, the client resolves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conflict {
    /// Always `stale_revision`.
    pub code: String,
    /// For people.
    pub message: String,
    /// The site's current revision.
    pub revision: u64,
    /// The changes the client missed, oldest first.
    pub missed: Vec<Change>,
}

/// `?since=REV`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct SinceQuery {
    /// The revision the client has (default 0: every change).
    #[serde(default)]
    pub since: Option<u64>,
}
