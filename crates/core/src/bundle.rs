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
//! - every capability and role; the permission rows (definitions and overrides at covered
//!   contexts) of the roles that can be active for the user (its assignments' and switches'
//!   roles, the default roles), and one row of every other role that has any (`can_switch`
//!   asks whether the target role has a row anywhere); the user's own record, its
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
        // Another user's user context, and what is under it, never comes along.
        let foreign_user = |i: u32| {
            model
                .contexts
                .get(i as usize)
                .is_some_and(|c| c.level == ContextLevel::User && c.instance != Some(user))
        };
        let private_path = |i: u32| {
            let mut at = i;
            while let Some(c) = self.ctxs.get(at as usize) {
                if foreign_user(at) {
                    return true;
                }
                if c.parent == NONE {
                    return false;
                }
                at = c.parent;
            }
            false
        };
        if let Some(r) = roots.iter().find(|r| private_path(**r)) {
            // Another user's user context answers like a missing one.
            let id = self.ctxs.get(*r as usize).map_or(ContextId(0), |c| c.id);
            return Err(QueryError::UnknownContext(id));
        }
        // Covered: the roots with their descendants (a range of the pre-order numbering, so
        // the cost is the subtree's) and their ancestors.
        let by_pre = self.pre_slots();
        let mut covered = vec![false; n];
        let mut private = vec![false; n];
        let mut cover = |range: std::ops::RangeInclusive<usize>, covered: &mut Vec<bool>| {
            for p in range {
                let Some(&i) = by_pre.get(p).filter(|i| **i != NONE) else {
                    continue;
                };
                let parent_private = self
                    .ctxs
                    .get(i as usize)
                    .and_then(|c| private.get(c.parent as usize).copied())
                    .unwrap_or(false);
                let hidden = foreign_user(i) || parent_private;
                if let Some(slot) = private.get_mut(i as usize) {
                    *slot = hidden;
                }
                if let Some(slot) = covered.get_mut(i as usize) {
                    *slot = !hidden;
                }
            }
        };
        if roots.is_empty() {
            cover(0..=2 * n, &mut covered);
        }
        for r in &roots {
            let Some(root) = self.ctxs.get(*r as usize) else {
                continue;
            };
            cover(root.pre as usize..=root.post as usize, &mut covered);
            self.mark_ancestors(*r, &mut covered);
        }
        let shareable = |c: ContextId| self.ctx_index.get(c.0).is_some_and(|i| !private_path(i));
        let reachable_tenant = |t: Option<TenantId>| self.may_reach_tenant(user, t);
        let tenant_of = |c: ContextId| {
            self.ctx_index
                .get(c.0)
                .and_then(|i| self.ctxs.get(i as usize))
                .and_then(|c| c.tenant)
        };
        // Covered and not another tenant's (a tenant the user can never enter): held whole.
        // Site-level contexts stay whole even where the user is kept out of them (isolation):
        // they are the ancestors that the user's own contexts inherit from.
        let open_at = |i: usize| {
            covered.get(i).copied().unwrap_or(false)
                && self
                    .ctxs
                    .get(i)
                    .and_then(|c| c.tenant)
                    .is_none_or(|t| reachable_tenant(Some(t)))
        };
        let open = |c: ContextId| self.ctx_index.get(c.0).is_some_and(|i| open_at(i as usize));
        // Present: covered, plus bare stubs for support assignments, for a row of each role
        // that has one, and for the tenant contexts and categories the kept tenants need.
        let mut present = covered.clone();
        let own_grants = self.assignments_of(user);
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
        let mut permissions = self.definition_rows();
        for i in 0..n {
            if open_at(i) {
                self.override_rows_at(i as u32, &mut permissions);
            }
        }
        // Only the rows of the roles that can be active for the user decide its answers (§2
        // step 8): the roles of its assignments and switches and the default roles. Any other
        // role keeps a single row, for `can_switch` ("has a permission row anywhere").
        let mut relevant = vec![false; self.roles.len()];
        let mine = me.into_iter().flat_map(|u| {
            u.grants
                .iter()
                .map(|g| g.role)
                .chain(u.switches.iter().map(|(_, r)| *r))
        });
        for r in [
            self.default_role,
            self.nli_role,
            self.frontpage_role,
            self.guest_role,
        ]
        .into_iter()
        .flatten()
        .chain(mine)
        {
            if let Some(slot) = relevant.get_mut(r as usize) {
                *slot = true;
            }
        }
        let mut kept_one = vec![false; self.roles.len()];
        permissions.retain(|p| match self.role_index.get(p.role.0) {
            Some(r) if relevant.get(r as usize).copied().unwrap_or(false) => true,
            Some(r) => kept_one
                .get_mut(r as usize)
                .is_some_and(|k| !std::mem::replace(k, true)),
            None => false,
        });
        // A role whose rows all sit elsewhere keeps one too (at a bare stub context, off every
        // covered path).
        for (ri, role) in self.roles.iter().enumerate() {
            if role.rows == 0 || permissions.iter().any(|p| p.role == role.id) {
                continue;
            }
            let mut theirs = Vec::new();
            for (ci, list) in self.overrides.iter().enumerate() {
                if list.iter().any(|o| o.role as usize == ri) {
                    self.override_rows_at(ci as u32, &mut theirs);
                }
            }
            theirs.retain(|p| p.role == role.id && shareable(p.context));
            let Some(row) = theirs
                .iter()
                .find(|p| tenant_of(p.context).is_none_or(|t| reachable_tenant(Some(t))))
                .or_else(|| theirs.first())
                .cloned()
            else {
                continue;
            };
            if let Some(i) = self.ctx_index.get(row.context.0) {
                self.mark_ancestors(i, &mut present);
            }
            permissions.push(row);
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
        for (c, here) in self.ctxs.iter().zip(&present) {
            if *here {
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
            .zip(&present)
            .enumerate()
            .filter(|(_, (_, here))| **here)
            .map(|(i, (c, _))| {
                if open_at(i) {
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
        settings.frontpage_context = settings.frontpage_context.filter(|c| {
            self.ctx_index
                .get(c.0)
                .is_some_and(|i| present.get(i as usize).copied().unwrap_or(false))
        });
        let assignments = own_grants
            .into_iter()
            .filter(|a| (a.source == Source::Support && shareable(a.context)) || open(a.context))
            .collect();
        let switches = me
            .map(|u| {
                u.switches
                    .iter()
                    .filter(|(c, _)| open_at(*c as usize))
                    .filter_map(|(c, r)| {
                        Some(Switch {
                            user,
                            context: self.ctxs.get(*c as usize)?.id,
                            role: self.roles.get(*r as usize)?.id,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
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
