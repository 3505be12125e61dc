//! Signing in and out.

use crate::audit::Record;
use crate::auth::{self, SESSION_SECONDS};
use crate::caller::Caller;
use crate::error::{ApiError, Body};
use crate::reach::reach_of;
use crate::state::{AppState, Token};
use crate::store::{self, Holder};
use crate::totp;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use capstan_api::{ErrorBody, Login, Me, PrincipalKind, Reach, SessionCreated, StaffLogin, codes};
use capstan_core::{Timestamp, UserId};
use rusqlite::{OptionalExtension, params};
use serde_json::json;
use std::net::SocketAddr;

/// The client's address: the socket's peer (forwarding headers are not trusted); `local`
/// when the router runs without a socket (tests).
pub struct Peer(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_else(|| "local".into()),
        ))
    }
}

fn limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        "too many failed sign-ins: wait a few minutes",
    )
}

/// Sign in with a password.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    request_body = Login,
    responses(
        (status = 201, description = "signed in", body = SessionCreated),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "wrong username or password", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 429, description = "too many failed sign-ins", body = ErrorBody),
    ))]
pub async fn login(
    State(st): State<AppState>,
    Peer(peer): Peer,
    Body(req): Body<Login>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let now = st.now();
    let now_s = now.unix_seconds();
    let keys = [format!("user:{}", req.username), format!("addr:{peer}")];
    if st.limiter()?.blocked(&keys, now_s) {
        return Err(limited());
    }
    let cred: Option<(u32, String)> = st
        .db()?
        .query_row(
            "SELECT user_id, password_hash FROM credentials WHERE username = ?1",
            params![req.username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    // Verify against a dummy hash for unknown names: the answer takes as long either way.
    let ok = verify_or_dummy(&req.password, cred.as_ref().map(|c| c.1.as_str()));
    let site = st.site();
    let e = &site.engine;
    let user = cred.filter(|_| ok).map(|c| UserId(c.0)).filter(|u| {
        e.user(*u).is_some_and(|x| {
            !x.deleted
                && !x.suspended
                && !x
                    .tenant
                    .is_some_and(|t| e.tenants().iter().any(|tt| tt.id == t && tt.suspended))
        })
    });
    let Some(user) = user else {
        st.limiter()?.fail(&keys, now_s);
        st.audit(&Record::new(
            now,
            None,
            "login_failed",
            json!({"username": req.username}),
        ))?;
        return Err(ApiError::unauthorized(
            codes::BAD_CREDENTIALS,
            "wrong username or password",
        ));
    };
    let token = auth::random_hex(32).map_err(ApiError::internal)?;
    let hash = auth::token_hash(&token);
    let expires = now_s + SESSION_SECONDS;
    {
        let db = st.db()?;
        db.execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![hash, user.0, expires],
        )?;
        let mut r = Record::new(now, Some(user), "login", json!({}));
        r.tenants
            .extend(e.user(user).and_then(|u| u.tenant).map(|t| t.0));
        crate::audit::append(&db, &r)?;
    }
    st.add_token(
        hash.clone(),
        Token {
            holder: Holder::User(user.0),
            expires_at: Some(expires),
        },
    );
    let u = e.user(user);
    let me = Me {
        kind: PrincipalKind::User,
        user: Some(user.0),
        username: u.map(|u| u.username.clone()).unwrap_or_default(),
        fullname: u.and_then(|u| u.fullname.clone()),
        site_admin: e.is_site_admin(user),
        tenant: u.and_then(|u| u.tenant).map(|t| t.0),
        reach: reach_of(e, user, now),
        support: None,
    };
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            token,
            expires_at: Timestamp::from_unix_seconds(expires),
            me,
        }),
    ))
}

fn verify_or_dummy(password: &str, hash: Option<&str>) -> bool {
    match hash {
        Some(h) => auth::verify_password(password, h),
        None => {
            let _ = auth::verify_password(password, auth::dummy_hash());
            false
        }
    }
}

/// Support staff sign in: password and, every time, a TOTP code.
#[utoipa::path(post, path = "/api/v1/support/sessions", tag = "support",
    request_body = StaffLogin,
    responses(
        (status = 201, description = "signed in", body = SessionCreated),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "wrong username, password or code", body = ErrorBody),
        (status = 403, description = "support access is turned off", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 429, description = "too many failed sign-ins", body = ErrorBody),
    ))]
pub async fn staff_login(
    State(st): State<AppState>,
    Peer(peer): Peer,
    Body(req): Body<StaffLogin>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let now = st.now();
    let now_s = now.unix_seconds();
    if !st.site().engine.settings().support_access {
        return Err(
            ApiError::forbidden("support access is turned off on this site")
                .with_code(codes::SUPPORT_DISABLED),
        );
    }
    let keys = [format!("staff:{}", req.username), format!("addr:{peer}")];
    if st.limiter()?.blocked(&keys, now_s) {
        return Err(limited());
    }
    let staff = store::staff_by_name(&*st.db()?, &req.username)?;
    let password_ok = verify_or_dummy(
        &req.password,
        staff.as_ref().map(|s| s.password_hash.as_str()),
    );
    let fail = |code: &'static str,
                message: &str|
     -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
        st.limiter()?.fail(&keys, now_s);
        st.audit(&Record::new(
            now,
            None,
            "staff_login_failed",
            json!({"username": req.username, "reason": code}),
        ))?;
        Err(ApiError::unauthorized(code, message))
    };
    let Some(staff) = staff.filter(|_| password_ok) else {
        return fail(codes::BAD_CREDENTIALS, "wrong username or password");
    };
    let secret = totp::base32_decode(&staff.totp_secret).unwrap_or_default();
    let Some(step) = totp::verify(&secret, &req.totp, now_s, staff.totp_last_step) else {
        return fail(
            codes::BAD_SECOND_FACTOR,
            "the code is wrong, expired or already used",
        );
    };
    let token = auth::random_hex(32).map_err(ApiError::internal)?;
    let hash = auth::token_hash(&token);
    let expires = now_s + SESSION_SECONDS;
    let grant = {
        let db = st.db()?;
        let tx = db.unchecked_transaction()?;
        tx.execute(
            "UPDATE staff SET totp_last_step = ?2 WHERE id = ?1",
            params![staff.account.id, step],
        )?;
        tx.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, expires_at) VALUES (?1, ?2, ?3)",
            params![hash, staff.account.id, expires],
        )?;
        let grant = store::active_grant(&tx, staff.account.id, now)?;
        let mut r = Record::new(
            now,
            grant.as_ref().map(|g| UserId(g.user)),
            "staff_login",
            json!({}),
        );
        r.staff = Some(staff.account.username.clone());
        r.support_identifier = grant.as_ref().map(|g| g.identifier.clone());
        crate::audit::append(&tx, &r)?;
        tx.commit()?;
        grant
    };
    st.add_token(
        hash,
        Token {
            holder: Holder::Staff(staff.account.id),
            expires_at: Some(expires),
        },
    );
    let site = st.site();
    let me = Caller {
        holder: Holder::Staff(staff.account.id),
        user: grant.as_ref().map(|g| UserId(g.user)),
        reach: grant
            .as_ref()
            .map(|g| reach_of(&site.engine, UserId(g.user), now))
            .unwrap_or(Reach::Own),
        staff: Some(staff.account),
        grant,
        site: site.clone(),
        now,
        token_hash: String::new(),
    }
    .me();
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            token,
            expires_at: Timestamp::from_unix_seconds(expires),
            me,
        }),
    ))
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/sessions/current", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller", body = Me),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "support access is turned off", body = ErrorBody),
    ))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(caller.me())
}

/// Sign out: the token stops working at once.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "signed out"),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "a service key (delete it instead) or support access off", body = ErrorBody),
    ))]
pub async fn logout(State(st): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    let table = match caller.holder {
        Holder::User(_) => "sessions",
        Holder::Staff(_) => "staff_sessions",
        Holder::Key(_) => {
            return Err(ApiError::forbidden(
                "a service key is not a session: delete the key to end it",
            ));
        }
    };
    {
        let db = st.db()?;
        db.execute(
            &format!("DELETE FROM {table} WHERE token_hash = ?1"),
            params![caller.token_hash],
        )?;
        crate::audit::append(&db, &caller.record("logout", json!({})))?;
    }
    st.drop_tokens(|hash, _| hash != caller.token_hash);
    Ok(StatusCode::NO_CONTENT)
}
