//! Roles as Moodle role preset XML (SEMANTICS.md §5).

use crate::caller::Caller;
use crate::enforce::authorize;
use crate::error::{ApiError, Id, Params, Text, blocking};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use capstan_api::{ErrorBody, PresetImported, PresetTarget, Reach};
use capstan_core::RoleId;
use capstan_core::preset::PresetError;

fn preset_error(e: PresetError) -> ApiError {
    match e {
        PresetError::UnknownRole(_) => ApiError::not_found(e.code(), e.to_string()),
        PresetError::TooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.code(), e.to_string())
        }
        PresetError::Refused { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
        }
        _ => ApiError::bad(e.code(), e.to_string()),
    }
}

/// A role's preset: its fields, allow lists and system-level definition.
#[utoipa::path(get, path = "/api/v1/roles/{id}/preset", tag = "presets",
    security(("bearer" = [])),
    params(("id" = u32, Path, description = "the role", minimum = 1)),
    responses(
        (status = 200, description = "the preset", content_type = "application/xml", body = String),
        (status = 400, description = "not an id", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not read role definitions", body = ErrorBody),
        (status = 404, description = "unknown role", body = ErrorBody),
    ))]
pub async fn export(caller: Caller, Id(id): Id) -> Result<impl IntoResponse, ApiError> {
    if caller.reach == Reach::Own {
        return Err(ApiError::forbidden(
            "reading role definitions needs a whole-site or tenant reach",
        ));
    }
    let xml = caller
        .site
        .engine
        .export_preset(RoleId(id as u32))
        .map_err(preset_error)?;
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    ))
}

/// Imports a preset into `?role=`, else into the role with its short name, else a new role.
/// Unknown capabilities and roles are reported and skipped; the rest is one new revision.
#[utoipa::path(post, path = "/api/v1/presets", tag = "presets",
    security(("bearer" = [])),
    params(PresetTarget),
    request_body(content = String, content_type = "application/xml", description = "Moodle role preset XML"),
    responses(
        (status = 200, description = "imported", body = PresetImported),
        (status = 400, description = "malformed or hostile XML", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/role:manage", body = ErrorBody),
        (status = 404, description = "unknown target role", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "the role cannot be written", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn import(
    State(st): State<AppState>,
    caller: Caller,
    Params(target): Params<PresetTarget>,
    Text(xml): Text,
) -> Result<Json<PresetImported>, ApiError> {
    caller.site_user()?;
    let (revision, report) = blocking(move || {
        let report = std::cell::RefCell::new(None);
        let revision = st.commit_built(
            &caller.author(),
            &|e| {
                let (ops, r) = e
                    .preset_ops(&xml, target.role.map(RoleId))
                    .map_err(preset_error)?;
                *report.borrow_mut() = Some(r);
                Ok(ops)
            },
            &|e, op| authorize(e, &caller, op),
            &|_, _| Ok(()),
        )?;
        let report = report
            .into_inner()
            .ok_or_else(|| ApiError::internal("no preset report"))?;
        Ok((revision, report))
    })
    .await?;
    Ok(Json(PresetImported {
        revision,
        role: report.role.0,
        shortname: report.shortname,
        created: report.created,
        permissions_set: report.permissions_set,
        unknown_capabilities: report.unknown_capabilities,
        unknown_roles: report.unknown_roles,
        unknown_levels: report.unknown_levels,
    }))
}
