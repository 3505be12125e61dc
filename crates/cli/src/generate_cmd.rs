//! `capstan generate`: write a synthetic site.

use crate::{CliError, write_out};
use capstan_core::SnapshotDoc;
use capstan_core::generate::{GenerateOptions, generate};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `capstan generate`; left out, each takes the value of `--preset`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Start from a preset size: `large` (100k contexts, 5,000 users) or `small`.
    #[arg(long, default_value = "large")]
    preset: String,
    /// Number of contexts.
    #[arg(long)]
    contexts: Option<usize>,
    /// Number of users.
    #[arg(long)]
    users: Option<usize>,
    /// Number of capabilities.
    #[arg(long)]
    capabilities: Option<usize>,
    /// Number of roles.
    #[arg(long)]
    roles: Option<usize>,
    /// Number of overrides.
    #[arg(long)]
    overrides: Option<usize>,
    /// Number of assignments.
    #[arg(long)]
    assignments: Option<usize>,
    /// Number of tenants.
    #[arg(long)]
    tenants: Option<usize>,
    /// Seed of the generator (same seed, same site).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Indent the JSON.
    #[arg(long)]
    pretty: bool,
}

/// Runs `capstan generate`.
pub fn run(a: GenerateArgs) -> Result<ExitCode, CliError> {
    let mut o = match a.preset.as_str() {
        "large" => GenerateOptions::large(),
        "small" => GenerateOptions::small(),
        other => {
            return Err(CliError::new(
                "bad_preset",
                format!("unknown preset `{other}` (large, small)"),
            ));
        }
    };
    o.contexts = a.contexts.unwrap_or(o.contexts);
    o.users = a.users.unwrap_or(o.users);
    o.capabilities = a.capabilities.unwrap_or(o.capabilities);
    o.roles = a.roles.unwrap_or(o.roles);
    o.overrides = a.overrides.unwrap_or(o.overrides);
    o.assignments = a.assignments.unwrap_or(o.assignments);
    o.tenants = a.tenants.unwrap_or(o.tenants);
    o.seed = a.seed;
    let site = generate(&o);
    let doc = SnapshotDoc::from(&site);
    let text = if a.pretty {
        doc.to_json_pretty()
    } else {
        doc.to_json()
    };
    write_out(a.out.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}
