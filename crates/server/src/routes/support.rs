//! Support access (SEMANTICS.md §7): staff accounts with a TOTP second factor, requests,
//! grants that make a temporary support user, revoke, and the sweep that removes the
//! temporary users of ended grants (their log entries stay, marked with the identifier).

use crate::audit::Record;
use crate::auth;
use crate::caller::Caller;
use crate::error::{ApiError, Body, Id, Params, blocking, ensure};
use crate::state::{AppState, Author, CommitError};
use crate::store::{self, Holder, NewGrant};
use crate::totp;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use capstan_api::{
    AllowRequest, DenyRequest, ErrorBody, GrantStatus, NewStaff, NewSupportRequest, RequestStatus,
    RequestsQuery, StaffAccount, StaffCreated, SupportGrant, SupportRequest, SupportScope,
    TotpReset, codes,
};
use capstan_core::queries::caps;
use capstan_core::snapshot::UserDoc;
use capstan_core::{Archetype, EditOp, Engine, RoleId, Source, TenantId, UserId};
use rusqlite::params;
use serde_json::json;
use std::cell::Cell;

/// The default length of a grant, in days.
pub const DEFAULT_DAYS: u32 = 1;
/// The longest grant, in days.
pub const MAX_DAYS: u32 = 30;

fn disabled() -> ApiError {
    ApiError::forbidden("support access is turned off on this site")
        .with_code(codes::SUPPORT_DISABLED)
}

fn unknown(what: &str, id: u64) -> ApiError {
    ApiError::not_found(
        codes::UNKNOWN_SUPPORT_ITEM,
        format!("no support {what} `{id}`"),
    )
}

fn bad_grant(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::BAD_SUPPORT_GRANT,
        message,
    )
}

fn state_error(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, codes::SUPPORT_STATE, message)
}

/// Top-level admins: `capstan/support:grant` at the system context, never a support identity.
fn need_granter(caller: &Caller) -> Result<UserId, ApiError> {
    ensure(
        !matches!(caller.holder, Holder::Staff(_)) && caller.holds(caps::SUPPORT_GRANT),
        "support access is managed by top-level admins (capstan/support:grant at the system context)",
    )?;
    caller.site_user()
}

fn need_staff(caller: &Caller) -> Result<StaffAccount, ApiError> {
    caller
        .staff
        .clone()
        .ok_or_else(|| ApiError::forbidden("only support staff ask for support access"))
}

/// A scope with the site and/or existing tenants, each once.
fn checked_scope(e: &Engine, scope: &SupportScope) -> Result<SupportScope, ApiError> {
    let mut tenants = scope.tenants.clone();
    tenants.sort_unstable();
    tenants.dedup();
    if !scope.site && tenants.is_empty() {
        return Err(bad_grant(
            "choose the top-level site and/or at least one tenant",
        ));
    }
    if !tenants.is_empty() && !e.settings().multitenancy {
        return Err(bad_grant(
            "multitenancy is off: support access can only be for the site",
        ));
    }
    if let Some(t) = tenants
        .iter()
        .find(|t| !e.tenants().iter().any(|x| x.id == TenantId(**t)))
    {
        return Err(bad_grant(format!("unknown tenant `{t}`")));
    }
    Ok(SupportScope {
        site: scope.site,
        tenants,
    })
}

/// Makes a support staff account; its TOTP secret is shown this once.
#[utoipa::path(post, path = "/api/v1/support/staff", tag = "support",
    security(("bearer" = [])),
    request_body = NewStaff,
    responses(
        (status = 201, description = "made", body = StaffCreated),
        (status = 400, description = "malformed body or weak password", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs capstan/support:grant", body = ErrorBody),
        (status = 409, description = "the username is taken", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn create_staff(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<NewStaff>,
) -> Result<(StatusCode, Json<StaffCreated>), ApiError> {
    need_granter(&caller)?;
    let username = req.username.trim().to_string();
    if username.is_empty()
        || username.chars().count() > 100
        || username.chars().any(char::is_whitespace)
    {
        return Err(ApiError::bad(
            codes::MALFORMED_JSON,
            "a username has 1 to 100 characters and no spaces",
        ));
    }
    let hash = auth::new_password_hash(&req.password).await?;
    let secret = totp::base32_encode(&auth::random_bytes(20).map_err(ApiError::internal)?);
    let sealed = st.secrets().seal(&secret).map_err(ApiError::internal)?;
    let now = caller.now;
    st.check_store()?;
    let db = st.db()?;
    if store::staff_by_name(&db, &username)?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::DUPLICATE_USERNAME,
            format!("a staff account `{username}` exists"),
        ));
    }
    let tx = db.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO staff (username, fullname, password_hash, totp_secret, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![username, req.fullname, hash, sealed, now.to_string()],
    )?;
    let id = tx.last_insert_rowid() as u32;
    crate::audit::append(
        &tx,
        &caller.record("staff_created", json!({"staff": id, "username": username})),
    )?;
    tx.commit()?;
    Ok((
        StatusCode::CREATED,
        Json(StaffCreated {
            account: StaffAccount {
                id,
                username: username.clone(),
                fullname: req.fullname,
                created_at: now,
                disabled: false,
            },
            otpauth_uri: totp::otpauth_uri("Capstan", &username, &secret),
            totp_secret: secret,
        }),
    ))
}

/// The support staff accounts.
#[utoipa::path(get, path = "/api/v1/support/staff", tag = "support",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the accounts", body = Vec<StaffAccount>),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs capstan/support:grant", body = ErrorBody),
    ))]
pub async fn list_staff(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<StaffAccount>>, ApiError> {
    need_granter(&caller)?;
    Ok(Json(store::staff_list(&*st.db()?)?))
}

/// Support staff ask for access, with a reason and the scope wanted.
#[utoipa::path(post, path = "/api/v1/support/requests", tag = "support",
    security(("bearer" = [])),
    request_body = NewSupportRequest,
    responses(
        (status = 201, description = "asked", body = SupportRequest),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "not support staff, or support access off", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "bad scope", body = ErrorBody),
    ))]
pub async fn create_request(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<NewSupportRequest>,
) -> Result<(StatusCode, Json<SupportRequest>), ApiError> {
    let staff = need_staff(&caller)?;
    let e = &caller.site.engine;
    if !e.settings().support_access {
        return Err(disabled());
    }
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ApiError::bad(
            codes::MALFORMED_JSON,
            "a reason has 1 to 2000 characters",
        ));
    }
    let scope = checked_scope(e, &req.scope)?;
    let db = st.db()?;
    let tx = db.unchecked_transaction()?;
    let id = store::insert_request(&tx, staff.id, reason, &scope, caller.now)?;
    let mut r = caller.record(
        "support_request",
        json!({"request": id, "reason": reason, "scope": scope}),
    );
    r.tenants.extend(scope.tenants.iter().copied());
    crate::audit::append(&tx, &r)?;
    tx.commit()?;
    let made = store::request(&db, id)?.ok_or_else(|| ApiError::internal("request vanished"))?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Support requests: all of them for top-level admins, one's own for support staff.
#[utoipa::path(get, path = "/api/v1/support/requests", tag = "support",
    security(("bearer" = [])),
    params(RequestsQuery),
    responses(
        (status = 200, description = "newest first", body = Vec<SupportRequest>),
        (status = 400, description = "bad query", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "neither an admin nor support staff", body = ErrorBody),
    ))]
pub async fn list_requests(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<RequestsQuery>,
) -> Result<Json<Vec<SupportRequest>>, ApiError> {
    let staff = match &caller.staff {
        Some(s) => Some(s.id),
        None => {
            need_granter(&caller)?;
            None
        }
    };
    Ok(Json(store::requests(&*st.db()?, staff, q.status)?))
}

/// Allows a pending request: a temporary support user with a unique identifier, assigned the
/// role (`source: support`, until the expiry) at the system context for the site and at the
/// tenant context and category of each tenant.
#[utoipa::path(post, path = "/api/v1/support/requests/{id}/allow", tag = "support",
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "the request", minimum = 1)),
    request_body = AllowRequest,
    responses(
        (status = 200, description = "the grant", body = SupportGrant),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs capstan/support:grant, or support access off", body = ErrorBody),
        (status = 404, description = "no such request or role", body = ErrorBody),
        (status = 409, description = "the request is not pending", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "bad scope or duration", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn allow(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(req): Body<AllowRequest>,
) -> Result<Json<SupportGrant>, ApiError> {
    blocking(move || allow_now(&st, &caller, id, req))
        .await
        .map(Json)
}

fn allow_now(
    st: &AppState,
    caller: &Caller,
    id: u64,
    req: AllowRequest,
) -> Result<SupportGrant, ApiError> {
    let admin = need_granter(caller)?;
    let e = &caller.site.engine;
    if !e.settings().support_access {
        return Err(disabled());
    }
    let request = store::request(&*st.db()?, id)?.ok_or_else(|| unknown("request", id))?;
    if request.status != RequestStatus::Pending {
        return Err(state_error(format!(
            "request {id} is {}, not pending",
            request.status.name()
        )));
    }
    let scope = checked_scope(e, req.scope.as_ref().unwrap_or(&request.scope))?;
    let days = req.duration_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(bad_grant(format!(
            "a grant lasts 1 to {MAX_DAYS} days, not {days}"
        )));
    }
    let role = match req.role {
        Some(r) => e
            .role(RoleId(r))
            .map(|r| r.id)
            .ok_or_else(|| ApiError::not_found("unknown_role", format!("unknown role `{r}`")))?,
        None => e
            .roles()
            .iter()
            .filter(|r| r.archetype == Some(Archetype::Manager))
            .map(|r| r.id)
            .min()
            .ok_or_else(|| bad_grant("the site has no manager role: choose a role"))?,
    };
    let now = caller.now;
    let expires = now.plus_seconds(i64::from(days) * 86_400);
    let identifier = format!("sup-{}", auth::random_hex(6).map_err(ApiError::internal)?);
    let user = Cell::new(UserId(0));
    let build = |e: &Engine| -> Result<Vec<EditOp>, ApiError> {
        // Never a former user's id: a new user inherits nothing of an old one.
        let id = st.next_user_id(e)?;
        user.set(id);
        Ok(grant_ops(
            e,
            id,
            role,
            &identifier,
            &request.staff_username,
            &scope,
            now,
            expires,
        ))
    };
    let made = Cell::new(0u64);
    st.commit_built(
        &caller.author(),
        &build,
        &|_, _| Ok(()),
        &|tx, revision| {
            let user = user.get();
            // Decided by someone else meanwhile: nothing is written.
            let pending: bool = tx.query_row(
                "SELECT status = 'pending' FROM support_requests WHERE id = ?1",
                params![id as i64],
                |r| r.get(0),
            )?;
            if !pending {
                return Err(state_error(format!("request {id} was decided meanwhile")));
            }
            let grant = store::insert_grant(
                tx,
                &NewGrant {
                    request: id,
                    staff: request.staff,
                    identifier: &identifier,
                    user: user.0,
                    role: role.0,
                    scope: &scope,
                    granted_by: admin.0,
                    created_at: now,
                    expires_at: expires,
                },
            )?;
            store::decide_request(tx, id, RequestStatus::Allowed, admin.0, now, None)?;
            let mut r = caller.record(
                "support_allow",
                json!({"request": id, "grant": grant, "identifier": identifier, "staff": request.staff_username,
                       "scope": scope, "role": role.0, "user": user.0, "expires_at": expires, "revision": revision}),
            );
            r.tenants.extend(scope.tenants.iter().copied());
            crate::audit::append(tx, &r)?;
            made.set(grant);
            Ok(())
        },
    )?;
    let grant = store::grant(&*st.db()?, made.get(), st.now())?
        .ok_or_else(|| ApiError::internal("grant vanished"))?;
    Ok(grant.grant)
}

/// The edits that make a temporary support user and its support assignments: at the system
/// context for the site, at the tenant context and category of each tenant.
#[allow(clippy::too_many_arguments)]
fn grant_ops(
    e: &Engine,
    user: UserId,
    role: RoleId,
    identifier: &str,
    staff: &str,
    scope: &SupportScope,
    from: capstan_core::Timestamp,
    until: capstan_core::Timestamp,
) -> Vec<EditOp> {
    let mut ops = vec![EditOp::PutUser {
        user: UserDoc {
            id: user.0,
            username: format!("support-{identifier}"),
            tenant: None,
            participant_of: None,
            deleted: None,
            suspended: None,
            fullname: Some(format!("Support: {staff}")),
            email: None,
            support_identifier: Some(identifier.to_string()),
        },
    }];
    let mut contexts = Vec::new();
    if scope.site {
        contexts.push(e.system_context());
    }
    for t in &scope.tenants {
        if let Some(t) = e.tenants().iter().find(|x| x.id == TenantId(*t)) {
            contexts.push(t.context);
            contexts.push(t.category);
        }
    }
    ops.extend(contexts.into_iter().map(|context| EditOp::Assign {
        user,
        role,
        context,
        from: Some(from),
        until: Some(until),
        source: Some(Source::Support),
    }));
    ops
}

fn refused(e: CommitError) -> ApiError {
    match e {
        CommitError::Refused(e) => e,
        CommitError::Stale { .. } => ApiError::internal("stale without a base"),
    }
}

/// Denies a pending request.
#[utoipa::path(post, path = "/api/v1/support/requests/{id}/deny", tag = "support",
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "the request", minimum = 1)),
    request_body = DenyRequest,
    responses(
        (status = 200, description = "the request", body = SupportRequest),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs capstan/support:grant", body = ErrorBody),
        (status = 404, description = "no such request", body = ErrorBody),
        (status = 409, description = "the request is not pending", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn deny(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(req): Body<DenyRequest>,
) -> Result<Json<SupportRequest>, ApiError> {
    let admin = need_granter(&caller)?;
    let db = st.db()?;
    let request = store::request(&db, id)?.ok_or_else(|| unknown("request", id))?;
    if request.status != RequestStatus::Pending {
        return Err(state_error(format!(
            "request {id} is {}, not pending",
            request.status.name()
        )));
    }
    let tx = db.unchecked_transaction()?;
    store::decide_request(
        &tx,
        id,
        RequestStatus::Denied,
        admin.0,
        caller.now,
        req.note.as_deref(),
    )?;
    let mut r = caller.record("support_deny", json!({"request": id, "note": req.note}));
    r.tenants.extend(request.scope.tenants.iter().copied());
    crate::audit::append(&tx, &r)?;
    tx.commit()?;
    Ok(Json(
        store::request(&db, id)?.ok_or_else(|| unknown("request", id))?,
    ))
}

/// Support grants with their status (active, expired, revoked): all of them for top-level
/// admins, one's own for support staff.
#[utoipa::path(get, path = "/api/v1/support/grants", tag = "support",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "newest first", body = Vec<SupportGrant>),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "neither an admin nor support staff", body = ErrorBody),
    ))]
pub async fn list_grants(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SupportGrant>>, ApiError> {
    let staff = match &caller.staff {
        Some(s) => Some(s.id),
        None => {
            need_granter(&caller)?;
            None
        }
    };
    Ok(Json(
        store::grants(&*st.db()?, staff, caller.now)?
            .into_iter()
            .map(|g| g.grant)
            .collect(),
    ))
}

/// Revokes an active grant: it ends at once and the temporary user is removed.
#[utoipa::path(post, path = "/api/v1/support/grants/{id}/revoke", tag = "support",
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "the grant", minimum = 1)),
    responses(
        (status = 200, description = "the grant, revoked", body = SupportGrant),
        (status = 400, description = "not an id", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs capstan/support:grant", body = ErrorBody),
        (status = 404, description = "no such grant", body = ErrorBody),
        (status = 409, description = "the grant has already ended", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<SupportGrant>, ApiError> {
    need_granter(&caller)?;
    blocking(move || {
        let now = caller.now;
        let row = store::grant(&*st.db()?, id, now)?.ok_or_else(|| unknown("grant", id))?;
        if row.grant.status != GrantStatus::Active {
            return Err(state_error(format!("grant {id} has already ended")));
        }
        end_grant(&st, &caller.author(), &row.grant, Some(&caller), now)?;
        let row = store::grant(&*st.db()?, id, st.now())?.ok_or_else(|| unknown("grant", id))?;
        Ok(Json(row.grant))
    })
    .await
}

/// Ends a grant: marks it (revoked, when `revoker` is given), deletes its temporary user from
/// the site and logs it, in one transaction.
fn end_grant(
    st: &AppState,
    author: &Author,
    g: &SupportGrant,
    revoker: Option<&Caller>,
    now: capstan_core::Timestamp,
) -> Result<(), ApiError> {
    let action = if revoker.is_some() {
        "support_revoke"
    } else {
        "support_expired"
    };
    let mark = |tx: &rusqlite::Transaction<'_>| -> Result<(), ApiError> {
        if revoker.is_some() {
            tx.execute(
                "UPDATE support_grants SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![g.id as i64, now.to_string()],
            )?;
        }
        tx.execute(
            "UPDATE support_grants SET user_removed = 1 WHERE id = ?1",
            params![g.id as i64],
        )?;
        let mut r = match revoker {
            Some(c) => c.record(action, json!({})),
            None => Record::new(now, None, action, json!({})),
        };
        r.detail = json!({"grant": g.id, "identifier": g.identifier, "user": g.user, "staff": g.staff_username});
        r.tenants.extend(g.scope.tenants.iter().copied());
        crate::audit::append(tx, &r)?;
        Ok(())
    };
    if st.site().engine.user(UserId(g.user)).is_some() {
        st.commit(
            author,
            None,
            vec![EditOp::DeleteUser {
                user: UserId(g.user),
            }],
            &|_, _| Ok(()),
            &|tx, _| mark(tx),
        )
        .map_err(refused)?;
    } else {
        let db = st.db()?;
        let tx = db.unchecked_transaction()?;
        mark(&tx)?;
        tx.commit()?;
    }
    Ok(())
}

/// Removes the temporary users of grants that have ended (expired or revoked); returns how
/// many. The engine already refuses them from their expiry instant on (it evaluates `until`);
/// this takes them off the site. Sessions whose time is over go too. The server runs it every
/// few seconds.
pub fn sweep(st: &AppState) -> Result<usize, ApiError> {
    st.purge_sessions()?;
    let now = st.now();
    let ended = store::ended_grants(&*st.db()?, now)?;
    for g in &ended {
        end_grant(st, &Author::default(), g, None, now)?;
    }
    Ok(ended.len())
}

fn staff_account(st: &AppState, id: u64) -> Result<store::StaffRow, ApiError> {
    let Ok(staff) = u32::try_from(id) else {
        return Err(unknown("staff account", id));
    };
    store::staff_by_id(&*st.db()?, staff)?.ok_or_else(|| unknown("staff account", id))
}

/// Ends every session of a staff account (rows and tokens).
fn end_staff_sessions(tx: &rusqlite::Transaction<'_>, staff: u32) -> Result<(), ApiError> {
    tx.execute(
        "DELETE FROM staff_sessions WHERE staff_id = ?1",
        params![staff],
    )?;
    Ok(())
}

/// Disables a staff account: it cannot sign in, its sessions end at once and its active
/// grants are revoked (their temporary users removed).
#[utoipa::path(post, path = "/api/v1/support/staff/{id}/disable", tag = "support",
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "the staff account", minimum = 1)),
    responses(
        (status = 200, description = "the account, disabled", body = StaffAccount),
        (status = 400, description = "not an id", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs capstan/support:grant", body = ErrorBody),
        (status = 404, description = "no such staff account", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn disable_staff(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<StaffAccount>, ApiError> {
    need_granter(&caller)?;
    blocking(move || set_disabled(&st, &caller, id, true))
        .await
        .map(Json)
}

/// Enables a disabled staff account again (it signs in with its password and TOTP).
#[utoipa::path(post, path = "/api/v1/support/staff/{id}/enable", tag = "support",
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "the staff account", minimum = 1)),
    responses(
        (status = 200, description = "the account, enabled", body = StaffAccount),
        (status = 400, description = "not an id", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs capstan/support:grant", body = ErrorBody),
        (status = 404, description = "no such staff account", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn enable_staff(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<StaffAccount>, ApiError> {
    need_granter(&caller)?;
    blocking(move || set_disabled(&st, &caller, id, false))
        .await
        .map(Json)
}

fn set_disabled(
    st: &AppState,
    caller: &Caller,
    id: u64,
    disabled: bool,
) -> Result<StaffAccount, ApiError> {
    let staff = staff_account(st, id)?.account;
    st.check_store()?;
    if disabled {
        let active: Vec<SupportGrant> = store::grants(&*st.db()?, Some(staff.id), caller.now)?
            .into_iter()
            .map(|g| g.grant)
            .filter(|g| g.status == GrantStatus::Active)
            .collect();
        for g in &active {
            end_grant(st, &caller.author(), g, Some(caller), caller.now)?;
        }
    }
    {
        let db = st.db()?;
        let tx = db.unchecked_transaction()?;
        tx.execute(
            "UPDATE staff SET disabled = ?2 WHERE id = ?1",
            params![staff.id, i64::from(disabled)],
        )?;
        if disabled {
            end_staff_sessions(&tx, staff.id)?;
        }
        let action = if disabled {
            "staff_disabled"
        } else {
            "staff_enabled"
        };
        crate::audit::append(
            &tx,
            &caller.record(
                action,
                json!({"staff": staff.id, "username": staff.username}),
            ),
        )?;
        tx.commit()?;
    }
    if disabled {
        st.drop_tokens(|_, t| t.holder != Holder::Staff(staff.id));
    }
    Ok(staff_account(st, id)?.account)
}

/// Resets a staff account's second factor: a new TOTP secret, shown this once; the old one
/// stops working and the account's sessions end.
#[utoipa::path(post, path = "/api/v1/support/staff/{id}/totp", tag = "support",
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "the staff account", minimum = 1)),
    responses(
        (status = 200, description = "the new secret", body = TotpReset),
        (status = 400, description = "not an id", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs capstan/support:grant", body = ErrorBody),
        (status = 404, description = "no such staff account", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn reset_totp(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<TotpReset>, ApiError> {
    need_granter(&caller)?;
    blocking(move || {
        let staff = staff_account(&st, id)?.account;
        let secret = totp::base32_encode(&auth::random_bytes(20).map_err(ApiError::internal)?);
        let sealed = st.secrets().seal(&secret).map_err(ApiError::internal)?;
        st.check_store()?;
        {
            let db = st.db()?;
            let tx = db.unchecked_transaction()?;
            tx.execute(
                "UPDATE staff SET totp_secret = ?2, totp_last_step = 0 WHERE id = ?1",
                params![staff.id, sealed],
            )?;
            end_staff_sessions(&tx, staff.id)?;
            crate::audit::append(
                &tx,
                &caller.record(
                    "staff_totp_reset",
                    json!({"staff": staff.id, "username": staff.username}),
                ),
            )?;
            tx.commit()?;
        }
        st.drop_tokens(|_, t| t.holder != Holder::Staff(staff.id));
        Ok(Json(TotpReset {
            otpauth_uri: totp::otpauth_uri("Capstan", &staff.username, &secret),
            totp_secret: secret,
            account: staff,
        }))
    })
    .await
}
