//! The server's state: the published site (an engine at a revision, swapped on every accepted
//! batch so that readers never wait for writers), the SQLite store (one writer at a time), the
//! token table and the sign-in rate limit.
//!
//! Publication is left-right: the writer keeps a second copy of the site ([`Spare`]). A commit
//! applies its batch to the spare and publishes it; the copy it replaced becomes the next spare
//! once its readers are done, brought forward by applying the same batch. A commit so costs its
//! edits (twice), never a copy of the site: it copies only when the old copy is still being
//! read at the next commit, or after a batch that failed half-way.

use crate::audit::{self, Record};
use crate::auth::{self, Limiter};
use crate::error::ApiError;
use crate::reach::{View, cut_key, op_tenants};
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
    slices: Mutex<HashMap<String, Arc<str>>>,
    /// The gzipped snapshots, by cut.
    gzipped: Mutex<HashMap<String, Arc<[u8]>>>,
}

impl Published {
    fn new(engine: Engine, revision: u64) -> Self {
        Published {
            engine,
            revision,
            full_json: OnceLock::new(),
            slices: Mutex::new(HashMap::new()),
            gzipped: Mutex::new(HashMap::new()),
        }
    }

    /// The JSON snapshot for a reach, gzipped, made once per revision and cut.
    pub fn gzip_for(&self, reach: &Reach) -> Option<Arc<[u8]>> {
        let key = cut_key(reach);
        if let Some(z) = self.gzipped.lock().ok()?.get(&key) {
            return Some(z.clone());
        }
        let text = self.json_for(reach)?;
        // Compressed outside the lock; two first readers may both compress, one is kept.
        let z: Arc<[u8]> = crate::routes::site::gzip(text.as_bytes()).into();
        Some(self.gzipped.lock().ok()?.entry(key).or_insert(z).clone())
    }

    /// The JSON snapshot for a reach (`None` for a caller that may read no site). A cut is
    /// the same for every reader with the same reach, so it is made once per revision.
    pub fn json_for(&self, reach: &Reach) -> Option<Arc<str>> {
        let key = match reach {
            Reach::Site => {
                return Some(
                    self.full_json
                        .get_or_init(|| Arc::from(self.engine.to_json()))
                        .clone(),
                );
            }
            Reach::Own => return None,
            _ => cut_key(reach),
        };
        let view = View {
            engine: &self.engine,
            reach,
            me: None,
        };
        let mut cache = self.slices.lock().ok()?;
        let text = cache
            .entry(key)
            .or_insert_with(|| Arc::from(view.snapshot().map(|d| d.to_json()).unwrap_or_default()))
            .clone();
        Some(text)
    }
}

/// The writer's second copy of the site (see the module documentation).
pub(crate) enum Spare {
    /// None: the next commit copies the published site.
    Empty,
    /// An engine at this revision that no reader sees.
    Ready(Box<Engine>, u64),
    /// The site the last commit replaced (readers may still hold it) and that commit's batch,
    /// which brings it to the revision after its own.
    Behind(Arc<Published>, Vec<EditOp>),
}

/// How commits got their copy of the site, for tests and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SpareStats {
    /// Commits that reused the spare (brought forward by one batch, or ready).
    pub reused: u64,
    /// Commits that had to copy the published site.
    pub copied: u64,
}

impl Spare {
    /// An engine at `current`'s revision for the writer to change: the spare when it can be
    /// had (brought forward by the last batch if need be), else a copy of `current`.
    fn take(&mut self, current: &Published, stats: &Mutex<SpareStats>) -> Engine {
        let reused = match std::mem::replace(self, Spare::Empty) {
            Spare::Ready(e, rev) if rev == current.revision => Some(*e),
            Spare::Behind(old, ops) if old.revision + 1 == current.revision => {
                match Arc::try_unwrap(old) {
                    Ok(published) => {
                        let mut e = published.engine;
                        // The batch applied to this very site before: it applies again.
                        e.replay_batch(&ops).is_ok().then_some(e)
                    }
                    // Still being read: it is freed when its last reader is done.
                    Err(_) => None,
                }
            }
            _ => None,
        };
        if let Ok(mut s) = stats.lock() {
            match reused {
                Some(_) => s.reused += 1,
                None => s.copied += 1,
            }
        }
        reused.unwrap_or_else(|| current.engine.clone())
    }
}

/// A live token.
#[derive(Debug, Clone, Copy)]
pub struct Token {
    /// Whose.
    pub holder: Holder,
    /// Expiry (unix seconds); keys made on the command line have none.
    pub expires_at: Option<i64>,
    /// For a service key: the site user who made it, checked on every use.
    pub creator: Option<u32>,
}

struct Shared {
    clock: Arc<dyn Clock>,
    site: RwLock<Arc<Published>>,
    /// Held by the one writer for a whole commit (building the new site included), so that
    /// the store itself is locked only for the short transaction; it guards the spare copy.
    writer: Mutex<Spare>,
    db: Mutex<Connection>,
    store: store::FileIdentity,
    tokens: RwLock<HashMap<String, Token>>,
    limiter: Mutex<Limiter>,
    secrets: crate::secret::SecretKey,
    trusted_proxies: Vec<std::net::IpAddr>,
    allowed_origins: Vec<String>,
    /// Each new revision, for `/events` listeners.
    events: tokio::sync::broadcast::Sender<u64>,
    spare_stats: Mutex<SpareStats>,
    /// A checkpoint is written once this many revisions passed the last one (0: never).
    checkpoint_every: u64,
    last_checkpoint: std::sync::atomic::AtomicU64,
    /// Whether a checkpoint is being written (one at a time).
    checkpointing: std::sync::atomic::AtomicBool,
    started: StartReport,
}

/// Revisions between checkpoints by default.
pub const CHECKPOINT_EVERY: u64 = 1_000;

/// What the last start loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartReport {
    /// The checkpoint it started from (none: the seed).
    pub checkpoint: Option<u64>,
    /// Batches replayed after it.
    pub replayed: u64,
    /// Checkpoints not used and batches passed over, with why.
    pub problems: Vec<String>,
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
    /// Make a new database when the file does not exist. Without it a missing file is an
    /// error: a database that was deleted or moved must never silently become a new site.
    pub create: bool,
    /// The key that encrypts TOTP secrets at rest (else read from, or made in, the key file
    /// beside the database).
    pub secret_key: Option<crate::secret::SecretKey>,
    /// Reverse proxies whose `X-Forwarded-For` names the client's address (for the sign-in
    /// rate limit and the log); requests from anywhere else are known by their socket's peer.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins whose pages may call the API from the browser (CORS), e.g. the LMS whose
    /// pages embed the npm package's live client: `https://lms.example` (scheme, host and
    /// port; no path, no wildcard). Empty: only the server's own origin.
    pub allowed_origins: Vec<String>,
    /// Revisions between checkpoints (default [`CHECKPOINT_EVERY`]; 0: none).
    pub checkpoint_every: Option<u64>,
}

/// The most edits one batch may hold.
pub const MAX_BATCH_OPS: usize = 5_000;

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
    /// The client's key of the batch: a batch whose key is stored already is not applied
    /// again, its revision is the answer.
    pub batch_id: Option<String>,
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

/// Whether the site has a site administrator who can act (exists, not deleted, not
/// suspended).
pub fn has_active_admin(e: &Engine) -> bool {
    e.settings()
        .site_admins
        .iter()
        .any(|id| e.user(*id).is_some_and(|u| !u.deleted && !u.suspended))
}

/// The usernames of the users that are not deleted.
fn live_usernames(e: &Engine) -> HashMap<String, UserId> {
    e.users()
        .iter()
        .filter(|u| !u.deleted)
        .map(|u| (u.username.clone(), u.id))
        .collect()
}

/// What a batch does to sign-in accounts: users that leave the site (deleted) lose their
/// credentials and sessions and their ids are retired; renamed users sign in by the new name.
#[derive(Default)]
struct Accounts {
    /// Users deleted (removed, or marked deleted) by the batch.
    departed: Vec<u32>,
    /// Users removed from the site (their ids are retired).
    removed: Vec<u32>,
    /// Users whose username the batch sets: `(id, username)`.
    renamed: Vec<(u32, String)>,
}

impl Accounts {
    fn note(&mut self, e: &Engine, op: &EditOp) {
        match op {
            EditOp::DeleteUser { user } if e.user(*user).is_some() => {
                self.departed.push(user.0);
                self.removed.push(user.0);
            }
            EditOp::PutUser { user } if user.deleted == Some(true) => self.departed.push(user.id),
            EditOp::PutUser { user } => self.renamed.push((user.id, user.username.clone())),
            _ => {}
        }
    }

    /// Keeps what holds in the site after the whole batch.
    fn settle(&mut self, e: &Engine) {
        self.departed.sort_unstable();
        self.departed.dedup();
        self.renamed
            .retain(|(id, _)| e.user(UserId(*id)).is_some_and(|u| !u.deleted));
        self.renamed.reverse();
        let mut seen = std::collections::HashSet::new();
        self.renamed.retain(|(id, _)| seen.insert(*id));
    }

    fn store(&self, tx: &Transaction<'_>, now: Timestamp) -> Result<(), ApiError> {
        for id in &self.departed {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", params![id])?;
            tx.execute("DELETE FROM credentials WHERE user_id = ?1", params![id])?;
        }
        for id in &self.removed {
            store::retire_user(tx, *id, now)?;
        }
        // Free every name first, so that users who trade names in one batch both keep a login.
        for (id, _) in &self.renamed {
            tx.execute(
                "UPDATE credentials SET username = '#' || user_id WHERE user_id = ?1",
                params![id],
            )?;
        }
        for (id, name) in &self.renamed {
            tx.execute(
                "UPDATE credentials SET username = ?2 WHERE user_id = ?1",
                params![id, name],
            )?;
        }
        Ok(())
    }
}

impl AppState {
    /// Opens (or, with `options.create`, creates and seeds) the store at `path` and replays it
    /// into an engine. On a first start the site is seeded (`options.seed`, else the demo
    /// site) and the first site admin gets a login (`options.admin_password`, else a random
    /// one).
    pub fn open(
        path: &Path,
        options: OpenOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Opened, String> {
        if !path.exists() && !options.create {
            return Err(format!(
                "{} does not exist: pass --create to make a new site there (a database that was \
                 deleted or moved is never replaced silently)",
                path.display()
            ));
        }
        for o in &options.allowed_origins {
            crate::http::check_origin(o)?;
        }
        let db = store::open(path)?;
        let identity = store::FileIdentity::of(path)?;
        let secrets = match options.secret_key {
            Some(k) => k,
            None => crate::secret::SecretKey::from_env_or_file(path)?,
        };
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
                if engine.is_bundle() {
                    return Err(
                        "the seed is a bundle (a cut of a site for one user): seed with a whole site"
                            .into(),
                    );
                }
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
        // The newest checkpoint that loads, then the batches after it. A checkpoint or a
        // batch that this build no longer accepts is reported and passed over, never fatal.
        let mut started = StartReport::default();
        // The base's JSON is kept until the replay is done: should a batch not replay, the
        // base is compiled again from it.
        let mut base = None;
        for rev in store::checkpoint_revisions(&db).map_err(|e| e.to_string())? {
            let loaded = store::checkpoint(&db, rev)
                .map_err(|e| e.to_string())
                .and_then(|(format, data)| store::decode_checkpoint(&format, &data))
                .and_then(|json| {
                    let e = Engine::from_json(&json).map_err(|e| e.to_string())?;
                    Ok((json, e))
                });
            match loaded {
                Ok((json, e)) => {
                    base = Some((json, e, rev));
                    started.checkpoint = Some(rev);
                    break;
                }
                Err(m) => started.problems.push(format!(
                    "the checkpoint at revision {rev} was not used: {m}"
                )),
            }
        }
        let (base_json, mut engine, mut revision) = match base {
            Some(b) => b,
            None => {
                let e = Engine::from_json(&seed).map_err(|e| format!("stored site: {e}"))?;
                (seed, e, 0)
            }
        };
        let tail = store::changes_after(&db, revision)?;
        // The history applied before: replay it in place (the cost is the edits'). Only when
        // a batch no longer applies, start over from the base, batch by batch, all or nothing.
        let replays = tail.iter().all(|(_, ops)| {
            ops.as_ref()
                .is_ok_and(|ops| engine.replay_batch(ops).is_ok())
        });
        let tail = if replays {
            if let Some((last, _)) = tail.last() {
                revision = *last;
            }
            started.replayed = tail.len() as u64;
            Vec::new()
        } else {
            engine = Engine::from_json(&base_json).map_err(|e| format!("stored site: {e}"))?;
            tail
        };
        drop(base_json);
        for (rev, ops) in tail {
            let applied = ops.and_then(|ops| {
                engine
                    .apply_all(ops)
                    .map_err(|(i, e)| format!("edit {}: {e} (error[{}])", i + 1, e.code()))
            });
            if let Err(m) = applied {
                started.problems.push(format!(
                    "change {rev} no longer applies and was passed over: {m}"
                ));
            }
            revision = rev;
            started.replayed += 1;
        }
        for p in &started.problems {
            eprintln!("capstan-server: {p}");
        }
        // Credentials of users that are gone (written before deletion removed them) must
        // never sign anyone in.
        store::forget_departed(&db, &engine, clock.now()).map_err(|e| e.to_string())?;
        secrets
            .seal_legacy_totp(&db)
            .map_err(|e| format!("cannot encrypt the TOTP secrets: {e}"))?;
        let tokens = store::tokens(&db, clock.now().unix_seconds())
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        let state = AppState {
            shared: Arc::new(Shared {
                clock,
                site: RwLock::new(Arc::new(Published::new(engine, revision))),
                writer: Mutex::new(Spare::Empty),
                db: Mutex::new(db),
                store: identity,
                tokens: RwLock::new(tokens),
                limiter: Mutex::new(Limiter::default()),
                secrets,
                trusted_proxies: options.trusted_proxies,
                allowed_origins: options.allowed_origins,
                events: tokio::sync::broadcast::channel(64).0,
                spare_stats: Mutex::new(SpareStats::default()),
                checkpoint_every: options.checkpoint_every.unwrap_or(CHECKPOINT_EVERY),
                last_checkpoint: std::sync::atomic::AtomicU64::new(started.checkpoint.unwrap_or(0)),
                checkpointing: std::sync::atomic::AtomicBool::new(false),
                started,
            }),
        };
        // A long history without a checkpoint (an older database): write one now, so that
        // the next start is short.
        state.maybe_checkpoint(revision);
        Ok(Opened {
            state,
            created_admin,
        })
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        self.shared.store.path()
    }

    /// The key that seals TOTP secrets.
    pub(crate) fn secrets(&self) -> &crate::secret::SecretKey {
        &self.shared.secrets
    }

    /// The reverse proxies trusted to name the client's address.
    pub(crate) fn trusted_proxies(&self) -> &[std::net::IpAddr] {
        &self.shared.trusted_proxies
    }

    /// The origins allowed to call the API from their pages (CORS).
    pub fn allowed_origins(&self) -> &[String] {
        &self.shared.allowed_origins
    }

    /// Refuses (503 `store_unavailable`) when the database file was deleted, moved or
    /// replaced since the server opened it: writes would go to a file nobody will read again.
    pub fn check_store(&self) -> Result<(), ApiError> {
        if self.shared.store.still_there() {
            Ok(())
        } else {
            eprintln!("capstan-server: the database file was deleted or replaced: refusing writes");
            Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                codes::STORE_UNAVAILABLE,
                "the database file is gone or was replaced: the server accepts no more writes",
            ))
        }
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

    /// New revisions as they are published.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<u64> {
        self.shared.events.subscribe()
    }

    /// Whether the token with this hash still works (not signed out, revoked or expired).
    pub(crate) fn token_live(&self, hash: &str) -> bool {
        let now = self.now().unix_seconds();
        self.token(hash)
            .is_some_and(|t| t.expires_at.is_none_or(|e| e > now))
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
    /// `authorize` is asked about each edit against the site as it will be when the edit
    /// runs, before anything else: a caller learns nothing about the site (not even that its
    /// base is stale) from a batch it may not make. With `base`, the batch is then refused as
    /// stale unless `base` is the current revision. `extra` runs inside the same transaction,
    /// with the new revision (support grants are stored this way). The batch, its audit entry
    /// and `extra` are durable before the new site is published.
    ///
    /// Rules that hold for every batch, whoever makes it: at most [`MAX_BATCH_OPS`] edits and
    /// bounded text ([`crate::limits`]); a new user never takes the id of a deleted one; a
    /// username belongs to one user; the site keeps an active site administrator; a deleted
    /// user's password and sessions go with it, and a renamed user signs in by its new name.
    pub fn commit(
        &self,
        author: &Author,
        base: Option<u64>,
        ops: Vec<EditOp>,
        authorize: &dyn Fn(&Engine, &EditOp) -> Result<(), ApiError>,
        extra: &dyn Fn(&Transaction<'_>, u64) -> Result<(), ApiError>,
    ) -> Result<u64, CommitError> {
        if ops.is_empty() {
            return Err(
                ApiError::bad(codes::EMPTY_BATCH, "a batch needs at least one edit").into(),
            );
        }
        if ops.len() > MAX_BATCH_OPS {
            return Err(ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                codes::BATCH_TOO_LARGE,
                format!(
                    "a batch holds at most {MAX_BATCH_OPS} edits, not {}: split it",
                    ops.len()
                ),
            )
            .into());
        }
        for (i, op) in ops.iter().enumerate() {
            crate::limits::check_op(op).map_err(|e| e.at_index(i))?;
        }
        if let Some(key) = &author.batch_id {
            let ok = (8..=64).contains(&key.len())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    codes::BAD_BATCH_ID,
                    "a batch id is 8 to 64 letters, digits, `-` or `_`",
                )
                .into());
            }
        }
        let mut spare = self
            .shared
            .writer
            .lock()
            .map_err(|_| ApiError::internal("writer lock poisoned"))?;
        if let Some(key) = &author.batch_id {
            // Sent again after its answer was lost: the revision it became, once.
            let seen = store::batch_by_id(&*self.db()?, key)?;
            if let Some((revision, by)) = seen {
                if by == author.user.map(|u| u.0) {
                    return Ok(revision);
                }
                return Err(ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    codes::BAD_BATCH_ID,
                    "this batch id belongs to another batch: make a new one",
                )
                .into());
            }
        }
        let current = self.site();
        let mut next = spare.take(&current, &self.shared.spare_stats);
        let mut touched = false;
        let result = self.commit_on(
            &mut next,
            &mut touched,
            &current,
            author,
            base,
            &ops,
            authorize,
            extra,
        );
        match result {
            Ok((rev, true)) => {
                let published = Arc::new(Published::new(next, rev));
                match self.shared.site.write() {
                    Ok(mut s) => *s = published,
                    Err(p) => *p.into_inner() = published,
                }
                *spare = Spare::Behind(current, ops);
                // Nobody listening is no error.
                let _ = self.shared.events.send(rev);
                self.maybe_checkpoint(rev);
                Ok(rev)
            }
            Ok((rev, false)) => {
                // Refused before any edit touched the copy: it stays the spare.
                *spare = Spare::Ready(Box::new(next), current.revision);
                Err(CommitError::Stale { revision: rev })
            }
            Err(e) => {
                // A copy no edit touched stays the spare; a half-changed one is dropped and
                // the next commit makes a new one.
                if !touched {
                    *spare = Spare::Ready(Box::new(next), current.revision);
                }
                Err(e)
            }
        }
    }

    /// What the last start loaded: the checkpoint and how many batches after it.
    pub fn started(&self) -> &StartReport {
        &self.shared.started
    }

    /// Starts writing a checkpoint in the background when `revision` is far enough past the
    /// last one and none is being written.
    /// Whether a checkpoint is due at `revision`: checkpoints are on and `every` revisions
    /// passed since the last one.
    fn checkpoint_due(&self, revision: u64) -> bool {
        let every = self.shared.checkpoint_every;
        every != 0
            && revision
                >= self
                    .shared
                    .last_checkpoint
                    .load(std::sync::atomic::Ordering::SeqCst)
                    + every
    }

    fn maybe_checkpoint(&self, revision: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.checkpoint_due(revision) {
            return;
        }
        if self.shared.checkpointing.swap(true, SeqCst) {
            return;
        }
        let st = self.clone();
        let spawned = std::thread::Builder::new()
            .name("capstan-checkpoint".into())
            .spawn(move || {
                let mut revision = revision;
                loop {
                    let t = std::time::Instant::now();
                    println!("checkpoint: writing the site at revision {revision} or later");
                    let written = st.write_checkpoint();
                    match &written {
                        Ok((rev, bytes)) => println!(
                            "checkpoint: revision {rev} written ({} KB) in {} ms",
                            bytes / 1024,
                            t.elapsed().as_millis()
                        ),
                        Err(e) => eprintln!("capstan-server: checkpoint failed: {e}"),
                    }
                    st.shared.checkpointing.store(false, SeqCst);
                    // Commits that asked for a checkpoint while this one was written were
                    // turned away: if the site moved far enough meanwhile, write the next one
                    // now rather than wait for a commit that may never come.
                    revision = st.site().revision;
                    if written.is_err()
                        || !st.checkpoint_due(revision)
                        || st.shared.checkpointing.swap(true, SeqCst)
                    {
                        break;
                    }
                }
            });
        if spawned.is_err() {
            self.shared.checkpointing.store(false, SeqCst);
        }
    }

    /// Writes a checkpoint of the published site now (on its own connection and transaction:
    /// commits go on meanwhile, and a crash half-way leaves the previous checkpoint and the
    /// whole history). Returns its revision and size in bytes.
    pub fn write_checkpoint(&self) -> Result<(u64, usize), String> {
        let site = self.site();
        let json = site.engine.to_json();
        let revision = site.revision;
        // The writer's next spare may be this very site: let it go as soon as possible.
        drop(site);
        let data = store::encode_checkpoint(&json)?;
        drop(json);
        // Only into the file the server opened: never a new one where it was deleted or moved.
        self.check_store().map_err(|e| e.message)?;
        let db = store::open_existing(self.db_path())?;
        store::put_checkpoint(&db, revision, &data, self.now()).map_err(|e| e.to_string())?;
        self.shared
            .last_checkpoint
            .fetch_max(revision, std::sync::atomic::Ordering::SeqCst);
        Ok((revision, data.len()))
    }

    /// How commits got their copy of the site since the server started.
    pub fn spare_stats(&self) -> SpareStats {
        self.shared
            .spare_stats
            .lock()
            .map(|s| *s)
            .unwrap_or_default()
    }

    /// The body of [`AppState::commit`] on the writer's copy `next` of `current`: `Ok((rev,
    /// true))` when the batch was stored as revision `rev` (then `next` is that revision),
    /// `Ok((rev, false))` when it is stale against revision `rev` and no edit touched `next`.
    /// `touched` says whether any edit was applied to `next`.
    #[allow(clippy::too_many_arguments)]
    fn commit_on(
        &self,
        next: &mut Engine,
        touched: &mut bool,
        current: &Published,
        author: &Author,
        base: Option<u64>,
        ops: &[EditOp],
        authorize: &dyn Fn(&Engine, &EditOp) -> Result<(), ApiError>,
        extra: &dyn Fn(&Transaction<'_>, u64) -> Result<(), ApiError>,
    ) -> Result<(u64, bool), CommitError> {
        let new_users: Vec<u32> = ops
            .iter()
            .filter_map(|op| match op {
                EditOp::PutUser { user } if current.engine.user(UserId(user.id)).is_none() => {
                    Some(user.id)
                }
                _ => None,
            })
            .collect();
        let retired = if new_users.is_empty() {
            Vec::new()
        } else {
            store::retired_among(&*self.db()?, &new_users)?
        };
        let stale = base.is_some_and(|b| b != current.revision);
        let single_user_edit = ops
            .iter()
            .filter(|o| matches!(o, EditOp::PutUser { .. } | EditOp::DeleteUser { .. }))
            .count()
            == 1;
        let mut edits = Vec::with_capacity(ops.len());
        let mut tenants = Vec::new();
        let mut accounts = Accounts::default();
        let mut usernames: Option<HashMap<String, UserId>> = None;
        // Runs of structural edits are applied (validated, compiled) at once, so a batch
        // costs one compile per run; each edit of a run is authorised against the site as the
        // run starts.
        let mut i = 0;
        while let Some(first) = ops.get(i) {
            let len = if first.is_structural() {
                ops.iter().skip(i).take_while(|o| o.is_structural()).count()
            } else {
                1
            };
            let run = ops.get(i..i + len).unwrap_or_default();
            for (j, op) in run.iter().enumerate() {
                let at = i + j;
                authorize(next, op).map_err(|e| e.at_index(at))?;
                if stale {
                    continue;
                }
                if let EditOp::PutUser { user } = op {
                    if retired.contains(&user.id) && next.user(UserId(user.id)).is_none() {
                        return Err(ApiError::new(
                            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                            codes::RETIRED_USER_ID,
                            format!(
                                "user id `{}` belonged to a deleted user: ids are never reused",
                                user.id
                            ),
                        )
                        .at_index(at)
                        .into());
                    }
                    // One user edit in the batch: a scan of the site; more: a map kept along.
                    let other = if single_user_edit {
                        next.users()
                            .iter()
                            .find(|u| {
                                !u.deleted && u.username == user.username && u.id.0 != user.id
                            })
                            .map(|u| u.id)
                    } else {
                        let names = usernames.get_or_insert_with(|| live_usernames(next));
                        let other = names
                            .get(&user.username)
                            .copied()
                            .filter(|o| o.0 != user.id);
                        names.retain(|_, id| id.0 != user.id);
                        if !user.deleted.unwrap_or(false) {
                            names.insert(user.username.clone(), UserId(user.id));
                        }
                        other
                    };
                    if let Some(other) = other {
                        return Err(ApiError::new(
                            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                            codes::DUPLICATE_USERNAME,
                            format!("username `{}` belongs to user `{other}`", user.username),
                        )
                        .at_index(at)
                        .into());
                    }
                }
                if let (EditOp::DeleteUser { user }, Some(names)) = (op, usernames.as_mut()) {
                    names.retain(|_, id| id != user);
                }
                edits.push(json!({"op": op, "before": before(next, op)}));
                tenants.extend(op_tenants(next, op));
                accounts.note(next, op);
            }
            if stale && i + len == ops.len() {
                // Nothing after the last run to authorise: a stale batch stops here.
                break;
            }
            let had_admin = has_active_admin(next);
            *touched = true;
            let applied = if first.is_structural() {
                next.apply_structural_run(run)
                    .map_err(|(j, e)| edit_error(e).at_index(i + j))
            } else {
                next.apply(first.clone())
                    .map_err(|e| edit_error(e).at_index(i))
            };
            if stale {
                // Authorised against the current site as far as it goes; nothing else is said.
                i += len;
                continue;
            }
            applied?;
            if had_admin && !has_active_admin(next) {
                return Err(ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    codes::LAST_ADMIN,
                    "the batch would leave the site without an active site administrator",
                )
                .at_index(i + len - 1)
                .into());
            }
            tenants.extend(run.iter().flat_map(|op| op_tenants(next, op)));
            i += len;
        }
        if stale {
            if *touched {
                return Err(CommitError::Stale {
                    revision: current.revision,
                });
            }
            return Ok((current.revision, false));
        }
        accounts.settle(next);
        self.check_store()?;
        let rev = current.revision + 1;
        let now = self.now();
        let ops_json = serde_json::to_string(&ops).map_err(ApiError::internal)?;
        {
            let db = self.db()?;
            let tx = db.unchecked_transaction()?;
            tx.execute(
                "INSERT INTO changes (revision, ops, by_user, at, support_identifier, batch_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    rev as i64,
                    ops_json,
                    author.user.map(|u| u.0),
                    now.to_string(),
                    author.support_identifier,
                    author.batch_id
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
            accounts.store(&tx, now)?;
            extra(&tx, rev)?;
            tx.commit()?;
        }
        if !accounts.departed.is_empty() {
            self.drop_tokens(|_, t| match t.holder {
                Holder::User(u) => !accounts.departed.contains(&u),
                _ => true,
            });
        }
        Ok((rev, true))
    }

    /// Builds a batch from the current site and commits it as one new revision; when another
    /// batch lands in between (new ids could clash), builds it again from the new site. A
    /// build with no edits (an import that changes nothing) commits nothing and answers the
    /// current revision.
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
            if ops.is_empty() {
                return Ok(site.revision);
            }
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

    /// The id a new user gets: above every user the site has and every id it ever had
    /// (deleted users' ids are never reused).
    pub fn next_user_id(&self, e: &Engine) -> Result<UserId, ApiError> {
        let site_max = e.users().iter().map(|u| u.id.0).max().unwrap_or(0);
        let ever = store::highest_user_id(&*self.db()?)?;
        Ok(UserId(site_max.max(ever).saturating_add(1)))
    }

    /// Makes a service key: `(key, secret)`. Keys made by a site user (`by`) last
    /// `days` days (default [`KEY_DEFAULT_DAYS`], at most [`KEY_MAX_DAYS`]) and work only
    /// while their creator may make keys; keys made on the server's command line
    /// (`capstan-server --create-api-key NAME`) have no creator and no expiry.
    pub fn create_api_key(
        &self,
        name: &str,
        by: Option<UserId>,
        days: Option<u32>,
    ) -> Result<(capstan_api::ApiKey, String), ApiError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::bad(
                codes::MALFORMED_JSON,
                "a key needs a name of 1 to 200 characters",
            ));
        }
        let now = self.now();
        let expires = match (by, days) {
            (None, None) => None,
            (_, days) => {
                let days = days.unwrap_or(KEY_DEFAULT_DAYS);
                if !(1..=KEY_MAX_DAYS).contains(&days) {
                    return Err(ApiError::bad(
                        codes::MALFORMED_JSON,
                        format!("a key lasts 1 to {KEY_MAX_DAYS} days, not {days}"),
                    ));
                }
                Some(now.plus_seconds(i64::from(days) * 86_400))
            }
        };
        self.check_store()?;
        let secret = format!("capk_{}", auth::random_hex(24).map_err(ApiError::internal)?);
        let hash = auth::token_hash(&secret);
        let db = self.db()?;
        let tx = db.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO api_keys (name, token_hash, created_at, created_by, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                name,
                hash,
                now.to_string(),
                by.map(|u| u.0),
                expires.map(Timestamp::unix_seconds)
            ],
        )?;
        let id = tx.last_insert_rowid() as u32;
        audit::append(
            &tx,
            &Record::new(
                now,
                by,
                "api_key_created",
                json!({"key": id, "name": name, "expires_at": expires}),
            ),
        )?;
        tx.commit()?;
        self.add_token(
            hash,
            Token {
                holder: Holder::Key(id),
                expires_at: expires.map(Timestamp::unix_seconds),
                creator: by.map(|u| u.0),
            },
        );
        Ok((
            capstan_api::ApiKey {
                id,
                name: name.to_string(),
                created_at: now,
                created_by: by.map(|u| u.0),
                expires_at: expires,
                revoked_at: None,
                status: capstan_api::KeyStatus::Active,
            },
            secret,
        ))
    }

    /// Ends sessions whose time is over (rows and tokens); returns how many.
    pub fn purge_sessions(&self) -> Result<usize, ApiError> {
        let now = self.now().unix_seconds();
        let n = store::purge_expired(&*self.db()?, now)?;
        self.drop_tokens(|_, t| t.expires_at.is_none_or(|e| e > now));
        Ok(n)
    }
}

/// Days a service key lasts unless told otherwise.
pub const KEY_DEFAULT_DAYS: u32 = 90;
/// The longest a service key lasts.
pub const KEY_MAX_DAYS: u32 = 365;
