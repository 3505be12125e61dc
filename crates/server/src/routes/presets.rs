//! Roles as Moodle role preset XML (SEMANTICS.md §5).

use crate::caller::Caller;
use crate::enforce::authorize;
use crate::error::{ApiError, Id, Params, Text, blocking};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use capstan_api::{
    ErrorBody, PresetExport, PresetImported, PresetTarget, Reach, ResetRequest, ResetSource, codes,
};
use capstan_core::preset::{ExportOptions, ImportReport, PresetError, ResetFrom, RolePart};
use capstan_core::{Archetype, RoleId};

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
    params(("id" = u32, Path, description = "the role", minimum = 1), PresetExport),
    responses(
        (status = 200, description = "the preset, as Moodle 4.5 writes it (named `<shortname>.xml`)",
            content_type = "application/xml", body = String),
        (status = 400, description = "not an id", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not read role definitions", body = ErrorBody),
        (status = 404, description = "unknown role", body = ErrorBody),
    ))]
pub async fn export(
    caller: Caller,
    Id(id): Id,
    Params(opts): Params<PresetExport>,
) -> Result<impl IntoResponse, ApiError> {
    if caller.reach == Reach::Own {
        return Err(ApiError::forbidden(
            "reading role definitions needs a whole-site or tenant reach",
        ));
    }
    let engine = &caller.site.engine;
    let role = RoleId(id as u32);
    let xml = engine
        .export_preset_with(
            role,
            ExportOptions {
                allow_view: opts.allowview.unwrap_or(true),
            },
        )
        .map_err(preset_error)?;
    // A short name holds only [A-Za-z0-9_-]: safe in the header as it is.
    let file = capstan_core::preset::preset_file_name(
        &engine
            .role(role)
            .map(|r| r.shortname.clone())
            .unwrap_or_default(),
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
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
    commit_role_edits(st, caller, move |e| {
        e.preset_ops(&xml, target.role.map(RoleId))
    })
    .await
}

/// Builds a preset import's or a reset's edits on the current site, authorises each one for
/// the caller and commits them as one revision (none when nothing changes); answers with the
/// report.
async fn commit_role_edits(
    st: AppState,
    caller: Caller,
    build: impl Fn(
        &capstan_core::Engine,
    ) -> Result<(Vec<capstan_core::EditOp>, ImportReport), PresetError>
    + Send
    + 'static,
) -> Result<Json<PresetImported>, ApiError> {
    let (revision, report) = blocking(move || {
        let report = std::cell::RefCell::new(None);
        let revision = st.commit_built(
            &caller.author(),
            &|e| {
                let (ops, r) = build(e).map_err(preset_error)?;
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
    Ok(Json(imported(revision, report)))
}

fn imported(revision: u64, report: ImportReport) -> PresetImported {
    PresetImported {
        revision,
        role: report.role.0,
        shortname: report.shortname,
        created: report.created,
        permissions_set: report.permissions_set,
        changed: report
            .changed
            .iter()
            .map(|p| p.name().to_string())
            .collect(),
        unknown_capabilities: report.unknown_capabilities,
        unknown_roles: report.unknown_roles,
        unknown_levels: report.unknown_levels,
        unknown_archetype: report.unknown_archetype,
    }
}

/// Moodle's "Reset role": the chosen parts of a role take their value from an archetype's
/// Moodle defaults, another role, a preset or nothing; one new revision (none when nothing
/// changes).
#[utoipa::path(post, path = "/api/v1/roles/{id}/reset", tag = "presets",
    security(("bearer" = [])),
    params(("id" = u32, Path, description = "the role to reset", minimum = 1)),
    request_body = ResetRequest,
    responses(
        (status = 200, description = "reset", body = PresetImported),
        (status = 400, description = "malformed body, unknown part or archetype, invalid preset", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/role:manage", body = ErrorBody),
        (status = 404, description = "unknown role", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "the role cannot be written", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn reset(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    crate::error::Body(req): crate::error::Body<ResetRequest>,
) -> Result<Json<PresetImported>, ApiError> {
    caller.site_user()?;
    let parts =
        RolePart::parse_all(&req.parts).map_err(|m| ApiError::bad(codes::MALFORMED_JSON, m))?;
    let archetype = match &req.from {
        ResetSource::Archetype(a) => Some(Archetype::from_name(a).ok_or_else(|| {
            ApiError::bad("unknown_archetype", format!("unknown archetype `{a}`"))
        })?),
        _ => None,
    };
    let role = RoleId(id as u32);
    commit_role_edits(st, caller, move |e| {
        let from = match (&req.from, archetype) {
            (_, Some(a)) => ResetFrom::Archetype(a),
            (ResetSource::Role(r), _) => ResetFrom::Role(RoleId(*r)),
            (ResetSource::Preset(xml), _) => ResetFrom::Preset(xml),
            (ResetSource::Archetype(_) | ResetSource::Nothing(_), _) => ResetFrom::Nothing,
        };
        e.reset_role_ops(role, from, &parts)
    })
    .await
}
