//! The `capstan/1` snapshot: the JSON interchange format read and written by every surface
//! (`shared/conformance/FORMAT.md`). These are wire types only; [`Site`] is the core's model.
//!
//! Unknown fields are an error; a field given as `null` is the same as a field left out.

use crate::model::*;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The format tag every snapshot carries.
pub const FORMAT: &str = "capstan/1";

/// The largest snapshot text the core reads (bytes).
pub const MAX_SNAPSHOT_BYTES: usize = 256 * 1024 * 1024;

/// A snapshot document as written in JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SnapshotDoc {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub settings: Option<SettingsDoc>,
    #[serde(default)]
    pub capabilities: Option<Vec<CapabilityDoc>>,
    #[serde(default)]
    pub contexts: Option<Vec<ContextDoc>>,
    #[serde(default)]
    pub tenants: Option<Vec<TenantDoc>>,
    #[serde(default)]
    pub roles: Option<Vec<RoleDoc>>,
    #[serde(default)]
    pub permissions: Option<Vec<PermissionDoc>>,
    #[serde(default)]
    pub users: Option<Vec<UserDoc>>,
    #[serde(default)]
    pub assignments: Option<Vec<AssignmentDoc>>,
    #[serde(default)]
    pub switches: Option<Vec<SwitchDoc>>,
    #[serde(default)]
    pub program_courses: Option<Vec<ProgramCourseDoc>>,
    /// Set when the snapshot is a bundle: a cut of the site for one user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleDoc>,
    /// Conformance queries (scenario files only); read by [`crate::scenario`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<Vec<serde_json::Value>>,
}

/// Site settings as written in JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SettingsDoc {
    #[serde(default)]
    pub default_user_role: Option<u32>,
    #[serde(default)]
    pub guest_role: Option<u32>,
    #[serde(default)]
    pub not_logged_in_role: Option<u32>,
    #[serde(default)]
    pub default_frontpage_role: Option<u32>,
    #[serde(default)]
    pub frontpage_context: Option<u32>,
    #[serde(default)]
    pub guest_user: Option<u32>,
    #[serde(default)]
    pub site_admins: Option<Vec<u32>>,
    #[serde(default)]
    pub force_login: Option<bool>,
    #[serde(default)]
    pub context_locking: Option<bool>,
    #[serde(default)]
    pub context_lock_applies_to_admin: Option<bool>,
    #[serde(default)]
    pub multitenancy: Option<bool>,
    #[serde(default)]
    pub tenant_isolation: Option<bool>,
    #[serde(default)]
    pub support_access: Option<bool>,
}

/// A capability as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct CapabilityDoc {
    pub name: String,
    pub captype: CapType,
    pub contextlevel: ContextLevel,
    #[serde(default)]
    pub risks: Option<Vec<Risk>>,
}

/// A context as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ContextDoc {
    pub id: u32,
    pub level: ContextLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A tenant as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TenantDoc {
    pub id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub context: u32,
    pub category: u32,
    #[serde(default)]
    pub suspended: Option<bool>,
}

/// A role as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RoleDoc {
    pub id: u32,
    pub shortname: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub archetype: Option<Archetype>,
    #[serde(default)]
    pub contextlevels: Option<Vec<ContextLevel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sortorder: Option<i64>,
    #[serde(default)]
    pub allow_assign: Option<Vec<u32>>,
    #[serde(default)]
    pub allow_override: Option<Vec<u32>>,
    #[serde(default)]
    pub allow_switch: Option<Vec<u32>>,
    #[serde(default)]
    pub allow_view: Option<Vec<u32>>,
}

/// A permission row as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PermissionDoc {
    pub role: u32,
    pub context: u32,
    pub capability: String,
    pub permission: Permission,
}

/// A user as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct UserDoc {
    pub id: u32,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<u32>,
    #[serde(default)]
    pub participant_of: Option<Vec<u32>>,
    #[serde(default)]
    pub deleted: Option<bool>,
    #[serde(default)]
    pub suspended: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fullname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_identifier: Option<String>,
}

/// An assignment as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct AssignmentDoc {
    pub user: u32,
    pub role: u32,
    pub context: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// A role switch as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SwitchDoc {
    pub user: u32,
    pub context: u32,
    pub role: u32,
}

/// A program's course as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ProgramCourseDoc {
    pub program: u32,
    pub course: u32,
}

/// The `bundle` member as written in JSON: `{"user": 17, "contexts": [42, 43]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct BundleDoc {
    pub user: u32,
    #[serde(default)]
    pub contexts: Option<Vec<u32>>,
}

impl From<BundleDoc> for Bundle {
    fn from(d: BundleDoc) -> Self {
        Bundle {
            user: UserId(d.user),
            contexts: d
                .contexts
                .unwrap_or_default()
                .into_iter()
                .map(ContextId)
                .collect(),
        }
    }
}

impl From<&Bundle> for BundleDoc {
    fn from(b: &Bundle) -> Self {
        BundleDoc {
            user: b.user.0,
            contexts: Some(b.contexts.iter().map(|c| c.0).collect()),
        }
    }
}

/// Why a snapshot text could not be read at all (before validation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text is larger than [`MAX_SNAPSHOT_BYTES`].
    #[error("snapshot is {size} bytes, more than the {max} bytes allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, or JSON of the wrong shape (unknown field, wrong type, bad instant …).
    #[error("malformed snapshot at line {line}, column {column}: {message}")]
    Malformed {
        /// What serde said.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// `format` is not `capstan/1`.
    #[error("unsupported format `{0}`, expected `capstan/1`")]
    UnsupportedFormat(String),
}

impl ParseError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::TooLarge { .. } => "too_large",
            ParseError::Malformed { .. } => "malformed_json",
            ParseError::UnsupportedFormat(_) => "unsupported_format",
        }
    }
}

impl SnapshotDoc {
    /// Reads a snapshot (or scenario) document from JSON text.
    pub fn from_json(text: &str) -> Result<SnapshotDoc, ParseError> {
        if text.len() > MAX_SNAPSHOT_BYTES {
            return Err(ParseError::TooLarge {
                size: text.len(),
                max: MAX_SNAPSHOT_BYTES,
            });
        }
        let doc: SnapshotDoc = serde_json::from_str(text).map_err(|e| ParseError::Malformed {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        if doc.format != FORMAT {
            return Err(ParseError::UnsupportedFormat(
                doc.format.chars().take(40).collect(),
            ));
        }
        Ok(doc)
    }

    /// Writes the document as compact JSON.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail: no maps with non-string keys, no
        // custom serialisers that error.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Writes the document as indented JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn ids<T>(v: Option<Vec<u32>>, f: fn(u32) -> T) -> Vec<T> {
    v.unwrap_or_default().into_iter().map(f).collect()
}

impl From<SettingsDoc> for Settings {
    fn from(d: SettingsDoc) -> Self {
        Settings {
            default_user_role: d.default_user_role.map(RoleId),
            guest_role: d.guest_role.map(RoleId),
            not_logged_in_role: d.not_logged_in_role.map(RoleId),
            default_frontpage_role: d.default_frontpage_role.map(RoleId),
            frontpage_context: d.frontpage_context.map(ContextId),
            guest_user: d.guest_user.map(UserId),
            site_admins: ids(d.site_admins, UserId),
            force_login: d.force_login.unwrap_or(false),
            context_locking: d.context_locking.unwrap_or(false),
            context_lock_applies_to_admin: d.context_lock_applies_to_admin.unwrap_or(true),
            multitenancy: d.multitenancy.unwrap_or(false),
            tenant_isolation: d.tenant_isolation.unwrap_or(false),
            support_access: d.support_access.unwrap_or(true),
        }
    }
}

impl From<&Settings> for SettingsDoc {
    fn from(s: &Settings) -> Self {
        SettingsDoc {
            default_user_role: s.default_user_role.map(|r| r.0),
            guest_role: s.guest_role.map(|r| r.0),
            not_logged_in_role: s.not_logged_in_role.map(|r| r.0),
            default_frontpage_role: s.default_frontpage_role.map(|r| r.0),
            frontpage_context: s.frontpage_context.map(|c| c.0),
            guest_user: s.guest_user.map(|u| u.0),
            site_admins: Some(s.site_admins.iter().map(|u| u.0).collect()),
            force_login: Some(s.force_login),
            context_locking: Some(s.context_locking),
            context_lock_applies_to_admin: Some(s.context_lock_applies_to_admin),
            multitenancy: Some(s.multitenancy),
            tenant_isolation: Some(s.tenant_isolation),
            support_access: Some(s.support_access),
        }
    }
}

impl From<CapabilityDoc> for Capability {
    fn from(d: CapabilityDoc) -> Self {
        Capability {
            name: d.name,
            captype: d.captype,
            contextlevel: d.contextlevel,
            risks: d.risks.unwrap_or_default().into_iter().collect(),
        }
    }
}

impl From<&Capability> for CapabilityDoc {
    fn from(c: &Capability) -> Self {
        CapabilityDoc {
            name: c.name.clone(),
            captype: c.captype,
            contextlevel: c.contextlevel,
            risks: Some(c.risks.iter().collect()),
        }
    }
}

impl From<ContextDoc> for Context {
    fn from(d: ContextDoc) -> Self {
        Context {
            id: ContextId(d.id),
            level: d.level,
            parent: d.parent.map(ContextId),
            tenant: d.tenant.map(TenantId),
            instance: d.instance.map(UserId),
            locked: d.locked.unwrap_or(false),
            visible: d.visible.unwrap_or(true),
            name: d.name,
        }
    }
}

impl From<&Context> for ContextDoc {
    fn from(c: &Context) -> Self {
        ContextDoc {
            id: c.id.0,
            level: c.level,
            parent: c.parent.map(|p| p.0),
            tenant: c.tenant.map(|t| t.0),
            instance: c.instance.map(|u| u.0),
            locked: c.locked.then_some(true),
            visible: (!c.visible).then_some(false),
            name: c.name.clone(),
        }
    }
}

impl From<TenantDoc> for Tenant {
    fn from(d: TenantDoc) -> Self {
        Tenant {
            id: TenantId(d.id),
            name: d.name,
            context: ContextId(d.context),
            category: ContextId(d.category),
            suspended: d.suspended.unwrap_or(false),
        }
    }
}

impl From<&Tenant> for TenantDoc {
    fn from(t: &Tenant) -> Self {
        TenantDoc {
            id: t.id.0,
            name: t.name.clone(),
            context: t.context.0,
            category: t.category.0,
            suspended: Some(t.suspended),
        }
    }
}

impl From<RoleDoc> for Role {
    fn from(d: RoleDoc) -> Self {
        Role {
            id: RoleId(d.id),
            name: d.name.unwrap_or_else(|| d.shortname.clone()),
            shortname: d.shortname,
            description: d.description.unwrap_or_default(),
            archetype: d.archetype,
            contextlevels: d.contextlevels.unwrap_or_default(),
            sortorder: d.sortorder,
            allow_assign: ids(d.allow_assign, RoleId),
            allow_override: ids(d.allow_override, RoleId),
            allow_switch: ids(d.allow_switch, RoleId),
            allow_view: ids(d.allow_view, RoleId),
        }
    }
}

impl From<&Role> for RoleDoc {
    fn from(r: &Role) -> Self {
        let raw = |v: &[RoleId]| Some(v.iter().map(|r| r.0).collect());
        RoleDoc {
            id: r.id.0,
            shortname: r.shortname.clone(),
            name: Some(r.name.clone()),
            description: (!r.description.is_empty()).then(|| r.description.clone()),
            archetype: r.archetype,
            contextlevels: Some(r.contextlevels.clone()),
            sortorder: r.sortorder,
            allow_assign: raw(&r.allow_assign),
            allow_override: raw(&r.allow_override),
            allow_switch: raw(&r.allow_switch),
            allow_view: raw(&r.allow_view),
        }
    }
}

impl From<PermissionDoc> for PermissionRow {
    fn from(d: PermissionDoc) -> Self {
        PermissionRow {
            role: RoleId(d.role),
            context: ContextId(d.context),
            capability: d.capability,
            permission: d.permission,
        }
    }
}

impl From<&PermissionRow> for PermissionDoc {
    fn from(p: &PermissionRow) -> Self {
        PermissionDoc {
            role: p.role.0,
            context: p.context.0,
            capability: p.capability.clone(),
            permission: p.permission,
        }
    }
}

impl From<UserDoc> for User {
    fn from(d: UserDoc) -> Self {
        User {
            id: UserId(d.id),
            username: d.username,
            tenant: d.tenant.map(TenantId),
            participant_of: ids(d.participant_of, TenantId),
            deleted: d.deleted.unwrap_or(false),
            suspended: d.suspended.unwrap_or(false),
            fullname: d.fullname,
            email: d.email,
            support_identifier: d.support_identifier,
        }
    }
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        UserDoc {
            id: u.id.0,
            username: u.username.clone(),
            tenant: u.tenant.map(|t| t.0),
            participant_of: Some(u.participant_of.iter().map(|t| t.0).collect()),
            deleted: Some(u.deleted),
            suspended: Some(u.suspended),
            fullname: u.fullname.clone(),
            email: u.email.clone(),
            support_identifier: u.support_identifier.clone(),
        }
    }
}

impl From<AssignmentDoc> for Assignment {
    fn from(d: AssignmentDoc) -> Self {
        Assignment {
            user: UserId(d.user),
            role: RoleId(d.role),
            context: ContextId(d.context),
            from: d.from,
            until: d.until,
            source: d.source.unwrap_or_default(),
        }
    }
}

impl From<&Assignment> for AssignmentDoc {
    fn from(a: &Assignment) -> Self {
        AssignmentDoc {
            user: a.user.0,
            role: a.role.0,
            context: a.context.0,
            from: a.from,
            until: a.until,
            source: (a.source != Source::Manual).then_some(a.source),
        }
    }
}

impl From<SwitchDoc> for Switch {
    fn from(d: SwitchDoc) -> Self {
        Switch {
            user: UserId(d.user),
            context: ContextId(d.context),
            role: RoleId(d.role),
        }
    }
}

impl From<&Switch> for SwitchDoc {
    fn from(s: &Switch) -> Self {
        SwitchDoc {
            user: s.user.0,
            context: s.context.0,
            role: s.role.0,
        }
    }
}

impl From<ProgramCourseDoc> for ProgramCourse {
    fn from(d: ProgramCourseDoc) -> Self {
        ProgramCourse {
            program: ContextId(d.program),
            course: ContextId(d.course),
        }
    }
}

impl From<&ProgramCourse> for ProgramCourseDoc {
    fn from(p: &ProgramCourse) -> Self {
        ProgramCourseDoc {
            program: p.program.0,
            course: p.course.0,
        }
    }
}

fn conv<D, T: From<D>>(v: Option<Vec<D>>) -> Vec<T> {
    v.unwrap_or_default().into_iter().map(T::from).collect()
}

fn back<'a, T: 'a, D: From<&'a T>>(v: &'a [T]) -> Option<Vec<D>> {
    Some(v.iter().map(D::from).collect())
}

impl From<SnapshotDoc> for Site {
    fn from(d: SnapshotDoc) -> Self {
        Site {
            settings: d.settings.map(Settings::from).unwrap_or_default(),
            capabilities: conv(d.capabilities),
            contexts: conv(d.contexts),
            tenants: conv(d.tenants),
            roles: conv(d.roles),
            permissions: conv(d.permissions),
            users: conv(d.users),
            assignments: conv(d.assignments),
            switches: conv(d.switches),
            program_courses: conv(d.program_courses),
            bundle: d.bundle.map(Bundle::from),
        }
    }
}

impl From<&Site> for SnapshotDoc {
    fn from(s: &Site) -> Self {
        SnapshotDoc {
            format: FORMAT.to_string(),
            name: None,
            description: None,
            settings: Some(SettingsDoc::from(&s.settings)),
            capabilities: back(&s.capabilities),
            contexts: back(&s.contexts),
            tenants: back(&s.tenants),
            roles: back(&s.roles),
            permissions: back(&s.permissions),
            users: back(&s.users),
            assignments: back(&s.assignments),
            switches: back(&s.switches),
            program_courses: back(&s.program_courses),
            bundle: s.bundle.as_ref().map(BundleDoc::from),
            queries: None,
        }
    }
}

impl Site {
    /// Reads a site from `capstan/1` JSON without validating it.
    pub fn from_json(text: &str) -> Result<Site, ParseError> {
        SnapshotDoc::from_json(text).map(Site::from)
    }

    /// Writes the site as `capstan/1` JSON.
    pub fn to_json(&self) -> String {
        SnapshotDoc::from(self).to_json()
    }
}
