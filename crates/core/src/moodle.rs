//! Moodle 4.5 as it ships: its 741 capabilities, the archetype defaults of its standard roles,
//! their default context levels and allow matrices, their English names, and a site made from
//! all of it ([`template`], `capstan new --template moodle-4.5`).
//!
//! The data (`data/moodle-4.5-capabilities.tsv`) is a compact copy of what was read from the
//! `db/access.php` files of Moodle 4.5.6 (see `shared/moodle/capabilities/README.md`); a test
//! checks it against those files. Facts, not code: nothing of Moodle's is run or copied.
//!
//! Two kinds of "defaults" are kept apart, as Moodle keeps them:
//! - [`archetype_defaults`]: what Moodle's "Reset" to an archetype and "new role from archetype"
//!   use (`get_default_capabilities`): each capability's `archetypes` entry, nothing else.
//! - [`install_definitions`]: what a fresh Moodle site holds. Moodle's installer copies the rows
//!   of a capability's `clonepermissionsfrom` source instead of its archetypes when the source
//!   is already installed: for a plugin capability whose source is defined in another,
//!   earlier-installed `access.php`. On 4.5.6 that changes nine rows (for example
//!   `report/questioninstances:view`, cloned from `moodle/site:config`, is held by nobody).
//!   Checked row for row against the role definitions of a real Moodle 4.5.6 database.
//!
//! Totara's two tenant archetypes have no data in Moodle. Capstan derives theirs from the
//! manager archetype, and says so: a tenant domain manager gets the manager's defaults for the
//! capabilities whose home level is category, course, activity or block (a manager of the
//! tenant's category); a tenant user manager gets the manager's defaults for the capabilities
//! at user level and for `moodle/user:*`, `moodle/cohort:*`, `moodle/role:assign` and
//! `moodle/role:review` (it manages the tenant's people).

use crate::model::*;
use std::sync::OnceLock;

/// The templates [`template`] knows, by name.
pub const TEMPLATES: [&str; 1] = ["moodle-4.5"];

/// Moodle's release the data comes from.
pub const MOODLE_RELEASE: &str = "4.5.6 (Build: 20250811)";

const DATA: &str = include_str!("../data/moodle-4.5-capabilities.tsv");

/// The file that defines Moodle core's own capabilities.
const CORE_ACCESS_FILE: &str = "lib/db/access.php";

/// One capability as Moodle 4.5 defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoodleCapability {
    /// Its name, e.g. `moodle/course:view`.
    pub name: &'static str,
    /// Read or write (`moodle/course:viewhiddengroups`, written `READ` in Moodle, is read).
    pub captype: CapType,
    /// Its home level (for display: `has_capability` never looks at it).
    pub contextlevel: ContextLevel,
    /// Its risks.
    pub risks: RiskSet,
    /// Its `archetypes` entry: the default of each standard archetype that has one.
    pub archetypes: Vec<(Archetype, Permission)>,
    /// Its `clonepermissionsfrom`, if any.
    pub clone_from: Option<&'static str>,
    /// The `access.php` that defines it, relative to Moodle's root.
    pub file: &'static str,
}

impl MoodleCapability {
    /// The capability as a site holds it.
    pub fn to_capability(&self) -> Capability {
        Capability {
            name: self.name.to_string(),
            captype: self.captype,
            contextlevel: self.contextlevel,
            risks: self.risks,
        }
    }
}

fn parse_permission(s: &str) -> Option<Permission> {
    match s {
        "allow" => Some(Permission::Allow),
        "prevent" => Some(Permission::Prevent),
        "prohibit" => Some(Permission::Prohibit),
        _ => None,
    }
}

fn parse_line(line: &'static str) -> Option<MoodleCapability> {
    let mut f = line.split('\t');
    let name = f.next()?;
    let captype = match f.next()? {
        "read" => CapType::Read,
        "write" => CapType::Write,
        _ => return None,
    };
    let contextlevel = ContextLevel::from_name(f.next()?)?;
    let risks = f
        .next()?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Risk::ALL.into_iter().find(|r| r.name() == s))
        .collect::<Option<Vec<Risk>>>()?
        .into_iter()
        .collect();
    let archetypes = f
        .next()?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((Archetype::from_name(k)?, parse_permission(v)?))
        })
        .collect::<Option<Vec<_>>>()?;
    let clone_from = Some(f.next()?).filter(|s| !s.is_empty());
    let file = f.next()?;
    Some(MoodleCapability {
        name,
        captype,
        contextlevel,
        risks,
        archetypes,
        clone_from,
        file,
    })
}

/// Every capability of standard Moodle 4.5.6, sorted by name.
pub fn capabilities() -> &'static [MoodleCapability] {
    static CAPS: OnceLock<Vec<MoodleCapability>> = OnceLock::new();
    CAPS.get_or_init(|| {
        DATA.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(parse_line)
            .collect()
    })
}

/// A Moodle capability by name.
pub fn capability(name: &str) -> Option<&'static MoodleCapability> {
    let caps = capabilities();
    caps.binary_search_by(|c| c.name.cmp(name))
        .ok()
        .and_then(|i| caps.get(i))
}

/// Capabilities whose names are Moodle's but that an archetype derivation must find.
fn tenant_user_manager_takes(c: &MoodleCapability) -> bool {
    c.contextlevel == ContextLevel::User
        || c.name.starts_with("moodle/user:")
        || c.name.starts_with("moodle/cohort:")
        || c.name == "moodle/role:assign"
        || c.name == "moodle/role:review"
}

fn tenant_domain_manager_takes(c: &MoodleCapability) -> bool {
    matches!(
        c.contextlevel,
        ContextLevel::Coursecat | ContextLevel::Course | ContextLevel::Module | ContextLevel::Block
    )
}

/// The default of one capability for an archetype, as Moodle's "Reset" uses it (the
/// capability's `archetypes`; Totara's tenant archetypes as derived in the module docs).
pub fn archetype_default(c: &MoodleCapability, a: Archetype) -> Option<Permission> {
    let own = |a: Archetype| c.archetypes.iter().find(|(x, _)| *x == a).map(|(_, p)| *p);
    match a {
        Archetype::Tenantusermanager => {
            own(Archetype::Manager).filter(|_| tenant_user_manager_takes(c))
        }
        Archetype::Tenantdomainmanager => {
            own(Archetype::Manager).filter(|_| tenant_domain_manager_takes(c))
        }
        a => own(a),
    }
}

/// The archetype's default definition (Moodle's `get_default_capabilities`), by capability
/// name in name order.
pub fn archetype_defaults(a: Archetype) -> Vec<(&'static str, Permission)> {
    capabilities()
        .iter()
        .filter_map(|c| archetype_default(c, a).map(|p| (c.name, p)))
        .collect()
}

/// Whether a fresh install gives `c` its source's rows instead of its archetypes.
fn install_clones(c: &MoodleCapability) -> Option<&'static MoodleCapability> {
    let source = capability(c.clone_from?)?;
    (c.file != CORE_ACCESS_FILE && source.file != c.file).then_some(source)
}

/// The role definitions of a fresh Moodle 4.5.6 site: (archetype, capability, value) for the
/// archetypes' standard roles, in capability-name order.
pub fn install_definitions() -> Vec<(Archetype, &'static str, Permission)> {
    let mut out = Vec::new();
    for c in capabilities() {
        let from = install_clones(c).unwrap_or(c);
        for a in Archetype::ALL {
            if let Some(p) = archetype_default(from, a) {
                out.push((a, c.name, p));
            }
        }
    }
    out
}

/// Where Moodle lets a role of the archetype be assigned by default
/// (`get_default_contextlevels`; Totara's for its tenant archetypes).
pub fn default_contextlevels(a: Archetype) -> &'static [ContextLevel] {
    use ContextLevel as L;
    match a {
        Archetype::Manager => &[L::System, L::Coursecat, L::Course],
        Archetype::Coursecreator => &[L::System, L::Coursecat],
        Archetype::Editingteacher | Archetype::Teacher | Archetype::Student => {
            &[L::Course, L::Module]
        }
        Archetype::Guest | Archetype::User | Archetype::Frontpage => &[],
        Archetype::Tenantusermanager => &[L::Tenant],
        Archetype::Tenantdomainmanager => &[L::Coursecat, L::Course, L::Module],
    }
}

/// One of the four allow lists of a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllowKind {
    /// `allow_assign`.
    Assign,
    /// `allow_override`.
    Override,
    /// `allow_switch`.
    Switch,
    /// `allow_view`.
    View,
}

impl AllowKind {
    /// Every kind, in the order of a role preset.
    pub const ALL: [AllowKind; 4] = [
        AllowKind::Assign,
        AllowKind::Override,
        AllowKind::Switch,
        AllowKind::View,
    ];

    /// The preset element (`allowassign`, …).
    pub const fn element(self) -> &'static str {
        match self {
            AllowKind::Assign => "allowassign",
            AllowKind::Override => "allowoverride",
            AllowKind::Switch => "allowswitch",
            AllowKind::View => "allowview",
        }
    }

    /// The list in a role.
    pub fn of(self, r: &Role) -> &[RoleId] {
        match self {
            AllowKind::Assign => &r.allow_assign,
            AllowKind::Override => &r.allow_override,
            AllowKind::Switch => &r.allow_switch,
            AllowKind::View => &r.allow_view,
        }
    }

    /// The list in a role, to change.
    pub fn of_mut(self, r: &mut Role) -> &mut Vec<RoleId> {
        match self {
            AllowKind::Assign => &mut r.allow_assign,
            AllowKind::Override => &mut r.allow_override,
            AllowKind::Switch => &mut r.allow_switch,
            AllowKind::View => &mut r.allow_view,
        }
    }
}

/// The archetypes whose roles a role of archetype `a` may assign, override, switch to or view
/// by default (Moodle's `get_default_role_archetype_allows`, checked against a real 4.5.6
/// database; Totara's tenant archetypes as Capstan sets them: managers may handle them, a
/// tenant domain manager handles course roles as an editing teacher does).
pub fn default_allows(kind: AllowKind, a: Archetype) -> &'static [Archetype] {
    use Archetype as A;
    const COURSE_VIEW: &[A] = &[A::Coursecreator, A::Editingteacher, A::Teacher, A::Student];
    match (kind, a) {
        (AllowKind::Assign, A::Manager) => &[
            A::Manager,
            A::Coursecreator,
            A::Editingteacher,
            A::Teacher,
            A::Student,
            A::Tenantusermanager,
            A::Tenantdomainmanager,
        ],
        (AllowKind::Assign, A::Editingteacher) => &[A::Teacher, A::Student],
        (AllowKind::Assign, A::Tenantdomainmanager) => &[A::Editingteacher, A::Teacher, A::Student],
        (AllowKind::Override | AllowKind::View, A::Manager) => &A::ALL,
        (AllowKind::Override, A::Editingteacher) => &[A::Teacher, A::Student, A::Guest],
        (AllowKind::Override, A::Tenantdomainmanager) => &[A::Teacher, A::Student, A::Guest],
        (AllowKind::Switch, A::Manager) => &[A::Editingteacher, A::Teacher, A::Student, A::Guest],
        (AllowKind::Switch, A::Editingteacher | A::Tenantdomainmanager) => {
            &[A::Teacher, A::Student, A::Guest]
        }
        (AllowKind::Switch, A::Teacher) => &[A::Student, A::Guest],
        (AllowKind::View, A::Coursecreator | A::Editingteacher | A::Teacher | A::Student) => {
            COURSE_VIEW
        }
        (AllowKind::View, A::Tenantusermanager) => &[A::Tenantusermanager, A::Student],
        (AllowKind::View, A::Tenantdomainmanager) => &[
            A::Tenantdomainmanager,
            A::Editingteacher,
            A::Teacher,
            A::Student,
        ],
        _ => &[],
    }
}

/// Moodle's English name of a standard role with an empty name (`role_get_localname`), by
/// short name; Totara's for its tenant archetypes.
pub fn standard_role_name(shortname: &str) -> Option<&'static str> {
    Some(match shortname {
        "manager" => "Manager",
        "coursecreator" => "Course creator",
        "editingteacher" => "Teacher",
        "teacher" => "Non-editing teacher",
        "student" => "Student",
        "guest" => "Guest",
        "user" => "Authenticated user",
        "frontpage" => "Authenticated user on site home",
        "tenantusermanager" => "Tenant user manager",
        "tenantdomainmanager" => "Tenant domain manager",
        _ => return None,
    })
}

/// Moodle's English description of a standard role with an empty description.
pub fn standard_role_description(shortname: &str) -> Option<&'static str> {
    Some(match shortname {
        "manager" => {
            "Managers can access courses and modify them, but usually do not participate in them."
        }
        "coursecreator" => "Course creators can create new courses.",
        "editingteacher" => {
            "Teachers can do anything within a course, including changing the activities and grading students."
        }
        "teacher" => {
            "Non-editing teachers can teach in courses and grade students, but may not alter activities."
        }
        "student" => "Students generally have fewer privileges within a course.",
        "guest" => "Guests have minimal privileges and usually can not enter text anywhere.",
        "user" => "All logged in users.",
        "frontpage" => "All logged in users in the site home course.",
        "tenantusermanager" => "Manages the users of one tenant.",
        "tenantdomainmanager" => "Manages the courses and categories of one tenant.",
        _ => return None,
    })
}

/// A role's display name: its own name, else Moodle's English name of a standard role, else
/// its short name (Moodle's `role_get_name` without course aliases).
pub fn role_display_name(r: &Role) -> &str {
    if !r.name.trim().is_empty() {
        &r.name
    } else {
        standard_role_name(&r.shortname).unwrap_or(&r.shortname)
    }
}

/// The capability Capstan adds to Moodle's: who may grant support access (site admins only
/// by default).
pub fn support_capability() -> Capability {
    Capability {
        name: "capstan/support:grant".into(),
        captype: CapType::Write,
        contextlevel: ContextLevel::System,
        risks: [Risk::Config, Risk::Managetrust, Risk::Personal]
            .into_iter()
            .collect(),
    }
}

/// The standard roles of a fresh site, in Moodle's id order, then Totara's two.
pub const STANDARD_ROLES: [Archetype; 10] = Archetype::ALL;

/// Why [`template`] made no site.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown template `{0}` (known: moodle-4.5)")]
pub struct UnknownTemplate(pub String);

impl UnknownTemplate {
    /// The stable machine code.
    pub const fn code(&self) -> &'static str {
        "unknown_template"
    }
}

/// A site as a fresh Moodle 4.5.6 install makes it: every capability (plus
/// `capstan/support:grant`), the eight standard roles with ids 1–8 and Totara's two tenant
/// archetypes as 9 and 10, their default context levels, allow lists and definitions, the
/// system context, the site home course, "Category 1", the guest and admin accounts with
/// their user contexts, the five dashboard blocks, and Moodle's default settings.
pub fn template(name: &str) -> Result<Site, UnknownTemplate> {
    if name != "moodle-4.5" {
        return Err(UnknownTemplate(name.to_string()));
    }
    let role_id = |a: Archetype| {
        RoleId(
            STANDARD_ROLES
                .iter()
                .position(|x| *x == a)
                .map_or(0, |i| i as u32 + 1),
        )
    };
    let roles: Vec<Role> = STANDARD_ROLES
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let tenant = matches!(
                a,
                Archetype::Tenantusermanager | Archetype::Tenantdomainmanager
            );
            // In role id order, as Moodle's tables list them.
            let allow = |k| {
                let mut ids: Vec<RoleId> =
                    default_allows(k, a).iter().map(|x| role_id(*x)).collect();
                ids.sort_unstable();
                ids
            };
            Role {
                id: RoleId(i as u32 + 1),
                shortname: a.name().to_string(),
                // Moodle stores empty strings for its standard roles and shows its language
                // strings; Totara's tenant roles carry their names.
                name: if tenant {
                    standard_role_name(a.name()).unwrap_or_default().to_string()
                } else {
                    String::new()
                },
                description: String::new(),
                archetype: Some(a),
                contextlevels: default_contextlevels(a).to_vec(),
                sortorder: Some(i as i64 + 1),
                allow_assign: allow(AllowKind::Assign),
                allow_override: allow(AllowKind::Override),
                allow_switch: allow(AllowKind::Switch),
                allow_view: allow(AllowKind::View),
            }
        })
        .collect();
    let mut capabilities: Vec<Capability> = capabilities()
        .iter()
        .map(MoodleCapability::to_capability)
        .collect();
    capabilities.push(support_capability());
    let system = ContextId(1);
    let permissions = install_definitions()
        .into_iter()
        .map(|(a, cap, p)| PermissionRow {
            role: role_id(a),
            context: system,
            capability: cap.to_string(),
            permission: p,
        })
        .collect();
    let ctx = |id: u32, level, parent: Option<u32>, name: Option<&str>, instance| Context {
        id: ContextId(id),
        level,
        parent: parent.map(ContextId),
        tenant: None,
        instance,
        locked: false,
        visible: true,
        name: name.map(str::to_string),
    };
    use ContextLevel as L;
    let contexts = vec![
        ctx(1, L::System, None, None, None),
        ctx(2, L::Course, Some(1), Some("Site home"), None),
        ctx(3, L::Coursecat, Some(1), Some("Category 1"), None),
        ctx(4, L::User, Some(1), None, Some(UserId(1))),
        ctx(5, L::User, Some(1), None, Some(UserId(2))),
        ctx(6, L::Block, Some(1), Some("Admin bookmarks"), None),
        ctx(7, L::Block, Some(1), Some("Recently accessed items"), None),
        ctx(8, L::Block, Some(1), Some("Timeline"), None),
        ctx(9, L::Block, Some(1), Some("Calendar"), None),
        ctx(10, L::Block, Some(1), Some("Course overview"), None),
    ];
    let user = |id: u32, username: &str, fullname: &str, email: &str| User {
        id: UserId(id),
        username: username.into(),
        tenant: None,
        participant_of: Vec::new(),
        deleted: false,
        suspended: false,
        fullname: Some(fullname.into()),
        email: Some(email.into()),
        support_identifier: None,
    };
    Ok(Site {
        settings: Settings {
            default_user_role: Some(role_id(Archetype::User)),
            guest_role: Some(role_id(Archetype::Guest)),
            not_logged_in_role: Some(role_id(Archetype::Guest)),
            default_frontpage_role: Some(role_id(Archetype::Frontpage)),
            frontpage_context: Some(ContextId(2)),
            guest_user: Some(UserId(1)),
            site_admins: vec![UserId(2)],
            force_login: false,
            context_locking: false,
            context_lock_applies_to_admin: true,
            multitenancy: false,
            tenant_isolation: false,
            support_access: false,
        },
        capabilities,
        contexts,
        roles,
        permissions,
        users: vec![
            user(1, "guest", "Guest user", "root@localhost"),
            user(2, "admin", "Admin User", "admin@example.com"),
        ],
        ..Site::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capability_of_the_data_is_read() {
        let lines = DATA.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(lines, 741);
        assert_eq!(capabilities().len(), 741);
        assert!(capabilities().windows(2).all(|w| w[0].name < w[1].name));
        let viewhiddengroups = capability("moodle/course:viewhiddengroups").unwrap();
        assert_eq!(viewhiddengroups.captype, CapType::Read);
    }

    #[test]
    fn archetype_defaults_are_not_only_allow() {
        let guest = archetype_defaults(Archetype::Guest);
        assert!(guest.contains(&("moodle/user:changeownpassword", Permission::Prohibit)));
        assert!(guest.contains(&("block/online_users:viewlist", Permission::Prevent)));
        assert!(
            archetype_defaults(Archetype::Manager)
                .iter()
                .all(|(n, _)| *n != "moodle/site:config")
        );
    }

    #[test]
    fn a_fresh_install_clones_where_moodle_does() {
        let defs = install_definitions();
        let has = |a, c, p| defs.contains(&(a, c, p));
        assert!(has(
            Archetype::Editingteacher,
            "block/globalsearch:addinstance",
            Permission::Allow
        ));
        assert!(has(
            Archetype::Guest,
            "report/usersessions:manageownsessions",
            Permission::Prohibit
        ));
        assert!(!defs.iter().any(|d| d.1 == "report/questioninstances:view"));
        // Reset, unlike the installer, does not clone.
        assert!(
            archetype_defaults(Archetype::Manager)
                .contains(&("report/questioninstances:view", Permission::Allow))
        );
    }
}
