//! The test harness: a server on 127.0.0.1 with a manual clock, and a small HTTP client.

use capstan_core::Timestamp;
use capstan_server::{AppState, Clock, OpenOptions, router};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock the test moves by hand (milliseconds since the epoch).
pub struct ManualClock(pub AtomicI64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

/// 2027-01-15T08:00:00Z.
pub const START_MS: i64 = 1_800_000_000_000;

/// A fresh directory for one test's files.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capstan-server-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// An HTTP client for one origin.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(base: String) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A fresh connection per request: the server may close a kept-alive one after an
            // answer given before the body was read (a refusal), and a reused one would fail.
            .max_idle_connections(0)
            .build()
            .into();
        Client { base, agent }
    }

    /// A request with a raw body and extra headers.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let result = match body {
            Some((ctype, text)) => self
                .agent
                .run(b.header("content-type", ctype).body(text).unwrap()),
            None => self.agent.run(b.body(()).unwrap()),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .unwrap_or_default();
        Resp {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            headers,
        }
    }

    /// A JSON request.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.raw(
            method,
            path,
            token,
            body.map(|b| ("application/json", b.to_string())),
            &[],
        )
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None)
    }

    pub fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call("POST", path, Some(token), Some(body))
    }

    /// Signs in; panics unless it works.
    pub fn login(&self, username: &str, password: &str) -> String {
        let r = self.call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": username, "password": password})),
        );
        assert_eq!(r.status, 201, "login {username}: {}", r.text);
        r.body["token"].as_str().unwrap().to_string()
    }
}

/// A server running on a free port of 127.0.0.1 until dropped.
pub struct Server {
    pub client: Client,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub created_admin: Option<(String, String)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Opens (or creates) `dir/capstan.db` and serves it.
    pub fn start_in(
        dir: &std::path::Path,
        options: OpenOptions,
        clock: Arc<ManualClock>,
    ) -> Server {
        let db = dir.join("capstan.db");
        let opened = AppState::open(&db, options, clock.clone()).unwrap();
        let state = opened.state.clone();
        let app = router(opened.state, PathBuf::from("/nonexistent"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                capstan_server::serve(listener, app, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Server {
            client: Client::new(format!("http://{addr}")),
            clock,
            state,
            created_admin: opened.created_admin,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A server on a new store, seeded with `seed` (else the demo site), whose first site
    /// admin's password is `admin-pass-1`.
    pub fn start(name: &str, seed: Option<String>) -> Server {
        let clock = Arc::new(ManualClock(AtomicI64::new(START_MS)));
        Server::start_in(
            &tmp(name),
            OpenOptions {
                admin_password: Some("admin-pass-1".into()),
                seed,
                create: true,
                ..OpenOptions::default()
            },
            clock,
        )
    }

    /// A server on a new store like [`Server::start`], with `tune` changing its options.
    pub fn start_with(
        name: &str,
        seed: Option<String>,
        tune: impl FnOnce(&mut OpenOptions),
    ) -> Server {
        let clock = Arc::new(ManualClock(AtomicI64::new(START_MS)));
        let mut options = OpenOptions {
            admin_password: Some("admin-pass-1".into()),
            seed,
            create: true,
            ..OpenOptions::default()
        };
        tune(&mut options);
        Server::start_in(&tmp(name), options, clock)
    }

    /// Moves the clock.
    pub fn advance(&self, seconds: i64) {
        self.clock.0.fetch_add(seconds * 1000, Ordering::SeqCst);
    }

    /// Now, by the server's clock.
    pub fn now_s(&self) -> i64 {
        self.clock.0.load(Ordering::SeqCst) / 1000
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.state.site().revision
    }
}

impl std::ops::Deref for Server {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The small two-tenant site of the authorisation tests (`tests/fixtures/tenants.json`).
pub fn tenants_fixture() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tenants.json"),
    )
    .unwrap()
}

/// Sets a user's password as the admin.
pub fn set_password(s: &Server, admin: &str, user: u32, password: &str) {
    let r = s.call(
        "PUT",
        &format!("/api/v1/users/{user}/password"),
        Some(admin),
        Some(json!({"password": password})),
    );
    assert_eq!(r.status, 204, "{}", r.text);
}

impl Client {
    /// Waits until the server binary `child` answers (30 s at most; fails at once if it exits).
    pub fn wait_until_up(&self, child: &mut std::process::Child) {
        let started = std::time::Instant::now();
        while self
            .try_call("GET", "/api/v1/openapi.json", None, None)
            .is_err()
        {
            if started.elapsed() > std::time::Duration::from_secs(30)
                || child.try_wait().ok().flatten().is_some()
            {
                let _ = child.kill();
                panic!("the server did not start");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// A JSON request that may fail to connect (the server may be down).
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Resp, String> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let result = match body {
            Some(v) => self.agent.run(
                b.header("content-type", "application/json")
                    .body(v.to_string())
                    .map_err(|e| e.to_string())?,
            ),
            None => self.agent.run(b.body(()).map_err(|e| e.to_string())?),
        };
        let mut resp = result.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok(Resp {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            headers: Vec::new(),
        })
    }
}
