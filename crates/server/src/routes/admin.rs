//! Passwords and service keys.

use crate::auth;
use crate::caller::Caller;
use crate::error::{ApiError, Body, Id, ensure};
use crate::reach::SITE_CONFIG;
use crate::state::AppState;
use crate::store::{self, Holder};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use capstan_api::{ApiKey, ApiKeyCreated, ErrorBody, NewApiKey, SetPassword, codes};
use capstan_core::UserId;
use rusqlite::params;
use serde_json::json;

/// Sets a site user's password (one's own, or anyone's with `moodle/site:config`). The
/// user's other sessions end.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "admin",
    security(("bearer" = [])),
    params(("id" = u32, Path, description = "the user", minimum = 1)),
    request_body = SetPassword,
    responses(
        (status = 204, description = "set"),
        (status = 400, description = "malformed body or weak password", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/site:config", body = ErrorBody),
        (status = 404, description = "unknown user", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn set_password(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(req): Body<SetPassword>,
) -> Result<StatusCode, ApiError> {
    let me = caller.site_user()?;
    let id = UserId(id as u32);
    ensure(
        (me == id && !matches!(caller.holder, Holder::Staff(_))) || caller.holds(SITE_CONFIG),
        "setting another user's password needs moodle/site:config",
    )?;
    let target = caller
        .site
        .engine
        .user(id)
        .filter(|u| caller.view().user(u.id) && !u.deleted)
        .cloned()
        .ok_or_else(|| ApiError::not_found(codes::UNKNOWN_USER, format!("unknown user `{id}`")))?;
    let hash = auth::new_password_hash(&req.password)?;
    {
        let db = st.db()?;
        let tx = db.unchecked_transaction()?;
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

/// The service keys.
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
    ensure(
        caller.holds(SITE_CONFIG),
        "service keys need moodle/site:config",
    )?;
    Ok(Json(store::api_keys(&*st.db()?)?))
}

/// Makes a service key; its secret is shown this once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "admin",
    security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "made", body = ApiKeyCreated),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/site:config", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn create_key(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<NewApiKey>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    ensure(
        caller.holds(SITE_CONFIG),
        "service keys need moodle/site:config",
    )?;
    let (key, secret) = st.create_api_key(&req.name, caller.user)?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { key, secret })))
}

/// Deletes a service key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = u32, Path, description = "the key", minimum = 1)),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "not an id", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/site:config", body = ErrorBody),
        (status = 404, description = "no such key", body = ErrorBody),
    ))]
pub async fn delete_key(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    ensure(
        caller.holds(SITE_CONFIG),
        "service keys need moodle/site:config",
    )?;
    let id = id as u32;
    {
        let db = st.db()?;
        let tx = db.unchecked_transaction()?;
        let n = tx.execute("DELETE FROM api_keys WHERE id = ?1", params![id])?;
        if n == 0 {
            return Err(ApiError::not_found(
                codes::NOT_FOUND,
                format!("no service key `{id}`"),
            ));
        }
        crate::audit::append(&tx, &caller.record("api_key_deleted", json!({"key": id})))?;
        tx.commit()?;
    }
    st.drop_tokens(|_, t| t.holder != Holder::Key(id));
    Ok(StatusCode::NO_CONTENT)
}
