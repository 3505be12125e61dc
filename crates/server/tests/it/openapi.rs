//! The OpenAPI document: every endpoint is in it, every `$ref` resolves, every secured
//! operation documents 401, every operation documents its success.

use crate::common::Server;
use serde_json::Value;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn the_document_describes_every_endpoint() {
    let s = Server::start("openapi", Some(crate::common::tenants_fixture()));
    let doc = s.call("GET", "/api/v1/openapi.json", None, None).body;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    use capstan_api::paths as p;
    for path in [
        p::SESSIONS,
        p::STAFF_SESSIONS,
        p::SESSION_CURRENT,
        p::SITE,
        p::CHANGES,
        p::CHECK,
        p::EXPLAIN,
        p::EFFECTIVE_PERMISSIONS,
        p::USERS_WITH_CAPABILITY,
        p::CAPABILITY_OVERVIEW,
        p::CAN_ASSIGN,
        p::CAN_OVERRIDE,
        p::CAN_SWITCH,
        p::UNSUPPORTED_ASSIGNMENTS,
        p::VISIBILITY,
        p::VISIBLE_ITEMS,
        p::VALIDATE,
        p::ROLE_PRESET,
        p::PRESETS,
        p::USER_PASSWORD,
        p::API_KEYS,
        p::API_KEY,
        p::SUPPORT_STAFF,
        p::SUPPORT_REQUESTS,
        p::SUPPORT_ALLOW,
        p::SUPPORT_DENY,
        p::SUPPORT_GRANTS,
        p::SUPPORT_REVOKE,
        p::AUDIT,
        p::AUDIT_VERIFY,
        p::OPENAPI,
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path}: no success documented"
            );
            if op.get("security").is_some() {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
        }
    }
    assert!(operations >= 35, "{operations} operations");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas.contains_key(name), "dangling {r}");
    }
}
