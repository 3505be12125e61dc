//! Bundles (FORMAT.md "Bundles"): the slice of a site that answers one user's own questions
//! at some contexts, with no record of any other user, so that a learner's browser can hold
//! its own permissions and nothing else.
//!
//! A bundle for `user` rooted at `contexts` *covers* each root, its descendants and its
//! ancestors (empty roots: the whole tree). It holds:
//! - the covered contexts, except other users' user contexts (and what is under them); a
//!   covered context of a tenant the user can never enter (another tenant, for a member; any
//!   tenant, for the guest and user 0; outside a support user's scope) keeps only its id,
//!   level and parent;
//! - as bare stubs (not covered), the contexts of the user's support assignments (they make
//!   its support scope) and the tenant contexts and categories the kept tenants need;
//! - every capability and role (definitions are the site's, not a user's), the permission
//!   rows at the other covered contexts, the user's own record, its
//!   assignments at covered contexts and all its support assignments, its switches at covered
//!   contexts, the tenants that the kept contexts belong to (an unreachable tenant without its
//!   name), and the settings with the lists of users cut to the user.
//!
//! Answers about the user at covered contexts are the whole site's: rows, assignments and
//! switches that decide them all sit on the paths of covered contexts, which the bundle holds
//! whole (a property test checks every question on random sites).

use crate::engine::{Engine, NONE, QueryError};
use crate::model::*;

impl Engine {
    /// The bundle of `user` rooted at `contexts` (empty: the whole tree), as a site with its
    /// `bundle` member set; see the [module](crate::bundle) documentation. Unknown contexts,
    /// and contexts inside another user's user context, are `unknown_context`; a bundle can be
    /// cut again only for its own user and within what it covers.
    pub fn bundle(&self, user: UserId, contexts: &[ContextId]) -> Result<Site, QueryError> {
        if let Some(b) = &self.bundle {
            if contexts.is_empty() && !b.whole {
                return Err(QueryError::OutOfBundle(
                    "a bundle of part of the tree cannot give the whole tree".into(),
                ));
            }
            for c in contexts {
                self.bundle_guard(user, *c)?;
            }
            if contexts.is_empty() {
                self.bundle_guard(user, self.system_context())?;
            }
        }
        let n = self.ctxs.len();
        let roots: Vec<u32> = contexts
            .iter()
            .map(|c| self.ctx_idx(*c))
            .collect::<Result<_, _>>()?;
        let me = self.unode(user);
        let model = &self.site;
        // Covered: the roots, their descendants and ancestors.
        let mut covered = vec![roots.is_empty(); n];
        for r in &roots {
            let Some(root) = self.ctxs.get(*r as usize) else {
                continue;
            };
            for (slot, c) in covered.iter_mut().zip(&self.ctxs) {
                if c.pre >= root.pre && c.post <= root.post {
                    *slot = true;
                }
            }
            self.mark_ancestors(*r, &mut covered);
        }
        // Never another user's user context, nor anything under one.
        let mut private = vec![false; n];
        for (i, c) in model.contexts.iter().enumerate() {
            if c.level == ContextLevel::User
                && c.instance != Some(user)
                && let Some(node) = self.ctxs.get(i)
            {
                let (pre, post) = (node.pre, node.post);
                for (slot, d) in private.iter_mut().zip(&self.ctxs) {
                    if d.pre >= pre && d.post <= post {
                        *slot = true;
                    }
                }
            }
        }
        for (slot, p) in covered.iter_mut().zip(&private) {
            *slot &= !p;
        }
        // Another user's user context answers like a missing one.
        if let Some(r) = roots
            .iter()
            .find(|r| private.get(**r as usize).copied().unwrap_or(true))
            .and_then(|r| self.ctxs.get(*r as usize))
        {
            return Err(QueryError::UnknownContext(r.id));
        }
        let shareable = |c: ContextId| {
            self.ctx_index
                .get(c.0)
                .is_some_and(|i| !private.get(i as usize).copied().unwrap_or(true))
        };
        let reachable_tenant = |t: Option<TenantId>| self.may_reach_tenant(user, t);
        // Present: covered, plus stubs for support assignments and the tenants they need.
        let mut present = covered.clone();
        let own_grants: Vec<Assignment> = self
            .assignment_rows()
            .into_iter()
            .filter(|a| a.user == user)
            .collect();
        // (A support assignment inside another user's user context cannot come along: the
        // workflow never makes one.)
        for a in own_grants
            .iter()
            .filter(|a| a.source == Source::Support && shareable(a.context))
        {
            if let Some(i) = self.ctx_index.get(a.context.0) {
                self.mark_ancestors(i, &mut present);
            }
        }
        let is_covered = |c: ContextId| {
            self.ctx_index
                .get(c.0)
                .and_then(|i| covered.get(i as usize).copied())
                .unwrap_or(false)
        };
        let tenant_of = |c: ContextId| {
            self.ctx_index
                .get(c.0)
                .and_then(|i| self.ctxs.get(i as usize))
                .and_then(|c| c.tenant)
        };
        // Covered and not another tenant's (a tenant the user can never enter): held whole.
        // Site-level contexts stay whole even where the user is kept out of them (isolation):
        // they are the ancestors that the user's own contexts inherit from.
        let open =
            |c: ContextId| is_covered(c) && tenant_of(c).is_none_or(|t| reachable_tenant(Some(t)));
        let rows = self.permission_rows();
        let mut permissions: Vec<PermissionRow> =
            rows.iter().filter(|p| open(p.context)).cloned().collect();
        // `can_switch` asks whether a role has a permission row anywhere: a role whose rows
        // all sit elsewhere keeps one (at a bare stub context, off every covered path).
        for role in &model.roles {
            if permissions.iter().any(|p| p.role == role.id) {
                continue;
            }
            let mut theirs = rows
                .iter()
                .filter(|p| p.role == role.id && shareable(p.context));
            let Some(row) = rows
                .iter()
                .filter(|p| p.role == role.id && shareable(p.context))
                .find(|p| tenant_of(p.context).is_none_or(|t| reachable_tenant(Some(t))))
                .or_else(|| theirs.next())
            else {
                continue;
            };
            if let Some(i) = self.ctx_index.get(row.context.0) {
                self.mark_ancestors(i, &mut present);
            }
            permissions.push(row.clone());
        }
        let mut tenants_needed: Vec<TenantId> = me
            .and_then(|u| u.tenant)
            .into_iter()
            .chain(
                self.user(user)
                    .map(|u| u.participant_of.clone())
                    .unwrap_or_default(),
            )
            .collect();
        for (i, c) in self.ctxs.iter().enumerate() {
            if present.get(i).copied().unwrap_or(false) {
                tenants_needed.extend(c.tenant);
            }
        }
        tenants_needed.sort_unstable();
        tenants_needed.dedup();
        for t in model
            .tenants
            .iter()
            .filter(|t| tenants_needed.contains(&t.id))
        {
            for c in [t.context, t.category] {
                if let Some(i) = self.ctx_index.get(c.0) {
                    self.mark_ancestors(i, &mut present);
                }
            }
        }
        // The contexts, in the site's order.
        let contexts: Vec<Context> = model
            .contexts
            .iter()
            .enumerate()
            .filter(|(i, _)| present.get(*i).copied().unwrap_or(false))
            .map(|(_, c)| {
                if open(c.id) {
                    c.clone()
                } else {
                    Context {
                        id: c.id,
                        level: c.level,
                        parent: c.parent,
                        tenant: None,
                        instance: c.instance.filter(|u| *u == user),
                        locked: false,
                        visible: true,
                        name: None,
                    }
                }
            })
            .collect();
        let kept: std::collections::HashSet<ContextId> = contexts.iter().map(|c| c.id).collect();
        let tenants: Vec<Tenant> = model
            .tenants
            .iter()
            .filter(|t| tenants_needed.contains(&t.id))
            .map(|t| Tenant {
                // The name of a tenant the user can never enter stays behind.
                name: t.name.clone().filter(|_| {
                    reachable_tenant(Some(t.id)) || me.is_some_and(|u| u.tenant == Some(t.id))
                }),
                ..t.clone()
            })
            .collect();
        let mut settings = model.settings.clone();
        settings.site_admins.retain(|u| *u == user);
        settings.guest_user = settings.guest_user.filter(|u| *u == user);
        settings.frontpage_context = settings.frontpage_context.filter(|c| kept.contains(c));
        let assignments = own_grants
            .into_iter()
            .filter(|a| (a.source == Source::Support && shareable(a.context)) || open(a.context))
            .collect();
        let switches = self
            .switch_rows()
            .into_iter()
            .filter(|s| s.user == user && open(s.context))
            .collect();
        let program_courses = model
            .program_courses
            .iter()
            .filter(|p| open(p.program) && open(p.course))
            .copied()
            .collect();
        Ok(Site {
            settings,
            capabilities: model.capabilities.clone(),
            contexts,
            tenants,
            roles: model.roles.clone(),
            permissions,
            users: self.user(user).cloned().into_iter().collect(),
            assignments,
            switches,
            program_courses,
            bundle: Some(Bundle {
                user,
                contexts: contexts_sorted(contexts_ids(&roots, self)),
            }),
        })
    }

    fn mark_ancestors(&self, mut at: u32, marks: &mut [bool]) {
        while let Some(c) = self.ctxs.get(at as usize) {
            if let Some(slot) = marks.get_mut(at as usize) {
                *slot = true;
            }
            if c.parent == NONE {
                break;
            }
            at = c.parent;
        }
    }

    /// Whether the tenant rules (SEMANTICS.md §6, §7) can ever let `user` into contexts of
    /// tenant `t` (`None`: the top-level site), whatever its roles.
    pub(crate) fn may_reach_tenant(&self, user: UserId, t: Option<TenantId>) -> bool {
        let s = &self.site.settings;
        let u = self.unode(user);
        if let Some(u) = u.filter(|u| u.support) {
            let scope = |c: u32| {
                self.ctxs
                    .get(c as usize)
                    .map(|c| if s.multitenancy { c.tenant } else { None })
            };
            let here = if s.multitenancy { t } else { None };
            return u
                .grants
                .iter()
                .any(|g| g.source == Source::Support && scope(g.ctx) == Some(here));
        }
        if !s.multitenancy {
            return true;
        }
        let guest = user == UserId::NOT_LOGGED_IN || u.is_some_and(|u| u.guest);
        match (t, u.and_then(|u| u.tenant)) {
            (Some(_), _) if guest => false,
            (t, Some(member)) if s.tenant_isolation => t == Some(member),
            (Some(t), Some(member)) => t == member,
            _ => true,
        }
    }
}

fn contexts_ids(roots: &[u32], e: &Engine) -> Vec<ContextId> {
    roots
        .iter()
        .filter_map(|r| e.ctxs.get(*r as usize).map(|c| c.id))
        .collect()
}

fn contexts_sorted(mut ids: Vec<ContextId>) -> Vec<ContextId> {
    ids.sort_unstable();
    ids.dedup();
    ids
}
