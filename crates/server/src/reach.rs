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
    e.has_capability(user, cap, context, CheckOptions::at(at))
        .unwrap_or(false)
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

/// The single tenant a support user's active grants reach, if they reach exactly one.
fn support_tenant(e: &Engine, user: UserId, at: Timestamp) -> Option<TenantId> {
    let mut scope: Vec<Option<TenantId>> = e
        .assignments_of(user)
        .into_iter()
        .filter(|a| a.source == Source::Support && a.is_active(at))
        .map(|a| e.context_tenant(a.context).ok().flatten())
        .collect();
    scope.sort_unstable();
    scope.dedup();
    match scope.as_slice() {
        [Some(t)] => Some(*t),
        _ => None,
    }
}

/// The reach of a site user.
pub fn reach_of(e: &Engine, user: UserId, at: Timestamp) -> Reach {
    if holds(e, user, caps::ROLE_MANAGE, at) || holds(e, user, SITE_CONFIG, at) {
        return Reach::Site;
    }
    if !e.settings().multitenancy {
        return Reach::Own;
    }
    let tenant = if e.is_support_user(user) {
        support_tenant(e, user, at)
    } else {
        e.user(user).and_then(|u| u.tenant)
    };
    let Some(t) = tenant.and_then(|t| e.tenants().iter().find(|x| x.id == t)) else {
        return Reach::Own;
    };
    let admin = [t.context, t.category].into_iter().any(|c| {
        [ROLE_REVIEW, caps::ROLE_ASSIGN, caps::ROLE_MANAGE]
            .into_iter()
            .any(|cap| holds_at(e, user, cap, c, at))
    });
    if admin {
        Reach::Tenant { tenant: t.id.0 }
    } else {
        Reach::Own
    }
}

/// What a caller may see of a site.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The site.
    pub engine: &'a Engine,
    /// The caller's reach.
    pub reach: Reach,
    /// The caller's own site user.
    pub me: Option<UserId>,
}

impl View<'_> {
    /// The tenant the view is cut to, if any.
    pub fn tenant(&self) -> Option<TenantId> {
        match self.reach {
            Reach::Tenant { tenant } => Some(TenantId(tenant)),
            _ => None,
        }
    }

    /// Whether the caller may see the context (a whole-site caller sees any id, existing or
    /// to be made; a tenant-scoped one only existing contexts of its tenant).
    pub fn context(&self, c: ContextId) -> bool {
        match self.reach {
            Reach::Site => true,
            Reach::Tenant { tenant } => {
                c == self.engine.system_context()
                    || self.engine.context_tenant(c).ok().flatten() == Some(TenantId(tenant))
            }
            Reach::Own => false,
        }
    }

    /// Whether the caller may see the user: itself, or (whole site) anyone, or (one tenant)
    /// the tenant's existing members and participants.
    pub fn user(&self, u: UserId) -> bool {
        if Some(u) == self.me {
            return true;
        }
        match self.reach {
            Reach::Site => true,
            Reach::Tenant { tenant } => self.engine.user(u).is_some_and(|x| {
                x.tenant == Some(TenantId(tenant)) || x.participant_of.contains(&TenantId(tenant))
            }),
            Reach::Own => false,
        }
    }

    /// Whether every context and user an edit names is in view (role, capability and
    /// settings edits name none of those and are left to the capability checks).
    pub fn edit(&self, op: &EditOp) -> bool {
        let (contexts, users) = op_refs(op);
        contexts.into_iter().all(|c| self.context(c)) && users.into_iter().all(|u| self.user(u))
    }

    /// The snapshot the caller may read: the whole site, or the tenant's part of it.
    pub fn snapshot(&self) -> Option<SnapshotDoc> {
        match self.reach {
            Reach::Site => Some(SnapshotDoc::from(&self.engine.site())),
            Reach::Tenant { .. } => Some(self.slice()),
            Reach::Own => None,
        }
    }

    fn slice(&self) -> SnapshotDoc {
        let mut site = self.engine.site();
        let tenant = self.tenant();
        site.contexts.retain(|c| self.context(c.id));
        site.users.retain(|u| self.user(u.id));
        site.tenants.retain(|t| Some(t.id) == tenant);
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
