//! Several clients posting edits at once: no lost update. Each batch on a stale base gets 409
//! with what it missed; every accepted batch is in the site and in the change list once.

use crate::common::{Server, tenants_fixture};
use serde_json::json;
use std::sync::{Arc, Barrier};

const CLIENTS: usize = 6;

fn new_course(id: u32) -> serde_json::Value {
    json!({"op": "put_context", "context": {"id": id, "level": "course", "parent": 6, "name": format!("course {id}")}})
}

#[test]
fn concurrent_batches_on_one_base_accept_one_and_refuse_the_rest() {
    let s = Server::start("race", Some(tenants_fixture()));
    let token = s.login("admin", "admin-pass-1");
    let rounds = 8;
    for round in 0..rounds {
        let base = s.revision();
        let barrier = Arc::new(Barrier::new(CLIENTS));
        let results: Vec<(u32, u16, serde_json::Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    let (c, t, b) = (s.client.clone(), token.clone(), barrier.clone());
                    scope.spawn(move || {
                        let id = 1000 + round * 100 + i as u32;
                        b.wait();
                        let r = c.post(
                            "/api/v1/changes",
                            &t,
                            json!({"base_revision": base, "ops": [new_course(id)]}),
                        );
                        (id, r.status, r.body)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = results.iter().filter(|r| r.1 == 200).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        for (_, status, body) in results.iter().filter(|r| r.1 != 200) {
            assert_eq!(*status, 409, "{body}");
            assert_eq!(body["missed"][0]["ops"][0]["context"]["id"], won[0].0);
        }
    }
    assert_eq!(s.revision(), rounds as u64);
}

#[test]
fn clients_that_retry_on_conflict_lose_no_update() {
    let s = Server::start("retry", Some(tenants_fixture()));
    let token = s.login("admin", "admin-pass-1");
    let per_client = 10u32;
    let conflicts: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS as u32)
            .map(|i| {
                let (c, t) = (s.client.clone(), token.clone());
                scope.spawn(move || {
                    let mut conflicts = 0;
                    for n in 0..per_client {
                        let id = 2000 + i * 100 + n;
                        loop {
                            let base = c.get("/api/v1/changes?since=999999", &t).body["revision"]
                                .as_u64()
                                .unwrap();
                            let r = c.post(
                                "/api/v1/changes",
                                &t,
                                json!({"base_revision": base, "ops": [new_course(id)]}),
                            );
                            match r.status {
                                200 => break,
                                409 => conflicts += 1,
                                other => panic!("{other}: {}", r.text),
                            }
                        }
                    }
                    conflicts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let total = CLIENTS as u64 * u64::from(per_client);
    assert_eq!(s.revision(), total);
    let site = s.get("/api/v1/site", &token).body;
    for i in 0..CLIENTS as u32 {
        for n in 0..per_client {
            let id = 2000 + i * 100 + n;
            assert!(
                site["contexts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["id"] == id),
                "course {id} lost"
            );
        }
    }
    let changes = s.get("/api/v1/changes?since=0", &token).body;
    assert_eq!(changes["changes"].as_array().unwrap().len() as u64, total);
    println!("{total} batches from {CLIENTS} clients, {conflicts} conflicts retried");
}
