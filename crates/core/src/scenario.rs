//! Conformance scenarios (`shared/conformance/FORMAT.md`): a snapshot plus queries with their
//! expected answers, run against the core.

use crate::engine::{CheckOptions, Engine, QueryError};
use crate::model::*;
use crate::snapshot::SnapshotDoc;
use crate::time::Timestamp;
use crate::validate::{distinct_codes, validate};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One query of a scenario, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct QueryDoc {
    pub op: String,
    #[serde(default)]
    pub user: Option<u32>,
    #[serde(default)]
    pub capability: Option<String>,
    #[serde(default)]
    pub context: Option<u32>,
    #[serde(default)]
    pub role: Option<u32>,
    #[serde(default)]
    pub level: Option<ContextLevel>,
    #[serde(default)]
    pub doanything: Option<bool>,
    #[serde(default)]
    pub at: Option<Timestamp>,
    #[serde(default)]
    pub expect: Option<Value>,
    #[serde(default)]
    pub expect_error: Option<String>,
}

/// The result of one query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryOutcome {
    /// Position in the scenario's `queries`.
    pub index: usize,
    /// The op.
    pub op: String,
    /// Whether the answer matched.
    pub passed: bool,
    /// What the scenario expects (`{"error": code}` for `expect_error`).
    pub expected: Value,
    /// What the engine answered (`{"error": code}` for an error).
    pub got: Value,
}

/// The result of a whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: Option<String>,
    /// Every query's outcome.
    pub outcomes: Vec<QueryOutcome>,
}

impl ScenarioReport {
    /// Queries that passed.
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed).count()
    }

    /// Queries that failed.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }
}

/// Why a scenario could not be run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

fn err_value(code: &str) -> Value {
    json!({ "error": code })
}

/// Answers one query against an engine (`None`: the snapshot was invalid, so only `validate`
/// can be answered). `now` is the instant used when the query gives no `at`.
pub fn answer(
    engine: Option<&Engine>,
    issues: &[crate::validate::Issue],
    q: &QueryDoc,
    now: Timestamp,
) -> Value {
    let at = q.at.unwrap_or(now);
    if q.op == "validate" {
        return json!(distinct_codes(issues));
    }
    let Some(engine) = engine else {
        return err_value("invalid_snapshot");
    };
    let user = UserId(q.user.unwrap_or(0));
    let ctx = ContextId(q.context.unwrap_or(0));
    let role = RoleId(q.role.unwrap_or(0));
    let cap = q.capability.as_deref();
    let missing = |what: &str| err_value(&format!("missing_{what}"));
    let to = |r: Result<Value, QueryError>| r.unwrap_or_else(|e| err_value(e.code()));
    match q.op.as_str() {
        "has_capability" => {
            let Some(cap) = cap else {
                return missing("capability");
            };
            let opts = CheckOptions {
                doanything: q.doanything.unwrap_or(true),
                at,
            };
            to(engine.has_capability(user, cap, ctx, opts).map(Value::from))
        }
        "users_with_capability" => {
            let Some(cap) = cap else {
                return missing("capability");
            };
            to(engine
                .users_with_capability(cap, ctx, at)
                .map(|r| json!(r.users)))
        }
        "can_assign" => to(engine.can_assign(user, role, ctx, at).map(Value::from)),
        "can_override" => to(engine
            .can_override(user, role, ctx, cap, at)
            .map(Value::from)),
        "can_switch" => to(engine.can_switch(user, role, ctx, at).map(Value::from)),
        "visible" => to(engine
            .visible(user, ctx, at)
            .map(|v| Value::from(v.visible))),
        "unsupported_assignments" => match engine.whole_site("unsupported_assignments") {
            Ok(()) => json!(engine.unsupported_assignments()),
            Err(e) => err_value(e.code()),
        },
        "contexts_with_capability" => {
            let Some(cap) = cap else {
                return missing("capability");
            };
            let Some(level) = q.level else {
                return missing("level");
            };
            let opts = CheckOptions {
                doanything: q.doanything.unwrap_or(true),
                at,
            };
            to(engine
                .contexts_with_capability(user, cap, level, opts)
                .map(|list| json!(list)))
        }
        other => err_value(&format!("unknown_op:{other}")),
    }
}

/// Runs every query of a scenario text. `now` stands in for queries without `at`.
pub fn run_scenario(text: &str, now: Timestamp) -> Result<ScenarioReport, ScenarioError> {
    let doc = SnapshotDoc::from_json(text).map_err(|e| ScenarioError(e.to_string()))?;
    let name = doc.name.clone();
    let queries = doc.queries.clone().unwrap_or_default();
    let site = Site::from(doc);
    let issues = validate(&site);
    let engine = if issues.is_empty() {
        Engine::from_site(site).ok()
    } else {
        None
    };
    let outcomes = queries
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let op = raw
                .get("op")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            match serde_json::from_value::<QueryDoc>(raw) {
                Err(e) => QueryOutcome {
                    index,
                    op,
                    passed: false,
                    expected: Value::Null,
                    got: err_value(&format!("malformed_query: {e}")),
                },
                Ok(q) => {
                    let got = answer(engine.as_ref(), &issues, &q, now);
                    let expected = match &q.expect_error {
                        Some(code) => err_value(code),
                        None => q.expect.clone().unwrap_or(Value::Null),
                    };
                    QueryOutcome {
                        index,
                        op,
                        passed: got == expected,
                        expected,
                        got,
                    }
                }
            }
        })
        .collect();
    Ok(ScenarioReport { name, outcomes })
}
