//! The site and its changes: snapshot with ETag, changes since a revision, batches of edits
//! against a base revision (409 on a stale one), and validation of a snapshot.

use crate::caller::Caller;
use crate::enforce::authorize;
use crate::error::{ApiError, Body, Params, Text, blocking};
use crate::reach::{View, cut_key};
use crate::state::{AppState, Author, CommitError};
use crate::store;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use capstan_api::schema::Snapshot;
use capstan_api::{
    Accepted, Change, ChangeBatch, ChangeList, Conflict, ErrorBody, IssueItem, Reach, SinceQuery,
    ValidationReport, codes,
};
use capstan_core::{Site, SnapshotDoc, validate};

fn etag(revision: u64, reach: &Reach) -> String {
    match reach {
        Reach::Site => format!("\"{revision}\""),
        _ => format!("\"{revision}-{}\"", cut_key(reach)),
    }
}

fn need_site(caller: &Caller) -> Result<(), ApiError> {
    if caller.reach == Reach::Own {
        Err(ApiError::forbidden(
            "reading the site needs moodle/role:manage or moodle/site:config at the system context, \
             or moodle/role:review in your tenant",
        ))
    } else {
        Ok(())
    }
}

/// The snapshot the caller may see: the whole site, or its tenant's part. The ETag names the
/// revision (and the tenant of a cut); `If-None-Match` with it answers 304.
#[utoipa::path(get, path = "/api/v1/site", tag = "site",
    security(("bearer" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer")),
    responses(
        (status = 200, description = "the snapshot (capstan/1)", body = Snapshot,
            headers(("ETag" = String, description = "the revision"), ("X-Capstan-Revision" = String, description = "the revision number"))),
        (status = 304, description = "not modified",
            headers(("ETag" = String, description = "the revision"), ("X-Capstan-Revision" = String, description = "the revision number"))),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not read the site", body = ErrorBody),
    ))]
pub async fn get_site(caller: Caller, headers: HeaderMap) -> Result<Response, ApiError> {
    need_site(&caller)?;
    let site = &caller.site;
    let tag = etag(site.revision, &caller.reach);
    snapshot_answer(&headers, &tag, site.revision, || {
        site.json_for(&caller.reach)
            .map(|j| j.to_string())
            .ok_or_else(|| ApiError::internal("no snapshot for the reach"))
    })
}

/// A snapshot answer under an ETag: 304 when `If-None-Match` names it (or `*`), else 200 with
/// the JSON `body()` makes; both carry the ETag and `X-Capstan-Revision`.
pub(crate) fn snapshot_answer(
    request: &HeaderMap,
    tag: &str,
    revision: u64,
    body: impl FnOnce() -> Result<String, ApiError>,
) -> Result<Response, ApiError> {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    h.insert("x-capstan-revision", HeaderValue::from(revision));
    let hit = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if hit {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let json = body()?;
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((StatusCode::OK, h, json).into_response())
}

/// Changes cut to what the view may see, exactly as the snapshot is cut: edits about another
/// tenant's contexts, users or settings are left out or reduced ([`View::read_edit`]); the
/// author and support identifier show only when the author is in view. A change left with no
/// edit is still listed, so revisions have no gaps. A caller that may read no site reads
/// no edit at all.
pub fn visible_changes(view: &View<'_>, changes: Vec<Change>) -> Vec<Change> {
    if view.whole() {
        return changes;
    }
    changes
        .into_iter()
        .map(|c| {
            let by = c.by.filter(|u| view.user(capstan_core::UserId(*u)));
            Change {
                revision: c.revision,
                ops: c.ops.iter().filter_map(|op| view.read_edit(op)).collect(),
                support_identifier: c.support_identifier.filter(|_| by.is_some()),
                by,
                at: c.at,
            }
        })
        .collect()
}

/// Changes after a revision, oldest first.
#[utoipa::path(get, path = "/api/v1/changes", tag = "site",
    security(("bearer" = [])),
    params(SinceQuery),
    responses(
        (status = 200, description = "the changes", body = ChangeList),
        (status = 400, description = "bad query", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "may not read the site", body = ErrorBody),
    ))]
pub async fn get_changes(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<SinceQuery>,
) -> Result<Json<ChangeList>, ApiError> {
    need_site(&caller)?;
    let changes = store::changes_since(&*st.db()?, q.since.unwrap_or(0))?;
    let changes: Vec<Change> = changes
        .into_iter()
        .filter(|c| c.revision <= caller.site.revision)
        .collect();
    Ok(Json(ChangeList {
        revision: caller.site.revision,
        changes: visible_changes(&caller.view(), changes),
    }))
}

/// Applies a batch of edits, all or nothing, if it is based on the current revision.
#[utoipa::path(post, path = "/api/v1/changes", tag = "site",
    security(("bearer" = [])),
    request_body = ChangeBatch,
    responses(
        (status = 200, description = "accepted", body = Accepted),
        (status = 400, description = "malformed or empty batch", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "an edit is not allowed (details.index)", body = ErrorBody),
        (status = 409, description = "stale base revision, with the changes missed", body = Conflict),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "an edit does not apply (details.index, details.issues)", body = ErrorBody),
        (status = 503, description = "the database file is gone", body = ErrorBody),
    ))]
pub async fn post_changes(
    State(st): State<AppState>,
    caller: Caller,
    Body(batch): Body<ChangeBatch>,
) -> Result<Response, ApiError> {
    caller.site_user()?;
    blocking(move || {
        let author = Author {
            batch_id: batch.batch_id.clone(),
            ..caller.author()
        };
        let result = st.commit(
            &author,
            Some(batch.base_revision),
            batch.ops,
            &|e, op| authorize(e, &caller, op),
            &|_, _| Ok(()),
        );
        match result {
            Ok(revision) => Ok(Json(Accepted { revision }).into_response()),
            Err(CommitError::Refused(e)) => Err(e),
            Err(CommitError::Stale { revision }) => {
                let site = st.site();
                let view = View {
                    engine: &site.engine,
                    reach: &caller.reach,
                    me: caller.user,
                };
                let missed = store::changes_since(&*st.db()?, batch.base_revision)?;
                Ok((
                    StatusCode::CONFLICT,
                    Json(Conflict {
                        code: codes::STALE_REVISION.into(),
                        message: format!(
                            "the site is at revision {revision}, not {}: pull, then resolve",
                            batch.base_revision
                        ),
                        revision,
                        missed: visible_changes(&view, missed),
                    }),
                )
                    .into_response())
            }
        }
    })
    .await
}

/// Validates a snapshot (not stored): every problem with its code and JSON path.
#[utoipa::path(post, path = "/api/v1/validate", tag = "questions",
    security(("bearer" = [])),
    request_body(content = Snapshot, content_type = "application/json"),
    responses(
        (status = 200, description = "the problems (none: valid)", body = ValidationReport),
        (status = 400, description = "not a capstan/1 snapshot", body = ErrorBody),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
    ))]
pub async fn post_validate(
    _caller: Caller,
    Text(text): Text,
) -> Result<Json<ValidationReport>, ApiError> {
    let doc = SnapshotDoc::from_json(&text).map_err(|e| ApiError::bad(e.code(), e.to_string()))?;
    let site = Site::from(doc);
    let issues = validate(&site);
    let codes = capstan_core::validate::distinct_codes(&issues)
        .into_iter()
        .map(|c| c.as_str().to_string())
        .collect();
    Ok(Json(ValidationReport {
        valid: issues.is_empty(),
        issues: issues.iter().map(IssueItem::from).collect(),
        codes,
    }))
}
