//! Support access end to end: staff with a TOTP second factor, request, allow, the support
//! identity at work (scoped, logged), expiry at the exact instant, sweep, revoke, and the
//! setting that turns it all off.

use crate::common::{Server, tenants_fixture};
use capstan_server::totp;
use serde_json::{Value, json};

pub struct Staff {
    pub username: String,
    pub password: String,
    pub secret: Vec<u8>,
}

/// The admin makes a staff account.
pub fn make_staff(s: &Server, admin: &str, username: &str) -> Staff {
    let r = s.post(
        "/api/v1/support/staff",
        admin,
        json!({"username": username, "password": "staff-pass-1", "fullname": "Vendor Support"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let b32 = r.body["totp_secret"].as_str().unwrap();
    assert!(
        r.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Capstan:")
    );
    Staff {
        username: username.into(),
        password: "staff-pass-1".into(),
        secret: totp::base32_decode(b32).unwrap(),
    }
}

/// Staff sign in with the code of the server's current instant.
pub fn staff_login(s: &Server, staff: &Staff) -> String {
    let code = totp::code_at(&staff.secret, s.now_s());
    let r = s.call(
        "POST",
        "/api/v1/support/sessions",
        None,
        Some(json!({"username": staff.username, "password": staff.password, "totp": code})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["token"].as_str().unwrap().to_string()
}

/// Staff ask, the admin allows: returns the grant.
pub fn grant(s: &Server, admin: &str, staff: &str, scope: Value, days: u32) -> Value {
    let r = s.post(
        "/api/v1/support/requests",
        staff,
        json!({"reason": "ticket 4711: gradebook export fails", "scope": scope}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "pending");
    let id = r.body["id"].as_u64().unwrap();
    let r = s.post(
        &format!("/api/v1/support/requests/{id}/allow"),
        admin,
        json!({"duration_days": days, "role": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    r.body
}

fn can_update(s: &Server, admin: &str, user: u64, context: u32) -> bool {
    let r = s.post(
        "/api/v1/check",
        admin,
        json!({"user": user, "capability": "moodle/course:update", "context": context}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["allowed"].as_bool().unwrap()
}

#[test]
fn second_factor_is_required_at_every_login_and_works_once() {
    let s = Server::start("totp", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let staff = make_staff(&s, &admin, "vendor");
    let login = |code: &str| {
        s.call(
            "POST",
            "/api/v1/support/sessions",
            None,
            Some(json!({"username": "vendor", "password": "staff-pass-1", "totp": code})),
        )
    };
    let wrong = format!(
        "{:06}",
        (totp::code_at(&staff.secret, s.now_s())
            .parse::<u32>()
            .unwrap()
            + 1)
            % 1_000_000
    );
    assert_eq!(login(&wrong).code(), "bad_second_factor");
    let r = s.call(
        "POST",
        "/api/v1/support/sessions",
        None,
        Some(json!({"username": "vendor", "password": "staff-pass-1"})),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "malformed_json"),
        "no code, no session"
    );
    let r = s.call(
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"username": "vendor", "password": "staff-pass-1"})),
    );
    assert_eq!(r.status, 401, "staff cannot use the one-factor login");
    let code = totp::code_at(&staff.secret, s.now_s());
    assert_eq!(login(&code).status, 201);
    assert_eq!(
        login(&code).code(),
        "bad_second_factor",
        "a code works once"
    );
    s.advance(30);
    let t = staff_login(&s, &staff);
    let me = s.get("/api/v1/sessions/current", &t);
    assert_eq!(me.body["kind"], "support_staff");
    assert_eq!(
        me.body["user"],
        Value::Null,
        "no grant yet: no site identity"
    );
    assert_eq!(s.get("/api/v1/site", &t).status, 403);
}

#[test]
fn a_grant_makes_a_scoped_logged_support_user_that_ends_at_the_exact_instant() {
    let s = Server::start("grant", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let staff = make_staff(&s, &admin, "vendor");
    let t = staff_login(&s, &staff);
    // Bad scopes and durations are refused.
    let r = s.post(
        "/api/v1/support/requests",
        &t,
        json!({"reason": "x", "scope": {"site": false, "tenants": []}}),
    );
    assert_eq!((r.status, r.code()), (422, "bad_support_grant"));
    let r = s.post(
        "/api/v1/support/requests",
        &t,
        json!({"reason": "x", "scope": {"tenants": [99]}}),
    );
    assert_eq!(r.status, 422);
    let r = s.post(
        "/api/v1/support/requests",
        &t,
        json!({"reason": "need to look at TENANT1", "scope": {"tenants": [1]}}),
    );
    let req = r.body["id"].as_u64().unwrap();
    let pending = s.get("/api/v1/support/requests?status=pending", &admin);
    assert_eq!(pending.body.as_array().unwrap().len(), 1);
    let r = s.post(
        &format!("/api/v1/support/requests/{req}/allow"),
        &admin,
        json!({"duration_days": 31}),
    );
    assert_eq!((r.status, r.code()), (422, "bad_support_grant"));
    // A support identity never grants support access, even its own.
    let r = s.post(
        &format!("/api/v1/support/requests/{req}/allow"),
        &t,
        json!({}),
    );
    assert_eq!(r.status, 403);
    let r = s.post(
        &format!("/api/v1/support/requests/{req}/allow"),
        &admin,
        json!({"role": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let g = r.body.clone();
    let user = g["user"].as_u64().unwrap();
    let ident = g["identifier"].as_str().unwrap().to_string();
    let expires = g["expires_at"].as_str().unwrap().to_string();
    assert_eq!(
        capstan_core::Timestamp::parse(&expires)
            .unwrap()
            .unix_seconds()
            - s.now_s(),
        86_400,
        "default duration: 1 day"
    );
    let r = s.post(
        &format!("/api/v1/support/requests/{req}/allow"),
        &admin,
        json!({}),
    );
    assert_eq!((r.status, r.code()), (409, "support_state"));
    // The temporary user: a support identifier, no default roles, never a site admin.
    let site = s.get("/api/v1/site", &admin);
    let u = site.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == user)
        .unwrap()
        .clone();
    assert_eq!(u["support_identifier"], ident.as_str());
    // The staff session now acts as it, inside tenant 1 only.
    let me = s.get("/api/v1/sessions/current", &t);
    assert_eq!(me.body["user"], user);
    assert_eq!(me.body["support"]["identifier"], ident.as_str());
    assert_eq!(me.body["reach"], json!({"kind": "tenant", "tenant": 1}));
    assert!(can_update(&s, &admin, user, 10), "inside the tenant");
    assert!(!can_update(&s, &admin, user, 12), "not the site");
    assert!(!can_update(&s, &admin, user, 11), "not another tenant");
    let r = s.post(
        "/api/v1/explain",
        &t,
        json!({"user": user, "capability": "moodle/course:update", "context": 12}),
    );
    assert_eq!(r.status, 404, "the site course is outside its view");
    let slice = s.get("/api/v1/site", &t);
    assert_eq!(slice.status, 200);
    assert!(!slice.text.contains("TENANT2"), "{}", slice.text);
    // It works: an override in tenant 1, logged with the identifier and the real person.
    let r = s.post(
        "/api/v1/changes",
        &t,
        json!({"base_revision": s.revision(), "ops": [{"op": "set_permission", "role": 5, "context": 10, "capability": "moodle/course:update", "permission": "allow"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let log = s.get("/api/v1/audit?support=true&limit=500", &admin);
    let entries = log.body["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e["support_identifier"] == ident.as_str())
    );
    assert!(
        entries.iter().any(|e| e["action"] == "request"),
        "every request is logged"
    );
    let change = entries.iter().find(|e| e["action"] == "changes").unwrap();
    assert_eq!(change["staff"], "vendor");
    assert_eq!(change["actor"], user);
    let not_support = s.get("/api/v1/audit?support=false&limit=500", &admin);
    assert!(
        not_support.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["support_identifier"].is_null())
    );
    // One second before expiry it works; at the instant it stops.
    let secs = capstan_core::Timestamp::parse(&expires)
        .unwrap()
        .unix_seconds()
        - s.now_s();
    s.advance(secs - 1);
    let admin = s.login("admin", "admin-pass-1");
    let t = staff_login(&s, &staff);
    assert!(can_update(&s, &admin, user, 10));
    assert_eq!(s.get("/api/v1/sessions/current", &t).body["user"], user);
    s.advance(1);
    assert!(!can_update(&s, &admin, user, 10), "ended at expiry");
    let me = s.get("/api/v1/sessions/current", &t);
    assert_eq!(
        me.body["user"],
        Value::Null,
        "the session lost its identity"
    );
    assert_eq!(s.get("/api/v1/site", &t).status, 403);
    // The sweep takes the user off the site; the log entries stay, with the identifier.
    assert_eq!(capstan_server::routes::support::sweep(&s.state).unwrap(), 1);
    let site = s.get("/api/v1/site", &admin);
    assert!(
        !site.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == user)
    );
    let log = s.get("/api/v1/audit?support=true&limit=500", &admin);
    let kept = log.body["entries"].as_array().unwrap();
    for e in entries {
        assert!(
            kept.iter().any(|k| k == e),
            "entry {} is kept as it was",
            e["seq"]
        );
    }
    let all = s.get("/api/v1/audit?limit=500", &admin);
    assert!(
        all.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "support_expired")
    );
    let grants = s.get("/api/v1/support/grants", &admin);
    assert_eq!(grants.body[0]["status"], "expired");
    assert_eq!(capstan_server::routes::support::sweep(&s.state).unwrap(), 0);
    assert!(
        s.get("/api/v1/audit/verify", &admin).body["ok"]
            .as_bool()
            .unwrap()
    );
}

#[test]
fn revoke_ends_a_grant_at_once_and_the_setting_turns_support_off() {
    let s = Server::start("revoke", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    let staff = make_staff(&s, &admin, "vendor");
    let t = staff_login(&s, &staff);
    let g = grant(&s, &admin, &t, json!({"site": true}), 3);
    let user = g["user"].as_u64().unwrap();
    assert!(
        can_update(&s, &admin, user, 12),
        "site scope reaches the site course"
    );
    assert!(!can_update(&s, &admin, user, 10), "and no tenant");
    assert_eq!(s.get("/api/v1/sessions/current", &t).body["user"], user);
    let r = s.post(
        &format!("/api/v1/support/grants/{}/revoke", g["id"]),
        &admin,
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "revoked");
    assert!(!can_update(&s, &admin, user, 12), "at once");
    assert_eq!(
        s.get("/api/v1/sessions/current", &t).body["user"],
        Value::Null
    );
    let r = s.post(
        &format!("/api/v1/support/grants/{}/revoke", g["id"]),
        &admin,
        json!({}),
    );
    assert_eq!((r.status, r.code()), (409, "support_state"));
    // Denied requests make no grant.
    let r = s.post(
        "/api/v1/support/requests",
        &t,
        json!({"reason": "again", "scope": {"site": true}}),
    );
    let id = r.body["id"].as_u64().unwrap();
    let r = s.post(
        &format!("/api/v1/support/requests/{id}/deny"),
        &admin,
        json!({"note": "not now"}),
    );
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("denied")));
    let mine = s.get("/api/v1/support/requests", &t);
    assert_eq!(mine.body[0]["note"], "not now");
    // Off: no staff sign-in, no requests, no grants; existing staff sessions stop.
    let site = s.get("/api/v1/site", &admin).body;
    let mut settings = site["settings"].clone();
    settings["support_access"] = json!(false);
    let r = s.post(
        "/api/v1/changes",
        &admin,
        json!({"base_revision": s.revision(), "ops": [{"op": "set_settings", "settings": settings}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    s.advance(30);
    let code = totp::code_at(&staff.secret, s.now_s());
    let r = s.call(
        "POST",
        "/api/v1/support/sessions",
        None,
        Some(json!({"username": "vendor", "password": "staff-pass-1", "totp": code})),
    );
    assert_eq!((r.status, r.code()), (403, "support_access_disabled"));
    let r = s.get("/api/v1/sessions/current", &t);
    assert_eq!((r.status, r.code()), (403, "support_access_disabled"));
}
