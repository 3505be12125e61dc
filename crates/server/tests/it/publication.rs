//! Left-right publication (`state.rs`): random batches of every kind of edit, committed through
//! `AppState::commit` — some refused half-way, some stale, some while a reader still holds the
//! site they replace — publish exactly the site that replaying the accepted batches gives, and it
//! answers as the same site compiled from scratch. When nobody holds the old site, commits reuse
//! the spare instead of copying.

use crate::common::{Server, tenants_fixture};
use capstan_core::{CheckOptions, EditOp, Engine};
use capstan_server::state::{Author, CommitError};
use serde_json::{Value, json};

/// The same database opened again, as a restart does.
fn reopen(s: &Server) -> capstan_server::Opened {
    capstan_server::AppState::open(
        s.state.db_path(),
        capstan_server::OpenOptions::default(),
        s.clock.clone(),
    )
    .unwrap()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, v: &'a [Value]) -> &'a Value {
        v.get(self.below(v.len())).unwrap_or(&Value::Null)
    }
}

fn ids(doc: &Value, key: &str) -> Vec<u64> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["id"].as_u64())
        .collect()
}

/// One random edit of any kind, built from the site's JSON.
fn random_op(doc: &Value, r: &mut Rng, n: u64) -> EditOp {
    let arr = |k: &str| doc[k].as_array().cloned().unwrap_or_default();
    let (roles, contexts, users, caps) = (
        arr("roles"),
        arr("contexts"),
        arr("users"),
        arr("capabilities"),
    );
    // An emptied list gives an id nobody has (the edit is then refused).
    let or_missing = |v: Value| if v.is_null() { json!(999_999) } else { v };
    let role = or_missing(r.pick(&roles)["id"].clone());
    let context = or_missing(r.pick(&contexts)["id"].clone());
    let user = or_missing(r.pick(&users)["id"].clone());
    let cap = r.pick(&caps)["name"].clone();
    let next_id = |k: &str| ids(doc, k).into_iter().max().unwrap_or(0) + 1 + n;
    let op = match r.below(14) {
        0 | 1 => {
            let permission = [
                Value::Null,
                json!("allow"),
                json!("prevent"),
                json!("prohibit"),
            ][r.below(4)]
            .clone();
            json!({"op": "set_permission", "role": role, "context": context, "capability": cap,
                "permission": permission})
        }
        2 => json!({"op": "assign", "user": user, "role": role, "context": context}),
        3 => json!({"op": "unassign", "user": user, "role": role, "context": context}),
        4 => json!({"op": "add_switch", "user": user, "context": context, "role": role}),
        5 => json!({"op": "remove_switch", "user": user, "context": context}),
        6 => {
            let mut doc = r.pick(&roles).clone();
            if r.below(2) == 0 || doc.is_null() {
                doc = json!({});
                let id = next_id("roles");
                doc["id"] = json!(id);
                doc["shortname"] = json!(format!("role{id}"));
            } else {
                doc["name"] = json!(format!("Renamed {n}"));
                doc["allow_assign"] = json!([role]);
            }
            json!({"op": "put_role", "role": doc})
        }
        7 => json!({"op": "delete_role", "role": role}),
        8 => {
            let parents: Vec<Value> = contexts
                .iter()
                .filter(|c| c["level"] == "coursecat")
                .cloned()
                .collect();
            let parent = or_missing(r.pick(&parents)["id"].clone());
            json!({"op": "put_context", "context": {"id": next_id("contexts"), "level": "course", "parent": parent, "name": format!("Course {n}")}})
        }
        9 => json!({"op": "delete_context", "context": context}),
        10 => {
            if r.below(2) == 0 {
                let id = next_id("users");
                json!({"op": "put_user", "user": {"id": id, "username": format!("user{id}")}})
            } else {
                let mut doc = r.pick(&users).clone();
                if doc.is_null() {
                    doc = json!({"id": 999_999, "username": "nobody"});
                }
                doc["suspended"] = json!(r.below(2) == 0);
                json!({"op": "put_user", "user": doc})
            }
        }
        11 => json!({"op": "delete_user", "user": user}),
        12 => {
            let mut settings = doc["settings"].clone();
            settings["tenant_isolation"] = json!(r.below(2) == 0);
            settings["force_login"] = json!(r.below(2) == 0);
            json!({"op": "set_settings", "settings": settings})
        }
        _ => {
            json!({"op": "put_capability", "capability": {"name": format!("local/test:cap{n}"), "captype": "read", "contextlevel": "course"}})
        }
    };
    serde_json::from_value(op).unwrap()
}

/// Every (user, capability, context) answer of the site.
fn answers(e: &Engine) -> Vec<bool> {
    let mut out = Vec::new();
    for u in e.users() {
        for c in e.capabilities() {
            for x in e.contexts() {
                out.push(
                    e.has_capability(
                        u.id,
                        &c.name,
                        x.id,
                        CheckOptions::at(capstan_core::Timestamp::from_unix_seconds(1_800_000_000)),
                    )
                    .unwrap_or(false),
                );
            }
        }
    }
    out
}

#[test]
fn random_batches_publish_the_site_a_replay_and_a_fresh_compile_give() {
    let s = Server::start("publication", Some(tenants_fixture()));
    let author = Author::default();
    let allow = |_: &Engine, _: &EditOp| Ok(());
    let nothing = |_: &rusqlite::Transaction<'_>, _: u64| Ok(());
    let mut shadow = Engine::from_json(&s.state.site().engine.to_json()).unwrap();
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut refused, mut stale) = (0, 0, 0);
    let mut held = None;
    for n in 0..300u64 {
        let current = s.state.site();
        let doc: Value = serde_json::from_str(&current.engine.to_json()).unwrap();
        let ops: Vec<EditOp> = (0..1 + r.below(4))
            .map(|k| random_op(&doc, &mut r, n * 8 + k as u64))
            .collect();
        // Now and then a reader keeps the site this commit replaces (the spare must be copied).
        if r.below(5) == 0 {
            held = Some(current.clone());
        } else if r.below(2) == 0 {
            held = None;
        }
        let base = if r.below(10) == 0 && current.revision > 0 {
            current.revision - 1
        } else {
            current.revision
        };
        drop(current);
        match s
            .state
            .commit(&author, Some(base), ops.clone(), &allow, &nothing)
        {
            Ok(rev) => {
                accepted += 1;
                shadow.apply_all(ops).unwrap();
                let published = s.state.site();
                assert_eq!(published.revision, rev);
                // Exactly the replayed site, and it answers as the same site compiled afresh.
                assert_eq!(
                    published.engine.to_json(),
                    shadow.to_json(),
                    "after revision {rev}"
                );
                if n % 10 == 0 {
                    let fresh = Engine::from_json(&published.engine.to_json()).unwrap();
                    assert_eq!(
                        answers(&published.engine),
                        answers(&fresh),
                        "revision {rev}"
                    );
                }
            }
            Err(CommitError::Stale { .. }) => stale += 1,
            Err(CommitError::Refused(_)) => {
                refused += 1;
                // A refused batch publishes nothing.
                assert_eq!(s.state.site().engine.to_json(), shadow.to_json());
            }
        }
    }
    drop(held);
    let stats = s.state.spare_stats();
    assert!(
        accepted > 50 && refused > 10 && stale > 5,
        "{accepted} accepted, {refused} refused, {stale} stale"
    );
    // Both paths ran (batches refused half-way and held readers make copies).
    assert!(stats.reused > 50 && stats.copied > 10, "{stats:?}");
    // A restart replays the same history to the same site.
    let json = s.state.site().engine.to_json();
    let reopened = reopen(&s);
    assert_eq!(reopened.state.site().engine.to_json(), json);
}

#[test]
fn a_commit_reuses_the_spare_when_nobody_reads_the_old_site() {
    let s = Server::start("publication-spare", Some(tenants_fixture()));
    let allow = |_: &Engine, _: &EditOp| Ok(());
    let nothing = |_: &rusqlite::Transaction<'_>, _: u64| Ok(());
    let op = |p: &str| -> Vec<EditOp> {
        vec![serde_json::from_value(json!({"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": p})).unwrap()]
    };
    for i in 0..20 {
        let rev = s.state.site().revision;
        let p = if i % 2 == 0 { "prohibit" } else { "allow" };
        s.state
            .commit(&Author::default(), Some(rev), op(p), &allow, &nothing)
            .ok()
            .unwrap();
    }
    // The first commit copies (no spare yet), the second too (the first's old site is its
    // spare only from then on) at most; every later one reuses.
    let stats = s.state.spare_stats();
    assert!(stats.copied <= 2 && stats.reused >= 18, "{stats:?}");
    // A stale single edit leaves the spare clean.
    let rev = s.state.site().revision;
    assert!(matches!(
        s.state.commit(
            &Author::default(),
            Some(rev - 1),
            op("allow"),
            &allow,
            &nothing
        ),
        Err(CommitError::Stale { .. })
    ));
    s.state
        .commit(
            &Author::default(),
            Some(rev),
            op("prevent"),
            &allow,
            &nothing,
        )
        .ok()
        .unwrap();
    let after = s.state.spare_stats();
    assert_eq!(after.copied, stats.copied, "{after:?}");
}

#[test]
fn a_restart_after_10000_revisions_loads_a_checkpoint_and_replays_only_the_tail() {
    let s = Server::start_with("checkpoints", Some(tenants_fixture()), |o| {
        o.checkpoint_every = Some(1_000)
    });
    let allow = |_: &Engine, _: &EditOp| Ok(());
    let nothing = |_: &rusqlite::Transaction<'_>, _: u64| Ok(());
    let perms = ["prohibit", "allow", "prevent"];
    for i in 0..10_000 {
        let rev = s.state.site().revision;
        let ops: Vec<EditOp> = vec![
            serde_json::from_value(json!({"op": "set_permission",
            "role": 5, "context": 1, "capability": "moodle/course:view",
            "permission": perms[i % 3]}))
            .unwrap(),
        ];
        s.state
            .commit(&Author::default(), Some(rev), ops, &allow, &nothing)
            .ok()
            .unwrap();
    }
    assert_eq!(s.state.site().revision, 10_000);
    // Checkpoints are written in the background: wait for the one at (or near) the end.
    let db = rusqlite::Connection::open(s.state.db_path()).unwrap();
    let newest = || capstan_server::store::checkpoint_revision(&db).unwrap();
    let t = std::time::Instant::now();
    while newest() < 9_000 {
        assert!(
            t.elapsed().as_secs() < 60,
            "no checkpoint after 9,000 revisions"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kept: i64 = db
        .query_row("SELECT COUNT(*) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    assert!(kept <= 2, "old checkpoints are dropped ({kept} kept)");
    // The history stays whole for /changes and the audit.
    let history: i64 = db
        .query_row("SELECT COUNT(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(history, 10_000);
    let json = s.state.site().engine.to_json();
    let reopened = reopen(&s);
    let started = reopened.state.started();
    let from = started.checkpoint.expect("started from a checkpoint");
    assert!(from >= 9_000, "{started:?}");
    assert_eq!(started.replayed, 10_000 - from, "{started:?}");
    assert!(started.problems.is_empty(), "{started:?}");
    assert_eq!(reopened.state.site().revision, 10_000);
    assert_eq!(reopened.state.site().engine.to_json(), json);
}

#[test]
fn a_checkpoint_or_a_change_this_build_refuses_is_reported_never_fatal() {
    let s = Server::start_with("checkpoint-bad", Some(tenants_fixture()), |o| {
        o.checkpoint_every = Some(0)
    });
    let allow = |_: &Engine, _: &EditOp| Ok(());
    let nothing = |_: &rusqlite::Transaction<'_>, _: u64| Ok(());
    for p in ["prohibit", "allow"] {
        let rev = s.state.site().revision;
        let ops: Vec<EditOp> = vec![
            serde_json::from_value(json!({"op": "set_permission",
            "role": 5, "context": 1, "capability": "moodle/course:view", "permission": p}))
            .unwrap(),
        ];
        s.state
            .commit(&Author::default(), Some(rev), ops, &allow, &nothing)
            .ok()
            .unwrap();
    }
    assert_eq!(s.state.write_checkpoint().unwrap().0, 2);
    let db = rusqlite::Connection::open(s.state.db_path()).unwrap();
    // A newer checkpoint this build cannot read, and a batch that no longer applies.
    db.execute(
        "INSERT INTO checkpoints (revision, format, data, written_at) VALUES (3, 'capstan/9', x'00', 'now')",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO changes (revision, ops, at) VALUES (3, '[{\"op\":\"delete_role\",\"role\":4242}]', 'now')",
        [],
    )
    .unwrap();
    let reopened = reopen(&s);
    let started = reopened.state.started().clone();
    assert_eq!(started.checkpoint, Some(2), "{started:?}");
    assert_eq!(started.replayed, 1);
    assert_eq!(started.problems.len(), 2, "{started:?}");
    assert!(started.problems[0].contains("checkpoint at revision 3"));
    assert!(started.problems[1].contains("change 3 no longer applies"));
    assert_eq!(reopened.state.site().revision, 3);
}

#[test]
fn a_checkpoint_never_makes_a_new_database_where_the_old_one_went() {
    let s = Server::start_with("checkpoint-gone", Some(tenants_fixture()), |o| {
        o.checkpoint_every = Some(0)
    });
    let path = s.state.db_path().to_path_buf();
    std::fs::rename(&path, path.with_extension("moved")).unwrap();
    assert!(s.state.write_checkpoint().is_err());
    assert!(!path.exists(), "a checkpoint made a new database file");
}
