//! `capstan-server --db PATH --listen ADDR --dist DIR`: the Capstan REST backend with the
//! admin app. Defaults: `./capstan.db`, `127.0.0.1:8080`, `dist/`. On a first start the
//! database is created and seeded with the demo site, and the admin login is printed once
//! (password from `CAPSTAN_ADMIN_PASSWORD`, else random).

use capstan_server::{AppState, SystemClock, router};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: capstan-server [--db PATH] [--listen ADDR] [--dist DIR]";

fn main() -> ExitCode {
    let mut db = PathBuf::from("capstan.db");
    let mut listen = String::from("127.0.0.1:8080");
    let mut dist = PathBuf::from("dist");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = match a.as_str() {
            "--db" | "--listen" | "--dist" => args.next(),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown argument `{other}`\n{USAGE}");
                return ExitCode::FAILURE;
            }
        };
        let Some(v) = value else {
            eprintln!("error: `{a}` needs a value\n{USAGE}");
            return ExitCode::FAILURE;
        };
        match a.as_str() {
            "--db" => db = PathBuf::from(v),
            "--listen" => listen = v,
            _ => dist = PathBuf::from(v),
        }
    }
    let opened = match AppState::open(
        &db,
        std::env::var("CAPSTAN_ADMIN_PASSWORD").ok(),
        Arc::new(SystemClock),
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some((user, password)) = &opened.created_admin {
        println!("created {} with the demo site", db.display());
        println!("admin login (shown once): username `{user}`, password `{password}`");
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = router(opened.state, dist);
    let result: Result<(), String> = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        println!("Capstan is serving on http://{listen}/");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
