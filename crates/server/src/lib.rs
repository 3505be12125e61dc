//! capstan-server: the Capstan REST backend.
//!
//! The site lives in an embedded SQLite file (WAL, foreign keys on, migrations in
//! `migrations/`): the seed snapshot at revision 0 and every accepted batch of edits after it,
//! replayed into a [`capstan_core::Engine`] at start. Every request is authorised with that same
//! engine. Batches are all-or-nothing against a base revision (a stale base answers 409 with the
//! changes the client missed); each accepted batch is written, with its hash-chained audit
//! entry, in one transaction before it is acknowledged.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use capstan_core::queries::caps;
use capstan_core::{CheckOptions, ContextId, EditOp, Engine, Timestamp, UserId};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

/// Sessions last this long.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Failed logins allowed per account, and per address, within [`RATE_WINDOW_SECONDS`].
pub const RATE_LIMIT: usize = 5;
/// The rate-limit window.
pub const RATE_WINDOW_SECONDS: i64 = 300;
/// The largest request body accepted.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Where the server's time comes from (tests inject a manual clock).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp::from_unix_millis(ms)
    }
}

/// A JSON error with a stable code. 5xx answers never carry internal messages.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
    fn internal(what: impl std::fmt::Display) -> Self {
        eprintln!("capstan-server: internal error: {what}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
    fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let (Some(d), Some(obj)) = (self.details, body.as_object_mut()) {
            obj.insert("details".into(), d);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}

/// Parses a JSON body, mapping every failure to a 400 with a stable code.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "request body too large",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad("malformed_json", e.to_string()))
}

struct Inner {
    db: Connection,
    engine: Engine,
    revision: u64,
    site_json: Option<(u64, Arc<String>)>,
    failures: HashMap<String, Vec<i64>>,
}

/// The server state.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
}

/// What opening the store did on a first start.
pub struct Opened {
    /// The state.
    pub state: AppState,
    /// On a first start: the admin's username and password, to print once.
    pub created_admin: Option<(String, String)>,
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
    Ok(hex::encode(buf))
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Hashes a password with argon2id.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

impl AppState {
    /// Opens (or creates and seeds) the database at `path`. On a first start the demo site is
    /// seeded and user 2 (`admin`) gets `admin_password` or a random one.
    pub fn open(
        path: &FsPath,
        admin_password: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Opened, String> {
        let db =
            Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| e.to_string())?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| e.to_string())?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| e.to_string())?;
        db.execute_batch(include_str!("../migrations/001_init.sql"))
            .map_err(|e| format!("migration failed: {e}"))?;
        let seeded: Option<String> = db
            .query_row("SELECT json FROM snapshot WHERE revision = 0", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| e.to_string())?;
        let mut created_admin = None;
        let seed = match seeded {
            Some(json) => json,
            None => {
                let site = capstan_core::demo::demo_site();
                let json = site.to_json();
                let admin = site
                    .users
                    .iter()
                    .find(|u| u.id == UserId(2))
                    .map(|u| u.username.clone())
                    .unwrap_or_else(|| "admin".into());
                let password = match admin_password {
                    Some(p) => p,
                    None => random_hex(12)?,
                };
                let hash = hash_password(&password)?;
                let tx = db.unchecked_transaction().map_err(|e| e.to_string())?;
                tx.execute(
                    "INSERT INTO snapshot (revision, json) VALUES (0, ?1)",
                    params![json],
                )
                .map_err(|e| e.to_string())?;
                tx.execute(
                    "INSERT INTO credentials (user_id, username, password_hash) VALUES (2, ?1, ?2)",
                    params![admin, hash],
                )
                .map_err(|e| e.to_string())?;
                tx.commit().map_err(|e| e.to_string())?;
                created_admin = Some((admin, password));
                json
            }
        };
        let mut engine = Engine::from_json(&seed).map_err(|e| format!("stored site: {e}"))?;
        let mut revision = 0u64;
        {
            let mut stmt = db
                .prepare("SELECT revision, ops FROM changes ORDER BY revision")
                .map_err(|e| e.to_string())?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| e.to_string())?;
            for row in rows {
                let (rev, ops) = row.map_err(|e| e.to_string())?;
                let ops: Vec<EditOp> =
                    serde_json::from_str(&ops).map_err(|e| format!("change {rev}: {e}"))?;
                engine
                    .apply_all(ops)
                    .map_err(|(_, e)| format!("change {rev} no longer applies: {e}"))?;
                revision = rev as u64;
            }
        }
        let state = AppState {
            inner: Arc::new(Mutex::new(Inner {
                db,
                engine,
                revision,
                site_json: None,
                failures: HashMap::new(),
            })),
            clock,
        };
        if created_admin.is_some() {
            state.audit(None, "seed", &json!({"site": "demo"}))?;
        }
        Ok(Opened {
            state,
            created_admin,
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, ApiError> {
        self.inner
            .lock()
            .map_err(|_| ApiError::internal("state lock poisoned"))
    }

    fn audit(&self, actor: Option<u32>, action: &str, detail: &Value) -> Result<(), String> {
        let inner = self.inner.lock().map_err(|_| "lock poisoned".to_string())?;
        append_audit(
            &inner.db,
            &self.clock.now().to_string(),
            actor,
            action,
            detail,
        )
        .map_err(|e| e.to_string())
    }
}

fn append_audit(
    db: &Connection,
    at: &str,
    actor: Option<u32>,
    action: &str,
    detail: &Value,
) -> rusqlite::Result<()> {
    let prev: Option<(i64, String)> = db
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match prev {
        Some((s, h)) => (s + 1, h),
        None => (1, String::new()),
    };
    let detail = detail.to_string();
    let hash = chain_hash(&prev_hash, seq, at, actor, action, &detail);
    db.execute(
        "INSERT INTO audit (seq, at, actor, action, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, at, actor, action, detail, prev_hash, hash],
    )?;
    Ok(())
}

fn chain_hash(
    prev: &str,
    seq: i64,
    at: &str,
    actor: Option<u32>,
    action: &str,
    detail: &str,
) -> String {
    let actor = actor.map(|a| a.to_string()).unwrap_or_default();
    sha256_hex(&format!("{prev}\n{seq}\n{at}\n{actor}\n{action}\n{detail}"))
}

/// The router: the API under `/api/v1` and the built app from `dist` (index.html for any
/// other path, so that client routes reload).
pub fn router(state: AppState, dist: PathBuf) -> axum::Router {
    let index = dist.join("index.html");
    let statics = tower_http::services::ServeDir::new(&dist)
        .fallback(tower_http::services::ServeFile::new(index));
    axum::Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/sessions", post(login))
        .route("/api/v1/sessions/current", axum::routing::delete(logout))
        .route("/api/v1/site", get(site))
        .route("/api/v1/changes", get(changes).post(post_changes))
        .route("/api/v1/check", post(check))
        .route("/api/v1/users/{id}/password", put(set_password))
        .route("/api/v1/audit", get(audit_list))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/{*rest}", get(not_found).post(not_found))
        .fallback_service(statics)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Sign-in request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// A TOTP code (support staff).
    #[serde(default)]
    pub totp: Option<String>,
}

/// A signed-in user.
#[derive(Debug, Serialize)]
pub struct SessionUser {
    /// User id.
    pub id: u32,
    /// Username.
    pub username: String,
    /// Full name.
    pub fullname: Option<String>,
    /// Site admin.
    pub site_admin: bool,
    /// Tenant.
    pub tenant: Option<u32>,
}

fn client_addr(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("local")
        .to_string()
}

async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: LoginRequest = parse_body(&body)?;
    let now = st.clock.now();
    let now_s = now.unix_seconds();
    let mut inner = st.lock()?;
    let keys = [
        format!("user:{}", req.username),
        format!("addr:{}", client_addr(&headers)),
    ];
    for k in &keys {
        let list = inner.failures.entry(k.clone()).or_default();
        list.retain(|t| now_s - *t < RATE_WINDOW_SECONDS);
        if list.len() >= RATE_LIMIT {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed sign-ins: wait a few minutes",
            ));
        }
    }
    let cred: Option<(u32, String)> = inner
        .db
        .query_row(
            "SELECT user_id, password_hash FROM credentials WHERE username = ?1",
            params![req.username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let user = cred.and_then(|(id, hash)| verify_password(&req.password, &hash).then_some(id));
    let Some(user) = user.filter(|u| {
        inner
            .engine
            .user(UserId(*u))
            .is_some_and(|x| !x.deleted && !x.suspended)
    }) else {
        for k in keys {
            inner.failures.entry(k).or_default().push(now_s);
        }
        append_audit(
            &inner.db,
            &now.to_string(),
            None,
            "login_failed",
            &json!({"username": req.username}),
        )?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong username or password",
        ));
    };
    if inner.engine.is_support_user(UserId(user)) {
        // Support staff must pass a TOTP second factor; enrolment is not built yet, so they
        // cannot sign in at all rather than sign in with one factor.
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "second_factor_required",
            "support staff must sign in with a second factor",
        ));
    }
    let token = random_hex(32).map_err(ApiError::internal)?;
    let expires = now_s + SESSION_SECONDS;
    inner.db.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
        params![sha256_hex(&token), user, expires],
    )?;
    append_audit(&inner.db, &now.to_string(), Some(user), "login", &json!({}))?;
    let u = inner.engine.user(UserId(user)).cloned();
    let body = json!({
        "token": token,
        "expires_at": Timestamp::from_unix_seconds(expires).to_string(),
        "user": SessionUser {
            id: user,
            username: u.as_ref().map(|u| u.username.clone()).unwrap_or_default(),
            fullname: u.as_ref().and_then(|u| u.fullname.clone()),
            site_admin: inner.engine.is_site_admin(UserId(user)),
            tenant: u.as_ref().and_then(|u| u.tenant).map(|t| t.0),
        },
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

fn caller(inner: &Inner, headers: &HeaderMap, now: Timestamp) -> Result<UserId, ApiError> {
    let unauth = || ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first");
    let token = bearer(headers).ok_or_else(unauth)?;
    let row: Option<(u32, i64)> = inner
        .db
        .query_row(
            "SELECT user_id, expires_at FROM sessions WHERE token_hash = ?1",
            params![sha256_hex(&token)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        Some((u, exp)) if exp > now.unix_seconds() => {
            let ok = inner
                .engine
                .user(UserId(u))
                .is_some_and(|x| !x.deleted && !x.suspended);
            if ok { Ok(UserId(u)) } else { Err(unauth()) }
        }
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_expired",
            "the session has expired: sign in again",
        )),
        None => Err(unauth()),
    }
}

async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let inner = st.lock()?;
    let user = caller(&inner, &headers, st.clock.now())?;
    if let Some(t) = bearer(&headers) {
        inner.db.execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            params![sha256_hex(&t)],
        )?;
    }
    append_audit(
        &inner.db,
        &st.clock.now().to_string(),
        Some(user.0),
        "logout",
        &json!({}),
    )?;
    Ok(StatusCode::NO_CONTENT)
}

fn holds(e: &Engine, user: UserId, cap: &str, at: Timestamp) -> bool {
    e.has_capability(user, cap, e.system_context(), CheckOptions::at(at))
        .unwrap_or(false)
}

/// Whether `user` may read the whole site (role definitions, every tenant).
/// Configure the site (structure, users, passwords, the audit log).
const SITE_CONFIG: &str = "moodle/site:config";

/// Refuses with 403 and `why` unless `ok`.
fn ensure(ok: bool, why: &str) -> Result<(), ApiError> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(why))
    }
}

fn may_read_site(e: &Engine, user: UserId, at: Timestamp) -> bool {
    holds(e, user, caps::ROLE_MANAGE, at) || holds(e, user, SITE_CONFIG, at)
}

async fn site(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let now = st.clock.now();
    let mut inner = st.lock()?;
    let user = caller(&inner, &headers, now)?;
    ensure(
        may_read_site(&inner.engine, user, now),
        "reading the whole site needs moodle/role:manage at the system context",
    )?;
    let etag = format!("\"{}\"", inner.revision);
    let hit = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&inner.revision.to_string()) {
        h.insert("x-capstan-revision", v);
    }
    if hit {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let rev = inner.revision;
    let json = match &inner.site_json {
        Some((r, j)) if *r == rev => j.clone(),
        _ => {
            let j = Arc::new(inner.engine.to_json());
            inner.site_json = Some((rev, j.clone()));
            j
        }
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((StatusCode::OK, h, json.as_str().to_string()).into_response())
}

/// `?since=REV`.
#[derive(Debug, Deserialize)]
pub struct Since {
    /// The revision the client has.
    pub since: Option<u64>,
}

fn changes_since(db: &Connection, since: u64) -> Result<Vec<Value>, ApiError> {
    let mut stmt = db.prepare(
        "SELECT revision, ops, by_user, at FROM changes WHERE revision > ?1 ORDER BY revision",
    )?;
    let rows = stmt.query_map(params![since as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<u32>>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (rev, ops, by, at) = row?;
        let ops: Value = serde_json::from_str(&ops).map_err(ApiError::internal)?;
        out.push(json!({"revision": rev, "ops": ops, "by": by, "at": at}));
    }
    Ok(out)
}

async fn changes(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Since>,
) -> Result<Json<Value>, ApiError> {
    let now = st.clock.now();
    let inner = st.lock()?;
    let user = caller(&inner, &headers, now)?;
    ensure(
        may_read_site(&inner.engine, user, now),
        "reading changes needs moodle/role:manage",
    )?;
    let list = changes_since(&inner.db, q.since.unwrap_or(0))?;
    Ok(Json(json!({"revision": inner.revision, "changes": list})))
}

/// A batch of edits against a base revision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostChanges {
    /// The revision the client's site is based on.
    pub base_revision: u64,
    /// The edits, applied all or nothing.
    pub ops: Vec<EditOp>,
}

/// Why `user` may not make `op`, if it may not.
fn refuse(e: &Engine, user: UserId, op: &EditOp, at: Timestamp) -> Option<String> {
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
        _ => holds(e, user, SITE_CONFIG, at),
    };
    (!ok).then(|| {
        let what = serde_json::to_value(op)
            .ok()
            .and_then(|v| v.get("op").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        format!("not allowed to {what} here")
    })
}

async fn post_changes(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let now = st.clock.now();
    let mut inner = st.lock()?;
    let user = caller(&inner, &headers, now)?;
    let req: PostChanges = parse_body(&body)?;
    if req.base_revision != inner.revision {
        let missed = changes_since(&inner.db, req.base_revision)?;
        let body = json!({
            "code": "stale_revision",
            "message": format!("the site is at revision {}, not {}", inner.revision, req.base_revision),
            "revision": inner.revision,
            "missed": missed,
        });
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    }
    if req.ops.is_empty() {
        return Err(ApiError::bad(
            "empty_batch",
            "a batch needs at least one edit",
        ));
    }
    // Authorise each op against the site as it will be when the op runs.
    let mut next = inner.engine.clone();
    for (i, op) in req.ops.iter().enumerate() {
        if let Some(why) = refuse(&next, user, op, now) {
            let mut e = ApiError::forbidden(why);
            e.details = Some(json!({"index": i}));
            return Err(e);
        }
        if let Err(err) = next.apply(op.clone()) {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                err.code(),
                err.to_string(),
            );
            e.details = Some(json!({"index": i}));
            return Err(e);
        }
    }
    let rev = inner.revision + 1;
    let ops_json = serde_json::to_string(&req.ops).map_err(ApiError::internal)?;
    let at = now.to_string();
    {
        let tx = inner.db.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO changes (revision, ops, by_user, at) VALUES (?1, ?2, ?3, ?4)",
            params![rev as i64, ops_json, user.0, at],
        )?;
        append_audit(
            &tx,
            &at,
            Some(user.0),
            "changes",
            &json!({"revision": rev, "ops": req.ops}),
        )?;
        tx.commit()?;
    }
    inner.engine = next;
    inner.revision = rev;
    Ok((StatusCode::OK, Json(json!({"revision": rev}))).into_response())
}

/// A capability question.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Who.
    pub user: u32,
    /// The capability.
    pub capability: String,
    /// Where.
    pub context: u32,
    /// Let site admins through (default true).
    #[serde(default)]
    pub doanything: Option<bool>,
    /// The instant (default now).
    #[serde(default)]
    pub at: Option<String>,
}

async fn check(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let now = st.clock.now();
    let inner = st.lock()?;
    let user = caller(&inner, &headers, now)?;
    let req: CheckRequest = parse_body(&body)?;
    ensure(
        req.user == user.0 || may_read_site(&inner.engine, user, now),
        "checking another user needs moodle/role:manage at the system context",
    )?;
    let at = match req.at {
        Some(t) => Timestamp::parse(&t).map_err(|e| ApiError::bad("bad_time", e.to_string()))?,
        None => now,
    };
    let opts = CheckOptions {
        doanything: req.doanything.unwrap_or(true),
        at,
    };
    let x = inner
        .engine
        .explain(
            UserId(req.user),
            &req.capability,
            ContextId(req.context),
            opts,
        )
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.code(), e.to_string()))?;
    Ok(Json(json!({
        "allowed": x.allowed,
        "step": x.step,
        "rule": x.rule,
        "reason": x.reason,
    })))
}

/// A new password for a user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// The password (at least 8 characters).
    pub password: String,
}

async fn set_password(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<u32>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let now = st.clock.now();
    let inner = st.lock()?;
    let user = caller(&inner, &headers, now)?;
    let req: SetPassword = parse_body(&body)?;
    ensure(
        user.0 == id || holds(&inner.engine, user, SITE_CONFIG, now),
        "setting passwords needs moodle/site:config",
    )?;
    let Some(target) = inner.engine.user(UserId(id)).cloned() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            format!("no user `{id}`"),
        ));
    };
    if req.password.chars().count() < 8 {
        return Err(ApiError::bad(
            "weak_password",
            "a password needs at least 8 characters",
        ));
    }
    let hash = hash_password(&req.password).map_err(ApiError::internal)?;
    inner.db.execute(
        "INSERT INTO credentials (user_id, username, password_hash) VALUES (?1, ?2, ?3)
         ON CONFLICT(user_id) DO UPDATE SET password_hash = excluded.password_hash, username = excluded.username",
        params![id, target.username, hash],
    )?;
    append_audit(
        &inner.db,
        &now.to_string(),
        Some(user.0),
        "set_password",
        &json!({"user": id}),
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// Audit report filters.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Only entries by this user.
    pub user: Option<u32>,
    /// Entries after this sequence number (pagination).
    pub after: Option<i64>,
    /// Page size (at most 500, default 100).
    pub limit: Option<i64>,
}

async fn audit_list(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let now = st.clock.now();
    let inner = st.lock()?;
    let user = caller(&inner, &headers, now)?;
    ensure(
        holds(&inner.engine, user, SITE_CONFIG, now),
        "the audit log needs moodle/site:config",
    )?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let mut stmt = inner.db.prepare(
        "SELECT seq, at, actor, action, detail, hash FROM audit
         WHERE seq > ?1 AND (?2 IS NULL OR actor = ?2) ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![q.after.unwrap_or(0), q.user, limit], |r| {
        Ok(json!({
            "seq": r.get::<_, i64>(0)?,
            "at": r.get::<_, String>(1)?,
            "actor": r.get::<_, Option<u32>>(2)?,
            "action": r.get::<_, String>(3)?,
            "detail": serde_json::from_str::<Value>(&r.get::<_, String>(4)?).unwrap_or(Value::Null),
            "hash": r.get::<_, String>(5)?,
        }))
    })?;
    let entries: Vec<Value> = rows.collect::<Result<_, _>>()?;
    let next = entries.last().and_then(|e| e.get("seq").cloned());
    Ok(Json(json!({"entries": entries, "next_after": next})))
}

/// Recomputes the hash chain: `(ok, entries checked, first bad sequence number)`.
pub fn verify_chain(db: &Connection) -> rusqlite::Result<(bool, i64, Option<i64>)> {
    let mut stmt = db.prepare(
        "SELECT seq, at, actor, action, detail, prev_hash, hash FROM audit ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<u32>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let (mut prev, mut expect_seq, mut n) = (String::new(), 1i64, 0i64);
    for row in rows {
        let (seq, at, actor, action, detail, prev_hash, hash) = row?;
        n += 1;
        let ok = seq == expect_seq
            && prev_hash == prev
            && hash == chain_hash(&prev_hash, seq, &at, actor, &action, &detail);
        if !ok {
            return Ok((false, n, Some(seq)));
        }
        prev = hash;
        expect_seq += 1;
    }
    Ok((true, n, None))
}

async fn audit_verify(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let now = st.clock.now();
    let inner = st.lock()?;
    let user = caller(&inner, &headers, now)?;
    ensure(
        holds(&inner.engine, user, SITE_CONFIG, now),
        "the audit log needs moodle/site:config",
    )?;
    let (ok, n, bad) = verify_chain(&inner.db)?;
    Ok(Json(json!({"ok": ok, "entries": n, "first_bad": bad})))
}

async fn openapi() -> Json<Value> {
    Json(openapi_doc())
}

/// The OpenAPI 3 document of the API.
pub fn openapi_doc() -> Value {
    let err = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let secured = json!([{"bearer": []}]);
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Capstan", "version": "1", "description": "Capstan permission engine REST API"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}},
                "EditOp": {"type": "object", "required": ["op"], "properties": {"op": {"type": "string"}}, "additionalProperties": true}
            }
        },
        "paths": {
            "/api/v1/sessions": {"post": {"summary": "Sign in", "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string"}, "totp": {"type": "string", "nullable": true}}}}}},
                "responses": {"200": {"description": "a session", "content": {"application/json": {"schema": {"type": "object", "properties": {"token": {"type": "string"}, "expires_at": {"type": "string"}, "user": {"type": "object"}}}}}}, "400": err, "401": err, "429": err}}},
            "/api/v1/sessions/current": {"delete": {"summary": "Sign out", "security": secured, "responses": {"204": {"description": "signed out"}, "401": err}}},
            "/api/v1/site": {"get": {"summary": "The site snapshot (capstan/1) with its revision as ETag", "security": secured, "responses": {"200": {"description": "snapshot", "content": {"application/json": {"schema": {"type": "object"}}}}, "304": {"description": "not modified"}, "401": err, "403": err}}},
            "/api/v1/changes": {
                "get": {"summary": "Changes after a revision", "security": secured, "parameters": [{"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}}], "responses": {"200": {"description": "changes", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": err, "401": err, "403": err}},
                "post": {"summary": "Apply a batch of edits against a base revision, all or nothing", "security": secured, "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["base_revision", "ops"], "properties": {"base_revision": {"type": "integer", "minimum": 0}, "ops": {"type": "array", "items": {"$ref": "#/components/schemas/EditOp"}}}}}}},
                    "responses": {"200": {"description": "accepted", "content": {"application/json": {"schema": {"type": "object", "properties": {"revision": {"type": "integer"}}}}}}, "400": err, "401": err, "403": err, "409": {"description": "stale base revision, with the missed changes", "content": {"application/json": {"schema": {"type": "object"}}}}, "422": err}}
            },
            "/api/v1/check": {"post": {"summary": "has_capability with its explanation", "security": secured, "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["user", "capability", "context"], "properties": {"user": {"type": "integer"}, "capability": {"type": "string"}, "context": {"type": "integer"}, "doanything": {"type": "boolean"}, "at": {"type": "string"}}}}}},
                "responses": {"200": {"description": "answer", "content": {"application/json": {"schema": {"type": "object", "properties": {"allowed": {"type": "boolean"}, "step": {"type": "integer"}, "reason": {"type": "string"}, "rule": {"type": "object"}}}}}}, "400": err, "401": err, "403": err, "404": err}}},
            "/api/v1/users/{id}/password": {"put": {"summary": "Set a user's password", "security": secured, "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["password"], "properties": {"password": {"type": "string"}}}}}}, "responses": {"204": {"description": "set"}, "400": err, "401": err, "403": err, "404": err}}},
            "/api/v1/audit": {"get": {"summary": "Audit log, paginated", "security": secured, "parameters": [{"name": "user", "in": "query", "schema": {"type": "integer"}}, {"name": "after", "in": "query", "schema": {"type": "integer"}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}], "responses": {"200": {"description": "entries", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": err, "403": err}}},
            "/api/v1/audit/verify": {"get": {"summary": "Verify the audit hash chain", "security": secured, "responses": {"200": {"description": "result", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": err, "403": err}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
        }
    })
}
