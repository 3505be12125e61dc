//! The endpoints, relative to the server's origin. `{id}` marks a path parameter.

/// Sign in with a password (`POST`).
pub const SESSIONS: &str = "/api/v1/sessions";
/// Support staff sign in with a password and a TOTP code (`POST`).
pub const STAFF_SESSIONS: &str = "/api/v1/support/sessions";
/// The caller's session: who it is (`GET`), sign out (`DELETE`).
pub const SESSION_CURRENT: &str = "/api/v1/sessions/current";
/// The site snapshot the caller may see (`GET`, ETag).
pub const SITE: &str = "/api/v1/site";
/// Changes after a revision (`GET ?since=`), a batch of edits (`POST`).
pub const CHANGES: &str = "/api/v1/changes";
/// `has_capability` (`POST`).
pub const CHECK: &str = "/api/v1/check";
/// `has_capability` with its explanation (`POST`).
pub const EXPLAIN: &str = "/api/v1/explain";
/// Every capability relevant at a context for a user (`POST`).
pub const EFFECTIVE_PERMISSIONS: &str = "/api/v1/effective-permissions";
/// Who holds a capability in a context (`POST`).
pub const USERS_WITH_CAPABILITY: &str = "/api/v1/users-with-capability";
/// Each role's definition and overrides of a capability (`POST`).
pub const CAPABILITY_OVERVIEW: &str = "/api/v1/capability-overview";
/// `can_assign` (`POST`).
pub const CAN_ASSIGN: &str = "/api/v1/can-assign";
/// `can_override` (`POST`).
pub const CAN_OVERRIDE: &str = "/api/v1/can-override";
/// `can_switch` (`POST`).
pub const CAN_SWITCH: &str = "/api/v1/can-switch";
/// Assignments whose role is not assignable at their context's level (`GET`).
pub const UNSUPPORTED_ASSIGNMENTS: &str = "/api/v1/unsupported-assignments";
/// Whether a course or program is visible to a user (`POST`).
pub const VISIBILITY: &str = "/api/v1/visibility";
/// Every course and program with its visibility for a user (`POST`).
pub const VISIBLE_ITEMS: &str = "/api/v1/visible-items";
/// Validate a snapshot (`POST`).
pub const VALIDATE: &str = "/api/v1/validate";
/// A role's Moodle preset XML (`GET`).
pub const ROLE_PRESET: &str = "/api/v1/roles/{id}/preset";
/// Moodle's "Reset role" with options (`POST`).
pub const ROLE_RESET: &str = "/api/v1/roles/{id}/reset";
/// The roles a user may see in a context (`POST`).
pub const VIEWABLE_ROLES: &str = "/api/v1/viewable-roles";
/// Import a Moodle preset XML (`POST`, `?role=` to replace a role).
pub const PRESETS: &str = "/api/v1/presets";
/// Set a user's password (`PUT`).
pub const USER_PASSWORD: &str = "/api/v1/users/{id}/password";
/// Service keys for backends that ask questions (`GET`, `POST`).
pub const API_KEYS: &str = "/api/v1/api-keys";
/// One service key (`DELETE`: revoke it).
pub const API_KEY: &str = "/api/v1/api-keys/{id}";
/// Server-Sent Events: one `revision` event per new revision (`GET`).
pub const EVENTS: &str = "/api/v1/events";
/// The caller's bundle (`GET ?context=&context=[&user=]`).
pub const BUNDLE: &str = "/api/v1/bundle";
/// The contexts of a level where a user has a capability (`POST`).
pub const CONTEXTS_WITH_CAPABILITY: &str = "/api/v1/contexts-with-capability";
/// Support staff accounts (`GET`, `POST`).
pub const SUPPORT_STAFF: &str = "/api/v1/support/staff";
/// Disable a staff account: it cannot sign in, its sessions end, its active grants are revoked.
pub const SUPPORT_STAFF_DISABLE: &str = "/api/v1/support/staff/{id}/disable";
/// Enable a staff account again.
pub const SUPPORT_STAFF_ENABLE: &str = "/api/v1/support/staff/{id}/enable";
/// Reset a staff account's TOTP secret.
pub const SUPPORT_STAFF_TOTP: &str = "/api/v1/support/staff/{id}/totp";
/// Support requests (`GET ?status=`, `POST`).
pub const SUPPORT_REQUESTS: &str = "/api/v1/support/requests";
/// Allow a support request (`POST`).
pub const SUPPORT_ALLOW: &str = "/api/v1/support/requests/{id}/allow";
/// Deny a support request (`POST`).
pub const SUPPORT_DENY: &str = "/api/v1/support/requests/{id}/deny";
/// Support grants (`GET`).
pub const SUPPORT_GRANTS: &str = "/api/v1/support/grants";
/// Revoke a support grant (`POST`).
pub const SUPPORT_REVOKE: &str = "/api/v1/support/grants/{id}/revoke";
/// The audit log report (`GET`).
pub const AUDIT: &str = "/api/v1/audit";
/// Recompute the audit hash chain (`GET`).
pub const AUDIT_VERIFY: &str = "/api/v1/audit/verify";
/// The OpenAPI 3 document (`GET`).
pub const OPENAPI: &str = "/api/v1/openapi.json";

/// `template` with its `{id}` replaced.
pub fn with_id(template: &str, id: impl std::fmt::Display) -> String {
    template.replace("{id}", &id.to_string())
}
