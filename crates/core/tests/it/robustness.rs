//! Bad input never panics and always gets a stable code.

use crate::conformance::scenario_files;
use capstan_core::*;
use proptest::prelude::*;

#[test]
fn malformed_snapshots_get_clear_codes() {
    let cases = [
        ("", "malformed_json"),
        ("{", "malformed_json"),
        ("[]", "malformed_json"),
        (r#"{"format": "capstan/2"}"#, "unsupported_format"),
        (
            r#"{"format": "capstan/1", "surprise": 1}"#,
            "malformed_json",
        ),
        (
            r#"{"format": "capstan/1", "contexts": [{"id": 1, "level": "galaxy"}]}"#,
            "malformed_json",
        ),
        (
            r#"{"format": "capstan/1", "contexts": [{"id": -1, "level": "system"}]}"#,
            "malformed_json",
        ),
        (
            r#"{"format": "capstan/1", "contexts": [{"id": 1, "level": "system"}], "assignments": [{"user": 1, "role": 1, "context": 1, "from": "yesterday"}]}"#,
            "malformed_json",
        ),
        (r#"{"format": "capstan/1"}"#, "no_system_context"),
        (
            r#"{"format": "capstan/1", "contexts": [{"id": 1, "level": "system"}, {"id": 2, "level": "course", "parent": 5}]}"#,
            "unknown_reference",
        ),
    ];
    for (text, code) in cases {
        let err = Engine::from_json(text).unwrap_err();
        assert_eq!(err.code(), code, "{text}: {err}");
    }
    let err =
        Engine::from_json(r#"{"format": "capstan/1", "contexts": [{"id": 1, "level": "galaxy"}]}"#)
            .unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn every_invalid_file_reports_its_code_with_a_path() {
    for f in scenario_files()
        .iter()
        .filter(|f| f.parent().unwrap().ends_with("invalid"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        let site = Site::from_json(&text).unwrap();
        let issues = validate(&site);
        let stem = f.file_stem().unwrap().to_str().unwrap();
        let code = stem.split('-').next().unwrap();
        assert!(
            issues.iter().any(|i| i.code.as_str() == code),
            "{stem}: {issues:?}"
        );
        assert!(
            issues
                .iter()
                .all(|i| !i.path.is_empty() && !i.message.is_empty())
        );
        let err = Engine::from_json(&text).unwrap_err();
        assert!(matches!(err, LoadError::Invalid(_)));
    }
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = " ".repeat(snapshot::MAX_SNAPSHOT_BYTES + 1);
    assert_eq!(Engine::from_json(&big).unwrap_err().code(), "too_large");
}

#[test]
fn deep_and_cyclic_trees_do_not_overflow() {
    // A 50,000-deep category chain: no recursion anywhere in validation or compilation.
    let mut contexts = vec![r#"{"id": 1, "level": "system"}"#.to_string()];
    for i in 2..50_000 {
        contexts.push(format!(
            r#"{{"id": {i}, "level": "coursecat", "parent": {}}}"#,
            i - 1
        ));
    }
    let text = format!(
        r#"{{"format": "capstan/1", "contexts": [{}]}}"#,
        contexts.join(",")
    );
    let e = Engine::from_json(&text).unwrap();
    assert_eq!(e.context_path(ContextId(49_999)).unwrap().len(), 49_999);
    let cyclic = r#"{"format": "capstan/1", "contexts": [{"id": 1, "level": "system"},
        {"id": 2, "level": "coursecat", "parent": 3}, {"id": 3, "level": "coursecat", "parent": 4},
        {"id": 4, "level": "coursecat", "parent": 2}]}"#;
    let issues = validate(&Site::from_json(cyclic).unwrap());
    assert!(issues.iter().any(|i| i.code == IssueCode::ContextCycle));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, .. ProptestConfig::default() })]

    /// Any text: an engine or an error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = Engine::from_json(&text);
    }

    /// Mutations of real snapshots (bytes cut, replaced, ids shuffled): never a panic, and
    /// whatever loads answers questions without panicking.
    #[test]
    fn mutated_snapshots_never_panic(file in 0usize..64, cut in any::<usize>(), byte in any::<u8>(), pos in any::<usize>()) {
        let files = scenario_files();
        let text = std::fs::read_to_string(&files[file % files.len()]).unwrap();
        let mut bytes = text.into_bytes();
        let p = pos % bytes.len();
        if byte.is_ascii_digit() || byte == b'"' || byte == b',' {
            bytes[p] = byte;
        }
        bytes.truncate(bytes.len() - (cut % 3) * (cut % bytes.len()) / 3);
        if let Ok(t) = String::from_utf8(bytes)
            && let Ok(e) = Engine::from_json(&t) {
                let at = Timestamp::from_unix_seconds(1_772_000_000);
                for u in e.users().iter().take(3) {
                    for c in e.contexts().iter().take(5) {
                        for cap in e.capabilities().iter().take(3) {
                            let _ = e.explain(u.id, &cap.name, c.id, CheckOptions::at(at));
                        }
                        let _ = e.visible(u.id, c.id, at);
                        let _ = e.effective_permissions(u.id, c.id, CheckOptions::at(at));
                    }
                }
            }
    }
}

fn preset_site() -> Engine {
    let text =
        std::fs::read_to_string(crate::conformance::corpus_dir().join("hand/basics.json")).unwrap();
    Engine::from_json(&text).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, .. ProptestConfig::default() })]

    /// Arbitrary text and mutated real presets: an import report or a coded error, never a
    /// panic, and a refused import changes nothing.
    #[test]
    fn preset_import_never_panics(text in ".{0,300}", role in 1u32..12, cut in any::<usize>(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut engine = preset_site();
        let before = engine.to_json();
        if let Err(e) = engine.import_preset(&text, None) {
            prop_assert!(!e.code().is_empty());
            prop_assert_eq!(&before, &engine.to_json());
        }
        let xml = engine.export_preset(RoleId(role)).unwrap();
        let mut bytes = xml.into_bytes();
        let p = pos % bytes.len();
        if byte.is_ascii() {
            bytes[p] = byte;
        }
        bytes.truncate(bytes.len() - cut % (bytes.len() / 4 + 1));
        if let Ok(mutated) = String::from_utf8(bytes) {
            let before = engine.to_json();
            if let Err(e) = engine.import_preset(&mutated, None) {
                prop_assert!(!e.code().is_empty());
                prop_assert_eq!(&before, &engine.to_json());
            }
        }
    }
}
