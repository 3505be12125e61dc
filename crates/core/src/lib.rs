//! # capstan-core
//!
//! The Capstan permission resolver: the role/capability model of Moodle and Totara Learn
//! (Allow / Prevent / Prohibit over a context tree, overrides, role switches), with tenants,
//! time-bounded assignments and support access on top. The contract is
//! `shared/spec/SEMANTICS.md`; the snapshot format is `shared/conformance/FORMAT.md`.
//!
//! The core does no I/O, reads no clock (every question takes an `at` instant) and never
//! panics: it takes text and values and gives back values or typed errors with stable codes.
//!
//! ```
//! use capstan_core::{CheckOptions, ContextId, Engine, Timestamp, UserId};
//!
//! let engine = Engine::from_json(r#"{
//!   "format": "capstan/1",
//!   "capabilities": [{"name": "moodle/course:view", "captype": "read", "contextlevel": "course"}],
//!   "contexts": [{"id": 1, "level": "system"}, {"id": 2, "level": "coursecat", "parent": 1},
//!                {"id": 3, "level": "course", "parent": 2}],
//!   "roles": [{"id": 5, "shortname": "student", "contextlevels": ["course"]}],
//!   "permissions": [{"role": 5, "context": 1, "capability": "moodle/course:view", "permission": "allow"}],
//!   "users": [{"id": 10, "username": "alice"}],
//!   "assignments": [{"user": 10, "role": 5, "context": 3}]
//! }"#).unwrap();
//! let at = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
//! assert!(engine.has_capability(UserId(10), "moodle/course:view", ContextId(3), CheckOptions::at(at)).unwrap());
//! assert!(!engine.has_capability(UserId(10), "moodle/course:view", ContextId(2), CheckOptions::at(at)).unwrap());
//! ```

pub mod bundle;
pub mod demo;
pub mod edit;
pub mod engine;
pub mod generate;
pub mod impact;
pub mod model;
pub mod moodle;
pub mod preset;
pub mod queries;
pub mod scenario;
pub mod snapshot;
pub mod time;
pub mod validate;

pub use edit::{EditError, EditOp};
pub use engine::{
    CapabilityId, CheckOptions, Engine, LoadError, QueryError, RoleOrigin, Rule, TenantDenial,
};
pub use model::*;
pub use queries::{
    AssignmentKey, ContextPlan, EffectivePermission, Explanation, OverviewRow, RoleTrace, RowTrace,
    UsersWithCapability, Visibility, VisibilityReason, VisibleItem,
};
pub use snapshot::{ParseError, SnapshotDoc};
pub use time::{Timestamp, TimestampError};
pub use validate::{Issue, IssueCode, validate};
