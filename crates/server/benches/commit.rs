//! Criterion benchmarks of the server's commit path: a batch of one `set_permission`
//! committed by `AppState::commit` (checked, stored in SQLite with its audit entry in one
//! durable transaction, published to readers) on the large generated site (100,000 contexts)
//! and, with `CAPSTAN_BENCH_1M=1`, on the 1M-context site (`capstan generate --contexts
//! 1000000 --users 100000 --assignments 400000`). After criterion's figures each site also
//! prints the median and p99 of 500 single commits, and the time a restart takes.
//!
//! ```sh
//! cargo bench -p capstan-server --bench commit
//! CAPSTAN_BENCH_1M=1 cargo bench -p capstan-server --bench commit
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use capstan_core::generate::{GenerateOptions, generate};
use capstan_core::{ContextId, EditOp, Engine, Permission, RoleId};
use capstan_server::state::Author;
use capstan_server::{AppState, OpenOptions, SystemClock};
use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Site {
    name: &'static str,
    state: AppState,
    dir: std::path::PathBuf,
    ops: [Vec<EditOp>; 2],
    /// The next id for a new user.
    next_user: std::cell::Cell<u32>,
}

fn open(name: &'static str, o: &GenerateOptions) -> Site {
    let site = generate(o);
    let json = site.to_json();
    let dir = std::env::temp_dir().join(format!(
        "capstan-bench-commit-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t = Instant::now();
    let state = AppState::open(
        &dir.join("capstan.db"),
        OpenOptions {
            seed: Some(json),
            create: true,
            admin_password: Some("bench-admin-pass".into()),
            ..OpenOptions::default()
        },
        Arc::new(SystemClock),
    )
    .unwrap()
    .state;
    println!("{name}: first start {:.2} s", t.elapsed().as_secs_f64());
    let e = &state.site().engine;
    let course = e
        .contexts()
        .iter()
        .find(|c| c.level == capstan_core::ContextLevel::Course)
        .map(|c| c.id)
        .unwrap_or(ContextId(1));
    let capability = e.capabilities().first().unwrap().name.clone();
    let op = |p: Permission| {
        vec![EditOp::SetPermission {
            role: RoleId(5),
            context: course,
            capability: capability.clone(),
            permission: Some(p),
        }]
    };
    let next_user = std::cell::Cell::new(e.users().iter().map(|u| u.id.0).max().unwrap_or(0) + 1);
    Site {
        name,
        dir,
        ops: [op(Permission::Prohibit), op(Permission::Allow)],
        next_user,
        state,
    }
}

fn commit(s: &Site, i: usize) {
    let allow = |_: &Engine, _: &EditOp| Ok(());
    let nothing = |_: &rusqlite::Transaction<'_>, _: u64| Ok(());
    let rev = s.state.site().revision;
    let ok = s
        .state
        .commit(
            &Author::default(),
            Some(rev),
            s.ops[i % 2].clone(),
            &allow,
            &nothing,
        )
        .is_ok();
    assert!(ok);
}

/// Commits a batch of one new user (a structural edit).
fn new_user(s: &Site) {
    let allow = |_: &Engine, _: &EditOp| Ok(());
    let nothing = |_: &rusqlite::Transaction<'_>, _: u64| Ok(());
    let id = s.next_user.get();
    s.next_user.set(id + 1);
    let op = EditOp::PutUser {
        user: capstan_core::snapshot::UserDoc::from(&capstan_core::User {
            id: capstan_core::UserId(id),
            username: format!("bench{id}"),
            tenant: None,
            participant_of: Vec::new(),
            deleted: false,
            suspended: false,
            fullname: None,
            email: None,
            support_identifier: None,
        }),
    };
    let rev = s.state.site().revision;
    let ok = s
        .state
        .commit(&Author::default(), Some(rev), vec![op], &allow, &nothing)
        .is_ok();
    assert!(ok);
}

fn report(s: &Site) {
    let mut times: Vec<Duration> = (0..500)
        .map(|i| {
            let t = Instant::now();
            commit(s, i);
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{}: single commit median {:.2} ms, p99 {:.2} ms, max {:.2} ms (500 commits; spare {:?})",
        s.name,
        times[250].as_secs_f64() * 1e3,
        times[495].as_secs_f64() * 1e3,
        times[499].as_secs_f64() * 1e3,
        s.state.spare_stats()
    );
    let revisions = s.state.site().revision;
    let t = Instant::now();
    let reopened = AppState::open(
        &s.dir.join("capstan.db"),
        OpenOptions::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    println!(
        "{}: restart with {revisions} revisions of history {:.2} s (replayed {})",
        s.name,
        t.elapsed().as_secs_f64(),
        reopened.state.started().replayed
    );
}

fn bench(c: &mut Criterion) {
    let mut sites = vec![open("large", &GenerateOptions::large())];
    if std::env::var_os("CAPSTAN_BENCH_1M").is_some() {
        let mut o = GenerateOptions::large();
        o.contexts = 1_000_000;
        o.users = 100_000;
        o.assignments = 400_000;
        sites.push(open("1m", &o));
    }
    let mut g = c.benchmark_group("commit");
    g.sample_size(50);
    for s in &sites {
        let mut i = 0;
        g.bench_function(format!("set_permission/{}", s.name), |b| {
            b.iter(|| {
                i += 1;
                commit(s, i)
            })
        });
        g.bench_function(format!("put_user_new/{}", s.name), |b| {
            b.iter(|| new_user(s))
        });
    }
    g.finish();
    for s in &sites {
        report(s);
        let _ = std::fs::remove_dir_all(&s.dir);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
