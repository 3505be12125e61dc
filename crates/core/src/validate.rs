//! Validation: every problem of a site, each with a stable code, a message and where it is.

use crate::model::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The stable code of a validation problem (`shared/conformance/FORMAT.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    /// No context of level `system`.
    NoSystemContext,
    /// More than one context of level `system`.
    MultipleSystemContexts,
    /// An id, name or key used twice.
    DuplicateId,
    /// A reference to something that does not exist (or is of the wrong kind).
    UnknownReference,
    /// The parent chain loops.
    ContextCycle,
    /// A parent not allowed for the level.
    BadParentLevel,
    /// A role short name with characters other than ASCII letters, digits, `_`, `-`.
    BadShortname,
    /// A capability name not of the form `component/area:action`.
    BadCapabilityName,
    /// A tenant id that contradicts the one implied by the tree.
    TenantMismatch,
    /// `from` not before `until`.
    BadTimeRange,
    /// A tenant program with a course of another tenant or of the site.
    ProgramForeignCourse,
    /// A site-level program with a tenant course.
    SiteProgramTenantCourse,
    /// An id that is not a positive integer.
    BadId,
    /// Two tenants with the same tenant context or the same tenant category (a context
    /// belongs to one tenant at most).
    SharedTenantContext,
}

impl IssueCode {
    /// The code as text (`duplicate_id`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            IssueCode::NoSystemContext => "no_system_context",
            IssueCode::MultipleSystemContexts => "multiple_system_contexts",
            IssueCode::DuplicateId => "duplicate_id",
            IssueCode::UnknownReference => "unknown_reference",
            IssueCode::ContextCycle => "context_cycle",
            IssueCode::BadParentLevel => "bad_parent_level",
            IssueCode::BadShortname => "bad_shortname",
            IssueCode::BadCapabilityName => "bad_capability_name",
            IssueCode::TenantMismatch => "tenant_mismatch",
            IssueCode::BadTimeRange => "bad_time_range",
            IssueCode::ProgramForeignCourse => "program_foreign_course",
            IssueCode::SiteProgramTenantCourse => "site_program_tenant_course",
            IssueCode::BadId => "bad_id",
            IssueCode::SharedTenantContext => "shared_tenant_context",
        }
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// The stable code.
    pub code: IssueCode,
    /// What is wrong, for a person.
    pub message: String,
    /// Where it is, as a JSON path into the snapshot (`contexts[41].parent`).
    pub path: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.message, self.code)
    }
}

/// The distinct codes of a list of issues, sorted (what a `validate` query expects).
pub fn distinct_codes(issues: &[Issue]) -> Vec<IssueCode> {
    let mut codes: Vec<IssueCode> = issues.iter().map(|i| i.code).collect();
    codes.sort();
    codes.dedup();
    codes
}

/// Whether a role short name is well formed (ASCII letters, digits, `_` and `-`).
pub fn is_valid_shortname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether a capability name matches `^[a-z]+/[a-z_0-9]+:[a-z_0-9]+$`.
pub fn is_valid_capability_name(s: &str) -> bool {
    let Some((component, rest)) = s.split_once('/') else {
        return false;
    };
    let Some((area, action)) = rest.split_once(':') else {
        return false;
    };
    let word = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    !component.is_empty()
        && component.bytes().all(|b| b.is_ascii_lowercase())
        && word(area)
        && word(action)
        && s.len() <= 255
}

/// The context tree as resolved from a site: effective tenants and cycles.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// Context id → position in `site.contexts` (first occurrence).
    pub index: HashMap<ContextId, usize>,
    /// Effective tenant by position.
    pub tenant: Vec<Option<TenantId>>,
    /// Positions that sit on or under a cycle.
    pub cyclic: Vec<bool>,
    /// Positions whose explicit tenant contradicts the implied one.
    pub mismatched: Vec<bool>,
}

impl Tree {
    /// Resolves parents and tenants of every context.
    pub fn resolve(site: &Site) -> Tree {
        let n = site.contexts.len();
        let mut index = HashMap::with_capacity(n);
        for (i, c) in site.contexts.iter().enumerate() {
            index.entry(c.id).or_insert(i);
        }
        // Tenants implied by the tenants list and by membership.
        let mut implied: HashMap<ContextId, TenantId> = HashMap::new();
        for t in &site.tenants {
            implied.entry(t.context).or_insert(t.id);
            implied.entry(t.category).or_insert(t.id);
        }
        let members: HashMap<UserId, TenantId> = site
            .users
            .iter()
            .filter_map(|u| u.tenant.map(|t| (u.id, t)))
            .collect();
        let own = |c: &Context| -> Option<Option<TenantId>> {
            if let Some(t) = implied.get(&c.id) {
                return Some(Some(*t));
            }
            if c.level == ContextLevel::User
                && let Some(t) = c.instance.and_then(|u| members.get(&u))
            {
                return Some(Some(*t));
            }
            None
        };
        let mut tree = Tree {
            index,
            tenant: vec![None; n],
            cyclic: vec![false; n],
            mismatched: vec![false; n],
        };
        // 0 = unvisited, 1 = on the current walk, 2 = done.
        let mut state = vec![0u8; n];
        let mut walk: Vec<usize> = Vec::new();
        for start in 0..n {
            if state.get(start).copied() != Some(0) {
                continue;
            }
            walk.clear();
            let mut cur = Some(start);
            // Climb until a resolved node, the root, a dangling parent or a loop.
            let mut base: Option<TenantId> = None;
            let mut loops = false;
            while let Some(i) = cur {
                match state.get(i).copied() {
                    Some(0) => {
                        if let Some(s) = state.get_mut(i) {
                            *s = 1;
                        }
                        walk.push(i);
                        cur = site
                            .contexts
                            .get(i)
                            .and_then(|c| c.parent)
                            .and_then(|p| tree.index.get(&p).copied());
                    }
                    Some(1) => {
                        loops = true;
                        cur = None;
                    }
                    _ => {
                        base = tree.tenant.get(i).copied().flatten();
                        loops = tree.cyclic.get(i).copied().unwrap_or(false);
                        cur = None;
                    }
                }
            }
            for &i in walk.iter().rev() {
                let Some(c) = site.contexts.get(i) else {
                    continue;
                };
                // Its own tenant (tenant context, tenant category, member's user context),
                // else its parent's.
                let eff = own(c).unwrap_or(base);
                let mismatch = c.tenant.is_some() && c.tenant != eff;
                if let Some(m) = tree.mismatched.get_mut(i) {
                    *m = mismatch;
                }
                if let Some(t) = tree.tenant.get_mut(i) {
                    *t = eff;
                }
                if let Some(cy) = tree.cyclic.get_mut(i) {
                    *cy = loops;
                }
                if let Some(s) = state.get_mut(i) {
                    *s = 2;
                }
                base = eff;
            }
        }
        tree
    }
}

struct Report {
    issues: Vec<Issue>,
}

impl Report {
    fn push(&mut self, code: IssueCode, path: String, message: String) {
        self.issues.push(Issue {
            code,
            message,
            path,
        });
    }
}

/// Validates a site: every problem, in snapshot order. An empty list means the site is valid.
pub fn validate(site: &Site) -> Vec<Issue> {
    let mut r = Report { issues: Vec::new() };
    let tree = Tree::resolve(site);

    // Ids and names.
    let check_ids = |what: &str, ids: &mut dyn Iterator<Item = u32>, r: &mut Report| {
        let mut seen = HashSet::new();
        for (i, id) in ids.enumerate() {
            if id == 0 {
                r.push(
                    IssueCode::BadId,
                    format!("{what}[{i}].id"),
                    "id `0` is not a positive integer".to_string(),
                );
            }
            if !seen.insert(id) {
                r.push(
                    IssueCode::DuplicateId,
                    format!("{what}[{i}].id"),
                    format!("{what} id `{id}` is used more than once"),
                );
            }
        }
    };
    check_ids(
        "contexts",
        &mut site.contexts.iter().map(|c| c.id.0),
        &mut r,
    );
    check_ids("roles", &mut site.roles.iter().map(|c| c.id.0), &mut r);
    check_ids("users", &mut site.users.iter().map(|c| c.id.0), &mut r);
    check_ids("tenants", &mut site.tenants.iter().map(|c| c.id.0), &mut r);

    let roles: HashSet<RoleId> = site.roles.iter().map(|r| r.id).collect();
    let users: HashMap<UserId, &User> = site.users.iter().map(|u| (u.id, u)).collect();
    let tenants: HashSet<TenantId> = site.tenants.iter().map(|t| t.id).collect();
    let caps: HashSet<&str> = site.capabilities.iter().map(|c| c.name.as_str()).collect();
    let ctx = |id: ContextId| tree.index.get(&id).and_then(|&i| site.contexts.get(i));

    if let Some(b) = &site.bundle {
        // The user need not be there: an unknown user's bundle answers "no permissions".
        for (i, c) in b.contexts.iter().enumerate() {
            if ctx(*c).is_none() {
                r.push(
                    IssueCode::UnknownReference,
                    format!("bundle.contexts[{i}]"),
                    format!("context `{c}` of the bundle does not exist"),
                );
            }
        }
    }

    let mut seen_caps = HashSet::new();
    for (i, c) in site.capabilities.iter().enumerate() {
        if !is_valid_capability_name(&c.name) {
            r.push(
                IssueCode::BadCapabilityName,
                format!("capabilities[{i}].name"),
                format!(
                    "capability name `{}` is not of the form `component/area:action`",
                    c.name
                ),
            );
        }
        if !seen_caps.insert(c.name.as_str()) {
            r.push(
                IssueCode::DuplicateId,
                format!("capabilities[{i}].name"),
                format!("capability `{}` is defined more than once", c.name),
            );
        }
    }

    // Contexts.
    let systems: Vec<usize> = site
        .contexts
        .iter()
        .enumerate()
        .filter(|(_, c)| c.level == ContextLevel::System)
        .map(|(i, _)| i)
        .collect();
    match systems.as_slice() {
        [] => r.push(
            IssueCode::NoSystemContext,
            "contexts".into(),
            "there is no context of level `system`".into(),
        ),
        [_] => {}
        [_, rest @ ..] => {
            for i in rest {
                r.push(
                    IssueCode::MultipleSystemContexts,
                    format!("contexts[{i}].level"),
                    "there is more than one context of level `system`".into(),
                );
            }
        }
    }
    let mut cycle_reported = false;
    for (i, c) in site.contexts.iter().enumerate() {
        match (c.level, c.parent) {
            (ContextLevel::System, Some(p)) => r.push(
                IssueCode::BadParentLevel,
                format!("contexts[{i}].parent"),
                format!("the system context `{}` cannot have a parent (`{p}`)", c.id),
            ),
            (ContextLevel::System, None) => {}
            (level, None) => r.push(
                IssueCode::BadParentLevel,
                format!("contexts[{i}].parent"),
                format!("context `{}` of level `{level}` needs a parent", c.id),
            ),
            (level, Some(p)) => match ctx(p) {
                None => r.push(
                    IssueCode::UnknownReference,
                    format!("contexts[{i}].parent"),
                    format!("parent context `{p}` of context `{}` does not exist", c.id),
                ),
                Some(parent) => {
                    let mut ok = level.allows_parent(parent.level);
                    if ok && level == ContextLevel::Course && parent.level == ContextLevel::System {
                        ok = site.settings.frontpage_context == Some(c.id);
                    }
                    // A bundle holds no other user: it cannot tell whose user context this is.
                    let foreign_in_bundle = site.bundle.is_some()
                        && !c.instance.is_some_and(|u| users.contains_key(&u));
                    if ok
                        && level == ContextLevel::User
                        && parent.level == ContextLevel::Tenant
                        && !foreign_in_bundle
                    {
                        let member_of = c
                            .instance
                            .and_then(|u| users.get(&u))
                            .and_then(|u| u.tenant);
                        let parent_tenant = site
                            .tenants
                            .iter()
                            .find(|t| t.context == parent.id)
                            .map(|t| t.id);
                        ok = member_of.is_some() && member_of == parent_tenant;
                    }
                    if !ok {
                        r.push(
                            IssueCode::BadParentLevel,
                            format!("contexts[{i}].parent"),
                            format!(
                                "context `{}` of level `{level}` cannot sit under context `{p}` of level `{}`",
                                c.id, parent.level
                            ),
                        );
                    }
                }
            },
        }
        if tree.cyclic.get(i).copied().unwrap_or(false) && !cycle_reported {
            cycle_reported = true;
            r.push(
                IssueCode::ContextCycle,
                format!("contexts[{i}].parent"),
                format!("the parents of context `{}` form a cycle", c.id),
            );
        }
        if let Some(t) = c.tenant {
            if !tenants.contains(&t) {
                r.push(
                    IssueCode::UnknownReference,
                    format!("contexts[{i}].tenant"),
                    format!("tenant `{t}` of context `{}` does not exist", c.id),
                );
            } else if tree.mismatched.get(i).copied().unwrap_or(false) {
                r.push(
                    IssueCode::TenantMismatch,
                    format!("contexts[{i}].tenant"),
                    format!(
                        "context `{}` carries tenant `{t}` but the tree gives it {}",
                        c.id,
                        match tree.tenant.get(i).copied().flatten() {
                            Some(e) => format!("tenant `{e}`"),
                            None => "no tenant".to_string(),
                        }
                    ),
                );
            }
        }
        match (c.level, c.instance) {
            // A bundle holds no other user: another user's context may name it or no one.
            (ContextLevel::User, _) if site.bundle.is_some() => {}
            (ContextLevel::User, None) => r.push(
                IssueCode::UnknownReference,
                format!("contexts[{i}].instance"),
                format!("user context `{}` does not name its user", c.id),
            ),
            (ContextLevel::User, Some(u)) if !users.contains_key(&u) => r.push(
                IssueCode::UnknownReference,
                format!("contexts[{i}].instance"),
                format!("user `{u}` of user context `{}` does not exist", c.id),
            ),
            _ => {}
        }
    }

    // Tenants.
    let mut owner: HashMap<ContextId, TenantId> = HashMap::new();
    for (i, t) in site.tenants.iter().enumerate() {
        for (field, c) in [("context", t.context), ("category", t.category)] {
            match owner.get(&c) {
                Some(other) if *other != t.id => r.push(
                    IssueCode::SharedTenantContext,
                    format!("tenants[{i}].{field}"),
                    format!(
                        "context `{c}` of tenant `{}` belongs to tenant `{other}` already",
                        t.id
                    ),
                ),
                _ => {
                    owner.insert(c, t.id);
                }
            }
        }
        match ctx(t.context) {
            None => r.push(
                IssueCode::UnknownReference,
                format!("tenants[{i}].context"),
                format!(
                    "context `{}` of tenant `{}` does not exist",
                    t.context, t.id
                ),
            ),
            Some(c) if c.level != ContextLevel::Tenant => r.push(
                IssueCode::TenantMismatch,
                format!("tenants[{i}].context"),
                format!(
                    "context `{}` of tenant `{}` is of level `{}`, not `tenant`",
                    c.id, t.id, c.level
                ),
            ),
            _ => {}
        }
        match ctx(t.category) {
            None => r.push(
                IssueCode::UnknownReference,
                format!("tenants[{i}].category"),
                format!(
                    "category `{}` of tenant `{}` does not exist",
                    t.category, t.id
                ),
            ),
            Some(c) if c.level != ContextLevel::Coursecat => r.push(
                IssueCode::TenantMismatch,
                format!("tenants[{i}].category"),
                format!(
                    "context `{}` of tenant `{}` is of level `{}`, not `coursecat`",
                    c.id, t.id, c.level
                ),
            ),
            _ => {}
        }
    }

    // Roles.
    let mut shortnames = HashSet::new();
    for (i, role) in site.roles.iter().enumerate() {
        if !is_valid_shortname(&role.shortname) {
            r.push(
                IssueCode::BadShortname,
                format!("roles[{i}].shortname"),
                format!(
                    "short name `{}` may hold only ASCII letters, digits, `_` and `-`",
                    role.shortname
                ),
            );
        }
        if !shortnames.insert(role.shortname.as_str()) {
            r.push(
                IssueCode::DuplicateId,
                format!("roles[{i}].shortname"),
                format!(
                    "short name `{}` is used by more than one role",
                    role.shortname
                ),
            );
        }
        for (field, list) in [
            ("allow_assign", &role.allow_assign),
            ("allow_override", &role.allow_override),
            ("allow_switch", &role.allow_switch),
            ("allow_view", &role.allow_view),
        ] {
            for (j, target) in list.iter().enumerate() {
                if !roles.contains(target) {
                    r.push(
                        IssueCode::UnknownReference,
                        format!("roles[{i}].{field}[{j}]"),
                        format!(
                            "role `{target}` in `{field}` of role `{}` does not exist",
                            role.id
                        ),
                    );
                }
            }
        }
    }

    // Permissions.
    let mut rows = HashSet::new();
    for (i, p) in site.permissions.iter().enumerate() {
        if !roles.contains(&p.role) {
            r.push(
                IssueCode::UnknownReference,
                format!("permissions[{i}].role"),
                format!("role `{}` does not exist", p.role),
            );
        }
        if ctx(p.context).is_none() {
            r.push(
                IssueCode::UnknownReference,
                format!("permissions[{i}].context"),
                format!("context `{}` does not exist", p.context),
            );
        }
        if !caps.contains(p.capability.as_str()) {
            r.push(
                IssueCode::UnknownReference,
                format!("permissions[{i}].capability"),
                format!("capability `{}` does not exist", p.capability),
            );
        }
        if !rows.insert((p.role, p.context, p.capability.as_str())) {
            r.push(
                IssueCode::DuplicateId,
                format!("permissions[{i}]"),
                format!(
                    "role `{}` has more than one row for `{}` in context `{}`",
                    p.role, p.capability, p.context
                ),
            );
        }
    }

    // Users.
    for (i, u) in site.users.iter().enumerate() {
        if let Some(t) = u.tenant
            && !tenants.contains(&t)
        {
            r.push(
                IssueCode::UnknownReference,
                format!("users[{i}].tenant"),
                format!("tenant `{t}` of user `{}` does not exist", u.id),
            );
        }
        for (j, t) in u.participant_of.iter().enumerate() {
            if !tenants.contains(t) {
                r.push(
                    IssueCode::UnknownReference,
                    format!("users[{i}].participant_of[{j}]"),
                    format!("tenant `{t}` of user `{}` does not exist", u.id),
                );
            }
        }
    }

    // Assignments.
    let mut keys = HashSet::new();
    for (i, a) in site.assignments.iter().enumerate() {
        if !users.contains_key(&a.user) {
            r.push(
                IssueCode::UnknownReference,
                format!("assignments[{i}].user"),
                format!("user `{}` does not exist", a.user),
            );
        }
        if !roles.contains(&a.role) {
            r.push(
                IssueCode::UnknownReference,
                format!("assignments[{i}].role"),
                format!("role `{}` does not exist", a.role),
            );
        }
        if ctx(a.context).is_none() {
            r.push(
                IssueCode::UnknownReference,
                format!("assignments[{i}].context"),
                format!("context `{}` does not exist", a.context),
            );
        }
        if let (Some(f), Some(u)) = (a.from, a.until)
            && f >= u
        {
            r.push(
                IssueCode::BadTimeRange,
                format!("assignments[{i}].from"),
                format!("`from` {f} is not before `until` {u}"),
            );
        }
        if !keys.insert((a.user, a.role, a.context, a.source)) {
            r.push(
                IssueCode::DuplicateId,
                format!("assignments[{i}]"),
                format!(
                    "user `{}` is assigned role `{}` in context `{}` ({:?}) more than once",
                    a.user, a.role, a.context, a.source
                ),
            );
        }
    }

    // Switches.
    let mut switch_keys = HashSet::new();
    for (i, s) in site.switches.iter().enumerate() {
        if !users.contains_key(&s.user) && s.user != UserId::NOT_LOGGED_IN {
            r.push(
                IssueCode::UnknownReference,
                format!("switches[{i}].user"),
                format!("user `{}` does not exist", s.user),
            );
        }
        if !roles.contains(&s.role) {
            r.push(
                IssueCode::UnknownReference,
                format!("switches[{i}].role"),
                format!("role `{}` does not exist", s.role),
            );
        }
        if ctx(s.context).is_none() {
            r.push(
                IssueCode::UnknownReference,
                format!("switches[{i}].context"),
                format!("context `{}` does not exist", s.context),
            );
        }
        if !switch_keys.insert((s.user, s.context)) {
            r.push(
                IssueCode::DuplicateId,
                format!("switches[{i}]"),
                format!(
                    "user `{}` has more than one switch in context `{}`",
                    s.user, s.context
                ),
            );
        }
    }

    // Programs.
    let tenant_of = |id: ContextId| {
        tree.index
            .get(&id)
            .and_then(|&i| tree.tenant.get(i).copied().flatten())
    };
    for (i, pc) in site.program_courses.iter().enumerate() {
        let program = ctx(pc.program);
        let course = ctx(pc.course);
        if program.is_none_or(|c| c.level != ContextLevel::Program) {
            r.push(
                IssueCode::UnknownReference,
                format!("program_courses[{i}].program"),
                format!("`{}` is not a program context", pc.program),
            );
        }
        if course.is_none_or(|c| c.level != ContextLevel::Course) {
            r.push(
                IssueCode::UnknownReference,
                format!("program_courses[{i}].course"),
                format!("`{}` is not a course context", pc.course),
            );
        }
        if program.is_none() || course.is_none() {
            continue;
        }
        match (tenant_of(pc.program), tenant_of(pc.course)) {
            (Some(pt), ct) if ct != Some(pt) => r.push(
                IssueCode::ProgramForeignCourse,
                format!("program_courses[{i}].course"),
                format!(
                    "program `{}` of tenant `{pt}` holds course `{}` of {}",
                    pc.program,
                    pc.course,
                    match ct {
                        Some(t) => format!("tenant `{t}`"),
                        None => "the site".to_string(),
                    }
                ),
            ),
            (None, Some(ct)) => r.push(
                IssueCode::SiteProgramTenantCourse,
                format!("program_courses[{i}].course"),
                format!(
                    "site-level program `{}` holds course `{}` of tenant `{ct}`",
                    pc.program, pc.course
                ),
            ),
            _ => {}
        }
    }

    // Settings.
    let s = &site.settings;
    for (field, role) in [
        ("default_user_role", s.default_user_role),
        ("guest_role", s.guest_role),
        ("not_logged_in_role", s.not_logged_in_role),
        ("default_frontpage_role", s.default_frontpage_role),
    ] {
        if let Some(role) = role
            && !roles.contains(&role)
        {
            r.push(
                IssueCode::UnknownReference,
                format!("settings.{field}"),
                format!("role `{role}` does not exist"),
            );
        }
    }
    if let Some(fp) = s.frontpage_context
        && ctx(fp).is_none()
    {
        r.push(
            IssueCode::UnknownReference,
            "settings.frontpage_context".into(),
            format!("context `{fp}` does not exist"),
        );
    }
    r.issues
}
