//! The JS shapes of answers: camelCase, plain numbers and strings. Converted from the core's
//! types with `From`, so a change in the core never silently changes the JS API.

use capstan_core as core;
use capstan_core::{Permission, RoleOrigin as CoreOrigin, Rule, Source, TenantDenial};
use serde::{Deserialize, Serialize};

fn permission(p: Permission) -> &'static str {
    p.name()
}

/// The stable name of a rule (`site_admin`, `prohibited`, `tenant`, …).
pub fn rule_name(r: Rule) -> &'static str {
    r.name()
}

/// The stable name of a tenant denial, when the rule is one.
pub fn denial_name(r: Rule) -> Option<&'static str> {
    r.denial().map(TenantDenial::name)
}

fn source(s: Source) -> &'static str {
    s.name()
}

#[derive(Serialize)]
pub struct ValidationIssue {
    code: &'static str,
    message: String,
    path: String,
}

impl From<&core::Issue> for ValidationIssue {
    fn from(i: &core::Issue) -> Self {
        ValidationIssue {
            code: i.code.as_str(),
            message: i.message.clone(),
            path: i.path.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleOrigin {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<String>,
}

impl From<&CoreOrigin> for RoleOrigin {
    fn from(o: &CoreOrigin) -> Self {
        let plain = |kind, context: Option<u32>| RoleOrigin {
            kind,
            context,
            source: None,
            from: None,
            until: None,
        };
        match o {
            CoreOrigin::Assignment {
                context,
                source: s,
                from,
                until,
            } => RoleOrigin {
                kind: "assignment",
                context: Some(context.0),
                source: Some(source(*s)),
                from: from.map(|t| t.to_string()),
                until: until.map(|t| t.to_string()),
            },
            CoreOrigin::DefaultUserRole => plain("default_user_role", None),
            CoreOrigin::FrontpageRole { context } => plain("frontpage_role", Some(context.0)),
            CoreOrigin::GuestRole => plain("guest_role", None),
            CoreOrigin::NotLoggedInRole => plain("not_logged_in_role", None),
            CoreOrigin::Switch { context } => plain("switch", Some(context.0)),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowTrace {
    context: u32,
    permission: &'static str,
    decisive: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleTrace {
    role: u32,
    shortname: String,
    origins: Vec<RoleOrigin>,
    rows: Vec<RowTrace>,
    value: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    allowed: bool,
    rule: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_denial: Option<&'static str>,
    step: u8,
    reason: String,
    user: u32,
    capability: String,
    context: u32,
    path: Vec<u32>,
    roles: Vec<RoleTrace>,
}

impl From<&core::Explanation> for Explanation {
    fn from(e: &core::Explanation) -> Self {
        Explanation {
            allowed: e.allowed,
            rule: rule_name(e.rule),
            tenant_denial: denial_name(e.rule),
            step: e.step,
            reason: e.reason.clone(),
            user: e.user.0,
            capability: e.capability.clone(),
            context: e.context.0,
            path: e.path.iter().map(|c| c.0).collect(),
            roles: e
                .roles
                .iter()
                .map(|r| RoleTrace {
                    role: r.role.0,
                    shortname: r.shortname.clone(),
                    origins: r.origins.iter().map(RoleOrigin::from).collect(),
                    rows: r
                        .rows
                        .iter()
                        .map(|row| RowTrace {
                            context: row.context.0,
                            permission: permission(row.permission),
                            decisive: row.decisive,
                        })
                        .collect(),
                    value: r.value.map(permission),
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectivePermission<'a> {
    capability: &'a str,
    capability_id: u32,
    allowed: bool,
    rule: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_denial: Option<&'static str>,
    reason: &'static str,
}

impl<'a> From<&core::EffectivePermission<'a>> for EffectivePermission<'a> {
    fn from(p: &core::EffectivePermission<'a>) -> Self {
        EffectivePermission {
            capability: p.capability,
            capability_id: p.capability_id.0,
            allowed: p.allowed,
            rule: rule_name(p.rule),
            tenant_denial: denial_name(p.rule),
            reason: p.rule.describe(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideCell {
    context: u32,
    permission: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewRow {
    role: u32,
    definition: Option<&'static str>,
    overrides: Vec<OverrideCell>,
}

impl From<&core::OverviewRow> for OverviewRow {
    fn from(r: &core::OverviewRow) -> Self {
        OverviewRow {
            role: r.role.0,
            definition: r.definition.map(permission),
            overrides: r
                .overrides
                .iter()
                .map(|(c, p)| OverrideCell {
                    context: c.0,
                    permission: permission(*p),
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisibleItem {
    context: u32,
    level: &'static str,
    name: Option<String>,
    tenant: Option<u32>,
    visible: bool,
    reason: String,
}

impl From<&core::VisibleItem> for VisibleItem {
    fn from(i: &core::VisibleItem) -> Self {
        VisibleItem {
            context: i.context.0,
            level: i.level.name(),
            name: i.name.clone(),
            tenant: i.tenant.map(|t| t.0),
            visible: i.visible,
            reason: i.reason.name().to_string(),
        }
    }
}

#[derive(Serialize)]
pub struct AssignmentKey {
    user: u32,
    role: u32,
    context: u32,
}

impl From<&core::AssignmentKey> for AssignmentKey {
    fn from(k: &core::AssignmentKey) -> Self {
        AssignmentKey {
            user: k.user.0,
            role: k.role.0,
            context: k.context.0,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersWithCapability {
    users: Vec<u32>,
    all_authenticated: bool,
}

impl From<&core::UsersWithCapability> for UsersWithCapability {
    fn from(u: &core::UsersWithCapability) -> Self {
        UsersWithCapability {
            users: u.users.iter().map(|u| u.0).collect(),
            all_authenticated: u.all_authenticated,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    role: u32,
    shortname: String,
    created: bool,
    permissions_set: usize,
    unknown_capabilities: Vec<String>,
    unknown_roles: Vec<String>,
    unknown_levels: Vec<String>,
    changed: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown_archetype: Option<String>,
}

/// `exportPreset`'s options.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportPresetOptions {
    pub allow_view: Option<bool>,
}

/// Where `resetRole` takes a role's parts from.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum ResetSource {
    Archetype(String),
    Role(f64),
    Preset(String),
    Nothing(serde::de::IgnoredAny),
}

impl From<&core::preset::ImportReport> for ImportReport {
    fn from(r: &core::preset::ImportReport) -> Self {
        ImportReport {
            role: r.role.0,
            shortname: r.shortname.clone(),
            created: r.created,
            permissions_set: r.permissions_set,
            unknown_capabilities: r.unknown_capabilities.clone(),
            unknown_roles: r.unknown_roles.clone(),
            unknown_levels: r.unknown_levels.clone(),
            changed: r.changed.iter().map(|p| p.name()).collect(),
            unknown_archetype: r.unknown_archetype.clone(),
        }
    }
}

/// Every rule, in the order of the codes of `effectivePermissionsPacked`.
pub const RULES: [Rule; 15] = [
    Rule::ForceLogin,
    Rule::GuestRisk,
    Rule::ContextLocked,
    Rule::UnknownUser,
    Rule::DeletedUser,
    Rule::SupportDisabled,
    Rule::Tenant {
        denial: TenantDenial::GuestInTenant,
    },
    Rule::Tenant {
        denial: TenantDenial::OtherTenant,
    },
    Rule::Tenant {
        denial: TenantDenial::Isolated,
    },
    Rule::Tenant {
        denial: TenantDenial::TenantSuspended,
    },
    Rule::Tenant {
        denial: TenantDenial::SupportOutOfScope,
    },
    Rule::SiteAdmin,
    Rule::Prohibited,
    Rule::Allowed,
    Rule::NotAllowed,
];

/// The code of a rule (its position in [`RULES`]).
pub fn rule_code(r: Rule) -> u32 {
    RULES.iter().position(|x| *x == r).unwrap_or(0) as u32
}

/// One row of the rule table: `[rule, tenantDenial | null, reason, allowed]`.
pub type RuleRow = (&'static str, Option<&'static str>, &'static str, bool);

/// The table that decodes rule codes.
pub fn rule_table() -> Vec<RuleRow> {
    RULES
        .iter()
        .map(|r| (rule_name(*r), denial_name(*r), r.describe(), r.allows()))
        .collect()
}
