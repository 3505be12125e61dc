//! How much of the site a caller may see, and the site cut down to it.
//!
//! A caller reaches the whole site (it holds `moodle/role:manage` or `moodle/site:config` at
//! the system context, or is a service key), one tenant (a tenant administrator: a member of
//! the tenant, or a support user scoped to it, holding `moodle/role:review`,
//! `moodle/role:assign` or `moodle/role:manage` in the tenant's context or category), or only
//! itself. A tenant-scoped caller sees the system context (where role definitions live), the
//! tenant's contexts, its members and participants; never another tenant's users, contexts or
//! log entries.

use capstan_api::Reach;
use capstan_core::queries::caps;
use capstan_core::snapshot::SnapshotDoc;
use capstan_core::{CheckOptions, ContextId, EditOp, Engine, Source, TenantId, Timestamp, UserId};

/// Configure the site (structure, users, passwords, the audit log).
pub const SITE_CONFIG: &str = "moodle/site:config";
/// Review permissions of others ("Check permissions").
pub const ROLE_REVIEW: &str = "moodle/role:review";

/// Whether `user` holds `cap` at `context`.
pub fn holds_at(e: &Engine, user: UserId, cap: &str, context: ContextId, at: Timestamp) -> bool {
    match e.has_capability(user, cap, context, CheckOptions::at(at)) {
        Ok(held) => held,
        // A capability the server consults that the site does not define: nobody but a site
        // admin holds it (SEMANTICS.md §2, as the core's own checks).
        Err(capstan_core::QueryError::UnknownCapability(_)) => e.is_site_admin(user),
        Err(_) => false,
    }
}

/// Whether `user` holds `cap` at the system context.
pub fn holds(e: &Engine, user: UserId, cap: &str, at: Timestamp) -> bool {
    holds_at(e, user, cap, e.system_context(), at)
}

/// Whether a site user may sign in: it exists, is neither deleted nor suspended, and its
/// tenant is not suspended.
pub fn may_sign_in(e: &Engine, user: UserId) -> bool {
    e.user(user).is_some_and(|x| {
        !x.deleted
            && !x.suspended
            && !x
                .tenant
                .is_some_and(|t| e.tenants().iter().any(|tt| tt.id == t && tt.suspended))
    })
}

/// A short name for a cut of the site, for caches and ETags (`t3`, `s-1,4`, `own`).
pub fn cut_key(reach: &Reach) -> String {
    match reach {
        Reach::Site => "site".into(),
        Reach::Tenant { tenant } => format!("t{tenant}"),
        Reach::Scope { site, tenants } => {
            let list: Vec<String> = tenants.iter().map(u32::to_string).collect();
            format!("s{}-{}", if *site { "site" } else { "" }, list.join(","))
        }
        Reach::Own => "own".into(),
    }
}

/// A support user's scope: whether its active support assignments reach the top-level site,
/// and which tenants they reach (SEMANTICS.md §7).
fn support_scope(e: &Engine, user: UserId, at: Timestamp) -> (bool, Vec<u32>) {
    let mut site = false;
    let mut tenants: Vec<u32> = Vec::new();
    for a in e.assignments_of(user) {
        if a.source != Source::Support || !a.is_active(at) {
            continue;
        }
        match e.context_tenant(a.context) {
            Ok(Some(t)) if e.settings().multitenancy => tenants.push(t.0),
            Ok(_) => site = true,
            Err(_) => {}
        }
    }
    tenants.sort_unstable();
    tenants.dedup();
    (site, tenants)
}

/// The capabilities that make a tenant administrator (in the tenant's context or category).
const TENANT_ADMIN_CAPS: [&str; 3] = [ROLE_REVIEW, caps::ROLE_ASSIGN, caps::ROLE_MANAGE];

/// Whether `user` administers tenant `t` (holds a [`TENANT_ADMIN_CAPS`] capability in its
/// context or category).
fn administers(e: &Engine, user: UserId, t: TenantId, at: Timestamp) -> bool {
    e.tenants().iter().find(|x| x.id == t).is_some_and(|t| {
        [t.context, t.category].into_iter().any(|c| {
            TENANT_ADMIN_CAPS
                .into_iter()
                .any(|cap| holds_at(e, user, cap, c, at))
        })
    })
}

/// The reach of a site user. A support user's reach never goes past its scope: a grant for
/// the top-level site reads no tenant, a grant for one tenant reads that tenant only.
pub fn reach_of(e: &Engine, user: UserId, at: Timestamp) -> Reach {
    if e.is_support_user(user) {
        return support_reach(e, user, at);
    }
    if holds(e, user, caps::ROLE_MANAGE, at) || holds(e, user, SITE_CONFIG, at) {
        return Reach::Site;
    }
    if !e.settings().multitenancy {
        return Reach::Own;
    }
    match e.user(user).and_then(|u| u.tenant) {
        Some(t) if administers(e, user, t, at) => Reach::Tenant { tenant: t.0 },
        _ => Reach::Own,
    }
}

fn support_reach(e: &Engine, user: UserId, at: Timestamp) -> Reach {
    let (site, tenants) = support_scope(e, user, at);
    let site_admin =
        site && (holds(e, user, caps::ROLE_MANAGE, at) || holds(e, user, SITE_CONFIG, at));
    if !e.settings().multitenancy {
        // Every context counts as "site" (SEMANTICS.md §6): there is nothing to cut.
        return if site_admin { Reach::Site } else { Reach::Own };
    }
    let tenants: Vec<u32> = tenants
        .into_iter()
        .filter(|t| site_admin || administers(e, user, TenantId(*t), at))
        .collect();
    match (site_admin, tenants.as_slice()) {
        (false, []) => Reach::Own,
        (false, [t]) => Reach::Tenant { tenant: *t },
        _ => Reach::Scope {
            site: site_admin,
            tenants,
        },
    }
}

/// What a caller may see of a site.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The site.
    pub engine: &'a Engine,
    /// The caller's reach.
    pub reach: &'a Reach,
    /// The caller's own site user.
    pub me: Option<UserId>,
}

impl View<'_> {
    /// Whether the view is the whole site.
    pub fn whole(&self) -> bool {
        *self.reach == Reach::Site
    }

    /// Whether the caller may see what belongs to tenant `t` (`None`: the top-level site).
    /// The system context is seen by every cut (role definitions live there).
    pub fn tenant_part(&self, t: Option<TenantId>) -> bool {
        match (self.reach, t) {
            (Reach::Site, _) => true,
            (Reach::Tenant { tenant }, Some(t)) => t.0 == *tenant,
            (Reach::Scope { tenants, .. }, Some(t)) => tenants.contains(&t.0),
            (Reach::Scope { site, .. }, None) => *site,
            (Reach::Tenant { .. } | Reach::Own, _) => false,
        }
    }

    /// Whether the context is not another tenant's, as far as the caller itself is
    /// concerned: the contexts outside every tenant and those of its own tenants (its tenant
    /// and those it takes part in); for a support user, those of its scope. Anyone may ask
    /// about itself there; any other context answers like a missing one.
    pub fn own_context(&self, c: ContextId) -> bool {
        if c == self.engine.system_context() {
            return true;
        }
        let Ok(tenant) = self.engine.context_tenant(c) else {
            return false;
        };
        let Some(me) = self.me.and_then(|u| self.engine.user(u)) else {
            return tenant.is_none();
        };
        if self.engine.is_support_user(me.id) {
            return self
                .engine
                .assignments_of(me.id)
                .into_iter()
                .filter(|a| a.source == Source::Support)
                .any(|a| self.engine.context_tenant(a.context).ok().flatten() == tenant);
        }
        match tenant {
            None => true,
            Some(t) => me.tenant == Some(t) || me.participant_of.contains(&t),
        }
    }

    /// Whether the caller may see the context (a whole-site caller sees any id, existing or
    /// to be made; a cut one only existing contexts of its part). A caller that asks about
    /// itself only sees its [`View::own_context`]s.
    pub fn context(&self, c: ContextId) -> bool {
        if self.whole() {
            return true;
        }
        if *self.reach == Reach::Own {
            return self.own_context(c);
        }
        if c == self.engine.system_context() {
            return true;
        }
        match self.engine.context_tenant(c) {
            Ok(t) => self.tenant_part(t),
            Err(_) => false,
        }
    }

    /// Whether the caller may see the user: itself, or (whole site) anyone, or (a cut) the
    /// existing members and participants of its tenants, and site-level users for a cut
    /// that holds the top-level site.
    pub fn user(&self, u: UserId) -> bool {
        if Some(u) == self.me {
            return true;
        }
        match self.reach {
            Reach::Site => true,
            Reach::Own => false,
            Reach::Tenant { .. } | Reach::Scope { .. } => {
                self.engine.user(u).is_some_and(|x| match x.tenant {
                    Some(t) => self.tenant_part(Some(t)),
                    None => {
                        self.tenant_part(None)
                            || x.participant_of.iter().any(|t| self.tenant_part(Some(*t)))
                    }
                })
            }
        }
    }

    /// Whether every context and user an edit names is in view, and (for a cut) the tenant
    /// it edits is the caller's (role, capability and settings edits name none of those and
    /// are left to the capability checks).
    pub fn edit(&self, op: &EditOp) -> bool {
        if let EditOp::PutContext { context } = op
            && self.engine.context(ContextId(context.id)).is_none()
            && !self.whole()
        {
            // A new context belongs where its parent is; only a cut that holds the
            // top-level site makes new contexts right under the system context.
            let Some(parent) = context.parent.map(ContextId) else {
                return false;
            };
            let top = parent == self.engine.system_context();
            return self.context(parent) && (!top || self.tenant_part(None));
        }
        let (contexts, users) = op_refs(op);
        let tenant_ok = match op {
            EditOp::PutTenant { tenant } => {
                self.whole() || self.tenant_part(Some(TenantId(tenant.id)))
            }
            EditOp::DeleteTenant { tenant } => self.whole() || self.tenant_part(Some(*tenant)),
            _ => true,
        };
        tenant_ok
            && contexts.into_iter().all(|c| self.context(c))
            && users.into_iter().all(|u| self.user(u))
    }

    /// An edit as the caller may read it in a change list, or `None` when it is about what
    /// the caller may not see: the same cut as [`View::snapshot`] (settings lose the users
    /// and contexts outside the cut; a tenant edit shows only for the caller's tenants).
    pub fn read_edit(&self, op: &EditOp) -> Option<EditOp> {
        if self.whole() {
            return Some(op.clone());
        }
        if *self.reach == Reach::Own || !self.edit(op) {
            return None;
        }
        match op {
            EditOp::SetSettings { settings } => {
                let mut s = settings.clone();
                if let Some(list) = &mut s.site_admins {
                    list.retain(|u| self.user(UserId(*u)));
                }
                if s.guest_user.is_some_and(|u| !self.user(UserId(u))) {
                    s.guest_user = None;
                }
                if s.frontpage_context
                    .is_some_and(|c| !self.context(ContextId(c)))
                {
                    s.frontpage_context = None;
                }
                Some(EditOp::SetSettings { settings: s })
            }
            EditOp::PutUser { user } => {
                let mut u = user.clone();
                if let Some(list) = &mut u.participant_of {
                    list.retain(|t| self.tenant_part(Some(TenantId(*t))));
                }
                Some(EditOp::PutUser { user: u })
            }
            _ => Some(op.clone()),
        }
    }

    /// The snapshot the caller may read: the whole site, or its part of it.
    pub fn snapshot(&self) -> Option<SnapshotDoc> {
        match self.reach {
            Reach::Site => Some(SnapshotDoc::from(&self.engine.site())),
            Reach::Tenant { .. } | Reach::Scope { .. } => Some(self.slice()),
            Reach::Own => None,
        }
    }

    fn slice(&self) -> SnapshotDoc {
        let mut site = self.engine.site();
        site.contexts.retain(|c| self.context(c.id));
        site.users.retain(|u| self.user(u.id));
        for u in &mut site.users {
            u.participant_of.retain(|t| self.tenant_part(Some(*t)));
        }
        site.tenants.retain(|t| self.tenant_part(Some(t.id)));
        site.permissions.retain(|p| self.context(p.context));
        site.assignments
            .retain(|a| self.context(a.context) && self.user(a.user));
        site.switches
            .retain(|s| self.context(s.context) && self.user(s.user));
        site.program_courses
            .retain(|p| self.context(p.program) && self.context(p.course));
        site.settings.site_admins.retain(|u| self.user(*u));
        if site.settings.guest_user.is_some_and(|u| !self.user(u)) {
            site.settings.guest_user = None;
        }
        if site
            .settings
            .frontpage_context
            .is_some_and(|c| !self.context(c))
        {
            site.settings.frontpage_context = None;
        }
        SnapshotDoc::from(&site)
    }
}

/// The contexts and users an edit names.
pub fn op_refs(op: &EditOp) -> (Vec<ContextId>, Vec<UserId>) {
    match op {
        EditOp::SetPermission { context, .. } => (vec![*context], vec![]),
        EditOp::Assign { user, context, .. }
        | EditOp::Unassign { user, context, .. }
        | EditOp::AddSwitch { user, context, .. }
        | EditOp::RemoveSwitch { user, context } => (vec![*context], vec![*user]),
        EditOp::PutContext { context } => {
            let mut list = vec![ContextId(context.id)];
            list.extend(context.parent.map(ContextId));
            (list, vec![])
        }
        EditOp::DeleteContext { context } => (vec![*context], vec![]),
        EditOp::PutUser { user } => (vec![], vec![UserId(user.id)]),
        EditOp::DeleteUser { user } => (vec![], vec![*user]),
        EditOp::AddProgramCourse { item } | EditOp::RemoveProgramCourse { item } => (
            vec![ContextId(item.program), ContextId(item.course)],
            vec![],
        ),
        EditOp::PutRole { .. }
        | EditOp::DeleteRole { .. }
        | EditOp::PutTenant { .. }
        | EditOp::DeleteTenant { .. }
        | EditOp::PutCapability { .. }
        | EditOp::SetSettings { .. } => (vec![], vec![]),
    }
}

/// The tenants an edit is about, in the given site (contexts by their tenant, users by their
/// membership, tenants themselves).
pub fn op_tenants(e: &Engine, op: &EditOp) -> Vec<u32> {
    let (contexts, users) = op_refs(op);
    let mut out: Vec<u32> = contexts
        .into_iter()
        .filter_map(|c| e.context_tenant(c).ok().flatten())
        .chain(
            users
                .into_iter()
                .filter_map(|u| e.user(u).and_then(|x| x.tenant)),
        )
        .map(|t| t.0)
        .collect();
    match op {
        EditOp::PutTenant { tenant } => out.push(tenant.id),
        EditOp::DeleteTenant { tenant } => out.push(tenant.0),
        EditOp::PutUser { user } => out.extend(user.tenant),
        _ => {}
    }
    out
}
