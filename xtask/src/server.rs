//! The live server checked from outside: schemathesis (from PyPI) fuzzing every operation of
//! the OpenAPI document, and wrk (from Debian) measuring the check endpoint and `GET /site`.

use crate::{cargo, output, root, run, target_dir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCHEMATHESIS_VERSION: &str = "4.32.5";
const ADMIN_PASSWORD: &str = "xtask-admin-pass";

/// A server binary running on a free port with a fresh database; killed on drop.
pub struct Live {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// One HTTP/1.1 request over a fresh connection: `(status, body)`.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status line")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Builds the server (`profile`: `dev` or `release`) and starts it on `dir/capstan.db`,
/// seeded with `seed` (a snapshot file) or the demo site.
pub fn start(profile: &str, dir: &Path, seed: Option<&Path>) -> Result<Live, String> {
    let mut build = cargo();
    build.args(["build", "-p", "capstan-server"]);
    if profile == "release" {
        build.arg("--release");
    }
    run(
        &format!("cargo build -p capstan-server ({profile})"),
        &mut build,
    )?;
    let bin = root()
        .join("target")
        .join(if profile == "release" {
            "release"
        } else {
            "debug"
        })
        .join("capstan-server");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut cmd = Command::new(bin);
    cmd.args([
        "--db",
        "capstan.db",
        "--create",
        "--listen",
        &addr,
        "--dist",
        "/nonexistent",
    ])
    .current_dir(dir)
    .env("CAPSTAN_ADMIN_PASSWORD", ADMIN_PASSWORD)
    .stdout(Stdio::null());
    if let Some(s) = seed {
        cmd.arg("--seed").arg(s);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let live = Live { child, addr };
    let started = Instant::now();
    while http(&live.addr, "GET", "/api/v1/openapi.json", None, "").is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(live)
}

/// Signs in as the seeded admin (`username`) and returns the bearer token.
pub fn admin_token(live: &Live, username: &str) -> Result<String, String> {
    let body = format!(r#"{{"username": "{username}", "password": "{ADMIN_PASSWORD}"}}"#);
    let (status, text) = http(&live.addr, "POST", "/api/v1/sessions", None, &body)?;
    if status != 201 {
        return Err(format!("sign-in answered {status}: {text}"));
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    v.get("token")
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or_else(|| "no token".into())
}

fn ensure_schemathesis() -> Result<(), String> {
    let have = output(Command::new("st").arg("--version")).unwrap_or_default();
    if !have.contains(SCHEMATHESIS_VERSION) {
        run(
            "pip install schemathesis",
            Command::new("python3").args([
                "-m",
                "pip",
                "install",
                "--quiet",
                &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
            ]),
        )?;
    }
    Ok(())
}

fn fixture() -> PathBuf {
    root().join("crates/server/tests/fixtures/tenants.json")
}

/// schemathesis against the live server, signed in as the site admin: every operation of the
/// document, generated and mutated inputs, stateful sequences; any server error or answer
/// outside the document fails the run.
pub fn schemathesis() -> Result<(), String> {
    ensure_schemathesis()?;
    let dir = target_dir().join("schemathesis");
    let live = start("dev", &dir, Some(&fixture()))?;
    let token = admin_token(&live, "admin")?;
    let max_time = std::env::var("CAPSTAN_SCHEMATHESIS_SECONDS").unwrap_or_else(|_| "90".into());
    run(
        "schemathesis against the live server",
        Command::new("st")
            .args(["run", &format!("http://{}/api/v1/openapi.json", live.addr)])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            // Signing out would end the run's own session; the event stream never ends.
            .args(["--exclude-operation-id-regex", "^(logout|events)$"])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            ])
            .args(["--max-time", &max_time, "--workers", "2", "--warnings", "off"])
            .current_dir(&dir),
    )
}

/// The array `key` of a snapshot (empty when absent).
fn list<'a>(site: &'a serde_json::Value, key: &str) -> &'a [serde_json::Value] {
    site.get(key)
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn ensure_wrk() -> Result<(), String> {
    if output(Command::new("sh").args(["-c", "command -v wrk"])).is_none() {
        run("apt-get update", Command::new("apt-get").arg("update"))?;
        run(
            "apt-get install wrk",
            Command::new("apt-get").args(["install", "-y", "wrk"]),
        )?;
    }
    Ok(())
}

/// A wrk script asking `/api/v1/check` about 512 random (user, capability, context) triples
/// of the site, in turn.
fn check_script(site: &serde_json::Value, token: &str) -> String {
    let ids = |key: &str| -> Vec<u64> {
        site[key]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["id"].as_u64()).collect())
            .unwrap_or_default()
    };
    let (users, contexts) = (ids("users"), ids("contexts"));
    let caps: Vec<String> = site["capabilities"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let bodies: Vec<String> = (0..512)
        .map(|_| {
            format!(
                "'{{\"user\":{},\"capability\":\"{}\",\"context\":{}}}'",
                users.get(next(users.len())).copied().unwrap_or(0),
                caps.get(next(caps.len())).cloned().unwrap_or_default(),
                contexts.get(next(contexts.len())).copied().unwrap_or(1)
            )
        })
        .collect();
    format!(
        "local bodies = {{{}}}\nlocal i = 0\nwrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\nrequest = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n",
        bodies.join(",")
    )
}

/// `cargo xtask bench-server`: wrk against the release server on the large generated site:
/// the check endpoint (requests/s, latency percentiles) and `GET /site` answered 304 by ETag.
pub fn bench() -> Result<(), String> {
    ensure_wrk()?;
    let dir = target_dir().join("bench-server");
    let site_file = target_dir().join("bench-site.json");
    if !site_file.exists() {
        run(
            "capstan generate (the large site)",
            cargo()
                .args([
                    "run",
                    "--release",
                    "-q",
                    "-p",
                    "capstan",
                    "--",
                    "generate",
                    "--out",
                ])
                .arg(&site_file),
        )?;
    }
    let text = std::fs::read_to_string(&site_file).map_err(|e| e.to_string())?;
    let site: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let admin = site
        .pointer("/settings/site_admins/0")
        .and_then(|a| a.as_u64())
        .unwrap_or(0);
    let admin_name = list(&site, "users")
        .iter()
        .find(|u| u.get("id").and_then(|i| i.as_u64()) == Some(admin))
        .and_then(|u| u.get("username").and_then(|n| n.as_str()))
        .unwrap_or("admin")
        .to_string();
    let live = start("release", &dir, Some(&site_file))?;
    let token = admin_token(&live, &admin_name)?;
    let script = dir.join("check.lua");
    std::fs::write(&script, check_script(&site, &token)).map_err(|e| e.to_string())?;
    let duration = std::env::var("CAPSTAN_WRK_SECONDS").unwrap_or_else(|_| "10".into());
    run(
        "wrk: POST /api/v1/check, 32 connections",
        Command::new("wrk")
            .args(["-t1", "-c32", &format!("-d{duration}s"), "--latency", "-s"])
            .arg(&script)
            .arg(format!("http://{}/api/v1/check", live.addr)),
    )?;
    let (_, _) = http(&live.addr, "GET", "/api/v1/site", Some(&token), "")?;
    run(
        "wrk: GET /api/v1/site with a matching If-None-Match (304), 4 connections",
        Command::new("wrk")
            .args(["-t1", "-c4", &format!("-d{duration}s"), "--latency"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", "If-None-Match: \"0\""])
            .arg(format!("http://{}/api/v1/site", live.addr)),
    )?;
    let started = Instant::now();
    let (status, body) = http(&live.addr, "GET", "/api/v1/site", Some(&token), "")?;
    println!(
        "GET /api/v1/site, full snapshot: {status}, {} bytes in {:.1} ms",
        body.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
