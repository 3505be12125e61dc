//! The admin app (web/): Trunk builds it from `index.html` + `Trunk.toml` into `dist/`, with the
//! installed `wasm-bindgen` and npm's `wasm-opt` (Trunk never downloads tools: the versions in
//! Trunk.toml equal the installed ones, and `--offline` makes a mismatch an error, not a
//! download). The end-to-end tests run it in Debian's headless Chromium.

use crate::wasm::{ensure_chromium, ensure_npm, ensure_wasm_bindgen, ensure_wasm_target};
use crate::{cargo, output, root, run};
use std::path::PathBuf;
use std::process::Command;

const TRUNK_VERSION: &str = "0.21.14";

fn ensure_trunk() -> Result<(), String> {
    let version = output(Command::new("trunk").arg("--version")).unwrap_or_default();
    if !version.contains(TRUNK_VERSION) {
        run(
            "cargo install trunk",
            cargo().args(["install", "--locked", "trunk", "--version", TRUNK_VERSION]),
        )?;
    }
    Ok(())
}

fn e2e_dir() -> PathBuf {
    root().join("tests/e2e")
}

fn ensure_e2e_npm() -> Result<(), String> {
    crate::wasm::ensure_npm_in(&e2e_dir())
}

/// PATH with npm's binaryen (wasm-opt 132) first.
fn path_with_wasm_opt() -> String {
    let bin = root().join("crates/wasm/js/node_modules/.bin");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Builds the app in release into `dist/`; returns the size of the gzipped `.wasm`.
pub fn build() -> Result<PathBuf, String> {
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    ensure_npm()?;
    ensure_trunk()?;
    run("cargo fetch", cargo().args(["fetch"]))?;
    run(
        "trunk build --release (admin app into dist/)",
        Command::new("trunk")
            .args(["build", "--release", "--offline"])
            .env("PATH", path_with_wasm_opt())
            .env_remove("NO_COLOR")
            .current_dir(root()),
    )?;
    let dist = root().join("dist");
    let wasm = std::fs::read_dir(&dist)
        .map_err(|e| format!("no dist/: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .ok_or("trunk wrote no .wasm")?;
    let raw = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    let gz = output(
        Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -9 -c '{}' | wc -c", wasm.display())),
    )
    .unwrap_or_default();
    println!(
        "admin app: {} ({} bytes, {} bytes gzipped)",
        wasm.display(),
        raw,
        gz.trim()
    );
    Ok(dist)
}

/// Builds the app and the server, then runs the end-to-end suites in headless Chromium: the
/// app alone from static files (offline first), and the app served by the real server.
pub fn test() -> Result<(), String> {
    build()?;
    run(
        "cargo build -p capstan-server -p capstan",
        cargo().args(["build", "-p", "capstan-server", "-p", "capstan"]),
    )?;
    ensure_chromium()?;
    ensure_e2e_npm()?;
    run(
        "admin app end-to-end tests in headless Chromium",
        Command::new("node")
            .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
            .arg(e2e_dir().join("app.test.mjs"))
            .arg(e2e_dir().join("server.test.mjs"))
            .arg(e2e_dir().join("live.test.mjs"))
            .arg(e2e_dir().join("large.test.mjs"))
            .arg(e2e_dir().join("moodle.test.mjs"))
            .current_dir(e2e_dir()),
    )
}
