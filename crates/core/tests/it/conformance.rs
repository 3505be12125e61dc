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
