//! Human-readable output: explanation traces and the quick bench.

use crate::{CliError, now};
use capstan_core::{CheckOptions, ContextId, Engine, Explanation, RoleOrigin, UserId};
use std::fmt::Write;
use std::process::ExitCode;
use std::time::Instant;

fn context_label(engine: &Engine, id: ContextId) -> String {
    match engine.context(id) {
        Some(c) => match &c.name {
            Some(n) => format!("{} {} \"{}\"", c.level, id, n),
            None => format!("{} {}", c.level, id),
        },
        None => id.to_string(),
    }
}

fn origin_label(engine: &Engine, o: &RoleOrigin) -> String {
    match o {
        RoleOrigin::Assignment {
            context,
            source,
            from,
            until,
        } => {
            let mut s = format!(
                "assigned in {} ({:?})",
                context_label(engine, *context),
                source
            )
            .to_lowercase();
            if let Some(f) = from {
                let _ = write!(s, " from {f}");
            }
            if let Some(u) = until {
                let _ = write!(s, " until {u}");
            }
            s
        }
        RoleOrigin::DefaultUserRole => "default role of authenticated users".into(),
        RoleOrigin::FrontpageRole { context } => {
            format!(
                "default front page role in {}",
                context_label(engine, *context)
            )
        }
        RoleOrigin::GuestRole => "role of the guest account".into(),
        RoleOrigin::NotLoggedInRole => "role of visitors who are not logged in".into(),
        RoleOrigin::Switch { context } => {
            format!("switched to in {}", context_label(engine, *context))
        }
    }
}

/// A readable trace of an explanation.
pub fn explanation(engine: &Engine, ex: &Explanation) -> String {
    let mut out = String::new();
    let user = engine
        .user(ex.user)
        .map(|u| format!("{} ({})", u.username, ex.user))
        .unwrap_or_else(|| {
            if ex.user == UserId::NOT_LOGGED_IN {
                "not logged in (0)".into()
            } else {
                format!("unknown user {}", ex.user)
            }
        });
    let _ = writeln!(
        out,
        "{}: {} {} in {}",
        if ex.allowed { "YES" } else { "NO" },
        user,
        ex.capability,
        context_label(engine, ex.context)
    );
    let _ = writeln!(out, "decided by step {}: {}", ex.step, ex.reason);
    let path: Vec<String> = ex.path.iter().map(|c| c.to_string()).collect();
    let _ = writeln!(out, "path: {}", path.join(" / "));
    for r in &ex.roles {
        let value = r.value.map_or("not set".to_string(), |v| v.to_string());
        let _ = writeln!(out, "role {} ({}): {}", r.shortname, r.role, value);
        for o in &r.origins {
            let _ = writeln!(out, "  from: {}", origin_label(engine, o));
        }
        if r.rows.is_empty() {
            let _ = writeln!(out, "  no row on the path");
        }
        for row in &r.rows {
            let _ = writeln!(
                out,
                "  {} {:<8} in {}",
                if row.decisive { "=>" } else { "  " },
                row.permission,
                context_label(engine, row.context)
            );
        }
    }
    out
}

/// Times `check` on a pseudo-random mix of questions and prints the median of batches.
pub fn bench(engine: &Engine, checks: usize) -> Result<ExitCode, CliError> {
    let users: Vec<UserId> = engine.users().iter().map(|u| u.id).collect();
    let contexts: Vec<ContextId> = engine.contexts().iter().map(|c| c.id).collect();
    let caps: Vec<_> = engine
        .capabilities()
        .iter()
        .filter_map(|c| engine.capability_id(&c.name))
        .collect();
    if users.is_empty() || contexts.is_empty() || caps.is_empty() {
        return Err(CliError::new(
            "empty_site",
            "the site needs users, contexts and capabilities to bench",
        ));
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let triples: Vec<_> = (0..4096)
        .map(|_| {
            (
                users.get(next(users.len())).copied().unwrap_or(UserId(0)),
                caps.get(next(caps.len())).copied(),
                contexts
                    .get(next(contexts.len()))
                    .copied()
                    .unwrap_or(ContextId(0)),
            )
        })
        .collect();
    let opts = CheckOptions::at(now());
    let batch = 4096usize;
    let mut samples = Vec::new();
    let mut allowed = 0usize;
    let mut done = 0usize;
    while done < checks.max(batch) {
        let start = Instant::now();
        for (u, c, x) in &triples {
            if let Some(c) = c
                && engine.check(*u, *c, *x, opts).unwrap_or(false)
            {
                allowed += 1;
            }
        }
        samples.push(start.elapsed().as_nanos() as f64 / batch as f64);
        done += batch;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let median = samples.get(samples.len() / 2).copied().unwrap_or(0.0);
    println!(
        "check: median {median:.1} ns per call over {} batches of {batch} ({allowed} allowed)",
        samples.len()
    );
    Ok(ExitCode::SUCCESS)
}
