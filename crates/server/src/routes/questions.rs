//! The resolver's questions over REST: the same answers as the core, for what the caller may
//! see. A whole-site caller (admin, manager, service key) may ask anything; a tenant
//! administrator asks about its tenant's users and contexts (others are "unknown") and needs
//! `moodle/role:review` there to ask about someone else; anyone may ask about itself.

use crate::caller::Caller;
use crate::error::{ApiError, Body, ensure};
use crate::reach::{ROLE_REVIEW, holds_at};
use axum::Json;
use capstan_api::{
    AssignmentRef, CheckAnswer, CheckRequest, Decision, ErrorBody, ExplainAnswer, OverviewLine,
    OverviewRequest, PermissionLine, PermissionsRequest, Reach, RoleQuestion, UsersAnswer,
    UsersRequest, ViewableRoles, ViewableRolesQuestion, VisibilityAnswer, VisibilityRequest,
    VisibleItem, VisibleItemsRequest, codes,
};
use capstan_core::{CheckOptions, ContextId, QueryError, RoleId, UserId};

/// Refuses a question the caller may not ask, or that names what it may not see. A context
/// or user outside the caller's view answers exactly like one that does not exist, so that
/// nobody maps another tenant by asking about itself.
pub(crate) fn may_ask(c: &Caller, about: UserId, context: ContextId) -> Result<(), ApiError> {
    let mine = Some(about) == c.user;
    let v = c.view();
    match c.reach {
        Reach::Site => Ok(()),
        Reach::Own => {
            ensure(
                mine,
                "asking about another user needs moodle/role:review (or a whole-site reach)",
            )?;
            if v.context(context) {
                Ok(())
            } else {
                Err(ApiError::from_query(QueryError::UnknownContext(context)))
            }
        }
        Reach::Tenant { .. } | Reach::Scope { .. } => {
            if mine && v.own_context(context) {
                return Ok(());
            }
            if !v.context(context) {
                return Err(ApiError::from_query(QueryError::UnknownContext(context)));
            }
            if !v.user(about) {
                return Err(ApiError::not_found(
                    codes::UNKNOWN_USER,
                    format!("unknown user `{about}`"),
                ));
            }
            let reviewer = c
                .user
                .is_some_and(|u| holds_at(&c.site.engine, u, ROLE_REVIEW, context, c.now));
            ensure(
                mine || reviewer,
                "asking about another user needs moodle/role:review in that context",
            )
        }
    }
}

/// Refuses a context the caller may not see (for questions about no user in particular).
fn may_see_context(c: &Caller, context: ContextId) -> Result<(), ApiError> {
    match c.reach {
        Reach::Site => Ok(()),
        Reach::Own => Err(ApiError::forbidden(
            "this question needs a whole-site or tenant reach",
        )),
        _ if c.view().context(context) => Ok(()),
        _ => Err(ApiError::from_query(QueryError::UnknownContext(context))),
    }
}

/// `has_capability` (SEMANTICS.md §2).
#[utoipa::path(post, path = "/api/v1/check", tag = "questions",
    security(("bearer" = [])),
    request_body = CheckRequest,
    responses(
        (status = 200, description = "the decision", body = CheckAnswer),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown capability, context or user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn check(
    caller: Caller,
    Body(q): Body<CheckRequest>,
) -> Result<Json<CheckAnswer>, ApiError> {
    let (user, context) = (UserId(q.user), ContextId(q.context));
    may_ask(&caller, user, context)?;
    let opts = CheckOptions {
        doanything: q.doanything.unwrap_or(true),
        at: q.at.unwrap_or(caller.now),
    };
    let rule = caller
        .site
        .engine
        .decision(user, &q.capability, context, opts)
        .map_err(ApiError::from_query)?;
    Ok(Json(CheckAnswer::from(rule)))
}

/// `has_capability` with its explanation (SEMANTICS.md §3).
#[utoipa::path(post, path = "/api/v1/explain", tag = "questions",
    security(("bearer" = [])),
    request_body = CheckRequest,
    responses(
        (status = 200, description = "the decision and why", body = ExplainAnswer),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown capability, context or user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn explain(
    caller: Caller,
    Body(q): Body<CheckRequest>,
) -> Result<Json<ExplainAnswer>, ApiError> {
    let (user, context) = (UserId(q.user), ContextId(q.context));
    may_ask(&caller, user, context)?;
    let opts = CheckOptions {
        doanything: q.doanything.unwrap_or(true),
        at: q.at.unwrap_or(caller.now),
    };
    let x = caller
        .site
        .engine
        .explain(user, &q.capability, context, opts)
        .map_err(ApiError::from_query)?;
    Ok(Json(ExplainAnswer::from(&x)))
}

/// Every capability relevant at a context, decided for one user ("Check permissions").
#[utoipa::path(post, path = "/api/v1/effective-permissions", tag = "questions",
    security(("bearer" = [])),
    request_body = PermissionsRequest,
    responses(
        (status = 200, description = "one line per capability", body = Vec<PermissionLine>),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown context or user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn effective_permissions(
    caller: Caller,
    Body(q): Body<PermissionsRequest>,
) -> Result<Json<Vec<PermissionLine>>, ApiError> {
    let (user, context) = (UserId(q.user), ContextId(q.context));
    may_ask(&caller, user, context)?;
    let lines = caller
        .site
        .engine
        .effective_permissions(user, context, CheckOptions::at(q.at.unwrap_or(caller.now)))
        .map_err(ApiError::from_query)?;
    Ok(Json(lines.iter().map(PermissionLine::from).collect()))
}

/// Who holds a capability in a context (`doanything` off, switches ignored).
#[utoipa::path(post, path = "/api/v1/users-with-capability", tag = "questions",
    security(("bearer" = [])),
    request_body = UsersRequest,
    responses(
        (status = 200, description = "the users", body = UsersAnswer),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs a whole-site or tenant reach", body = ErrorBody),
        (status = 404, description = "unknown capability or context", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn users_with_capability(
    caller: Caller,
    Body(q): Body<UsersRequest>,
) -> Result<Json<UsersAnswer>, ApiError> {
    let context = ContextId(q.context);
    may_see_context(&caller, context)?;
    let r = caller
        .site
        .engine
        .users_with_capability(&q.capability, context, q.at.unwrap_or(caller.now))
        .map_err(ApiError::from_query)?;
    let v = caller.view();
    Ok(Json(UsersAnswer {
        users: r
            .users
            .into_iter()
            .filter(|u| v.user(*u))
            .map(|u| u.0)
            .collect(),
        all_authenticated: r.all_authenticated,
    }))
}

/// Each role's definition and overrides of a capability.
#[utoipa::path(post, path = "/api/v1/capability-overview", tag = "questions",
    security(("bearer" = [])),
    request_body = OverviewRequest,
    responses(
        (status = 200, description = "one line per role", body = Vec<OverviewLine>),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs a whole-site or tenant reach", body = ErrorBody),
        (status = 404, description = "unknown capability or role", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn capability_overview(
    caller: Caller,
    Body(q): Body<OverviewRequest>,
) -> Result<Json<Vec<OverviewLine>>, ApiError> {
    may_see_context(&caller, caller.site.engine.system_context())?;
    let roles: Option<Vec<RoleId>> = q.roles.map(|r| r.into_iter().map(RoleId).collect());
    let rows = caller
        .site
        .engine
        .capability_overview(&q.capability, roles.as_deref())
        .map_err(ApiError::from_query)?;
    let v = caller.view();
    Ok(Json(
        rows.iter()
            .map(|r| {
                let mut line = OverviewLine::from(r);
                line.overrides.retain(|o| v.context(ContextId(o.context)));
                line
            })
            .collect(),
    ))
}

/// The three role-management questions share their shape.
fn role_question(
    caller: &Caller,
    q: &RoleQuestion,
    ask: impl Fn(&capstan_core::Engine, UserId, RoleId, ContextId) -> Result<bool, QueryError>,
) -> Result<Json<Decision>, ApiError> {
    let (user, context) = (UserId(q.user), ContextId(q.context));
    may_ask(caller, user, context)?;
    let allowed =
        ask(&caller.site.engine, user, RoleId(q.role), context).map_err(ApiError::from_query)?;
    Ok(Json(Decision { allowed }))
}

/// `can_assign` (SEMANTICS.md §4).
#[utoipa::path(post, path = "/api/v1/can-assign", tag = "questions",
    security(("bearer" = [])),
    request_body = RoleQuestion,
    responses(
        (status = 200, description = "the answer", body = Decision),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown role, context or user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn can_assign(
    caller: Caller,
    Body(q): Body<RoleQuestion>,
) -> Result<Json<Decision>, ApiError> {
    let at = q.at.unwrap_or(caller.now);
    role_question(&caller, &q, |e, u, r, c| e.can_assign(u, r, c, at))
}

/// `can_override` (SEMANTICS.md §4); without a capability: may the role be overridden at all.
#[utoipa::path(post, path = "/api/v1/can-override", tag = "questions",
    security(("bearer" = [])),
    request_body = RoleQuestion,
    responses(
        (status = 200, description = "the answer", body = Decision),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown role, capability, context or user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn can_override(
    caller: Caller,
    Body(q): Body<RoleQuestion>,
) -> Result<Json<Decision>, ApiError> {
    let at = q.at.unwrap_or(caller.now);
    let cap = q.capability.clone();
    role_question(&caller, &q, |e, u, r, c| {
        e.can_override(u, r, c, cap.as_deref(), at)
    })
}

/// `can_switch` (SEMANTICS.md §4).
#[utoipa::path(post, path = "/api/v1/can-switch", tag = "questions",
    security(("bearer" = [])),
    request_body = RoleQuestion,
    responses(
        (status = 200, description = "the answer", body = Decision),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown role, context or user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn can_switch(
    caller: Caller,
    Body(q): Body<RoleQuestion>,
) -> Result<Json<Decision>, ApiError> {
    let at = q.at.unwrap_or(caller.now);
    role_question(&caller, &q, |e, u, r, c| e.can_switch(u, r, c, at))
}

/// The roles a user may see in a context (Moodle's `get_viewable_roles`), in sort order.
#[utoipa::path(post, path = "/api/v1/viewable-roles", tag = "questions",
    security(("bearer" = [])),
    request_body = ViewableRolesQuestion,
    responses(
        (status = 200, description = "the roles", body = ViewableRoles),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown context", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn viewable_roles(
    caller: Caller,
    Body(q): Body<ViewableRolesQuestion>,
) -> Result<Json<ViewableRoles>, ApiError> {
    let (user, context) = (UserId(q.user), ContextId(q.context));
    may_ask(&caller, user, context)?;
    let at = q.at.unwrap_or(caller.now);
    let roles = caller
        .site
        .engine
        .viewable_roles(user, context, at)
        .map_err(ApiError::from_query)?;
    Ok(Json(ViewableRoles {
        roles: roles.into_iter().map(|r| r.0).collect(),
    }))
}

/// Every assignment whose role is not assignable at its context's level.
#[utoipa::path(get, path = "/api/v1/unsupported-assignments", tag = "questions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "sorted by (user, role, context)", body = Vec<AssignmentRef>),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs a whole-site or tenant reach", body = ErrorBody),
    ))]
pub async fn unsupported_assignments(caller: Caller) -> Result<Json<Vec<AssignmentRef>>, ApiError> {
    may_see_context(&caller, caller.site.engine.system_context())?;
    let v = caller.view();
    Ok(Json(
        caller
            .site
            .engine
            .unsupported_assignments()
            .iter()
            .filter(|k| v.context(k.context) && v.user(k.user))
            .map(AssignmentRef::from)
            .collect(),
    ))
}

/// Whether a course or program is visible to a user, and why (SEMANTICS.md §6).
#[utoipa::path(post, path = "/api/v1/visibility", tag = "questions",
    security(("bearer" = [])),
    request_body = VisibilityRequest,
    responses(
        (status = 200, description = "the answer", body = VisibilityAnswer),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown context or user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn visibility(
    caller: Caller,
    Body(q): Body<VisibilityRequest>,
) -> Result<Json<VisibilityAnswer>, ApiError> {
    let (user, context) = (UserId(q.user), ContextId(q.context));
    may_ask(&caller, user, context)?;
    let v = caller
        .site
        .engine
        .visible(user, context, q.at.unwrap_or(caller.now))
        .map_err(ApiError::from_query)?;
    Ok(Json(VisibilityAnswer::from(v)))
}

/// Every course and program the caller may see, with its visibility for one user.
#[utoipa::path(post, path = "/api/v1/visible-items", tag = "questions",
    security(("bearer" = [])),
    request_body = VisibleItemsRequest,
    responses(
        (status = 200, description = "the items", body = Vec<VisibleItem>),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user", body = ErrorBody),
        (status = 404, description = "unknown user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn visible_items(
    caller: Caller,
    Body(q): Body<VisibleItemsRequest>,
) -> Result<Json<Vec<VisibleItem>>, ApiError> {
    let user = UserId(q.user);
    may_ask(&caller, user, caller.site.engine.system_context())?;
    let v = caller.view();
    let own = caller.reach == Reach::Own;
    Ok(Json(
        caller
            .site
            .engine
            .visible_items(user, q.at.unwrap_or(caller.now))
            .iter()
            .filter(|i| v.context(i.context) || (own && i.visible))
            .map(VisibleItem::from)
            .collect(),
    ))
}
