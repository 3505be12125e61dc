//! The audit log: append-only and hash-chained. Each entry's hash covers the previous entry's
//! hash and every field of the entry, so editing or deleting any entry breaks the chain from
//! there on, and `verify` finds the first broken one.

use capstan_api::{AuditEntry, AuditPage, AuditQuery, ChainReport};
use capstan_core::{Timestamp, UserId};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// An entry to append.
#[derive(Debug, Clone)]
pub struct Record {
    /// When.
    pub at: Timestamp,
    /// The site user who acted.
    pub actor: Option<UserId>,
    /// The staff account's username behind a support identity.
    pub staff: Option<String>,
    /// The support identifier.
    pub support_identifier: Option<String>,
    /// What happened.
    pub action: &'static str,
    /// The details.
    pub detail: Value,
    /// The tenants it is about.
    pub tenants: Vec<u32>,
}

impl Record {
    /// An entry with no support identity and no tenant.
    pub fn new(at: Timestamp, actor: Option<UserId>, action: &'static str, detail: Value) -> Self {
        Record {
            at,
            actor,
            staff: None,
            support_identifier: None,
            action,
            detail,
            tenants: Vec::new(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev: &str,
    seq: i64,
    at: &str,
    actor: Option<u32>,
    action: &str,
    detail: &str,
    staff: Option<&str>,
    support_identifier: Option<&str>,
    tenants: &[u32],
) -> String {
    let actor = actor.map(|a| a.to_string()).unwrap_or_default();
    let mut text = format!("{prev}\n{seq}\n{at}\n{actor}\n{action}\n{detail}");
    // Fields added after the first schema enter the hash only when set, so entries written
    // before them still verify.
    if let Some(s) = staff {
        text.push_str(&format!("\nstaff:{s}"));
    }
    if let Some(s) = support_identifier {
        text.push_str(&format!("\nsupport:{s}"));
    }
    if !tenants.is_empty() {
        let list: Vec<String> = tenants.iter().map(u32::to_string).collect();
        text.push_str(&format!("\ntenants:{}", list.join(",")));
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Appends an entry (inside the caller's transaction, if any); returns its sequence number.
pub fn append(db: &Connection, r: &Record) -> rusqlite::Result<i64> {
    let prev: Option<(i64, String)> = db
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match prev {
        Some((s, h)) => (s + 1, h),
        None => (1, String::new()),
    };
    let mut tenants = r.tenants.clone();
    tenants.sort_unstable();
    tenants.dedup();
    let at = r.at.to_string();
    let detail = r.detail.to_string();
    let actor = r.actor.map(|u| u.0);
    let hash = chain_hash(
        &prev_hash,
        seq,
        &at,
        actor,
        r.action,
        &detail,
        r.staff.as_deref(),
        r.support_identifier.as_deref(),
        &tenants,
    );
    db.execute(
        "INSERT INTO audit (seq, at, actor, action, detail, prev_hash, hash, staff, support_identifier, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            seq,
            at,
            actor,
            r.action,
            detail,
            prev_hash,
            hash,
            r.staff,
            r.support_identifier,
            r.at.unix_millis()
        ],
    )?;
    for t in tenants {
        db.execute(
            "INSERT INTO audit_tenant (seq, tenant) VALUES (?1, ?2)",
            params![seq, t],
        )?;
    }
    Ok(seq)
}

fn tenants_of(db: &Connection, seq: i64) -> rusqlite::Result<Vec<u32>> {
    let mut stmt =
        db.prepare_cached("SELECT tenant FROM audit_tenant WHERE seq = ?1 ORDER BY tenant")?;
    let rows = stmt.query_map(params![seq], |r| r.get::<_, u32>(0))?;
    rows.collect()
}

/// Recomputes the chain from the first entry.
pub fn verify(db: &Connection) -> rusqlite::Result<ChainReport> {
    let mut stmt = db.prepare(
        "SELECT seq, at, actor, action, detail, prev_hash, hash, staff, support_identifier
         FROM audit ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let (mut prev, mut expect_seq, mut n) = (String::new(), 1i64, 0i64);
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let at: String = r.get(1)?;
        let actor: Option<u32> = r.get(2)?;
        let action: String = r.get(3)?;
        let detail: String = r.get(4)?;
        let prev_hash: String = r.get(5)?;
        let hash: String = r.get(6)?;
        let staff: Option<String> = r.get(7)?;
        let ident: Option<String> = r.get(8)?;
        n += 1;
        let tenants = tenants_of(db, seq)?;
        let ok = seq == expect_seq
            && prev_hash == prev
            && hash
                == chain_hash(
                    &prev_hash,
                    seq,
                    &at,
                    actor,
                    &action,
                    &detail,
                    staff.as_deref(),
                    ident.as_deref(),
                    &tenants,
                );
        if !ok {
            return Ok(ChainReport {
                ok: false,
                entries: n,
                first_bad: Some(seq),
            });
        }
        prev = hash;
        expect_seq += 1;
    }
    Ok(ChainReport {
        ok: true,
        entries: n,
        first_bad: None,
    })
}

/// The part of the log a reader may see.
#[derive(Debug, Clone)]
pub struct AuditCut {
    /// Entries about no tenant (the top-level site).
    pub untagged: bool,
    /// Entries about these tenants and no other.
    pub tenants: Vec<u32>,
}

/// The page of entries `q` asks for; with a cut, only the entries whose tenants all lie in
/// it (an entry about a tenant outside the cut is never shown), and entries about no tenant
/// only when the cut holds the top-level site.
pub fn page(
    db: &Connection,
    q: &AuditQuery,
    cut: Option<&AuditCut>,
) -> rusqlite::Result<AuditPage> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let mut stmt = db.prepare(
        "SELECT seq, at, actor, staff, support_identifier, action, detail, hash FROM audit
         WHERE seq > ?1
           AND (?2 IS NULL OR actor = ?2)
           AND (?3 IS NULL OR (?3 = 1 AND support_identifier IS NOT NULL)
                           OR (?3 = 0 AND support_identifier IS NULL))
           AND (?4 IS NULL OR at_ms >= ?4)
           AND (?5 IS NULL OR at_ms < ?5)
           AND (?6 IS NULL OR (NOT EXISTS (SELECT 1 FROM audit_tenant t
                                       WHERE t.seq = audit.seq
                                         AND t.tenant NOT IN (SELECT value FROM json_each(?6)))
                               AND (?8 = 1 OR EXISTS (SELECT 1 FROM audit_tenant t
                                       WHERE t.seq = audit.seq))))
         ORDER BY seq LIMIT ?7",
    )?;
    let mut rows = stmt.query(params![
        q.after.unwrap_or(0),
        q.user,
        q.support.map(i64::from),
        q.from.map(Timestamp::unix_millis),
        q.until.map(Timestamp::unix_millis),
        cut.map(|c| serde_json::json!(c.tenants).to_string()),
        limit,
        cut.is_some_and(|c| c.untagged)
    ])?;
    let mut entries = Vec::new();
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let at: String = r.get(1)?;
        entries.push(AuditEntry {
            seq,
            at: Timestamp::parse(&at).unwrap_or_else(|_| Timestamp::from_unix_millis(0)),
            actor: r.get(2)?,
            staff: r.get(3)?,
            support_identifier: r.get(4)?,
            action: r.get(5)?,
            detail: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or(Value::Null),
            tenants: tenants_of(db, seq)?,
            hash: r.get(7)?,
        });
    }
    let next_after = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(AuditPage {
        entries,
        next_after,
    })
}
