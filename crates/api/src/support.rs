//! Support access (SEMANTICS.md §7): staff accounts, requests, grants.

use capstan_core::Timestamp;
use serde::{Deserialize, Serialize};

/// Where support access reaches: the top-level site and/or chosen tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SupportScope {
    /// The top-level site (a grant at the system context; it does not reach tenants).
    #[serde(default)]
    pub site: bool,
    /// Tenants (a grant at each tenant's context and category; it reaches nothing else).
    #[serde(default)]
    pub tenants: Vec<u32>,
}

/// A support staff member asks for access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSupportRequest {
    /// Why (shown to the admins who decide; 1 to 2000 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 2000,
            example = "ticket 4711: gradebook export fails"
        )
    )]
    pub reason: String,
    /// The access wanted.
    pub scope: SupportScope,
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for an admin.
    Pending,
    /// Allowed: a grant was made.
    Allowed,
    /// Denied.
    Denied,
}

impl RequestStatus {
    /// The stable name.
    pub const fn name(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Allowed => "allowed",
            RequestStatus::Denied => "denied",
        }
    }

    /// The status with that name.
    pub fn from_name(s: &str) -> Option<Self> {
        [
            RequestStatus::Pending,
            RequestStatus::Allowed,
            RequestStatus::Denied,
        ]
        .into_iter()
        .find(|r| r.name() == s)
    }
}

/// A support request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportRequest {
    /// Its id.
    pub id: u64,
    /// The staff account that asked.
    pub staff: u32,
    /// Its username.
    pub staff_username: String,
    /// Why.
    pub reason: String,
    /// The access asked for.
    pub scope: SupportScope,
    /// Where it stands.
    pub status: RequestStatus,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// The admin who decided.
    #[serde(default)]
    pub decided_by: Option<u32>,
    /// When.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub decided_at: Option<Timestamp>,
    /// The admin's note on a denial.
    #[serde(default)]
    pub note: Option<String>,
    /// The grant made when allowed.
    #[serde(default)]
    pub grant: Option<u64>,
}

/// `?status=pending|allowed|denied`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct RequestsQuery {
    /// Only requests in this state.
    #[serde(default)]
    pub status: Option<RequestStatus>,
}

/// An admin allows a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AllowRequest {
    /// The scope granted (default: the scope asked for).
    #[serde(default)]
    pub scope: Option<SupportScope>,
    /// How long, in days (default 1, at most 30).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 30))]
    pub duration_days: Option<u32>,
    /// The role the support user gets (default: the site's first role of archetype `manager`).
    #[serde(default)]
    pub role: Option<u32>,
}

/// An admin denies a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DenyRequest {
    /// Why (shown to the staff member).
    #[serde(default)]
    pub note: Option<String>,
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// In force.
    Active,
    /// Its time is over.
    Expired,
    /// Revoked by an admin.
    Revoked,
}

/// A support grant: a temporary support user with its role in the granted scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportGrant {
    /// Its id.
    pub id: u64,
    /// The request it answers.
    pub request: u64,
    /// The staff account it is for.
    pub staff: u32,
    /// Its username.
    pub staff_username: String,
    /// The temporary support user's unique identifier (kept in the log after the user goes).
    pub identifier: String,
    /// The temporary support user.
    pub user: u32,
    /// Its role.
    pub role: u32,
    /// Where it reaches.
    pub scope: SupportScope,
    /// The admin who allowed it.
    pub granted_by: u32,
    /// When it started.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When it ends.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    /// Where it stands now.
    pub status: GrantStatus,
    /// When it was revoked.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
}

/// A new support staff account (made by an admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    /// The username (1 to 100 characters, no spaces).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^\S+$",
            example = "vendor.alice"
        )
    )]
    pub username: String,
    /// The password (at least 8 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 8, example = "a-long-passphrase")
    )]
    pub password: String,
    /// The display name.
    #[serde(default)]
    pub fullname: Option<String>,
}

/// A support staff account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffAccount {
    /// Its id.
    pub id: u32,
    /// The username.
    pub username: String,
    /// The display name.
    #[serde(default)]
    pub fullname: Option<String>,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// A disabled account cannot sign in and its sessions have ended.
    #[serde(default)]
    pub disabled: bool,
}

/// A staff account was made: its TOTP secret is shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffCreated {
    /// The account.
    pub account: StaffAccount,
    /// The TOTP secret, base32 (RFC 4648, no padding).
    pub totp_secret: String,
    /// The `otpauth://totp/...` URI for authenticator apps (SHA1, 6 digits, 30 s).
    pub otpauth_uri: String,
}

/// A staff account's second factor was reset: the new TOTP secret is shown this once; the
/// old one stops working and the account's sessions end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpReset {
    /// The account.
    pub account: StaffAccount,
    /// The new TOTP secret, base32 (RFC 4648, no padding).
    pub totp_secret: String,
    /// The `otpauth://totp/...` URI for authenticator apps.
    pub otpauth_uri: String,
}
