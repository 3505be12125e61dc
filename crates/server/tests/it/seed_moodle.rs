//! `capstan-server --create --seed-moodle DUMP`: the real binary seeded with the real Moodle
//! 4.5.6 site, asked over HTTP.

use crate::common::Client;
use serde_json::json;
use std::process::{Command, Stdio};

fn dump() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/moodle/db/moodle-4.5.6-xs.sql.gz")
}

#[test]
fn a_server_seeded_from_a_real_moodle_site_answers_as_moodle_does() {
    let dir = crate::common::tmp("seed-moodle");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_capstan-server"))
        .args(["--db", "capstan.db", "--create", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--seed-moodle")
        .arg(dump())
        .current_dir(&dir)
        .env("CAPSTAN_ADMIN_PASSWORD", "Admin-pass-1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    client.wait_until_up(&mut child);
    // Moodle's site admin (user 2, `admin`) got the login.
    let t = client.login("admin", "Admin-pass-1");
    let site = client.get("/api/v1/site", &t);
    assert_eq!(site.status, 200);
    assert_eq!(site.body["contexts"].as_array().unwrap().len(), 205);
    assert_eq!(site.body["roles"].as_array().unwrap().len(), 12);
    let course = site.body["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == 24)
        .unwrap();
    assert_eq!(course["name"], "Test course: S");
    // The same site validates through REST.
    let r = client.post("/api/v1/validate", &t, site.body.clone());
    assert_eq!(r.body["valid"], true, "{}", r.text);
    // Hand-derived answers: the prohibit on Faculty B for course creators, and the student
    // prevent on cm 11 [25].
    let check = |user: u32, cap: &str, ctx: u32| {
        let r = client.post(
            "/api/v1/check",
            &t,
            json!({"user": user, "capability": cap, "context": ctx}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["allowed"].as_bool().unwrap()
    };
    assert!(!check(110, "moodle/course:create", 203));
    assert!(check(110, "moodle/course:create", 201));
    assert!(!check(113, "mod/assign:submit", 25));
    assert!(check(113, "mod/assign:submit", 26));
    let _ = child.kill();
    let _ = child.wait();

    // A second seed onto the existing database is refused, not ignored.
    let out = Command::new(env!("CARGO_BIN_EXE_capstan-server"))
        .args(["--db", "capstan.db", "--create", "--seed-moodle"])
        .arg(dump())
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // A wrong prefix: a clear error with its code, and no database made.
    let out = Command::new(env!("CARGO_BIN_EXE_capstan-server"))
        .args([
            "--db",
            "other.db",
            "--create",
            "--moodle-prefix",
            "x_",
            "--seed-moodle",
        ])
        .arg(dump())
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no_moodle_tables"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("other.db").exists());
}
