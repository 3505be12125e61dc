//! Every public conformance scenario, run through the core.

use capstan_core::Timestamp;
use capstan_core::scenario::run_scenario;
use std::path::{Path, PathBuf};

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/public")
}

pub fn scenario_files() -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, out);
            } else if e.extension().is_some_and(|x| x == "json") {
                out.push(e);
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus_dir(), &mut out);
    out
}

#[test]
fn public_corpus_passes() {
    let files = scenario_files();
    assert!(
        files.len() >= 60,
        "corpus not found at {}",
        corpus_dir().display()
    );
    let now = Timestamp::parse("2026-11-23T00:00:00Z").unwrap();
    let mut failures = Vec::new();
    let mut total = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let report = run_scenario(&text, now).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        total += report.outcomes.len();
        for o in report.outcomes.iter().filter(|o| !o.passed) {
            failures.push(format!(
                "{}: query {} ({}): expected {}, got {}",
                f.display(),
                o.index,
                o.op,
                o.expected,
                o.got
            ));
        }
    }
    assert!(total > 3000);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every `has_capability` query of the corpus, asked of a bundle cut for that query's user
/// at that query's context (and of the whole-tree bundle of that user), gives the expected
/// answer; the bundles are cut by the core and read back from their JSON.
#[test]
fn public_corpus_passes_through_bundles() {
    use capstan_core::scenario::QueryDoc;
    use capstan_core::{CheckOptions, ContextId, Engine, UserId};
    let now = Timestamp::parse("2026-11-23T00:00:00Z").unwrap();
    let (mut asked, mut failures) = (0usize, Vec::new());
    for f in scenario_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let Ok(whole) = Engine::from_json(&text) else {
            continue;
        };
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (i, raw) in doc["queries"].as_array().into_iter().flatten().enumerate() {
            let q: QueryDoc = serde_json::from_value(raw.clone()).unwrap();
            if q.op != "has_capability" || q.expect_error.is_some() {
                continue;
            }
            let (user, context) = (
                UserId(q.user.unwrap_or(0)),
                ContextId(q.context.unwrap_or(0)),
            );
            let opts = CheckOptions {
                doanything: q.doanything.unwrap_or(true),
                at: q.at.unwrap_or(now),
            };
            // A context inside another user's user context is not the user's to hold: no
            // bundle of that user covers it.
            if whole
                .bundle(user, &[context])
                .is_err_and(|e| e.code() == "unknown_context")
            {
                continue;
            }
            for roots in [vec![context], vec![]] {
                let cut = whole
                    .bundle(user, &roots)
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                let bundle = Engine::from_json(&cut.to_json()).unwrap_or_else(|e| {
                    panic!("{} query {i}: the bundle does not load: {e}", f.display())
                });
                let got = bundle
                    .has_capability(user, q.capability.as_deref().unwrap_or(""), context, opts)
                    .map_err(|e| e.code().to_string());
                asked += 1;
                if got.as_ref().ok() != q.expect.as_ref().and_then(|v| v.as_bool()).as_ref() {
                    failures.push(format!(
                        "{} query {i} (roots {roots:?}): expected {:?}, got {got:?}",
                        f.display(),
                        q.expect
                    ));
                }
            }
        }
    }
    assert!(asked > 2000, "{asked}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
