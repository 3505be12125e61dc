//! The OpenAPI 3.1 document of the API, built from the handlers' annotations and the wire
//! types of capstan-api, so it cannot drift from the code.

use crate::routes::{admin, audit, bundle, events, presets, questions, session, site, support};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "a session token (POST /api/v1/sessions) or a service key",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Capstan",
        description = "The Capstan permission engine: the site, its changes, the resolver's questions, role presets, support access and the audit log. Errors are JSON with a stable `code`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    modifiers(&Bearer),
    paths(
        session::login, session::staff_login, session::me, session::logout,
        site::get_site, site::get_changes, site::post_changes, site::post_validate, events::events,
        questions::check, questions::explain, questions::effective_permissions,
        questions::users_with_capability, questions::capability_overview,
        questions::can_assign, questions::can_override, questions::can_switch,
        questions::unsupported_assignments, questions::visibility, questions::visible_items,
        bundle::get_bundle, bundle::contexts_with_capability,
        presets::export, presets::import, presets::reset, questions::viewable_roles,
        admin::set_password, admin::list_keys, admin::create_key, admin::delete_key,
        support::create_staff, support::list_staff, support::create_request, support::list_requests,
        support::allow, support::deny, support::list_grants, support::revoke,
        support::disable_staff, support::enable_staff, support::reset_totp,
        audit::list, audit::verify,
        openapi_json,
    ),
    tags(
        (name = "sessions", description = "Signing in and out"),
        (name = "site", description = "The site snapshot and its changes (optimistic concurrency)"),
        (name = "questions", description = "The resolver's answers"),
        (name = "presets", description = "Moodle role preset XML"),
        (name = "support", description = "Time-boxed, logged, second-factor support access"),
        (name = "admin", description = "Passwords and service keys"),
        (name = "audit", description = "The hash-chained audit log"),
    ),
)]
struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "site",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(document())
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
