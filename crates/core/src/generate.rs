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

/// Components with plausible areas, as in Moodle's and Totara's `component/area:action` names.
const AREAS_BY_COMPONENT: [(&str, &[&str]); 10] = [
    (
        "moodle",
        &[
            "course",
            "site",
            "user",
            "role",
            "grade",
            "calendar",
            "backup",
            "restore",
            "badges",
            "cohort",
            "question",
            "competency",
            "blog",
            "notes",
            "tag",
            "comment",
        ],
    ),
    (
        "mod",
        &[
            "forum",
            "quiz",
            "assign",
            "page",
            "book",
            "glossary",
            "wiki",
            "lesson",
            "scorm",
            "workshop",
            "data",
            "choice",
            "feedback",
            "lti",
            "url",
            "resource",
            "folder",
            "facetoface",
        ],
    ),
    (
        "block",
        &[
            "html",
            "navigation",
            "calendar_month",
            "online_users",
            "recent_activity",
            "rss_client",
        ],
    ),
    (
        "report",
        &["log", "outline", "participation", "progress", "completion"],
    ),
    (
        "tool",
        &[
            "uploaduser",
            "dataprivacy",
            "policy",
            "monitor",
            "recyclebin",
        ],
    ),
    (
        "totara",
        &[
            "program",
            "certification",
            "job",
            "dashboard",
            "reportbuilder",
            "plan",
            "tenant",
        ],
    ),
    ("enrol", &["self", "manual", "cohort", "guest", "meta"]),
    ("gradereport", &["grader", "user", "overview", "history"]),
    ("repository", &["upload", "recent", "url", "filesystem"]),
    ("local", &["capstan", "reports"]),
];
const ACTIONS: [&str; 24] = [
    "view",
    "addinstance",
    "manage",
    "viewhidden",
    "update",
    "delete",
    "create",
    "edit",
    "export",
    "grade",
    "submit",
    "attempt",
    "review",
    "replypost",
    "startdiscussion",
    "viewall",
    "config",
    "use",
    "approve",
    "rate",
    "deleteany",
    "editown",
    "viewparticipants",
    "receivenotifications",
];

/// Shortnames of the custom (archetype-less) roles, in order.
const CUSTOM_ROLES: [&str; 6] = [
    "reviewer",
    "parent",
    "observer",
    "mentor",
    "assessor",
    "librarian",
];

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The `n`th synthetic capability name, unique for every `n`: the (component, area, action)
/// combinations are visited in a scrambled but fixed order (a multiplicative permutation), so
/// the first few hundred names spread over every component; past the last combination a
/// number keeps them unique. Also returns the component (its level follows from it).
fn capability_name(n: usize) -> (String, &'static str) {
    let pairs: Vec<(&'static str, &'static str)> = AREAS_BY_COMPONENT
        .iter()
        .flat_map(|(c, areas)| areas.iter().map(move |a| (*c, *a)))
        .collect();
    let total = pairs.len() * ACTIONS.len();
    if total == 0 {
        return (format!("local/capstan:cap{n}"), "local");
    }
    let mut step = total * 2 / 5 + 1;
    while gcd(step, total) != 1 {
        step += 1;
    }
    let idx = (n % total) * step % total;
    let (component, area) = pairs
        .get(idx / ACTIONS.len())
        .copied()
        .unwrap_or(("local", "capstan"));
    let action = ACTIONS.get(idx % ACTIONS.len()).copied().unwrap_or("view");
    let round = n / total;
    let name = if round == 0 {
        format!("{component}/{area}:{action}")
    } else {
        format!("{component}/{area}:{action}{round}")
    };
    (name, component)
}

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
    let mut names: std::collections::HashSet<String> =
        caps.iter().map(|c| c.name.clone()).collect();
    let mut n = 0usize;
    while caps.len() < o.capabilities {
        let (name, component) = capability_name(n);
        n += 1;
        if !names.insert(name.clone()) {
            continue;
        }
        let drawn = r
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
        // Activity and block capabilities live at their own levels, as in Moodle.
        let level = match component {
            "mod" => ContextLevel::Module,
            "block" => ContextLevel::Block,
            _ => drawn,
        };
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
            // Custom roles, as sites make them: a parent/mentor role at user contexts (Moodle's
            // "parent" recipe), reviewers and the like in categories and courses.
            None => match CUSTOM_ROLES.get(i.saturating_sub(archetypes.len())) {
                Some(&"parent") => ("parent".to_string(), None, vec![ContextLevel::User]),
                Some(name) => (
                    (*name).to_string(),
                    None,
                    vec![ContextLevel::Coursecat, ContextLevel::Course],
                ),
                None => (
                    format!("custom{i}"),
                    None,
                    vec![ContextLevel::Coursecat, ContextLevel::Course],
                ),
            },
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
    // Moodle's default allow matrices (admin/roles/allow.php), by archetype.
    let of = |wanted: &[Archetype]| -> Vec<RoleId> {
        site.roles
            .iter()
            .filter(|r| r.archetype.is_some_and(|a| wanted.contains(&a)))
            .map(|r| r.id)
            .collect()
    };
    use Archetype as A;
    let course_roles = of(&[A::Editingteacher, A::Teacher, A::Student]);
    let manager_assigns = of(&[
        A::Manager,
        A::Coursecreator,
        A::Editingteacher,
        A::Teacher,
        A::Student,
    ]);
    let switchable = of(&[A::Editingteacher, A::Teacher, A::Student, A::Guest]);
    let below_editing = of(&[A::Teacher, A::Student]);
    let below_editing_and_guest = of(&[A::Teacher, A::Student, A::Guest]);
    let student_and_guest = of(&[A::Student, A::Guest]);
    let viewable: Vec<RoleId> = site
        .roles
        .iter()
        .filter(|r| !matches!(r.archetype, Some(A::Guest | A::User | A::Frontpage)))
        .map(|r| r.id)
        .collect();
    for role in site.roles.iter_mut() {
        let (assign, override_, switch, view) = match role.archetype {
            Some(A::Manager) => (
                manager_assigns.clone(),
                all_roles.clone(),
                switchable.clone(),
                all_roles.clone(),
            ),
            Some(A::Coursecreator) => (Vec::new(), Vec::new(), Vec::new(), viewable.clone()),
            Some(A::Editingteacher) => (
                below_editing.clone(),
                below_editing_and_guest.clone(),
                below_editing_and_guest.clone(),
                viewable.clone(),
            ),
            Some(A::Teacher) => (
                Vec::new(),
                Vec::new(),
                student_and_guest.clone(),
                viewable.clone(),
            ),
            Some(A::Tenantdomainmanager) => (
                course_roles.clone(),
                below_editing.clone(),
                switchable.clone(),
                viewable.clone(),
            ),
            Some(A::Student | A::Tenantusermanager) | None => {
                (Vec::new(), Vec::new(), Vec::new(), viewable.clone())
            }
            Some(A::Guest | A::User | A::Frontpage) => {
                (Vec::new(), Vec::new(), Vec::new(), Vec::new())
            }
        };
        role.allow_assign = assign;
        role.allow_override = override_;
        role.allow_switch = switch;
        role.allow_view = view;
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
    // A few role switches, by site-level users in site-level courses (Totara allows no
    // switching in tenant contexts or for tenant members).
    let site_level_users: Vec<u32> = site
        .users
        .iter()
        .skip(2)
        .filter(|u| !u.deleted && u.tenant.is_none())
        .map(|u| u.id.0)
        .collect();
    let site_courses: Vec<u32> = courses
        .iter()
        .filter(|c| c.1.is_none() && c.0 != frontpage)
        .map(|c| c.0)
        .collect();
    for i in 0..(o.users / 500).min(20) {
        let (Some(user), Some(ctx)) = (
            site_level_users.get(i * 7 % site_level_users.len().max(1)),
            r.pick(&site_courses),
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
    // Two site admins: the `admin` account and the first active site-level user after it.
    let site_admins: Vec<UserId> = site
        .users
        .iter()
        .skip(1)
        .filter(|u| !u.deleted && !u.suspended && u.tenant.is_none())
        .map(|u| u.id)
        .take(2)
        .collect();
    site.settings = Settings {
        default_user_role: role_named("user"),
        guest_role: role_named("guest"),
        not_logged_in_role: role_named("guest"),
        default_frontpage_role: role_named("frontpage"),
        frontpage_context: Some(ContextId(frontpage)),
        guest_user: (o.users >= 1).then_some(UserId(1)),
        site_admins,
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
    use crate::validate::{is_valid_capability_name, validate};

    #[test]
    fn sites_are_valid_for_any_size() {
        for seed in 0..6 {
            for (contexts, users, caps, roles, tenants) in [
                (0, 0, 0, 0, 0),
                (1, 1, 1, 1, 0),
                (10, 3, 5, 2, 0),
                (10, 3, 5, 12, 2),
                (50, 10, 12, 12, 1),
                (400, 60, 40, 10, 2),
                (3, 1, 1, 1, 3),
                (2_000, 600, 120, 16, 3),
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
                assert!(site.contexts.len() >= contexts);
                assert_eq!(site.users.len(), users);
                assert_eq!(site.capabilities.len(), caps);
            }
        }
        let small = generate(&GenerateOptions::small());
        assert!(validate(&small).is_empty());
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
    fn capability_names_are_unique_and_well_formed() {
        let names: Vec<String> = (0..5_000).map(|n| capability_name(n).0).collect();
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(
            names.iter().all(|n| is_valid_capability_name(n)),
            "{names:?}"
        );
        let site = generate(&GenerateOptions {
            capabilities: 4_000,
            ..GenerateOptions::small()
        });
        let unique: std::collections::HashSet<&str> =
            site.capabilities.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(unique.len(), 4_000);
        // The first few hundred read like real ones: no numbers, many components.
        let large = generate(&GenerateOptions::large());
        assert!(
            large
                .capabilities
                .iter()
                .all(|c| !c.name.ends_with(|ch: char| ch.is_ascii_digit()))
        );
        let components: std::collections::HashSet<&str> = large
            .capabilities
            .iter()
            .filter_map(|c| c.name.split('/').next())
            .collect();
        assert!(components.len() >= 8, "{components:?}");
        assert!(
            large
                .capabilities
                .iter()
                .filter(|c| c.name.starts_with("mod/"))
                .all(|c| c.contextlevel == ContextLevel::Module)
        );
    }

    #[test]
    fn large_site_has_the_advertised_shape() {
        let site = generate(&GenerateOptions::large());
        assert_eq!(site.contexts.len(), 100_000);
        assert_eq!(site.users.len(), 5_000);
        assert_eq!(site.capabilities.len(), 300);
        assert_eq!(site.roles.len(), 12);
        assert_eq!(site.tenants.len(), 2);
        let overrides = site
            .permissions
            .iter()
            .filter(|p| p.context != ContextId(1))
            .count();
        assert!((2_700..=3_300).contains(&overrides), "{overrides}");
        assert!(
            (22_500..=27_500).contains(&site.assignments.len()),
            "{}",
            site.assignments.len()
        );
        let count = |level| site.contexts.iter().filter(|c| c.level == level).count();
        let courses = count(ContextLevel::Course);
        assert!((1_900..=2_100).contains(&courses), "{courses}");
        let cats = count(ContextLevel::Coursecat);
        assert!((140..=160).contains(&cats), "{cats}");
        assert!(count(ContextLevel::Program) > 0);
        assert_eq!(count(ContextLevel::User), 5_000);
        assert!(count(ContextLevel::Module) > count(ContextLevel::Block));
        assert!(count(ContextLevel::Block) > 10_000);

        // The features the brief asks for are all there.
        let ctx = |id: ContextId| site.contexts.iter().find(|c| c.id == id);
        assert!(site.contexts.iter().any(|c| {
            c.level == ContextLevel::Coursecat
                && c.parent
                    .and_then(ctx)
                    .is_some_and(|p| p.level == ContextLevel::Coursecat)
        }));
        let members: Vec<&User> = site.users.iter().filter(|u| u.tenant.is_some()).collect();
        assert!(members.len() > 500);
        for m in &members {
            let uc = site
                .contexts
                .iter()
                .find(|c| c.instance == Some(m.id))
                .and_then(|c| c.parent);
            let tenant = site.tenants.iter().find(|t| Some(t.id) == m.tenant);
            assert_eq!(uc, tenant.map(|t| t.context));
        }
        assert!(
            site.assignments
                .iter()
                .any(|a| a.source == Source::Audience)
        );
        assert!(site.assignments.iter().any(|a| a.until.is_some()));
        assert!(!site.switches.is_empty());
        assert!(!site.program_courses.is_empty());
        assert_eq!(site.settings.site_admins.len(), 2);
        assert!(site.settings.site_admins.iter().all(|a| {
            site.users
                .iter()
                .any(|u| u.id == *a && u.tenant.is_none() && !u.deleted)
        }));
        assert!(site.settings.multitenancy);
        let role = |id: Option<RoleId>| {
            site.roles
                .iter()
                .find(|r| Some(r.id) == id)
                .and_then(|r| r.archetype)
        };
        assert_eq!(role(site.settings.default_user_role), Some(Archetype::User));
        assert_eq!(role(site.settings.guest_role), Some(Archetype::Guest));
        assert_eq!(
            role(site.settings.default_frontpage_role),
            Some(Archetype::Frontpage)
        );
        let teacher = site.roles.iter().find(|r| r.shortname == "editingteacher");
        assert!(teacher.is_some_and(|t| !t.allow_assign.is_empty() && !t.allow_switch.is_empty()));
        assert!(validate(&site).is_empty());
    }
}
