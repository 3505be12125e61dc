//! The audit report and the chain check.

use crate::audit::AuditCut;
use crate::caller::Caller;
use crate::error::{ApiError, Params};
use crate::reach::SITE_CONFIG;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use capstan_api::{AuditPage, AuditQuery, ChainReport, ErrorBody, Reach};

/// The audit log, filtered and paginated. Whole-site readers need `moodle/site:config`; a
/// tenant administrator sees the entries about its tenant; a support user the entries of
/// its scope (about its tenants only, and, with the top-level site, entries about no tenant).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "a page of entries", body = AuditPage),
        (status = 400, description = "bad query", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not read the log", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let cut = match &caller.reach {
        Reach::Site if caller.holds(SITE_CONFIG) => None,
        Reach::Tenant { tenant } => Some(AuditCut {
            untagged: false,
            tenants: vec![*tenant],
        }),
        Reach::Scope { site, tenants } => {
            let untagged = *site && caller.holds(SITE_CONFIG);
            if !untagged && tenants.is_empty() {
                return Err(ApiError::forbidden(
                    "the audit log needs moodle/site:config, or a tenant reach for its tenant",
                ));
            }
            Some(AuditCut {
                untagged,
                tenants: tenants.clone(),
            })
        }
        _ => {
            return Err(ApiError::forbidden(
                "the audit log needs moodle/site:config, or a tenant reach for its tenant",
            ));
        }
    };
    Ok(Json(crate::audit::page(&*st.db()?, &q, cut.as_ref())?))
}

/// Recomputes the hash chain: any edited or deleted entry is found.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the result", body = ChainReport),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "needs moodle/site:config", body = ErrorBody),
    ))]
pub async fn verify(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<ChainReport>, ApiError> {
    crate::error::ensure(
        caller.holds(SITE_CONFIG),
        "checking the audit log needs moodle/site:config",
    )?;
    Ok(Json(crate::audit::verify(&*st.db()?)?))
}
