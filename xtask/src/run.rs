//! `cargo xtask run`: builds the admin app (release, into `dist/`) and the server, then starts
//! the server on http://127.0.0.1:8080 with `./capstan.db` (created and seeded with the demo
//! site on first start; the admin login is printed once).

use crate::{cargo, run, target_dir};

pub fn start() -> Result<(), String> {
    crate::web::build()?;
    run(
        "cargo build --release -p capstan-server",
        cargo().args(["build", "--release", "-p", "capstan-server"]),
    )?;
    let bin = target_dir().join("release/capstan-server");
    run(
        "capstan-server on http://127.0.0.1:8080 (Ctrl+C stops it)",
        std::process::Command::new(bin).args([
            "--db",
            "capstan.db",
            "--listen",
            "127.0.0.1:8080",
            "--dist",
            "dist",
        ]),
    )
}
