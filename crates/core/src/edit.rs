//! Edits: operations on a compiled site, each validated, applied incrementally where the index
//! allows it (permissions, assignments, switches, settings), by a checked rebuild otherwise
//! (structure: contexts, roles, users, tenants, capabilities). A refused edit changes nothing.

use crate::engine::{Engine, Grant, LoadError, RoleNode, role_node};
use crate::model::*;
use crate::snapshot::{
    CapabilityDoc, ContextDoc, ProgramCourseDoc, RoleDoc, SettingsDoc, TenantDoc, UserDoc,
};
use crate::time::Timestamp;
use crate::validate::{Issue, is_valid_shortname};
use serde::{Deserialize, Serialize};

/// One edit of a site. In JSON: `{"op": "set_permission", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum EditOp {
    /// Set a permission row; `permission: null` (inherit) deletes it.
    SetPermission {
        /// The role.
        role: RoleId,
        /// Where (system = the role definition).
        context: ContextId,
        /// The capability.
        capability: String,
        /// The value, or `None` for "not set".
        permission: Option<Permission>,
    },
    /// Assign a role.
    Assign {
        /// Who.
        user: UserId,
        /// Which role.
        role: RoleId,
        /// Where.
        context: ContextId,
        /// Active from.
        #[serde(default)]
        from: Option<Timestamp>,
        /// Active until.
        #[serde(default)]
        until: Option<Timestamp>,
        /// Source (default manual).
        #[serde(default)]
        source: Option<Source>,
    },
    /// Remove an assignment (of the given source, default manual).
    Unassign {
        /// Who.
        user: UserId,
        /// Which role.
        role: RoleId,
        /// Where.
        context: ContextId,
        /// Source (default manual).
        #[serde(default)]
        source: Option<Source>,
    },
    /// Switch a user's view of a subtree to a role.
    AddSwitch {
        /// Who.
        user: UserId,
        /// Where.
        context: ContextId,
        /// As which role.
        role: RoleId,
    },
    /// End a role switch.
    RemoveSwitch {
        /// Who.
        user: UserId,
        /// Where.
        context: ContextId,
    },
    /// Add a role, or replace the role with that id.
    PutRole {
        /// The role.
        role: RoleDoc,
    },
    /// Delete a role with its rows, assignments and switches.
    DeleteRole {
        /// The role.
        role: RoleId,
    },
    /// Add a context, or replace the context with that id (moving it moves its subtree).
    PutContext {
        /// The context.
        context: ContextDoc,
    },
    /// Delete a context that has no children, with its rows, assignments and switches.
    DeleteContext {
        /// The context.
        context: ContextId,
    },
    /// Add a user, or replace the user with that id.
    PutUser {
        /// The user.
        user: UserDoc,
    },
    /// Delete a user record with its assignments and switches.
    DeleteUser {
        /// The user.
        user: UserId,
    },
    /// Add a tenant, or replace the tenant with that id.
    PutTenant {
        /// The tenant.
        tenant: TenantDoc,
    },
    /// Delete a tenant (its contexts must have been removed or moved first).
    DeleteTenant {
        /// The tenant.
        tenant: TenantId,
    },
    /// Add a capability definition, or replace the one with that name.
    PutCapability {
        /// The capability.
        capability: CapabilityDoc,
    },
    /// Replace the settings.
    SetSettings {
        /// The settings.
        settings: SettingsDoc,
    },
    /// Put a course into a program.
    AddProgramCourse {
        /// The pair.
        item: ProgramCourseDoc,
    },
    /// Take a course out of a program.
    RemoveProgramCourse {
        /// The pair.
        item: ProgramCourseDoc,
    },
}

impl EditOp {
    /// Whether the edit changes the site's structure (contexts, roles, users, tenants,
    /// capabilities, settings, program contents): the site is then validated and compiled
    /// again, where rows, assignments and switches change in place.
    pub const fn is_structural(&self) -> bool {
        !matches!(
            self,
            EditOp::SetPermission { .. }
                | EditOp::Assign { .. }
                | EditOp::Unassign { .. }
                | EditOp::AddSwitch { .. }
                | EditOp::RemoveSwitch { .. }
        )
    }

    /// The op's tag in JSON (`set_permission`, `assign`, …).
    pub const fn name(&self) -> &'static str {
        match self {
            EditOp::SetPermission { .. } => "set_permission",
            EditOp::Assign { .. } => "assign",
            EditOp::Unassign { .. } => "unassign",
            EditOp::AddSwitch { .. } => "add_switch",
            EditOp::RemoveSwitch { .. } => "remove_switch",
            EditOp::PutRole { .. } => "put_role",
            EditOp::DeleteRole { .. } => "delete_role",
            EditOp::PutContext { .. } => "put_context",
            EditOp::DeleteContext { .. } => "delete_context",
            EditOp::PutUser { .. } => "put_user",
            EditOp::DeleteUser { .. } => "delete_user",
            EditOp::PutTenant { .. } => "put_tenant",
            EditOp::DeleteTenant { .. } => "delete_tenant",
            EditOp::PutCapability { .. } => "put_capability",
            EditOp::SetSettings { .. } => "set_settings",
            EditOp::AddProgramCourse { .. } => "add_program_course",
            EditOp::RemoveProgramCourse { .. } => "remove_program_course",
        }
    }
}

/// Why an edit was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// A role that does not exist.
    #[error("unknown role `{0}`")]
    UnknownRole(RoleId),
    /// A context that does not exist.
    #[error("unknown context `{0}`")]
    UnknownContext(ContextId),
    /// A user that does not exist.
    #[error("unknown user `{0}`")]
    UnknownUser(UserId),
    /// A capability that does not exist.
    #[error("unknown capability `{0}`")]
    UnknownCapability(String),
    /// A tenant that does not exist.
    #[error("unknown tenant `{0}`")]
    UnknownTenant(TenantId),
    /// The thing to remove is not there.
    #[error("{0}")]
    NotFound(String),
    /// The thing to add is there already.
    #[error("{0}")]
    Duplicate(String),
    /// `from` is not before `until`.
    #[error("`from` {from} is not before `until` {until}")]
    BadTimeRange {
        /// From.
        from: Timestamp,
        /// Until.
        until: Timestamp,
    },
    /// The context still has children.
    #[error("context `{0}` still has children")]
    HasChildren(ContextId),
    /// The engine holds a bundle (a cut of a site for one user), which is never edited.
    #[error("this is a bundle, a cut of a site for one user: edit the site itself")]
    Bundle,
    /// The edit would make the site invalid; every problem is listed.
    #[error("the edit would make the site invalid: {}", .0.first().map(|i| i.to_string()).unwrap_or_default())]
    Invalid(Vec<Issue>),
}

impl EditError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            EditError::UnknownRole(_) => "unknown_role",
            EditError::UnknownContext(_) => "unknown_context",
            EditError::UnknownUser(_) => "unknown_user",
            EditError::UnknownCapability(_) => "unknown_capability",
            EditError::UnknownTenant(_) => "unknown_tenant",
            EditError::NotFound(_) => "not_found",
            EditError::Duplicate(_) => "duplicate_id",
            EditError::BadTimeRange { .. } => "bad_time_range",
            EditError::HasChildren(_) => "has_children",
            EditError::Bundle => "out_of_bundle",
            EditError::Invalid(issues) => issues
                .first()
                .map(|i| i.code.as_str())
                .unwrap_or("invalid_snapshot"),
        }
    }
}

impl Engine {
    /// Applies one edit. On error nothing changes; a bundle is never edited.
    pub fn apply(&mut self, op: EditOp) -> Result<(), EditError> {
        if self.is_bundle() {
            return Err(EditError::Bundle);
        }
        match op {
            EditOp::SetPermission {
                role,
                context,
                capability,
                permission,
            } => self.set_permission(role, context, &capability, permission),
            EditOp::Assign {
                user,
                role,
                context,
                from,
                until,
                source,
            } => self.assign(Assignment {
                user,
                role,
                context,
                from,
                until,
                source: source.unwrap_or_default(),
            }),
            EditOp::Unassign {
                user,
                role,
                context,
                source,
            } => self.unassign(user, role, context, source.unwrap_or_default()),
            EditOp::AddSwitch {
                user,
                context,
                role,
            } => {
                let (ui, ci, ri) = self.refs(user, context, role)?;
                let u = self
                    .users
                    .get_mut(ui as usize)
                    .ok_or(EditError::UnknownUser(user))?;
                if u.switches.iter().any(|(c, _)| *c == ci) {
                    return Err(EditError::Duplicate(format!(
                        "user `{user}` already has a switch in context `{context}`"
                    )));
                }
                u.switches.push((ci, ri));
                Ok(())
            }
            EditOp::RemoveSwitch { user, context } => {
                let ci = self
                    .ctx_index
                    .get(context.0)
                    .ok_or(EditError::UnknownContext(context))?;
                let ui = self
                    .user_index
                    .get(user.0)
                    .ok_or(EditError::UnknownUser(user))?;
                let u = self
                    .users
                    .get_mut(ui as usize)
                    .ok_or(EditError::UnknownUser(user))?;
                let before = u.switches.len();
                u.switches.retain(|(c, _)| *c != ci);
                if u.switches.len() == before {
                    return Err(EditError::NotFound(format!(
                        "user `{user}` has no switch in context `{context}`"
                    )));
                }
                Ok(())
            }
            EditOp::PutRole { role } => {
                let role = Role::from(role);
                if !is_valid_shortname(&role.shortname) {
                    return self.rebuild(|site| {
                        upsert(&mut site.roles, role, |r| r.id);
                        Ok(())
                    });
                }
                // A role already there with the same id: update in place when only its own
                // fields change; a new role grows the definition table.
                if let Some(ri) = self.role_index.get(role.id.0) {
                    let mut issues_site = self.site.clone();
                    upsert(&mut issues_site.roles, role.clone(), |r| r.id);
                    let issues = crate::validate::validate(&Site {
                        permissions: Vec::new(),
                        assignments: Vec::new(),
                        switches: Vec::new(),
                        ..issues_site
                    });
                    if !issues.is_empty() {
                        return Err(EditError::Invalid(issues));
                    }
                    let rows = self.roles.get(ri as usize).map_or(0, |r| r.rows);
                    if let Some(slot) = self.roles.get_mut(ri as usize) {
                        *slot = RoleNode {
                            rows,
                            ..role_node(&role)
                        };
                    }
                    if let Some(slot) = self.site.roles.get_mut(ri as usize) {
                        *slot = role;
                    }
                    self.refresh_derived();
                    Ok(())
                } else {
                    self.rebuild(|site| {
                        site.roles.push(role);
                        Ok(())
                    })
                }
            }
            EditOp::PutUser { user } if self.put_user_in_place(&user) => Ok(()),
            op => self.rebuild(|site| change_site(site, &mut Positions::default(), op)),
        }
    }

    /// Applies a batch of edits, all or nothing. Each run of consecutive structural edits
    /// is applied to the site at once and validated and compiled once
    /// ([`Engine::apply_structural_run`]), so a batch costs one compile per run, not one per
    /// edit. A batch of one edit is applied in place (each edit is all or nothing by itself);
    /// a longer one on a copy of the engine, which replaces it when every edit applied.
    pub fn apply_all(&mut self, ops: Vec<EditOp>) -> Result<(), (usize, EditError)> {
        if ops.len() <= 1 || ops.iter().all(EditOp::is_structural) {
            // One edit, or one structural run: all or nothing by themselves.
            return self.replay_batch(&ops);
        }
        let mut next = self.clone();
        next.replay_batch(&ops)?;
        *self = next;
        Ok(())
    }

    /// Applies a batch that is known to apply (it applied to this very site before: a replay
    /// of stored history, or a writer's second copy brought forward), without the copy that
    /// makes [`Engine::apply_all`] all or nothing: the cost is the edits'. On error the engine
    /// may hold the edits before the failing one: drop it.
    pub fn replay_batch(&mut self, ops: &[EditOp]) -> Result<(), (usize, EditError)> {
        let mut i = 0;
        while let Some(op) = ops.get(i) {
            if op.is_structural() {
                let run = ops
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|o| o.is_structural())
                    .count();
                let slice = ops.get(i..i + run).unwrap_or_default();
                self.apply_structural_run(slice)
                    .map_err(|(j, e)| (i + j, e))?;
                i += run;
            } else {
                self.apply(op.clone()).map_err(|e| (i, e))?;
                i += 1;
            }
        }
        Ok(())
    }

    /// Applies structural edits (see [`EditOp::is_structural`]) in one step: each edit's own
    /// checks (the thing to delete exists, the context to delete has no children, …) run in
    /// order against the site as the run leaves it so far; the result is validated and
    /// compiled once. The site must be valid after the run, not after every edit of it. When
    /// it is not, the error names the first edit after which the run so far no longer
    /// validates (found in a logarithmic number of validations). On error nothing changes;
    /// the index is within `ops`.
    pub fn apply_structural_run(&mut self, ops: &[EditOp]) -> Result<(), (usize, EditError)> {
        if self.is_bundle() {
            return Err((0, EditError::Bundle));
        }
        if let [EditOp::PutUser { user }] = ops
            && self.put_user_in_place(user)
        {
            return Ok(());
        }
        let base = self.site();
        let mut site = base.clone();
        let mut at = Positions::default();
        for (i, op) in ops.iter().enumerate() {
            change_site(&mut site, &mut at, op.clone()).map_err(|e| (i, e))?;
        }
        match Engine::from_site(site) {
            Ok(engine) => {
                *self = engine;
                Ok(())
            }
            Err(LoadError::Parse(p)) => Err((
                ops.len().saturating_sub(1),
                EditError::NotFound(p.to_string()),
            )),
            Err(LoadError::Invalid(_)) => {
                // The empty prefix is valid (the site is), the whole run is not: halve until
                // one edit separates a valid prefix from an invalid one.
                let prefix = |n: usize| -> Vec<Issue> {
                    let mut s = base.clone();
                    let mut at = Positions::default();
                    for op in ops.iter().take(n) {
                        let _ = change_site(&mut s, &mut at, op.clone());
                    }
                    crate::validate::validate(&s)
                };
                let (mut lo, mut hi) = (0, ops.len());
                let mut issues = prefix(hi);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    let found = prefix(mid);
                    if found.is_empty() {
                        lo = mid;
                    } else {
                        hi = mid;
                        issues = found;
                    }
                }
                Err((hi.saturating_sub(1), EditError::Invalid(issues)))
            }
        }
    }

    /// `put_user` without a recompile where nothing else can change: a new user (no context,
    /// assignment or switch can name it yet), or a user whose tenant and participations stay.
    /// The tenants named must exist. Returns false, changing nothing, when the edit needs the
    /// full path (validation and compile of the site).
    fn put_user_in_place(&mut self, doc: &crate::snapshot::UserDoc) -> bool {
        let user = User::from(doc.clone());
        let tenants_known = user
            .tenant
            .iter()
            .chain(&user.participant_of)
            .all(|t| self.tenants.contains_key(t));
        if !tenants_known {
            return false;
        }
        let index = match self.user_index.get(user.id.0) {
            None => {
                let idx = self.users.len() as u32;
                self.user_index
                    .insert(user.id.0, idx, self.users.len().saturating_add(1));
                self.users.push(crate::engine::UserNode {
                    id: user.id,
                    deleted: user.deleted,
                    tenant: user.tenant,
                    tenant_suspended: false,
                    admin: false,
                    guest: false,
                    support: false,
                    grants: smallvec::SmallVec::new(),
                    switches: Vec::new(),
                });
                self.site.users.push(user);
                idx
            }
            Some(i) => {
                let same_tenancy = self.site.users.get(i as usize).is_some_and(|old| {
                    old.tenant == user.tenant && old.participant_of == user.participant_of
                });
                if !same_tenancy {
                    return false;
                }
                let (Some(node), Some(slot)) = (
                    self.users.get_mut(i as usize),
                    self.site.users.get_mut(i as usize),
                ) else {
                    return false;
                };
                node.deleted = user.deleted;
                *slot = user;
                i
            }
        };
        self.refresh_user(index);
        true
    }

    fn refs(
        &self,
        user: UserId,
        context: ContextId,
        role: RoleId,
    ) -> Result<(u32, u32, u32), EditError> {
        let ui = self
            .user_index
            .get(user.0)
            .ok_or(EditError::UnknownUser(user))?;
        let ci = self
            .ctx_index
            .get(context.0)
            .ok_or(EditError::UnknownContext(context))?;
        let ri = self
            .role_index
            .get(role.0)
            .ok_or(EditError::UnknownRole(role))?;
        Ok((ui, ci, ri))
    }

    /// Sets or clears one permission row in place: O(log n) on the context's override list.
    fn set_permission(
        &mut self,
        role: RoleId,
        context: ContextId,
        capability: &str,
        permission: Option<Permission>,
    ) -> Result<(), EditError> {
        let ri = self
            .role_index
            .get(role.0)
            .ok_or(EditError::UnknownRole(role))?;
        let ci = self
            .ctx_index
            .get(context.0)
            .ok_or(EditError::UnknownContext(context))?;
        let cap = *self
            .cap_index
            .get(capability)
            .ok_or_else(|| EditError::UnknownCapability(capability.chars().take(200).collect()))?;
        let before: Option<Permission>;
        if ci == self.system {
            let slot = self
                .defs
                .get_mut(ri as usize)
                .and_then(|d| d.get_mut(cap as usize))
                .ok_or(EditError::UnknownRole(role))?;
            before = *slot;
            *slot = permission;
        } else {
            let list = self
                .overrides
                .get_mut(ci as usize)
                .ok_or(EditError::UnknownContext(context))?;
            match list.binary_search_by_key(&(cap, ri), |o| (o.cap, o.role)) {
                Ok(pos) => {
                    before = list.get(pos).map(|o| o.perm);
                    match permission {
                        Some(p) => {
                            if let Some(o) = list.get_mut(pos) {
                                o.perm = p;
                            }
                        }
                        None => {
                            list.remove(pos);
                        }
                    }
                }
                Err(pos) => {
                    before = None;
                    if let Some(p) = permission {
                        list.insert(
                            pos,
                            crate::engine::Override {
                                cap,
                                role: ri,
                                perm: p,
                            },
                        );
                    }
                }
            }
        }
        if ci != self.system {
            let has = self
                .overrides
                .get(ci as usize)
                .is_some_and(|l| !l.is_empty());
            if let Some(c) = self.ctxs.get_mut(ci as usize) {
                c.has_overrides = has;
            }
        }
        if let Some(r) = self.roles.get_mut(ri as usize) {
            match (before.is_some(), permission.is_some()) {
                (false, true) => r.rows += 1,
                (true, false) => r.rows = r.rows.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    fn assign(&mut self, a: Assignment) -> Result<(), EditError> {
        let (ui, ci, ri) = self.refs(a.user, a.context, a.role)?;
        let (pre, post) = self
            .ctxs
            .get(ci as usize)
            .map_or((1, 0), |c| (c.pre, c.post));
        if let (Some(from), Some(until)) = (a.from, a.until)
            && from >= until
        {
            return Err(EditError::BadTimeRange { from, until });
        }
        let u = self
            .users
            .get_mut(ui as usize)
            .ok_or(EditError::UnknownUser(a.user))?;
        if u.grants
            .iter()
            .any(|g| g.ctx == ci && g.role == ri && g.source == a.source)
        {
            return Err(EditError::Duplicate(format!(
                "user `{}` already holds role `{}` in context `{}` ({:?})",
                a.user, a.role, a.context, a.source
            )));
        }
        u.grants.push(Grant {
            ctx: ci,
            pre,
            post,
            role: ri,
            from: a.from,
            until: a.until,
            source: a.source,
        });
        self.refresh_user(ui);
        Ok(())
    }

    fn unassign(
        &mut self,
        user: UserId,
        role: RoleId,
        context: ContextId,
        source: Source,
    ) -> Result<(), EditError> {
        let (ui, ci, ri) = self.refs(user, context, role)?;
        let u = self
            .users
            .get_mut(ui as usize)
            .ok_or(EditError::UnknownUser(user))?;
        let before = u.grants.len();
        u.grants
            .retain(|g| !(g.ctx == ci && g.role == ri && g.source == source));
        if u.grants.len() == before {
            return Err(EditError::NotFound(format!(
                "user `{user}` does not hold role `{role}` in context `{context}` ({source:?})"
            )));
        }
        self.refresh_user(ui);
        Ok(())
    }

    /// A structural edit: change the site, validate it whole, recompile; nothing changes on error.
    fn rebuild(
        &mut self,
        change: impl FnOnce(&mut Site) -> Result<(), EditError>,
    ) -> Result<(), EditError> {
        let mut site = self.site();
        change(&mut site)?;
        match Engine::from_site(site) {
            Ok(engine) => {
                *self = engine;
                Ok(())
            }
            Err(LoadError::Invalid(issues)) => Err(EditError::Invalid(issues)),
            Err(LoadError::Parse(p)) => Err(EditError::NotFound(p.to_string())),
        }
    }
}

/// Where contexts and users sit in a site's lists, made on first use and kept while a run of
/// edits only adds or replaces (a removal forgets it), so that a run of `put_context` or
/// `put_user` edits costs one pass over the site, not one per edit.
#[derive(Default)]
struct Positions {
    contexts: Option<std::collections::HashMap<ContextId, usize>>,
    users: Option<std::collections::HashMap<UserId, usize>>,
}

/// Replaces the item with `key` in `list` or appends it, keeping `positions` true.
fn upsert_at<T, K: std::hash::Hash + Eq + Copy>(
    list: &mut Vec<T>,
    positions: &mut Option<std::collections::HashMap<K, usize>>,
    item: T,
    key: impl Fn(&T) -> K,
) {
    let map = positions
        .get_or_insert_with(|| list.iter().enumerate().map(|(i, x)| (key(x), i)).collect());
    let k = key(&item);
    match map.get(&k).and_then(|i| list.get_mut(*i)) {
        Some(slot) => *slot = item,
        None => {
            map.insert(k, list.len());
            list.push(item);
        }
    }
}

/// A structural edit on the site model, with the edit's own checks; the caller validates.
fn change_site(site: &mut Site, at: &mut Positions, op: EditOp) -> Result<(), EditError> {
    match op {
        EditOp::SetSettings { settings } => {
            site.settings = Settings::from(settings);
        }
        EditOp::PutRole { role } => upsert(&mut site.roles, Role::from(role), |r| r.id),
        EditOp::DeleteRole { role } => {
            if !site.roles.iter().any(|r| r.id == role) {
                return Err(EditError::UnknownRole(role));
            }
            site.roles.retain(|r| r.id != role);
            site.permissions.retain(|p| p.role != role);
            site.assignments.retain(|a| a.role != role);
            site.switches.retain(|s| s.role != role);
            for r in &mut site.roles {
                for list in [
                    &mut r.allow_assign,
                    &mut r.allow_override,
                    &mut r.allow_switch,
                    &mut r.allow_view,
                ] {
                    list.retain(|x| *x != role);
                }
            }
            let s = &mut site.settings;
            for slot in [
                &mut s.default_user_role,
                &mut s.guest_role,
                &mut s.not_logged_in_role,
                &mut s.default_frontpage_role,
            ] {
                if *slot == Some(role) {
                    *slot = None;
                }
            }
        }
        EditOp::PutContext { context } => {
            upsert_at(
                &mut site.contexts,
                &mut at.contexts,
                Context::from(context),
                |c| c.id,
            );
        }
        EditOp::DeleteContext { context } => {
            at.contexts = None;
            if !site.contexts.iter().any(|c| c.id == context) {
                return Err(EditError::UnknownContext(context));
            }
            if site.contexts.iter().any(|c| c.parent == Some(context)) {
                return Err(EditError::HasChildren(context));
            }
            site.contexts.retain(|c| c.id != context);
            site.permissions.retain(|p| p.context != context);
            site.assignments.retain(|a| a.context != context);
            site.switches.retain(|s| s.context != context);
            site.program_courses
                .retain(|pc| pc.program != context && pc.course != context);
            if site.settings.frontpage_context == Some(context) {
                site.settings.frontpage_context = None;
            }
        }
        EditOp::PutUser { user } => {
            upsert_at(&mut site.users, &mut at.users, User::from(user), |u| u.id);
        }
        EditOp::DeleteUser { user } => {
            at.users = None;
            if !site.users.iter().any(|u| u.id == user) {
                return Err(EditError::UnknownUser(user));
            }
            site.users.retain(|u| u.id != user);
            site.assignments.retain(|a| a.user != user);
            site.switches.retain(|s| s.user != user);
            site.settings.site_admins.retain(|a| *a != user);
            if site.settings.guest_user == Some(user) {
                site.settings.guest_user = None;
            }
        }
        EditOp::PutTenant { tenant } => upsert(&mut site.tenants, Tenant::from(tenant), |t| t.id),
        EditOp::DeleteTenant { tenant } => {
            if !site.tenants.iter().any(|t| t.id == tenant) {
                return Err(EditError::UnknownTenant(tenant));
            }
            site.tenants.retain(|t| t.id != tenant);
        }
        EditOp::PutCapability { capability } => {
            upsert(&mut site.capabilities, Capability::from(capability), |c| {
                c.name.clone()
            })
        }
        EditOp::AddProgramCourse { item } => {
            let item = ProgramCourse::from(item);
            if site.program_courses.contains(&item) {
                return Err(EditError::Duplicate(format!(
                    "course `{}` is already in program `{}`",
                    item.course, item.program
                )));
            }
            site.program_courses.push(item);
        }
        EditOp::RemoveProgramCourse { item } => {
            let item = ProgramCourse::from(item);
            let before = site.program_courses.len();
            site.program_courses.retain(|pc| *pc != item);
            if site.program_courses.len() == before {
                return Err(EditError::NotFound(format!(
                    "course `{}` is not in program `{}`",
                    item.course, item.program
                )));
            }
        }
        op @ (EditOp::SetPermission { .. }
        | EditOp::Assign { .. }
        | EditOp::Unassign { .. }
        | EditOp::AddSwitch { .. }
        | EditOp::RemoveSwitch { .. }) => {
            // Never sent here: these change the compiled site in place.
            return Err(EditError::NotFound(format!(
                "`{}` is not a structural edit",
                op.name()
            )));
        }
    }
    Ok(())
}

fn upsert<T, K: PartialEq>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> K) {
    let k = key(&item);
    match list.iter_mut().find(|x| key(x) == k) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}
