//! Crash safety: `kill -9` the real server binary during a stream of acknowledged writes,
//! restart it: every acknowledged write is there, and the audit chain verifies.

use crate::common::{Client, tenants_fixture, tmp};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &std::path::Path, port: u16) -> (Child, Client) {
    spawn_with(dir, port, &[], Stdio::null())
}

fn spawn_with(dir: &std::path::Path, port: u16, extra: &[&str], stdout: Stdio) -> (Child, Client) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capstan-server"))
        .args([
            "--db",
            "capstan.db",
            "--create",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--seed",
            "seed.json",
        ])
        .args(extra)
        .current_dir(dir)
        .env("CAPSTAN_ADMIN_PASSWORD", "crash-pass-1")
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    client.wait_until_up(&mut child);
    (child, client)
}

/// Every acknowledged `(revision, context id)` is in the history, as its first edit.
fn assert_acknowledged_kept<T: Copy + Into<u64>>(client: &Client, token: &str, acked: &[(u64, T)]) {
    let changes = client.get("/api/v1/changes?since=0", token).body;
    let list = changes["changes"].as_array().unwrap();
    for (rev, id) in acked {
        let c = list
            .iter()
            .find(|c| c["revision"] == *rev)
            .unwrap_or_else(|| panic!("acknowledged revision {rev} lost"));
        assert_eq!(c["ops"][0]["context"]["id"], (*id).into());
    }
}

#[test]
fn kill_9_while_a_checkpoint_is_written_loses_no_acknowledged_write() {
    use capstan_core::generate::{GenerateOptions, generate};
    let dir = tmp("crash-checkpoint");
    // Big enough that writing a checkpoint takes a while in a debug build.
    let mut o = GenerateOptions::large();
    o.contexts = 40_000;
    o.users = 2_000;
    o.assignments = 8_000;
    std::fs::write(dir.join("seed.json"), generate(&o).to_json()).unwrap();
    let category = {
        let site: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("seed.json")).unwrap()).unwrap();
        site["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["level"] == "coursecat")
            .unwrap()["id"]
            .as_u64()
            .unwrap()
    };
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let mut id = 9_000_000u64;
    let mut hit = 0;
    for round in 0..8 {
        let log = dir.join(format!("round{round}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let (mut child, client) = spawn_with(
            &dir,
            free_port(),
            &["--checkpoint-every", "3"],
            Stdio::from(out),
        );
        let token = client.login("admin", "crash-pass-1");
        let mut base = client.get("/api/v1/changes?since=0", &token).body["revision"]
            .as_u64()
            .unwrap();
        // Write until a checkpoint is being written, then kill the server in the middle of it.
        let started = Instant::now();
        loop {
            let body = json!({"base_revision": base, "ops": [{"op": "put_context",
                "context": {"id": id, "level": "course", "parent": category}}]});
            let r = client.call("POST", "/api/v1/changes", Some(&token), Some(body));
            assert_eq!(r.status, 200, "{}", r.text);
            base = r.body["revision"].as_u64().unwrap();
            acked.push((base, id));
            id += 1;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let writing = text.matches("checkpoint: writing").count();
            let written = text.matches("checkpoint: revision").count();
            if writing > written {
                // A few milliseconds into the write.
                std::thread::sleep(Duration::from_millis(5 + 20 * round));
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no checkpoint started"
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.matches("checkpoint: writing").count()
            > text.matches("checkpoint: revision").count()
        {
            hit += 1;
        }
        if hit >= 3 {
            break;
        }
    }
    assert!(hit >= 1, "never killed during a checkpoint");
    let log = dir.join("last.log");
    let (mut child, client) = spawn_with(
        &dir,
        free_port(),
        &["--checkpoint-every", "3"],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let token = client.login("admin", "crash-pass-1");
    assert_acknowledged_kept(&client, &token, &acked);
    let site = client.get("/api/v1/site", &token).body;
    let ids: std::collections::HashSet<u64> = site["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_u64())
        .collect();
    for (rev, id) in &acked {
        assert!(ids.contains(id), "the context of revision {rev} is missing");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The last start came from a checkpoint and replayed only what followed it.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("from the checkpoint of revision"), "{text}");
    println!(
        "{hit} kills during a checkpoint write; {} acknowledged writes survived",
        acked.len()
    );
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    let dir = tmp("crash");
    std::fs::write(dir.join("seed.json"), tenants_fixture()).unwrap();
    let (mut child, client) = spawn(&dir, free_port());
    let token = client.login("admin", "crash-pass-1");
    let acked: Arc<Mutex<Vec<(u64, u32)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (c, t, acked, stop) = (client.clone(), token.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut base = 0u64;
            let mut id = 3000u32;
            while !stop.load(Ordering::SeqCst) {
                let body = json!({"base_revision": base, "ops": [{"op": "put_context",
                    "context": {"id": id, "level": "course", "parent": 6}}]});
                match c.try_call("POST", "/api/v1/changes", Some(&t), Some(body)) {
                    Ok(r) if r.status == 200 => {
                        base = r.body["revision"].as_u64().unwrap();
                        acked.lock().unwrap().push((base, id));
                        id += 1;
                    }
                    Ok(r) => panic!("{}: {}", r.status, r.text),
                    Err(_) => break,
                }
            }
        })
    };
    let started = Instant::now();
    while acked.lock().unwrap().len() < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writes are too slow"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    // A fresh port: another test may have taken the old one meanwhile.
    let (mut child, client) = spawn(&dir, free_port());
    let token = client.login("admin", "crash-pass-1");
    assert_acknowledged_kept(&client, &token, &acked);
    let site = client.get("/api/v1/site", &token).body;
    for (_, id) in &acked {
        assert!(
            site["contexts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == *id)
        );
    }
    let verify = client.get("/api/v1/audit/verify", &token).body;
    assert_eq!(verify["ok"], true, "{verify}");
    child.kill().unwrap();
    child.wait().unwrap();
    println!("{} acknowledged writes survived kill -9", acked.len());
}
