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
    let child = Command::new(env!("CARGO_BIN_EXE_capstan-server"))
        .args([
            "--db",
            "capstan.db",
            "--create",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--seed",
            "seed.json",
        ])
        .current_dir(dir)
        .env("CAPSTAN_ADMIN_PASSWORD", "crash-pass-1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    while client
        .try_call("GET", "/api/v1/openapi.json", None, None)
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, client)
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    let dir = tmp("crash");
    std::fs::write(dir.join("seed.json"), tenants_fixture()).unwrap();
    let port = free_port();
    let (mut child, client) = spawn(&dir, port);
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
    let (mut child, client) = spawn(&dir, port);
    let token = client.login("admin", "crash-pass-1");
    let changes = client.get("/api/v1/changes?since=0", &token).body;
    let list = changes["changes"].as_array().unwrap();
    for (rev, id) in &acked {
        let c = list
            .iter()
            .find(|c| c["revision"] == *rev)
            .unwrap_or_else(|| panic!("acknowledged revision {rev} lost"));
        assert_eq!(c["ops"][0]["context"]["id"], *id);
    }
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
