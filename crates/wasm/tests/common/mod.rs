//! Shared body of the wasm-bindgen tests (run in Node by `node.rs`, in Chromium by `browser.rs`).

use capstan_wasm::Engine;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

pub const SITE: &str = r#"{
  "format": "capstan/1",
  "settings": {"default_user_role": 7, "site_admins": [2], "guest_user": 1, "guest_role": 6},
  "capabilities": [
    {"name": "moodle/course:view", "captype": "read", "contextlevel": "course"},
    {"name": "moodle/course:update", "captype": "write", "contextlevel": "course", "risks": ["xss"]}
  ],
  "contexts": [{"id": 1, "level": "system"}, {"id": 2, "level": "coursecat", "parent": 1},
               {"id": 3, "level": "course", "parent": 2}, {"id": 4, "level": "module", "parent": 3}],
  "roles": [{"id": 5, "shortname": "student", "contextlevels": ["course"]},
            {"id": 6, "shortname": "guest", "archetype": "guest"},
            {"id": 7, "shortname": "user"}],
  "permissions": [
    {"role": 5, "context": 1, "capability": "moodle/course:view", "permission": "allow"},
    {"role": 5, "context": 1, "capability": "moodle/course:update", "permission": "allow"},
    {"role": 6, "context": 1, "capability": "moodle/course:update", "permission": "allow"},
    {"role": 5, "context": 4, "capability": "moodle/course:view", "permission": "prohibit"}
  ],
  "users": [{"id": 1, "username": "guest"}, {"id": 2, "username": "admin"}, {"id": 10, "username": "alice"}],
  "assignments": [{"user": 10, "role": 5, "context": 3}, {"user": 1, "role": 5, "context": 3}]
}"#;

pub fn code(e: &JsValue) -> String {
    Reflect::get(e, &"code".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

pub fn answers_questions() {
    let e = Engine::from_json(SITE).unwrap();

    assert!(
        e.has_capability(10.0, "moodle/course:view", 3.0, None)
            .unwrap()
    );
    assert!(
        !e.has_capability(10.0, "moodle/course:view", 4.0, None)
            .unwrap()
    );
    // The guest account never gets a write capability, and its own assignments are ignored.
    assert!(
        !e.has_capability(1.0, "moodle/course:update", 3.0, None)
            .unwrap()
    );
    assert!(
        !e.has_capability(1.0, "moodle/course:view", 3.0, None)
            .unwrap()
    );
    assert!(
        e.has_capability(2.0, "moodle/course:update", 4.0, None)
            .unwrap()
    );
    let cap = e.capability_id("moodle/course:view").unwrap();
    assert!(e.check(10, cap, 3).unwrap());
    let many = e.check_many(&[10, cap, 3, 10, cap, 4, 2, cap, 4]).unwrap();
    assert_eq!(many.to_vec(), vec![1, 0, 1]);
}

pub fn errors_carry_codes() {
    let e = Engine::from_json(SITE).unwrap();
    let err = e.has_capability(10.0, "nope/x:y", 3.0, None).unwrap_err();
    assert_eq!(code(&err), "unknown_capability");
    assert!(err.is_instance_of::<js_sys::Error>());
    let err = e
        .has_capability(10.0, "moodle/course:view", 99.0, None)
        .unwrap_err();
    assert_eq!(code(&err), "unknown_context");
    let err = e
        .has_capability(f64::NAN, "moodle/course:view", 3.0, None)
        .unwrap_err();
    assert_eq!(code(&err), "bad_argument");
    let err = Engine::from_json("{").err().unwrap();
    assert_eq!(code(&err), "malformed_json");
    let err = Engine::from_json(r#"{"format": "capstan/1"}"#)
        .err()
        .unwrap();
    assert_eq!(code(&err), "no_system_context");
}
