//! Which edits a caller may make: every edit of a batch is authorised with capstan-core against
//! the site as it will be when the edit runs.
//!
//! - role definitions (rows at the system context, roles themselves): `moodle/role:manage` at
//!   the system context;
//! - overrides: `can_override` for the role and capability in that context;
//! - assignments: `can_assign`; support assignments only come from the support workflow;
//! - switches: a user switches itself (`can_switch`); ending one's own switch is always
//!   allowed, ending another's needs `moodle/site:config`;
//! - anything else (contexts, users, tenants, capabilities, settings, program contents):
//!   `moodle/site:config` at the system context; the list of site admins only by a site admin;
//! - a tenant-scoped caller, whatever its capabilities, only edits what it can see;
//! - only a site admin changes, suspends or deletes a site admin (as in Moodle); nobody
//!   deletes or suspends their own account or removes themselves from the site admins
//!   (another administrator has to); and whatever the batch, the site keeps an active site
//!   admin ([`crate::state::AppState::commit`] checks that for every batch).

use crate::caller::Caller;
use crate::error::ApiError;
use crate::reach::{SITE_CONFIG, View, holds};
use capstan_core::queries::caps;
use capstan_core::{EditOp, Engine, Source};

/// Refuses `op` (403) unless `caller` may make it in `e`.
pub fn authorize(e: &Engine, caller: &Caller, op: &EditOp) -> Result<(), ApiError> {
    let user = caller.site_user()?;
    let at = caller.now;
    let view = View {
        engine: e,
        reach: &caller.reach,
        me: caller.user,
    };
    if !view.edit(op) {
        return Err(ApiError::forbidden(format!(
            "{} names a context or user outside your tenant",
            op.name()
        )));
    }
    if locks_out(e, user, op) {
        return Err(ApiError::forbidden(format!(
            "{} would lock you out: ask another administrator",
            op.name()
        )));
    }
    if touches_site_admin(e, op) && !e.is_site_admin(user) {
        return Err(ApiError::forbidden(format!(
            "{} changes a site administrator: only a site administrator may",
            op.name()
        )));
    }
    let sys = e.system_context();
    let ok = match op {
        EditOp::SetPermission {
            role,
            context,
            capability,
            ..
        } => {
            if *context == sys {
                holds(e, user, caps::ROLE_MANAGE, at)
            } else {
                e.can_override(user, *role, *context, Some(capability), at)
                    .unwrap_or(false)
            }
        }
        EditOp::Assign { source, .. } | EditOp::Unassign { source, .. }
            if *source == Some(Source::Support) =>
        {
            return Err(ApiError::forbidden(
                "support assignments are made by the support access workflow only",
            ));
        }
        EditOp::Assign { role, context, .. } | EditOp::Unassign { role, context, .. } => {
            e.can_assign(user, *role, *context, at).unwrap_or(false)
        }
        EditOp::AddSwitch {
            user: u,
            role,
            context,
        } => *u == user && e.can_switch(user, *role, *context, at).unwrap_or(false),
        EditOp::RemoveSwitch { user: u, .. } => *u == user || holds(e, user, SITE_CONFIG, at),
        EditOp::PutRole { .. } | EditOp::DeleteRole { .. } => holds(e, user, caps::ROLE_MANAGE, at),
        EditOp::SetSettings { settings } => {
            let admins_change = settings.site_admins.as_ref().is_some_and(|list| {
                let mut a: Vec<u32> = list.clone();
                let mut b: Vec<u32> = e.settings().site_admins.iter().map(|u| u.0).collect();
                a.sort_unstable();
                b.sort_unstable();
                a != b
            }) || (settings.site_admins.is_none()
                && !e.settings().site_admins.is_empty());
            holds(e, user, SITE_CONFIG, at) && (!admins_change || e.is_site_admin(user))
        }
        _ => holds(e, user, SITE_CONFIG, at),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "not allowed to {} here",
            op.name()
        )))
    }
}

/// Whether `op` changes, suspends or deletes a user who is a site administrator.
fn touches_site_admin(e: &Engine, op: &EditOp) -> bool {
    match op {
        EditOp::DeleteUser { user } => e.is_site_admin(*user),
        EditOp::PutUser { user } => e.is_site_admin(capstan_core::UserId(user.id)),
        _ => false,
    }
}

/// Whether `op` would delete or suspend `user`'s own account or take it off the site admins.
fn locks_out(e: &Engine, user: capstan_core::UserId, op: &EditOp) -> bool {
    match op {
        EditOp::DeleteUser { user: u } => *u == user,
        EditOp::PutUser { user: u } => {
            u.id == user.0 && (u.deleted == Some(true) || u.suspended == Some(true))
        }
        EditOp::SetSettings { settings } => {
            e.is_site_admin(user)
                && !settings
                    .site_admins
                    .as_ref()
                    .is_some_and(|list| list.contains(&user.0))
        }
        _ => false,
    }
}
