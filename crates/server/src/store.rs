//! The SQLite file: schema migrations and the rows the server keeps besides the site itself.
//!
//! The site is stored as its seed snapshot (revision 0), every accepted batch of edits after it
//! (`changes`) and checkpoints of the site at some revisions (`checkpoints`); the server loads
//! the newest checkpoint at start and replays the batches after it. WAL journal,
//! `synchronous = FULL` (an acknowledged write survives a crash), foreign keys on.

use capstan_api::{
    ApiKey, GrantStatus, KeyStatus, RequestStatus, StaffAccount, SupportGrant, SupportRequest,
    SupportScope,
};
use capstan_core::{EditOp, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

/// The migrations, in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: [&str; 4] = [
    include_str!("../migrations/001_init.sql"),
    include_str!("../migrations/002_support.sql"),
    include_str!("../migrations/003_security.sql"),
    include_str!("../migrations/004_checkpoints.sql"),
];

/// The format of checkpoints written now.
pub const CHECKPOINT_FORMAT: &str = "capstan/1+deflate";

/// A checkpoint's bytes for a snapshot's JSON.
pub fn encode_checkpoint(json: &str) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 8),
        flate2::Compression::fast(),
    );
    z.write_all(json.as_bytes())
        .and_then(|()| z.finish())
        .map_err(|e| format!("cannot compress the checkpoint: {e}"))
}

/// The snapshot JSON of a checkpoint.
pub fn decode_checkpoint(format: &str, data: &[u8]) -> Result<String, String> {
    use std::io::Read;
    if format != CHECKPOINT_FORMAT {
        return Err(format!("unknown checkpoint format `{format}`"));
    }
    let mut json = String::new();
    flate2::read::DeflateDecoder::new(data)
        .read_to_string(&mut json)
        .map_err(|e| format!("the checkpoint does not decompress: {e}"))?;
    Ok(json)
}

/// Stores a checkpoint of the site at `revision` and drops all but the newest two.
pub fn put_checkpoint(
    db: &Connection,
    revision: u64,
    data: &[u8],
    now: Timestamp,
) -> rusqlite::Result<()> {
    let tx = db.unchecked_transaction()?;
    tx.execute(
        "INSERT OR REPLACE INTO checkpoints (revision, format, data, written_at) VALUES (?1, ?2, ?3, ?4)",
        params![revision as i64, CHECKPOINT_FORMAT, data, now.to_string()],
    )?;
    tx.execute(
        "DELETE FROM checkpoints WHERE revision NOT IN
           (SELECT revision FROM checkpoints ORDER BY revision DESC LIMIT 2)",
        [],
    )?;
    tx.commit()
}

/// The revisions that have a checkpoint, newest first.
pub fn checkpoint_revisions(db: &Connection) -> rusqlite::Result<Vec<u64>> {
    let mut stmt = db.prepare("SELECT revision FROM checkpoints ORDER BY revision DESC")?;
    let rows = stmt.query_map([], |r| Ok(r.get::<_, i64>(0)? as u64))?;
    rows.collect()
}

/// The checkpoint at `revision`: `(format, data)`.
pub fn checkpoint(db: &Connection, revision: u64) -> rusqlite::Result<(String, Vec<u8>)> {
    db.query_row(
        "SELECT format, data FROM checkpoints WHERE revision = ?1",
        params![revision as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The newest revision with a checkpoint (0: none).
pub fn checkpoint_revision(db: &Connection) -> rusqlite::Result<u64> {
    db.query_row(
        "SELECT COALESCE(MAX(revision), 0) FROM checkpoints",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|r| r as u64)
}

/// Which file the server opened (device and inode), to notice when it is deleted, moved or
/// replaced under the running server.
#[derive(Debug, Clone)]
pub struct FileIdentity {
    path: std::path::PathBuf,
    id: Option<(u64, u64)>,
}

impl FileIdentity {
    /// The identity of the file at `path` now.
    pub fn of(path: &std::path::Path) -> Result<Self, String> {
        Ok(FileIdentity {
            path: path.to_path_buf(),
            id: file_id(path),
        })
    }

    /// The database file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether the path still names the file that was opened.
    pub fn still_there(&self) -> bool {
        self.id.is_some() && file_id(&self.path) == self.id
    }
}

#[cfg(unix)]
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.len().min(1), 0))
}

/// Opens the file (creating it), sets the pragmas and runs the migrations not yet run.
pub fn open(path: &std::path::Path) -> Result<Connection, String> {
    let db = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let pragma = |k: &str, v: &str| {
        db.pragma_update(None, k, v)
            .map_err(|e| format!("cannot set {k}: {e}"))
    };
    pragma("journal_mode", "WAL")?;
    pragma("synchronous", "FULL")?;
    pragma("foreign_keys", "ON")?;
    db.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = db.unchecked_transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(sql)
            .map_err(|e| format!("migration {} failed: {e}", i + 1))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    Ok(db)
}

/// Opens a database file that must exist already (never creates one): for the background
/// checkpoint writer, which must not make a new file where the server's was deleted or moved.
pub fn open_existing(path: &std::path::Path) -> Result<Connection, String> {
    use rusqlite::OpenFlags;
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    db.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| format!("cannot set synchronous: {e}"))?;
    db.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(db)
}

/// The seed snapshot, if the file has one.
pub fn seed(db: &Connection) -> rusqlite::Result<Option<String>> {
    db.query_row("SELECT json FROM snapshot WHERE revision = 0", [], |r| {
        r.get(0)
    })
    .optional()
}

/// The revision and author of the batch stored with this client key, if any.
pub fn batch_by_id(db: &Connection, key: &str) -> rusqlite::Result<Option<(u64, Option<u32>)>> {
    db.query_row(
        "SELECT revision, by_user FROM changes WHERE batch_id = ?1",
        params![key],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
    )
    .optional()
}

/// A stored batch's edits, or why they no longer read.
pub type StoredBatch = Result<Vec<EditOp>, String>;

/// Every accepted batch after revision `after`, in order: `(revision, ops)`; a batch that no
/// longer reads is `Err` (reported, never fatal).
pub fn changes_after(db: &Connection, after: u64) -> Result<Vec<(u64, StoredBatch)>, String> {
    let mut stmt = db
        .prepare("SELECT revision, ops FROM changes WHERE revision > ?1 ORDER BY revision")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map(params![after as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for row in rows {
        let (rev, ops) = row.map_err(|e| e.to_string())?;
        out.push((
            rev as u64,
            serde_json::from_str(&ops).map_err(|e| e.to_string()),
        ));
    }
    Ok(out)
}

/// A stored change, as the API shows it.
pub fn changes_since(db: &Connection, since: u64) -> rusqlite::Result<Vec<capstan_api::Change>> {
    let mut stmt = db.prepare_cached(
        "SELECT revision, ops, by_user, at, support_identifier FROM changes
         WHERE revision > ?1 ORDER BY revision",
    )?;
    let rows = stmt.query_map(params![since as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<u32>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (rev, ops, by, at, ident) = row?;
        out.push(capstan_api::Change {
            revision: rev as u64,
            ops: serde_json::from_str(&ops).unwrap_or_default(),
            by,
            support_identifier: ident,
            at: parse_time(&at),
        });
    }
    Ok(out)
}

/// Reads a stored instant (always written by the server; the epoch if it was tampered with).
pub fn parse_time(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_else(|_| Timestamp::from_unix_millis(0))
}

/// Who a session or key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A site user.
    User(u32),
    /// A support staff account.
    Staff(u32),
    /// A service key (never expires; deleted to end it).
    Key(u32),
}

/// Every live session and key: `(token hash, token)`. Expired sessions are deleted first.
pub fn tokens(db: &Connection, now_s: i64) -> rusqlite::Result<Vec<(String, crate::state::Token)>> {
    use crate::state::Token;
    purge_expired(db, now_s)?;
    let mut out = Vec::new();
    let mut q = db.prepare("SELECT token_hash, user_id, expires_at FROM sessions")?;
    for r in q.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get(2)?))
    })? {
        let (h, u, exp) = r?;
        let token = Token {
            holder: Holder::User(u),
            expires_at: Some(exp),
            creator: None,
        };
        out.push((h, token));
    }
    let mut q = db.prepare(
        "SELECT token_hash, staff_id, expires_at FROM staff_sessions
         WHERE staff_id IN (SELECT id FROM staff WHERE disabled = 0)",
    )?;
    for r in q.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get(2)?))
    })? {
        let (h, s, exp) = r?;
        let token = Token {
            holder: Holder::Staff(s),
            expires_at: Some(exp),
            creator: None,
        };
        out.push((h, token));
    }
    let mut q = db.prepare(
        "SELECT token_hash, id, expires_at, created_by FROM api_keys WHERE revoked_at IS NULL",
    )?;
    for r in q.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get(2)?,
            r.get(3)?,
        ))
    })? {
        let (h, k, exp, by) = r?;
        let token = Token {
            holder: Holder::Key(k),
            expires_at: exp,
            creator: by,
        };
        out.push((h, token));
    }
    Ok(out)
}

/// Deletes the sessions whose time is over; returns how many.
pub fn purge_expired(db: &Connection, now_s: i64) -> rusqlite::Result<usize> {
    let a = db.execute(
        "DELETE FROM sessions WHERE expires_at <= ?1",
        params![now_s],
    )?;
    let b = db.execute(
        "DELETE FROM staff_sessions WHERE expires_at <= ?1",
        params![now_s],
    )?;
    Ok(a + b)
}

/// Retires a user id: no new user takes it.
pub fn retire_user(db: &Connection, id: u32, at: Timestamp) -> rusqlite::Result<()> {
    db.execute(
        "INSERT OR IGNORE INTO retired_users (user_id, retired_at) VALUES (?1, ?2)",
        params![id, at.to_string()],
    )?;
    Ok(())
}

/// Which of `ids` are retired.
pub fn retired_among(db: &Connection, ids: &[u32]) -> rusqlite::Result<Vec<u32>> {
    let mut q = db.prepare_cached("SELECT 1 FROM retired_users WHERE user_id = ?1")?;
    let mut out = Vec::new();
    for id in ids {
        if q.exists(params![id])? {
            out.push(*id);
        }
    }
    Ok(out)
}

/// The highest user id the store has known (retired ids and ids with credentials).
pub fn highest_user_id(db: &Connection) -> rusqlite::Result<u32> {
    db.query_row(
        "SELECT MAX(m) FROM (SELECT MAX(user_id) AS m FROM retired_users
                             UNION ALL SELECT MAX(user_id) FROM credentials)",
        [],
        |r| r.get::<_, Option<u32>>(0),
    )
    .map(Option::unwrap_or_default)
}

/// Brings stored accounts in line with the site: credentials and sessions of users that are
/// gone or deleted are removed (gone ids retired), and a credential's username is its user's.
pub fn forget_departed(
    db: &Connection,
    e: &capstan_core::Engine,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let mut q = db.prepare("SELECT user_id, username FROM credentials")?;
    let rows: Vec<(u32, String)> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let tx = db.unchecked_transaction()?;
    for (id, name) in rows {
        match e.user(capstan_core::UserId(id)) {
            Some(u) if !u.deleted => {
                if u.username != name {
                    tx.execute(
                        "UPDATE credentials SET username = '#' || user_id WHERE user_id = ?1",
                        params![id],
                    )?;
                    tx.execute(
                        "UPDATE credentials SET username = ?2 WHERE user_id = ?1
                         AND NOT EXISTS (SELECT 1 FROM credentials WHERE username = ?2)",
                        params![id, u.username],
                    )?;
                }
            }
            found => {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", params![id])?;
                tx.execute("DELETE FROM credentials WHERE user_id = ?1", params![id])?;
                if found.is_none() {
                    retire_user(&tx, id, now)?;
                }
            }
        }
    }
    tx.commit()
}

/// A staff account's row.
#[derive(Debug, Clone)]
pub struct StaffRow {
    /// The account.
    pub account: StaffAccount,
    /// Its password hash.
    pub password_hash: String,
    /// Its TOTP secret (base32), sealed with the server key ([`crate::secret`]).
    pub totp_secret: String,
    /// The last TOTP step used (a code works once).
    pub totp_last_step: i64,
}

fn staff_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StaffRow> {
    Ok(StaffRow {
        account: StaffAccount {
            id: r.get(0)?,
            username: r.get(1)?,
            fullname: r.get(2)?,
            created_at: parse_time(&r.get::<_, String>(3)?),
            disabled: r.get::<_, i64>(7)? != 0,
        },
        password_hash: r.get(4)?,
        totp_secret: r.get(5)?,
        totp_last_step: r.get(6)?,
    })
}

const STAFF_COLUMNS: &str =
    "id, username, fullname, created_at, password_hash, totp_secret, totp_last_step, disabled";

/// A staff account by id.
pub fn staff_by_id(db: &Connection, id: u32) -> rusqlite::Result<Option<StaffRow>> {
    db.query_row(
        &format!("SELECT {STAFF_COLUMNS} FROM staff WHERE id = ?1"),
        params![id],
        staff_from_row,
    )
    .optional()
}

/// A staff account by username.
pub fn staff_by_name(db: &Connection, username: &str) -> rusqlite::Result<Option<StaffRow>> {
    db.query_row(
        &format!("SELECT {STAFF_COLUMNS} FROM staff WHERE username = ?1"),
        params![username],
        staff_from_row,
    )
    .optional()
}

/// Every staff account.
pub fn staff_list(db: &Connection) -> rusqlite::Result<Vec<StaffAccount>> {
    let mut q = db.prepare(&format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY id"))?;
    let rows = q.query_map([], staff_from_row)?;
    rows.map(|r| r.map(|s| s.account)).collect()
}

/// Every service key, with its status at `now` (`creator_ok` tells whether a creator may
/// still make keys).
pub fn api_keys(
    db: &Connection,
    now: Timestamp,
    creator_ok: &dyn Fn(u32) -> bool,
) -> rusqlite::Result<Vec<ApiKey>> {
    let mut q = db.prepare(
        "SELECT id, name, created_at, created_by, expires_at, revoked_at FROM api_keys ORDER BY id",
    )?;
    let rows = q.query_map([], |r| {
        let created_by: Option<u32> = r.get(3)?;
        let expires_at: Option<i64> = r.get(4)?;
        let revoked_at = r.get::<_, Option<String>>(5)?.map(|t| parse_time(&t));
        let status = if revoked_at.is_some() {
            KeyStatus::Revoked
        } else if expires_at.is_some_and(|e| e <= now.unix_seconds()) {
            KeyStatus::Expired
        } else if created_by.is_some_and(|u| !creator_ok(u)) {
            KeyStatus::CreatorLacksRight
        } else {
            KeyStatus::Active
        };
        Ok(ApiKey {
            id: r.get(0)?,
            name: r.get(1)?,
            created_at: parse_time(&r.get::<_, String>(2)?),
            created_by,
            expires_at: expires_at.map(Timestamp::from_unix_seconds),
            revoked_at,
            status,
        })
    })?;
    rows.collect()
}

fn scope_text(s: &SupportScope) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "{}".into())
}

fn scope_of(text: &str) -> SupportScope {
    serde_json::from_str(text).unwrap_or_default()
}

/// Stores a new request.
pub fn insert_request(
    db: &Connection,
    staff: u32,
    reason: &str,
    scope: &SupportScope,
    at: Timestamp,
) -> rusqlite::Result<u64> {
    db.execute(
        "INSERT INTO support_requests (staff_id, reason, scope, status, created_at)
         VALUES (?1, ?2, ?3, 'pending', ?4)",
        params![staff, reason, scope_text(scope), at.to_string()],
    )?;
    Ok(db.last_insert_rowid() as u64)
}

const REQUEST_SELECT: &str = "SELECT r.id, r.staff_id, s.username, r.reason, r.scope, r.status,
    r.created_at, r.decided_by, r.decided_at, r.note, g.id
    FROM support_requests r JOIN staff s ON s.id = r.staff_id
    LEFT JOIN support_grants g ON g.request_id = r.id";

fn request_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SupportRequest> {
    Ok(SupportRequest {
        id: r.get::<_, i64>(0)? as u64,
        staff: r.get(1)?,
        staff_username: r.get(2)?,
        reason: r.get(3)?,
        scope: scope_of(&r.get::<_, String>(4)?),
        status: RequestStatus::from_name(&r.get::<_, String>(5)?).unwrap_or(RequestStatus::Denied),
        created_at: parse_time(&r.get::<_, String>(6)?),
        decided_by: r.get(7)?,
        decided_at: r.get::<_, Option<String>>(8)?.map(|t| parse_time(&t)),
        note: r.get(9)?,
        grant: r.get::<_, Option<i64>>(10)?.map(|g| g as u64),
    })
}

/// One request.
pub fn request(db: &Connection, id: u64) -> rusqlite::Result<Option<SupportRequest>> {
    db.query_row(
        &format!("{REQUEST_SELECT} WHERE r.id = ?1"),
        params![id as i64],
        request_from_row,
    )
    .optional()
}

/// Requests, newest first, optionally of one staff account and in one state.
pub fn requests(
    db: &Connection,
    staff: Option<u32>,
    status: Option<RequestStatus>,
) -> rusqlite::Result<Vec<SupportRequest>> {
    let mut q = db.prepare(&format!(
        "{REQUEST_SELECT} WHERE (?1 IS NULL OR r.staff_id = ?1) AND (?2 IS NULL OR r.status = ?2)
         ORDER BY r.id DESC"
    ))?;
    let rows = q.query_map(
        params![staff, status.map(RequestStatus::name)],
        request_from_row,
    )?;
    rows.collect()
}

/// Records a decision on a request.
pub fn decide_request(
    db: &Connection,
    id: u64,
    status: RequestStatus,
    by: u32,
    at: Timestamp,
    note: Option<&str>,
) -> rusqlite::Result<()> {
    db.execute(
        "UPDATE support_requests SET status = ?2, decided_by = ?3, decided_at = ?4, note = ?5
         WHERE id = ?1",
        params![id as i64, status.name(), by, at.to_string(), note],
    )?;
    Ok(())
}

/// A grant to store.
pub struct NewGrant<'a> {
    /// The request.
    pub request: u64,
    /// The staff account.
    pub staff: u32,
    /// The identifier.
    pub identifier: &'a str,
    /// The temporary user.
    pub user: u32,
    /// Its role.
    pub role: u32,
    /// Its scope.
    pub scope: &'a SupportScope,
    /// The admin.
    pub granted_by: u32,
    /// Start.
    pub created_at: Timestamp,
    /// End.
    pub expires_at: Timestamp,
}

/// Stores a grant.
pub fn insert_grant(db: &Connection, g: &NewGrant<'_>) -> rusqlite::Result<u64> {
    db.execute(
        "INSERT INTO support_grants (request_id, staff_id, identifier, user_id, role_id, scope,
           granted_by, created_at, expires_at, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            g.request as i64,
            g.staff,
            g.identifier,
            g.user,
            g.role,
            scope_text(g.scope),
            g.granted_by,
            g.created_at.to_string(),
            g.expires_at.to_string(),
            g.expires_at.unix_millis()
        ],
    )?;
    Ok(db.last_insert_rowid() as u64)
}

/// A stored grant with the facts its status is computed from.
#[derive(Debug, Clone)]
pub struct GrantRow {
    /// The grant as the API shows it (status as of the instant it was read at).
    pub grant: SupportGrant,
    /// The temporary user has been deleted from the site.
    pub user_removed: bool,
}

const GRANT_SELECT: &str = "SELECT g.id, g.request_id, g.staff_id, s.username, g.identifier,
    g.user_id, g.role_id, g.scope, g.granted_by, g.created_at, g.expires_at, g.expires_ms,
    g.revoked_at, g.user_removed
    FROM support_grants g JOIN staff s ON s.id = g.staff_id";

fn grant_from_row(r: &rusqlite::Row<'_>, now: Timestamp) -> rusqlite::Result<GrantRow> {
    let expires_ms: i64 = r.get(11)?;
    let revoked_at = r.get::<_, Option<String>>(12)?.map(|t| parse_time(&t));
    let status = if revoked_at.is_some() {
        GrantStatus::Revoked
    } else if now.unix_millis() >= expires_ms {
        GrantStatus::Expired
    } else {
        GrantStatus::Active
    };
    Ok(GrantRow {
        grant: SupportGrant {
            id: r.get::<_, i64>(0)? as u64,
            request: r.get::<_, i64>(1)? as u64,
            staff: r.get(2)?,
            staff_username: r.get(3)?,
            identifier: r.get(4)?,
            user: r.get(5)?,
            role: r.get(6)?,
            scope: scope_of(&r.get::<_, String>(7)?),
            granted_by: r.get(8)?,
            created_at: parse_time(&r.get::<_, String>(9)?),
            expires_at: parse_time(&r.get::<_, String>(10)?),
            status,
            revoked_at,
        },
        user_removed: r.get::<_, i64>(13)? != 0,
    })
}

/// One grant.
pub fn grant(db: &Connection, id: u64, now: Timestamp) -> rusqlite::Result<Option<GrantRow>> {
    db.query_row(
        &format!("{GRANT_SELECT} WHERE g.id = ?1"),
        params![id as i64],
        |r| grant_from_row(r, now),
    )
    .optional()
}

/// Grants, newest first, optionally of one staff account.
pub fn grants(
    db: &Connection,
    staff: Option<u32>,
    now: Timestamp,
) -> rusqlite::Result<Vec<GrantRow>> {
    let mut q = db.prepare(&format!(
        "{GRANT_SELECT} WHERE (?1 IS NULL OR g.staff_id = ?1) ORDER BY g.id DESC"
    ))?;
    let rows = q.query_map(params![staff], |r| grant_from_row(r, now))?;
    rows.collect()
}

/// The staff account's grant in force at `now`, if any (the newest one).
pub fn active_grant(
    db: &Connection,
    staff: u32,
    now: Timestamp,
) -> rusqlite::Result<Option<SupportGrant>> {
    db.query_row(
        &format!(
            "{GRANT_SELECT} WHERE g.staff_id = ?1 AND g.revoked_at IS NULL AND g.user_removed = 0
             AND g.expires_ms > ?2 ORDER BY g.id DESC LIMIT 1"
        ),
        params![staff, now.unix_millis()],
        |r| grant_from_row(r, now).map(|g| g.grant),
    )
    .optional()
}

/// Grants whose temporary user is still on the site although the grant has ended.
pub fn ended_grants(db: &Connection, now: Timestamp) -> rusqlite::Result<Vec<SupportGrant>> {
    let mut q = db.prepare(&format!(
        "{GRANT_SELECT} WHERE g.user_removed = 0 AND (g.revoked_at IS NOT NULL OR g.expires_ms <= ?1)
         ORDER BY g.id"
    ))?;
    let rows = q.query_map(params![now.unix_millis()], |r| {
        grant_from_row(r, now).map(|g| g.grant)
    })?;
    rows.collect()
}
