//! The REST API through the real router, on a real SQLite file: sessions, ETags, batches and
//! conflicts, enforcement, rate limits, restarts and the audit chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use capstan_core::Timestamp;
use capstan_server::{AppState, Clock, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tower::ServiceExt;

struct ManualClock(AtomicI64);
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_seconds(self.0.load(Ordering::SeqCst))
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("capstan-server-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("capstan.db")
}

struct Api {
    app: axum::Router,
    clock: Arc<ManualClock>,
}

impl Api {
    fn new(name: &str) -> Api {
        let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000)));
        let opened =
            AppState::open(&tmp(name), Some("admin-pass-1".into()), clock.clone()).unwrap();
        Api {
            app: router(opened.state, std::path::PathBuf::from("/nonexistent")),
            clock,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra: Option<(&str, &str)>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some((k, v)) = extra {
            b = b.header(k, v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            etag,
        )
    }

    async fn login(&self, user: &str, pass: &str) -> String {
        let (s, v, _) = self
            .call(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"username": user, "password": pass})),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["token"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn anonymous_is_refused_and_errors_are_json_with_codes() {
    let api = Api::new("anon");
    let (s, v, _) = api.call("GET", "/api/v1/site", None, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["code"], "unauthenticated");
    let (s, v, _) = api
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "admin"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["code"], "malformed_json");
    let (s, v, _) = api
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "admin", "password": "wrong"})),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credentials"))
    );
    let (s, v, _) = api
        .call("GET", "/api/v1/openapi.json", None, None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["openapi"], "3.0.3");
}

#[tokio::test]
async fn login_site_etag_changes_and_conflicts() {
    let api = Api::new("sync");
    let t = api.login("admin", "admin-pass-1").await;
    let (s, site, etag) = api.call("GET", "/api/v1/site", Some(&t), None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(site["format"], "capstan/1");
    assert_eq!(etag.as_deref(), Some("\"0\""));
    let (s, _, _) = api
        .call(
            "GET",
            "/api/v1/site",
            Some(&t),
            None,
            Some(("if-none-match", "\"0\"")),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    let op = json!({"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": "prohibit"});
    let (s, v, _) = api
        .call(
            "POST",
            "/api/v1/changes",
            Some(&t),
            Some(json!({"base_revision": 0, "ops": [op]})),
            None,
        )
        .await;
    assert_eq!((s, v["revision"].as_u64()), (StatusCode::OK, Some(1)));
    // A second client still on revision 0 gets 409 with what it missed, and nothing changes.
    let (s, v, _) = api
        .call(
            "POST",
            "/api/v1/changes",
            Some(&t),
            Some(json!({"base_revision": 0, "ops": [op]})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["code"], "stale_revision");
    assert_eq!(v["missed"].as_array().unwrap().len(), 1);
    let (_, v, _) = api
        .call("GET", "/api/v1/changes?since=0", Some(&t), None, None)
        .await;
    assert_eq!(v["revision"], 1);
    // A refused edit in a batch changes nothing (all or nothing).
    let bad = json!({"op": "set_permission", "role": 999, "context": 1, "capability": "moodle/course:view", "permission": "allow"});
    let (s, v, _) = api
        .call(
            "POST",
            "/api/v1/changes",
            Some(&t),
            Some(json!({"base_revision": 1, "ops": [op, bad]})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["details"]["index"], 1);
    let (_, _, etag) = api.call("GET", "/api/v1/site", Some(&t), None, None).await;
    assert_eq!(etag.as_deref(), Some("\"1\""));
    let (s, v, _) = api
        .call("GET", "/api/v1/audit/verify", Some(&t), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn enforcement_non_admins_cannot_edit_roles_and_sessions_expire() {
    let api = Api::new("authz");
    let admin = api.login("admin", "admin-pass-1").await;
    let (_, site, _) = api
        .call("GET", "/api/v1/site", Some(&admin), None, None)
        .await;
    // A student somewhere: an active user with no system-level role and not an admin.
    let admins: Vec<u64> = site["settings"]["site_admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let mut student = 0;
    for a in site["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["role"] == 5)
    {
        let u = a["user"].as_u64().unwrap();
        if admins.contains(&u) {
            continue;
        }
        let mut privileged = false;
        for cap in ["moodle/role:manage", "moodle/site:config"] {
            let (_, v, _) = api
                .call(
                    "POST",
                    "/api/v1/check",
                    Some(&admin),
                    Some(json!({"user": u, "capability": cap, "context": 1})),
                    None,
                )
                .await;
            privileged |= v["allowed"] == true;
        }
        if !privileged {
            student = u;
            break;
        }
    }
    assert_ne!(student, 0, "a user with no site-level rights");
    let username = site["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == student)
        .unwrap()["username"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _, _) = api
        .call(
            "PUT",
            &format!("/api/v1/users/{student}/password"),
            Some(&admin),
            Some(json!({"password": "student-pass"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let t = api.login(&username, "student-pass").await;
    let (s, v, _) = api.call("GET", "/api/v1/site", Some(&t), None, None).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let op = json!({"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": "allow"});
    let (s, _, _) = api
        .call(
            "POST",
            "/api/v1/changes",
            Some(&t),
            Some(json!({"base_revision": 0, "ops": [op]})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = api.call("GET", "/api/v1/audit", Some(&t), None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The student may ask about themselves, not about others.
    let (s, v, _) = api
        .call(
            "POST",
            "/api/v1/check",
            Some(&t),
            Some(json!({"user": student, "capability": "moodle/course:view", "context": 1})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _, _) = api
        .call(
            "POST",
            "/api/v1/check",
            Some(&t),
            Some(json!({"user": 2, "capability": "moodle/course:view", "context": 1})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Sessions end at their expiry instant.
    api.clock
        .0
        .fetch_add(capstan_server::SESSION_SECONDS, Ordering::SeqCst);
    let (s, v, _) = api
        .call("GET", "/api/v1/site", Some(&admin), None, None)
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_expired"))
    );
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let api = Api::new("rate");
    for _ in 0..capstan_server::RATE_LIMIT {
        let (s, _, _) = api
            .call(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"username": "admin", "password": "nope"})),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, v, _) = api
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "admin", "password": "admin-pass-1"})),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    api.clock
        .0
        .fetch_add(capstan_server::RATE_WINDOW_SECONDS, Ordering::SeqCst);
    api.login("admin", "admin-pass-1").await;
}

#[test]
fn edits_survive_a_restart_and_a_tampered_audit_log_is_detected() {
    let db = tmp("restart");
    let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000)));
    {
        let o = AppState::open(&db, Some("pw-123456".into()), clock.clone()).unwrap();
        assert!(o.created_admin.is_some());
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let api = Api { app: router(o.state, "/nonexistent".into()), clock: clock.clone() };
            let t = api.login("admin", "pw-123456").await;
            for rev in 0..5u64 {
                let op = json!({"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": if rev % 2 == 0 { "prevent" } else { "allow" }});
                let (s, _, _) = api.call("POST", "/api/v1/changes", Some(&t), Some(json!({"base_revision": rev, "ops": [op]})), None).await;
                assert_eq!(s, StatusCode::OK);
            }
        });
    }
    let o = AppState::open(&db, None, clock.clone()).unwrap();
    assert!(o.created_admin.is_none(), "no second seed");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let api = Api {
            app: router(o.state, "/nonexistent".into()),
            clock: clock.clone(),
        };
        let t = api.login("admin", "pw-123456").await;
        let (_, _, etag) = api.call("GET", "/api/v1/site", Some(&t), None, None).await;
        assert_eq!(etag.as_deref(), Some("\"5\""));
    });
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert!(capstan_server::verify_chain(&conn).unwrap().0);
    conn.execute("UPDATE audit SET detail = '{}' WHERE seq = 3", [])
        .unwrap();
    let (ok, _, bad) = capstan_server::verify_chain(&conn).unwrap();
    assert!(!ok);
    assert_eq!(bad, Some(3));
}
