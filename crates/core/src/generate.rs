//! A deterministic synthetic site generator, for benchmarks and for tests of the other parts.
//! Pure: a seed in, a valid [`Site`] out (no clock, no I/O, no external randomness).

use crate::model::*;

/// How large a site to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Contexts in all (at least the system context, the tenants' and the front page's).
    pub contexts: usize,
    /// Users (user 1 is the guest account, user 2 a site admin).
    pub users: usize,
    /// Capabilities.
    pub capabilities: usize,
    /// Roles (the first eight are Moodle's archetypes).
    pub roles: usize,
    /// Permission rows outside the system context.
    pub overrides: usize,
    /// Role assignments.
    pub assignments: usize,
    /// Tenants (multitenancy is on when there is one).
    pub tenants: usize,
    /// The seed: the same options give the same site.
    pub seed: u64,
}

impl GenerateOptions {
    /// The large site of the benchmarks: 100,000 contexts (1 system, ~150 categories, 2,000
    /// courses, the rest modules, blocks and user contexts), 5,000 users, 300 capabilities,
    /// 12 roles, 3,000 overrides, 25,000 assignments, 2 tenants.
    pub fn large() -> Self {
        GenerateOptions {
            contexts: 100_000,
            users: 5_000,
            capabilities: 300,
            roles: 12,
            overrides: 3_000,
            assignments: 25_000,
            tenants: 2,
            seed: 1,
        }
    }

    /// A small site for quick tests and demos.
    pub fn small() -> Self {
        GenerateOptions {
            contexts: 400,
            users: 60,
            capabilities: 40,
            roles: 10,
            overrides: 60,
            assignments: 200,
            tenants: 2,
            seed: 1,
        }
    }
}

/// splitmix64: small, fast, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
        let i = self.below(v.len());
        v.get(i).copied()
    }
}

const COMPONENTS: [&str; 12] = [
    "moodle",
    "mod",
    "block",
    "report",
    "tool",
    "local",
    "enrol",
    "totara",
    "gradereport",
    "repository",
    "auth",
    "booktool",
];
const AREAS: [&str; 16] = [
    "course",
    "forum",
    "quiz",
    "assign",
    "user",
    "site",
    "role",
    "grade",
    "calendar",
    "program",
    "backup",
    "badges",
    "cohort",
    "question",
    "page",
    "competency",
];
const ACTIONS: [&str; 16] = [
    "view",
    "update",
    "manage",
    "addinstance",
    "delete",
    "export",
    "grade",
    "submit",
    "viewhidden",
    "create",
    "edit",
    "config",
    "replypost",
    "attempt",
    "review",
    "assign",
];

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Makes a site that passes validation, for any options.
pub fn generate(o: &GenerateOptions) -> Site {
    let mut r = Rng(o.seed ^ 0x5EED_CA75_7A11_0000);
    let mut site = Site::default();

    // Capabilities: the ones the engine consults, then synthetic unique names.
    let mut caps: Vec<Capability> = Vec::new();
    let fixed: [(&str, CapType, ContextLevel, &[Risk]); 8] = [
        (
            "moodle/course:view",
            CapType::Read,
            ContextLevel::Course,
            &[],
        ),
        (
            "moodle/course:update",
            CapType::Write,
            ContextLevel::Course,
            &[Risk::Xss],
        ),
        (
            "moodle/role:assign",
            CapType::Write,
            ContextLevel::Course,
            &[Risk::Spam],
        ),
        (
            "moodle/role:override",
            CapType::Write,
            ContextLevel::Course,
            &[Risk::Config],
        ),
        (
            "moodle/role:safeoverride",
            CapType::Write,
            ContextLevel::Course,
            &[],
        ),
        (
            "moodle/role:switchroles",
            CapType::Read,
            ContextLevel::Course,
            &[],
        ),
        (
            "moodle/course:viewhiddencourses",
            CapType::Read,
            ContextLevel::Course,
            &[],
        ),
        (
            "moodle/site:config",
            CapType::Write,
            ContextLevel::System,
            &[Risk::Config, Risk::Dataloss, Risk::Xss],
        ),
    ];
    for (name, captype, level, risks) in fixed.iter().take(o.capabilities) {
        caps.push(Capability {
            name: (*name).to_string(),
            captype: *captype,
            contextlevel: *level,
            risks: risks.iter().copied().collect(),
        });
    }
    let mut n = 0usize;
    while caps.len() < o.capabilities {
        let c = COMPONENTS
            .get(n % COMPONENTS.len())
            .copied()
            .unwrap_or("local");
        let a = AREAS
            .get((n / COMPONENTS.len()) % AREAS.len())
            .copied()
            .unwrap_or("x");
        let act = ACTIONS
            .get((n / 7) % ACTIONS.len())
            .copied()
            .unwrap_or("view");
        let name = format!("{c}/{a}:{act}{n}");
        n += 1;
        let level = r
            .pick(&[
                ContextLevel::System,
                ContextLevel::User,
                ContextLevel::Coursecat,
                ContextLevel::Course,
                ContextLevel::Course,
                ContextLevel::Module,
                ContextLevel::Module,
                ContextLevel::Block,
            ])
            .unwrap_or(ContextLevel::Course);
        caps.push(Capability {
            name,
            captype: if r.chance(40) {
                CapType::Write
            } else {
                CapType::Read
            },
            contextlevel: level,
            risks: Risk::ALL.iter().copied().filter(|_| r.chance(8)).collect(),
        });
    }
    site.capabilities = caps;

    // Roles: Moodle's archetypes first, then custom ones.
    let archetypes: [(&str, Option<Archetype>, &[ContextLevel]); 10] = [
        (
            "manager",
            Some(Archetype::Manager),
            &[
                ContextLevel::System,
                ContextLevel::Coursecat,
                ContextLevel::Course,
            ],
        ),
        (
            "coursecreator",
            Some(Archetype::Coursecreator),
            &[ContextLevel::System, ContextLevel::Coursecat],
        ),
        (
            "editingteacher",
            Some(Archetype::Editingteacher),
            &[ContextLevel::Course, ContextLevel::Module],
        ),
        (
            "teacher",
            Some(Archetype::Teacher),
            &[ContextLevel::Course, ContextLevel::Module],
        ),
        (
            "student",
            Some(Archetype::Student),
            &[ContextLevel::Course, ContextLevel::Module],
        ),
        ("guest", Some(Archetype::Guest), &[]),
        ("user", Some(Archetype::User), &[]),
        ("frontpage", Some(Archetype::Frontpage), &[]),
        (
            "tenantusermanager",
            Some(Archetype::Tenantusermanager),
            &[ContextLevel::Tenant],
        ),
        (
            "tenantdomainmanager",
            Some(Archetype::Tenantdomainmanager),
            &[
                ContextLevel::Coursecat,
                ContextLevel::Course,
                ContextLevel::Module,
            ],
        ),
    ];
    let nroles = o.roles.max(1);
    for i in 0..nroles {
        let id = RoleId(i as u32 + 1);
        let (shortname, archetype, levels) = match archetypes.get(i) {
            Some((s, a, l)) => ((*s).to_string(), *a, l.to_vec()),
            None => (
                format!("custom{i}"),
                None,
                vec![ContextLevel::Coursecat, ContextLevel::Course],
            ),
        };
        site.roles.push(Role {
            id,
            name: capitalise(&shortname),
            shortname,
            description: String::new(),
            archetype,
            contextlevels: levels,
            sortorder: Some(i as i64 + 1),
            allow_assign: Vec::new(),
            allow_override: Vec::new(),
            allow_switch: Vec::new(),
            allow_view: Vec::new(),
        });
    }
    let all_roles: Vec<RoleId> = site.roles.iter().map(|r| r.id).collect();
    let teaching: Vec<RoleId> = all_roles
        .iter()
        .copied()
        .filter(|r| matches!(r.0, 3..=5))
        .collect();
    for role in site.roles.iter_mut() {
        match role.archetype {
            Some(Archetype::Manager) => {
                role.allow_assign = all_roles.iter().copied().filter(|r| r.0 != 1).collect();
                role.allow_override = all_roles.clone();
                role.allow_switch = teaching.clone();
                role.allow_view = all_roles.clone();
            }
            Some(Archetype::Editingteacher) => {
                role.allow_assign = teaching.iter().copied().filter(|r| r.0 != 3).collect();
                role.allow_override = teaching.clone();
                role.allow_switch = teaching.clone();
                role.allow_view = teaching.clone();
            }
            _ => {}
        }
    }

    // Contexts.
    let mut contexts: Vec<Context> = Vec::with_capacity(o.contexts);
    let mut next_id = 1u32;
    let mut push =
        |contexts: &mut Vec<Context>, level, parent: Option<u32>, name: Option<String>| {
            let id = next_id;
            next_id += 1;
            contexts.push(Context {
                id: ContextId(id),
                level,
                parent: parent.map(ContextId),
                tenant: None,
                instance: None,
                locked: false,
                visible: true,
                name,
            });
            id
        };
    let system = push(
        &mut contexts,
        ContextLevel::System,
        None,
        Some("Site".into()),
    );
    let frontpage = push(
        &mut contexts,
        ContextLevel::Course,
        Some(system),
        Some("Front page".into()),
    );
    let mut tenant_ctx = Vec::new();
    let mut cats: Vec<(u32, Option<usize>)> = Vec::new();
    for t in 0..o.tenants {
        let tc = push(
            &mut contexts,
            ContextLevel::Tenant,
            Some(system),
            Some(format!("Tenant {}", t + 1)),
        );
        let cat = push(
            &mut contexts,
            ContextLevel::Coursecat,
            Some(system),
            Some(format!("Tenant {} courses", t + 1)),
        );
        site.tenants.push(Tenant {
            id: TenantId(t as u32 + 1),
            name: Some(format!("Tenant {}", t + 1)),
            context: ContextId(tc),
            category: ContextId(cat),
            suspended: false,
        });
        tenant_ctx.push(tc);
        cats.push((cat, Some(t)));
    }
    // Budget: ~0.15% categories, 2% courses, 5% users' contexts; the rest modules and blocks.
    let budget = o.contexts.max(contexts.len());
    let ncats = (budget * 15 / 10_000).max(1);
    let ncourses = (budget / 50).max(1);
    let nuser_ctx = o.users.min(budget / 20);
    for i in 0..ncats {
        if contexts.len() >= budget {
            break;
        }
        let parent = if cats.is_empty() || r.chance(40) {
            (system, None)
        } else {
            r.pick(&cats).unwrap_or((system, None))
        };
        let id = push(
            &mut contexts,
            ContextLevel::Coursecat,
            Some(parent.0),
            Some(format!("Category {i}")),
        );
        if let Some(c) = contexts.last_mut() {
            c.visible = !r.chance(5);
        }
        cats.push((id, parent.1));
    }
    let mut courses: Vec<(u32, Option<usize>)> = vec![(frontpage, None)];
    for i in 0..ncourses {
        if contexts.len() >= budget || cats.is_empty() {
            break;
        }
        let cat = r.pick(&cats).unwrap_or((system, None));
        let id = push(
            &mut contexts,
            ContextLevel::Course,
            Some(cat.0),
            Some(format!("Course {i}")),
        );
        if let Some(c) = contexts.last_mut() {
            c.visible = !r.chance(8);
            c.locked = r.chance(2);
        }
        courses.push((id, cat.1));
        if i % 40 == 0 && contexts.len() < budget {
            let p = push(
                &mut contexts,
                ContextLevel::Program,
                Some(cat.0),
                Some(format!("Program {i}")),
            );
            site.program_courses.push(ProgramCourse {
                program: ContextId(p),
                course: ContextId(id),
            });
        }
    }
    // Users and their contexts.
    for i in 0..o.users {
        let id = UserId(i as u32 + 1);
        let tenant = if i >= 2 && o.tenants > 0 && r.chance(20) {
            Some(TenantId(r.below(o.tenants) as u32 + 1))
        } else {
            None
        };
        site.users.push(User {
            id,
            username: if i == 0 {
                "guest".into()
            } else if i == 1 {
                "admin".into()
            } else {
                format!("user{}", i + 1)
            },
            tenant,
            participant_of: Vec::new(),
            deleted: i >= 2 && r.chance(1),
            suspended: i >= 2 && r.chance(2),
            fullname: Some(format!("User {}", i + 1)),
            email: Some(format!("user{}@example.org", i + 1)),
            support_identifier: None,
        });
        if i < nuser_ctx && contexts.len() < budget {
            let parent = match tenant {
                Some(t) => tenant_ctx.get(t.0 as usize - 1).copied().unwrap_or(system),
                None => system,
            };
            push(&mut contexts, ContextLevel::User, Some(parent), None);
            if let Some(c) = contexts.last_mut() {
                c.instance = Some(id);
            }
        }
    }
    // Modules and blocks fill the rest.
    let mut modules: Vec<u32> = Vec::new();
    while contexts.len() < budget {
        if r.chance(75) || modules.is_empty() {
            let (course, _) = r.pick(&courses).unwrap_or((frontpage, None));
            let id = push(&mut contexts, ContextLevel::Module, Some(course), None);
            modules.push(id);
        } else {
            let host = if r.chance(50) {
                r.pick(&modules).unwrap_or(frontpage)
            } else {
                r.pick(&courses).map_or(frontpage, |c| c.0)
            };
            push(&mut contexts, ContextLevel::Block, Some(host), None);
        }
    }
    let non_system: Vec<u32> = contexts
        .iter()
        .filter(|c| c.level != ContextLevel::System)
        .map(|c| c.id.0)
        .collect();
    let course_ids: Vec<u32> = courses.iter().map(|c| c.0).collect();
    site.contexts = contexts;

    // Definitions: each role allows, prevents or leaves most capabilities.
    let ncaps = site.capabilities.len();
    for role in &site.roles {
        let allow_share = match role.archetype {
            Some(Archetype::Manager) => 90,
            Some(Archetype::Editingteacher) => 60,
            Some(Archetype::Teacher) => 45,
            Some(Archetype::Student) => 25,
            Some(Archetype::Guest) => 10,
            Some(Archetype::User) => 15,
            _ => 30,
        };
        for c in 0..ncaps {
            let Some(cap) = site.capabilities.get(c) else {
                continue;
            };
            let roll = r.below(100) as u64;
            let permission = if roll < allow_share {
                Permission::Allow
            } else if roll < allow_share + 5 {
                Permission::Prevent
            } else if roll < allow_share + 6 && role.archetype != Some(Archetype::Manager) {
                Permission::Prohibit
            } else {
                continue;
            };
            site.permissions.push(PermissionRow {
                role: role.id,
                context: ContextId(system),
                capability: cap.name.clone(),
                permission,
            });
        }
    }
    // Overrides at random non-system contexts, each (role, context, capability) once.
    let mut seen = std::collections::HashSet::new();
    let mut tries = 0;
    while seen.len() < o.overrides && tries < o.overrides * 4 + 16 && ncaps > 0 {
        tries += 1;
        let (Some(role), Some(ctx)) = (r.pick(&all_roles), r.pick(&non_system)) else {
            break;
        };
        let cap = r.below(ncaps);
        if !seen.insert((role, ctx, cap)) {
            continue;
        }
        let Some(c) = site.capabilities.get(cap) else {
            continue;
        };
        let permission = match r.below(10) {
            0..=4 => Permission::Prevent,
            5..=8 => Permission::Allow,
            _ => Permission::Prohibit,
        };
        site.permissions.push(PermissionRow {
            role,
            context: ContextId(ctx),
            capability: c.name.clone(),
            permission,
        });
    }
    // Assignments: mostly students and teachers in courses, some managers in categories.
    let mut keys = std::collections::HashSet::new();
    let mut tries = 0;
    let assignable: Vec<u32> = site
        .users
        .iter()
        .skip(2)
        .filter(|u| !u.deleted)
        .map(|u| u.id.0)
        .collect();
    let cat_ids: Vec<u32> = cats.iter().map(|c| c.0).collect();
    while keys.len() < o.assignments && tries < o.assignments * 4 + 16 && !assignable.is_empty() {
        tries += 1;
        let Some(user) = r.pick(&assignable) else {
            break;
        };
        let (role, ctx) = match r.below(20) {
            0 => (1, r.pick(&cat_ids).unwrap_or(system)),
            1..=3 => (3, r.pick(&course_ids).unwrap_or(frontpage)),
            4..=5 => (4, r.pick(&course_ids).unwrap_or(frontpage)),
            _ => (5, r.pick(&course_ids).unwrap_or(frontpage)),
        };
        let role = RoleId((role as u32).min(nroles as u32));
        let source = if r.chance(5) {
            Source::Audience
        } else {
            Source::Manual
        };
        if !keys.insert((user, role, ctx, source)) {
            continue;
        }
        let (from, until) = if r.chance(3) {
            (
                Some(crate::time::Timestamp::from_unix_seconds(1_767_225_600)),
                Some(crate::time::Timestamp::from_unix_seconds(1_798_761_600)),
            )
        } else {
            (None, None)
        };
        site.assignments.push(Assignment {
            user: UserId(user),
            role,
            context: ContextId(ctx),
            from,
            until,
            source,
        });
    }
    // A few role switches.
    for i in 0..(o.users / 500).min(20) {
        let (Some(user), Some(ctx)) = (
            assignable.get(i * 7 % assignable.len().max(1)),
            r.pick(&course_ids),
        ) else {
            break;
        };
        if site
            .switches
            .iter()
            .any(|s| s.user.0 == *user && s.context.0 == ctx)
        {
            continue;
        }
        site.switches.push(Switch {
            user: UserId(*user),
            context: ContextId(ctx),
            role: RoleId(5.min(nroles as u32)),
        });
    }
    let role_named = |name: &str| {
        site.roles
            .iter()
            .find(|r| r.shortname == name)
            .map(|r| r.id)
    };
    site.settings = Settings {
        default_user_role: role_named("user"),
        guest_role: role_named("guest"),
        not_logged_in_role: role_named("guest"),
        default_frontpage_role: role_named("frontpage"),
        frontpage_context: Some(ContextId(frontpage)),
        guest_user: (o.users >= 1).then_some(UserId(1)),
        site_admins: if o.users >= 2 {
            vec![UserId(2)]
        } else {
            Vec::new()
        },
        force_login: false,
        context_locking: true,
        context_lock_applies_to_admin: true,
        multitenancy: o.tenants > 0,
        tenant_isolation: false,
        support_access: true,
    };
    site
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::validate;

    #[test]
    fn sites_are_valid_for_any_size() {
        for seed in 0..6 {
            for (contexts, users, caps, roles, tenants) in [
                (10, 3, 5, 2, 0),
                (50, 10, 12, 12, 1),
                (400, 60, 40, 10, 2),
                (3, 1, 1, 1, 3),
            ] {
                let o = GenerateOptions {
                    contexts,
                    users,
                    capabilities: caps,
                    roles,
                    overrides: 30,
                    assignments: 50,
                    tenants,
                    seed,
                };
                let site = generate(&o);
                let issues = validate(&site);
                assert!(issues.is_empty(), "{o:?}: {issues:?}");
            }
        }
    }

    #[test]
    fn same_seed_same_site() {
        let o = GenerateOptions::small();
        assert_eq!(generate(&o), generate(&o));
        let other = GenerateOptions {
            seed: 2,
            ..o.clone()
        };
        assert_ne!(generate(&o), generate(&other));
    }

    #[test]
    fn large_site_has_the_advertised_shape() {
        let site = generate(&GenerateOptions::large());
        assert_eq!(site.contexts.len(), 100_000);
        assert_eq!(site.users.len(), 5_000);
        assert_eq!(site.capabilities.len(), 300);
        assert_eq!(site.roles.len(), 12);
        let overrides = site
            .permissions
            .iter()
            .filter(|p| p.context != ContextId(1))
            .count();
        assert_eq!(overrides, 3_000);
        assert_eq!(site.assignments.len(), 25_000);
        let courses = site
            .contexts
            .iter()
            .filter(|c| c.level == ContextLevel::Course)
            .count();
        assert!((1_900..=2_100).contains(&courses), "{courses}");
        let cats = site
            .contexts
            .iter()
            .filter(|c| c.level == ContextLevel::Coursecat)
            .count();
        assert!((140..=160).contains(&cats), "{cats}");
        assert!(validate(&site).is_empty());
    }
}
