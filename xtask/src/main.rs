//! `cargo xtask`: project automation.
//!
//! - `cargo xtask test`: install what the checks need, then run every check: rustfmt, clippy
//!   with `-D warnings`, every test, the conformance corpus through the CLI, schemathesis
//!   against the live server, the npm packages, the admin app end to end and a compile of
//!   the benchmarks. This is what CI runs (`.ci/run`).
//! - `cargo xtask conformance`: only the conformance corpus.
//! - `cargo xtask wasm`: the npm packages; `cargo xtask web`: the admin app into `dist/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod run;
mod server;
mod wasm;
mod web;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("conformance") => conformance(),
        Some("wasm") => wasm::build().map(|_| ()),
        Some("web") => web::build().map(|_| ()),
        Some("run") => run::start(),
        Some("bench-server") => server::bench(),
        Some("help") | Some("--help") | Some("-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>
  test         install what is needed, then fmt check, clippy -D warnings, all tests,
               the conformance corpus, schemathesis against the server, the npm packages,
               the admin app end to end and a compile of the benchmarks
  conformance  run ../shared/conformance through the capstan CLI
  wasm         build the npm packages into target/npm/web and target/npm/node
  web          build the admin app in release into dist/ (Trunk)
  run          build the app and the server, serve them on http://127.0.0.1:8080 (./capstan.db)
  bench-server wrk against the release server on the large generated site";

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where cargo puts what it builds (`CARGO_TARGET_DIR`, else `target/` of the checkout).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The shared corpus sits beside the checkout (`../shared`); `CAPSTAN_SHARED` overrides it.
pub(crate) fn shared() -> PathBuf {
    std::env::var_os("CAPSTAN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"))
}

pub(crate) fn run(step: &str, cmd: &mut Command) -> Result<(), String> {
    let started = Instant::now();
    println!("==> {step}");
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(root());
    }
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    println!("<== {step}: {:.1}s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub(crate) fn output(cmd: &mut Command) -> Option<String> {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// rustfmt and clippy come with the toolchain as components; add them when missing.
fn ensure_components() -> Result<(), String> {
    let have = output(Command::new("rustup").args(["component", "list", "--installed"]))
        .unwrap_or_default();
    for comp in ["rustfmt", "clippy"] {
        if !have.lines().any(|l| l.starts_with(comp)) {
            run(
                &format!("rustup component add {comp}"),
                Command::new("rustup").args(["component", "add", comp]),
            )?;
        }
    }
    Ok(())
}

/// Debian's PostgreSQL server (initdb, pg_ctl) and psql, unless some version is installed.
fn ensure_postgres() -> Result<(), String> {
    let server = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .any(|e| e.path().join("bin/initdb").is_file())
        })
        .unwrap_or(false);
    if server && Path::new("/usr/bin/psql").exists() {
        return Ok(());
    }
    wasm::apt_install(&["postgresql"])
}

/// The real Moodle 4.5.6 dump imported by the CLI into `target/moodle/real.json`, which the
/// JS tests open (the import on the third surface).
fn import_moodle_dump() -> Result<(), String> {
    let dump = shared().join("moodle/db/moodle-4.5.6-xs.sql.gz");
    let out = root().join("target/moodle");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    run(
        "capstan import moodle of the real 4.5.6 dump",
        release_cli()
            .args(["import", "moodle", "--dump"])
            .arg(&dump)
            .arg("--out")
            .arg(out.join("real.json")),
    )
}

/// `cargo run --release -p capstan --` (the CLI, built once for the conformance run and the
/// import).
fn release_cli() -> Command {
    let mut c = cargo();
    c.args(["run", "--quiet", "--release", "-p", "capstan", "--"]);
    c
}

fn conformance() -> Result<(), String> {
    let corpus = shared().join("conformance/public");
    if !corpus.is_dir() {
        return Err(format!(
            "conformance corpus not found at {} (set CAPSTAN_SHARED)",
            corpus.display()
        ));
    }
    run(
        "conformance corpus through the CLI",
        release_cli().arg("conformance").arg(&corpus),
    )
}

fn test() -> Result<(), String> {
    let started = Instant::now();
    ensure_components()?;
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--check"]),
    )?;
    run(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // The preset tests validate exports against Moodle's schemas with libxml's xmllint.
    wasm::ensure_apt(&["/usr/bin/xmllint"], &["libxml2-utils"])?;
    // The Moodle importer's tests start their own PostgreSQL cluster.
    ensure_postgres()?;
    run("cargo test", cargo().args(["test", "--workspace"]))?;
    conformance()?;
    import_moodle_dump()?;
    server::schemathesis()?;
    wasm::test()?;
    web::test()?;
    run(
        "benchmarks compile",
        cargo().args(["bench", "-p", "capstan-core", "--no-run"]),
    )?;
    println!(
        "xtask test: every check passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
