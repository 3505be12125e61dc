//! The resolver's questions (SEMANTICS.md §2–§6), asked over REST. The answers are the core's,
//! converted with `From`.

use capstan_core as core;
use capstan_core::Timestamp;
use serde::{Deserialize, Serialize};

/// `has_capability(user, capability, context, doanything, at)`; also the body of `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"user": 12, "capability": "moodle/course:view", "context": 10})))]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The user (0: not logged in).
    pub user: u32,
    /// The capability, by name.
    pub capability: String,
    /// The context.
    pub context: u32,
    /// Let site admins through (default true).
    #[serde(default)]
    pub doanything: Option<bool>,
    /// The instant (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<Timestamp>,
}

/// A decision with the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckAnswer {
    /// The answer.
    pub allowed: bool,
    /// The step of SEMANTICS.md §2 that decided.
    pub step: u8,
    /// The stable name of the rule (`site_admin`, `prohibited`, `allowed`, `tenant`, …).
    pub rule: String,
    /// For a tenant rule: which one (`other_tenant`, `isolated`, …).
    #[serde(default)]
    pub tenant_denial: Option<String>,
    /// A sentence for people.
    pub reason: String,
}

/// A permission value: `allow`, `prevent` or `prohibit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PermissionValue {
    /// Allow (1).
    Allow,
    /// Prevent (-1).
    Prevent,
    /// Prohibit (-1000).
    Prohibit,
}

impl From<core::Permission> for PermissionValue {
    fn from(p: core::Permission) -> Self {
        match p {
            core::Permission::Allow => PermissionValue::Allow,
            core::Permission::Prevent => PermissionValue::Prevent,
            core::Permission::Prohibit => PermissionValue::Prohibit,
        }
    }
}

/// A row met on the path while explaining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceRow {
    /// Where the row is (the system context: the role definition).
    pub context: u32,
    /// Its value.
    pub permission: PermissionValue,
    /// Whether it decided the role's value.
    pub decisive: bool,
}

/// Where an active role came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceOrigin {
    /// `assignment`, `default_user_role`, `frontpage_role`, `guest_role`,
    /// `not_logged_in_role` or `switch`.
    pub kind: String,
    /// Where (assignment, front page or switch).
    #[serde(default)]
    pub context: Option<u32>,
    /// For an assignment: `manual`, `audience` or `support`.
    #[serde(default)]
    pub source: Option<String>,
    /// For an assignment: active from.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub from: Option<Timestamp>,
    /// For an assignment: active until.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub until: Option<Timestamp>,
}

impl From<&core::RoleOrigin> for TraceOrigin {
    fn from(o: &core::RoleOrigin) -> Self {
        let plain = |kind: &str, context: Option<core::ContextId>| TraceOrigin {
            kind: kind.into(),
            context: context.map(|c| c.0),
            source: None,
            from: None,
            until: None,
        };
        match *o {
            core::RoleOrigin::Assignment {
                context,
                source,
                from,
                until,
            } => TraceOrigin {
                kind: "assignment".into(),
                context: Some(context.0),
                source: Some(source.name().into()),
                from,
                until,
            },
            core::RoleOrigin::DefaultUserRole => plain("default_user_role", None),
            core::RoleOrigin::FrontpageRole { context } => plain("frontpage_role", Some(context)),
            core::RoleOrigin::GuestRole => plain("guest_role", None),
            core::RoleOrigin::NotLoggedInRole => plain("not_logged_in_role", None),
            core::RoleOrigin::Switch { context } => plain("switch", Some(context)),
        }
    }
}

/// One active role of an explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceRole {
    /// The role.
    pub role: u32,
    /// Its short name.
    pub shortname: String,
    /// Every way it is active here.
    pub origins: Vec<TraceOrigin>,
    /// Its rows for the capability on the path, most specific first.
    pub rows: Vec<TraceRow>,
    /// What it resolves to (none: not set on the path).
    #[serde(default)]
    pub value: Option<PermissionValue>,
}

/// A decision and why (SEMANTICS.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExplainAnswer {
    /// The decision, as `check` gives it.
    #[serde(flatten)]
    pub decision: CheckAnswer,
    /// The path of the context, root first.
    pub path: Vec<u32>,
    /// The active roles (empty when a rule before step 8 decided).
    pub roles: Vec<TraceRole>,
}

impl From<core::Rule> for CheckAnswer {
    fn from(r: core::Rule) -> Self {
        CheckAnswer {
            allowed: r.allows(),
            step: r.step(),
            rule: r.name().into(),
            tenant_denial: r.denial().map(|d| d.name().into()),
            reason: r.describe().into(),
        }
    }
}

impl From<&core::Explanation> for ExplainAnswer {
    fn from(x: &core::Explanation) -> Self {
        ExplainAnswer {
            decision: CheckAnswer {
                allowed: x.allowed,
                step: x.step,
                rule: x.rule.name().into(),
                tenant_denial: x.rule.denial().map(|d| d.name().into()),
                reason: x.reason.clone(),
            },
            path: x.path.iter().map(|c| c.0).collect(),
            roles: x
                .roles
                .iter()
                .map(|r| TraceRole {
                    role: r.role.0,
                    shortname: r.shortname.clone(),
                    origins: r.origins.iter().map(TraceOrigin::from).collect(),
                    rows: r
                        .rows
                        .iter()
                        .map(|row| TraceRow {
                            context: row.context.0,
                            permission: row.permission.into(),
                            decisive: row.decisive,
                        })
                        .collect(),
                    value: r.value.map(PermissionValue::from),
                })
                .collect(),
        }
    }
}

/// A user in a context ("Check permissions").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"user": 12, "context": 10})))]
#[serde(deny_unknown_fields)]
pub struct PermissionsRequest {
    /// The user.
    pub user: u32,
    /// The context.
    pub context: u32,
    /// The instant (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<Timestamp>,
}

/// One capability of "Check permissions".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PermissionLine {
    /// The capability.
    pub capability: String,
    /// The decision.
    pub allowed: bool,
    /// The step that decided.
    pub step: u8,
    /// The rule that decided.
    pub rule: String,
}

impl From<&core::EffectivePermission<'_>> for PermissionLine {
    fn from(p: &core::EffectivePermission<'_>) -> Self {
        PermissionLine {
            capability: p.capability.to_string(),
            allowed: p.allowed,
            step: p.rule.step(),
            rule: p.rule.name().into(),
        }
    }
}

/// Who holds a capability in a context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"capability": "moodle/course:view", "context": 10})))]
#[serde(deny_unknown_fields)]
pub struct UsersRequest {
    /// The capability.
    pub capability: String,
    /// The context.
    pub context: u32,
    /// The instant (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<Timestamp>,
}

/// The users holding a capability (`doanything` off, switches ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsersAnswer {
    /// Their ids, ascending (for a tenant-scoped caller: only the users it may see).
    pub users: Vec<u32>,
    /// The default user role alone allows it: every authenticated user holds it, except
    /// those a prohibit, a tenant rule or a support scope keeps out.
    pub all_authenticated: bool,
}

/// Each role's values of a capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"capability": "moodle/course:update"})))]
#[serde(deny_unknown_fields)]
pub struct OverviewRequest {
    /// The capability.
    pub capability: String,
    /// The roles (default: every role).
    #[serde(default)]
    pub roles: Option<Vec<u32>>,
}

/// An override in the capability overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverviewOverride {
    /// Where.
    pub context: u32,
    /// The value.
    pub permission: PermissionValue,
}

/// One role in the capability overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverviewLine {
    /// The role.
    pub role: u32,
    /// Its definition (system) value; none: not set.
    #[serde(default)]
    pub definition: Option<PermissionValue>,
    /// Its overrides (for a tenant-scoped caller: those in contexts it may see).
    pub overrides: Vec<OverviewOverride>,
}

impl From<&core::OverviewRow> for OverviewLine {
    fn from(r: &core::OverviewRow) -> Self {
        OverviewLine {
            role: r.role.0,
            definition: r.definition.map(PermissionValue::from),
            overrides: r
                .overrides
                .iter()
                .map(|(c, p)| OverviewOverride {
                    context: c.0,
                    permission: (*p).into(),
                })
                .collect(),
        }
    }
}

/// `can_assign`, `can_override` and `can_switch`: may `user` do it with `role` at `context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"user": 10, "role": 5, "context": 10, "capability": "moodle/course:view"})))]
#[serde(deny_unknown_fields)]
pub struct RoleQuestion {
    /// The actor.
    pub user: u32,
    /// The target role.
    pub role: u32,
    /// Where.
    pub context: u32,
    /// `can_override` only: the capability to override (none: may it override the role at all).
    #[serde(default)]
    pub capability: Option<String>,
    /// The instant (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<Timestamp>,
}

/// A yes or no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// The answer.
    pub allowed: bool,
}

/// An assignment named by (user, role, context).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignmentRef {
    /// Who.
    pub user: u32,
    /// Which role.
    pub role: u32,
    /// Where.
    pub context: u32,
}

impl From<&core::AssignmentKey> for AssignmentRef {
    fn from(k: &core::AssignmentKey) -> Self {
        AssignmentRef {
            user: k.user.0,
            role: k.role.0,
            context: k.context.0,
        }
    }
}

/// Is a course or program visible to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"user": 12, "context": 10})))]
#[serde(deny_unknown_fields)]
pub struct VisibilityRequest {
    /// The user.
    pub user: u32,
    /// The course or program context.
    pub context: u32,
    /// The instant (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<Timestamp>,
}

/// Visible or not, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VisibilityAnswer {
    /// The answer.
    pub visible: bool,
    /// The stable reason (`visible`, `hidden`, `other_tenant`, `isolated`, …).
    pub reason: String,
}

impl From<core::Visibility> for VisibilityAnswer {
    fn from(v: core::Visibility) -> Self {
        VisibilityAnswer {
            visible: v.visible,
            reason: v.reason.name().into(),
        }
    }
}

/// Every course and program for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"user": 12})))]
#[serde(deny_unknown_fields)]
pub struct VisibleItemsRequest {
    /// The user.
    pub user: u32,
    /// The instant (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<Timestamp>,
}

/// A course or program with its visibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VisibleItem {
    /// Its context.
    pub context: u32,
    /// `course` or `program`.
    pub level: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its tenant.
    #[serde(default)]
    pub tenant: Option<u32>,
    /// Visible or not.
    pub visible: bool,
    /// Why.
    pub reason: String,
}

impl From<&core::VisibleItem> for VisibleItem {
    fn from(i: &core::VisibleItem) -> Self {
        VisibleItem {
            context: i.context.0,
            level: i.level.name().into(),
            name: i.name.clone(),
            tenant: i.tenant.map(|t| t.0),
            visible: i.visible,
            reason: i.reason.name().into(),
        }
    }
}

/// A validation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssueItem {
    /// The stable code (`bad_parent_level`, `unknown_reference`, …).
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// Where, as a JSON path into the snapshot (`contexts[41].parent`).
    pub path: String,
}

impl From<&core::Issue> for IssueItem {
    fn from(i: &core::Issue) -> Self {
        IssueItem {
            code: i.code.as_str().into(),
            message: i.message.clone(),
            path: i.path.clone(),
        }
    }
}

/// The result of validating a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationReport {
    /// No problem found.
    pub valid: bool,
    /// Every problem.
    pub issues: Vec<IssueItem>,
    /// The distinct codes, sorted (what a conformance `validate` query expects).
    pub codes: Vec<String>,
}

/// What importing a preset did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresetImported {
    /// The site's new revision.
    pub revision: u64,
    /// The role written.
    pub role: u32,
    /// Its short name.
    pub shortname: String,
    /// Whether the role is new.
    pub created: bool,
    /// Definition rows set or cleared.
    pub permissions_set: usize,
    /// Capabilities the preset names that the site does not have (skipped).
    pub unknown_capabilities: Vec<String>,
    /// Roles the preset's allow lists name that the site does not have (skipped).
    pub unknown_roles: Vec<String>,
    /// Context levels the preset names that do not exist (skipped).
    pub unknown_levels: Vec<String>,
    /// The parts of the role that changed (`shortname`, `name`, `description`, `archetype`,
    /// `contextlevels`, `allow_assign`, `allow_override`, `allow_switch`, `allow_view`,
    /// `permissions`).
    #[serde(default)]
    pub changed: Vec<String>,
    /// An archetype the preset names that Capstan does not know (read as none, as Moodle does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_archetype: Option<String>,
}

/// `?allowview=false`: how a preset is exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct PresetExport {
    /// Write `allowview` (default true; false for Moodle sites older than it, which refuse it).
    #[serde(default)]
    pub allowview: Option<bool>,
}

/// Where a reset takes a role's parts from (Moodle's "Reset role" page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ResetSource {
    /// An archetype's Moodle defaults, by name (`student`, …).
    Archetype(String),
    /// Another role of the site.
    Role(u32),
    /// A Moodle role preset document.
    Preset(String),
    /// Nothing: the chosen parts are emptied.
    Nothing(bool),
}

/// `POST /api/v1/roles/{id}/reset`: which parts of the role take their value from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The source: `{"archetype": "student"}`, `{"role": 3}`, `{"preset": "<role>…"}` or
    /// `{"nothing": true}`.
    pub from: ResetSource,
    /// The parts to reset (names as in `changed`); empty: nothing changes.
    pub parts: Vec<String>,
}

/// `POST /api/v1/viewable-roles`: the roles a user may see in a context (Moodle's
/// `get_viewable_roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ViewableRolesQuestion {
    /// The user.
    pub user: u32,
    /// The context.
    pub context: u32,
    /// The instant (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<capstan_core::Timestamp>,
}

/// The roles a user may see, in sort order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ViewableRoles {
    /// Role ids.
    pub roles: Vec<u32>,
}

/// `?role=ID`: the role a preset replaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct PresetTarget {
    /// The role to replace (default: the role with the preset's short name, else a new role).
    #[serde(default)]
    pub role: Option<u32>,
}
