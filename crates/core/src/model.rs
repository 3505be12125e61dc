//! The core's own model of a site: what a snapshot holds once it is read, with ids as newtypes
//! and every default filled in. The wire format lives in [`crate::snapshot`]; the compiled index
//! in [`crate::engine`].

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// The id of a context (a node of the context tree).
    ContextId
);
id_type!(
    /// The id of a role.
    RoleId
);
id_type!(
    /// The id of a user; `UserId(0)` is "not logged in".
    UserId
);
id_type!(
    /// The id of a tenant.
    TenantId
);

impl UserId {
    /// The visitor who is not logged in.
    pub const NOT_LOGGED_IN: UserId = UserId(0);
}

/// A level of the context tree, with Moodle/Totara's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextLevel {
    /// The site (10), the root.
    System,
    /// A tenant (15), directly under system.
    Tenant,
    /// A user's own context (30).
    User,
    /// A course category (40).
    Coursecat,
    /// A program or certification (45).
    Program,
    /// A course (50).
    Course,
    /// An activity (70).
    Module,
    /// A block (80).
    Block,
}

impl ContextLevel {
    /// Every level, in tree order.
    pub const ALL: [ContextLevel; 8] = [
        ContextLevel::System,
        ContextLevel::Tenant,
        ContextLevel::User,
        ContextLevel::Coursecat,
        ContextLevel::Program,
        ContextLevel::Course,
        ContextLevel::Module,
        ContextLevel::Block,
    ];

    /// Moodle's number for the level (`CONTEXT_SYSTEM` = 10, …).
    pub const fn number(self) -> u16 {
        match self {
            ContextLevel::System => 10,
            ContextLevel::Tenant => 15,
            ContextLevel::User => 30,
            ContextLevel::Coursecat => 40,
            ContextLevel::Program => 45,
            ContextLevel::Course => 50,
            ContextLevel::Module => 70,
            ContextLevel::Block => 80,
        }
    }

    /// The level with Moodle's number, if there is one.
    pub fn from_number(n: u16) -> Option<Self> {
        ContextLevel::ALL.into_iter().find(|l| l.number() == n)
    }

    /// The lowercase name used in snapshots (`system`, `coursecat`, …).
    pub const fn name(self) -> &'static str {
        match self {
            ContextLevel::System => "system",
            ContextLevel::Tenant => "tenant",
            ContextLevel::User => "user",
            ContextLevel::Coursecat => "coursecat",
            ContextLevel::Program => "program",
            ContextLevel::Course => "course",
            ContextLevel::Module => "module",
            ContextLevel::Block => "block",
        }
    }

    /// The level with that snapshot name.
    pub fn from_name(name: &str) -> Option<Self> {
        ContextLevel::ALL.into_iter().find(|l| l.name() == name)
    }

    /// A bit of its own, for level sets.
    pub const fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// Whether a context of this level may sit directly under a context of `parent`
    /// (SEMANTICS.md §1). The user-under-tenant and front-page-course rules are refined by
    /// validation, which knows the tenants and the user.
    pub fn allows_parent(self, parent: ContextLevel) -> bool {
        use ContextLevel as L;
        match self {
            L::System => false,
            L::Tenant => parent == L::System,
            L::User => matches!(parent, L::System | L::Tenant),
            L::Coursecat => matches!(parent, L::System | L::Coursecat),
            L::Program => matches!(parent, L::Coursecat | L::System),
            L::Course => matches!(parent, L::Coursecat | L::System),
            L::Module => parent == L::Course,
            L::Block => parent != L::Block,
        }
    }
}

impl fmt::Display for ContextLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A permission value of one row. "Not set" (inherit) is the absence of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// `CAP_ALLOW` (1).
    Allow,
    /// `CAP_PREVENT` (-1): removes this role's allow, vetoes nothing else.
    Prevent,
    /// `CAP_PROHIBIT` (-1000): anywhere on the checked path, the answer is false.
    Prohibit,
}

impl Permission {
    /// Moodle's number for the value.
    pub const fn number(self) -> i32 {
        match self {
            Permission::Allow => 1,
            Permission::Prevent => -1,
            Permission::Prohibit => -1000,
        }
    }

    /// The lowercase name (`allow`, `prevent`, `prohibit`).
    pub const fn name(self) -> &'static str {
        match self {
            Permission::Allow => "allow",
            Permission::Prevent => "prevent",
            Permission::Prohibit => "prohibit",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Whether a capability reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CapType {
    /// Reading; never blocked by context locking.
    Read,
    /// Writing; never for guests, blocked in locked contexts.
    Write,
}

/// One risk a capability carries (Moodle's `RISK_*` bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// `RISK_MANAGETRUST`.
    Managetrust,
    /// `RISK_CONFIG`.
    Config,
    /// `RISK_XSS`.
    Xss,
    /// `RISK_PERSONAL`.
    Personal,
    /// `RISK_SPAM`.
    Spam,
    /// `RISK_DATALOSS`.
    Dataloss,
}

impl Risk {
    /// Every risk, in Moodle's bit order.
    pub const ALL: [Risk; 6] = [
        Risk::Managetrust,
        Risk::Config,
        Risk::Xss,
        Risk::Personal,
        Risk::Spam,
        Risk::Dataloss,
    ];

    /// Moodle's bit for the risk.
    pub const fn bit(self) -> u8 {
        match self {
            Risk::Managetrust => 0x0001,
            Risk::Config => 0x0002,
            Risk::Xss => 0x0004,
            Risk::Personal => 0x0008,
            Risk::Spam => 0x0010,
            Risk::Dataloss => 0x0020,
        }
    }

    /// The lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            Risk::Managetrust => "managetrust",
            Risk::Config => "config",
            Risk::Xss => "xss",
            Risk::Personal => "personal",
            Risk::Spam => "spam",
            Risk::Dataloss => "dataloss",
        }
    }
}

/// A set of risks as Moodle's bitmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct RiskSet(pub u8);

impl RiskSet {
    /// The risks that the guest account and user 0 never get (§2 step 3).
    pub const GUEST_FORBIDDEN: RiskSet = RiskSet(0x0004 | 0x0002 | 0x0020);
    /// The risks that make a capability unsafe to override with `moodle/role:safeoverride`.
    pub const UNSAFE_OVERRIDE: RiskSet = RiskSet(0x0020 | 0x0001 | 0x0002 | 0x0004 | 0x0008);

    /// Whether the two sets share a risk.
    pub const fn intersects(self, other: RiskSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set holds the risk.
    pub const fn contains(self, risk: Risk) -> bool {
        self.0 & risk.bit() != 0
    }

    /// The risks in the set, in Moodle's bit order.
    pub fn iter(self) -> impl Iterator<Item = Risk> {
        Risk::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Risk> for RiskSet {
    fn from_iter<I: IntoIterator<Item = Risk>>(iter: I) -> Self {
        RiskSet(iter.into_iter().fold(0, |acc, r| acc | r.bit()))
    }
}

/// A role archetype (Moodle's and Totara's built-in role kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Archetype {
    /// Manager.
    Manager,
    /// Course creator.
    Coursecreator,
    /// Teacher with editing rights.
    Editingteacher,
    /// Non-editing teacher.
    Teacher,
    /// Student / learner.
    Student,
    /// Guest.
    Guest,
    /// Authenticated user.
    User,
    /// Authenticated user on the front page.
    Frontpage,
    /// Totara tenant user manager.
    Tenantusermanager,
    /// Totara tenant domain manager.
    Tenantdomainmanager,
}

impl Archetype {
    /// Every archetype.
    pub const ALL: [Archetype; 10] = [
        Archetype::Manager,
        Archetype::Coursecreator,
        Archetype::Editingteacher,
        Archetype::Teacher,
        Archetype::Student,
        Archetype::Guest,
        Archetype::User,
        Archetype::Frontpage,
        Archetype::Tenantusermanager,
        Archetype::Tenantdomainmanager,
    ];

    /// The lowercase name used in snapshots and presets.
    pub const fn name(self) -> &'static str {
        match self {
            Archetype::Manager => "manager",
            Archetype::Coursecreator => "coursecreator",
            Archetype::Editingteacher => "editingteacher",
            Archetype::Teacher => "teacher",
            Archetype::Student => "student",
            Archetype::Guest => "guest",
            Archetype::User => "user",
            Archetype::Frontpage => "frontpage",
            Archetype::Tenantusermanager => "tenantusermanager",
            Archetype::Tenantdomainmanager => "tenantdomainmanager",
        }
    }

    /// The archetype with that name.
    pub fn from_name(name: &str) -> Option<Self> {
        Archetype::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Where an assignment came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Assigned by hand.
    #[default]
    Manual,
    /// Synchronised from an audience (cohort); shown greyed, kept by manual clean-up.
    Audience,
    /// A time-boxed support grant (§7).
    Support,
}

impl Source {
    /// The lowercase name used in snapshots (`manual`, `audience`, `support`).
    pub const fn name(self) -> &'static str {
        match self {
            Source::Manual => "manual",
            Source::Audience => "audience",
            Source::Support => "support",
        }
    }
}

/// Site settings that the resolver reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The role every authenticated non-guest user holds at system.
    pub default_user_role: Option<RoleId>,
    /// The role of the guest account (lowest-id `guest` archetype when unset).
    pub guest_role: Option<RoleId>,
    /// The role of user 0.
    pub not_logged_in_role: Option<RoleId>,
    /// The role authenticated users hold inside `frontpage_context`.
    pub default_frontpage_role: Option<RoleId>,
    /// The front page course context.
    pub frontpage_context: Option<ContextId>,
    /// The guest account.
    pub guest_user: Option<UserId>,
    /// Site administrators.
    pub site_admins: Vec<UserId>,
    /// Not-logged-in visitors get nothing.
    pub force_login: bool,
    /// Locked contexts refuse write capabilities.
    pub context_locking: bool,
    /// Context locking applies to site admins too.
    pub context_lock_applies_to_admin: bool,
    /// Tenants are in force.
    pub multitenancy: bool,
    /// Tenant members are kept to their own tenant.
    pub tenant_isolation: bool,
    /// Support staff may sign in.
    pub support_access: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_user_role: None,
            guest_role: None,
            not_logged_in_role: None,
            default_frontpage_role: None,
            frontpage_context: None,
            guest_user: None,
            site_admins: Vec::new(),
            force_login: false,
            context_locking: false,
            context_lock_applies_to_admin: true,
            multitenancy: false,
            tenant_isolation: false,
            support_access: true,
        }
    }
}

/// A capability definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// `component/area:action`.
    pub name: String,
    /// Read or write.
    pub captype: CapType,
    /// Its home context level.
    pub contextlevel: ContextLevel,
    /// The risks it carries.
    pub risks: RiskSet,
}

/// A node of the context tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Its id.
    pub id: ContextId,
    /// Its level.
    pub level: ContextLevel,
    /// Its parent; `None` only for the system context.
    pub parent: Option<ContextId>,
    /// The tenant as written in the snapshot (the effective one is computed).
    pub tenant: Option<TenantId>,
    /// The user of a user context.
    pub instance: Option<UserId>,
    /// Frozen (context locking).
    pub locked: bool,
    /// Shown to learners (courses, programs, categories).
    pub visible: bool,
    /// A display name.
    pub name: Option<String>,
}

/// A tenant (Totara multitenancy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Display name.
    pub name: Option<String>,
    /// Its tenant context.
    pub context: ContextId,
    /// Its top-level category.
    pub category: ContextId,
    /// Suspended: its members cannot sign in, its items are for admins only.
    pub suspended: bool,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Its id.
    pub id: RoleId,
    /// Unique short name.
    pub shortname: String,
    /// Display name (may carry multilang spans).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Archetype.
    pub archetype: Option<Archetype>,
    /// Levels where it may be assigned.
    pub contextlevels: Vec<ContextLevel>,
    /// Sort order.
    pub sortorder: Option<i64>,
    /// Roles that holders may assign.
    pub allow_assign: Vec<RoleId>,
    /// Roles that holders may override.
    pub allow_override: Vec<RoleId>,
    /// Roles that holders may switch to.
    pub allow_switch: Vec<RoleId>,
    /// Roles that holders may see.
    pub allow_view: Vec<RoleId>,
}

/// A permission row: a definition at system, an override anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRow {
    /// The role.
    pub role: RoleId,
    /// Where it applies.
    pub context: ContextId,
    /// The capability name.
    pub capability: String,
    /// Its value.
    pub permission: Permission,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id (> 0).
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Tenant it is a member of.
    pub tenant: Option<TenantId>,
    /// Tenants it takes part in without being a member.
    pub participant_of: Vec<TenantId>,
    /// Deleted users resolve to nothing.
    pub deleted: bool,
    /// Suspended users still resolve.
    pub suspended: bool,
    /// Display name.
    pub fullname: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// The identifier of a temporary support user.
    pub support_identifier: Option<String>,
}

/// A role assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Who.
    pub user: UserId,
    /// Which role.
    pub role: RoleId,
    /// Where.
    pub context: ContextId,
    /// Active from (inclusive).
    pub from: Option<Timestamp>,
    /// Active until (exclusive).
    pub until: Option<Timestamp>,
    /// Where it came from.
    pub source: Source,
}

impl Assignment {
    /// Whether it is active at `at` (`from <= at < until`).
    pub fn is_active(&self, at: Timestamp) -> bool {
        self.from.is_none_or(|f| f <= at) && self.until.is_none_or(|u| at < u)
    }
}

/// A role switch: the user views the subtree of a context as a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// Who.
    pub user: UserId,
    /// Where.
    pub context: ContextId,
    /// As which role.
    pub role: RoleId,
}

/// A course in a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramCourse {
    /// The program context.
    pub program: ContextId,
    /// The course context.
    pub course: ContextId,
}

/// What marks a snapshot as a bundle: a cut of the site for one user (FORMAT.md "Bundles").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The user it answers for (0: not logged in).
    pub user: UserId,
    /// The roots of the covered subtrees (empty: the whole tree).
    pub contexts: Vec<ContextId>,
}

/// Everything a snapshot holds, in the core's terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Site {
    /// Site settings.
    pub settings: Settings,
    /// Capability definitions.
    pub capabilities: Vec<Capability>,
    /// The context tree.
    pub contexts: Vec<Context>,
    /// Tenants.
    pub tenants: Vec<Tenant>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Permission rows.
    pub permissions: Vec<PermissionRow>,
    /// Users.
    pub users: Vec<User>,
    /// Role assignments.
    pub assignments: Vec<Assignment>,
    /// Role switches.
    pub switches: Vec<Switch>,
    /// Program contents.
    pub program_courses: Vec<ProgramCourse>,
    /// Set when the snapshot is a bundle for one user.
    pub bundle: Option<Bundle>,
}
