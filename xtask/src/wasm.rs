//! `cargo xtask wasm`: the npm packages of capstan-wasm, and their tests.
//!
//! Tools are installed only when missing or at the wrong version: the wasm32 target (rustup),
//! `wasm-bindgen-cli` (cargo install, pinned to the `wasm-bindgen` crate), `wasm-opt` from npm's
//! `binaryen@132` (Debian's binaryen 108 breaks modules), Debian's `chromium` and
//! `chromium-driver` for the browser tests.

use crate::{cargo, output, root, run, shared};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

fn js_dir() -> PathBuf {
    root().join("crates/wasm/js")
}

pub fn ensure_wasm_target() -> Result<(), String> {
    let have =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !have.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        run(
            "rustup target add wasm32-unknown-unknown",
            Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
        )?;
    }
    Ok(())
}

pub fn ensure_wasm_bindgen() -> Result<(), String> {
    let version = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if !version.contains(WASM_BINDGEN_VERSION) {
        // Without --locked: the CLI's lockfile names a crate version the registry lacks.
        run(
            "cargo install wasm-bindgen-cli",
            cargo().args([
                "install",
                "wasm-bindgen-cli",
                "--version",
                WASM_BINDGEN_VERSION,
            ]),
        )?;
    }
    Ok(())
}

/// npm packages of the JS tests and benchmarks (TypeScript, binaryen, cedar-wasm, CASL).
pub fn ensure_npm() -> Result<(), String> {
    ensure_npm_in(&js_dir())
}

/// `npm ci` in `dir` unless its `node_modules` is as new as its `package-lock.json`.
pub fn ensure_npm_in(dir: &Path) -> Result<(), String> {
    let stamp = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (std::fs::metadata(&stamp), std::fs::metadata(&lock)) {
        (Ok(s), Ok(l)) => match (s.modified(), l.modified()) {
            (Ok(s), Ok(l)) => s >= l,
            _ => false,
        },
        _ => false,
    };
    if !fresh {
        run(
            &format!("npm ci ({})", dir.display()),
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(dir),
        )?;
    }
    Ok(())
}

pub fn ensure_chromium() -> Result<(), String> {
    ensure_apt(
        &["/usr/bin/chromium", "/usr/bin/chromedriver"],
        &["chromium", "chromium-driver"],
    )
}

/// Installs Debian packages with apt-get unless every one of `files` is already there.
pub fn ensure_apt(files: &[&str], packages: &[&str]) -> Result<(), String> {
    if files.iter().all(|f| Path::new(f).exists()) {
        return Ok(());
    }
    apt_install(packages)
}

/// `apt-get update` and `apt-get install -y` of the packages.
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    run("apt-get update", Command::new("apt-get").arg("update"))?;
    run(
        &format!("apt-get install {}", packages.join(" ")),
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y"])
            .args(packages),
    )
}

fn wasm_opt() -> PathBuf {
    js_dir().join("node_modules/.bin/wasm-opt")
}

fn gzip_len(path: &Path) -> Option<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .ok()?;
    Some(out.stdout.len() as u64)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// Builds `target/npm/web` and `target/npm/node`; returns the path of the web package's wasm.
pub fn build() -> Result<PathBuf, String> {
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    ensure_npm()?;
    run(
        "cargo build capstan-wasm (wasm32, profile wasm)",
        cargo().args([
            "build",
            "--profile",
            "wasm",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "capstan-wasm",
        ]),
    )?;
    let input = crate::target_dir().join("wasm32-unknown-unknown/wasm/capstan_wasm.wasm");
    let version = env!("CARGO_PKG_VERSION");
    let pkg_src = js_dir().join("pkg");
    let readme = root().join("crates/wasm/README.md");
    let mut web_wasm = PathBuf::new();
    for (target, dir) in [("web", "web"), ("nodejs", "node")] {
        let out = root().join("target/npm").join(dir);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        run(
            &format!("wasm-bindgen --target {target}"),
            Command::new("wasm-bindgen")
                .args([
                    "--target",
                    target,
                    "--out-name",
                    "capstan_wasm",
                    "--out-dir",
                ])
                .arg(&out)
                .arg(&input),
        )?;
        let wasm = out.join("capstan_wasm_bg.wasm");
        run(
            &format!("wasm-opt -Oz ({dir})"),
            Command::new(wasm_opt())
                .args([
                    "-Oz",
                    "--enable-bulk-memory",
                    "--enable-nontrapping-float-to-int",
                    "--enable-sign-ext",
                    "--enable-mutable-globals",
                    "--enable-reference-types",
                    "--enable-multivalue",
                    "-o",
                ])
                .arg(&wasm)
                .arg(&wasm),
        )?;
        let dts = std::fs::read_to_string(pkg_src.join("index.d.ts"))
            .map_err(|e| format!("cannot read index.d.ts: {e}"))?;
        let extras = std::fs::read_to_string(pkg_src.join("extras.js"))
            .map_err(|e| format!("cannot read extras.js: {e}"))?;
        let files = r#"["index.js", "index.d.ts", "extras.js", "extras.cjs", "capstan_wasm.js", "capstan_wasm.d.ts", "capstan_wasm_bg.wasm", "capstan_wasm_bg.wasm.d.ts", "README.md"]"#;
        if dir == "web" {
            copy(&pkg_src.join("index.web.js"), &out.join("index.js"))?;
            write(&out.join("extras.js"), &extras)?;
            write(
                &out.join("index.d.ts"),
                &format!(
                    "{dts}\nexport {{ default as init, initSync }} from \"./capstan_wasm.js\";\n"
                ),
            )?;
            write(
                &out.join("package.json"),
                &format!(
                    r#"{{
  "name": "capstan",
  "version": "{version}",
  "description": "Capstan permission engine (Moodle/Totara roles, tenants, support access) for browsers and bundlers",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "index.js",
  "types": "index.d.ts",
  "exports": {{ ".": {{ "types": "./index.d.ts", "default": "./index.js" }}, "./capstan_wasm_bg.wasm": "./capstan_wasm_bg.wasm" }},
  "sideEffects": ["./capstan_wasm.js", "./index.js"],
  "files": {files}
}}
"#
                ),
            )?;
            web_wasm = wasm.clone();
        } else {
            copy(&pkg_src.join("index.node.cjs"), &out.join("index.js"))?;
            // The same module as CommonJS: one source, two module systems.
            let cjs = format!(
                "\"use strict\";\n{}\nmodule.exports = {{ install }};\n",
                extras.replace("export function install", "function install")
            );
            write(&out.join("extras.cjs"), &cjs)?;
            write(&out.join("index.d.ts"), &dts)?;
            write(
                &out.join("package.json"),
                &format!(
                    r#"{{
  "name": "capstan",
  "version": "{version}",
  "description": "Capstan permission engine (Moodle/Totara roles, tenants, support access) for Node",
  "license": "MIT OR Apache-2.0",
  "main": "index.js",
  "types": "index.d.ts",
  "engines": {{ "node": ">=18" }},
  "files": {files}
}}
"#
                ),
            )?;
        }
        copy(&readme, &out.join("README.md"))?;
        let raw = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
        println!(
            "    {dir}: capstan_wasm_bg.wasm {raw} bytes, {} bytes gzipped (gzip -9)",
            gzip_len(&wasm).unwrap_or(0)
        );
    }
    Ok(web_wasm)
}

/// Everything about the WASM engine: packages, wasm-bindgen tests in Node and headless
/// Chromium, the conformance corpus through the JS API, the TypeScript check.
pub fn test() -> Result<(), String> {
    build()?;
    ensure_chromium()?;
    let corpus = shared().join("conformance/public");
    run(
        "node tests (conformance corpus through the JS API, errors, fast path)",
        Command::new("node")
            .args(["--test", "--test-reporter=spec"])
            .arg(js_dir().join("test"))
            .env("CAPSTAN_CORPUS", &corpus),
    )?;
    run(
        "tsc --strict on the package types and a typed example",
        Command::new(js_dir().join("node_modules/.bin/tsc"))
            .args(["-p"])
            .arg(js_dir().join("tsconfig.json")),
    )?;
    run(
        "wasm-bindgen tests in Node",
        cargo().args([
            "test",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "capstan-wasm",
            "--test",
            "node",
        ]),
    )?;
    let webdriver = root().join("crates/wasm/tests/webdriver.json");
    run(
        "wasm-bindgen tests in headless Chromium",
        cargo()
            .args([
                "test",
                "--target",
                "wasm32-unknown-unknown",
                "-p",
                "capstan-wasm",
                "--test",
                "browser",
            ])
            .env("CHROMEDRIVER", "/usr/bin/chromedriver")
            .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver),
    )?;
    Ok(())
}
