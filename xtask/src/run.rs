//! `cargo xtask run`: builds the admin app (release, into `dist/`) and the server, then starts
//! the server on http://127.0.0.1:8080 with `./capstan.db` (created with `--create` and seeded
//! with the demo site on first start, when the file is not there; the admin login is printed
//! once).

use crate::{cargo, run, target_dir};

pub fn start() -> Result<(), String> {
    crate::web::build()?;
    run(
        "cargo build --release -p capstan-server",
        cargo().args(["build", "--release", "-p", "capstan-server"]),
    )?;
    let bin = target_dir().join("release/capstan-server");
    let mut cmd = std::process::Command::new(bin);
    cmd.args([
        "--db",
        "capstan.db",
        "--listen",
        "127.0.0.1:8080",
        "--dist",
        "dist",
    ]);
    // The server never makes a new site where a database went missing unless told to: this
    // command tells it on the first start only.
    if !std::path::Path::new("capstan.db").exists() {
        println!("first start: creating ./capstan.db with the demo site");
        cmd.arg("--create");
    }
    run(
        "capstan-server on http://127.0.0.1:8080 (Ctrl+C stops it)",
        &mut cmd,
    )
}
