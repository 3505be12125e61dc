//! OpenAPI schemas of the core's wire types, which do not depend on utoipa: edit operations
//! (`capstan_core::EditOp`) and `capstan/1` snapshots (`capstan_core::SnapshotDoc`).
//! Written once here as JSON Schema and read into utoipa's model.

use utoipa::openapi::{RefOr, Schema};

/// A schema written as JSON; the texts below are constants checked by a test, so the
/// fallback (an unconstrained schema) never hides a mistake.
fn from_json(text: &str) -> RefOr<Schema> {
    serde_json::from_str(text).unwrap_or_else(|_| RefOr::T(Schema::Object(Default::default())))
}

const ID: &str = r#"{"type": "integer", "minimum": 1, "maximum": 4294967295}"#;

fn op(name: &str, required: &[&str], props: &[(&str, &str)]) -> String {
    let mut p = format!(r#""op": {{"type": "string", "enum": ["{name}"]}}"#);
    for (k, v) in props {
        p.push_str(&format!(r#", "{k}": {v}"#));
    }
    let req: Vec<String> = std::iter::once("op")
        .chain(required.iter().copied())
        .map(|r| format!("\"{r}\""))
        .collect();
    format!(
        r#"{{"type": "object", "required": [{}], "properties": {{{p}}}, "additionalProperties": false}}"#,
        req.join(", ")
    )
}

/// The JSON Schema text of one edit operation.
pub fn edit_op_json() -> String {
    let time = r#"{"type": ["string", "null"], "format": "date-time"}"#;
    let source = r#"{"type": ["string", "null"], "enum": ["manual", "audience", "support", null]}"#;
    let permission =
        r#"{"type": ["string", "null"], "enum": ["allow", "prevent", "prohibit", null]}"#;
    let object = r#"{"type": "object"}"#;
    let string = r#"{"type": "string"}"#;
    let ops = [
        op(
            "set_permission",
            &["role", "context", "capability", "permission"],
            &[
                ("role", ID),
                ("context", ID),
                ("capability", string),
                ("permission", permission),
            ],
        ),
        op(
            "assign",
            &["user", "role", "context"],
            &[
                ("user", ID),
                ("role", ID),
                ("context", ID),
                ("from", time),
                ("until", time),
                ("source", source),
            ],
        ),
        op(
            "unassign",
            &["user", "role", "context"],
            &[
                ("user", ID),
                ("role", ID),
                ("context", ID),
                ("source", source),
            ],
        ),
        op(
            "add_switch",
            &["user", "context", "role"],
            &[("user", ID), ("context", ID), ("role", ID)],
        ),
        op(
            "remove_switch",
            &["user", "context"],
            &[("user", ID), ("context", ID)],
        ),
        op("put_role", &["role"], &[("role", object)]),
        op("delete_role", &["role"], &[("role", ID)]),
        op("put_context", &["context"], &[("context", object)]),
        op("delete_context", &["context"], &[("context", ID)]),
        op("put_user", &["user"], &[("user", object)]),
        op("delete_user", &["user"], &[("user", ID)]),
        op("put_tenant", &["tenant"], &[("tenant", object)]),
        op("delete_tenant", &["tenant"], &[("tenant", ID)]),
        op("put_capability", &["capability"], &[("capability", object)]),
        op("set_settings", &["settings"], &[("settings", object)]),
        op("add_program_course", &["item"], &[("item", object)]),
        op("remove_program_course", &["item"], &[("item", object)]),
    ];
    format!(
        r#"{{"description": "An edit operation of capstan-core (tagged by `op`); records (`role`, `context`, `user`, `tenant`, `capability`, `settings`, `item`) are in the capstan/1 snapshot format.", "oneOf": [{}]}}"#,
        ops.join(", ")
    )
}

/// A list of edit operations.
pub fn edit_ops() -> RefOr<Schema> {
    from_json(&format!(
        r#"{{"type": "array", "items": {}}}"#,
        edit_op_json()
    ))
}

/// The JSON Schema text of a `capstan/1` snapshot.
pub const SNAPSHOT_JSON: &str = r#"{
  "description": "A site in the capstan/1 snapshot format (shared/conformance/FORMAT.md).",
  "type": "object",
  "required": ["format"],
  "properties": {
    "format": {"type": "string", "enum": ["capstan/1"]},
    "name": {"type": ["string", "null"]},
    "description": {"type": ["string", "null"]},
    "settings": {"type": ["object", "null"]},
    "capabilities": {"type": ["array", "null"], "items": {"type": "object"}},
    "contexts": {"type": ["array", "null"], "items": {"type": "object"}},
    "tenants": {"type": ["array", "null"], "items": {"type": "object"}},
    "roles": {"type": ["array", "null"], "items": {"type": "object"}},
    "permissions": {"type": ["array", "null"], "items": {"type": "object"}},
    "users": {"type": ["array", "null"], "items": {"type": "object"}},
    "assignments": {"type": ["array", "null"], "items": {"type": "object"}},
    "switches": {"type": ["array", "null"], "items": {"type": "object"}},
    "program_courses": {"type": ["array", "null"], "items": {"type": "object"}},
    "bundle": {"type": ["object", "null"], "description": "set when the snapshot is a bundle: a cut of the site for one user",
      "required": ["user"], "properties": {"user": {"type": "integer", "minimum": 0},
      "contexts": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 1}}}, "additionalProperties": false},
    "queries": {"type": ["array", "null"], "items": {"type": "object"}}
  },
  "additionalProperties": false
}"#;

/// A `capstan/1` snapshot.
pub fn snapshot() -> RefOr<Schema> {
    from_json(SNAPSHOT_JSON)
}

/// The `capstan/1` snapshot as a named schema, for request and response bodies.
pub struct Snapshot;

impl utoipa::PartialSchema for Snapshot {
    fn schema() -> RefOr<Schema> {
        snapshot()
    }
}

impl utoipa::ToSchema for Snapshot {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_schema_texts_are_valid_schemas() {
        for text in [
            edit_op_json(),
            SNAPSHOT_JSON.to_string(),
            format!(r#"{{"type": "array", "items": {}}}"#, edit_op_json()),
        ] {
            serde_json::from_str::<RefOr<Schema>>(&text).unwrap();
        }
    }

    #[test]
    fn every_edit_op_is_described() {
        let text = edit_op_json();
        let op = capstan_core::EditOp::DeleteRole {
            role: capstan_core::RoleId(3),
        };
        let v = serde_json::to_value(&op).unwrap();
        assert!(text.contains(&format!("[\"{}\"]", v["op"].as_str().unwrap())));
        assert_eq!(text.matches(r#""op": {"type": "string""#).count(), 17);
    }
}
