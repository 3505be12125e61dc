//! Passwords and service keys.

use crate::auth;
use crate::caller::{Caller, may_make_keys};
use crate::error::{ApiError, Body, Id, ensure};
use crate::reach::SITE_CONFIG;
use crate::state::AppState;
use crate::store::{self, Holder};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use capstan_api::{ApiKey, ApiKeyCreated, ErrorBody, NewApiKey, SetPassword, codes};
use capstan_core::UserId;
use rusqlite::{OptionalExtension, params};
use serde_json::json;

/// Refuses support identities: whatever they made would outlive their grant.
fn not_support(caller: &Caller, what: &str) -> Result<(), ApiError> {
    ensure(
        !matches!(caller.holder, Holder::Staff(_))
            && !caller
                .user
                .is_some_and(|u| caller.site.engine.is_support_user(u)),
        &format!("support access cannot {what}: it would outlive the grant"),
    )
}

/// Sets a site user's password: one's own (with the current password), or, with
/// `moodle/site:config`, another user's; a site administrator's only by a site
/// administrator. Support identities set no passwords. The user's other sessions end.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "admin",
    security(("bearer" = [])),
    params(("id" = u32, Path, description = "the user", minimum = 1)),
    request_body = SetPassword,
    responses(
        (status = 204, description = "set"),
        (status = 400, description = "malformed body or weak password", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "not allowed, or the current password is wrong", body = ErrorBody),
        (status = 404, description = "unknown user", body = ErrorBody),
        (status = 409, description = "another user has that username", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "password too long", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn set_password(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(req): Body<SetPassword>,
) -> Result<StatusCode, ApiError> {
    let me = caller.site_user()?;
    not_support(&caller, "set passwords")?;
    auth::check_new_password(&req.password)?;
    let id = UserId(id as u32);
    let e = &caller.site.engine;
    let own = me == id;
    ensure(
        own || caller.holds(SITE_CONFIG),
        "setting another user's password needs moodle/site:config",
    )?;
    let target = e
        .user(id)
        .filter(|u| caller.view().user(u.id) && !u.deleted)
        .cloned()
        .ok_or_else(|| ApiError::not_found(codes::UNKNOWN_USER, format!("unknown user `{id}`")))?;
    ensure(
        !e.is_site_admin(id) || e.is_site_admin(me),
        "only a site administrator may set a site administrator's password",
    )?;
    if own {
        let current: Option<String> = st
            .db()?
            .query_row(
                "SELECT password_hash FROM credentials WHERE user_id = ?1",
                params![id.0],
                |r| r.get(0),
            )
            .optional()?;
        let given = req.current_password.as_deref().unwrap_or("");
        if !auth::verify_async(given, current.as_deref()).await? {
            return Err(ApiError::forbidden(
                "changing your own password needs your current password",
            )
            .with_code(codes::BAD_CREDENTIALS));
        }
    }
    if e.users()
        .iter()
        .any(|u| u.id != id && !u.deleted && u.username == target.username)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::DUPLICATE_USERNAME,
            format!(
                "another user is named `{}`: rename one first",
                target.username
            ),
        ));
    }
    let hash = auth::new_password_hash(&req.password).await?;
    st.check_store()?;
    {
        let db = st.db()?;
        let tx = db.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM credentials WHERE username = ?1 AND user_id <> ?2",
            params![target.username, id.0],
        )?;
        tx.execute(
            "INSERT INTO credentials (user_id, username, password_hash) VALUES (?1, ?2, ?3)
             ON CONFLICT(user_id) DO UPDATE SET password_hash = excluded.password_hash,
                                                username = excluded.username",
            params![id.0, target.username, hash],
        )?;
        tx.execute(
            "DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2",
            params![id.0, caller.token_hash],
        )?;
        crate::audit::append(&tx, &caller.record("set_password", json!({"user": id.0})))?;
        tx.commit()?;
    }
    st.drop_tokens(|h, t| t.holder != Holder::User(id.0) || h == caller.token_hash);
    Ok(StatusCode::NO_CONTENT)
}

/// Keys are managed with `moodle/site:config` by a site user that is not a support identity.
fn need_key_admin(caller: &Caller) -> Result<UserId, ApiError> {
    not_support(caller, "manage service keys")?;
    ensure(
        caller.holds(SITE_CONFIG),
        "service keys need moodle/site:config",
    )?;
    caller.site_user()
}

/// The service keys, with their status.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the keys (never their secrets)", body = Vec<ApiKey>),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/site:config", body = ErrorBody),
    ))]
pub async fn list_keys(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    need_key_admin(&caller)?;
    let e = &caller.site.engine;
    let ok = |u: u32| may_make_keys(e, UserId(u), caller.now);
    Ok(Json(store::api_keys(&*st.db()?, caller.now, &ok)?))
}

/// Makes a service key; its secret is shown this once. It expires (90 days unless told,
/// at most 365) and works only while its creator may make keys.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "admin",
    security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "made", body = ApiKeyCreated),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/site:config; never a support identity", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn create_key(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<NewApiKey>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let me = need_key_admin(&caller)?;
    let (key, secret) = st.create_api_key(&req.name, Some(me), req.expires_in_days)?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { key, secret })))
}

/// Revokes a service key: it stops working at once (the list keeps it, marked revoked).
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = u32, Path, description = "the key", minimum = 1)),
    responses(
        (status = 204, description = "revoked"),
        (status = 400, description = "not an id", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/site:config", body = ErrorBody),
        (status = 404, description = "no such key, or already revoked", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn delete_key(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    need_key_admin(&caller)?;
    let id = id as u32;
    st.check_store()?;
    {
        let db = st.db()?;
        let tx = db.unchecked_transaction()?;
        let n = tx.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, caller.now.to_string()],
        )?;
        if n == 0 {
            return Err(ApiError::not_found(
                codes::NOT_FOUND,
                format!("no service key `{id}` in force"),
            ));
        }
        crate::audit::append(&tx, &caller.record("api_key_revoked", json!({"key": id})))?;
        tx.commit()?;
    }
    st.drop_tokens(|_, t| t.holder != Holder::Key(id));
    Ok(StatusCode::NO_CONTENT)
}
