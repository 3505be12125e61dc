//! `capstan-server`: the Capstan REST backend with the admin app.
//!
//! ```text
//! capstan-server [--db PATH] [--create] [--listen ADDR] [--dist DIR] [--seed SNAPSHOT.json]
//!                [--seed-moodle postgres://…|DUMP [--moodle-prefix mdl_]]
//!                [--trusted-proxy IP]... [--allow-origin ORIGIN]... [--checkpoint-every N]
//! capstan-server --db PATH --create-api-key NAME
//! ```
//!
//! Defaults: `./capstan.db`, `127.0.0.1:8080`, `dist/`. A missing database is an error
//! unless `--create` is given: then it is created and seeded (with `--seed`, else the demo
//! site) and the first site admin's login is printed once (password from
//! `CAPSTAN_ADMIN_PASSWORD`, else random). `--seed-moodle` seeds a new database with a real
//! Moodle site, read from its PostgreSQL database or a pg_dump file (see `capstan import
//! moodle`); the import's report is printed, and Moodle's first site admin gets the login. TOTP secrets are sealed with the key in
//! `CAPSTAN_SECRET_KEY`, else in `<db>.key` (made on first start). `--trusted-proxy` names a
//! reverse proxy whose `X-Forwarded-For` is believed (repeat it for several). `--allow-origin`
//! lets the pages of another origin (an LMS embedding the npm package) call the API (CORS).
//! `--checkpoint-every N` writes a checkpoint of the site every N revisions (default 1,000; 0:
//! never), so that a start loads it and replays only the batches after it.
//! `--create-api-key` makes a service key, prints its secret once and exits.

use capstan_server::{AppState, OpenOptions, SystemClock, router, sweep_forever};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: capstan-server [--db PATH] [--create] [--listen ADDR] [--dist DIR]
                      [--seed SNAPSHOT.json | --seed-moodle postgres://…|DUMP [--moodle-prefix mdl_]]
                      [--trusted-proxy IP]... [--allow-origin ORIGIN]...
                      [--checkpoint-every N]
       capstan-server [--db PATH] --create-api-key NAME";

struct Args {
    db: PathBuf,
    listen: String,
    dist: PathBuf,
    seed: Option<PathBuf>,
    seed_moodle: Option<String>,
    moodle_prefix: String,
    create_key: Option<String>,
    create: bool,
    trusted_proxies: Vec<std::net::IpAddr>,
    allowed_origins: Vec<String>,
    checkpoint_every: Option<u64>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut a = Args {
        db: PathBuf::from("capstan.db"),
        listen: String::from("127.0.0.1:8080"),
        dist: PathBuf::from("dist"),
        seed: None,
        seed_moodle: None,
        moodle_prefix: String::from("mdl_"),
        create_key: None,
        create: false,
        trusted_proxies: Vec::new(),
        allowed_origins: Vec::new(),
        checkpoint_every: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--create" {
            a.create = true;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        match flag.as_str() {
            "--db" => a.db = PathBuf::from(value),
            "--listen" => a.listen = value,
            "--dist" => a.dist = PathBuf::from(value),
            "--seed" => a.seed = Some(PathBuf::from(value)),
            "--seed-moodle" => a.seed_moodle = Some(value),
            "--moodle-prefix" => a.moodle_prefix = value,
            "--create-api-key" => a.create_key = Some(value),
            "--trusted-proxy" => a.trusted_proxies.push(
                value
                    .parse()
                    .map_err(|_| format!("`{value}` is not an IP address"))?,
            ),
            "--checkpoint-every" => {
                a.checkpoint_every = Some(
                    value
                        .parse()
                        .map_err(|_| format!("`{value}` is not a number of revisions"))?,
                );
            }
            "--allow-origin" => {
                capstan_server::http::check_origin(&value)?;
                a.allowed_origins.push(value);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.seed.is_some() && a.seed_moodle.is_some() {
        return Err("give `--seed` or `--seed-moodle`, not both".into());
    }
    Ok(Some(a))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a Moodle site for the seed: from `postgres://…`, else from a dump file.
fn seed_from_moodle(from: &str, prefix: &str) -> Result<String, String> {
    use capstan_moodle::{DbSource, ImportOptions, dump::DumpSource, import, pg::PgSource};
    let fail = |e: capstan_moodle::ImportError| {
        format!("--seed-moodle: {} ({})", e.message, e.code.as_str())
    };
    let mut source: Box<dyn DbSource> =
        if from.starts_with("postgres://") || from.starts_with("postgresql://") {
            Box::new(PgSource::connect(from).map_err(fail)?)
        } else {
            Box::new(DumpSource::open(from.as_ref()).map_err(fail)?)
        };
    let options = ImportOptions {
        prefix: prefix.to_string(),
        allow_unknown_version: false,
    };
    let imported = import(source.as_mut(), &options).map_err(fail)?;
    let r = &imported.report;
    println!(
        "seeding from {} {}: {} contexts, {} roles, {} assignments, {} users; {} row(s) skipped",
        r.product,
        r.release.as_deref().unwrap_or("(release unknown)"),
        imported.site.contexts.len(),
        r.counts.roles,
        r.counts.assignments,
        r.counts.users,
        r.skipped.len()
    );
    for n in &r.notes {
        println!("note: {}", n.message);
    }
    if let Some(p) = r.problems.first() {
        return Err(format!(
            "--seed-moodle: the imported site does not validate: {} ({})",
            p.message, p.code
        ));
    }
    Ok(imported.snapshot().to_json())
}

fn run(args: Args) -> Result<(), String> {
    let seed = match (&args.seed, &args.seed_moodle) {
        (Some(p), _) => Some(
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        ),
        (None, Some(from)) => {
            if args.db.exists() {
                return Err(format!(
                    "--seed-moodle seeds a new database; {} already exists",
                    args.db.display()
                ));
            }
            Some(seed_from_moodle(from, &args.moodle_prefix)?)
        }
        (None, None) => None,
    };
    let opened = AppState::open(
        &args.db,
        OpenOptions {
            admin_password: std::env::var("CAPSTAN_ADMIN_PASSWORD").ok(),
            seed,
            create: args.create,
            secret_key: None,
            trusted_proxies: args.trusted_proxies,
            allowed_origins: args.allowed_origins,
            checkpoint_every: args.checkpoint_every,
        },
        Arc::new(SystemClock),
    )?;
    let started = opened.state.started();
    println!(
        "site at revision {}: {}, {} batch(es) replayed{}",
        opened.state.site().revision,
        started
            .checkpoint
            .map_or("from the seed".to_string(), |r| format!(
                "from the checkpoint of revision {r}"
            )),
        started.replayed,
        if started.problems.is_empty() {
            String::new()
        } else {
            format!(", {} problem(s) reported above", started.problems.len())
        }
    );
    if let Some((user, password)) = &opened.created_admin {
        println!("created {}", args.db.display());
        println!("admin login (shown once): username `{user}`, password `{password}`");
    }
    if let Some(name) = args.create_key {
        let (key, secret) = opened
            .state
            .create_api_key(&name, None, None)
            .map_err(|e| e.message)?;
        println!("service key {} `{}`: {secret}", key.id, key.name);
        return Ok(());
    }
    let rt =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let state = opened.state;
    let app = router(state.clone(), args.dist);
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("Capstan is serving on http://{addr}/");
        tokio::spawn(sweep_forever(state));
        capstan_server::serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
    })
}
