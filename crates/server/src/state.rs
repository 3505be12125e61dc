//! The server's state: the published site (an engine at a revision, swapped whole on every
//! accepted batch so that readers never wait for writers), the SQLite store (one writer at a
//! time), the token table and the sign-in rate limit.

use crate::audit::{self, Record};
use crate::auth::{self, Limiter};
use crate::error::ApiError;
use crate::reach::{View, op_tenants};
use crate::store::{self, Holder};
use capstan_api::{ErrorDetails, IssueItem, Reach, codes};
use capstan_core::{EditError, EditOp, Engine, Timestamp, UserId};
use rusqlite::{Connection, Transaction, params};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

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

/// The site at one revision, with its serialised forms made on first use.
pub struct Published {
    /// The compiled site.
    pub engine: Engine,
    /// Its revision (0: the seed).
    pub revision: u64,
    full_json: OnceLock<Arc<str>>,
    slices: Mutex<HashMap<u32, Arc<str>>>,
}

impl Published {
    fn new(engine: Engine, revision: u64) -> Self {
        Published {
            engine,
            revision,
            full_json: OnceLock::new(),
            slices: Mutex::new(HashMap::new()),
        }
    }

    /// The JSON snapshot for a reach (`None` for a caller that may read no site). A tenant's
    /// cut is the same for every reader of that tenant, so it is made once per revision.
    pub fn json_for(&self, reach: Reach) -> Option<Arc<str>> {
        match reach {
            Reach::Site => Some(
                self.full_json
                    .get_or_init(|| Arc::from(self.engine.to_json()))
                    .clone(),
            ),
            Reach::Tenant { tenant } => {
                let view = View {
                    engine: &self.engine,
                    reach,
                    me: None,
                };
                let mut cache = self.slices.lock().ok()?;
                let text = cache
                    .entry(tenant)
                    .or_insert_with(|| {
                        Arc::from(view.snapshot().map(|d| d.to_json()).unwrap_or_default())
                    })
                    .clone();
                Some(text)
            }
            Reach::Own => None,
        }
    }
}

/// A live token.
#[derive(Debug, Clone, Copy)]
pub struct Token {
    /// Whose.
    pub holder: Holder,
    /// Expiry (unix seconds); keys have none.
    pub expires_at: Option<i64>,
}

struct Shared {
    clock: Arc<dyn Clock>,
    site: RwLock<Arc<Published>>,
    db: Mutex<Connection>,
    tokens: RwLock<HashMap<String, Token>>,
    limiter: Mutex<Limiter>,
}

/// The server state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

/// How to open the store.
#[derive(Default)]
pub struct OpenOptions {
    /// On a first start: the first site admin's password (else a random one).
    pub admin_password: Option<String>,
    /// On a first start: the snapshot to seed with (else the demo site).
    pub seed: Option<String>,
}

/// What opening the store did.
pub struct Opened {
    /// The state.
    pub state: AppState,
    /// On a first start: the admin's username and password, to print once.
    pub created_admin: Option<(String, String)>,
}

/// Who made a batch.
#[derive(Debug, Clone, Default)]
pub struct Author {
    /// The site user (none: the server itself).
    pub user: Option<UserId>,
    /// The staff account's username behind a support identity.
    pub staff: Option<String>,
    /// The support identifier.
    pub support_identifier: Option<String>,
}

/// Why a batch was not committed.
pub enum CommitError {
    /// The base revision is not the current one.
    Stale {
        /// The current revision.
        revision: u64,
    },
    /// Refused (authorisation, validation, storage).
    Refused(ApiError),
}

impl From<ApiError> for CommitError {
    fn from(e: ApiError) -> Self {
        CommitError::Refused(e)
    }
}

impl From<rusqlite::Error> for CommitError {
    fn from(e: rusqlite::Error) -> Self {
        CommitError::Refused(e.into())
    }
}

/// An edit the core refused, as 422 with its code (and every validation problem).
pub fn edit_error(e: EditError) -> ApiError {
    let mut err = ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        e.code(),
        e.to_string(),
    );
    if let EditError::Invalid(issues) = &e {
        err.details = Some(ErrorDetails {
            index: None,
            issues: issues.iter().map(IssueItem::from).collect(),
        });
    }
    err
}

/// The value an edit replaces, for the audit log's before/after.
fn before(e: &Engine, op: &EditOp) -> Value {
    use capstan_core::snapshot::*;
    let v = |x: Option<Value>| x.unwrap_or(Value::Null);
    match op {
        EditOp::SetPermission {
            role,
            context,
            capability,
            ..
        } => json!(e.permission_row(*role, *context, capability)),
        EditOp::Assign {
            user,
            role,
            context,
            source,
            ..
        }
        | EditOp::Unassign {
            user,
            role,
            context,
            source,
        } => v(e
            .assignments_of(*user)
            .iter()
            .find(|a| {
                a.role == *role && a.context == *context && a.source == source.unwrap_or_default()
            })
            .map(|a| json!(AssignmentDoc::from(a)))),
        EditOp::AddSwitch { user, context, .. } | EditOp::RemoveSwitch { user, context } => v(e
            .switches()
            .iter()
            .find(|s| s.user == *user && s.context == *context)
            .map(|s| json!(SwitchDoc::from(s)))),
        EditOp::PutRole { role } => v(e
            .role(capstan_core::RoleId(role.id))
            .map(|r| json!(RoleDoc::from(r)))),
        EditOp::DeleteRole { role } => v(e.role(*role).map(|r| json!(RoleDoc::from(r)))),
        EditOp::PutContext { context } => v(e
            .context(capstan_core::ContextId(context.id))
            .map(|c| json!(ContextDoc::from(c)))),
        EditOp::DeleteContext { context } => {
            v(e.context(*context).map(|c| json!(ContextDoc::from(c))))
        }
        EditOp::PutUser { user } => v(e.user(UserId(user.id)).map(|u| json!(UserDoc::from(u)))),
        EditOp::DeleteUser { user } => v(e.user(*user).map(|u| json!(UserDoc::from(u)))),
        EditOp::PutTenant { tenant } => v(e
            .tenants()
            .iter()
            .find(|t| t.id.0 == tenant.id)
            .map(|t| json!(TenantDoc::from(t)))),
        EditOp::DeleteTenant { tenant } => v(e
            .tenants()
            .iter()
            .find(|t| t.id == *tenant)
            .map(|t| json!(TenantDoc::from(t)))),
        EditOp::PutCapability { capability } => v(e
            .capabilities()
            .iter()
            .find(|c| c.name == capability.name)
            .map(|c| json!(CapabilityDoc::from(c)))),
        EditOp::SetSettings { .. } => json!(SettingsDoc::from(e.settings())),
        EditOp::AddProgramCourse { item } | EditOp::RemoveProgramCourse { item } => {
            json!(
                e.program_courses()
                    .iter()
                    .any(|p| p.program.0 == item.program && p.course.0 == item.course)
            )
        }
    }
}

impl AppState {
    /// Opens (or creates and seeds) the store at `path` and replays it into an engine.
    /// On a first start the site is seeded (`options.seed`, else the demo site) and the first
    /// site admin gets a login (`options.admin_password`, else a random one).
    pub fn open(
        path: &Path,
        options: OpenOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Opened, String> {
        let db = store::open(path)?;
        let mut created_admin = None;
        let seed = match store::seed(&db).map_err(|e| e.to_string())? {
            Some(json) => json,
            None => {
                let json = match options.seed {
                    Some(text) => {
                        // Refuse an invalid seed before writing anything.
                        Engine::from_json(&text).map_err(|e| format!("seed snapshot: {e}"))?;
                        text
                    }
                    None => capstan_core::demo::demo_site().to_json(),
                };
                let engine = Engine::from_json(&json).map_err(|e| format!("seed: {e}"))?;
                let admin = engine
                    .settings()
                    .site_admins
                    .iter()
                    .find_map(|id| engine.user(*id).filter(|u| !u.deleted))
                    .map(|u| (u.id, u.username.clone()));
                let tx = db.unchecked_transaction().map_err(|e| e.to_string())?;
                tx.execute(
                    "INSERT INTO snapshot (revision, json) VALUES (0, ?1)",
                    params![json],
                )
                .map_err(|e| e.to_string())?;
                if let Some((id, name)) = admin {
                    let password = match options.admin_password {
                        Some(p) => p,
                        None => auth::random_hex(12)?,
                    };
                    let hash = auth::hash_password(&password)?;
                    tx.execute(
                        "INSERT INTO credentials (user_id, username, password_hash) VALUES (?1, ?2, ?3)",
                        params![id.0, name, hash],
                    )
                    .map_err(|e| e.to_string())?;
                    created_admin = Some((name, password));
                }
                audit::append(
                    &tx,
                    &Record::new(
                        clock.now(),
                        None,
                        "seed",
                        json!({"admin": created_admin.as_ref().map(|a| &a.0)}),
                    ),
                )
                .map_err(|e| e.to_string())?;
                tx.commit().map_err(|e| e.to_string())?;
                json
            }
        };
        let mut engine = Engine::from_json(&seed).map_err(|e| format!("stored site: {e}"))?;
        let mut revision = 0u64;
        for (rev, ops) in store::all_changes(&db)? {
            engine
                .apply_all(ops)
                .map_err(|(_, e)| format!("change {rev} no longer applies: {e}"))?;
            revision = rev;
        }
        let tokens = store::tokens(&db, clock.now().unix_seconds())
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(h, holder, expires_at)| (h, Token { holder, expires_at }))
            .collect();
        let state = AppState {
            shared: Arc::new(Shared {
                clock,
                site: RwLock::new(Arc::new(Published::new(engine, revision))),
                db: Mutex::new(db),
                tokens: RwLock::new(tokens),
                limiter: Mutex::new(Limiter::default()),
            }),
        };
        Ok(Opened {
            state,
            created_admin,
        })
    }

    /// Now, by the server's clock.
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// The site as published now.
    pub fn site(&self) -> Arc<Published> {
        match self.shared.site.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The store (one caller at a time).
    pub(crate) fn db(&self) -> Result<MutexGuard<'_, Connection>, ApiError> {
        self.shared
            .db
            .lock()
            .map_err(|_| ApiError::internal("store lock poisoned"))
    }

    /// The sign-in rate limit.
    pub(crate) fn limiter(&self) -> Result<MutexGuard<'_, Limiter>, ApiError> {
        self.shared
            .limiter
            .lock()
            .map_err(|_| ApiError::internal("limiter lock poisoned"))
    }

    /// The live token with this hash.
    pub(crate) fn token(&self, hash: &str) -> Option<Token> {
        self.shared.tokens.read().ok()?.get(hash).copied()
    }

    /// Adds a token (after its row is stored).
    pub(crate) fn add_token(&self, hash: String, token: Token) {
        if let Ok(mut t) = self.shared.tokens.write() {
            t.insert(hash, token);
        }
    }

    /// Forgets the tokens `keep` refuses (after their rows are deleted).
    pub(crate) fn drop_tokens(&self, keep: impl Fn(&str, &Token) -> bool) {
        if let Ok(mut t) = self.shared.tokens.write() {
            t.retain(|h, v| keep(h, v));
        }
    }

    /// Applies a batch of edits as one new revision, all or nothing.
    ///
    /// With `base`, the batch is refused as stale unless `base` is the current revision.
    /// `authorize` is asked about each edit against the site as it will be when the edit runs.
    /// `extra` runs inside the same transaction, with the new revision (support grants are
    /// stored this way). The batch, its audit entry and `extra` are durable before the new site
    /// is published.
    pub fn commit(
        &self,
        author: &Author,
        base: Option<u64>,
        ops: Vec<EditOp>,
        authorize: &dyn Fn(&Engine, &EditOp) -> Result<(), ApiError>,
        extra: &dyn Fn(&Transaction<'_>, u64) -> Result<(), ApiError>,
    ) -> Result<u64, CommitError> {
        let db = self.db()?;
        let current = self.site();
        if base.is_some_and(|b| b != current.revision) {
            return Err(CommitError::Stale {
                revision: current.revision,
            });
        }
        if ops.is_empty() {
            return Err(
                ApiError::bad(codes::EMPTY_BATCH, "a batch needs at least one edit").into(),
            );
        }
        let mut next = current.engine.clone();
        let mut edits = Vec::with_capacity(ops.len());
        let mut tenants = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            authorize(&next, op).map_err(|e| e.at_index(i))?;
            let was = before(&next, op);
            tenants.extend(op_tenants(&next, op));
            next.apply(op.clone())
                .map_err(|e| edit_error(e).at_index(i))?;
            tenants.extend(op_tenants(&next, op));
            edits.push(json!({"op": op, "before": was}));
        }
        let rev = current.revision + 1;
        let now = self.now();
        let ops_json = serde_json::to_string(&ops).map_err(ApiError::internal)?;
        let tx = db.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO changes (revision, ops, by_user, at, support_identifier) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                rev as i64,
                ops_json,
                author.user.map(|u| u.0),
                now.to_string(),
                author.support_identifier
            ],
        )?;
        audit::append(
            &tx,
            &Record {
                at: now,
                actor: author.user,
                staff: author.staff.clone(),
                support_identifier: author.support_identifier.clone(),
                action: "changes",
                detail: json!({"revision": rev, "edits": edits}),
                tenants,
            },
        )?;
        extra(&tx, rev)?;
        tx.commit()?;
        let published = Arc::new(Published::new(next, rev));
        match self.shared.site.write() {
            Ok(mut s) => *s = published,
            Err(p) => *p.into_inner() = published,
        }
        Ok(rev)
    }

    /// Builds a batch from the current site and commits it as one new revision; when another
    /// batch lands in between (new ids could clash), builds it again from the new site.
    pub fn commit_built(
        &self,
        author: &Author,
        build: &dyn Fn(&Engine) -> Result<Vec<EditOp>, ApiError>,
        authorize: &dyn Fn(&Engine, &EditOp) -> Result<(), ApiError>,
        extra: &dyn Fn(&Transaction<'_>, u64) -> Result<(), ApiError>,
    ) -> Result<u64, ApiError> {
        for _ in 0..16 {
            let site = self.site();
            let ops = build(&site.engine)?;
            match self.commit(author, Some(site.revision), ops, authorize, extra) {
                Ok(rev) => return Ok(rev),
                Err(CommitError::Refused(e)) => return Err(e),
                Err(CommitError::Stale { .. }) => continue,
            }
        }
        Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            codes::STALE_REVISION,
            "the site keeps changing: try again",
        ))
    }

    /// Appends an audit entry on its own.
    pub fn audit(&self, record: &Record) -> Result<(), ApiError> {
        let db = self.db()?;
        audit::append(&db, record)?;
        Ok(())
    }

    /// Makes a service key: `(id, secret)`. Also `capstan-server --create-api-key NAME`.
    pub fn create_api_key(
        &self,
        name: &str,
        by: Option<UserId>,
    ) -> Result<(capstan_api::ApiKey, String), ApiError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::bad(
                codes::MALFORMED_JSON,
                "a key needs a name of 1 to 200 characters",
            ));
        }
        let secret = format!("capk_{}", auth::random_hex(24).map_err(ApiError::internal)?);
        let hash = auth::token_hash(&secret);
        let now = self.now();
        let db = self.db()?;
        let tx = db.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO api_keys (name, token_hash, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
            params![name, hash, now.to_string(), by.map(|u| u.0)],
        )?;
        let id = tx.last_insert_rowid() as u32;
        audit::append(
            &tx,
            &Record::new(now, by, "api_key_created", json!({"key": id, "name": name})),
        )?;
        tx.commit()?;
        self.add_token(
            hash,
            Token {
                holder: Holder::Key(id),
                expires_at: None,
            },
        );
        Ok((
            capstan_api::ApiKey {
                id,
                name: name.to_string(),
                created_at: now,
            },
            secret,
        ))
    }
}
