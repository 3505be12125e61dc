//! Bounds on what one request may ask the server to store: names and texts in edits,
//! passwords. Moodle's own columns bound the names (a role name 255 characters, a course's
//! full name 1,333); Capstan takes up to [`MAX_NAME`] for any name and [`MAX_TEXT`] for any
//! other text (descriptions), so that no single edit can make every later snapshot,
//! answer and log entry huge.

use crate::error::ApiError;
use axum::http::StatusCode;
use capstan_api::codes;
use capstan_core::EditOp;
use serde_json::Value;

/// The longest name (role, context, user, tenant, capability, …), in characters.
pub const MAX_NAME: usize = 1_333;
/// The longest other text (a description), in characters.
pub const MAX_TEXT: usize = 65_536;
/// The longest password, in characters (argon2 takes any length; nobody needs more).
pub const MAX_PASSWORD: usize = 1_024;

/// Fields that hold names.
const NAME_FIELDS: [&str; 9] = [
    "name",
    "shortname",
    "username",
    "fullname",
    "email",
    "capability",
    "idnumber",
    "support_identifier",
    "component",
];

fn too_long(what: &str, max: usize) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::TOO_LONG,
        format!("`{what}` is longer than {max} characters"),
    )
}

/// Refuses (422 `too_long`) an edit with a name over [`MAX_NAME`] or a text over
/// [`MAX_TEXT`] characters.
pub fn check_op(op: &EditOp) -> Result<(), ApiError> {
    let value = serde_json::to_value(op).map_err(ApiError::internal)?;
    check_value("", &value)
}

fn check_value(key: &str, v: &Value) -> Result<(), ApiError> {
    match v {
        Value::String(s) => {
            let max = if NAME_FIELDS.contains(&key) {
                MAX_NAME
            } else {
                MAX_TEXT
            };
            // Cheap first: bytes bound characters from above.
            if s.len() > max && s.chars().count() > max {
                return Err(too_long(key, max));
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|x| check_value(key, x)),
        Value::Object(map) => map.iter().try_for_each(|(k, x)| check_value(k, x)),
        _ => Ok(()),
    }
}

/// At most the first 200 characters of user input, for the log.
pub fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

/// Refuses a password over [`MAX_PASSWORD`] characters.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.len() > MAX_PASSWORD && password.chars().count() > MAX_PASSWORD {
        Err(too_long("password", MAX_PASSWORD))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn long_names_are_refused_and_long_descriptions_have_room() {
        let op = |name: String, description: String| {
            serde_json::from_value::<EditOp>(serde_json::json!({
                "op": "put_role",
                "role": {"id": 40, "shortname": "r40", "name": name, "description": description}
            }))
            .unwrap()
        };
        assert!(check_op(&op("Manager".into(), "x".repeat(10_000))).is_ok());
        let e = check_op(&op("x".repeat(MAX_NAME + 1), String::new())).unwrap_err();
        assert_eq!(e.code, "too_long");
        assert!(check_op(&op("é".repeat(MAX_NAME), String::new())).is_ok());
        assert!(check_op(&op(String::new(), "x".repeat(MAX_TEXT + 1))).is_err());
        assert!(check_password(&"p".repeat(MAX_PASSWORD)).is_ok());
        assert!(check_password(&"p".repeat(MAX_PASSWORD + 1)).is_err());
    }
}
