//! A deliberately naive reference implementation written straight from SEMANTICS.md, on the
//! plain `Site` model (no index, no interning, linear scans everywhere), pitted against the
//! optimised engine on random sites with proptest.

use capstan_core::queries::caps;
use capstan_core::*;
use proptest::prelude::*;

// ---------------------------------------------------------------- the reference

struct Naive<'a> {
    s: &'a Site,
}

impl<'a> Naive<'a> {
    fn ctx(&self, id: ContextId) -> Option<&'a Context> {
        self.s.contexts.iter().find(|c| c.id == id)
    }
    fn user(&self, id: UserId) -> Option<&'a User> {
        self.s.users.iter().find(|u| u.id == id)
    }
    fn cap(&self, name: &str) -> Option<&'a Capability> {
        self.s.capabilities.iter().find(|c| c.name == name)
    }
    fn role(&self, id: RoleId) -> Option<&'a Role> {
        self.s.roles.iter().find(|r| r.id == id)
    }
    /// Ancestors and itself, the context first, the root last.
    fn path_up(&self, id: ContextId) -> Vec<ContextId> {
        let mut out = vec![id];
        let mut cur = self.ctx(id).and_then(|c| c.parent);
        while let Some(p) = cur {
            out.push(p);
            cur = self.ctx(p).and_then(|c| c.parent);
        }
        out
    }
    fn tenant_of(&self, id: ContextId) -> Option<TenantId> {
        let c = self.ctx(id)?;
        if let Some(t) = self
            .s
            .tenants
            .iter()
            .find(|t| t.context == id || t.category == id)
        {
            return Some(t.id);
        }
        if c.level == ContextLevel::User
            && let Some(t) = c.instance.and_then(|u| self.user(u)).and_then(|u| u.tenant)
        {
            return Some(t);
        }
        c.parent.and_then(|p| self.tenant_of(p))
    }
    fn locked(&self, id: ContextId) -> bool {
        self.path_up(id)
            .iter()
            .any(|c| self.ctx(*c).is_some_and(|c| c.locked))
    }
    fn hidden(&self, id: ContextId) -> bool {
        self.path_up(id)
            .iter()
            .any(|c| self.ctx(*c).is_some_and(|c| !c.visible))
    }
    fn is_support(&self, u: UserId) -> bool {
        self.s
            .assignments
            .iter()
            .any(|a| a.user == u && a.source == Source::Support)
    }
    fn is_admin(&self, u: UserId) -> bool {
        self.s.settings.site_admins.contains(&u)
            && self.user(u).is_some_and(|x| !x.deleted)
            && !self.is_support(u)
    }
    fn is_guest(&self, u: UserId) -> bool {
        u.0 != 0 && self.s.settings.guest_user == Some(u)
    }
    fn row(&self, role: RoleId, ctx: ContextId, cap: &str) -> Option<Permission> {
        self.s
            .permissions
            .iter()
            .find(|p| p.role == role && p.context == ctx && p.capability == cap)
            .map(|p| p.permission)
    }
    fn guest_role(&self) -> Option<RoleId> {
        self.s.settings.guest_role.or_else(|| {
            self.s
                .roles
                .iter()
                .filter(|r| r.archetype == Some(Archetype::Guest))
                .map(|r| r.id)
                .min()
        })
    }
    fn scope_key(&self, ctx: ContextId) -> Option<TenantId> {
        if self.s.settings.multitenancy {
            self.tenant_of(ctx)
        } else {
            None
        }
    }

    fn tenant_denied(&self, user: UserId, ctx: ContextId, at: Timestamp) -> bool {
        let st = &self.s.settings;
        let t = self.tenant_of(ctx);
        if st.multitenancy {
            if user.0 == 0 || self.is_guest(user) {
                if t.is_some() {
                    return true;
                }
            } else if let Some(m) = self.user(user).and_then(|u| u.tenant) {
                if self.s.tenants.iter().any(|x| x.id == m && x.suspended) {
                    return true;
                }
                if st.tenant_isolation {
                    if t != Some(m) {
                        return true;
                    }
                } else if t.is_some() && t != Some(m) {
                    return true;
                }
            }
        }
        if user.0 != 0 && self.is_support(user) {
            let here = self.scope_key(ctx);
            let ok = self.s.assignments.iter().any(|a| {
                a.user == user
                    && a.source == Source::Support
                    && a.is_active(at)
                    && self.scope_key(a.context) == here
            });
            if !ok {
                return true;
            }
        }
        false
    }

    fn switch_on_path(&self, user: UserId, ctx: ContextId) -> Option<RoleId> {
        // Nearest = first met walking up.
        for c in self.path_up(ctx) {
            if let Some(s) = self
                .s
                .switches
                .iter()
                .find(|s| s.user == user && s.context == c)
            {
                return Some(s.role);
            }
        }
        None
    }

    fn has(
        &self,
        user: UserId,
        cap: &str,
        ctx: ContextId,
        doanything: bool,
        at: Timestamp,
        ignore_switches: bool,
    ) -> Result<bool, &'static str> {
        let st = &self.s.settings;
        let Some(c) = self.cap(cap) else {
            return Err("unknown_capability");
        };
        if self.ctx(ctx).is_none() {
            return Err("unknown_context");
        }
        if st.force_login && user.0 == 0 {
            return Ok(false);
        }
        let guestish = user.0 == 0 || self.is_guest(user);
        if guestish
            && (c.captype == CapType::Write
                || c.risks.contains(Risk::Xss)
                || c.risks.contains(Risk::Config)
                || c.risks.contains(Risk::Dataloss))
        {
            return Ok(false);
        }
        if st.context_locking
            && c.captype == CapType::Write
            && self.locked(ctx)
            && c.name != "moodle/site:managecontextlocks"
            && (!self.is_admin(user) || st.context_lock_applies_to_admin)
        {
            return Ok(false);
        }
        if user.0 != 0 {
            match self.user(user) {
                None => return Ok(false),
                Some(u) if u.deleted => return Ok(false),
                _ => {}
            }
            if self.is_support(user) && !st.support_access {
                return Ok(false);
            }
        }
        if self.tenant_denied(user, ctx, at) {
            return Ok(false);
        }
        let switched = if ignore_switches {
            None
        } else {
            self.switch_on_path(user, ctx)
        };
        if doanything && self.is_admin(user) && switched.is_none() {
            return Ok(true);
        }
        let path = self.path_up(ctx);
        let mut roles: Vec<RoleId> = Vec::new();
        if let Some(r) = switched {
            roles.push(r);
            roles.extend(st.default_user_role);
        } else if user.0 == 0 {
            roles.extend(st.not_logged_in_role);
        } else if self.is_guest(user) {
            roles.extend(self.guest_role());
        } else {
            for a in &self.s.assignments {
                if a.user == user && a.is_active(at) && path.contains(&a.context) {
                    roles.push(a.role);
                }
            }
            if !self.is_support(user) {
                roles.extend(st.default_user_role);
                if let (Some(r), Some(fp)) = (st.default_frontpage_role, st.frontpage_context)
                    && path.contains(&fp)
                {
                    roles.push(r);
                }
            }
        }
        let mut allowed = false;
        for r in roles {
            let mut value = None;
            for c in &path {
                if let Some(p) = self.row(r, *c, cap) {
                    if p == Permission::Prohibit {
                        return Ok(false);
                    }
                    if value.is_none() {
                        value = Some(p);
                    }
                }
            }
            allowed |= value == Some(Permission::Allow);
        }
        Ok(allowed)
    }

    fn holds(&self, user: UserId, cap: &str, ctx: ContextId, at: Timestamp) -> bool {
        if self.cap(cap).is_none() {
            return self.is_admin(user);
        }
        self.has(user, cap, ctx, true, at, false).unwrap_or(false)
    }

    fn real_allows(
        &self,
        user: UserId,
        ctx: ContextId,
        target: RoleId,
        at: Timestamp,
        list: fn(&Role) -> &Vec<RoleId>,
    ) -> bool {
        let path = self.path_up(ctx);
        self.s.assignments.iter().any(|a| {
            a.user == user
                && a.is_active(at)
                && path.contains(&a.context)
                && self.role(a.role).is_some_and(|r| list(r).contains(&target))
        })
    }

    fn users_with(
        &self,
        cap: &str,
        ctx: ContextId,
        at: Timestamp,
    ) -> Result<Vec<UserId>, &'static str> {
        self.cap(cap).ok_or("unknown_capability")?;
        self.ctx(ctx).ok_or("unknown_context")?;
        let mut out = Vec::new();
        for u in &self.s.users {
            if u.deleted || self.is_guest(u.id) {
                continue;
            }
            if self.has(u.id, cap, ctx, false, at, true)? {
                out.push(u.id);
            }
        }
        out.sort();
        Ok(out)
    }

    fn can_assign(
        &self,
        actor: UserId,
        role: RoleId,
        ctx: ContextId,
        at: Timestamp,
    ) -> Result<bool, &'static str> {
        let c = self.ctx(ctx).ok_or("unknown_context")?;
        let r = self.role(role).ok_or("unknown_role")?;
        if !r.contextlevels.contains(&c.level) {
            return Ok(false);
        }
        if self.user(actor).is_none() {
            return Ok(false);
        }
        if self.is_admin(actor) {
            return Ok(true);
        }
        Ok(self.holds(actor, caps::ROLE_ASSIGN, ctx, at)
            && self.real_allows(actor, ctx, role, at, |r| &r.allow_assign))
    }

    fn can_override(
        &self,
        actor: UserId,
        role: RoleId,
        ctx: ContextId,
        cap: Option<&str>,
        at: Timestamp,
    ) -> Result<bool, &'static str> {
        let c = self.ctx(ctx).ok_or("unknown_context")?;
        self.role(role).ok_or("unknown_role")?;
        let capdef = match cap {
            Some(n) => Some(self.cap(n).ok_or("unknown_capability")?),
            None => None,
        };
        if c.level == ContextLevel::System || self.user(actor).is_none() {
            return Ok(false);
        }
        if self.is_admin(actor) {
            return Ok(true);
        }
        if !self.real_allows(actor, ctx, role, at, |r| &r.allow_override) {
            return Ok(false);
        }
        if self.holds(actor, caps::ROLE_OVERRIDE, ctx, at) {
            return Ok(true);
        }
        let safe = capdef.is_none_or(|c| {
            ![
                Risk::Dataloss,
                Risk::Managetrust,
                Risk::Config,
                Risk::Xss,
                Risk::Personal,
            ]
            .iter()
            .any(|r| c.risks.contains(*r))
        });
        Ok(safe && self.holds(actor, caps::ROLE_SAFEOVERRIDE, ctx, at))
    }

    fn can_switch(
        &self,
        actor: UserId,
        role: RoleId,
        ctx: ContextId,
        at: Timestamp,
    ) -> Result<bool, &'static str> {
        self.ctx(ctx).ok_or("unknown_context")?;
        self.role(role).ok_or("unknown_role")?;
        let Some(u) = self.user(actor) else {
            return Ok(false);
        };
        if self.s.settings.multitenancy && (u.tenant.is_some() || self.tenant_of(ctx).is_some()) {
            return Ok(false);
        }
        if !self.s.permissions.iter().any(|p| p.role == role) {
            return Ok(false);
        }
        if self.is_admin(actor) {
            return Ok(true);
        }
        Ok(self.holds(actor, caps::ROLE_SWITCHROLES, ctx, at)
            && self.real_allows(actor, ctx, role, at, |r| &r.allow_switch))
    }

    fn visible(&self, user: UserId, ctx: ContextId, at: Timestamp) -> bool {
        let st = &self.s.settings;
        let Some(c) = self.ctx(ctx) else { return false };
        if user.0 != 0 {
            match self.user(user) {
                None => return false,
                Some(u) if u.deleted => return false,
                _ => {}
            }
            if self.is_support(user) && !st.support_access {
                return false;
            }
        }
        let member = self
            .user(user)
            .and_then(|u| u.tenant)
            .filter(|_| st.multitenancy);
        if member.is_some_and(|m| self.s.tenants.iter().any(|t| t.id == m && t.suspended)) {
            return false;
        }
        if self.is_admin(user) {
            return true;
        }
        let item_t = self.tenant_of(ctx).filter(|_| st.multitenancy);
        if item_t.is_some_and(|m| self.s.tenants.iter().any(|t| t.id == m && t.suspended)) {
            return false;
        }
        if self.hidden(ctx) {
            let cap = if c.level == ContextLevel::Program {
                caps::VIEW_HIDDEN_PROGRAMS
            } else {
                caps::VIEW_HIDDEN_COURSES
            };
            if !self.holds(user, cap, ctx, at) {
                return false;
            }
        }
        let guestish = user.0 == 0 || self.is_guest(user);
        match item_t {
            Some(t) => {
                if guestish || member.is_some_and(|m| m != t) {
                    return false;
                }
            }
            None => {
                if member.is_some() && st.tenant_isolation {
                    return false;
                }
            }
        }
        if user.0 != 0 && self.is_support(user) {
            let here = self.scope_key(ctx);
            let ok = self.s.assignments.iter().any(|a| {
                a.user == user
                    && a.source == Source::Support
                    && a.is_active(at)
                    && self.scope_key(a.context) == here
            });
            if !ok {
                return false;
            }
        }
        true
    }
}

// ---------------------------------------------------------------- random sites

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
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

pub const T0: i64 = 1_772_000_000;

pub fn random_site(seed: u64) -> Site {
    let mut r = Rng(seed);
    let mut s = Site::default();
    let ctx = |id: u32, level: ContextLevel, parent: Option<u32>| Context {
        id: ContextId(id),
        level,
        parent: parent.map(ContextId),
        tenant: None,
        instance: None,
        locked: false,
        visible: true,
        name: None,
    };
    s.contexts.push(ctx(1, ContextLevel::System, None));
    let mut next_id = 2u32;
    let mut cats = Vec::new();
    let ntenants = r.below(3);
    for t in 1..=ntenants as u32 {
        let tc = next_id;
        let cat = next_id + 1;
        next_id += 2;
        s.contexts.push(ctx(tc, ContextLevel::Tenant, Some(1)));
        s.contexts.push(ctx(cat, ContextLevel::Coursecat, Some(1)));
        s.tenants.push(Tenant {
            id: TenantId(t),
            name: None,
            context: ContextId(tc),
            category: ContextId(cat),
            suspended: r.chance(20),
        });
        cats.push(cat);
    }
    for _ in 0..1 + r.below(3) {
        let parent = if cats.is_empty() || r.chance(50) {
            1
        } else {
            r.pick(&cats)
        };
        s.contexts
            .push(ctx(next_id, ContextLevel::Coursecat, Some(parent)));
        cats.push(next_id);
        next_id += 1;
    }
    let frontpage = next_id;
    next_id += 1;
    s.contexts
        .push(ctx(frontpage, ContextLevel::Course, Some(1)));
    let mut courses = vec![frontpage];
    for _ in 0..1 + r.below(4) {
        s.contexts
            .push(ctx(next_id, ContextLevel::Course, Some(r.pick(&cats))));
        courses.push(next_id);
        next_id += 1;
    }
    let mut programs = Vec::new();
    for _ in 0..r.below(3) {
        let parent = if r.chance(30) { 1 } else { r.pick(&cats) };
        s.contexts
            .push(ctx(next_id, ContextLevel::Program, Some(parent)));
        programs.push(next_id);
        next_id += 1;
    }
    let mut leaves = Vec::new();
    for _ in 0..r.below(4) {
        s.contexts
            .push(ctx(next_id, ContextLevel::Module, Some(r.pick(&courses))));
        leaves.push(next_id);
        next_id += 1;
    }
    for _ in 0..r.below(3) {
        let mut hosts = courses.clone();
        hosts.extend(&leaves);
        hosts.extend(&cats);
        s.contexts
            .push(ctx(next_id, ContextLevel::Block, Some(r.pick(&hosts))));
        next_id += 1;
    }
    for c in s.contexts.iter_mut() {
        c.locked = c.level != ContextLevel::System && r.chance(15);
        c.visible = !(matches!(
            c.level,
            ContextLevel::Coursecat | ContextLevel::Course | ContextLevel::Program
        ) && r.chance(20));
    }
    // Capabilities: a few ordinary ones and the ones the engine consults.
    let mut names: Vec<&str> = vec!["mod/forum:view", "moodle/course:update", "local/x:export"];
    for extra in [
        caps::ROLE_ASSIGN,
        caps::ROLE_OVERRIDE,
        caps::ROLE_SAFEOVERRIDE,
        caps::ROLE_SWITCHROLES,
        caps::VIEW_HIDDEN_COURSES,
        caps::VIEW_HIDDEN_PROGRAMS,
        "moodle/site:managecontextlocks",
    ] {
        if r.chance(60) {
            names.push(extra);
        }
    }
    for n in &names {
        let risks = Risk::ALL.iter().copied().filter(|_| r.chance(15)).collect();
        s.capabilities.push(Capability {
            name: n.to_string(),
            captype: if r.chance(50) {
                CapType::Write
            } else {
                CapType::Read
            },
            contextlevel: r.pick(&ContextLevel::ALL),
            risks,
        });
    }
    let nroles = 2 + r.below(4) as u32;
    let role_ids: Vec<RoleId> = (1..=nroles).map(|i| RoleId(i * 3)).collect();
    for (i, id) in role_ids.iter().enumerate() {
        let pick_roles = |r: &mut Rng| {
            role_ids
                .iter()
                .copied()
                .filter(|_| r.chance(40))
                .collect::<Vec<_>>()
        };
        s.roles.push(Role {
            id: *id,
            shortname: format!("role{i}"),
            name: format!("Role {i}"),
            description: String::new(),
            archetype: if r.chance(25) {
                Some(Archetype::Guest)
            } else {
                None
            },
            contextlevels: ContextLevel::ALL
                .iter()
                .copied()
                .filter(|_| r.chance(40))
                .collect(),
            sortorder: None,
            allow_assign: pick_roles(&mut r),
            allow_override: pick_roles(&mut r),
            allow_switch: pick_roles(&mut r),
            allow_view: Vec::new(),
        });
    }
    let ctx_ids: Vec<ContextId> = s.contexts.iter().map(|c| c.id).collect();
    for _ in 0..r.below(25) {
        let role = r.pick(&role_ids);
        let context = if r.chance(50) {
            ContextId(1)
        } else {
            r.pick(&ctx_ids)
        };
        let capability = r.pick(&names).to_string();
        if s.permissions
            .iter()
            .any(|p| p.role == role && p.context == context && p.capability == capability)
        {
            continue;
        }
        let permission = r.pick(&[
            Permission::Allow,
            Permission::Allow,
            Permission::Prevent,
            Permission::Prohibit,
        ]);
        s.permissions.push(PermissionRow {
            role,
            context,
            capability,
            permission,
        });
    }
    let nusers = 1 + r.below(6) as u32;
    for id in 1..=nusers {
        let tenant = if !s.tenants.is_empty() && r.chance(35) {
            Some(TenantId(1 + r.below(s.tenants.len()) as u32))
        } else {
            None
        };
        s.users.push(User {
            id: UserId(id),
            username: format!("u{id}"),
            tenant,
            participant_of: Vec::new(),
            deleted: r.chance(10),
            suspended: r.chance(10),
            fullname: None,
            email: None,
            support_identifier: None,
        });
        if r.chance(60) {
            let parent = match tenant {
                Some(t) if r.chance(70) => s
                    .tenants
                    .iter()
                    .find(|x| x.id == t)
                    .map(|x| x.context.0)
                    .unwrap_or(1),
                _ => 1,
            };
            let mut c = ctx(next_id, ContextLevel::User, Some(parent));
            c.instance = Some(UserId(id));
            s.contexts.push(c);
            next_id += 1;
        }
    }
    let ctx_ids: Vec<ContextId> = s.contexts.iter().map(|c| c.id).collect();
    for _ in 0..r.below(12) {
        let user = UserId(1 + r.below(nusers as usize) as u32);
        let role = r.pick(&role_ids);
        let context = r.pick(&ctx_ids);
        let source = r.pick(&[
            Source::Manual,
            Source::Manual,
            Source::Audience,
            Source::Support,
        ]);
        if s.assignments
            .iter()
            .any(|a| a.user == user && a.role == role && a.context == context && a.source == source)
        {
            continue;
        }
        let from = r
            .chance(25)
            .then(|| Timestamp::from_unix_seconds(T0 + r.below(200) as i64 - 100));
        let until = r
            .chance(25)
            .then(|| Timestamp::from_unix_seconds(T0 + 150 + r.below(200) as i64));
        s.assignments.push(Assignment {
            user,
            role,
            context,
            from,
            until,
            source,
        });
    }
    for _ in 0..r.below(3) {
        let user = UserId(1 + r.below(nusers as usize) as u32);
        let context = r.pick(&ctx_ids);
        if s.switches
            .iter()
            .any(|x| x.user == user && x.context == context)
        {
            continue;
        }
        s.switches.push(Switch {
            user,
            context,
            role: r.pick(&role_ids),
        });
    }
    let maybe_role = |r: &mut Rng| r.chance(70).then(|| r.pick(&role_ids));
    s.settings = Settings {
        default_user_role: maybe_role(&mut r),
        guest_role: maybe_role(&mut r),
        not_logged_in_role: maybe_role(&mut r),
        default_frontpage_role: maybe_role(&mut r),
        frontpage_context: Some(ContextId(frontpage)),
        guest_user: r.chance(70).then_some(UserId(1)),
        site_admins: (1..=nusers).filter(|_| r.chance(20)).map(UserId).collect(),
        force_login: r.chance(15),
        context_locking: r.chance(40),
        context_lock_applies_to_admin: r.chance(50),
        multitenancy: r.chance(75),
        tenant_isolation: r.chance(40),
        support_access: r.chance(75),
    };
    // Programs only hold courses of their own tenant (or site courses for site programs).
    let _ = programs;
    s
}

pub fn instants() -> Vec<Timestamp> {
    [
        T0 - 200,
        T0 - 1,
        T0,
        T0 + 100,
        T0 + 149,
        T0 + 150,
        T0 + 260,
        T0 + 400,
    ]
    .into_iter()
    .map(Timestamp::from_unix_seconds)
    .collect()
}

fn compare_site(seed: u64) -> Result<(), TestCaseError> {
    let site = random_site(seed);
    let issues = validate(&site);
    prop_assert!(
        issues.is_empty(),
        "generator made an invalid site: {:?}",
        issues
    );
    let engine = Engine::from_site(site.clone()).unwrap();
    let naive = Naive { s: &site };
    let mut users: Vec<UserId> = site.users.iter().map(|u| u.id).collect();
    users.extend([UserId(0), UserId(99)]);
    let mut caps: Vec<String> = site.capabilities.iter().map(|c| c.name.clone()).collect();
    caps.push("moodle/nope:missing".into());
    let mut ctxs: Vec<ContextId> = site.contexts.iter().map(|c| c.id).collect();
    ctxs.push(ContextId(9999));
    let mut roles: Vec<RoleId> = site.roles.iter().map(|r| r.id).collect();
    roles.push(RoleId(77));
    let at_all = instants();
    for (i, at) in at_all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == (seed as usize) % 2)
    {
        let _ = i;
        for &u in &users {
            for c in &caps {
                for &x in &ctxs {
                    for doanything in [true, false] {
                        let want = naive.has(u, c, x, doanything, *at, false);
                        let opts = CheckOptions {
                            doanything,
                            at: *at,
                        };
                        let got = engine.has_capability(u, c, x, opts).map_err(|e| e.code());
                        prop_assert_eq!(
                            want,
                            got,
                            "has_capability({}, {}, {}, {}, {})",
                            u,
                            c,
                            x,
                            doanything,
                            at
                        );
                        if let Ok(ex) = engine.explain(u, c, x, opts) {
                            prop_assert_eq!(
                                ex.allowed,
                                got.unwrap_or(false),
                                "explain disagrees for ({}, {}, {})",
                                u,
                                c,
                                x
                            );
                            prop_assert_eq!(ex.rule.allows(), ex.allowed);
                        }
                        if let (Some(id), Ok(g)) = (engine.capability_id(c), got) {
                            prop_assert_eq!(engine.check(u, id, x, opts).unwrap_or(false), g);
                        }
                    }
                }
            }
        }
        for c in &caps {
            for &x in &ctxs {
                let want = naive.users_with(c, x, *at);
                let got = engine
                    .users_with_capability(c, x, *at)
                    .map(|r| r.users)
                    .map_err(|e| e.code());
                prop_assert_eq!(want, got, "users_with_capability({}, {})", c, x);
            }
        }
        for &u in &users {
            for &role in &roles {
                for &x in &ctxs {
                    prop_assert_eq!(
                        naive.can_assign(u, role, x, *at),
                        engine.can_assign(u, role, x, *at).map_err(|e| e.code()),
                        "can_assign({}, {}, {})",
                        u,
                        role,
                        x
                    );
                    prop_assert_eq!(
                        naive.can_switch(u, role, x, *at),
                        engine.can_switch(u, role, x, *at).map_err(|e| e.code()),
                        "can_switch({}, {}, {})",
                        u,
                        role,
                        x
                    );
                    for c in caps.iter().map(|c| Some(c.as_str())).chain([None]) {
                        prop_assert_eq!(
                            naive.can_override(u, role, x, c, *at),
                            engine
                                .can_override(u, role, x, c, *at)
                                .map_err(|e| e.code()),
                            "can_override({}, {}, {}, {:?})",
                            u,
                            role,
                            x,
                            c
                        );
                    }
                }
            }
            for &x in &ctxs {
                if engine.context(x).is_some() {
                    prop_assert_eq!(
                        naive.visible(u, x, *at),
                        engine.visible(u, x, *at).unwrap().visible,
                        "visible({}, {})",
                        u,
                        x
                    );
                }
            }
        }
        // effective_permissions agrees with has_capability.
        for &u in &users {
            for &x in ctxs.iter().filter(|x| engine.context(**x).is_some()) {
                let opts = CheckOptions::at(*at);
                for p in engine.effective_permissions(u, x, opts).unwrap() {
                    prop_assert_eq!(
                        p.allowed,
                        naive.has(u, p.capability, x, true, *at, false).unwrap()
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn engine_matches_naive_reference(seed in any::<u64>()) {
        compare_site(seed)?;
    }

    #[test]
    fn snapshot_round_trips(seed in any::<u64>()) {
        let site = random_site(seed);
        let engine = Engine::from_site(site).unwrap();
        let again = Engine::from_json(&engine.to_json()).unwrap();
        prop_assert_eq!(engine.to_json(), again.to_json());
    }
}
