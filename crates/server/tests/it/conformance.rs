//! The conformance corpus (`shared/conformance`) through the REST API: each scenario seeds a
//! server of its own, a service key asks every query over HTTP, the answers must equal the
//! expected ones. 0 failures.

use crate::common::{Client, Server};
use capstan_core::scenario::QueryDoc;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    std::env::var_os("CAPSTAN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("conformance/public")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// What the server answers, in the scenario format's terms (`{"error": code}` for an error).
fn ask(c: &Client, key: &str, text: &str, q: &QueryDoc) -> Value {
    let at = q.at.map(|t| t.to_string());
    let answer = |path: &str, body: Value, pick: &dyn Fn(&Value) -> Value| {
        let r = c.post(path, key, body);
        if r.status == 200 {
            pick(&r.body)
        } else {
            assert!(r.status < 500, "{path}: {}", r.text);
            json!({"error": r.code()})
        }
    };
    let field = |name: &'static str| move |v: &Value| v[name].clone();
    match q.op.as_str() {
        "validate" => {
            let r = c.raw(
                "POST",
                "/api/v1/validate",
                Some(key),
                Some(("application/json", text.to_string())),
                &[],
            );
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["codes"].clone()
        }
        "has_capability" => answer(
            "/api/v1/check",
            json!({"user": q.user.unwrap_or(0), "capability": q.capability, "context": q.context.unwrap_or(0),
                   "doanything": q.doanything, "at": at}),
            &field("allowed"),
        ),
        "users_with_capability" => answer(
            "/api/v1/users-with-capability",
            json!({"capability": q.capability, "context": q.context.unwrap_or(0), "at": at}),
            &field("users"),
        ),
        op @ ("can_assign" | "can_override" | "can_switch") => answer(
            &format!("/api/v1/{}", op.replace('_', "-")),
            json!({"user": q.user.unwrap_or(0), "role": q.role.unwrap_or(0), "context": q.context.unwrap_or(0),
                   "capability": q.capability, "at": at}),
            &field("allowed"),
        ),
        "visible" => answer(
            "/api/v1/visibility",
            json!({"user": q.user.unwrap_or(0), "context": q.context.unwrap_or(0), "at": at}),
            &field("visible"),
        ),
        "contexts_with_capability" => answer(
            "/api/v1/contexts-with-capability",
            json!({"user": q.user.unwrap_or(0), "capability": q.capability, "level": q.level,
                   "doanything": q.doanything, "at": at}),
            &field("contexts"),
        ),
        "unsupported_assignments" => {
            let r = c.get("/api/v1/unsupported-assignments", key);
            assert_eq!(r.status, 200, "{}", r.text);
            r.body
        }
        other => json!({"error": format!("unknown op {other}")}),
    }
}

#[test]
fn the_corpus_passes_through_the_rest_api() {
    let mut list = Vec::new();
    files(&corpus(), &mut list);
    assert!(list.len() > 40, "the corpus is there");
    let (mut passed, mut failures) = (0usize, Vec::new());
    let mut bundles = 0usize;
    // Invalid snapshots are answered by one server's validator.
    let validator = Server::start(
        "conformance-validator",
        Some(crate::common::tenants_fixture()),
    );
    let (_, vkey) = validator
        .state
        .create_api_key("conformance", None, None)
        .unwrap();
    for (i, path) in list.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let queries: Vec<QueryDoc> = doc["queries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|q| serde_json::from_value(q).unwrap())
            .collect();
        let loads = capstan_core::Engine::from_json(&text).is_ok();
        let server = loads.then(|| Server::start(&format!("conformance-{i}"), Some(text.clone())));
        let (client, key) = match &server {
            Some(s) => (
                s.client.clone(),
                s.state.create_api_key("conformance", None, None).unwrap().1,
            ),
            None => (validator.client.clone(), vkey.clone()),
        };
        for (n, q) in queries.iter().enumerate() {
            let expected = match &q.expect_error {
                Some(code) => json!({"error": code}),
                None => q.expect.clone().unwrap_or(Value::Null),
            };
            let got = ask(&client, &key, &text, q);
            // The same question of the user's bundle as the server cuts it.
            if q.op == "has_capability" && q.expect_error.is_none() && server.is_some() {
                let r = client.get(
                    &format!(
                        "/api/v1/bundle?user={}&context={}",
                        q.user.unwrap_or(0),
                        q.context.unwrap_or(0)
                    ),
                    &key,
                );
                if r.status == 200 {
                    let bundle = capstan_core::Engine::from_json(&r.text).unwrap();
                    let opts = capstan_core::CheckOptions {
                        doanything: q.doanything.unwrap_or(true),
                        at: q.at.unwrap_or_else(|| {
                            capstan_core::Timestamp::from_unix_millis(crate::common::START_MS)
                        }),
                    };
                    let from_bundle = bundle
                        .has_capability(
                            capstan_core::UserId(q.user.unwrap_or(0)),
                            q.capability.as_deref().unwrap_or(""),
                            capstan_core::ContextId(q.context.unwrap_or(0)),
                            opts,
                        )
                        .map(Value::from)
                        .unwrap_or_else(|e| json!({"error": e.code()}));
                    bundles += 1;
                    if from_bundle != expected {
                        failures.push(format!(
                            "{} #{n} through the bundle: expected {expected}, got {from_bundle}",
                            path.display()
                        ));
                    }
                } else {
                    assert_eq!(r.code(), "unknown_context", "{}", r.text);
                }
            }
            if got == expected {
                passed += 1;
            } else {
                failures.push(format!(
                    "{} #{n} {}: expected {expected}, got {got}",
                    path.display(),
                    q.op
                ));
            }
        }
    }
    assert!(bundles > 2000, "{bundles} questions through bundles");
    assert!(
        failures.is_empty(),
        "{} passed, {} failed:\n{}",
        passed,
        failures.len(),
        failures.join("\n")
    );
    assert!(passed > 3000, "{passed} queries");
    println!("conformance through REST: {passed} passed, 0 failed");
}
