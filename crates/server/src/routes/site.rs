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
use std::sync::Arc;

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
    snapshot_answer(&headers, &tag, site.revision, |gzip| {
        let made = if gzip {
            site.gzip_for(&caller.reach).map(Payload::Gzipped)
        } else {
            site.json_for(&caller.reach).map(Payload::Text)
        };
        made.ok_or_else(|| ApiError::internal("no snapshot for the reach"))
    })
}

/// A snapshot's body: its JSON, or that JSON gzipped already (made once per revision).
pub(crate) enum Payload {
    /// The JSON text.
    Text(Arc<str>),
    /// The JSON, gzipped.
    Gzipped(Arc<[u8]>),
}

/// Bytes borrowed from a shared buffer (no copy of a cached snapshot per request).
struct Shared<T>(T);

impl AsRef<[u8]> for Shared<Arc<str>> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl AsRef<[u8]> for Shared<Arc<[u8]>> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Whether the request takes a gzipped answer (`Accept-Encoding: gzip`, not at `q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `text` gzipped (fast level: the answer is made per request or once per revision).
pub(crate) fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 6),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = z.write_all(text);
    z.finish().unwrap_or_default()
}

/// A snapshot answer under an ETag: 304 when `If-None-Match` names it (or `*`), else 200 with
/// the JSON `body(gzip)` makes, gzipped (`Content-Encoding: gzip`) when the request takes it
/// (`body` is told, to hand a gzipped form it has cached); both carry the ETag (the gzipped
/// form's ends in `-gz`, and either names the revision for `If-None-Match`) and
/// `X-Capstan-Revision`.
pub(crate) fn snapshot_answer(
    request: &HeaderMap,
    tag: &str,
    revision: u64,
    body: impl FnOnce(bool) -> Result<Payload, ApiError>,
) -> Result<Response, ApiError> {
    let gz_ok = accepts_gzip(request);
    let gz_tag = format!("{}-gz\"", tag.trim_end_matches('"'));
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(if gz_ok { &gz_tag } else { tag }) {
        h.insert(header::ETAG, v);
    }
    h.insert("x-capstan-revision", HeaderValue::from(revision));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let hit = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim().trim_start_matches("W/");
                t == tag || t == gz_tag || t == "*"
            })
        });
    if hit {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = match body(gz_ok)? {
        // Small answers are not worth compressing.
        Payload::Text(t) if gz_ok && t.len() > 1024 => Payload::Gzipped(gzip(t.as_bytes()).into()),
        p => p,
    };
    let bytes = match body {
        Payload::Gzipped(z) => {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            bytes::Bytes::from_owner(Shared(z))
        }
        Payload::Text(t) => {
            if gz_ok {
                // Sent as is after all: the plain form's tag.
                if let Ok(v) = HeaderValue::from_str(tag) {
                    h.insert(header::ETAG, v);
                }
            }
            bytes::Bytes::from_owner(Shared(t))
        }
    };
    Ok((StatusCode::OK, h, bytes).into_response())
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
        (status = 422, description = "an edit does not apply (details.index, details.issues), or the batch_id is malformed or another caller's (bad_batch_id)", body = ErrorBody),
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
