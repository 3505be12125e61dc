//! Signing in and out.

use crate::audit::Record;
use crate::auth::{self, AttemptKeys, SESSION_SECONDS};
use crate::caller::Caller;
use crate::error::{ApiError, Body};
use crate::reach::{may_sign_in, reach_of};
use crate::state::{AppState, Token};
use crate::store::{self, Holder};
use crate::totp;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use capstan_api::{ErrorBody, Login, Me, Reach, SessionCreated, StaffLogin, codes};
use capstan_core::{Timestamp, UserId};
use rusqlite::{OptionalExtension, params};
use serde_json::json;
use std::net::SocketAddr;

/// The client's address: the socket's peer, or, when the peer is a trusted reverse proxy
/// (`--trusted-proxy`), the nearest address in `X-Forwarded-For` that is not one; `local`
/// when the router runs without a socket. A client never chooses its own address: the
/// header is read only from trusted proxies.
pub struct Peer(pub String);

impl axum::extract::FromRequestParts<AppState> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
        else {
            return Ok(Peer("local".into()));
        };
        Ok(Peer(
            client_address(peer, &parts.headers, st.trusted_proxies()).to_string(),
        ))
    }
}

/// The client behind `peer`: through trusted proxies, the right-most forwarded address that
/// is not itself a trusted proxy.
pub fn client_address(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for part in text.rsplit(',') {
            match part.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted.contains(&ip) {
                        return ip;
                    }
                }
                Err(_) => return client,
            }
        }
    }
    client
}

/// One sign-in attempt, throttled per account-and-address and per address.
struct Attempt<'a> {
    st: &'a AppState,
    keys: AttemptKeys,
    now: Timestamp,
}

impl<'a> Attempt<'a> {
    /// Starts an attempt, or refuses it (429, with `Retry-After`) while the account from
    /// this address, or the address, must wait.
    fn start(st: &'a AppState, account: &str, peer: &str) -> Result<Self, ApiError> {
        let attempt = Attempt {
            st,
            keys: AttemptKeys::new(account, peer),
            now: st.now(),
        };
        let wait = st
            .limiter()?
            .wait(&attempt.keys, attempt.now.unix_seconds());
        if wait > 0 {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                format!("too many failed sign-ins: wait {wait} s"),
            )
            .retry_after(wait));
        }
        Ok(attempt)
    }

    /// Counts a failure, logs it, and gives the 401 to answer.
    fn refuse(
        &self,
        action: &'static str,
        username: &str,
        code: &'static str,
        message: &str,
    ) -> ApiError {
        let logged = self
            .st
            .limiter()
            .map(|mut l| l.fail(&self.keys, self.now.unix_seconds()))
            .and_then(|()| {
                self.st.audit(&Record::new(
                    self.now,
                    None,
                    action,
                    json!({"username": crate::limits::clip(username), "reason": code}),
                ))
            });
        match logged {
            Ok(()) => ApiError::unauthorized(code, message),
            Err(e) => e,
        }
    }

    /// Forgets this account-and-address's failures.
    fn succeed(&self) {
        if let Ok(mut l) = self.st.limiter() {
            l.succeed(&self.keys);
        }
    }
}

/// A new session token.
struct NewToken {
    /// The secret, given to the client once.
    token: String,
    /// Its stored form.
    hash: String,
    /// Its expiry (unix seconds).
    expires: i64,
}

fn new_token(now: Timestamp) -> Result<NewToken, ApiError> {
    let token = auth::random_hex(32).map_err(ApiError::internal)?;
    let hash = auth::token_hash(&token);
    Ok(NewToken {
        token,
        hash,
        expires: now.unix_seconds() + SESSION_SECONDS,
    })
}

/// The answer to a sign-in: the token and who it belongs to, as `GET /sessions/current` says.
fn created(
    st: &AppState,
    NewToken {
        token,
        hash,
        expires,
    }: NewToken,
    holder: Holder,
    staff: Option<capstan_api::StaffAccount>,
    grant: Option<capstan_api::SupportGrant>,
    user: Option<UserId>,
) -> (StatusCode, Json<SessionCreated>) {
    st.add_token(
        hash.clone(),
        Token {
            holder,
            expires_at: Some(expires),
            creator: None,
        },
    );
    let site = st.site();
    let now = st.now();
    let reach = user
        .map(|u| reach_of(&site.engine, u, now))
        .unwrap_or(Reach::Own);
    let me = Caller {
        holder,
        user,
        staff,
        grant,
        site,
        now,
        reach,
        token_hash: hash,
    }
    .me();
    (
        StatusCode::CREATED,
        Json(SessionCreated {
            token,
            expires_at: Timestamp::from_unix_seconds(expires),
            me,
        }),
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
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn login(
    State(st): State<AppState>,
    Peer(peer): Peer,
    Body(req): Body<Login>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let attempt = Attempt::start(&st, &format!("user:{}", req.username), &peer)?;
    let cred: Option<(u32, String)> = st
        .db()?
        .query_row(
            "SELECT user_id, password_hash FROM credentials WHERE username = ?1",
            params![req.username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let ok = auth::verify_async(&req.password, cred.as_ref().map(|c| c.1.as_str())).await?;
    let site = st.site();
    // The credential must still be its user's, under the name the user has now.
    let user = cred
        .filter(|_| ok)
        .map(|c| UserId(c.0))
        .filter(|u| {
            site.engine
                .user(*u)
                .is_some_and(|x| x.username == req.username)
        })
        .filter(|u| may_sign_in(&site.engine, *u));
    let Some(user) = user else {
        return Err(attempt.refuse(
            "login_failed",
            &req.username,
            codes::BAD_CREDENTIALS,
            "wrong username or password",
        ));
    };
    attempt.succeed();
    st.check_store()?;
    let t = new_token(attempt.now)?;
    let mut r = Record::new(attempt.now, Some(user), "login", json!({}));
    r.tenants
        .extend(site.engine.user(user).and_then(|u| u.tenant).map(|t| t.0));
    let (store, hash, expires) = (st.clone(), t.hash.clone(), t.expires);
    crate::error::blocking(move || {
        let db = store.db()?;
        let tx = db.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![hash, user.0, expires],
        )?;
        crate::audit::append(&tx, &r)?;
        tx.commit()?;
        Ok(())
    })
    .await?;
    Ok(created(
        &st,
        t,
        Holder::User(user.0),
        None,
        None,
        Some(user),
    ))
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
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn staff_login(
    State(st): State<AppState>,
    Peer(peer): Peer,
    Body(req): Body<StaffLogin>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    if !st.site().engine.settings().support_access {
        return Err(
            ApiError::forbidden("support access is turned off on this site")
                .with_code(codes::SUPPORT_DISABLED),
        );
    }
    let attempt = Attempt::start(&st, &format!("staff:{}", req.username), &peer)?;
    let now = attempt.now;
    let staff = store::staff_by_name(&*st.db()?, &req.username)?;
    let password_ok = auth::verify_async(
        &req.password,
        staff.as_ref().map(|s| s.password_hash.as_str()),
    )
    .await?;
    let Some(staff) = staff.filter(|s| password_ok && !s.account.disabled) else {
        return Err(attempt.refuse(
            "staff_login_failed",
            &req.username,
            codes::BAD_CREDENTIALS,
            "wrong username or password",
        ));
    };
    let secret = st
        .secrets()
        .open(&staff.totp_secret)
        .and_then(|b32| totp::base32_decode(&b32))
        .unwrap_or_default();
    let refuse_code = || {
        attempt.refuse(
            "staff_login_failed",
            &req.username,
            codes::BAD_SECOND_FACTOR,
            "the code is wrong, expired or already used",
        )
    };
    if secret.is_empty() {
        return Err(refuse_code());
    }
    let Some(step) = totp::verify(&secret, &req.totp, now.unix_seconds(), staff.totp_last_step)
    else {
        return Err(refuse_code());
    };
    st.check_store()?;
    let t = new_token(now)?;
    let grant = {
        let db = st.db()?;
        let tx = db.unchecked_transaction()?;
        // A code works once: only the first sign-in to move the last used step past it wins,
        // however many arrive at the same time.
        let won = tx.execute(
            "UPDATE staff SET totp_last_step = ?2
             WHERE id = ?1 AND totp_last_step < ?2 AND disabled = 0",
            params![staff.account.id, step],
        )?;
        if won != 1 {
            drop(tx);
            drop(db);
            return Err(refuse_code());
        }
        tx.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, expires_at) VALUES (?1, ?2, ?3)",
            params![t.hash, staff.account.id, t.expires],
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
    attempt.succeed();
    let user = grant.as_ref().map(|g| UserId(g.user));
    let holder = Holder::Staff(staff.account.id);
    Ok(created(&st, t, holder, Some(staff.account), grant, user))
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
