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
use crate::engine::{CheckOptions, Engine, NONE, UserNode};
use crate::model::*;
use std::collections::{BTreeMap, HashMap};

/// A pre-order range of the context tree, `pre..=post` of one context.
type Range = (u32, u32);

/// One side of an impact: who gains the capability, or who loses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Side {
    /// For each kind of user, the contexts (pre-order number, id; in pre order) where a user of
    /// that kind changes wherever no grant or switch of its own is on the path.
    by_kind: Vec<Vec<(u32, ContextId)>>,
    /// Answers compared one user at a time: user → (pre-order number, context), in pre order.
    by_user: BTreeMap<UserId, Vec<(u32, ContextId)>>,
    /// How many users change somewhere.
    users: usize,
    /// How many users change in each context.
    by_context: BTreeMap<ContextId, usize>,
}

/// What a permission edit would change.
///
/// Users who hold no grant or switch of their own on a context's path are answered alike when
/// they share their tenant, its suspension, site-admin and guest status (their "kind"), so the
/// answers of a role every user has (the default, guest or front-page role) are computed once
/// per kind and context; the result keeps them that way and lists them per user on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionImpact {
    /// The capability.
    pub capability: String,
    /// The level whose contexts were compared (the capability's home level).
    pub level: ContextLevel,
    /// How many (user, context) answers the result accounts for.
    pub compared: usize,
    /// How many of them were computed (the others are answered by their kind).
    pub decided: usize,
    /// Every user who may change, with its kind (if it has one), by id.
    people: BTreeMap<UserId, Option<usize>>,
    /// For each member of a kind with grants or switches inside the kind's ranges: where its
    /// own answers were computed (merged ranges, in order).
    own: HashMap<UserId, Vec<Range>>,
    gains: Side,
    losses: Side,
}

impl PermissionImpact {
    /// The users who gain the capability somewhere.
    pub fn users_gaining(&self) -> usize {
        self.gains.users
    }

    /// The users who lose it somewhere.
    pub fn users_losing(&self) -> usize {
        self.losses.users
    }

    /// The contexts where someone gains it.
    pub fn contexts_gaining(&self) -> usize {
        self.gains.by_context.len()
    }

    /// The contexts where someone loses it.
    pub fn contexts_losing(&self) -> usize {
        self.losses.by_context.len()
    }

    /// Whether nobody's answer changes.
    pub fn is_empty(&self) -> bool {
        self.gains.users == 0 && self.losses.users == 0
    }

    /// Who gains the capability where: (user, contexts in tree order), by user id. Computed as
    /// it is iterated (the whole list of a site-wide change can hold every user × every course).
    pub fn gains(&self) -> impl Iterator<Item = (UserId, Vec<ContextId>)> + '_ {
        self.listed(&self.gains)
    }

    /// Who loses it where, as [`PermissionImpact::gains`].
    pub fn losses(&self) -> impl Iterator<Item = (UserId, Vec<ContextId>)> + '_ {
        self.listed(&self.losses)
    }

    /// The contexts where someone gains it, with how many users, most users first.
    pub fn gains_by_context(&self) -> Vec<(ContextId, usize)> {
        by_count(&self.gains.by_context)
    }

    /// The contexts where someone loses it, with how many users, most users first.
    pub fn losses_by_context(&self) -> Vec<(ContextId, usize)> {
        by_count(&self.losses.by_context)
    }

    fn listed<'a>(&'a self, side: &'a Side) -> impl Iterator<Item = (UserId, Vec<ContextId>)> + 'a {
        self.people.iter().filter_map(move |(&user, &kind)| {
            let own = self.own.get(&user).map_or(&[][..], Vec::as_slice);
            let mut all: Vec<(u32, ContextId)> = kind
                .and_then(|k| side.by_kind.get(k))
                .map(|list| {
                    list.iter()
                        .filter(|(pre, _)| !inside(own, *pre))
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            if let Some(mine) = side.by_user.get(&user) {
                all.extend_from_slice(mine);
                all.sort_unstable();
            }
            (!all.is_empty()).then(|| (user, all.into_iter().map(|(_, c)| c).collect()))
        })
    }
}

fn by_count(m: &BTreeMap<ContextId, usize>) -> Vec<(ContextId, usize)> {
    let mut list: Vec<(ContextId, usize)> = m.iter().map(|(c, n)| (*c, *n)).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list
}

/// Whether `pre` lies in one of the ranges (sorted, disjoint).
fn inside(ranges: &[Range], pre: u32) -> bool {
    let i = ranges.partition_point(|r| r.1 < pre);
    ranges.get(i).is_some_and(|r| r.0 <= pre)
}

/// Ranges of one tree sorted with the outer ones first, those inside another dropped.
fn merged(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<Range> = Vec::new();
    for x in ranges {
        match out.last() {
            Some(&(_, q)) if x.1 <= q => {}
            _ => out.push(x),
        }
    }
    out
}

/// The part of `x` inside `outer`: ranges of one tree are nested or apart.
fn within(x: Range, outer: Range) -> Option<Range> {
    if x.0 <= outer.0 && outer.1 <= x.1 {
        Some(outer)
    } else if outer.0 <= x.0 && x.1 <= outer.1 {
        Some(x)
    } else {
        None
    }
}

/// What makes two users without grants or switches answered alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct KindKey {
    tenant: Option<TenantId>,
    tenant_suspended: bool,
    admin: bool,
    guest: bool,
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
        let edited: Range = (root_node.pre, root_node.post);
        let node_range = |ctx: u32| self.ctxs.get(ctx as usize).map(|c| (c.pre, c.post));
        let slots = &slots;
        // The contexts whose answers are compared in a range: (pre-order number, index).
        let compared_in = |(p, q): Range| {
            (p..=q).filter_map(move |pre| {
                let i = *slots.get(pre as usize)?;
                let c = self.ctxs.get(i as usize).filter(|_| i != NONE)?;
                (c.level == level || i == root).then_some((pre, i, c.id))
            })
        };
        let s = self.settings();
        let is_role = |id: Option<RoleId>| id == Some(role);
        // Where the role is active for every user with no grant or switch of its own there:
        // the guest role for guests; the default and front-page roles for the others.
        let implicit_guest: Vec<Range> = if is_role(s.guest_role) {
            vec![edited]
        } else {
            Vec::new()
        };
        let mut implicit_user: Vec<Range> = Vec::new();
        if is_role(s.default_user_role) {
            implicit_user.push(edited);
        }
        if is_role(s.default_frontpage_role)
            && let Some(range) = s
                .frontpage_context
                .and_then(|c| self.ctx_idx(c).ok())
                .and_then(node_range)
                .and_then(|x| within(x, edited))
        {
            implicit_user.push(range);
        }
        let implicit_user = merged(implicit_user);

        let mut kinds: Vec<(KindKey, Vec<UserId>)> = Vec::new();
        let mut kind_index: HashMap<KindKey, usize> = HashMap::new();
        let mut people: BTreeMap<UserId, Option<usize>> = BTreeMap::new();
        let mut own: HashMap<UserId, Vec<Range>> = HashMap::new();
        // Users whose answers are computed one by one, and where.
        let mut explicit: Vec<(UserId, Vec<Range>)> = Vec::new();
        for u in &self.users {
            if u.deleted {
                continue;
            }
            // Every grant and switch of the user inside the edited subtree, and those of the
            // edited role.
            let mut mine: Vec<Range> = Vec::new();
            let mut of_role: Vec<Range> = Vec::new();
            for g in &u.grants {
                if let Some(x) = within((g.pre, g.post), edited) {
                    mine.push(x);
                    if g.role == r {
                        of_role.push(x);
                    }
                }
            }
            for (ctx, sr) in &u.switches {
                if let Some(x) = node_range(*ctx).and_then(|x| within(x, edited)) {
                    mine.push(x);
                    if *sr == r {
                        of_role.push(x);
                    }
                }
            }
            let implicit = if u.support {
                // Support users have no default role; their answers are their grants'.
                &[][..]
            } else if u.guest {
                implicit_guest.as_slice()
            } else {
                implicit_user.as_slice()
            };
            if u.support {
                if !mine.is_empty() {
                    explicit.push((u.id, merged(mine)));
                    people.insert(u.id, None);
                }
                continue;
            }
            if implicit.is_empty() {
                if !of_role.is_empty() {
                    explicit.push((u.id, merged(of_role)));
                    people.insert(u.id, None);
                }
                continue;
            }
            let key = KindKey {
                tenant: u.tenant,
                tenant_suspended: u.tenant_suspended,
                admin: u.admin,
                guest: u.guest,
            };
            let k = *kind_index.entry(key).or_insert_with(|| {
                kinds.push((key, Vec::new()));
                kinds.len() - 1
            });
            if let Some((_, members)) = kinds.get_mut(k) {
                members.push(u.id);
            }
            people.insert(u.id, Some(k));
            // Inside the kind's ranges the user's own grants and switches make its answers its
            // own; outside them only the edited role's grants can change it.
            let x: Vec<Range> = merged(
                mine.iter()
                    .flat_map(|m| implicit.iter().filter_map(|i| within(*m, *i)))
                    .collect(),
            );
            let mut compute = x.clone();
            compute.extend(of_role);
            let compute = merged(compute);
            if !x.is_empty() {
                own.insert(u.id, x);
            }
            if !compute.is_empty() {
                explicit.push((u.id, compute));
            }
        }
        if is_role(s.not_logged_in_role) {
            explicit.push((UserId::NOT_LOGGED_IN, vec![edited]));
            people.insert(UserId::NOT_LOGGED_IN, None);
        }

        let mut gains = Side::default();
        let mut losses = Side::default();
        let (mut compared, mut decided) = (0usize, 0usize);
        // Each kind once per context, for a user of that kind with no grant or switch.
        for (key, members) in &kinds {
            let node = UserNode {
                id: members.first().copied().unwrap_or(UserId(0)),
                deleted: false,
                tenant: key.tenant,
                tenant_suspended: key.tenant_suspended,
                admin: key.admin,
                guest: key.guest,
                support: false,
                grants: Default::default(),
                switches: Vec::new(),
            };
            let ranges = if key.guest {
                &implicit_guest
            } else {
                &implicit_user
            };
            let (mut won, mut lost) = (Vec::new(), Vec::new());
            for &range in ranges {
                for (pre, i, id) in compared_in(range) {
                    decided += 1;
                    compared += members.len();
                    let before = self.decide_node(&node, cap, i, opts).allows();
                    let now = after.decide_node(&node, cap, i, opts).allows();
                    match (before, now) {
                        (false, true) => won.push((pre, id)),
                        (true, false) => lost.push((pre, id)),
                        _ => {}
                    }
                }
            }
            gains.by_kind.push(won);
            losses.by_kind.push(lost);
        }
        // The others one by one, where their own grants and switches are.
        for (user, ranges) in explicit {
            let kind_ranges = match people.get(&user) {
                Some(Some(k)) => match kinds.get(*k) {
                    Some((key, _)) if key.guest => implicit_guest.as_slice(),
                    Some(_) => implicit_user.as_slice(),
                    None => &[][..],
                },
                _ => &[][..],
            };
            let (mut won, mut lost) = (Vec::new(), Vec::new());
            for range in ranges {
                for (pre, i, id) in compared_in(range) {
                    decided += 1;
                    if !inside(kind_ranges, pre) {
                        compared += 1;
                    }
                    let before = self.decide(user, cap, i, opts, false).allows();
                    let now = after.decide(user, cap, i, opts, false).allows();
                    match (before, now) {
                        (false, true) => won.push((pre, id)),
                        (true, false) => lost.push((pre, id)),
                        _ => {}
                    }
                }
            }
            if !won.is_empty() {
                gains.by_user.insert(user, won);
            }
            if !lost.is_empty() {
                losses.by_user.insert(user, lost);
            }
        }
        for side in [&mut gains, &mut losses] {
            tally(side, &kinds, &people, &own);
        }
        Ok(PermissionImpact {
            capability: capability.to_string(),
            level,
            compared,
            decided,
            people,
            own,
            gains,
            losses,
        })
    }
}

/// Counts a side's users and its users per context: a kind's change reaches each of its
/// members except where the member's own answers were computed.
fn tally(
    side: &mut Side,
    kinds: &[(KindKey, Vec<UserId>)],
    people: &BTreeMap<UserId, Option<usize>>,
    own: &HashMap<UserId, Vec<Range>>,
) {
    let mut changed = 0usize;
    let mut by_context: BTreeMap<ContextId, usize> = BTreeMap::new();
    let mut covered: Vec<Vec<usize>> = side.by_kind.iter().map(|l| vec![0; l.len()]).collect();
    for (&user, &kind) in people {
        let mut any = side.by_user.contains_key(&user);
        if let Some(k) = kind
            && let (Some(list), Some(cover)) = (side.by_kind.get(k), covered.get_mut(k))
        {
            let mut inside_own = 0usize;
            for &(p, q) in own.get(&user).map_or(&[][..], Vec::as_slice) {
                let from = list.partition_point(|(pre, _)| *pre < p);
                let to = list.partition_point(|(pre, _)| *pre <= q);
                inside_own += to.saturating_sub(from);
                for n in cover.get_mut(from..to).into_iter().flatten() {
                    *n += 1;
                }
            }
            any |= inside_own < list.len();
        }
        if any {
            changed += 1;
        }
    }
    for ((list, cover), (_, members)) in side.by_kind.iter().zip(&covered).zip(kinds) {
        for ((_, id), n) in list.iter().zip(cover) {
            let users = members.len().saturating_sub(*n);
            if users > 0 {
                *by_context.entry(*id).or_insert(0) += users;
            }
        }
    }
    for list in side.by_user.values() {
        for (_, id) in list {
            *by_context.entry(*id).or_insert(0) += 1;
        }
    }
    side.users = changed;
    side.by_context = by_context;
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

    fn flat(v: impl Iterator<Item = (UserId, Vec<ContextId>)>) -> Changed {
        let mut out: Vec<(UserId, ContextId)> = v
            .flat_map(|(u, cs)| cs.into_iter().map(move |c| (u, c)))
            .collect();
        out.sort();
        out
    }

    /// The counts agree with the lists they summarise.
    fn check_counts(i: &PermissionImpact) {
        let gains: Vec<_> = i.gains().collect();
        let losses: Vec<_> = i.losses().collect();
        assert_eq!(i.users_gaining(), gains.len());
        assert_eq!(i.users_losing(), losses.len());
        let per_context = |v: &[(UserId, Vec<ContextId>)]| {
            let mut m: BTreeMap<ContextId, usize> = BTreeMap::new();
            for (_, cs) in v {
                for c in cs {
                    *m.entry(*c).or_insert(0) += 1;
                }
            }
            let mut l: Vec<(ContextId, usize)> = m.into_iter().collect();
            l.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            l
        };
        assert_eq!(i.gains_by_context(), per_context(&gains));
        assert_eq!(i.losses_by_context(), per_context(&losses));
        assert_eq!(i.contexts_gaining(), i.gains_by_context().len());
        assert_eq!(i.is_empty(), gains.is_empty() && losses.is_empty());
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
                    flat(impact.gains()),
                    won,
                    "gains: seed {seed} role {role} {cap} at {ctx} = {p:?}"
                );
                assert_eq!(
                    flat(impact.losses()),
                    lost,
                    "losses: seed {seed} role {role} {cap} at {ctx} = {p:?}"
                );
                check_counts(&impact);
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

    /// The roles every user of a kind has (default, guest, front page, not logged in) are
    /// answered per kind: exactly the brute force answers still, with tenants isolated or
    /// not, a suspended tenant, switches and site admins in the generated sites.
    #[test]
    fn the_roles_everyone_has_are_exact_too() {
        let opts = CheckOptions::at(Timestamp::parse("2026-06-01T00:00:00Z").unwrap());
        let (mut cases, mut changing, mut kinds_used) = (0, 0, 0);
        for seed in 0..5u64 {
            let mut o = GenerateOptions::small();
            o.seed = 100 + seed;
            o.contexts = 160;
            o.users = 30;
            let mut site = generate(&o);
            site.settings.tenant_isolation = seed % 2 == 0;
            if seed == 3
                && let Some(t) = site.tenants.first_mut()
            {
                t.suspended = true;
            }
            let e = Engine::from_site(site).unwrap();
            let s = e.settings().clone();
            let roles: Vec<RoleId> = [
                s.default_user_role,
                s.guest_role,
                s.default_frontpage_role,
                s.not_logged_in_role,
            ]
            .into_iter()
            .flatten()
            .collect();
            assert!(
                roles.len() >= 3,
                "the generated site names its default roles"
            );
            let mut caps: Vec<String> = Vec::new();
            for level in [
                ContextLevel::Course,
                ContextLevel::Module,
                ContextLevel::System,
                ContextLevel::User,
            ] {
                caps.extend(
                    e.capabilities()
                        .iter()
                        .filter(|c| c.contextlevel == level)
                        .take(2)
                        .map(|c| c.name.clone()),
                );
            }
            let contexts: Vec<ContextId> = e.contexts().iter().map(|c| c.id).collect();
            let mut places = vec![contexts[0]];
            places.extend(s.frontpage_context);
            places.push(contexts[(seed as usize * 37 + 11) % contexts.len()]);
            for (ri, role) in roles.iter().enumerate() {
                for (ci, cap) in caps.iter().enumerate() {
                    for (pi, ctx) in places.iter().enumerate() {
                        let p = [
                            Some(Permission::Allow),
                            Some(Permission::Prohibit),
                            None,
                            Some(Permission::Prevent),
                        ][(ri + ci + pi) % 4];
                        let Ok(impact) = e.permission_impact(*role, *ctx, cap, p, opts) else {
                            continue;
                        };
                        let (won, lost) = brute(&e, *role, *ctx, cap, p, opts);
                        let what = format!("seed {seed} role {role} {cap} at {ctx} = {p:?}");
                        assert_eq!(flat(impact.gains()), won, "gains: {what}");
                        assert_eq!(flat(impact.losses()), lost, "losses: {what}");
                        check_counts(&impact);
                        cases += 1;
                        if !(won.is_empty() && lost.is_empty()) {
                            changing += 1;
                        }
                        if impact.compared > impact.decided {
                            kinds_used += 1;
                        }
                    }
                }
            }
        }
        assert!(cases > 150, "{cases} cases");
        assert!(
            changing >= 30,
            "{changing} of {cases} edits changed an answer"
        );
        assert!(
            kinds_used >= 30,
            "{kinds_used} edits answered users by kind"
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
