//! Sessions, ETags, batches and conflicts, enforcement basics, rate limits, restarts and the
//! audit chain.

use crate::common::{Server, set_password, tenants_fixture};
use capstan_server::OpenOptions;
use serde_json::json;

fn prohibit_view(rev: u64) -> serde_json::Value {
    json!({"base_revision": rev, "ops": [{"op": "set_permission", "role": 5, "context": 1,
        "capability": "moodle/course:view", "permission": "prohibit"}]})
}

#[test]
fn anonymous_is_refused_and_errors_are_json_with_codes() {
    let s = Server::start("anon", Some(tenants_fixture()));
    let r = s.call("GET", "/api/v1/site", None, None);
    assert_eq!((r.status, r.code()), (401, "unauthenticated"));
    let r = s.call("GET", "/api/v1/site", Some("not-a-token"), None);
    assert_eq!((r.status, r.code()), (401, "unauthenticated"));
    let r = s.call(
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"username": "admin"})),
    );
    assert_eq!((r.status, r.code()), (400, "malformed_json"));
    let r = s.raw(
        "POST",
        "/api/v1/sessions",
        None,
        Some(("application/json", "{not json".into())),
        &[],
    );
    assert_eq!((r.status, r.code()), (400, "malformed_json"));
    let r = s.call(
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"username": "admin", "password": "wrong"})),
    );
    assert_eq!((r.status, r.code()), (401, "bad_credentials"));
    let r = s.call("GET", "/api/v1/no-such-thing", None, None);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = s.call("DELETE", "/api/v1/site", None, None);
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
    let r = s.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    // Oversized input is refused with a code and changes nothing.
    let t = s.login("admin", "admin-pass-1");
    let big = format!(
        "<role>{}</role>",
        " ".repeat(capstan_core::preset::MAX_PRESET_BYTES)
    );
    let r = s.raw(
        "POST",
        "/api/v1/presets",
        Some(&t),
        Some(("application/xml", big)),
        &[],
    );
    assert_eq!((r.status, r.code()), (413, "too_large"));
    assert_eq!(s.revision(), 0);
}

#[test]
fn first_start_seeds_the_demo_site_and_prints_a_login() {
    let s = Server::start("demo", None);
    let (user, pass) = s.created_admin.clone().unwrap();
    let t = s.login(&user, &pass);
    let r = s.get("/api/v1/site", &t);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["format"], "capstan/1");
    assert!(r.body["users"].as_array().unwrap().len() >= 300);
    let me = s.get("/api/v1/sessions/current", &t);
    assert_eq!(me.body["site_admin"], true);
    assert_eq!(me.body["reach"]["kind"], "site");
}

#[test]
fn site_etag_changes_and_conflicts() {
    let s = Server::start("sync", Some(tenants_fixture()));
    let t = s.login("admin", "admin-pass-1");
    let r = s.get("/api/v1/site", &t);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"0\""));
    assert_eq!(r.header("x-capstan-revision"), Some("0"));
    let r = s.raw(
        "GET",
        "/api/v1/site",
        Some(&t),
        None,
        &[("if-none-match", "\"0\"")],
    );
    assert_eq!(r.status, 304);
    let r = s.post("/api/v1/changes", &t, prohibit_view(0));
    assert_eq!(
        (r.status, r.body["revision"].as_u64()),
        (200, Some(1)),
        "{}",
        r.text
    );
    // A second client still on revision 0 gets 409 with what it missed; nothing changes.
    let r = s.post("/api/v1/changes", &t, prohibit_view(0));
    assert_eq!((r.status, r.code()), (409, "stale_revision"));
    assert_eq!(r.body["revision"], 1);
    let missed = r.body["missed"].as_array().unwrap();
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["ops"][0]["permission"], "prohibit");
    assert_eq!(missed[0]["by"], 2);
    assert_eq!(s.revision(), 1);
    let r = s.get("/api/v1/changes?since=0", &t);
    assert_eq!(r.body["revision"], 1);
    assert_eq!(r.body["changes"].as_array().unwrap().len(), 1);
    let r = s.get("/api/v1/changes?since=abc", &t);
    assert_eq!((r.status, r.code()), (400, "bad_query"));
    // A refused edit in a batch changes nothing (all or nothing), and says which edit.
    let good = json!({"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": "allow"});
    let bad = json!({"op": "set_permission", "role": 999, "context": 1, "capability": "moodle/course:view", "permission": "allow"});
    let r = s.post(
        "/api/v1/changes",
        &t,
        json!({"base_revision": 1, "ops": [good, bad]}),
    );
    assert_eq!((r.status, r.code()), (422, "unknown_role"), "{}", r.text);
    assert_eq!(r.body["details"]["index"], 1);
    let r = s.post(
        "/api/v1/changes",
        &t,
        json!({"base_revision": 1, "ops": []}),
    );
    assert_eq!((r.status, r.code()), (400, "empty_batch"));
    let r = s.post(
        "/api/v1/changes",
        &t,
        json!({"base_revision": 1, "ops": [{"op": "no_such_op"}]}),
    );
    assert_eq!((r.status, r.code()), (400, "malformed_json"));
    // An edit that would make the site invalid lists every problem.
    let r = s.post(
        "/api/v1/changes",
        &t,
        json!({"base_revision": 1, "ops": [{"op": "put_context", "context": {"id": 50, "level": "course", "parent": 999}}]}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(!r.body["details"]["issues"].as_array().unwrap().is_empty());
    assert_eq!(s.revision(), 1);
    let r = s.get("/api/v1/site", &t);
    assert_eq!(r.header("etag"), Some("\"1\""));
    let r = s.get("/api/v1/audit/verify", &t);
    assert_eq!(
        (r.status, r.body["ok"].as_bool()),
        (200, Some(true)),
        "{}",
        r.text
    );
    // The audit entry of the batch carries the value before and after.
    let r = s.get("/api/v1/audit?limit=500", &t);
    let change = r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "changes")
        .unwrap()
        .clone();
    assert_eq!(change["actor"], 2);
    assert_eq!(change["detail"]["edits"][0]["before"], "allow");
    assert_eq!(change["detail"]["edits"][0]["op"]["permission"], "prohibit");
}

#[test]
fn users_without_site_rights_ask_only_about_themselves_and_sessions_expire() {
    let s = Server::start("authz", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    set_password(&s, &admin, 13, "partner-pass");
    let t = s.login("partner", "partner-pass");
    let me = s.get("/api/v1/sessions/current", &t);
    assert_eq!(me.body["reach"]["kind"], "own");
    let r = s.get("/api/v1/site", &t);
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = s.post("/api/v1/changes", &t, prohibit_view(0));
    assert_eq!(r.status, 403);
    assert_eq!(r.body["details"]["index"], 0);
    assert_eq!(s.get("/api/v1/audit", &t).status, 403);
    let r = s.post(
        "/api/v1/check",
        &t,
        json!({"user": 13, "capability": "moodle/course:view", "context": 10}),
    );
    assert_eq!(
        (r.status, r.body["allowed"].as_bool()),
        (200, Some(true)),
        "{}",
        r.text
    );
    assert_eq!(r.body["rule"], "allowed");
    let r = s.post(
        "/api/v1/check",
        &t,
        json!({"user": 2, "capability": "moodle/course:view", "context": 10}),
    );
    assert_eq!(r.status, 403);
    // Changing one's own password ends one's other sessions, not this one.
    let other = s.login("partner", "partner-pass");
    let r = s.call(
        "PUT",
        "/api/v1/users/13/password",
        Some(&t),
        Some(json!({"password": "short"})),
    );
    assert_eq!((r.status, r.code()), (400, "weak_password"));
    let r = s.call(
        "PUT",
        "/api/v1/users/13/password",
        Some(&t),
        Some(json!({"password": "partner-pass-2"})),
    );
    assert_eq!(
        (r.status, r.code()),
        (403, "bad_credentials"),
        "one's own password needs the current one"
    );
    let r = s.call(
        "PUT",
        "/api/v1/users/13/password",
        Some(&t),
        Some(json!({"password": "partner-pass-2", "current_password": "partner-pass"})),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(s.get("/api/v1/sessions/current", &other).status, 401);
    assert_eq!(s.get("/api/v1/sessions/current", &t).status, 200);
    // Sign out ends the token at once.
    assert_eq!(
        s.call("DELETE", "/api/v1/sessions/current", Some(&t), None)
            .status,
        204
    );
    assert_eq!(s.get("/api/v1/sessions/current", &t).status, 401);
    // Sessions end at their expiry instant.
    s.advance(capstan_server::auth::SESSION_SECONDS - 1);
    assert_eq!(s.get("/api/v1/site", &admin).status, 200);
    s.advance(1);
    let r = s.get("/api/v1/site", &admin);
    assert_eq!((r.status, r.code()), (401, "session_expired"));
}

#[test]
fn failed_logins_are_rate_limited_per_account() {
    let s = Server::start("rate", Some(tenants_fixture()));
    for _ in 0..capstan_server::auth::RATE_LIMIT {
        let r = s.call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "admin", "password": "nope"})),
        );
        assert_eq!(r.status, 401);
    }
    let r = s.call(
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"username": "admin", "password": "admin-pass-1"})),
    );
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    s.advance(capstan_server::auth::RATE_WINDOW_SECONDS);
    s.login("admin", "admin-pass-1");
}

#[test]
fn edits_and_sessions_survive_a_restart_and_a_tampered_audit_log_is_detected() {
    let dir = crate::common::tmp("restart");
    let clock = std::sync::Arc::new(crate::common::ManualClock(
        std::sync::atomic::AtomicI64::new(crate::common::START_MS),
    ));
    let options = || OpenOptions {
        admin_password: Some("pw-123456".into()),
        seed: Some(tenants_fixture()),
        create: true,
        ..OpenOptions::default()
    };
    let token = {
        let s = Server::start_in(&dir, options(), clock.clone());
        assert!(s.created_admin.is_some());
        let t = s.login("admin", "pw-123456");
        for rev in 0..5u64 {
            let p = if rev % 2 == 0 { "prevent" } else { "allow" };
            let r = s.post(
                "/api/v1/changes",
                &t,
                json!({"base_revision": rev, "ops": [{"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": p}]}),
            );
            assert_eq!(r.status, 200);
        }
        t
    };
    let s = Server::start_in(&dir, options(), clock.clone());
    assert!(s.created_admin.is_none(), "no second seed");
    let r = s.get("/api/v1/site", &token);
    assert_eq!(r.status, 200, "the session survives the restart");
    assert_eq!(r.header("etag"), Some("\"5\""));
    drop(s);
    let conn = rusqlite::Connection::open(dir.join("capstan.db")).unwrap();
    assert!(capstan_server::audit::verify(&conn).unwrap().ok);
    conn.execute("UPDATE audit SET detail = '{}' WHERE seq = 3", [])
        .unwrap();
    let report = capstan_server::audit::verify(&conn).unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad, Some(3));
    conn.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    assert_eq!(
        capstan_server::audit::verify(&conn).unwrap().first_bad,
        Some(4)
    );
}

#[test]
fn presets_export_and_import_over_rest() {
    let s = Server::start("presets", Some(tenants_fixture()));
    let t = s.login("admin", "admin-pass-1");
    let r = s.get("/api/v1/roles/3/preset", &t);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/xml")
    );
    assert!(r.text.contains("<shortname>editingteacher</shortname>"));
    let xml = r
        .text
        .replace(
            "<shortname>editingteacher</shortname>",
            "<shortname>coach</shortname>",
        )
        .replace(
            "</permissions>",
            "<allow>local/nothing:here</allow></permissions>",
        );
    let r = s.raw(
        "POST",
        "/api/v1/presets",
        Some(&t),
        Some(("application/xml", xml)),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["created"], true);
    assert_eq!(r.body["shortname"], "coach");
    assert_eq!(
        r.body["unknown_capabilities"],
        json!(["local/nothing:here"])
    );
    let role = r.body["role"].as_u64().unwrap();
    let site = s.get("/api/v1/site", &t);
    assert!(
        site.body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == role)
    );
    let before = s.revision();
    let r = s.raw(
        "POST",
        "/api/v1/presets",
        Some(&t),
        Some((
            "application/xml",
            "<!DOCTYPE role [<!ENTITY x \"y\">]><role/>".into(),
        )),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "hostile_xml");
    let r = s.raw(
        "POST",
        "/api/v1/presets",
        Some(&t),
        Some(("application/xml", "<role><shortname>x".into())),
        &[],
    );
    assert_eq!((r.status, r.code()), (400, "malformed_xml"));
    assert_eq!(s.revision(), before, "refused presets change nothing");
    assert_eq!(s.get("/api/v1/roles/999/preset", &t).status, 404);
    assert_eq!(s.get("/api/v1/roles/abc/preset", &t).status, 400);
}

#[test]
fn questions_answer_like_the_core() {
    let s = Server::start("questions", Some(tenants_fixture()));
    let t = s.login("admin", "admin-pass-1");
    let r = s.post(
        "/api/v1/explain",
        &t,
        json!({"user": 12, "capability": "moodle/course:update", "context": 10}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["path"], json!([1, 3, 10]));
    assert!(
        r.body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["shortname"] == "student")
    );
    let r = s.post(
        "/api/v1/check",
        &t,
        json!({"user": 11, "capability": "moodle/course:view", "context": 10}),
    );
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["rule"], "tenant");
    assert_eq!(r.body["tenant_denial"], "isolated");
    let r = s.post(
        "/api/v1/check",
        &t,
        json!({"user": 12, "capability": "no/such:cap", "context": 10}),
    );
    assert_eq!((r.status, r.code()), (404, "unknown_capability"));
    let r = s.post(
        "/api/v1/effective-permissions",
        &t,
        json!({"user": 12, "context": 10}),
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["capability"] == "moodle/course:view" && l["allowed"] == true)
    );
    let r = s.post(
        "/api/v1/users-with-capability",
        &t,
        json!({"capability": "moodle/course:view", "context": 10}),
    );
    assert_eq!(r.body["users"], json!([3, 10, 12, 13]));
    let r = s.post(
        "/api/v1/capability-overview",
        &t,
        json!({"capability": "moodle/course:update", "roles": [5]}),
    );
    assert_eq!(r.body[0]["overrides"][0]["context"], 11);
    let r = s.post(
        "/api/v1/can-assign",
        &t,
        json!({"user": 10, "role": 5, "context": 10}),
    );
    assert_eq!(r.body["allowed"], true);
    let r = s.post("/api/v1/visibility", &t, json!({"user": 11, "context": 10}));
    assert_eq!(r.body, json!({"visible": false, "reason": "other_tenant"}));
    let r = s.post("/api/v1/visible-items", &t, json!({"user": 12}));
    assert_eq!(r.body.as_array().unwrap().len(), 3);
    let r = s.get("/api/v1/unsupported-assignments", &t);
    assert_eq!(r.body, json!([]));
    let r = s.raw(
        "POST",
        "/api/v1/validate",
        Some(&t),
        Some((
            "application/json",
            r#"{"format": "capstan/1", "contexts": [{"id": 1, "level": "course"}]}"#.into(),
        )),
        &[],
    );
    assert_eq!(r.body["valid"], false);
    assert!(
        r.body["codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "no_system_context")
    );
}

#[test]
fn nobody_locks_themselves_out() {
    let s = Server::start("lockout", Some(tenants_fixture()));
    let t = s.login("admin", "admin-pass-1");
    let site = s.get("/api/v1/site", &t).body;
    let mut settings = site["settings"].clone();
    settings["site_admins"] = json!([3]);
    for op in [
        json!({"op": "delete_user", "user": 2}),
        json!({"op": "put_user", "user": {"id": 2, "username": "admin", "suspended": true}}),
        json!({"op": "set_settings", "settings": settings}),
    ] {
        let r = s.post(
            "/api/v1/changes",
            &t,
            json!({"base_revision": 0, "ops": [op]}),
        );
        assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.text);
    }
    // Another admin may: make the manager a site admin, who then removes the first one.
    settings["site_admins"] = json!([2, 3]);
    let r = s.post(
        "/api/v1/changes",
        &t,
        json!({"base_revision": 0, "ops": [{"op": "set_settings", "settings": settings}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    set_password(&s, &t, 3, "manager-pass");
    let m = s.login("manager", "manager-pass");
    settings["site_admins"] = json!([3]);
    let r = s.post(
        "/api/v1/changes",
        &m,
        json!({"base_revision": 1, "ops": [{"op": "set_settings", "settings": settings}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn a_tenant_administrator_reads_a_valid_cut_of_its_tenant() {
    let s = Server::start("slice", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    set_password(&s, &admin, 10, "tdm1-pass-1");
    let t = s.login("tdm1", "tdm1-pass-1");
    let me = s.get("/api/v1/sessions/current", &t);
    assert_eq!(me.body["reach"], json!({"kind": "tenant", "tenant": 1}));
    let r = s.get("/api/v1/site", &t);
    assert_eq!(r.header("etag"), Some("\"0-t1\""));
    let cut = capstan_core::Engine::from_json(&r.text).expect("the cut loads");
    let mut users: Vec<u32> = cut.users().iter().map(|u| u.id.0).collect();
    users.sort_unstable();
    assert_eq!(
        users,
        vec![10, 12, 13],
        "members and participants of tenant 1"
    );
    let mut contexts: Vec<u32> = cut.contexts().iter().map(|c| c.id.0).collect();
    contexts.sort_unstable();
    assert_eq!(
        contexts,
        vec![1, 2, 3, 10, 20],
        "the system context and tenant 1's"
    );
    assert_eq!(cut.tenants().len(), 1);
    // Its questions answer the same inside the tenant as on the whole site.
    let whole = capstan_core::Engine::from_json(&s.get("/api/v1/site", &admin).text).unwrap();
    let at = capstan_core::Timestamp::from_unix_seconds(s.now_s());
    for u in [10, 12, 13] {
        for cap in [
            "moodle/course:view",
            "moodle/course:update",
            "moodle/role:assign",
        ] {
            let ask = |e: &capstan_core::Engine| {
                e.has_capability(
                    capstan_core::UserId(u),
                    cap,
                    capstan_core::ContextId(10),
                    capstan_core::CheckOptions::at(at),
                )
                .unwrap()
            };
            assert_eq!(ask(&cut), ask(&whole), "user {u} {cap}");
        }
    }
}

/// Reads Server-Sent Events from a raw connection until `want` more revision events have
/// arrived.
fn read_revisions(stream: &mut std::net::TcpStream, want: usize) -> Vec<u64> {
    use std::io::Read;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let mut found = Vec::new();
    while found.len() < want {
        let n = stream
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("no event in time ({e}); read so far: {text:?}"));
        assert!(n > 0, "the stream ended: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        found = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .filter_map(|v| v["revision"].as_u64())
            .collect();
    }
    found
}

#[test]
fn events_tell_every_listener_of_each_new_revision_and_end_with_the_session() {
    use std::io::Write;
    let s = Server::start("events", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    crate::common::set_password(&s, &admin, 12, "student1-pass");
    let learner = s.login("student1", "student1-pass");
    let addr = s.client.base.trim_start_matches("http://").to_string();
    let mut listen = std::net::TcpStream::connect(&addr).unwrap();
    listen
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        listen,
        "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {learner}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let rev = s.revision();
    assert_eq!(
        read_revisions(&mut listen, 1),
        vec![rev],
        "the current revision at once"
    );
    let r = s.post(
        "/api/v1/changes",
        &admin,
        json!({"base_revision": rev, "ops": [{"op": "set_permission", "role": 5, "context": 11, "capability": "moodle/course:view", "permission": "prevent"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let got = read_revisions(&mut listen, 1);
    assert_eq!(
        got,
        vec![rev + 1],
        "the learner learns that the site moved on"
    );
    // Nothing but the revision: no edit, no tenant, no author.
    let r = s.call("DELETE", "/api/v1/sessions/current", Some(&learner), None);
    assert_eq!(r.status, 204);
    // The stream ends once the session has (checked every few seconds).
    use std::io::Read;
    let mut rest = Vec::new();
    let ended = listen.read_to_end(&mut rest).is_ok();
    assert!(ended, "the stream did not end with the session");
    assert_eq!(s.get("/api/v1/events", "nonsense").status, 401);
}

#[test]
fn a_batch_sent_again_with_its_key_is_applied_once() {
    let s = Server::start("batch-id", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let rev = s.revision();
    let batch = |key: &str, p: &str| {
        json!({"base_revision": rev, "batch_id": key, "ops": [{"op": "set_permission",
            "role": 5, "context": 11, "capability": "moodle/course:view", "permission": p}]})
    };
    let first = s.post("/api/v1/changes", &admin, batch("push-7f3a9c21", "prevent"));
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["revision"], rev + 1);
    // The answer was lost; the app sends the very same batch again: applied once.
    let again = s.post("/api/v1/changes", &admin, batch("push-7f3a9c21", "prevent"));
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["revision"], rev + 1);
    assert_eq!(s.revision(), rev + 1);
    let changes = s.get(&format!("/api/v1/changes?since={rev}"), &admin).body;
    assert_eq!(changes["changes"].as_array().unwrap().len(), 1);
    // Someone else's key is not an answer to anyone else.
    crate::common::set_password(&s, &admin, 3, "manager-pass");
    let manager = s.login("manager", "manager-pass");
    let other = s.post("/api/v1/changes", &manager, batch("push-7f3a9c21", "allow"));
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(other.code(), "bad_batch_id");
    for bad in ["short", "has space in it", &"x".repeat(65)] {
        let r = s.post("/api/v1/changes", &admin, batch(bad, "allow"));
        assert_eq!((r.status, r.code()), (422, "bad_batch_id"), "{bad}");
    }
    assert_eq!(s.revision(), rev + 1);
}

#[test]
fn on_a_site_without_the_role_capabilities_only_site_admins_edit_definitions() {
    use capstan_core::generate::{GenerateOptions, generate};
    // The generated sites define none of moodle/role:*: site admins still manage roles.
    let site = generate(&GenerateOptions::small());
    let cap = site.capabilities[0].name.clone();
    let s = Server::start("no-role-caps", Some(site.to_json()));
    let admin_name = s.created_admin.as_ref().unwrap().0.clone();
    let admin = s.login(&admin_name, "admin-pass-1");
    let rev = s.revision();
    let r = s.post(
        "/api/v1/changes",
        &admin,
        json!({"base_revision": rev, "ops": [{"op": "set_permission", "role": 5, "context": 1,
            "capability": cap, "permission": "prohibit"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // Anyone else: refused.
    let other = site
        .users
        .iter()
        .find(|u| !site.settings.site_admins.contains(&u.id) && !u.deleted && u.id.0 > 2)
        .unwrap();
    set_password(&s, &admin, other.id.0, "other-pass-1");
    let t = s.login(&other.username, "other-pass-1");
    let r = s.post(
        "/api/v1/changes",
        &t,
        json!({"base_revision": rev + 1, "ops": [{"op": "set_permission", "role": 5, "context": 1,
            "capability": cap, "permission": "allow"}]}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
}

#[test]
fn snapshots_travel_gzipped_to_clients_that_take_it() {
    use std::io::Read;
    let s = Server::start("gzip", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let plain = s.get("/api/v1/site", &admin);
    assert_eq!(plain.header("content-encoding"), None);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |headers: &[(&str, &str)]| {
        let mut b = ureq::http::Request::builder()
            .uri(format!("{}/api/v1/site", s.client.base))
            .header("authorization", format!("Bearer {admin}"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        agent.run(b.body(()).unwrap()).unwrap()
    };
    let mut r = get(&[("accept-encoding", "br, gzip;q=0.8")]);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["vary"], "accept-encoding");
    let tag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(tag.ends_with("-gz\""), "{tag}");
    let zipped = r.body_mut().read_to_vec().unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, plain.text, "the same snapshot");
    // Either tag names the revision.
    let r = get(&[("accept-encoding", "gzip"), ("if-none-match", &tag)]);
    assert_eq!(r.status(), 304);
    let plain_tag = plain.header("etag").unwrap().to_string();
    let r = get(&[("accept-encoding", "gzip"), ("if-none-match", &plain_tag)]);
    assert_eq!(r.status(), 304);
    // Refused at q=0: plain.
    let r = get(&[("accept-encoding", "gzip;q=0, identity")]);
    assert_eq!(r.headers().get("content-encoding"), None);
    // A learner's bundle too.
    crate::common::set_password(&s, &admin, 12, "student1-pass");
    let learner = s.login("student1", "student1-pass");
    let mut b = agent
        .run(
            ureq::http::Request::builder()
                .uri(format!("{}/api/v1/bundle", s.client.base))
                .header("authorization", format!("Bearer {learner}"))
                .header("accept-encoding", "gzip")
                .body(())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(b.status(), 200);
    assert_eq!(b.headers()["content-encoding"], "gzip");
    let zipped = b.body_mut().read_to_vec().unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("\"bundle\""));
}

#[test]
fn presets_as_moodle_writes_them_reset_and_viewable_roles_over_rest() {
    let s = Server::start("reset", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let r = s.get("/api/v1/roles/5/preset?allowview=false", &admin);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"student.xml\"")
    );
    assert!(r.text.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<role><shortname>student</shortname>"
    ));
    assert!(!r.text.contains("allowview"));
    assert_eq!(
        s.get("/api/v1/roles/5/preset?colour=red", &admin).status,
        400
    );
    // Importing a role's own export changes nothing and makes no revision.
    let xml = s.get("/api/v1/roles/5/preset", &admin).text;
    let before = s.revision();
    let r = s.raw(
        "POST",
        "/api/v1/presets",
        Some(&admin),
        Some(("application/xml", xml)),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["revision"].as_u64(), &r.body["changed"]),
        (Some(before), &json!([]))
    );
    assert_eq!(s.revision(), before);
    // Reset the student role's permissions from Moodle's teacher archetype: one revision.
    let r = s.post(
        "/api/v1/roles/5/reset",
        &admin,
        json!({"from": {"archetype": "teacher"}, "parts": ["permissions"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["changed"], json!(["permissions"]));
    assert_eq!(r.body["revision"].as_u64(), Some(before + 1));
    let site = s.get("/api/v1/site", &admin);
    let student = site.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 5)
        .unwrap()
        .clone();
    assert_eq!(
        student["archetype"], "student",
        "only the permissions changed"
    );
    // Refusals change nothing.
    let now = s.revision();
    for (body, status, code) in [
        (
            json!({"from": {"archetype": "wizard"}, "parts": ["permissions"]}),
            400,
            "unknown_archetype",
        ),
        (
            json!({"from": {"nothing": true}, "parts": ["colour"]}),
            400,
            "malformed_json",
        ),
        (
            json!({"from": {"preset": "<role><bad/></role>"}, "parts": ["name"]}),
            400,
            "invalid_preset",
        ),
        (
            json!({"from": {"role": 99}, "parts": ["name"]}),
            404,
            "unknown_role",
        ),
        (
            json!({"from": "somewhere", "parts": []}),
            400,
            "malformed_json",
        ),
    ] {
        let r = s.post("/api/v1/roles/5/reset", &admin, body.clone());
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    assert_eq!(
        s.post(
            "/api/v1/roles/99/reset",
            &admin,
            json!({"from": {"nothing": true}, "parts": ["name"]})
        )
        .status,
        404
    );
    // A learner may not reset roles.
    set_password(&s, &admin, 12, "student1-pass");
    let learner = s.login("student1", "student1-pass");
    let r = s.post(
        "/api/v1/roles/5/reset",
        &learner,
        json!({"from": {"nothing": true}, "parts": ["permissions"]}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(s.revision(), now, "refused resets change nothing");
    // Viewable roles: the admin sees every role; a learner may ask about itself only, and
    // another tenant's context answers as a missing one.
    let r = s.post(
        "/api/v1/viewable-roles",
        &admin,
        json!({"user": 2, "context": 10}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["roles"], json!([1, 3, 5, 6, 7, 9, 10]));
    let r = s.post(
        "/api/v1/viewable-roles",
        &learner,
        json!({"user": 12, "context": 10}),
    );
    assert_eq!((r.status, &r.body["roles"]), (200, &json!([])));
    let r = s.post(
        "/api/v1/viewable-roles",
        &learner,
        json!({"user": 11, "context": 10}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let r = s.post(
        "/api/v1/viewable-roles",
        &learner,
        json!({"user": 12, "context": 11}),
    );
    assert_eq!((r.status, r.code()), (404, "unknown_context"), "{}", r.text);
    // The Moodle 4.5 template is a valid snapshot for the server too.
    let template =
        capstan_core::Engine::from_site(capstan_core::moodle::template("moodle-4.5").unwrap())
            .unwrap()
            .to_json();
    let r = s.raw(
        "POST",
        "/api/v1/validate",
        Some(&admin),
        Some(("application/json", template)),
        &[],
    );
    assert_eq!(
        (r.status, &r.body["valid"]),
        (200, &json!(true)),
        "{}",
        r.text
    );
}
