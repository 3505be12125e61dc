//! The `capstan` binary, run as a user would.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn capstan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/public")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capstan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn conformance_passes_the_corpus_and_reports_failures() {
    let ok = capstan(&["conformance", corpus().to_str().unwrap()]);
    let out = text(&ok);
    assert!(ok.status.success(), "{out}");
    assert!(out.trim_end().ends_with(" 0 failed"), "{out}");

    // A scenario with a wrong expectation: one failure line, a non-zero exit.
    let basics = std::fs::read_to_string(corpus().join("hand/basics.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&basics).unwrap();
    let q = &mut doc["queries"][0]["expect"];
    *q = serde_json::Value::Bool(!q.as_bool().unwrap());
    let bad = tmp("bad.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let failed = capstan(&["conformance", bad.to_str().unwrap()]);
    let out = text(&failed);
    assert!(!failed.status.success());
    assert!(out.contains("query 0 (has_capability): expected"), "{out}");
    assert!(out.trim_end().ends_with(" 1 failed"), "{out}");
    let missing = capstan(&["conformance", "/nonexistent/dir"]);
    assert!(!missing.status.success());
}

#[test]
fn validate_check_explain_permissions() {
    let invalid = corpus().join("hand/invalid/context_cycle.json");
    let o = capstan(&["validate", invalid.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("context_cycle"), "{}", text(&o));

    let site = corpus().join("hand/basics.json");
    let s = site.to_str().unwrap();
    let o = capstan(&["validate", s, "--json"]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");

    let o = capstan(&[
        "check",
        s,
        "--user",
        "2",
        "--capability",
        "moodle/site:config",
        "--context",
        "1",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "yes");
    let o = capstan(&[
        "check",
        s,
        "--user",
        "2",
        "--capability",
        "moodle/site:config",
        "--context",
        "1",
        "--no-doanything",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["allowed"], false);

    let o = capstan(&[
        "explain",
        s,
        "--user",
        "10",
        "--capability",
        "moodle/course:view",
        "--context",
        "12",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("decided by step"), "{out}");
    assert!(out.contains("=>"), "{out}");

    let o = capstan(&[
        "check",
        s,
        "--user",
        "10",
        "--capability",
        "nope/x:y",
        "--context",
        "12",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("error[unknown_capability]"),
        "{}",
        text(&o)
    );

    let o = capstan(&[
        "permissions",
        s,
        "--user",
        "10",
        "--context",
        "12",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().len() > 5);

    let o = capstan(&[
        "users",
        s,
        "--capability",
        "moodle/course:view",
        "--context",
        "12",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["users"].is_array());
}

#[test]
fn malformed_input_gets_a_code() {
    let bad = tmp("malformed.json");
    std::fs::write(&bad, "{\"format\": \"capstan/1\", ").unwrap();
    let o = capstan(&[
        "check",
        bad.to_str().unwrap(),
        "--user",
        "1",
        "--capability",
        "a/b:c",
        "--context",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("error[malformed_json]"), "{}", text(&o));
}

#[test]
fn presets_generate_and_apply() {
    let site = tmp("gen.json");
    let o = capstan(&[
        "generate",
        "--preset",
        "small",
        "--seed",
        "7",
        "--out",
        site.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let s = site.to_str().unwrap();
    assert!(capstan(&["validate", s]).status.success());

    let xml = tmp("teacher.xml");
    let o = capstan(&[
        "preset",
        "export",
        s,
        "--role",
        "3",
        "--out",
        xml.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let exported = std::fs::read_to_string(&xml).unwrap();
    assert!(exported.contains("<shortname>editingteacher</shortname>"));
    std::fs::write(
        &xml,
        exported.replace(
            "<shortname>editingteacher</shortname>",
            "<shortname>tutor</shortname>",
        ),
    )
    .unwrap();
    let out = tmp("with-tutor.json");
    let o = capstan(&[
        "preset",
        "import",
        s,
        xml.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("imported role `tutor`"), "{}", text(&o));
    assert!(std::fs::read_to_string(&out).unwrap().contains("\"tutor\""));

    let ops = tmp("ops.json");
    std::fs::write(&ops, r#"[{"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": "prohibit"}]"#).unwrap();
    let o = capstan(&[
        "apply",
        s,
        ops.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(&ops, r#"[{"op": "set_permission", "role": 99, "context": 1, "capability": "moodle/course:view", "permission": "allow"}]"#).unwrap();
    let o = capstan(&["apply", s, ops.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("error[unknown_role]"), "{}", text(&o));
}

#[test]
fn bundle_and_contexts() {
    let site = corpus().join("hand/basics.json");
    let s = site.to_str().unwrap();
    let out = tmp("bundle-16.json");
    let o = capstan(&[
        "bundle",
        s,
        "--user",
        "16",
        "--context",
        "12",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(bundle["bundle"]["user"], 16);
    assert_eq!(bundle["users"].as_array().unwrap().len(), 1);
    // The bundle answers its user's question as the site does, and nothing else.
    let b = out.to_str().unwrap();
    let ask = |file: &str, user: &str| {
        text(&capstan(&[
            "check",
            file,
            "--user",
            user,
            "--capability",
            "moodle/course:update",
            "--context",
            "12",
        ]))
    };
    assert_eq!(ask(b, "16"), ask(s, "16"));
    let other = capstan(&[
        "check",
        b,
        "--user",
        "2",
        "--capability",
        "moodle/course:update",
        "--context",
        "12",
    ]);
    assert_eq!(other.status.code(), Some(2));
    assert!(
        text(&other).contains("error[out_of_bundle]"),
        "{}",
        text(&other)
    );
    // contexts: the list and the plan.
    let o = capstan(&[
        "contexts",
        s,
        "--user",
        "16",
        "--capability",
        "moodle/course:view",
        "--level",
        "course",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let list: Vec<u32> = serde_json::from_slice(&o.stdout).unwrap();
    let o = capstan(&[
        "contexts",
        s,
        "--user",
        "16",
        "--capability",
        "moodle/course:view",
        "--plan",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(plan["include_under"].is_array());
    assert!(!list.is_empty() || plan["include"].as_array().unwrap().is_empty());
    let o = capstan(&[
        "contexts",
        s,
        "--user",
        "16",
        "--capability",
        "moodle/course:view",
        "--level",
        "galaxy",
    ]);
    assert!(text(&o).contains("error[bad_argument]"), "{}", text(&o));
}

#[test]
fn a_moodle_site_from_the_template_presets_and_reset() {
    let site = tmp("moodle.json");
    let s = site.to_str().unwrap();
    let o = capstan(&["new", "--template", "moodle-4.5", "--out", s]);
    assert!(o.status.success(), "{}", text(&o));
    let o = capstan(&["validate", s]);
    assert!(o.status.success(), "{}", text(&o));
    let o = capstan(&["new", "--template", "moodle-2.0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("error[unknown_template]"), "{}", text(&o));

    // Export as Moodle writes it, with and without allowview.
    let o = capstan(&["preset", "export", s, "--role", "4"]);
    assert!(o.status.success(), "{}", text(&o));
    let xml = String::from_utf8(o.stdout).unwrap();
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<role><shortname>teacher</shortname><name/>"
    ));
    assert!(xml.contains(
        "<allowswitch><shortname>student</shortname><shortname>guest</shortname></allowswitch>"
    ));
    let o = capstan(&["preset", "export", s, "--role", "4", "--without-allowview"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("allowview"));

    // Moodle's fixture imports; its levels are read by name and number.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/moodle/presets/mixed_levels.xml");
    let out = tmp("moodle-viewer.json");
    let o = capstan(&[
        "preset",
        "import",
        s,
        fixture.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(report["created"], true);
    assert_eq!(report["permissions_set"], 4);
    let snap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let viewer = snap["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["shortname"] == "courseviewer")
        .unwrap();
    assert_eq!(
        viewer["contextlevels"],
        serde_json::json!(["system", "coursecat", "course"])
    );

    // Reset the non-editing teacher's permissions to the student archetype only.
    let reset = tmp("moodle-reset.json");
    let o = capstan(&[
        "preset",
        "reset",
        s,
        "--role",
        "4",
        "--from",
        "archetype:student",
        "--parts",
        "permissions",
        "--out",
        reset.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("parts changed: permissions"),
        "{}",
        text(&o)
    );
    let o = capstan(&["preset", "export", reset.to_str().unwrap(), "--role", "4"]);
    let after = String::from_utf8(o.stdout).unwrap();
    assert!(
        after.contains("<archetype>teacher</archetype>"),
        "the archetype part stays"
    );
    assert!(after.contains("<inherit>moodle/grade:viewall</inherit>"));
    for bad in [
        vec!["--from", "archetype:wizard"],
        vec!["--from", "elsewhere"],
        vec!["--from", "nothing", "--parts", "colour"],
    ] {
        let mut args = vec!["preset", "reset", s, "--role", "4"];
        args.extend(bad);
        let o = capstan(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    }

    // Viewable roles.
    let o = capstan(&[
        "viewable-roles",
        s,
        "--user",
        "2",
        "--context",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["roles"].as_array().unwrap().len(), 10);
    let o = capstan(&["viewable-roles", s, "--user", "2", "--context", "1"]);
    assert!(
        text(&o).contains("4\tteacher\tNon-editing teacher"),
        "{}",
        text(&o)
    );
}

fn moodle_dump() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/moodle/db/moodle-4.5.6-xs.sql.gz")
}

#[test]
fn import_moodle_reads_the_real_dump_and_the_result_validates() {
    let out = tmp("real.json");
    let dump = moodle_dump();
    let o = capstan(&[
        "import",
        "moodle",
        "--dump",
        dump.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stderr);
    assert!(
        report.contains("Moodle 4.5.6 (Build: 20250811)"),
        "{report}"
    );
    assert!(report.contains("block 7, course 4, coursecat 4, module 74, system 1, user 115"));
    assert!(report.contains("12 roles, 742 capabilities, 1790 permission rows (17 overrides), 121 assignments, 115 users (2 deleted, 2 suspended), 2 locked contexts"), "{report}");
    assert!(report.contains("deleted user"), "{report}");
    let o = capstan(&["validate", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    // The prohibit override of Faculty B [203] for course creators, through the CLI.
    let o = capstan(&[
        "check",
        out.to_str().unwrap(),
        "--user",
        "110",
        "--capability",
        "moodle/course:create",
        "--context",
        "203",
        "--json",
    ]);
    let answer: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(answer["allowed"], false, "{}", text(&o));
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(snapshot["name"], "Real");

    let o = capstan(&[
        "import",
        "moodle",
        "--dump",
        dump.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success());
    let report: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(report["counts"]["overrides"], 17);
    let site: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(site["format"], "capstan/1");
}

#[test]
fn import_moodle_errors_have_codes_and_write_nothing() {
    let out = tmp("never.json");
    let dump = moodle_dump();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--dump", dump.to_str().unwrap(), "--prefix", "mdl2_"],
            "error[no_moodle_tables]",
        ),
        (
            &["--dump", dump.to_str().unwrap(), "--prefix", "MDL"],
            "error[bad_prefix]",
        ),
        (&["--dump", "/nonexistent.sql"], "error[malformed_dump]"),
        (&["--db", "mysql://root@localhost/moodle"], "error[bad_url]"),
    ];
    for (args, code) in cases {
        let mut all = vec!["import", "moodle", "--out", out.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = capstan(&all);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(code), "{args:?}: {}", text(&o));
        assert!(!out.exists());
    }
    let o = capstan(&["import", "moodle"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--db"), "{}", text(&o));
}
