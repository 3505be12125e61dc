//! # capstan-api
//!
//! The wire types of Capstan's REST API (`/api/v1`): every request body, query string and
//! answer of `capstan-server`, shared with the admin app so that both sides read and write the
//! same shapes. JSON, snake_case, instants as RFC 3339 strings in UTC, ids as integers.
//!
//! These types are the API's contract, kept apart from the core's model (STYLE.md: wire types
//! at the edges): answers are built from the core's types with `From`, so a change inside the
//! resolver never silently changes what the API says. Site snapshots travel in the `capstan/1`
//! format of `capstan_core::SnapshotDoc`, edits as `capstan_core::EditOp`.
//!
//! With the `openapi` feature every type also describes itself as an OpenAPI schema (utoipa);
//! the server builds `/api/v1/openapi.json` from them.

pub mod admin;
pub mod audit;
pub mod bundle;
pub mod error;
pub mod paths;
pub mod questions;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod session;
pub mod support;
pub mod sync;

pub use admin::{ApiKey, ApiKeyCreated, KeyStatus, NewApiKey, SetPassword};
pub use audit::{AuditEntry, AuditPage, AuditQuery, ChainReport};
pub use bundle::{BundleQuery, ContextPlan, ContextsAnswer, ContextsRequest, Level};
pub use error::{ErrorBody, ErrorDetails, codes};
pub use questions::*;
pub use session::{Login, Me, PrincipalKind, Reach, SessionCreated, StaffLogin, SupportIdentity};
pub use support::{
    AllowRequest, DenyRequest, GrantStatus, NewStaff, NewSupportRequest, RequestStatus,
    RequestsQuery, StaffAccount, StaffCreated, SupportGrant, SupportRequest, SupportScope,
    TotpReset,
};
pub use sync::{Accepted, Change, ChangeBatch, ChangeList, Conflict, RevisionEvent, SinceQuery};
