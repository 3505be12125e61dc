//! `capstan import moodle`: read a real Moodle site from its database or a dump of it.

use crate::{CliError, write_out};
use capstan_moodle::dump::DumpSource;
use capstan_moodle::pg::PgSource;
use capstan_moodle::{DbSource, ImportError, ImportOptions, ImportReport, import};
use std::path::PathBuf;
use std::process::ExitCode;

/// What to import.
#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// A Moodle 3.7–5.1 (or Totara) site: contexts with their names, capabilities, roles with
    /// Moodle's display names, permissions and overrides, assignments, users, settings and
    /// locked contexts. The database is read in one read-only REPEATABLE READ transaction.
    /// The report (what was skipped, what differs from Moodle) goes to stderr.
    Moodle(MoodleArgs),
}

/// Options of `capstan import moodle`.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("from").required(true).args(["db", "dump"]))]
pub struct MoodleArgs {
    /// The database: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    #[arg(long)]
    db: Option<String>,
    /// A `pg_dump` file of the database (plain SQL, optionally gzipped) instead of a database.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Moodle's table prefix (`$CFG->prefix`).
    #[arg(long, default_value = "mdl_")]
    prefix: String,
    /// Where to write the capstan/1 snapshot (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON on stderr.
    #[arg(long)]
    json: bool,
    /// Read a Moodle version this importer does not know instead of refusing it.
    #[arg(long)]
    allow_unknown_version: bool,
}

fn err(e: ImportError) -> CliError {
    CliError::new(e.code.as_str(), e.message)
}

/// Runs `capstan import …`.
pub fn run(command: ImportCommand) -> Result<ExitCode, CliError> {
    let ImportCommand::Moodle(args) = command;
    let mut source: Box<dyn DbSource> = match (&args.db, &args.dump) {
        (Some(url), _) => Box::new(PgSource::connect(url).map_err(err)?),
        (None, Some(path)) => Box::new(DumpSource::open(path).map_err(err)?),
        (None, None) => {
            return Err(CliError::new(
                "bad_arguments",
                "give --db postgres://… or --dump FILE",
            ));
        }
    };
    let options = ImportOptions {
        prefix: args.prefix.clone(),
        allow_unknown_version: args.allow_unknown_version,
    };
    let imported = import(source.as_mut(), &options).map_err(err)?;
    drop(source);
    print_report(&imported.report, args.json);
    if !imported.report.problems.is_empty() {
        return Err(CliError::new(
            "invalid_import",
            format!(
                "the imported site does not validate ({} problem(s)); nothing written",
                imported.report.problems.len()
            ),
        ));
    }
    write_out(args.out.as_deref(), &imported.snapshot().to_json())?;
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &ImportReport, json: bool) {
    if json {
        eprintln!(
            "{}",
            serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        );
        return;
    }
    eprintln!(
        "{} {} (version {})",
        r.product,
        r.release.as_deref().unwrap_or("(release unknown)"),
        r.version.as_deref().unwrap_or("?")
    );
    let levels: Vec<String> = r
        .counts
        .contexts
        .iter()
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    let c = &r.counts;
    eprintln!("contexts: {}", levels.join(", "));
    eprintln!(
        "{} roles, {} capabilities, {} permission rows ({} overrides), {} assignments, {} users \
         ({} deleted, {} suspended), {} locked contexts, {} tenants",
        c.roles,
        c.capabilities,
        c.permissions,
        c.overrides,
        c.assignments,
        c.users,
        c.deleted_users,
        c.suspended_users,
        c.locked_contexts,
        c.tenants
    );
    if !r.skipped.is_empty() {
        eprintln!("skipped {} row(s):", r.skipped.len());
        for s in r.skipped.iter().take(50) {
            eprintln!(
                "  {}[{}] {}: {}",
                s.table,
                s.id.as_deref().unwrap_or("-"),
                serde_json::to_value(s.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                s.message
            );
        }
        if r.skipped.len() > 50 {
            eprintln!("  … and {} more (--json lists all)", r.skipped.len() - 50);
        }
    }
    for n in &r.notes {
        eprintln!("note: {}", n.message);
    }
    for p in &r.problems {
        eprintln!("problem[{}] {}: {}", p.code, p.path, p.message);
    }
}
