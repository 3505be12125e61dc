//! # capstan-server
//!
//! The Capstan REST backend: stores the site in an embedded SQLite file, enforces every
//! request with capstan-core, syncs the admin app, runs support access and keeps a
//! hash-chained audit log. The wire types are capstan-api's; `/api/v1/openapi.json` describes
//! every endpoint.
//!
//! - [`state`]: the published site (swapped whole per revision: readers never wait), the store
//!   and tokens; [`state::AppState::commit`] is the one way a site changes.
//! - [`caller`]: who is asking and how far it reaches ([`reach`]).
//! - [`enforce`]: which edits a caller may make.
//! - [`routes`]: the handlers; [`openapi`]: the document built from them.
//! - [`store`], [`audit`], [`auth`], [`totp`]: SQLite rows, the audit chain, passwords and
//!   tokens, RFC 6238.

pub mod audit;
pub mod auth;
pub mod caller;
pub mod enforce;
pub mod error;
pub mod http;
pub mod limits;
pub mod openapi;
pub mod reach;
pub mod routes;
pub mod secret;
pub mod state;
pub mod store;
pub mod totp;

pub use error::{ApiError, MAX_BODY};
pub use http::serve;
pub use state::{AppState, Clock, OpenOptions, Opened, SystemClock};

use axum::routing::{delete, get, post, put};
use capstan_api::{codes, paths};
use routes::{
    admin, audit as audit_routes, bundle, events, presets, questions, session, site, support,
};
use std::path::PathBuf;

/// How often the server takes the temporary users of ended support grants off the site.
pub const SWEEP_SECONDS: u64 = 10;

/// The router: the API under `/api/v1` and the built app from `dist` (its `index.html` for
/// any other path, so that the app's routes reload), with the security headers on every
/// answer ([`http::headers`]) and a time limit on every request.
pub fn router(state: AppState, dist: PathBuf) -> axum::Router {
    let cors = http::cors(state.allowed_origins());
    let index = dist.join("index.html");
    let csp = http::content_security_policy(&index);
    let statics = tower_http::services::ServeDir::new(&dist)
        .fallback(tower_http::services::ServeFile::new(index));
    let app = axum::Router::new()
        .route(paths::OPENAPI, get(openapi::openapi_json))
        .route(paths::SESSIONS, post(session::login))
        .route(paths::STAFF_SESSIONS, post(session::staff_login))
        .route(
            paths::SESSION_CURRENT,
            get(session::me).delete(session::logout),
        )
        .route(paths::SITE, get(site::get_site))
        .route(
            paths::CHANGES,
            get(site::get_changes).post(site::post_changes),
        )
        .route(paths::VALIDATE, post(site::post_validate))
        .route(paths::EVENTS, get(events::events))
        .route(paths::CHECK, post(questions::check))
        .route(paths::EXPLAIN, post(questions::explain))
        .route(
            paths::EFFECTIVE_PERMISSIONS,
            post(questions::effective_permissions),
        )
        .route(
            paths::USERS_WITH_CAPABILITY,
            post(questions::users_with_capability),
        )
        .route(
            paths::CAPABILITY_OVERVIEW,
            post(questions::capability_overview),
        )
        .route(paths::CAN_ASSIGN, post(questions::can_assign))
        .route(paths::CAN_OVERRIDE, post(questions::can_override))
        .route(paths::CAN_SWITCH, post(questions::can_switch))
        .route(
            paths::UNSUPPORTED_ASSIGNMENTS,
            get(questions::unsupported_assignments),
        )
        .route(paths::VISIBILITY, post(questions::visibility))
        .route(paths::BUNDLE, get(bundle::get_bundle))
        .route(
            paths::CONTEXTS_WITH_CAPABILITY,
            post(bundle::contexts_with_capability),
        )
        .route(paths::VISIBLE_ITEMS, post(questions::visible_items))
        .route(paths::ROLE_PRESET, get(presets::export))
        .route(paths::PRESETS, post(presets::import))
        .route(paths::ROLE_RESET, post(presets::reset))
        .route(paths::VIEWABLE_ROLES, post(questions::viewable_roles))
        .route(paths::USER_PASSWORD, put(admin::set_password))
        .route(
            paths::API_KEYS,
            get(admin::list_keys).post(admin::create_key),
        )
        .route(paths::API_KEY, delete(admin::delete_key))
        .route(
            paths::SUPPORT_STAFF,
            get(support::list_staff).post(support::create_staff),
        )
        .route(paths::SUPPORT_STAFF_DISABLE, post(support::disable_staff))
        .route(paths::SUPPORT_STAFF_ENABLE, post(support::enable_staff))
        .route(paths::SUPPORT_STAFF_TOTP, post(support::reset_totp))
        .route(
            paths::SUPPORT_REQUESTS,
            get(support::list_requests).post(support::create_request),
        )
        .route(paths::SUPPORT_ALLOW, post(support::allow))
        .route(paths::SUPPORT_DENY, post(support::deny))
        .route(paths::SUPPORT_GRANTS, get(support::list_grants))
        .route(paths::SUPPORT_REVOKE, post(support::revoke))
        .route(paths::AUDIT, get(audit_routes::list))
        .route(paths::AUDIT_VERIFY, get(audit_routes::verify))
        .route("/api/v1", axum::routing::any(not_found))
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback_service(http::StaticFiles::new(statics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(move |req, next| {
            http::headers(csp.clone(), req, next)
        }))
        .with_state(state);
    match cors {
        Some(layer) => app.layer(layer),
        None => app,
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found(codes::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// Runs the support sweep every [`SWEEP_SECONDS`] until the runtime stops.
pub async fn sweep_forever(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(SWEEP_SECONDS));
    loop {
        tick.tick().await;
        let st = state.clone();
        match tokio::task::spawn_blocking(move || {
            st.check_store()?;
            routes::support::sweep(&st)
        })
        .await
        {
            Ok(Ok(n)) if n > 0 => println!("support: removed {n} ended grant(s)"),
            Ok(Err(e)) => eprintln!("support sweep failed: {}", e.message),
            Err(e) => eprintln!("support sweep failed: {e}"),
            _ => {}
        }
    }
}
