//! The compiled site ([`Engine`]) and the resolver: `has_capability` and the rules of
//! SEMANTICS.md §2 on an index built for speed.
//!
//! Layout: capabilities are interned to dense [`CapabilityId`]s; contexts get dense indices with
//! pre/post-order numbers, so "is A an ancestor of B" is two comparisons; role definitions are a
//! dense role × capability table; overrides are short sorted lists per context; each user carries
//! its own assignments and switches. A check walks the (short) parent chain once and allocates
//! nothing.

use crate::model::*;
use crate::snapshot::ParseError;
use crate::time::Timestamp;
use crate::validate::{Issue, Tree, validate};
use serde::Serialize;
use std::collections::HashMap;

pub(crate) const NONE: u32 = u32::MAX;

/// An interned capability: a dense number for hot paths (`Engine::capability_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CapabilityId(pub u32);

/// The name of the capability that unlocks locked contexts.
pub const MANAGE_CONTEXT_LOCKS: &str = "moodle/site:managecontextlocks";

/// Options of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Let site admins through (Moodle's `$doanything`).
    pub doanything: bool,
    /// The instant of the question.
    pub at: Timestamp,
}

impl CheckOptions {
    /// `doanything = true` at `at`.
    pub fn at(at: Timestamp) -> Self {
        CheckOptions {
            doanything: true,
            at,
        }
    }
}

/// A question that cannot be answered because it names something the site does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The capability is not defined.
    #[error("unknown capability `{0}`")]
    UnknownCapability(String),
    /// The context does not exist.
    #[error("unknown context `{0}`")]
    UnknownContext(ContextId),
    /// The role does not exist.
    #[error("unknown role `{0}`")]
    UnknownRole(RoleId),
    /// The engine holds a bundle, and the question is about another user, about a context
    /// the bundle does not cover, or needs other users.
    #[error("{0}")]
    OutOfBundle(String),
}

impl QueryError {
    /// The stable machine code (`unknown_capability`, `unknown_context`, `unknown_role`).
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::UnknownCapability(_) => "unknown_capability",
            QueryError::UnknownContext(_) => "unknown_context",
            QueryError::UnknownRole(_) => "unknown_role",
            QueryError::OutOfBundle(_) => "out_of_bundle",
        }
    }
}

/// Why a snapshot could not become an engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The text could not be read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The snapshot was read but is not valid; every problem is listed.
    #[error("invalid snapshot: {} problem(s), first: {}", .0.len(), .0.first().map(|i| i.to_string()).unwrap_or_default())]
    Invalid(Vec<Issue>),
}

impl LoadError {
    /// The stable machine code: the parse code, or the first validation code.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Parse(p) => p.code(),
            LoadError::Invalid(issues) => issues
                .first()
                .map(|i| i.code.as_str())
                .unwrap_or("invalid_snapshot"),
        }
    }
}

/// Why a tenant rule (SEMANTICS.md §6, §7) keeps a user out of a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantDenial {
    /// The guest account and user 0 never enter a tenant context.
    GuestInTenant,
    /// A member (isolation off) never enters another tenant.
    OtherTenant,
    /// A member (isolation on) stays inside its own tenant.
    Isolated,
    /// Members of a suspended tenant cannot sign in.
    TenantSuspended,
    /// A support user outside the scope of its active grants.
    SupportOutOfScope,
}

impl TenantDenial {
    /// The stable name (`guest_in_tenant`, `other_tenant`, `isolated`, `tenant_suspended`,
    /// `support_out_of_scope`).
    pub const fn name(self) -> &'static str {
        match self {
            TenantDenial::GuestInTenant => "guest_in_tenant",
            TenantDenial::OtherTenant => "other_tenant",
            TenantDenial::Isolated => "isolated",
            TenantDenial::TenantSuspended => "tenant_suspended",
            TenantDenial::SupportOutOfScope => "support_out_of_scope",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            TenantDenial::GuestInTenant => {
                "the guest account and visitors never enter a tenant context"
            }
            TenantDenial::OtherTenant => "tenant members never enter another tenant",
            TenantDenial::Isolated => {
                "tenant isolation keeps members inside their own tenant (system and front page included)"
            }
            TenantDenial::TenantSuspended => "the user's tenant is suspended",
            TenantDenial::SupportOutOfScope => {
                "the context is outside the scope of the support user's active grants"
            }
        }
    }
}

/// The rule of SEMANTICS.md §2 that decided an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// Step 2: `force_login` and user 0.
    ForceLogin,
    /// Step 3: guests and visitors never hold write or risky capabilities.
    GuestRisk,
    /// Step 4: a write capability in a locked context.
    ContextLocked,
    /// Step 5: the user does not exist.
    UnknownUser,
    /// Step 5: the user is deleted.
    DeletedUser,
    /// Step 5: a support user while support access is off.
    SupportDisabled,
    /// Step 6: tenant rules.
    Tenant {
        /// Which rule.
        denial: TenantDenial,
    },
    /// Step 7: site admin with `doanything`.
    SiteAdmin,
    /// Step 9: a prohibit on the path.
    Prohibited,
    /// Step 10: an active role allows.
    Allowed,
    /// Step 10: no active role allows.
    NotAllowed,
}

impl Rule {
    /// The stable name of the rule (`site_admin`, `prohibited`, `tenant`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Rule::ForceLogin => "force_login",
            Rule::GuestRisk => "guest_risk",
            Rule::ContextLocked => "context_locked",
            Rule::UnknownUser => "unknown_user",
            Rule::DeletedUser => "deleted_user",
            Rule::SupportDisabled => "support_disabled",
            Rule::Tenant { .. } => "tenant",
            Rule::SiteAdmin => "site_admin",
            Rule::Prohibited => "prohibited",
            Rule::Allowed => "allowed",
            Rule::NotAllowed => "not_allowed",
        }
    }

    /// The tenant rule that denied, when the rule is one.
    pub const fn denial(self) -> Option<TenantDenial> {
        match self {
            Rule::Tenant { denial } => Some(denial),
            _ => None,
        }
    }

    /// The step of SEMANTICS.md §2 that holds this rule.
    pub fn step(self) -> u8 {
        match self {
            Rule::ForceLogin => 2,
            Rule::GuestRisk => 3,
            Rule::ContextLocked => 4,
            Rule::UnknownUser | Rule::DeletedUser | Rule::SupportDisabled => 5,
            Rule::Tenant { .. } => 6,
            Rule::SiteAdmin => 7,
            Rule::Prohibited => 9,
            Rule::Allowed | Rule::NotAllowed => 10,
        }
    }

    /// The answer the rule gives.
    pub fn allows(self) -> bool {
        matches!(self, Rule::SiteAdmin | Rule::Allowed)
    }

    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::ForceLogin => "force login is on and the visitor is not logged in",
            Rule::GuestRisk => {
                "the guest account and visitors never get write or risky (xss, config, dataloss) capabilities"
            }
            Rule::ContextLocked => "the context is locked and the capability writes",
            Rule::UnknownUser => "the user does not exist",
            Rule::DeletedUser => "the user is deleted",
            Rule::SupportDisabled => "support access disabled",
            Rule::Tenant { denial } => denial.describe(),
            Rule::SiteAdmin => "site administrators can do anything",
            Rule::Prohibited => "an active role prohibits the capability on the path",
            Rule::Allowed => "an active role allows the capability",
            Rule::NotAllowed => "no active role allows the capability",
        }
    }
}

/// A map from sparse ids to dense indices: a flat table while ids are dense enough, else a hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdIndex {
    dense: Vec<u32>,
    sparse: HashMap<u32, u32>,
}

impl IdIndex {
    #[inline(always)]
    pub fn get(&self, id: u32) -> Option<u32> {
        match self.dense.get(id as usize) {
            Some(&i) if i != NONE => Some(i),
            Some(_) => None,
            None => self.sparse.get(&id).copied(),
        }
    }

    pub fn insert(&mut self, id: u32, idx: u32, count: usize) {
        let limit = count.saturating_mul(4).saturating_add(1024);
        let slot = id as usize;
        if slot < self.dense.len() {
            if let Some(s) = self.dense.get_mut(slot) {
                *s = idx;
            }
        } else if slot < limit && self.sparse.is_empty() {
            self.dense.resize(slot + 1, NONE);
            if let Some(s) = self.dense.get_mut(slot) {
                *s = idx;
            }
        } else {
            self.sparse.insert(id, idx);
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CapNode {
    pub name: String,
    pub write: bool,
    pub risks: RiskSet,
    pub level: ContextLevel,
}

#[derive(Debug, Clone)]
pub(crate) struct CtxNode {
    pub id: ContextId,
    pub parent: u32,
    pub level: ContextLevel,
    pub depth: u32,
    pub pre: u32,
    pub post: u32,
    pub tenant: Option<TenantId>,
    /// Locked itself or through an ancestor.
    pub locked: bool,
    /// Hidden itself or through an ancestor.
    pub hidden: bool,
    /// Has overrides of its own (its list in `Engine::overrides` is not empty).
    pub has_overrides: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Override {
    pub cap: u32,
    pub role: u32,
    pub perm: Permission,
}

#[derive(Debug, Clone)]
pub(crate) struct RoleNode {
    pub id: RoleId,
    pub levels: u16,
    pub archetype: Option<Archetype>,
    pub allow_assign: Vec<RoleId>,
    pub allow_override: Vec<RoleId>,
    pub allow_switch: Vec<RoleId>,
    /// Permission rows of the role anywhere (definitions and overrides).
    pub rows: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub ctx: u32,
    /// Pre/post-order numbers of `ctx`, copied here so that the ancestor test of a check
    /// touches no other memory.
    pub pre: u32,
    pub post: u32,
    pub role: u32,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub source: Source,
}

impl Grant {
    #[inline(always)]
    pub fn active(&self, at: Timestamp) -> bool {
        self.from.is_none_or(|f| f <= at) && self.until.is_none_or(|u| at < u)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct UserNode {
    pub id: UserId,
    pub deleted: bool,
    pub tenant: Option<TenantId>,
    /// Member of a suspended tenant.
    pub tenant_suspended: bool,
    pub admin: bool,
    pub guest: bool,
    pub support: bool,
    /// Kept inline for the usual handful, so that a check finds them beside the user.
    pub grants: smallvec::SmallVec<[Grant; 4]>,
    /// (context, role)
    pub switches: Vec<(u32, u32)>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TenantNode {
    pub suspended: bool,
}

/// A bit set of dense role indices, inline for up to 256 roles.
#[derive(Debug, Clone)]
pub(crate) struct RoleSet {
    inline: [u64; 4],
    spill: Vec<u64>,
}

impl RoleSet {
    #[inline(always)]
    pub fn new() -> Self {
        RoleSet {
            inline: [0; 4],
            spill: Vec::new(),
        }
    }

    #[inline(always)]
    pub fn insert(&mut self, r: u32) {
        let w = (r / 64) as usize;
        let bit = 1u64 << (r % 64);
        if let Some(word) = self.inline.get_mut(w) {
            *word |= bit;
        } else {
            let w = w - 4;
            if self.spill.len() <= w {
                self.spill.resize(w + 1, 0);
            }
            if let Some(word) = self.spill.get_mut(w) {
                *word |= bit;
            }
        }
    }

    #[inline(always)]
    pub fn contains(&self, r: u32) -> bool {
        let w = (r / 64) as usize;
        let bit = 1u64 << (r % 64);
        match self.inline.get(w) {
            Some(word) => word & bit != 0,
            None => self.spill.get(w - 4).is_some_and(|word| word & bit != 0),
        }
    }
}

/// Where an active role came from (SEMANTICS.md §2 step 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoleOrigin {
    /// A real assignment.
    Assignment {
        /// Where it was assigned.
        context: ContextId,
        /// Its source.
        source: Source,
        /// Active from.
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<Timestamp>,
        /// Active until.
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
    },
    /// The default role of authenticated users.
    DefaultUserRole,
    /// The default role on the front page.
    FrontpageRole {
        /// The front page context.
        context: ContextId,
    },
    /// The guest account's role.
    GuestRole,
    /// The role of visitors who are not logged in.
    NotLoggedInRole,
    /// A role switch.
    Switch {
        /// Where the switch was made.
        context: ContextId,
    },
}

/// A compiled site, ready for questions and edits.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) site: Site,
    pub(crate) caps: Vec<CapNode>,
    pub(crate) cap_index: HashMap<String, u32>,
    pub(crate) ctxs: Vec<CtxNode>,
    pub(crate) ctx_index: IdIndex,
    pub(crate) overrides: Vec<Vec<Override>>,
    pub(crate) roles: Vec<RoleNode>,
    pub(crate) role_index: IdIndex,
    /// defs[role][cap]
    pub(crate) defs: Vec<Vec<Option<Permission>>>,
    pub(crate) users: Vec<UserNode>,
    pub(crate) user_index: IdIndex,
    pub(crate) tenants: HashMap<TenantId, TenantNode>,
    pub(crate) system: u32,
    pub(crate) default_role: Option<u32>,
    pub(crate) guest_role: Option<u32>,
    pub(crate) nli_role: Option<u32>,
    pub(crate) frontpage_role: Option<u32>,
    pub(crate) frontpage_ctx: Option<u32>,
    pub(crate) lock_cap: Option<u32>,
    /// Set when the site is a bundle: whom it answers for and which contexts it covers.
    pub(crate) bundle: Option<BundleScope>,
}

/// What a bundle answers: questions about its user at its covered contexts.
#[derive(Debug, Clone)]
pub(crate) struct BundleScope {
    pub user: UserId,
    /// By dense context index.
    pub covered: Vec<bool>,
    /// Whether every context of the bundle is covered (a whole-tree bundle).
    pub whole: bool,
}

/// The user as steps 2–7 see it in one context.
pub(crate) struct Who<'a> {
    pub anonymous: bool,
    pub u: Option<&'a UserNode>,
    pub guest: bool,
    /// The rule of steps 5–6 that denies, if one does.
    pub later: Option<Rule>,
    /// The nearest switch on the path: (context, role).
    pub switch: Option<(u32, u32)>,
}

/// What the gate (steps 2–7) says before roles are looked at.
pub(crate) enum Gate<'a> {
    Decided(Rule),
    Roles {
        user: Option<&'a UserNode>,
        switch: Option<(u32, u32)>,
    },
}

impl Engine {
    /// Reads, validates and compiles a `capstan/1` snapshot.
    pub fn from_json(text: &str) -> Result<Engine, LoadError> {
        let site = Site::from_json(text)?;
        Engine::from_site(site)
    }

    /// Validates and compiles a site.
    pub fn from_site(site: Site) -> Result<Engine, LoadError> {
        let issues = validate(&site);
        if !issues.is_empty() {
            return Err(LoadError::Invalid(issues));
        }
        Ok(Engine::compile(site))
    }

    /// A site with nothing but the system context (id 1): a starting point that needs no
    /// validation.
    pub fn minimal() -> Engine {
        let mut site = Site::default();
        site.contexts.push(Context {
            id: ContextId(1),
            level: ContextLevel::System,
            parent: None,
            tenant: None,
            instance: None,
            locked: false,
            visible: true,
            name: Some("Site".into()),
        });
        Engine::compile(site)
    }

    /// The site as it now stands (edits included).
    pub fn site(&self) -> Site {
        let mut site = self.site.clone();
        site.permissions = self.permission_rows();
        site.assignments = self.assignment_rows();
        site.switches = self.switch_rows();
        site
    }

    /// The site as `capstan/1` JSON.
    pub fn to_json(&self) -> String {
        self.site().to_json()
    }

    /// Settings in force.
    pub fn settings(&self) -> &Settings {
        &self.site.settings
    }

    /// Compiles a site that has passed validation.
    pub(crate) fn compile(mut site: Site) -> Engine {
        let tree = Tree::resolve(&site);
        // Capabilities.
        let mut caps = Vec::with_capacity(site.capabilities.len());
        let mut cap_index = HashMap::with_capacity(site.capabilities.len());
        for c in &site.capabilities {
            cap_index.insert(c.name.clone(), caps.len() as u32);
            caps.push(CapNode {
                name: c.name.clone(),
                write: c.captype == CapType::Write,
                risks: c.risks,
                level: c.contextlevel,
            });
        }
        // Contexts: dense index in snapshot order; children lists for the numbering walk.
        let n = site.contexts.len();
        let mut ctx_index = IdIndex::default();
        for (i, c) in site.contexts.iter().enumerate() {
            ctx_index.insert(c.id.0, i as u32, n);
        }
        let mut ctxs: Vec<CtxNode> = site
            .contexts
            .iter()
            .enumerate()
            .map(|(i, c)| CtxNode {
                id: c.id,
                parent: c.parent.and_then(|p| ctx_index.get(p.0)).unwrap_or(NONE),
                level: c.level,
                depth: 0,
                pre: 0,
                post: 0,
                tenant: tree.tenant.get(i).copied().flatten(),
                locked: c.locked,
                hidden: !c.visible,
                has_overrides: false,
            })
            .collect();
        let system = ctxs
            .iter()
            .position(|c| c.level == ContextLevel::System)
            .unwrap_or(0) as u32;
        number_tree(&mut ctxs, system);
        // Roles.
        let mut role_index = IdIndex::default();
        let nr = site.roles.len();
        let mut roles = Vec::with_capacity(nr);
        for (i, r) in site.roles.iter().enumerate() {
            role_index.insert(r.id.0, i as u32, nr);
            roles.push(role_node(r));
        }
        let mut defs = vec![vec![None; caps.len()]; nr];
        let mut overrides: Vec<Vec<Override>> = vec![Vec::new(); n];
        for p in &site.permissions {
            let (Some(role), Some(ctx), Some(&cap)) = (
                role_index.get(p.role.0),
                ctx_index.get(p.context.0),
                cap_index.get(&p.capability),
            ) else {
                continue;
            };
            if let Some(rn) = roles.get_mut(role as usize) {
                rn.rows += 1;
            }
            if ctx == system {
                if let Some(slot) = defs
                    .get_mut(role as usize)
                    .and_then(|d| d.get_mut(cap as usize))
                {
                    *slot = Some(p.permission);
                }
            } else if let Some(list) = overrides.get_mut(ctx as usize) {
                list.push(Override {
                    cap,
                    role,
                    perm: p.permission,
                });
            }
        }
        for list in &mut overrides {
            list.sort_by_key(|o| (o.cap, o.role));
        }
        // Tenants.
        let tenants = site
            .tenants
            .iter()
            .map(|t| {
                (
                    t.id,
                    TenantNode {
                        suspended: t.suspended,
                    },
                )
            })
            .collect();
        // Users.
        let nu = site.users.len();
        let mut user_index = IdIndex::default();
        let mut users: Vec<UserNode> = Vec::with_capacity(nu);
        for (i, u) in site.users.iter().enumerate() {
            user_index.insert(u.id.0, i as u32, nu);
            users.push(UserNode {
                id: u.id,
                deleted: u.deleted,
                tenant: u.tenant,
                tenant_suspended: false,
                admin: false,
                guest: site.settings.guest_user == Some(u.id),
                support: false,
                grants: smallvec::SmallVec::new(),
                switches: Vec::new(),
            });
        }
        for a in &site.assignments {
            let (Some(ui), Some(role), Some(ctx)) = (
                user_index.get(a.user.0),
                role_index.get(a.role.0),
                ctx_index.get(a.context.0),
            ) else {
                continue;
            };
            let (pre, post) = ctxs.get(ctx as usize).map_or((1, 0), |c| (c.pre, c.post));
            if let Some(u) = users.get_mut(ui as usize) {
                u.grants.push(Grant {
                    ctx,
                    pre,
                    post,
                    role,
                    from: a.from,
                    until: a.until,
                    source: a.source,
                });
            }
        }
        for s in &site.switches {
            let (Some(ui), Some(role), Some(ctx)) = (
                user_index.get(s.user.0),
                role_index.get(s.role.0),
                ctx_index.get(s.context.0),
            ) else {
                continue;
            };
            if let Some(u) = users.get_mut(ui as usize) {
                u.switches.push((ctx, role));
            }
        }
        // The source of truth for rows, assignments and switches is the index from now on.
        site.permissions = Vec::new();
        site.assignments = Vec::new();
        site.switches = Vec::new();
        for (c, o) in ctxs.iter_mut().zip(&overrides) {
            c.has_overrides = !o.is_empty();
        }
        let mut engine = Engine {
            caps,
            cap_index,
            ctxs,
            ctx_index,
            overrides,
            roles,
            role_index,
            defs,
            users,
            user_index,
            tenants,
            system,
            default_role: None,
            guest_role: None,
            nli_role: None,
            frontpage_role: None,
            frontpage_ctx: None,
            lock_cap: None,
            bundle: None,
            site,
        };
        engine.bundle = engine.bundle_scope();
        engine.refresh_derived();
        engine
    }

    /// The covered contexts of a bundle: its roots with their ancestors and descendants.
    fn bundle_scope(&self) -> Option<BundleScope> {
        let b = self.site.bundle.as_ref()?;
        let roots: Vec<u32> = b
            .contexts
            .iter()
            .filter_map(|c| self.ctx_index.get(c.0))
            .collect();
        let whole = b.contexts.is_empty();
        let n = self.ctxs.len();
        let mut covered = vec![whole; n];
        if !whole {
            // Descendants: one pass in pre-order (a parent before its children), so the cost
            // is the tree's whatever the number of roots.
            for &r in &roots {
                if let Some(slot) = covered.get_mut(r as usize) {
                    *slot = true;
                }
            }
            for i in self.pre_slots().into_iter().filter(|i| *i != NONE) {
                let from_parent = self
                    .ctxs
                    .get(i as usize)
                    .and_then(|c| covered.get(c.parent as usize).copied())
                    .unwrap_or(false);
                if let Some(slot) = covered.get_mut(i as usize) {
                    *slot |= from_parent;
                }
            }
            // Ancestors: each walk stops where an earlier one passed.
            let mut up = vec![false; n];
            for r in roots {
                let mut at = r;
                while let Some(c) = self.ctxs.get(at as usize) {
                    if up.get(at as usize).copied().unwrap_or(true) {
                        break;
                    }
                    if let Some(slot) = up.get_mut(at as usize) {
                        *slot = true;
                    }
                    if let Some(slot) = covered.get_mut(at as usize) {
                        *slot = true;
                    }
                    if c.parent == NONE {
                        break;
                    }
                    at = c.parent;
                }
            }
        }
        Some(BundleScope {
            user: b.user,
            covered,
            whole,
        })
    }

    /// Every context's dense index at its pre-order number (`NONE` elsewhere): the numbering
    /// shares one counter with post-order, so the 2n slots hold each context once, parents
    /// before children, and a subtree is the range from its root's `pre` to its `post`.
    pub(crate) fn pre_slots(&self) -> Vec<u32> {
        let mut slots = vec![NONE; 2 * self.ctxs.len() + 1];
        for (i, c) in self.ctxs.iter().enumerate() {
            if let Some(slot) = slots.get_mut(c.pre as usize) {
                *slot = i as u32;
            }
        }
        slots
    }

    /// Whether the engine holds a bundle (a cut of a site for one user).
    pub fn is_bundle(&self) -> bool {
        self.bundle.is_some()
    }

    /// The user a bundle answers for.
    pub fn bundle_user(&self) -> Option<UserId> {
        self.bundle.as_ref().map(|b| b.user)
    }

    /// Refuses a question that needs users a bundle does not hold.
    pub fn whole_site(&self, what: &str) -> Result<(), QueryError> {
        match &self.bundle {
            Some(_) => Err(QueryError::OutOfBundle(format!(
                "{what} needs every user of the site: a bundle holds one"
            ))),
            None => Ok(()),
        }
    }

    /// Refuses, in a bundle, a question about another user or a context it does not cover
    /// (`out_of_bundle`, never a different answer); nothing for a whole site.
    #[inline(always)]
    pub(crate) fn bundle_guard(&self, user: UserId, context: ContextId) -> Result<(), QueryError> {
        let Some(b) = &self.bundle else {
            return Ok(());
        };
        if user != b.user {
            return Err(QueryError::OutOfBundle(format!(
                "this bundle answers for user `{}`, not `{user}`",
                b.user
            )));
        }
        match self.ctx_index.get(context.0) {
            Some(i) if b.covered.get(i as usize).copied().unwrap_or(false) => Ok(()),
            _ => Err(QueryError::OutOfBundle(format!(
                "context `{context}` is outside this bundle"
            ))),
        }
    }

    /// Recomputes what depends on settings and on who holds what: admin, guest and support
    /// flags, the roles named by settings.
    pub(crate) fn refresh_derived(&mut self) {
        let s = &self.site.settings;
        self.default_role = s.default_user_role.and_then(|r| self.role_index.get(r.0));
        self.nli_role = s.not_logged_in_role.and_then(|r| self.role_index.get(r.0));
        self.frontpage_role = s
            .default_frontpage_role
            .and_then(|r| self.role_index.get(r.0));
        self.frontpage_ctx = s.frontpage_context.and_then(|c| self.ctx_index.get(c.0));
        self.guest_role = match s.guest_role {
            Some(r) => self.role_index.get(r.0),
            None => self
                .roles
                .iter()
                .enumerate()
                .filter(|(_, r)| r.archetype == Some(Archetype::Guest))
                .min_by_key(|(_, r)| r.id)
                .map(|(i, _)| i as u32),
        };
        self.lock_cap = self.cap_index.get(MANAGE_CONTEXT_LOCKS).copied();
        for u in &mut self.users {
            derive_user(u, s, &self.tenants);
        }
    }

    /// The derived flags of one user (after an edit of that user alone).
    pub(crate) fn refresh_user(&mut self, index: u32) {
        if let Some(u) = self.users.get_mut(index as usize) {
            derive_user(u, &self.site.settings, &self.tenants);
        }
    }

    // ----- lookups -----

    /// The interned id of a capability, for the fast path.
    pub fn capability_id(&self, name: &str) -> Option<CapabilityId> {
        self.cap_index.get(name).map(|&c| CapabilityId(c))
    }

    /// The name of an interned capability.
    pub fn capability_name(&self, id: CapabilityId) -> Option<&str> {
        self.caps.get(id.0 as usize).map(|c| c.name.as_str())
    }

    /// Every capability definition.
    pub fn capabilities(&self) -> &[Capability] {
        &self.site.capabilities
    }

    /// Every context.
    pub fn contexts(&self) -> &[Context] {
        &self.site.contexts
    }

    /// Every role.
    pub fn roles(&self) -> &[Role] {
        &self.site.roles
    }

    /// Every user.
    pub fn users(&self) -> &[User] {
        &self.site.users
    }

    /// Every tenant.
    pub fn tenants(&self) -> &[Tenant] {
        &self.site.tenants
    }

    /// A context by id.
    pub fn context(&self, id: ContextId) -> Option<&Context> {
        self.ctx_index
            .get(id.0)
            .and_then(|i| self.site.contexts.get(i as usize))
    }

    /// A role by id.
    pub fn role(&self, id: RoleId) -> Option<&Role> {
        self.role_index
            .get(id.0)
            .and_then(|i| self.site.roles.get(i as usize))
    }

    /// A user by id.
    pub fn user(&self, id: UserId) -> Option<&User> {
        self.user_index
            .get(id.0)
            .and_then(|i| self.site.users.get(i as usize))
    }

    /// The effective tenant of a context (its own, or inherited).
    pub fn context_tenant(&self, id: ContextId) -> Result<Option<TenantId>, QueryError> {
        Ok(self.ctx(id)?.tenant)
    }

    /// The path of a context: its ancestors and itself, root first.
    pub fn context_path(&self, id: ContextId) -> Result<Vec<ContextId>, QueryError> {
        let mut i = self.ctx_idx(id)?;
        let mut path = Vec::new();
        while let Some(c) = self.ctxs.get(i as usize) {
            path.push(c.id);
            i = c.parent;
        }
        path.reverse();
        Ok(path)
    }

    /// Whether `user` is a site admin (listed, not deleted, not a support user).
    pub fn is_site_admin(&self, user: UserId) -> bool {
        self.unode(user).is_some_and(|u| u.admin)
    }

    /// Whether `user` is a support user (holds an assignment of source `support`).
    pub fn is_support_user(&self, user: UserId) -> bool {
        self.unode(user).is_some_and(|u| u.support)
    }

    #[inline(always)]
    pub(crate) fn ctx_idx(&self, id: ContextId) -> Result<u32, QueryError> {
        self.ctx_index
            .get(id.0)
            .ok_or(QueryError::UnknownContext(id))
    }

    #[inline]
    pub(crate) fn ctx(&self, id: ContextId) -> Result<&CtxNode, QueryError> {
        let i = self.ctx_idx(id)?;
        self.ctxs
            .get(i as usize)
            .ok_or(QueryError::UnknownContext(id))
    }

    #[inline]
    pub(crate) fn cap_idx(&self, name: &str) -> Result<u32, QueryError> {
        self.cap_index
            .get(name)
            .copied()
            .ok_or_else(|| QueryError::UnknownCapability(name.chars().take(200).collect()))
    }

    #[inline]
    pub(crate) fn role_idx(&self, id: RoleId) -> Result<u32, QueryError> {
        self.role_index.get(id.0).ok_or(QueryError::UnknownRole(id))
    }

    #[inline(always)]
    pub(crate) fn unode(&self, id: UserId) -> Option<&UserNode> {
        self.user_index
            .get(id.0)
            .and_then(|i| self.users.get(i as usize))
    }

    /// Whether context `a` is `b` or one of its ancestors.
    #[inline]
    pub(crate) fn is_ancestor_or_self(&self, a: u32, b: u32) -> bool {
        match (self.ctxs.get(a as usize), self.ctxs.get(b as usize)) {
            (Some(a), Some(b)) => a.pre <= b.pre && b.post <= a.post,
            _ => false,
        }
    }

    // ----- the resolver -----

    /// `has_capability` (SEMANTICS.md §2) by name.
    pub fn has_capability(
        &self,
        user: UserId,
        capability: &str,
        context: ContextId,
        opts: CheckOptions,
    ) -> Result<bool, QueryError> {
        self.bundle_guard(user, context)?;
        let cap = self.cap_idx(capability)?;
        let ctx = self.ctx_idx(context)?;
        Ok(self.decide(user, cap, ctx, opts, false).allows())
    }

    /// `has_capability` on the fast path: an interned capability, no allocation.
    #[inline(always)]
    pub fn check(
        &self,
        user: UserId,
        capability: CapabilityId,
        context: ContextId,
        opts: CheckOptions,
    ) -> Result<bool, QueryError> {
        self.bundle_guard(user, context)?;
        if capability.0 as usize >= self.caps.len() {
            return Err(QueryError::UnknownCapability(format!("#{}", capability.0)));
        }
        let ctx = self.ctx_idx(context)?;
        Ok(self.decide(user, capability.0, ctx, opts, false).allows())
    }

    /// The rule that decides `has_capability` (with its step and reason), without the trace
    /// that [`Engine::explain`] builds: as fast as [`Engine::check`].
    pub fn decision(
        &self,
        user: UserId,
        capability: &str,
        context: ContextId,
        opts: CheckOptions,
    ) -> Result<Rule, QueryError> {
        self.bundle_guard(user, context)?;
        let cap = self.cap_idx(capability)?;
        let ctx = self.ctx_idx(context)?;
        Ok(self.decide(user, cap, ctx, opts, false))
    }

    /// The rule that decides, with dense indices (checked by the caller).
    #[inline(always)]
    pub(crate) fn decide(
        &self,
        user: UserId,
        cap: u32,
        ctx: u32,
        opts: CheckOptions,
        ignore_switches: bool,
    ) -> Rule {
        match self.gate(user, cap, ctx, opts, ignore_switches) {
            Gate::Decided(rule) => rule,
            Gate::Roles { user: u, switch } => {
                let mut set = RoleSet::new();
                self.for_each_role(user, u, switch, ctx, opts.at, |r, _| set.insert(r));
                self.evaluate(&set, cap, ctx)
            }
        }
    }

    /// The answer for a user node that need not be the site's: what a user with these flags,
    /// grants and switches would be answered (the impact query asks it for a user with no
    /// grants, standing for every user of a kind).
    pub(crate) fn decide_node(&self, u: &UserNode, cap: u32, ctx: u32, opts: CheckOptions) -> Rule {
        let (Some(capn), Some(ctxn)) = (self.caps.get(cap as usize), self.ctxs.get(ctx as usize))
        else {
            return Rule::NotAllowed;
        };
        let who = self.who_of(false, Some(u), ctx, ctxn, opts.at, false);
        if let Some(rule) = self.gate_cap(&who, capn, cap, ctxn, opts.doanything) {
            return rule;
        }
        let mut set = RoleSet::new();
        self.for_each_role(u.id, Some(u), who.switch, ctx, opts.at, |r, _| {
            set.insert(r)
        });
        self.evaluate(&set, cap, ctx)
    }

    /// Steps 2–7, and the switch that step 8 will use.
    #[inline(always)]
    pub(crate) fn gate(
        &self,
        user: UserId,
        cap: u32,
        ctx: u32,
        opts: CheckOptions,
        ignore_switches: bool,
    ) -> Gate<'_> {
        let (Some(capn), Some(ctxn)) = (self.caps.get(cap as usize), self.ctxs.get(ctx as usize))
        else {
            return Gate::Decided(Rule::NotAllowed);
        };
        let who = self.who(user, ctx, ctxn, opts.at, ignore_switches);
        match self.gate_cap(&who, capn, cap, ctxn, opts.doanything) {
            Some(rule) => Gate::Decided(rule),
            None => Gate::Roles {
                user: who.u,
                switch: who.switch,
            },
        }
    }

    /// What steps 2–7 need to know of the user in a context, whatever the capability.
    #[inline(always)]
    pub(crate) fn who(
        &self,
        user: UserId,
        ctx: u32,
        ctxn: &CtxNode,
        at: Timestamp,
        ignore_switches: bool,
    ) -> Who<'_> {
        let anonymous = user == UserId::NOT_LOGGED_IN;
        let u = if anonymous { None } else { self.unode(user) };
        self.who_of(anonymous, u, ctx, ctxn, at, ignore_switches)
    }

    /// [`Engine::who`] for a user node given directly (`None` and not anonymous: an unknown
    /// user).
    #[inline(always)]
    pub(crate) fn who_of<'a>(
        &self,
        anonymous: bool,
        u: Option<&'a UserNode>,
        ctx: u32,
        ctxn: &CtxNode,
        at: Timestamp,
        ignore_switches: bool,
    ) -> Who<'a> {
        let s = &self.site.settings;
        let guest = anonymous || u.is_some_and(|u| u.guest);
        // Steps 5 and 6 do not depend on the capability.
        let later = if anonymous {
            None
        } else {
            match u {
                None => Some(Rule::UnknownUser),
                Some(u) if u.deleted => Some(Rule::DeletedUser),
                Some(u) if u.support && !s.support_access => Some(Rule::SupportDisabled),
                _ => None,
            }
        };
        let later = later.or_else(|| {
            self.tenant_denial(guest, u, ctxn, at)
                .map(|denial| Rule::Tenant { denial })
        });
        let switch = if ignore_switches {
            None
        } else {
            u.and_then(|u| self.nearest_switch(u, ctx))
        };
        Who {
            anonymous,
            u,
            guest,
            later,
            switch,
        }
    }

    /// Steps 2–7 for one capability, given [`Engine::who`]; `None`: the roles decide.
    #[inline(always)]
    pub(crate) fn gate_cap(
        &self,
        who: &Who<'_>,
        capn: &CapNode,
        cap: u32,
        ctxn: &CtxNode,
        doanything: bool,
    ) -> Option<Rule> {
        let s = &self.site.settings;
        let admin = who.u.is_some_and(|u| u.admin);
        // Step 2.
        if s.force_login && who.anonymous {
            return Some(Rule::ForceLogin);
        }
        // Step 3.
        if who.guest && (capn.write || capn.risks.intersects(RiskSet::GUEST_FORBIDDEN)) {
            return Some(Rule::GuestRisk);
        }
        // Step 4.
        if s.context_locking
            && capn.write
            && ctxn.locked
            && self.lock_cap != Some(cap)
            && (!admin || s.context_lock_applies_to_admin)
        {
            return Some(Rule::ContextLocked);
        }
        // Steps 5 and 6.
        if who.later.is_some() {
            return who.later;
        }
        // Step 7.
        if doanything && admin && who.switch.is_none() {
            return Some(Rule::SiteAdmin);
        }
        None
    }

    /// Step 6 (and the support scope of §7).
    #[inline(always)]
    pub(crate) fn tenant_denial(
        &self,
        guest: bool,
        u: Option<&UserNode>,
        ctxn: &CtxNode,
        at: Timestamp,
    ) -> Option<TenantDenial> {
        let s = &self.site.settings;
        if s.multitenancy {
            if guest {
                if ctxn.tenant.is_some() {
                    return Some(TenantDenial::GuestInTenant);
                }
            } else if let Some(member) = u.and_then(|u| u.tenant) {
                if u.is_some_and(|u| u.tenant_suspended) {
                    return Some(TenantDenial::TenantSuspended);
                }
                if s.tenant_isolation {
                    if ctxn.tenant != Some(member) {
                        return Some(TenantDenial::Isolated);
                    }
                } else if ctxn.tenant.is_some_and(|t| t != member) {
                    return Some(TenantDenial::OtherTenant);
                }
            }
        }
        if let Some(u) = u.filter(|u| u.support) {
            let here = self.scope_of(ctxn);
            let in_scope = u.grants.iter().any(|g| {
                g.source == Source::Support
                    && g.active(at)
                    && self
                        .ctxs
                        .get(g.ctx as usize)
                        .is_some_and(|c| self.scope_of(c) == here)
            });
            if !in_scope {
                return Some(TenantDenial::SupportOutOfScope);
            }
        }
        None
    }

    /// The tenant a context counts as for support scope: "site" (`None`) when multitenancy is off.
    #[inline(always)]
    fn scope_of(&self, c: &CtxNode) -> Option<TenantId> {
        if self.site.settings.multitenancy {
            c.tenant
        } else {
            None
        }
    }

    /// The nearest switch of the user on the path of `ctx`: (context, role).
    #[inline(always)]
    pub(crate) fn nearest_switch(&self, u: &UserNode, ctx: u32) -> Option<(u32, u32)> {
        let mut best: Option<(u32, u32, u32)> = None;
        for &(sc, sr) in &u.switches {
            if self.is_ancestor_or_self(sc, ctx) {
                let depth = self.ctxs.get(sc as usize).map_or(0, |c| c.depth);
                if best.is_none_or(|(d, _, _)| depth > d) {
                    best = Some((depth, sc, sr));
                }
            }
        }
        best.map(|(_, c, r)| (c, r))
    }

    /// Step 8: calls `f` for every active role with where it came from (roles may repeat).
    #[inline(always)]
    pub(crate) fn for_each_role(
        &self,
        user: UserId,
        u: Option<&UserNode>,
        switch: Option<(u32, u32)>,
        ctx: u32,
        at: Timestamp,
        mut f: impl FnMut(u32, RoleOrigin),
    ) {
        let ctx_id = |i: u32| self.ctxs.get(i as usize).map_or(ContextId(0), |c| c.id);
        if let Some((sc, sr)) = switch {
            f(
                sr,
                RoleOrigin::Switch {
                    context: ctx_id(sc),
                },
            );
            if let Some(d) = self.default_role {
                f(d, RoleOrigin::DefaultUserRole);
            }
            return;
        }
        if user == UserId::NOT_LOGGED_IN {
            if let Some(r) = self.nli_role {
                f(r, RoleOrigin::NotLoggedInRole);
            }
            return;
        }
        let Some(u) = u else { return };
        if u.guest {
            if let Some(r) = self.guest_role {
                f(r, RoleOrigin::GuestRole);
            }
            return;
        }
        let (tpre, tpost) = self
            .ctxs
            .get(ctx as usize)
            .map_or((0, 0), |c| (c.pre, c.post));
        for g in &u.grants {
            if g.pre <= tpre && tpost <= g.post && g.active(at) {
                f(
                    g.role,
                    RoleOrigin::Assignment {
                        context: ctx_id(g.ctx),
                        source: g.source,
                        from: g.from,
                        until: g.until,
                    },
                );
            }
        }
        if u.support {
            return;
        }
        if let Some(d) = self.default_role {
            f(d, RoleOrigin::DefaultUserRole);
        }
        if let (Some(r), Some(fp)) = (self.frontpage_role, self.frontpage_ctx)
            && self.is_ancestor_or_self(fp, ctx)
        {
            f(
                r,
                RoleOrigin::FrontpageRole {
                    context: ctx_id(fp),
                },
            );
        }
    }

    /// Steps 9 and 10 for a set of active roles.
    #[inline(always)]
    pub(crate) fn evaluate(&self, set: &RoleSet, cap: u32, ctx: u32) -> Rule {
        let mut decided = RoleSet::new();
        let mut allowed = false;
        let mut i = ctx;
        while i != self.system {
            let Some(node) = self.ctxs.get(i as usize) else {
                break;
            };
            if node.has_overrides
                && let Some(rule) = self.overrides_at(i, set, cap, &mut decided, &mut allowed)
            {
                return rule;
            }
            i = node.parent;
        }
        self.finish(set, cap, &decided, allowed)
    }

    /// The overrides of one context for a capability, folded into `decided`/`allowed`;
    /// `Some(Prohibited)` as soon as an active role prohibits.
    #[inline(always)]
    fn overrides_at(
        &self,
        i: u32,
        set: &RoleSet,
        cap: u32,
        decided: &mut RoleSet,
        allowed: &mut bool,
    ) -> Option<Rule> {
        let list = self.overrides.get(i as usize)?;
        let start = list.partition_point(|o| o.cap < cap);
        for o in list.get(start..).unwrap_or(&[]) {
            if o.cap != cap {
                break;
            }
            if set.contains(o.role) {
                if o.perm == Permission::Prohibit {
                    return Some(Rule::Prohibited);
                }
                if !decided.contains(o.role) {
                    decided.insert(o.role);
                    *allowed |= o.perm == Permission::Allow;
                }
            }
        }
        None
    }

    /// The role definitions (rows at system) after the overrides on the path.
    #[inline(always)]
    fn finish(&self, set: &RoleSet, cap: u32, decided: &RoleSet, mut allowed: bool) -> Rule {
        let words = set.inline.iter().chain(set.spill.iter());
        for (w, &word) in words.enumerate() {
            let mut word = word;
            while word != 0 {
                let r = w as u32 * 64 + word.trailing_zeros();
                word &= word - 1;
                match self.defs.get(r as usize).and_then(|d| d.get(cap as usize)) {
                    Some(Some(Permission::Prohibit)) => return Rule::Prohibited,
                    Some(Some(Permission::Allow)) if !decided.contains(r) => allowed = true,
                    _ => {}
                }
            }
        }
        if allowed {
            Rule::Allowed
        } else {
            Rule::NotAllowed
        }
    }

    /// The contexts with overrides on the path of `ctx`, bottom-up (system excluded).
    pub(crate) fn override_path(&self, ctx: u32, out: &mut Vec<u32>) {
        out.clear();
        let mut i = ctx;
        while i != self.system {
            let Some(node) = self.ctxs.get(i as usize) else {
                break;
            };
            if node.has_overrides {
                out.push(i);
            }
            i = node.parent;
        }
    }

    /// [`Engine::evaluate`] with the override contexts of the path known in advance.
    #[inline]
    pub(crate) fn evaluate_on(&self, set: &RoleSet, cap: u32, path: &[u32]) -> Rule {
        let mut decided = RoleSet::new();
        let mut allowed = false;
        for &i in path {
            if let Some(rule) = self.overrides_at(i, set, cap, &mut decided, &mut allowed) {
                return rule;
            }
        }
        self.finish(set, cap, &decided, allowed)
    }

    /// The value one role resolves to for a capability at a context (most specific row on the
    /// path), or `Prohibit` if any row on the path prohibits.
    pub(crate) fn role_value(&self, role: u32, cap: u32, ctx: u32) -> Option<Permission> {
        let mut value = None;
        let mut i = ctx;
        while i != self.system {
            let Some(node) = self.ctxs.get(i as usize) else {
                break;
            };
            if let Some(o) = self.override_at(i, role, cap) {
                if o == Permission::Prohibit {
                    return Some(o);
                }
                value = value.or(Some(o));
            }
            i = node.parent;
        }
        match self.def(role, cap) {
            Some(Permission::Prohibit) => Some(Permission::Prohibit),
            d => value.or(d),
        }
    }

    #[inline]
    pub(crate) fn def(&self, role: u32, cap: u32) -> Option<Permission> {
        self.defs
            .get(role as usize)
            .and_then(|d| d.get(cap as usize))
            .copied()
            .flatten()
    }

    #[inline]
    pub(crate) fn override_at(&self, ctx: u32, role: u32, cap: u32) -> Option<Permission> {
        let list = self.overrides.get(ctx as usize)?;
        list.binary_search_by_key(&(cap, role), |o| (o.cap, o.role))
            .ok()
            .and_then(|i| list.get(i))
            .map(|o| o.perm)
    }

    /// The value of a permission row (definition at system, override elsewhere).
    pub(crate) fn row_at(&self, ctx: u32, role: u32, cap: u32) -> Option<Permission> {
        if ctx == self.system {
            self.def(role, cap)
        } else {
            self.override_at(ctx, role, cap)
        }
    }

    /// Every permission row, definitions first, in a stable order.
    /// The system context (the root of the tree).
    pub fn system_context(&self) -> ContextId {
        self.ctxs
            .get(self.system as usize)
            .map(|c| c.id)
            .unwrap_or(ContextId(1))
    }

    /// Which courses each program holds.
    pub fn program_courses(&self) -> &[ProgramCourse] {
        &self.site.program_courses
    }

    /// The value of a capability in a role's definition (its row at the system context).
    pub fn definition(&self, role: RoleId, capability: &str) -> Option<Permission> {
        let r = self.role_index.get(role.0)?;
        let c = *self.cap_index.get(capability)?;
        self.defs
            .get(r as usize)?
            .get(c as usize)
            .copied()
            .flatten()
    }

    /// The overrides set in one context (not inherited ones), as permission rows.
    pub fn overrides_in(&self, context: ContextId) -> Vec<PermissionRow> {
        let Some(ci) = self.ctx_index.get(context.0) else {
            return Vec::new();
        };
        if ci == self.system {
            return Vec::new();
        }
        self.overrides
            .get(ci as usize)
            .map(|list| {
                list.iter()
                    .filter_map(|o| {
                        Some(PermissionRow {
                            role: self.roles.get(o.role as usize)?.id,
                            context,
                            capability: self.caps.get(o.cap as usize)?.name.clone(),
                            permission: o.perm,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The role assignments made in one context, by user.
    pub fn assignments_at(&self, context: ContextId) -> Vec<Assignment> {
        let Some(ci) = self.ctx_index.get(context.0) else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for u in &self.users {
            for g in u.grants.iter().filter(|g| g.ctx == ci) {
                if let Some(role) = self.roles.get(g.role as usize) {
                    rows.push(Assignment {
                        user: u.id,
                        role: role.id,
                        context,
                        from: g.from,
                        until: g.until,
                        source: g.source,
                    });
                }
            }
        }
        rows
    }

    /// Every role assignment of the site.
    pub fn assignments(&self) -> Vec<Assignment> {
        self.assignment_rows()
    }

    /// The role assignments of one user, whatever their time range.
    pub fn assignments_of(&self, user: UserId) -> Vec<Assignment> {
        let Some(u) = self.unode(user) else {
            return Vec::new();
        };
        u.grants
            .iter()
            .filter_map(|g| {
                Some(Assignment {
                    user,
                    role: self.roles.get(g.role as usize)?.id,
                    context: self.ctxs.get(g.ctx as usize)?.id,
                    from: g.from,
                    until: g.until,
                    source: g.source,
                })
            })
            .collect()
    }

    /// The value of one permission row: the role's definition at the system context, an
    /// override elsewhere; `None` when no row is set (or an id or name is unknown).
    pub fn permission_row(
        &self,
        role: RoleId,
        context: ContextId,
        capability: &str,
    ) -> Option<Permission> {
        let r = self.role_index.get(role.0)?;
        let c = self.ctx_index.get(context.0)?;
        let cap = *self.cap_index.get(capability)?;
        self.row_at(c, r, cap)
    }

    /// Every role switch in force.
    pub fn switches(&self) -> Vec<Switch> {
        self.switch_rows()
    }

    /// Every permission row: definitions (at the system context) and overrides.
    pub fn permissions(&self) -> Vec<PermissionRow> {
        self.permission_rows()
    }

    pub(crate) fn permission_rows(&self) -> Vec<PermissionRow> {
        let mut rows = self.definition_rows();
        for ci in 0..self.ctxs.len() {
            self.override_rows_at(ci as u32, &mut rows);
        }
        rows
    }

    /// The role definitions: every row at the system context.
    pub(crate) fn definition_rows(&self) -> Vec<PermissionRow> {
        let mut rows = Vec::new();
        let sys = self.ctxs.get(self.system as usize).map(|c| c.id);
        for (ri, d) in self.defs.iter().enumerate() {
            for (ci, v) in d.iter().enumerate() {
                if let (Some(p), Some(role), Some(cap), Some(sys)) =
                    (v, self.roles.get(ri), self.caps.get(ci), sys)
                {
                    rows.push(PermissionRow {
                        role: role.id,
                        context: sys,
                        capability: cap.name.clone(),
                        permission: *p,
                    });
                }
            }
        }
        rows
    }

    /// The overrides in one context (by dense index), appended to `rows`.
    pub(crate) fn override_rows_at(&self, ci: u32, rows: &mut Vec<PermissionRow>) {
        let (Some(list), Some(ctx)) = (self.overrides.get(ci as usize), self.ctxs.get(ci as usize))
        else {
            return;
        };
        for o in list {
            if let (Some(role), Some(cap)) = (
                self.roles.get(o.role as usize),
                self.caps.get(o.cap as usize),
            ) {
                rows.push(PermissionRow {
                    role: role.id,
                    context: ctx.id,
                    capability: cap.name.clone(),
                    permission: o.perm,
                });
            }
        }
    }

    pub(crate) fn assignment_rows(&self) -> Vec<Assignment> {
        let mut rows = Vec::new();
        for u in &self.users {
            for g in &u.grants {
                if let (Some(role), Some(ctx)) = (
                    self.roles.get(g.role as usize),
                    self.ctxs.get(g.ctx as usize),
                ) {
                    rows.push(Assignment {
                        user: u.id,
                        role: role.id,
                        context: ctx.id,
                        from: g.from,
                        until: g.until,
                        source: g.source,
                    });
                }
            }
        }
        rows
    }

    pub(crate) fn switch_rows(&self) -> Vec<Switch> {
        let mut rows = Vec::new();
        for u in &self.users {
            for &(c, r) in &u.switches {
                if let (Some(role), Some(ctx)) =
                    (self.roles.get(r as usize), self.ctxs.get(c as usize))
                {
                    rows.push(Switch {
                        user: u.id,
                        context: ctx.id,
                        role: role.id,
                    });
                }
            }
        }
        rows
    }
}

pub(crate) fn role_node(r: &Role) -> RoleNode {
    RoleNode {
        id: r.id,
        levels: r.contextlevels.iter().fold(0, |m, l| m | l.bit()),
        archetype: r.archetype,
        allow_assign: r.allow_assign.clone(),
        allow_override: r.allow_override.clone(),
        allow_switch: r.allow_switch.clone(),
        rows: 0,
    }
}

/// A user's flags that follow from the settings, its tenant and its grants.
fn derive_user(u: &mut UserNode, s: &Settings, tenants: &HashMap<TenantId, TenantNode>) {
    u.tenant_suspended = u
        .tenant
        .is_some_and(|t| tenants.get(&t).is_some_and(|t| t.suspended));
    u.support = u.grants.iter().any(|g| g.source == Source::Support);
    u.admin = !u.deleted && !u.support && s.site_admins.contains(&u.id);
    u.guest = s.guest_user == Some(u.id);
}

/// Pre/post-order numbers and depths, and effective `locked`/`hidden`, by an explicit-stack walk.
fn number_tree(ctxs: &mut [CtxNode], root: u32) {
    let n = ctxs.len();
    let mut first_child = vec![NONE; n];
    let mut next_sibling = vec![NONE; n];
    for i in (0..n).rev() {
        let p = ctxs.get(i).map_or(NONE, |c| c.parent);
        if p != NONE && (p as usize) < n {
            if let Some(ns) = next_sibling.get_mut(i) {
                *ns = first_child.get(p as usize).copied().unwrap_or(NONE);
            }
            if let Some(fc) = first_child.get_mut(p as usize) {
                *fc = i as u32;
            }
        }
    }
    let mut counter = 0u32;
    // (node, entering)
    let mut stack = vec![(root, true)];
    while let Some((i, entering)) = stack.pop() {
        if entering {
            let (depth, locked, hidden) = match ctxs.get(i as usize).map(|c| c.parent) {
                Some(p) if p != NONE => ctxs
                    .get(p as usize)
                    .map_or((0, false, false), |pc| (pc.depth + 1, pc.locked, pc.hidden)),
                _ => (0, false, false),
            };
            if let Some(c) = ctxs.get_mut(i as usize) {
                c.pre = counter;
                c.depth = depth;
                c.locked |= locked;
                c.hidden |= hidden;
            }
            counter += 1;
            stack.push((i, false));
            let mut child = first_child.get(i as usize).copied().unwrap_or(NONE);
            let mut kids = Vec::new();
            while child != NONE {
                kids.push(child);
                child = next_sibling.get(child as usize).copied().unwrap_or(NONE);
            }
            for k in kids.into_iter().rev() {
                stack.push((k, true));
            }
        } else {
            if let Some(c) = ctxs.get_mut(i as usize) {
                c.post = counter;
            }
            counter += 1;
        }
    }
}
