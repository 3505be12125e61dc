//! Bundles (the slice of the site that answers one user's own questions, for browsers) and
//! `contexts_with_capability`.

use crate::caller::Caller;
use crate::error::{ApiError, Body, ensure};
use crate::store::Holder;
use axum::Json;
use axum::http::HeaderMap;
use axum::response::Response;
use capstan_api::schema::Snapshot;
use capstan_api::{
    BundleQuery, ContextPlan, ContextsAnswer, ContextsRequest, ErrorBody, Reach, codes,
};
use capstan_core::{CheckOptions, ContextId, QueryError, UserId};

/// Reads `?context=42&context=43&user=17` (repeated keys, which serde's form reader does not).
fn bundle_query(query: Option<&str>) -> Result<BundleQuery, ApiError> {
    let mut q = BundleQuery::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value.parse::<u32>().map_err(|_| {
                ApiError::bad(
                    codes::BAD_QUERY,
                    format!("`{key}` takes an id, not `{}`", crate::limits::clip(value)),
                )
            })
        };
        match key {
            "context" => q.context.push(number()?),
            "user" => q.user = Some(number()?),
            other => {
                return Err(ApiError::bad(
                    codes::BAD_QUERY,
                    format!("unknown parameter `{}`", crate::limits::clip(other)),
                ));
            }
        }
    }
    if q.context.len() > 1_000 {
        return Err(ApiError::bad(codes::BAD_QUERY, "at most 1,000 contexts"));
    }
    Ok(q)
}

/// The caller's own bundle (FORMAT.md "Bundles"): a capstan/1 snapshot that answers the
/// caller's questions at the given contexts, their ancestors and descendants (none given: the
/// whole tree) exactly as the site does, with no other user's record and nothing of a tenant
/// the caller can never enter. Every signed-in user may have its own, learners included, and a
/// support user within its scope; a service key or a whole-site administrator may ask for any
/// user's (`?user=`). ETag: the revision, the user and the contexts; `If-None-Match` → 304.
#[utoipa::path(get, path = "/api/v1/bundle", tag = "questions",
    security(("bearer" = [])),
    params(BundleQuery, ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer")),
    responses(
        (status = 200, description = "the bundle (capstan/1 with a `bundle` member)", body = Snapshot,
            headers(("ETag" = String, description = "revision, user and contexts"), ("X-Capstan-Revision" = String, description = "the revision number"))),
        (status = 304, description = "not modified",
            headers(("ETag" = String, description = "revision, user and contexts"), ("X-Capstan-Revision" = String, description = "the revision number"))),
        (status = 400, description = "bad query", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "another user's bundle, or no site identity", body = ErrorBody),
        (status = 404, description = "unknown context", body = ErrorBody),
    ))]
pub async fn get_bundle(
    caller: Caller,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let q = bundle_query(uri.query())?;
    let user = match (q.user, caller.user) {
        (Some(u), me) if Some(UserId(u)) != me => {
            ensure(
                caller.reach == Reach::Site && !matches!(caller.holder, Holder::Staff(_)),
                "another user's bundle is for service keys and whole-site administrators",
            )?;
            UserId(u)
        }
        (_, Some(me)) => me,
        (_, None) => {
            return Err(ApiError::forbidden(match caller.holder {
                Holder::Key(_) => "a service key names the user: ?user=",
                _ => "support staff have a bundle only while a grant is active",
            }));
        }
    };
    let view = caller.view();
    let roots: Vec<ContextId> = q.context.iter().copied().map(ContextId).collect();
    if let Some(c) = roots
        .iter()
        .find(|c| !view.whole() && !view.own_context(**c))
    {
        // Another tenant's context answers like a missing one.
        return Err(ApiError::from_query(QueryError::UnknownContext(*c)));
    }
    let site = &caller.site;
    let list: Vec<String> = q.context.iter().map(u32::to_string).collect();
    let tag = format!("\"{}-u{}-c{}\"", site.revision, user.0, list.join("."));
    super::site::snapshot_answer(&headers, &tag, site.revision, |_| {
        site.engine
            .bundle(user, &roots)
            .map(|cut| super::site::Payload::Text(cut.to_json().into()))
            .map_err(ApiError::from_query)
    })
}

/// The contexts of a level where a user has a capability, ascending (Moodle's
/// `get_user_capability_course` for courses), cut to what the caller may see; with `plan`, the
/// same answer as context paths for SQL (whole-site readers only).
#[utoipa::path(post, path = "/api/v1/contexts-with-capability", tag = "questions",
    security(("bearer" = [])),
    request_body = ContextsRequest,
    responses(
        (status = 200, description = "the contexts", body = ContextsAnswer),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not ask about that user, or a plan without a whole-site reach", body = ErrorBody),
        (status = 404, description = "unknown capability or user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn contexts_with_capability(
    caller: Caller,
    Body(q): Body<ContextsRequest>,
) -> Result<Json<ContextsAnswer>, ApiError> {
    let user = UserId(q.user);
    let e = &caller.site.engine;
    super::questions::may_ask(&caller, user, e.system_context())?;
    let opts = CheckOptions {
        doanything: q.doanything.unwrap_or(true),
        at: q.at.unwrap_or(caller.now),
    };
    let level = q.level.into();
    let view = caller.view();
    let contexts = e
        .contexts_with_capability(user, &q.capability, level, opts)
        .map_err(ApiError::from_query)?
        .into_iter()
        .filter(|c| {
            view.whole() || view.context(*c) || (Some(user) == caller.user && view.own_context(*c))
        })
        .map(|c| c.0)
        .collect();
    let plan = match q.plan {
        Some(true) => {
            ensure(
                view.whole(),
                "a plan of context paths is for whole-site readers",
            )?;
            Some(ContextPlan::from(
                e.contexts_with_capability_plan(user, &q.capability, level, opts)
                    .map_err(ApiError::from_query)?,
            ))
        }
        _ => None,
    };
    Ok(Json(ContextsAnswer { contexts, plan }))
}
