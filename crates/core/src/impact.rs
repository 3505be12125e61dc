//! The impact of a permission edit before it is made: which users gain or lose a capability in
//! which contexts ("this gives 1,204 users `mod/forum:addnews` in 37 courses and removes it from
//! 12 users in 2").
//!
//! Exact, and in proportion to the people the edited role reaches: the answers before and after
//! are compared only for the users for whom the role can be active below the edited context
//! (its assignments there or above, its switches, the default roles it is), and for each of them
//! only in the subtrees where it is active, at the contexts of the capability's own level (and
//! the edited context itself).

use crate::edit::{EditError, EditOp};
use crate::engine::{CheckOptions, Engine, NONE};
use crate::model::*;
use std::collections::BTreeMap;

/// What a permission edit would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionImpact {
    /// The capability.
    pub capability: String,
    /// The level whose contexts were compared (the capability's home level).
    pub level: ContextLevel,
    /// Who gains the capability where: (user, contexts), by user id.
    pub gains: Vec<(UserId, Vec<ContextId>)>,
    /// Who loses it where.
    pub losses: Vec<(UserId, Vec<ContextId>)>,
    /// The contexts where someone gains it.
    pub contexts_gaining: usize,
    /// The contexts where someone loses it.
    pub contexts_losing: usize,
    /// How many (user, context) answers were compared.
    pub compared: usize,
}

impl PermissionImpact {
    /// The users who gain the capability somewhere.
    pub fn users_gaining(&self) -> usize {
        self.gains.len()
    }

    /// The users who lose it somewhere.
    pub fn users_losing(&self) -> usize {
        self.losses.len()
    }
}

impl Engine {
    /// What `EditOp::SetPermission { role, context, capability, permission }` would change,
    /// without changing anything: every (user, context) whose `has_capability` answer at `opts`
    /// differs after the edit. Refused as the edit would be.
    pub fn permission_impact(
        &self,
        role: RoleId,
        context: ContextId,
        capability: &str,
        permission: Option<Permission>,
        opts: CheckOptions,
    ) -> Result<PermissionImpact, EditError> {
        let mut after = self.clone();
        after.apply(EditOp::SetPermission {
            role,
            context,
            capability: capability.to_string(),
            permission,
        })?;
        let cap = self
            .cap_idx(capability)
            .map_err(|_| EditError::UnknownCapability(capability.to_string()))?;
        let level = self
            .capabilities()
            .iter()
            .find(|c| c.name == capability)
            .map_or(ContextLevel::System, |c| c.contextlevel);
        let root = self
            .ctx_idx(context)
            .map_err(|_| EditError::UnknownContext(context))?;
        let r = self
            .role_idx(role)
            .map_err(|_| EditError::UnknownRole(role))?;
        let (Some(root_node), slots) = (self.ctxs.get(root as usize), self.pre_slots()) else {
            return Err(EditError::UnknownContext(context));
        };
        let (lo, hi) = (root_node.pre, root_node.post);
        // Where the role is active for a user, as pre-order ranges inside the edited subtree.
        let clamp = |pre: u32, post: u32| -> Option<(u32, u32)> {
            if pre <= lo && hi <= post {
                Some((lo, hi))
            } else if lo <= pre && post <= hi {
                Some((pre, post))
            } else {
                None
            }
        };
        let node_range = |ctx: u32| self.ctxs.get(ctx as usize).map(|c| (c.pre, c.post));
        let s = self.settings();
        let everywhere = |id: Option<RoleId>| id == Some(role);
        let mut reach: BTreeMap<UserId, Vec<(u32, u32)>> = BTreeMap::new();
        for u in &self.users {
            if u.deleted {
                continue;
            }
            let mut ranges: Vec<(u32, u32)> = Vec::new();
            let default_role = if u.guest {
                everywhere(s.guest_role)
            } else {
                everywhere(s.default_user_role)
            };
            if default_role {
                ranges.push((lo, hi));
            } else {
                if !u.guest
                    && everywhere(s.default_frontpage_role)
                    && let Some(fp) = s.frontpage_context.and_then(|c| self.ctx_idx(c).ok())
                    && let Some(range) = node_range(fp).and_then(|(p, q)| clamp(p, q))
                {
                    ranges.push(range);
                }
                for g in u.grants.iter().filter(|g| g.role == r) {
                    if let Some(range) = clamp(g.pre, g.post) {
                        ranges.push(range);
                    }
                }
                for (ctx, sr) in &u.switches {
                    if *sr == r
                        && let Some(range) = node_range(*ctx).and_then(|(p, q)| clamp(p, q))
                    {
                        ranges.push(range);
                    }
                }
            }
            if !ranges.is_empty() {
                reach.insert(u.id, ranges);
            }
        }
        if everywhere(s.not_logged_in_role) {
            reach.insert(UserId::NOT_LOGGED_IN, vec![(lo, hi)]);
        }
        let mut gains = Vec::new();
        let mut losses = Vec::new();
        let mut gaining = std::collections::HashSet::new();
        let mut losing = std::collections::HashSet::new();
        let mut compared = 0;
        for (user, mut ranges) in reach {
            // Outer ranges first; a range inside the previous one adds nothing.
            ranges.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            let mut merged: Vec<(u32, u32)> = Vec::new();
            for x in ranges {
                match merged.last() {
                    Some(&(_, q)) if x.1 <= q => {}
                    _ => merged.push(x),
                }
            }
            let (mut won, mut lost) = (Vec::new(), Vec::new());
            for (p, q) in merged {
                for pre in p..=q {
                    let Some(&i) = slots.get(pre as usize) else {
                        continue;
                    };
                    if i == NONE {
                        continue;
                    }
                    let Some(c) = self.ctxs.get(i as usize) else {
                        continue;
                    };
                    if c.level != level && i != root {
                        continue;
                    }
                    compared += 1;
                    let before = self.decide(user, cap, i, opts, false).allows();
                    let now = after.decide(user, cap, i, opts, false).allows();
                    if before != now {
                        if now {
                            won.push(c.id);
                            gaining.insert(c.id);
                        } else {
                            lost.push(c.id);
                            losing.insert(c.id);
                        }
                    }
                }
            }
            if !won.is_empty() {
                gains.push((user, won));
            }
            if !lost.is_empty() {
                losses.push((user, lost));
            }
        }
        Ok(PermissionImpact {
            capability: capability.to_string(),
            level,
            gains,
            losses,
            contexts_gaining: gaining.len(),
            contexts_losing: losing.len(),
            compared,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GenerateOptions, generate};
    use crate::time::Timestamp;

    /// (user, context) answers that changed.
    type Changed = Vec<(UserId, ContextId)>;

    /// Every user (and user 0) × every context of the capability's level, and the edited
    /// context: the answers that differ, by brute force.
    fn brute(
        e: &Engine,
        role: RoleId,
        context: ContextId,
        cap: &str,
        p: Option<Permission>,
        opts: CheckOptions,
    ) -> (Changed, Changed) {
        let mut after = e.clone();
        after
            .apply(EditOp::SetPermission {
                role,
                context,
                capability: cap.into(),
                permission: p,
            })
            .unwrap();
        let level = e
            .capabilities()
            .iter()
            .find(|c| c.name == cap)
            .unwrap()
            .contextlevel;
        let mut users: Vec<UserId> = e.users().iter().map(|u| u.id).collect();
        users.push(UserId::NOT_LOGGED_IN);
        let (mut won, mut lost) = (Vec::new(), Vec::new());
        for u in users {
            for c in e.contexts() {
                if c.level != level && c.id != context {
                    continue;
                }
                let before = e.has_capability(u, cap, c.id, opts).unwrap();
                let now = after.has_capability(u, cap, c.id, opts).unwrap();
                if before != now {
                    if now {
                        won.push((u, c.id))
                    } else {
                        lost.push((u, c.id))
                    }
                }
            }
        }
        won.sort();
        lost.sort();
        (won, lost)
    }

    fn flat(v: &[(UserId, Vec<ContextId>)]) -> Changed {
        let mut out: Vec<(UserId, ContextId)> = v
            .iter()
            .flat_map(|(u, cs)| cs.iter().map(move |c| (*u, *c)))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_impact_is_exactly_what_every_answer_says() {
        let opts = CheckOptions::at(Timestamp::parse("2026-06-01T00:00:00Z").unwrap());
        let mut cases = 0;
        let mut changing = 0;
        for seed in 0..6u64 {
            let mut o = GenerateOptions::small();
            o.seed = seed;
            o.contexts = 150;
            o.users = 30;
            let e = Engine::from_site(generate(&o)).unwrap();
            let caps: Vec<String> = e.capabilities().iter().map(|c| c.name.clone()).collect();
            let roles: Vec<RoleId> = e.roles().iter().map(|r| r.id).collect();
            let contexts: Vec<ContextId> = e.contexts().iter().map(|c| c.id).collect();
            for k in 0..12usize {
                let x = seed as usize * 31 + k * 7;
                let role = roles[x % roles.len()];
                let cap = &caps[(x * 13) % caps.len()];
                // Half at the system context (a definition), half lower down (an override).
                let ctx = if k % 2 == 0 {
                    contexts[0]
                } else {
                    contexts[(x * 17) % contexts.len()]
                };
                let p = [
                    None,
                    Some(Permission::Allow),
                    Some(Permission::Prevent),
                    Some(Permission::Prohibit),
                ][k % 4];
                let Ok(impact) = e.permission_impact(role, ctx, cap, p, opts) else {
                    continue;
                };
                let (won, lost) = brute(&e, role, ctx, cap, p, opts);
                assert_eq!(
                    flat(&impact.gains),
                    won,
                    "gains: seed {seed} role {role} {cap} at {ctx} = {p:?}"
                );
                assert_eq!(
                    flat(&impact.losses),
                    lost,
                    "losses: seed {seed} role {role} {cap} at {ctx} = {p:?}"
                );
                cases += 1;
                if !(won.is_empty() && lost.is_empty()) {
                    changing += 1;
                }
            }
        }
        assert!(cases > 40, "{cases} cases");
        // The comparison is not empty-handed: many edits change someone's answer.
        assert!(
            changing >= 10,
            "{changing} of {cases} edits changed an answer"
        );
    }

    #[test]
    fn a_refused_edit_has_no_impact_but_its_error() {
        let e = Engine::from_site(generate(&GenerateOptions::small())).unwrap();
        let opts = CheckOptions::at(Timestamp::parse("2026-06-01T00:00:00Z").unwrap());
        assert!(matches!(
            e.permission_impact(RoleId(9999), ContextId(1), "moodle/course:view", None, opts),
            Err(EditError::UnknownRole(_))
        ));
        let cap = e.capabilities()[0].name.clone();
        assert!(matches!(
            e.permission_impact(RoleId(5), ContextId(999_999), &cap, None, opts),
            Err(EditError::UnknownContext(_))
        ));
    }
}
