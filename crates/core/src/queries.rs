//! Explanations and the derived questions of SEMANTICS.md §3, §4 and §6.

use crate::engine::*;
use crate::model::*;
use crate::time::Timestamp;
use serde::Serialize;

/// One permission row met while explaining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowTrace {
    /// Where the row is (the system context for a definition).
    pub context: ContextId,
    /// Its value.
    pub permission: Permission,
    /// Whether this row decided the role's value (the most specific, or a prohibit).
    pub decisive: bool,
}

/// One active role in an explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleTrace {
    /// The role.
    pub role: RoleId,
    /// Its short name.
    pub shortname: String,
    /// Every way the role is active here.
    pub origins: Vec<RoleOrigin>,
    /// Every row of the role for the capability on the path, most specific first.
    pub rows: Vec<RowTrace>,
    /// The value the role resolves to (`None`: not set anywhere on the path).
    pub value: Option<Permission>,
}

/// Why a decision is what it is (SEMANTICS.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The answer.
    pub allowed: bool,
    /// The rule that decided.
    pub rule: Rule,
    /// The step of §2 that decided.
    pub step: u8,
    /// A sentence for people.
    pub reason: String,
    /// The user asked about.
    pub user: UserId,
    /// The capability asked about.
    pub capability: String,
    /// The context asked about.
    pub context: ContextId,
    /// The path of the context, root first.
    pub path: Vec<ContextId>,
    /// The active roles (empty when a rule before step 8 decided).
    pub roles: Vec<RoleTrace>,
}

/// Who holds a capability in a context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsersWithCapability {
    /// The users that hold it, ascending.
    pub users: Vec<UserId>,
    /// The default user role alone allows it here: every authenticated user holds it except
    /// those that a prohibit, a tenant rule or a support scope keeps out (the list is exact).
    pub all_authenticated: bool,
}

/// One line of the "Check permissions" page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectivePermission<'a> {
    /// The capability.
    pub capability: &'a str,
    /// Its interned id.
    pub capability_id: CapabilityId,
    /// The answer.
    pub allowed: bool,
    /// The rule that decided.
    pub rule: Rule,
}

/// One role's line in the capability overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverviewRow {
    /// The role.
    pub role: RoleId,
    /// Its value in the role definition (system).
    pub definition: Option<Permission>,
    /// Every override of the role for the capability, by context.
    pub overrides: Vec<(ContextId, Permission)>,
}

/// Why an item is visible or not (SEMANTICS.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisibilityReason {
    /// Visible.
    Visible,
    /// Hidden, but the user holds the capability to see hidden items there.
    HiddenWithCapability,
    /// Site admins see everything.
    SiteAdmin,
    /// The user does not exist.
    UnknownUser,
    /// The user is deleted.
    DeletedUser,
    /// The user's tenant is suspended.
    UserTenantSuspended,
    /// The item belongs to a suspended tenant.
    ItemTenantSuspended,
    /// Hidden, and the user lacks the capability to see hidden items.
    Hidden,
    /// The guest account and visitors never see tenant items.
    GuestTenantItem,
    /// Members never see other tenants' items.
    OtherTenant,
    /// Isolation keeps members from site-level items.
    Isolated,
    /// Outside the scope of a support user's grants.
    SupportOutOfScope,
    /// A support user while support access is off.
    SupportDisabled,
}

impl VisibilityReason {
    /// The stable snake_case name (`visible`, `hidden`, `other_tenant`, …).
    pub const fn name(self) -> &'static str {
        match self {
            VisibilityReason::Visible => "visible",
            VisibilityReason::HiddenWithCapability => "hidden_with_capability",
            VisibilityReason::SiteAdmin => "site_admin",
            VisibilityReason::UnknownUser => "unknown_user",
            VisibilityReason::DeletedUser => "deleted_user",
            VisibilityReason::UserTenantSuspended => "user_tenant_suspended",
            VisibilityReason::ItemTenantSuspended => "item_tenant_suspended",
            VisibilityReason::Hidden => "hidden",
            VisibilityReason::GuestTenantItem => "guest_tenant_item",
            VisibilityReason::OtherTenant => "other_tenant",
            VisibilityReason::Isolated => "isolated",
            VisibilityReason::SupportOutOfScope => "support_out_of_scope",
            VisibilityReason::SupportDisabled => "support_disabled",
        }
    }
}

/// Whether an item is visible to a user, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Visibility {
    /// The answer.
    pub visible: bool,
    /// Why.
    pub reason: VisibilityReason,
}

/// A course or program with its visibility for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisibleItem {
    /// The item's context.
    pub context: ContextId,
    /// Course or program.
    pub level: ContextLevel,
    /// Its display name.
    pub name: Option<String>,
    /// Its effective tenant.
    pub tenant: Option<TenantId>,
    /// The answer.
    pub visible: bool,
    /// Why.
    pub reason: VisibilityReason,
}

/// An assignment named by (user, role, context).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AssignmentKey {
    /// Who.
    pub user: UserId,
    /// Which role.
    pub role: RoleId,
    /// Where.
    pub context: ContextId,
}

/// Capabilities consulted by the engine itself.
pub mod caps {
    /// Assign roles.
    pub const ROLE_ASSIGN: &str = "moodle/role:assign";
    /// Override any capability.
    pub const ROLE_OVERRIDE: &str = "moodle/role:override";
    /// Override safe capabilities.
    pub const ROLE_SAFEOVERRIDE: &str = "moodle/role:safeoverride";
    /// Switch roles.
    pub const ROLE_SWITCHROLES: &str = "moodle/role:switchroles";
    /// See hidden courses.
    pub const VIEW_HIDDEN_COURSES: &str = "moodle/course:viewhiddencourses";
    /// See hidden programs and certifications.
    pub const VIEW_HIDDEN_PROGRAMS: &str = "totara/program:viewhiddenprograms";
    /// Grant support access.
    pub const SUPPORT_GRANT: &str = "capstan/support:grant";
    /// Manage role definitions.
    pub const ROLE_MANAGE: &str = "moodle/role:manage";
}

/// Whether a capability of home level `cap` is relevant in a context of level `ctx`: its level
/// or a level that can sit below it (Moodle's per-context capability lists, simplified).
pub fn is_relevant(cap: ContextLevel, ctx: ContextLevel) -> bool {
    use ContextLevel as L;
    match ctx {
        L::System => true,
        L::Tenant => cap != L::System,
        L::User => matches!(cap, L::User | L::Block),
        L::Coursecat => matches!(
            cap,
            L::Coursecat | L::Program | L::Course | L::Module | L::Block
        ),
        L::Program => matches!(cap, L::Program | L::Block),
        L::Course => matches!(cap, L::Course | L::Module | L::Block),
        L::Module => matches!(cap, L::Module | L::Block),
        L::Block => cap == L::Block,
    }
}

impl Engine {
    /// Explains a decision: the deciding rule and, per active role, where it came from and every
    /// row met on the path (SEMANTICS.md §3).
    pub fn explain(
        &self,
        user: UserId,
        capability: &str,
        context: ContextId,
        opts: CheckOptions,
    ) -> Result<Explanation, QueryError> {
        self.bundle_guard(user, context)?;
        let cap = self.cap_idx(capability)?;
        let ctx = self.ctx_idx(context)?;
        let path = self.context_path(context)?;
        let mut ex = Explanation {
            allowed: false,
            rule: Rule::NotAllowed,
            step: 10,
            reason: String::new(),
            user,
            capability: capability.to_string(),
            context,
            path,
            roles: Vec::new(),
        };
        let finish = |mut ex: Explanation, rule: Rule| {
            ex.allowed = rule.allows();
            ex.rule = rule;
            ex.step = rule.step();
            ex.reason = rule.describe().to_string();
            ex
        };
        let (u, switch) = match self.gate(user, cap, ctx, opts, false) {
            Gate::Decided(rule) => return Ok(finish(ex, rule)),
            Gate::Roles { user, switch } => (user, switch),
        };
        let mut traces: Vec<(u32, RoleTrace)> = Vec::new();
        self.for_each_role(user, u, switch, ctx, opts.at, |r, origin| {
            if let Some((_, t)) = traces.iter_mut().find(|(i, _)| *i == r) {
                t.origins.push(origin);
            } else {
                let role = self.roles.get(r as usize);
                traces.push((
                    r,
                    RoleTrace {
                        role: role.map_or(RoleId(0), |n| n.id),
                        shortname: role
                            .and_then(|n| self.role(n.id))
                            .map(|x| x.shortname.clone())
                            .unwrap_or_default(),
                        origins: vec![origin],
                        rows: Vec::new(),
                        value: None,
                    },
                ));
            }
        });
        let mut prohibited = false;
        let mut allowed = false;
        for (r, t) in &mut traces {
            // Walk the whole path, bottom-up, collecting every row.
            let mut i = ctx;
            while let Some(node) = self.ctxs.get(i as usize) {
                if let Some(p) = self.row_at(i, *r, cap) {
                    t.rows.push(RowTrace {
                        context: node.id,
                        permission: p,
                        decisive: false,
                    });
                }
                if i == self.system {
                    break;
                }
                i = node.parent;
            }
            let decisive = t
                .rows
                .iter()
                .position(|row| row.permission == Permission::Prohibit)
                .or(if t.rows.is_empty() { None } else { Some(0) });
            if let Some(d) = decisive.and_then(|d| t.rows.get_mut(d)) {
                d.decisive = true;
                t.value = Some(d.permission);
            }
            prohibited |= t.value == Some(Permission::Prohibit);
            allowed |= t.value == Some(Permission::Allow);
        }
        ex.roles = traces.into_iter().map(|(_, t)| t).collect();
        let rule = if prohibited {
            Rule::Prohibited
        } else if allowed {
            Rule::Allowed
        } else {
            Rule::NotAllowed
        };
        Ok(finish(ex, rule))
    }

    /// The users (not deleted, not the guest account) who hold a capability in a context with
    /// `doanything = false`, switches ignored (SEMANTICS.md §4).
    pub fn users_with_capability(
        &self,
        capability: &str,
        context: ContextId,
        at: Timestamp,
    ) -> Result<UsersWithCapability, QueryError> {
        self.whole_site("users_with_capability")?;
        let cap = self.cap_idx(capability)?;
        let ctx = self.ctx_idx(context)?;
        let opts = CheckOptions {
            doanything: false,
            at,
        };
        let mut users: Vec<UserId> = self
            .users
            .iter()
            .filter(|u| !u.deleted && !u.guest)
            .filter(|u| self.decide(u.id, cap, ctx, opts, true).allows())
            .map(|u| u.id)
            .collect();
        users.sort_unstable();
        let all_authenticated = self
            .default_role
            .is_some_and(|r| self.role_value(r, cap, ctx) == Some(Permission::Allow));
        Ok(UsersWithCapability {
            users,
            all_authenticated,
        })
    }

    /// Every capability relevant at the context, with the user's answer and the deciding rule
    /// (the "Check permissions" page). The user, its roles and the overrides on the path are
    /// looked up once for all capabilities.
    pub fn effective_permissions(
        &self,
        user: UserId,
        context: ContextId,
        opts: CheckOptions,
    ) -> Result<Vec<EffectivePermission<'_>>, QueryError> {
        self.bundle_guard(user, context)?;
        let ctx = self.ctx_idx(context)?;
        let Some(ctxn) = self.ctxs.get(ctx as usize) else {
            return Err(QueryError::UnknownContext(context));
        };
        let who = self.who(user, ctx, ctxn, opts.at, false);
        let mut roles = RoleSet::new();
        self.for_each_role(user, who.u, who.switch, ctx, opts.at, |r, _| {
            roles.insert(r)
        });
        let mut path = Vec::new();
        self.override_path(ctx, &mut path);
        let mut out = Vec::with_capacity(self.caps.len());
        for (ci, c) in self.caps.iter().enumerate() {
            if !is_relevant(c.level, ctxn.level) {
                continue;
            }
            let cap = ci as u32;
            let rule = match self.gate_cap(&who, c, cap, ctxn, opts.doanything) {
                Some(rule) => rule,
                None => self.evaluate_on(&roles, cap, &path),
            };
            out.push(EffectivePermission {
                capability: &c.name,
                capability_id: CapabilityId(cap),
                allowed: rule.allows(),
                rule,
            });
        }
        Ok(out)
    }

    /// Each role's definition value for a capability plus every override, by context.
    /// `roles` = `None` means every role.
    pub fn capability_overview(
        &self,
        capability: &str,
        roles: Option<&[RoleId]>,
    ) -> Result<Vec<OverviewRow>, QueryError> {
        self.whole_site("capability_overview")?;
        let cap = self.cap_idx(capability)?;
        let wanted: Vec<u32> = match roles {
            Some(list) => list
                .iter()
                .map(|r| self.role_idx(*r))
                .collect::<Result<_, _>>()?,
            None => (0..self.roles.len() as u32).collect(),
        };
        let mut rows: Vec<OverviewRow> = wanted
            .iter()
            .map(|&r| OverviewRow {
                role: self.roles.get(r as usize).map_or(RoleId(0), |n| n.id),
                definition: self.def(r, cap),
                overrides: Vec::new(),
            })
            .collect();
        for (ci, list) in self.overrides.iter().enumerate() {
            for o in list.iter().filter(|o| o.cap == cap) {
                if let Some(pos) = wanted.iter().position(|&r| r == o.role)
                    && let (Some(row), Some(c)) = (rows.get_mut(pos), self.ctxs.get(ci))
                {
                    row.overrides.push((c.id, o.perm));
                }
            }
        }
        Ok(rows)
    }

    /// Whether a named capability holds, for the capabilities the engine consults itself:
    /// absent from the site, nobody but a site admin holds it.
    fn holds(&self, user: UserId, name: &str, ctx: u32, at: Timestamp) -> bool {
        match self.cap_index.get(name) {
            Some(&cap) => self
                .decide(user, cap, ctx, CheckOptions::at(at), false)
                .allows(),
            None => self.is_site_admin(user),
        }
    }

    /// Whether one of the user's real assignments (active at `at`) at the context or an
    /// ancestor is of a role whose allow list (picked by `list`) names the target.
    fn real_assignment_allows(
        &self,
        u: &UserNode,
        ctx: u32,
        target: RoleId,
        at: Timestamp,
        list: fn(&RoleNode) -> &[RoleId],
    ) -> bool {
        u.grants.iter().any(|g| {
            g.active(at)
                && self.is_ancestor_or_self(g.ctx, ctx)
                && self
                    .roles
                    .get(g.role as usize)
                    .is_some_and(|r| list(r).contains(&target))
        })
    }

    /// Whether `actor` may assign `role` in `context` (SEMANTICS.md §4).
    pub fn can_assign(
        &self,
        actor: UserId,
        role: RoleId,
        context: ContextId,
        at: Timestamp,
    ) -> Result<bool, QueryError> {
        self.bundle_guard(actor, context)?;
        let ctx = self.ctx_idx(context)?;
        let r = self.role_idx(role)?;
        let level = self.ctxs.get(ctx as usize).map(|c| c.level);
        let assignable = match (self.roles.get(r as usize), level) {
            (Some(rn), Some(l)) => rn.levels & l.bit() != 0,
            _ => false,
        };
        if !assignable {
            return Ok(false);
        }
        let Some(u) = self.unode(actor) else {
            return Ok(false);
        };
        if u.admin {
            return Ok(true);
        }
        Ok(self.holds(actor, caps::ROLE_ASSIGN, ctx, at)
            && self.real_assignment_allows(u, ctx, role, at, |r| &r.allow_assign))
    }

    /// Whether `actor` may override `role` in `context`, for one capability or at all
    /// (SEMANTICS.md §4).
    pub fn can_override(
        &self,
        actor: UserId,
        role: RoleId,
        context: ContextId,
        capability: Option<&str>,
        at: Timestamp,
    ) -> Result<bool, QueryError> {
        self.bundle_guard(actor, context)?;
        let ctx = self.ctx_idx(context)?;
        self.role_idx(role)?;
        let cap = capability.map(|c| self.cap_idx(c)).transpose()?;
        if ctx == self.system {
            return Ok(false);
        }
        let Some(u) = self.unode(actor) else {
            return Ok(false);
        };
        if u.admin {
            return Ok(true);
        }
        if !self.real_assignment_allows(u, ctx, role, at, |r| &r.allow_override) {
            return Ok(false);
        }
        if self.holds(actor, caps::ROLE_OVERRIDE, ctx, at) {
            return Ok(true);
        }
        let safe = match cap.and_then(|c| self.caps.get(c as usize)) {
            Some(c) => !c.risks.intersects(RiskSet::UNSAFE_OVERRIDE),
            None => true,
        };
        Ok(safe && self.holds(actor, caps::ROLE_SAFEOVERRIDE, ctx, at))
    }

    /// Whether `actor` may switch to `role` in `context` (SEMANTICS.md §4, §6).
    pub fn can_switch(
        &self,
        actor: UserId,
        role: RoleId,
        context: ContextId,
        at: Timestamp,
    ) -> Result<bool, QueryError> {
        self.bundle_guard(actor, context)?;
        let ctx = self.ctx_idx(context)?;
        let r = self.role_idx(role)?;
        let Some(u) = self.unode(actor) else {
            return Ok(false);
        };
        if self.site.settings.multitenancy
            && (u.tenant.is_some()
                || self
                    .ctxs
                    .get(ctx as usize)
                    .is_some_and(|c| c.tenant.is_some()))
        {
            return Ok(false);
        }
        if self.roles.get(r as usize).is_none_or(|rn| rn.rows == 0) {
            return Ok(false);
        }
        if u.admin {
            return Ok(true);
        }
        Ok(self.holds(actor, caps::ROLE_SWITCHROLES, ctx, at)
            && self.real_assignment_allows(u, ctx, role, at, |r| &r.allow_switch))
    }

    /// The roles `user` may see in `context` (Moodle's `get_viewable_roles`), in sort order:
    /// every role for a site admin; for anyone else, the roles listed in `allow_view` of the
    /// roles of its own assignments active at `at` in the context or above it (the default
    /// user role is no assignment and gives none, as in Moodle). A deleted or unknown user, the
    /// guest account and user 0 see none, and neither does a user the tenant rules (§6) or its
    /// support scope (§7) keep out of the context.
    pub fn viewable_roles(
        &self,
        user: UserId,
        context: ContextId,
        at: Timestamp,
    ) -> Result<Vec<RoleId>, QueryError> {
        self.bundle_guard(user, context)?;
        let ctx = self.ctx_idx(context)?;
        let Some(u) = self.unode(user) else {
            return Ok(Vec::new());
        };
        let Some(ctxn) = self.ctxs.get(ctx as usize) else {
            return Ok(Vec::new());
        };
        if u.deleted
            || u.guest
            || (u.support && !self.site.settings.support_access)
            || self.tenant_denial(false, Some(u), ctxn, at).is_some()
        {
            return Ok(Vec::new());
        }
        let mut seen = vec![false; self.site.roles.len()];
        if u.admin {
            seen.iter_mut().for_each(|s| *s = true);
        } else {
            for g in &u.grants {
                if !g.active(at) || !self.is_ancestor_or_self(g.ctx, ctx) {
                    continue;
                }
                let Some(r) = self.site.roles.get(g.role as usize) else {
                    continue;
                };
                for target in &r.allow_view {
                    if let Ok(t) = self.role_idx(*target)
                        && let Some(s) = seen.get_mut(t as usize)
                    {
                        *s = true;
                    }
                }
            }
        }
        let mut out: Vec<&Role> = self
            .site
            .roles
            .iter()
            .enumerate()
            .filter(|(i, _)| seen.get(*i).copied().unwrap_or(false))
            .map(|(_, r)| r)
            .collect();
        out.sort_by_key(|r| (r.sortorder.unwrap_or(i64::MAX), r.id));
        Ok(out.into_iter().map(|r| r.id).collect())
    }

    /// Every assignment (whatever its time range) whose role is not assignable at the level of
    /// its context, sorted, each (user, role, context) once.
    pub fn unsupported_assignments(&self) -> Vec<AssignmentKey> {
        let mut out: Vec<AssignmentKey> = Vec::new();
        for u in &self.users {
            for g in &u.grants {
                if let (Some(r), Some(c)) = (
                    self.roles.get(g.role as usize),
                    self.ctxs.get(g.ctx as usize),
                ) && r.levels & c.level.bit() == 0
                {
                    out.push(AssignmentKey {
                        user: u.id,
                        role: r.id,
                        context: c.id,
                    });
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether a course or program is visible to a user, and why (SEMANTICS.md §6).
    pub fn visible(
        &self,
        user: UserId,
        context: ContextId,
        at: Timestamp,
    ) -> Result<Visibility, QueryError> {
        self.bundle_guard(user, context)?;
        let ctx = self.ctx_idx(context)?;
        Ok(self.visibility(user, ctx, at))
    }

    pub(crate) fn visibility(&self, user: UserId, ctx: u32, at: Timestamp) -> Visibility {
        use VisibilityReason as V;
        let s = &self.site.settings;
        let verdict = |visible, reason| Visibility { visible, reason };
        let Some(node) = self.ctxs.get(ctx as usize) else {
            return verdict(false, V::Hidden);
        };
        let anonymous = user == UserId::NOT_LOGGED_IN;
        let u = if anonymous { None } else { self.unode(user) };
        if !anonymous {
            match u {
                None => return verdict(false, V::UnknownUser),
                Some(u) if u.deleted => return verdict(false, V::DeletedUser),
                Some(u) if u.support && !s.support_access => {
                    return verdict(false, V::SupportDisabled);
                }
                _ => {}
            }
        }
        let member = u.and_then(|u| u.tenant).filter(|_| s.multitenancy);
        if member.is_some_and(|t| self.tenants.get(&t).is_some_and(|t| t.suspended)) {
            return verdict(false, V::UserTenantSuspended);
        }
        if u.is_some_and(|u| u.admin) {
            return verdict(true, V::SiteAdmin);
        }
        let item_tenant = node.tenant.filter(|_| s.multitenancy);
        if item_tenant.is_some_and(|t| self.tenants.get(&t).is_some_and(|t| t.suspended)) {
            return verdict(false, V::ItemTenantSuspended);
        }
        let mut reason = V::Visible;
        if node.hidden {
            let cap = if node.level == ContextLevel::Program {
                caps::VIEW_HIDDEN_PROGRAMS
            } else {
                caps::VIEW_HIDDEN_COURSES
            };
            if !self.holds(user, cap, ctx, at) {
                return verdict(false, V::Hidden);
            }
            reason = V::HiddenWithCapability;
        }
        let guest = anonymous || u.is_some_and(|u| u.guest);
        match item_tenant {
            Some(t) => {
                if guest {
                    return verdict(false, V::GuestTenantItem);
                }
                if member.is_some_and(|m| m != t) {
                    return verdict(false, V::OtherTenant);
                }
            }
            None => {
                if member.is_some() && s.tenant_isolation {
                    return verdict(false, V::Isolated);
                }
            }
        }
        if let Some(TenantDenial::SupportOutOfScope) =
            self.tenant_denial(guest, u.filter(|u| u.support), node, at)
        {
            return verdict(false, V::SupportOutOfScope);
        }
        verdict(true, reason)
    }

    /// Every course and program with its visibility for the user.
    pub fn visible_items(&self, user: UserId, at: Timestamp) -> Vec<VisibleItem> {
        self.ctxs
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.level, ContextLevel::Course | ContextLevel::Program))
            .map(|(i, c)| {
                let v = self.visibility(user, i as u32, at);
                VisibleItem {
                    context: c.id,
                    level: c.level,
                    name: self.site.contexts.get(i).and_then(|x| x.name.clone()),
                    tenant: c.tenant,
                    visible: v.visible,
                    reason: v.reason,
                }
            })
            .collect()
    }
}

impl Engine {
    /// The contexts of `level` where `user` has `capability` (SEMANTICS.md §2 for each),
    /// sorted by id: Moodle's `get_user_capability_course` for level `course`. A bundle answers
    /// this only when it covers the whole tree (else `out_of_bundle`: the contexts it does not
    /// hold would be missing from the answer).
    pub fn contexts_with_capability(
        &self,
        user: UserId,
        capability: &str,
        level: ContextLevel,
        opts: CheckOptions,
    ) -> Result<Vec<ContextId>, QueryError> {
        if let Some(b) = &self.bundle {
            if b.user != user {
                return Err(QueryError::OutOfBundle(format!(
                    "this bundle answers for user `{}`, not `{user}`",
                    b.user
                )));
            }
            if !b.whole {
                return Err(QueryError::OutOfBundle(
                    "contexts_with_capability needs a bundle of the whole tree".into(),
                ));
            }
        }
        let cap = self.cap_idx(capability)?;
        let mut out: Vec<ContextId> = self
            .ctxs
            .iter()
            .enumerate()
            .filter(|(_, c)| c.level == level)
            .filter(|(i, _)| self.decide(user, cap, *i as u32, opts, false).allows())
            .map(|(_, c)| c.id)
            .collect();
        out.sort_unstable();
        Ok(out)
    }
}

/// [`Engine::contexts_with_capability`] as a filter for back ends that keep Moodle's
/// `context.path` column (`/1/40/57`): a context `c` of `level` is in the answer exactly when
///
/// ```sql
/// path IN (:include)
///   OR ((path LIKE '/1/40/%' OR … for each include_under)
///       AND NOT (path LIKE '/1/40/57/%' OR … for each exclude_under)
///       AND path NOT IN (:exclude))
/// ```
///
/// (`x_under` entries stand for the strict descendants of that path). Whole subtrees where
/// the answer is the same are written once, so the plan stays small when the answer follows
/// the tree, as it does when roles are assigned in categories.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContextPlan {
    /// Paths whose strict descendants of the level are in the answer (but for the exclusions).
    pub include_under: Vec<String>,
    /// Paths inside an `include_under` whose strict descendants are not in the answer.
    pub exclude_under: Vec<String>,
    /// Contexts in the answer one by one.
    pub include: Vec<String>,
    /// Contexts inside an included subtree that are not in the answer.
    pub exclude: Vec<String>,
}

impl ContextPlan {
    /// Whether a context with this path is in the answer, by the plan's own rule (the SQL
    /// above); used by tests and by back ends without SQL.
    pub fn admits(&self, path: &str) -> bool {
        let under = |p: &String| {
            path.len() > p.len() + 1
                && path.starts_with(p.as_str())
                && path.as_bytes().get(p.len()) == Some(&b'/')
        };
        self.include.iter().any(|p| p == path)
            || (self.include_under.iter().any(under)
                && !self.exclude_under.iter().any(under)
                && !self.exclude.iter().any(|p| p == path))
    }
}

impl Engine {
    /// A context's `path` as Moodle writes it: its ancestors' ids and its own from the root,
    /// each after a `/` (`/1/40/57`).
    pub fn context_path_text(&self, context: ContextId) -> Result<String, QueryError> {
        Ok(self
            .context_path(context)?
            .iter()
            .map(|c| format!("/{c}"))
            .collect())
    }

    /// [`Engine::contexts_with_capability`] as a [`ContextPlan`] of context paths.
    pub fn contexts_with_capability_plan(
        &self,
        user: UserId,
        capability: &str,
        level: ContextLevel,
        opts: CheckOptions,
    ) -> Result<ContextPlan, QueryError> {
        let yes: std::collections::HashSet<ContextId> = self
            .contexts_with_capability(user, capability, level, opts)?
            .into_iter()
            .collect();
        let n = self.ctxs.len();
        // Visit in pre-order, so that a parent comes before its children.
        let order: Vec<u32> = self
            .pre_slots()
            .into_iter()
            .filter(|i| *i != crate::engine::NONE)
            .collect();
        let is_level = |i: u32| self.ctxs.get(i as usize).is_some_and(|c| c.level == level);
        let is_yes = |i: u32| {
            self.ctxs
                .get(i as usize)
                .is_some_and(|c| yes.contains(&c.id))
        };
        // Strict descendants of the level under each context, and how many are in the answer.
        let (mut total, mut held) = (vec![0u32; n], vec![0u32; n]);
        for &i in order.iter().rev() {
            let Some(c) = self.ctxs.get(i as usize) else {
                continue;
            };
            if c.parent == crate::engine::NONE {
                continue;
            }
            let (t, h) = (
                total.get(i as usize).copied().unwrap_or(0) + u32::from(is_level(i)),
                held.get(i as usize).copied().unwrap_or(0) + u32::from(is_level(i) && is_yes(i)),
            );
            if let Some(slot) = total.get_mut(c.parent as usize) {
                *slot += t;
            }
            if let Some(slot) = held.get_mut(c.parent as usize) {
                *slot += h;
            }
        }
        let mut plan = ContextPlan::default();
        // For each context: the state its children start in (Some(included) or None: settled).
        let mut below: Vec<Option<bool>> = vec![None; n];
        for &i in &order {
            let Some(c) = self.ctxs.get(i as usize) else {
                continue;
            };
            let incoming = if c.parent == crate::engine::NONE {
                Some(false)
            } else {
                below.get(c.parent as usize).copied().flatten()
            };
            let Some(inc) = incoming else {
                continue;
            };
            let path = || self.context_path_text(c.id).unwrap_or_default();
            if is_level(i) && inc != is_yes(i) {
                if inc {
                    plan.exclude.push(path());
                } else {
                    plan.include.push(path());
                }
            }
            let t = total.get(i as usize).copied().unwrap_or(0);
            let h = held.get(i as usize).copied().unwrap_or(0);
            let next = if t == 0 {
                None
            } else if inc {
                if h == 0 {
                    plan.exclude_under.push(path());
                    None
                } else if h == t {
                    None
                } else {
                    Some(true)
                }
            } else if h == t {
                plan.include_under.push(path());
                None
            } else if h == 0 {
                None
            } else if 2 * h > t {
                plan.include_under.push(path());
                Some(true)
            } else {
                Some(false)
            };
            if let Some(slot) = below.get_mut(i as usize) {
                *slot = next;
            }
        }
        Ok(plan)
    }
}
