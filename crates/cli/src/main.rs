//! `capstan`: the command line over capstan-core.

use capstan_core::scenario::run_scenario;
use capstan_core::{CheckOptions, ContextId, EditOp, Engine, RoleId, Timestamp, UserId, validate};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

mod generate_cmd;
mod import_cmd;
mod report;

/// Capstan: check, explain and validate Moodle/Totara-style permissions.
#[derive(Parser)]
#[command(name = "capstan", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run conformance scenario files or folders; prints one line per failing query and
    /// `N passed, N failed`; exits non-zero on any failure.
    Conformance {
        /// Scenario files or folders (searched recursively for *.json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The instant used for queries that give no `at` (default: now).
        #[arg(long)]
        now: Option<String>,
        /// Print a JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Validate a snapshot: every problem with its code and where it is.
    Validate {
        /// The snapshot (capstan/1 JSON).
        snapshot: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Answer has_capability.
    Check(CheckArgs),
    /// Explain a has_capability decision: the deciding rule, roles and rows.
    Explain(CheckArgs),
    /// Every capability relevant at a context with the user's answer (Check permissions).
    Permissions {
        /// The snapshot.
        snapshot: PathBuf,
        /// The user id (0 = not logged in).
        #[arg(long)]
        user: u32,
        /// The context id.
        #[arg(long)]
        context: u32,
        /// The instant (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The users who hold a capability in a context.
    Users {
        /// The snapshot.
        snapshot: PathBuf,
        /// The capability.
        #[arg(long)]
        capability: String,
        /// The context id.
        #[arg(long)]
        context: u32,
        /// The instant (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every course and program with its visibility for a user, and why.
    Visible {
        /// The snapshot.
        snapshot: PathBuf,
        /// The user id (0 = not logged in).
        #[arg(long)]
        user: u32,
        /// The instant (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cut a user's bundle: the part of the site that answers that user's own questions at
    /// the given contexts (and their ancestors and descendants), with no other user's record.
    Bundle {
        /// The snapshot.
        snapshot: PathBuf,
        /// The user id (0 = not logged in).
        #[arg(long)]
        user: u32,
        /// A root context of the bundle; repeat for several; none: the whole tree.
        #[arg(long = "context")]
        contexts: Vec<u32>,
        /// Where to write it (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The contexts of a level where a user has a capability (Moodle's
    /// `get_user_capability_course` for courses).
    Contexts {
        /// The snapshot.
        snapshot: PathBuf,
        /// The user id (0 = not logged in).
        #[arg(long)]
        user: u32,
        /// The capability.
        #[arg(long)]
        capability: String,
        /// The level (`course`, `module`, `coursecat`, `program`, …).
        #[arg(long, default_value = "course")]
        level: String,
        /// The answer as a plan of context paths for SQL (`path LIKE '/1/40/%'`).
        #[arg(long)]
        plan: bool,
        /// Do not let site admins through.
        #[arg(long)]
        no_doanything: bool,
        /// The instant (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply a JSON array of edit operations and write the resulting snapshot.
    Apply {
        /// The snapshot.
        snapshot: PathBuf,
        /// A JSON file holding an array of operations (`{"op": "set_permission", ...}`).
        ops: PathBuf,
        /// Where to write the result (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Moodle role preset XML.
    Preset {
        #[command(subcommand)]
        command: PresetCommand,
    },
    /// Write a new site from a template: `moodle-4.5` is a fresh Moodle 4.5.6 install (its 741
    /// capabilities, the eight standard roles with their real defaults, Totara's two tenant
    /// roles, Moodle's default settings).
    New {
        /// The template.
        #[arg(long, default_value = "moodle-4.5")]
        template: String,
        /// Where to write it (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The roles a user may see in a context (Moodle's `get_viewable_roles`).
    ViewableRoles {
        /// The snapshot.
        snapshot: PathBuf,
        /// The user id.
        #[arg(long)]
        user: u32,
        /// The context id.
        #[arg(long)]
        context: u32,
        /// The instant (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read a site from another platform's database: `capstan import moodle --db
    /// postgres://USER@HOST/DB [--prefix mdl_] [--out site.json]`.
    Import {
        #[command(subcommand)]
        command: import_cmd::ImportCommand,
    },
    /// Write a synthetic site (for benchmarks and tests).
    Generate(generate_cmd::GenerateArgs),
    /// Time the resolver on a snapshot (quick look; the criterion benches are the reference).
    Bench {
        /// The snapshot.
        snapshot: PathBuf,
        /// How many checks to time.
        #[arg(long, default_value_t = 200_000)]
        checks: usize,
    },
}

#[derive(Subcommand)]
enum PresetCommand {
    /// Export a role's definition as Moodle role preset XML.
    Export {
        /// The snapshot.
        snapshot: PathBuf,
        /// The role id.
        #[arg(long)]
        role: u32,
        /// Leave `allowview` out, for Moodle sites older than it (they refuse it).
        #[arg(long)]
        without_allowview: bool,
        /// Where to write (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import a preset into a snapshot: updates the role with the same short name (or
    /// `--role`), or adds one. A missing element leaves that part as it is, an empty one
    /// clears it.
    Import {
        /// The snapshot.
        snapshot: PathBuf,
        /// The preset XML file.
        file: PathBuf,
        /// The role to write it onto (default: the one with the preset's short name).
        #[arg(long)]
        role: Option<u32>,
        /// Where to write the new snapshot (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the import report as JSON on stderr.
        #[arg(long)]
        json: bool,
    },
    /// Reset parts of a role, as Moodle's "Reset role" page does.
    Reset {
        /// The snapshot.
        snapshot: PathBuf,
        /// The role id.
        #[arg(long)]
        role: u32,
        /// The source: `archetype:NAME` (Moodle's defaults), `role:ID`, `preset:FILE` or
        /// `nothing`.
        #[arg(long)]
        from: String,
        /// The parts, comma-separated (`shortname,name,description,archetype,contextlevels,
        /// allow_assign,allow_override,allow_switch,allow_view,permissions`; default: all but
        /// the short name).
        #[arg(long, value_delimiter = ',')]
        parts: Vec<String>,
        /// Where to write the new snapshot (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the report as JSON on stderr.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The snapshot.
    snapshot: PathBuf,
    /// The user id (0 = not logged in).
    #[arg(long)]
    user: u32,
    /// The capability name.
    #[arg(long)]
    capability: String,
    /// The context id.
    #[arg(long)]
    context: u32,
    /// The instant (RFC 3339; default now).
    #[arg(long)]
    at: Option<String>,
    /// Do not let site admins through (Moodle's `$doanything = false`).
    #[arg(long)]
    no_doanything: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A failure with a stable code, printed as `error[code]: message`.
pub struct CliError {
    code: String,
    message: String,
}

impl CliError {
    fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            code: code.into(),
            message: message.into(),
        }
    }
}

type Result<T> = std::result::Result<T, CliError>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code, e.message);
            ExitCode::from(2)
        }
    }
}

pub(crate) fn now() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Timestamp::from_unix_seconds(secs)
}

fn instant(at: Option<&str>) -> Result<Timestamp> {
    match at {
        None => Ok(now()),
        Some(s) => Timestamp::parse(s).map_err(|e| CliError::new("bad_instant", e.to_string())),
    }
}

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::new("io", format!("cannot read `{}`: {e}", path.display())))
}

pub(crate) fn write_out(out: Option<&Path>, text: &str) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| CliError::new("io", format!("cannot write `{}`: {e}", p.display()))),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

fn load(path: &Path) -> Result<Engine> {
    let text = read(path)?;
    Engine::from_json(&text).map_err(|e| {
        let mut msg = format!("`{}`: {e}", path.display());
        if let capstan_core::LoadError::Invalid(issues) = &e {
            for i in issues.iter().take(20) {
                msg.push_str(&format!("\n  {i}"));
            }
        }
        CliError::new(e.code(), msg)
    })
}

fn json_out<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new("internal", e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn query_err(e: capstan_core::QueryError) -> CliError {
    CliError::new(e.code(), e.to_string())
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Bundle {
            snapshot,
            user,
            contexts,
            out,
        } => {
            let engine = load(&snapshot)?;
            let roots: Vec<ContextId> = contexts.into_iter().map(ContextId).collect();
            let site = engine.bundle(UserId(user), &roots).map_err(query_err)?;
            write_out(out.as_deref(), &site.to_json())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Contexts {
            snapshot,
            user,
            capability,
            level,
            plan,
            no_doanything,
            at,
            json,
        } => {
            let engine = load(&snapshot)?;
            let level: capstan_core::ContextLevel =
                serde_json::from_value(serde_json::Value::String(level.clone())).map_err(|_| {
                    CliError::new("bad_argument", format!("`{level}` is not a context level"))
                })?;
            let opts = CheckOptions {
                doanything: !no_doanything,
                at: instant(at.as_deref())?,
            };
            if plan {
                let p = engine
                    .contexts_with_capability_plan(UserId(user), &capability, level, opts)
                    .map_err(query_err)?;
                if json {
                    json_out(&serde_json::json!({"include_under": p.include_under,
                        "exclude_under": p.exclude_under, "include": p.include, "exclude": p.exclude}))?;
                } else {
                    for (what, list) in [
                        ("include under", &p.include_under),
                        ("exclude under", &p.exclude_under),
                        ("include", &p.include),
                        ("exclude", &p.exclude),
                    ] {
                        for path in list {
                            println!("{what:<13} {path}");
                        }
                    }
                }
            } else {
                let list = engine
                    .contexts_with_capability(UserId(user), &capability, level, opts)
                    .map_err(query_err)?;
                if json {
                    json_out(&list)?;
                } else {
                    for c in &list {
                        let name = engine
                            .context(*c)
                            .and_then(|x| x.name.clone())
                            .unwrap_or_default();
                        println!("{c} {name}");
                    }
                    println!("{} context(s)", list.len());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance { paths, now, json } => {
            let now = instant(now.as_deref())?;
            conformance(&paths, now, json)
        }
        Command::Validate { snapshot, json } => {
            let text = read(&snapshot)?;
            let site = capstan_core::Site::from_json(&text)
                .map_err(|e| CliError::new(e.code(), e.to_string()))?;
            let issues = validate(&site);
            if json {
                json_out(&issues)?;
            } else if issues.is_empty() {
                println!(
                    "valid: {} contexts, {} roles, {} users",
                    site.contexts.len(),
                    site.roles.len(),
                    site.users.len()
                );
            } else {
                for i in &issues {
                    println!("{}: {} [{}]", i.path, i.message, i.code);
                }
                println!("{} problem(s)", issues.len());
            }
            Ok(if issues.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Check(a) => {
            let engine = load(&a.snapshot)?;
            let opts = CheckOptions {
                doanything: !a.no_doanything,
                at: instant(a.at.as_deref())?,
            };
            let ex = engine
                .explain(UserId(a.user), &a.capability, ContextId(a.context), opts)
                .map_err(query_err)?;
            if a.json {
                json_out(
                    &serde_json::json!({"allowed": ex.allowed, "rule": ex.rule, "step": ex.step, "reason": ex.reason}),
                )?;
            } else {
                println!("{}", if ex.allowed { "yes" } else { "no" });
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain(a) => {
            let engine = load(&a.snapshot)?;
            let opts = CheckOptions {
                doanything: !a.no_doanything,
                at: instant(a.at.as_deref())?,
            };
            let ex = engine
                .explain(UserId(a.user), &a.capability, ContextId(a.context), opts)
                .map_err(query_err)?;
            if a.json {
                json_out(&ex)?;
            } else {
                print!("{}", report::explanation(&engine, &ex));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Permissions {
            snapshot,
            user,
            context,
            at,
            json,
        } => {
            let engine = load(&snapshot)?;
            let perms = engine
                .effective_permissions(
                    UserId(user),
                    ContextId(context),
                    CheckOptions::at(instant(at.as_deref())?),
                )
                .map_err(query_err)?;
            if json {
                json_out(&perms)?;
            } else {
                for p in &perms {
                    println!(
                        "{:<4} {:<50} {}",
                        if p.allowed { "yes" } else { "no" },
                        p.capability,
                        p.rule.describe()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Users {
            snapshot,
            capability,
            context,
            at,
            json,
        } => {
            let engine = load(&snapshot)?;
            let r = engine
                .users_with_capability(&capability, ContextId(context), instant(at.as_deref())?)
                .map_err(query_err)?;
            if json {
                json_out(&r)?;
            } else {
                if r.all_authenticated {
                    println!(
                        "every authenticated user (the default user role allows it); exactly:"
                    );
                }
                for u in &r.users {
                    let name = engine.user(*u).map(|x| x.username.as_str()).unwrap_or("?");
                    println!("{u}\t{name}");
                }
                println!("{} user(s)", r.users.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Visible {
            snapshot,
            user,
            at,
            json,
        } => {
            let engine = load(&snapshot)?;
            let items = engine.visible_items(UserId(user), instant(at.as_deref())?);
            if json {
                json_out(&items)?;
            } else {
                for i in &items {
                    println!(
                        "{:<4} {:<8} {:<8} {:<30} {:?}",
                        if i.visible { "yes" } else { "no" },
                        i.context,
                        i.level,
                        i.name.as_deref().unwrap_or(""),
                        i.reason
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply { snapshot, ops, out } => {
            let mut engine = load(&snapshot)?;
            let text = read(&ops)?;
            let ops: Vec<EditOp> = serde_json::from_str(&text).map_err(|e| {
                CliError::new("malformed_json", format!("`{}`: {e}", ops.display()))
            })?;
            engine
                .apply_all(ops)
                .map_err(|(i, e)| CliError::new(e.code(), format!("operation {i}: {e}")))?;
            write_out(out.as_deref(), &engine.to_json())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Preset { command } => preset(command),
        Command::New { template, out } => {
            let site = capstan_core::moodle::template(&template)
                .map_err(|e| CliError::new(e.code(), e.to_string()))?;
            let engine =
                Engine::from_site(site).map_err(|e| CliError::new(e.code(), e.to_string()))?;
            write_out(out.as_deref(), &engine.to_json())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ViewableRoles {
            snapshot,
            user,
            context,
            at,
            json,
        } => {
            let engine = load(&snapshot)?;
            let at = instant(at.as_deref())?;
            let roles = engine
                .viewable_roles(UserId(user), ContextId(context), at)
                .map_err(|e| CliError::new(e.code(), e.to_string()))?;
            if json {
                let ids: Vec<u32> = roles.iter().map(|r| r.0).collect();
                println!("{}", serde_json::json!({ "roles": ids }));
            } else {
                for r in roles {
                    if let Some(role) = engine.role(r) {
                        println!(
                            "{}\t{}\t{}",
                            r.0,
                            role.shortname,
                            capstan_core::moodle::role_display_name(role)
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => generate_cmd::run(args),
        Command::Import { command } => import_cmd::run(command),
        Command::Bench { snapshot, checks } => report::bench(&load(&snapshot)?, checks),
    }
}

fn preset(command: PresetCommand) -> Result<ExitCode> {
    match command {
        PresetCommand::Export {
            snapshot,
            role,
            without_allowview,
            out,
        } => {
            let engine = load(&snapshot)?;
            let xml = engine
                .export_preset_with(
                    RoleId(role),
                    capstan_core::preset::ExportOptions {
                        allow_view: !without_allowview,
                    },
                )
                .map_err(|e| CliError::new(e.code(), e.to_string()))?;
            write_out(out.as_deref(), &xml)?;
            Ok(ExitCode::SUCCESS)
        }
        PresetCommand::Import {
            snapshot,
            file,
            role,
            out,
            json,
        } => {
            let mut engine = load(&snapshot)?;
            let xml = read(&file)?;
            let report = engine
                .import_preset(&xml, role.map(RoleId))
                .map_err(|e| CliError::new(e.code(), e.to_string()))?;
            print_report("imported", &report, json);
            write_out(out.as_deref(), &engine.to_json())?;
            Ok(ExitCode::SUCCESS)
        }
        PresetCommand::Reset {
            snapshot,
            role,
            from,
            parts,
            out,
            json,
        } => {
            use capstan_core::preset::{ResetFrom, RolePart};
            let mut engine = load(&snapshot)?;
            let parts: Vec<RolePart> = if parts.is_empty() {
                RolePart::ALL
                    .into_iter()
                    .filter(|p| *p != RolePart::Shortname)
                    .collect()
            } else {
                let names: Vec<&str> = parts.iter().map(|p| p.trim()).collect();
                RolePart::parse_all(&names).map_err(|m| CliError::new("bad_part", m))?
            };
            let preset_text;
            let source = match from.split_once(':') {
                _ if from == "nothing" => ResetFrom::Nothing,
                Some(("archetype", a)) => {
                    ResetFrom::Archetype(capstan_core::Archetype::from_name(a).ok_or_else(
                        || CliError::new("unknown_archetype", format!("unknown archetype `{a}`")),
                    )?)
                }
                Some(("role", id)) => ResetFrom::Role(RoleId(id.parse().map_err(|_| {
                    CliError::new("bad_argument", format!("`{id}` is not a role id"))
                })?)),
                Some(("preset", file)) => {
                    preset_text = read(Path::new(file))?;
                    ResetFrom::Preset(&preset_text)
                }
                _ => {
                    return Err(CliError::new(
                        "bad_argument",
                        format!(
                            "--from `{from}`: use archetype:NAME, role:ID, preset:FILE or nothing"
                        ),
                    ));
                }
            };
            let (ops, report) = engine
                .reset_role_ops(RoleId(role), source, &parts)
                .map_err(|e| CliError::new(e.code(), e.to_string()))?;
            if !ops.is_empty() {
                engine
                    .apply_all(ops)
                    .map_err(|(_, e)| CliError::new(e.code(), e.to_string()))?;
            }
            print_report("reset", &report, json);
            write_out(out.as_deref(), &engine.to_json())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report(what: &str, report: &capstan_core::preset::ImportReport, json: bool) {
    if json {
        eprintln!("{}", serde_json::to_string(report).unwrap_or_default());
        return;
    }
    let changed: Vec<&str> = report.changed.iter().map(|p| p.name()).collect();
    eprintln!(
        "{what} role `{}` (id {}{}): {} permission(s) changed; parts changed: {}",
        report.shortname,
        report.role,
        if report.created { ", new" } else { "" },
        report.permissions_set,
        if changed.is_empty() {
            "none".to_string()
        } else {
            changed.join(", ")
        }
    );
    for c in &report.unknown_capabilities {
        eprintln!("  unknown capability skipped: {c}");
    }
    for r in &report.unknown_roles {
        eprintln!("  unknown role skipped: {r}");
    }
    for l in &report.unknown_levels {
        eprintln!("  unknown context level skipped: {l}");
    }
    if let Some(a) = &report.unknown_archetype {
        eprintln!("  unknown archetype, read as none: {a}");
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == "json") {
                collect(&e, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn conformance(paths: &[PathBuf], now: Timestamp, json: bool) -> Result<ExitCode> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)
            .map_err(|e| CliError::new("io", format!("cannot read `{}`: {e}", p.display())))?;
    }
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    let mut reports = Vec::new();
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                broken += 1;
                println!("{}: cannot read: {e}", f.display());
                continue;
            }
        };
        match run_scenario(&text, now) {
            Err(e) => {
                broken += 1;
                println!("{}: cannot run: {e}", f.display());
            }
            Ok(r) => {
                for o in r.outcomes.iter().filter(|o| !o.passed) {
                    if !json {
                        println!(
                            "{}: query {} ({}): expected {}, got {}",
                            f.display(),
                            o.index,
                            o.op,
                            o.expected,
                            o.got
                        );
                    }
                }
                passed += r.passed();
                failed += r.failed();
                reports.push(serde_json::json!({"file": f.display().to_string(), "report": r}));
            }
        }
    }
    if json {
        json_out(
            &serde_json::json!({"passed": passed, "failed": failed, "unreadable": broken, "files": reports}),
        )?;
    }
    println!("{passed} passed, {} failed", failed + broken);
    Ok(if failed + broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
