//! The attacks of the security review (issue 10), each reproduced against a real server on
//! loopback with a real SQLite file, and refused.

use crate::common::{
    Client, ManualClock, Resp, START_MS, Server, set_password, tenants_fixture, tmp,
};
use crate::support::{grant, make_staff, staff_login};
use capstan_server::totp;
use capstan_server::{AppState, OpenOptions};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn batch(s: &Server, token: &str, ops: Value) -> Resp {
    s.post(
        "/api/v1/changes",
        token,
        json!({"base_revision": s.revision(), "ops": ops}),
    )
}

fn try_login(c: &Client, username: &str, password: &str) -> Resp {
    c.call(
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"username": username, "password": password})),
    )
}

fn login_from(c: &Client, username: &str, password: &str, address: &str) -> Resp {
    c.raw(
        "POST",
        "/api/v1/sessions",
        None,
        Some((
            "application/json",
            json!({"username": username, "password": password}).to_string(),
        )),
        &[("x-forwarded-for", address)],
    )
}

#[test]
fn a_deleted_account_never_comes_back() {
    let s = Server::start("sec-deleted", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    // The user with the highest id: a temporary support user used to take the next id.
    set_password(&s, &admin, 14, "t2learner-pass");
    let old = s.login("t2learner", "t2learner-pass");
    let r = batch(&s, &admin, json!([{"op": "delete_user", "user": 14}]));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        s.get("/api/v1/sessions/current", &old).status,
        401,
        "its sessions end at once"
    );
    assert_eq!(try_login(&s, "t2learner", "t2learner-pass").status, 401);
    // A new user may not take the id (it would inherit the password and sessions).
    let r = batch(
        &s,
        &admin,
        json!([{"op": "put_user", "user": {"id": 14, "username": "newcomer"}}]),
    );
    assert_eq!((r.status, r.code()), (422, "retired_user_id"), "{}", r.text);
    // Nor does a temporary support user.
    let staff = make_staff(&s, &admin, "vendor");
    let t = staff_login(&s, &staff);
    let g = grant(&s, &admin, &t, json!({"site": true}), 1);
    let support_user = g["user"].as_u64().unwrap();
    assert!(
        support_user > 14,
        "support user {support_user} took a former id"
    );
    let support_name = format!("support-{}", g["identifier"].as_str().unwrap());
    assert_eq!(try_login(&s, &support_name, "t2learner-pass").status, 401);
    // Marked deleted (kept on the site): the same.
    set_password(&s, &admin, 12, "student1-pass");
    let student = s.login("student1", "student1-pass");
    let r = batch(
        &s,
        &admin,
        json!([{"op": "put_user", "user": {"id": 12, "username": "student1", "tenant": 1, "deleted": true}}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.get("/api/v1/sessions/current", &student).status, 401);
    let r = batch(
        &s,
        &admin,
        json!([{"op": "put_user", "user": {"id": 12, "username": "student1", "tenant": 1}}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        try_login(&s, "student1", "student1-pass").status,
        401,
        "an undeleted user has no password until one is set"
    );
    // A renamed user signs in under its new name only.
    set_password(&s, &admin, 13, "partner-pass");
    let r = batch(
        &s,
        &admin,
        json!([{"op": "put_user", "user": {"id": 13, "username": "partner2", "participant_of": [1]}}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(try_login(&s, "partner", "partner-pass").status, 401);
    s.login("partner2", "partner-pass");
    // A username belongs to one user.
    let r = batch(
        &s,
        &admin,
        json!([{"op": "put_user", "user": {"id": 40, "username": "partner2"}}]),
    );
    assert_eq!(
        (r.status, r.code()),
        (422, "duplicate_username"),
        "{}",
        r.text
    );
}

#[test]
fn only_a_site_admin_changes_a_site_admin_and_one_always_remains() {
    let s = Server::start("sec-admins", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    set_password(&s, &admin, 3, "manager-pass");
    let manager = s.login("manager", "manager-pass");
    let r = s.call(
        "PUT",
        "/api/v1/users/2/password",
        Some(&manager),
        Some(json!({"password": "taken-over-1"})),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    for op in [
        json!({"op": "put_user", "user": {"id": 2, "username": "admin", "fullname": "Site Administrator", "suspended": true}}),
        json!({"op": "put_user", "user": {"id": 2, "username": "admin2", "fullname": "Site Administrator"}}),
        json!({"op": "delete_user", "user": 2}),
    ] {
        let r = batch(&s, &manager, json!([op]));
        assert_eq!(r.status, 403, "{op}: {}", r.text);
    }
    s.login("admin", "admin-pass-1");
    // Changing one's own password needs the current one.
    let r = s.call(
        "PUT",
        "/api/v1/users/2/password",
        Some(&admin),
        Some(json!({"password": "new-admin-pass", "current_password": "wrong-pass-1"})),
    );
    assert_eq!((r.status, r.code()), (403, "bad_credentials"));
    let r = s.call(
        "PUT",
        "/api/v1/users/2/password",
        Some(&admin),
        Some(json!({"password": "new-admin-pass", "current_password": "admin-pass-1"})),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    // Whoever commits, the site keeps an active site admin.
    let refused = s.state.commit(
        &capstan_server::state::Author::default(),
        None,
        vec![capstan_core::EditOp::DeleteUser {
            user: capstan_core::UserId(2),
        }],
        &|_, _| Ok(()),
        &|_, _| Ok(()),
    );
    match refused {
        Err(capstan_server::state::CommitError::Refused(e)) => assert_eq!(e.code, "last_admin"),
        _ => panic!("the last site admin was deleted"),
    }
    // With a second admin, the first may be suspended by it.
    let r = batch(
        &s,
        &admin,
        json!([{"op": "set_settings", "settings": {"default_user_role": 7, "guest_role": 6,
            "not_logged_in_role": 6, "guest_user": 1, "site_admins": [2, 3], "multitenancy": true,
            "tenant_isolation": true, "support_access": true}}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let manager = s.login("manager", "manager-pass");
    let r = batch(
        &s,
        &manager,
        json!([{"op": "put_user", "user": {"id": 2, "username": "admin", "fullname": "Site Administrator", "suspended": true}}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(try_login(&s, "admin", "new-admin-pass").status, 401);
}

#[test]
fn support_access_leaves_nothing_behind_and_keys_end() {
    let s = Server::start("sec-support-keys", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let staff = make_staff(&s, &admin, "vendor");
    let t = staff_login(&s, &staff);
    grant(&s, &admin, &t, json!({"site": true}), 1);
    let me = s.get("/api/v1/sessions/current", &t);
    assert_eq!(me.body["reach"]["kind"], "scope", "{}", me.text);
    let r = s.post("/api/v1/api-keys", &t, json!({"name": "backdoor"}));
    assert_eq!(r.status, 403, "a support identity makes no key: {}", r.text);
    let r = s.call(
        "PUT",
        "/api/v1/users/3/password",
        Some(&t),
        Some(json!({"password": "planted-pass-1"})),
    );
    assert_eq!(r.status, 403, "nor a password: {}", r.text);
    // Keys expire, are revoked, and follow their creator's right.
    set_password(&s, &admin, 3, "manager-pass");
    let manager = s.login("manager", "manager-pass");
    let made = s.post(
        "/api/v1/api-keys",
        &manager,
        json!({"name": "gradebook", "expires_in_days": 2}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    let key = made.body["secret"].as_str().unwrap().to_string();
    let id = made.body["key"]["id"].as_u64().unwrap();
    assert!(made.body["key"]["expires_at"].is_string());
    let ask = |k: &str| {
        s.post(
            "/api/v1/check",
            k,
            json!({"user": 12, "capability": "moodle/course:view", "context": 10}),
        )
        .status
    };
    assert_eq!(ask(&key), 200);
    let r = batch(
        &s,
        &admin,
        json!([{"op": "put_user", "user": {"id": 3, "username": "manager", "fullname": "Site Manager", "suspended": true}}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ask(&key), 401, "its creator lost the right");
    let list = s.get("/api/v1/api-keys", &admin);
    let row = |list: &Resp, id: u64| {
        list.body
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(row(&list, id), "creator_lacks_right");
    let r = batch(
        &s,
        &admin,
        json!([{"op": "put_user", "user": {"id": 3, "username": "manager", "fullname": "Site Manager"}}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ask(&key), 200);
    s.advance(2 * 86_400);
    assert_eq!(ask(&key), 401, "expired");
    let admin = s.login("admin", "admin-pass-1");
    assert_eq!(row(&s.get("/api/v1/api-keys", &admin), id), "expired");
    let made = s.post("/api/v1/api-keys", &admin, json!({"name": "reports"}));
    let key = made.body["secret"].as_str().unwrap().to_string();
    let id = made.body["key"]["id"].as_u64().unwrap();
    assert_eq!(ask(&key), 200);
    let r = s.call(
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(ask(&key), 401, "revoked at once");
    assert_eq!(row(&s.get("/api/v1/api-keys", &admin), id), "revoked");
    let r = s.post(
        "/api/v1/api-keys",
        &admin,
        json!({"name": "forever", "expires_in_days": 10_000}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
}

#[test]
fn change_lists_are_cut_like_the_site_and_refusals_come_before_conflicts() {
    let s = Server::start("sec-changes", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    for (id, pw) in [(10, "tdm1-pass-1"), (12, "student1-pass")] {
        set_password(&s, &admin, id, pw);
    }
    let base = s.revision();
    // Tenant 2's business, and site-wide settings.
    let r = batch(
        &s,
        &admin,
        json!([
            {"op": "put_tenant", "tenant": {"id": 2, "name": "TENANT2 Globex Renamed", "context": 4, "category": 5}},
            {"op": "assign", "user": 14, "role": 5, "context": 11},
            {"op": "set_permission", "role": 5, "context": 11, "capability": "moodle/course:view", "permission": "prevent"},
            {"op": "set_settings", "settings": {"default_user_role": 7, "guest_role": 6,
                "not_logged_in_role": 6, "guest_user": 1, "site_admins": [2], "multitenancy": true,
                "tenant_isolation": true, "support_access": true}},
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let staff = make_staff(&s, &admin, "vendor");
    let t = staff_login(&s, &staff);
    grant(&s, &admin, &t, json!({"tenants": [2]}), 1);
    let tdm = s.login("tdm1", "tdm1-pass-1");
    let learner = s.login("student1", "student1-pass");
    let foreign = ["TENANT2", "Globex", "sup-", "\"site_admins\":[2]"];
    let leaks = |r: &Resp| foreign.iter().find(|w| r.text.contains(**w)).copied();
    let r = s.get(&format!("/api/v1/changes?since={base}"), &tdm);
    assert_eq!(r.status, 200);
    assert_eq!(leaks(&r), None, "{}", r.text);
    // A stale batch: a tenant admin gets the conflict, cut.
    let stale = json!({"base_revision": base, "ops": [{"op": "set_permission", "role": 5,
        "context": 10, "capability": "moodle/course:view", "permission": "allow"}]});
    let r = s.post("/api/v1/changes", &tdm, stale.clone());
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(leaks(&r), None, "{}", r.text);
    // A learner is refused before any revision check, and learns nothing.
    let r = s.post("/api/v1/changes", &learner, stale);
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.text);
    assert_eq!(leaks(&r), None);
    // Even with an edit it may make, a stale learner's conflict lists no edit.
    let r = s.post(
        "/api/v1/changes",
        &learner,
        json!({"base_revision": base, "ops": [{"op": "remove_switch", "user": 12, "context": 10}]}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(leaks(&r), None, "{}", r.text);
    assert!(
        r.body["missed"].as_array().unwrap().iter().all(|c| c["ops"]
            .as_array()
            .unwrap()
            .is_empty()
            && c["by"].is_null())
    );
}

#[test]
fn failed_sign_ins_never_lock_the_owner_out() {
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let s = Server::start_with("sec-lockout", Some(tenants_fixture()), |o| {
        o.trusted_proxies = vec![loopback];
    });
    for _ in 0..capstan_server::auth::RATE_LIMIT {
        let r = login_from(&s, "admin", "guess-guess", "203.0.113.9");
        assert_eq!(r.status, 401);
    }
    let r = login_from(&s, "admin", "admin-pass-1", "203.0.113.9");
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert!(r.header("retry-after").is_some());
    let r = login_from(&s, "admin", "admin-pass-1", "198.51.100.7");
    assert_eq!(
        r.status, 201,
        "the owner from elsewhere gets in: {}",
        r.text
    );
    // The wait doubles with every further failure, and ends.
    s.advance(capstan_server::auth::BACKOFF_FIRST_SECONDS);
    assert_eq!(
        login_from(&s, "admin", "guess-2", "203.0.113.9").status,
        401
    );
    assert_eq!(
        login_from(&s, "admin", "admin-pass-1", "203.0.113.9").status,
        429
    );
    s.advance(2 * capstan_server::auth::BACKOFF_FIRST_SECONDS);
    assert_eq!(
        login_from(&s, "admin", "admin-pass-1", "203.0.113.9").status,
        201
    );
    // Without a trusted proxy the header is the client's word, and not believed.
    let s = Server::start("sec-lockout-direct", Some(tenants_fixture()));
    for i in 0..capstan_server::auth::RATE_LIMIT {
        let r = login_from(&s, "admin", "guess-guess", &format!("203.0.113.{i}"));
        assert_eq!(r.status, 401);
    }
    let r = login_from(&s, "admin", "guess-guess", "203.0.113.200");
    assert_eq!(r.status, 429, "a forged X-Forwarded-For evades nothing");
}

#[test]
fn a_flood_of_sign_ins_does_not_starve_other_requests() {
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let s = Server::start_with("sec-flood", Some(tenants_fixture()), |o| {
        o.trusted_proxies = vec![loopback];
    });
    let admin = s.login("admin", "admin-pass-1");
    const FLOOD: usize = 160;
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..FLOOD)
        .map(|i| {
            let c = s.client.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let addr = format!("198.18.{}.{}", i / 200, i % 200 + 1);
                let r = login_from(&c, &format!("nobody{i}"), "wrong-password", &addr);
                assert_eq!(r.status, 401, "{}", r.text);
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // Let the flood arrive, then ask something unrelated.
    while done.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r = s.post(
        "/api/v1/check",
        &admin,
        json!({"user": 12, "capability": "moodle/course:view", "context": 10}),
    );
    let finished = done.load(Ordering::SeqCst);
    assert_eq!(r.status, 200);
    assert!(
        finished < FLOOD / 2,
        "the question waited for {finished} of {FLOOD} password hashes"
    );
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_totp_code_works_once_even_when_sent_in_parallel() {
    let s = Server::start("sec-totp-race", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let staff = make_staff(&s, &admin, "vendor");
    let code = totp::code_at(&staff.secret, s.now_s());
    let barrier = Arc::new(std::sync::Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let c = s.client.clone();
            let code = code.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                c.call(
                    "POST",
                    "/api/v1/support/sessions",
                    None,
                    Some(json!({"username": "vendor", "password": "staff-pass-1", "totp": code})),
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    // At rest the secret is sealed.
    let db = rusqlite::Connection::open(tmp_db(&s)).unwrap();
    let stored: String = db
        .query_row("SELECT totp_secret FROM staff", [], |r| r.get(0))
        .unwrap();
    assert!(stored.starts_with("v1:"), "{stored}");
    assert!(!stored.contains(&totp::base32_encode(&staff.secret)));
}

fn tmp_db(s: &Server) -> std::path::PathBuf {
    s.state.db_path().to_path_buf()
}

#[test]
fn learners_cannot_tell_another_tenants_context_from_a_missing_one() {
    let s = Server::start("sec-map", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    set_password(&s, &admin, 11, "member2-pass");
    let member = s.login("member2", "member2-pass");
    for (path, body) in [
        (
            "/api/v1/check",
            json!({"user": 11, "capability": "moodle/course:view"}),
        ),
        (
            "/api/v1/explain",
            json!({"user": 11, "capability": "moodle/course:view"}),
        ),
        ("/api/v1/visibility", json!({"user": 11})),
        ("/api/v1/effective-permissions", json!({"user": 11})),
    ] {
        let ask = |context: u32| {
            let mut b = body.clone();
            b["context"] = json!(context);
            let r = s.post(path, &member, b);
            (
                r.status,
                r.code().to_string(),
                r.text.replace(&context.to_string(), "N"),
            )
        };
        // 10 is tenant 1's course; 9999 does not exist.
        assert_eq!(ask(10), ask(9999), "{path}");
        assert_eq!(ask(10).0, 404, "{path}");
        assert!(!ask(10).2.contains("path"), "{path}");
    }
}

#[test]
fn a_missing_or_replaced_database_is_never_silently_a_new_site() {
    let dir = tmp("sec-db");
    let db = dir.join("capstan.db");
    let clock = Arc::new(crate::common::ManualClock(AtomicI64::new(
        crate::common::START_MS,
    )));
    let refused =
        capstan_server::AppState::open(&db, capstan_server::OpenOptions::default(), clock.clone());
    assert!(refused.is_err_and(|e| e.contains("--create")));
    assert!(!db.exists(), "nothing was made");
    let s = Server::start_in(
        &dir,
        capstan_server::OpenOptions {
            admin_password: Some("admin-pass-1".into()),
            seed: Some(tenants_fixture()),
            create: true,
            ..Default::default()
        },
        clock,
    );
    let admin = s.login("admin", "admin-pass-1");
    let ok = batch(
        &s,
        &admin,
        json!([{"op": "set_permission", "role": 5, "context": 10, "capability": "moodle/course:view", "permission": "allow"}]),
    );
    assert_eq!(ok.status, 200);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("capstan.db{suffix}")));
    }
    let r = batch(
        &s,
        &admin,
        json!([{"op": "set_permission", "role": 5, "context": 10, "capability": "moodle/course:view", "permission": "prevent"}]),
    );
    assert_eq!(
        (r.status, r.code()),
        (503, "store_unavailable"),
        "{}",
        r.text
    );
    let r = try_login(&s, "admin", "admin-pass-1");
    assert_eq!((r.status, r.code()), (503, "store_unavailable"));
    // A file put in its place is not the database the server opened.
    std::fs::write(&db, b"").unwrap();
    let r = batch(
        &s,
        &admin,
        json!([{"op": "set_permission", "role": 5, "context": 10, "capability": "moodle/course:view", "permission": "prevent"}]),
    );
    assert_eq!(r.status, 503);
    drop(s);
    let _ = std::fs::remove_file(&db);
    let clock = Arc::new(crate::common::ManualClock(AtomicI64::new(
        crate::common::START_MS,
    )));
    assert!(
        capstan_server::AppState::open(&db, capstan_server::OpenOptions::default(), clock).is_err(),
        "a restart on the missing file refuses to start"
    );
}

use std::sync::atomic::AtomicI64;

#[test]
fn a_grant_for_the_top_level_site_reads_no_tenant() {
    let s = Server::start("sec-site-grant", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let staff = make_staff(&s, &admin, "vendor");
    let t = staff_login(&s, &staff);
    grant(&s, &admin, &t, json!({"site": true}), 1);
    let site = s.get("/api/v1/site", &t);
    assert_eq!(site.status, 200, "{}", site.text);
    for w in [
        "TENANT1", "TENANT2", "Acme", "Globex", "student1", "member2",
    ] {
        assert!(!site.text.contains(w), "the site names `{w}`");
    }
    assert_eq!(site.body["tenants"].as_array().map_or(0, Vec::len), 0);
    let ids: Vec<u64> = site.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    for member in [10, 11, 12, 14] {
        assert!(!ids.contains(&member), "member {member} in {ids:?}");
    }
    // The cut is a valid site of its own.
    assert!(capstan_core::Engine::from_json(&site.text).is_ok());
    let audit = s.get("/api/v1/audit?limit=500", &t);
    assert_eq!(audit.status, 200);
    assert!(
        audit.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenants"].as_array().unwrap().is_empty()),
        "{}",
        audit.text
    );
    let r = s.post(
        "/api/v1/check",
        &t,
        json!({"user": 12, "capability": "moodle/course:view", "context": 10}),
    );
    assert_eq!(r.status, 404, "{}", r.text);
}

#[test]
fn huge_batches_names_and_passwords_are_refused_and_big_ones_do_not_block_sign_in() {
    let s = Server::start("sec-limits", None);
    let admin = s.login("admin", "admin-pass-1");
    let ops: Vec<Value> = (0..=capstan_server::state::MAX_BATCH_OPS)
        .map(|i| json!({"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": if i % 2 == 0 { "allow" } else { "prevent" }}))
        .collect();
    let r = batch(&s, &admin, json!(ops));
    assert_eq!((r.status, r.code()), (413, "batch_too_large"));
    let r = batch(
        &s,
        &admin,
        json!([{"op": "put_role", "role": {"id": 900, "shortname": "huge", "name": "x".repeat(1_000_000)}}]),
    );
    assert_eq!((r.status, r.code()), (422, "too_long"), "{}", r.code());
    let r = s.call(
        "PUT",
        "/api/v1/users/2/password",
        Some(&admin),
        Some(json!({"password": "p".repeat(1_000_000), "current_password": "admin-pass-1"})),
    );
    assert_eq!((r.status, r.code()), (422, "too_long"));
    // 3,000 new contexts in one batch commit, and sign-in goes on meanwhile.
    let site = s.get("/api/v1/site", &admin).body;
    let category = site["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["level"] == "coursecat")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let ops: Vec<Value> = (0..3_000)
        .map(|i| json!({"op": "put_context", "context": {"id": 900_000 + i, "level": "course", "parent": category, "name": format!("Course {i}")}}))
        .collect();
    let body = json!({"base_revision": s.revision(), "ops": ops});
    let c = s.client.clone();
    let token = admin.clone();
    let big = std::thread::spawn(move || c.post("/api/v1/changes", &token, body));
    let started = std::time::Instant::now();
    s.login("admin", "admin-pass-1");
    let sign_in = started.elapsed();
    let r = big.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(sign_in < std::time::Duration::from_secs(5), "{sign_in:?}");
    let site = s.get("/api/v1/site", &admin).body;
    assert!(
        site["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == 902_999)
    );
}

#[test]
fn the_http_edges_hold() {
    let s = Server::start("sec-edges", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    // A path segment too long for a file name: a clean 404, not a server error.
    for path in [
        format!("/{}", "a".repeat(300)),
        format!("/api/v1/{}", "b".repeat(300)),
    ] {
        let r = s.raw("GET", &path, None, None, &[]);
        assert_eq!((r.status, r.code()), (404, "not_found"), "{path}");
    }
    // The scheme is case-insensitive.
    let r = s.raw(
        "GET",
        "/api/v1/sessions/current",
        None,
        None,
        &[("authorization", &format!("bearer {admin}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // Security headers on every answer; nothing of the API kept by a cache.
    for path in ["/api/v1/openapi.json", "/", "/api/v1/site"] {
        let r = s.raw("GET", path, Some(&admin), None, &[]);
        let csp = r.header("content-security-policy").unwrap_or("");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        if path.starts_with("/api/") {
            assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        }
    }
    // A client that never finishes its headers is cut off.
    use std::io::{Read, Write};
    let addr = s.client.base.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(
        capstan_server::http::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5),
    ))
    .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    let n = slow.read(&mut buf).unwrap_or(0);
    assert!(
        started.elapsed()
            < capstan_server::http::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(4),
        "the connection stayed open"
    );
    let _ = n;
}

#[test]
fn users_end_their_own_switch_sessions_are_purged_and_staff_can_be_stopped() {
    let mut site: Value = serde_json::from_str(&tenants_fixture()).unwrap();
    site["switches"] = json!([{"user": 13, "context": 12, "role": 5}]);
    let s = Server::start("sec-misc", Some(site.to_string()));
    let admin = s.login("admin", "admin-pass-1");
    set_password(&s, &admin, 13, "partner-pass");
    let partner = s.login("partner", "partner-pass");
    let r = batch(
        &s,
        &partner,
        json!([{"op": "remove_switch", "user": 13, "context": 12}]),
    );
    assert_eq!(r.status, 200, "ending one's own switch: {}", r.text);
    // Expired sessions go while the server runs, not only at start.
    s.advance(capstan_server::auth::SESSION_SECONDS + 1);
    capstan_server::routes::support::sweep(&s.state).unwrap();
    let db = rusqlite::Connection::open(tmp_db(&s)).unwrap();
    let left: i64 = db
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    // A staff account can be disabled, enabled, and have its second factor reset.
    let admin = s.login("admin", "admin-pass-1");
    let staff = make_staff(&s, &admin, "vendor");
    let t = staff_login(&s, &staff);
    let staff_id = s.get("/api/v1/sessions/current", &t).body["support"]["staff"]
        .as_u64()
        .unwrap();
    let r = s.post(
        &format!("/api/v1/support/staff/{staff_id}/disable"),
        &admin,
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["disabled"], true);
    assert_eq!(s.get("/api/v1/sessions/current", &t).status, 401);
    s.advance(30);
    let code = totp::code_at(&staff.secret, s.now_s());
    let r = s.call(
        "POST",
        "/api/v1/support/sessions",
        None,
        Some(json!({"username": "vendor", "password": "staff-pass-1", "totp": code})),
    );
    assert_eq!(r.status, 401, "disabled: {}", r.text);
    let r = s.post(
        &format!("/api/v1/support/staff/{staff_id}/enable"),
        &admin,
        json!({}),
    );
    assert_eq!(r.status, 200);
    s.advance(30);
    let t = staff_login(&s, &staff);
    let r = s.post(
        &format!("/api/v1/support/staff/{staff_id}/totp"),
        &admin,
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.get("/api/v1/sessions/current", &t).status, 401);
    let fresh = totp::base32_decode(r.body["totp_secret"].as_str().unwrap()).unwrap();
    s.advance(30);
    let old_code = totp::code_at(&staff.secret, s.now_s());
    let r = s.call(
        "POST",
        "/api/v1/support/sessions",
        None,
        Some(json!({"username": "vendor", "password": "staff-pass-1", "totp": old_code})),
    );
    assert_eq!(r.status, 401, "the old secret is dead");
    s.advance(30);
    let new_code = totp::code_at(&fresh, s.now_s());
    let r = s.call(
        "POST",
        "/api/v1/support/sessions",
        None,
        Some(json!({"username": "vendor", "password": "staff-pass-1", "totp": new_code})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn every_user_gets_its_own_bundle_and_nobody_else_s() {
    let s = Server::start("sec-bundles", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    for (id, pw) in [(11, "member2-pass"), (12, "student1-pass")] {
        set_password(&s, &admin, id, pw);
    }
    let learner = s.login("student1", "student1-pass");
    let member2 = s.login("member2", "member2-pass");
    // A learner's course-page bundle: its own questions, exactly as the site answers them.
    let r = s.get("/api/v1/bundle?context=10", &learner);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["bundle"]["user"], 12);
    let ids: Vec<u64> = r.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![12], "no other user");
    let bundle = capstan_core::Engine::from_json(&r.text).unwrap();
    let at = capstan_core::Timestamp::from_unix_millis(crate::common::START_MS);
    let whole = &s.state.site().engine;
    for cap in ["moodle/course:view", "moodle/course:update"] {
        let opts = capstan_core::CheckOptions::at(at);
        let (u, c) = (capstan_core::UserId(12), capstan_core::ContextId(10));
        assert_eq!(
            bundle.has_capability(u, cap, c, opts).unwrap(),
            whole.has_capability(u, cap, c, opts).unwrap()
        );
    }
    // 304 while nothing changes; a new revision changes the ETag.
    let tag = r.header("etag").unwrap().to_string();
    let again = s.raw(
        "GET",
        "/api/v1/bundle?context=10",
        Some(&learner),
        None,
        &[("if-none-match", &tag)],
    );
    assert_eq!(again.status, 304);
    // Never another user's bundle, nor another tenant's context.
    let r = s.get("/api/v1/bundle?context=10&user=13", &learner);
    assert_eq!(r.status, 403, "{}", r.text);
    let foreign = s.get("/api/v1/bundle?context=10", &member2);
    let missing = s.get("/api/v1/bundle?context=9999", &member2);
    assert_eq!((foreign.status, foreign.code()), (404, "unknown_context"));
    assert_eq!(foreign.code(), missing.code());
    // A member's whole-tree bundle names nothing of the other tenant.
    let r = s.get("/api/v1/bundle", &member2);
    assert_eq!(r.status, 200, "{}", r.text);
    for w in ["TENANT1", "Acme", "tdm1", "student1"] {
        assert!(!r.text.contains(w), "member 2's bundle names `{w}`");
    }
    assert!(capstan_core::Engine::from_json(&r.text).is_ok());
    // A service key or an admin asks for anyone's; staff without a grant get none.
    let (_, key) = s.state.create_api_key("lms", None, None).unwrap();
    assert_eq!(s.get("/api/v1/bundle?user=12&context=10", &key).status, 200);
    assert_eq!(s.get("/api/v1/bundle", &key).status, 403);
    assert_eq!(s.get("/api/v1/bundle?user=12", &admin).status, 200);
    let staff = make_staff(&s, &admin, "vendor");
    let t = staff_login(&s, &staff);
    assert_eq!(s.get("/api/v1/bundle", &t).status, 403);
    assert_eq!(s.get("/api/v1/bundle?room=1", &learner).code(), "bad_query");
    // contexts-with-capability, as the core answers it; a plan for whole-site readers.
    let r = s.post(
        "/api/v1/contexts-with-capability",
        &learner,
        json!({"user": 12, "capability": "moodle/course:view", "level": "course"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let want: Vec<u32> = whole
        .contexts_with_capability(
            capstan_core::UserId(12),
            "moodle/course:view",
            capstan_core::ContextLevel::Course,
            capstan_core::CheckOptions::at(at),
        )
        .unwrap()
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(r.body["contexts"], json!(want));
    let r = s.post(
        "/api/v1/contexts-with-capability",
        &learner,
        json!({"user": 12, "capability": "moodle/course:view", "level": "course", "plan": true}),
    );
    assert_eq!(r.status, 403);
    let r = s.post(
        "/api/v1/contexts-with-capability",
        &key,
        json!({"user": 12, "capability": "moodle/course:view", "level": "course", "plan": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["plan"]["include_under"].is_array());
    let r = s.post(
        "/api/v1/contexts-with-capability",
        &learner,
        json!({"user": 13, "capability": "moodle/course:view", "level": "course"}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
}

#[test]
fn only_the_allowed_origins_may_call_the_api_from_their_pages() {
    // Without --allow-origin no page of another origin may read an answer.
    let closed = Server::start("cors-closed", None);
    let admin = closed.client.login("admin", "admin-pass-1");
    let pre = [
        ("origin", "https://lms.example"),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "authorization"),
    ];
    let r = closed
        .client
        .raw("OPTIONS", "/api/v1/bundle", None, None, &pre);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = closed.client.raw(
        "GET",
        "/api/v1/site",
        Some(&admin),
        None,
        &[("origin", "https://lms.example")],
    );
    assert_eq!(r.header("access-control-allow-origin"), None);

    let open = Server::start_with("cors-open", None, |o| {
        o.allowed_origins = vec!["https://lms.example".into()]
    });
    let admin = open.client.login("admin", "admin-pass-1");
    // The allowed origin's preflight is answered, bearer tokens allowed, no credentials mode.
    let r = open
        .client
        .raw("OPTIONS", "/api/v1/bundle", None, None, &pre);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://lms.example")
    );
    assert!(
        r.header("access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization"))
    );
    assert_eq!(r.header("access-control-allow-credentials"), None);
    let r = open.client.raw(
        "GET",
        "/api/v1/bundle",
        Some(&admin),
        None,
        &[("origin", "https://lms.example")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://lms.example")
    );
    assert!(
        r.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("x-capstan-revision") && h.contains("etag"))
    );
    // Any other origin, a look-alike included, gets nothing it could read.
    for other in ["https://evil.example", "https://lms.example.evil", "null"] {
        let mut h = pre;
        h[0].1 = other;
        let r = open.client.raw("OPTIONS", "/api/v1/bundle", None, None, &h);
        assert_eq!(r.header("access-control-allow-origin"), None, "{other}");
        let r = open.client.raw(
            "GET",
            "/api/v1/site",
            Some(&admin),
            None,
            &[("origin", other)],
        );
        assert_eq!(r.header("access-control-allow-origin"), None, "{other}");
    }
    // CORS changes who may read an answer, never who may act: no token, no site.
    let r = open.client.raw(
        "GET",
        "/api/v1/site",
        None,
        None,
        &[("origin", "https://lms.example")],
    );
    assert_eq!(r.status, 401);
    // A malformed origin never starts a server.
    for bad in [
        "*",
        "https://lms.example/",
        "lms.example",
        "https://LMS.example",
    ] {
        let err = AppState::open(
            &tmp(&format!("cors-bad-{}", bad.len())),
            OpenOptions {
                create: true,
                allowed_origins: vec![bad.into()],
                ..OpenOptions::default()
            },
            Arc::new(ManualClock(AtomicI64::new(START_MS))),
        )
        .err()
        .unwrap_or_else(|| panic!("{bad} was accepted"));
        assert!(err.contains("is not an origin"), "{err}");
    }
}

#[test]
fn a_support_users_event_stream_ends_with_its_grant() {
    use std::io::{Read, Write};
    let s = Server::start("events-grant", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let staff = make_staff(&s, &admin, "vendor_events");
    let token = staff_login(&s, &staff);
    // Without a grant, nothing to hear.
    assert_eq!(s.get("/api/v1/events", &token).status, 403);
    let g = grant(&s, &admin, &token, json!({"site": true}), 1);
    let addr = s.client.base.trim_start_matches("http://").to_string();
    let mut listen = std::net::TcpStream::connect(&addr).unwrap();
    listen
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        listen,
        "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 512];
    let n = listen.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    // The admin revokes: the staff session stays, the stream must not.
    let id = g["id"].as_u64().unwrap();
    let r = s.post(
        &format!("/api/v1/support/grants/{id}/revoke"),
        &admin,
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let mut rest = Vec::new();
    assert!(
        listen.read_to_end(&mut rest).is_ok(),
        "the stream outlived the grant"
    );
}
