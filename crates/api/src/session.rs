//! Signing in and who the caller is.

use capstan_core::Timestamp;
use serde::{Deserialize, Serialize};

/// Sign in with a password (site users).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Support staff sign in with a password and, every time, a TOTP code (RFC 6238).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StaffLogin {
    /// The staff account's username.
    pub username: String,
    /// The password.
    pub password: String,
    /// The current 6-digit code of the authenticator app.
    pub totp: String,
}

/// A new session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionCreated {
    /// The bearer token: send `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    /// Who signed in.
    pub me: Me,
}

/// What kind of caller a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A user of the site.
    User,
    /// A vendor's support staff member (acting as its temporary support user while a grant
    /// is active).
    SupportStaff,
    /// A service key: a backend that asks questions and never edits.
    ApiKey,
}

/// How much of the site the caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reach {
    /// The whole site (`moodle/role:manage` or `moodle/site:config` at the system context,
    /// or a service key).
    Site,
    /// One tenant: its contexts, its members and participants, its log entries
    /// (tenant administrators and support users scoped to one tenant).
    Tenant {
        /// The tenant.
        tenant: u32,
    },
    /// A support user's grant scope (SEMANTICS.md §7), when it is not exactly one tenant:
    /// the top-level site (the contexts outside every tenant and the site-level users) if
    /// `site`, and each listed tenant. A grant for the top-level site never reads a tenant.
    Scope {
        /// Whether the top-level site is in scope.
        site: bool,
        /// The tenants in scope, ascending.
        tenants: Vec<u32>,
    },
    /// Only questions about itself.
    Own,
}

/// The support identity behind a session of support staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportIdentity {
    /// The staff account (the real person).
    pub staff: u32,
    /// The staff account's username.
    pub staff_username: String,
    /// The active grant, if any.
    #[serde(default)]
    pub grant: Option<u64>,
    /// The temporary support user's identifier while a grant is active.
    #[serde(default)]
    pub identifier: Option<String>,
    /// When the active grant ends.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
}

/// The caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// User, support staff or service key.
    pub kind: PrincipalKind,
    /// The site user the caller acts as (for support staff: the temporary support user while
    /// a grant is active; none for a service key).
    #[serde(default)]
    pub user: Option<u32>,
    /// The username (of the staff account or key name for those kinds).
    pub username: String,
    /// The display name.
    #[serde(default)]
    pub fullname: Option<String>,
    /// Whether the user is a site administrator.
    pub site_admin: bool,
    /// The tenant the user is a member of.
    #[serde(default)]
    pub tenant: Option<u32>,
    /// How much of the site the caller may see.
    pub reach: Reach,
    /// For support staff: the real person and the active grant.
    #[serde(default)]
    pub support: Option<SupportIdentity>,
}
