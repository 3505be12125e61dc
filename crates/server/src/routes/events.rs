//! `GET /events`: Server-Sent Events, one `revision` event per new revision of the site.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Holder;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use capstan_api::{ErrorBody, RevisionEvent};
use futures_util::stream::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often a heartbeat comment is sent.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often the stream checks that the caller's session still works.
pub const SESSION_CHECK: Duration = Duration::from_secs(5);

fn revision(rev: u64) -> Event {
    Event::default()
        .event("revision")
        .id(rev.to_string())
        .data(serde_json::to_string(&RevisionEvent { revision: rev }).unwrap_or_default())
}

struct Listener {
    st: AppState,
    rx: tokio::sync::broadcast::Receiver<u64>,
    token_hash: String,
    first: Option<u64>,
    /// For support staff: the grant's end and its temporary user (the stream ends with it).
    grant: Option<(capstan_core::Timestamp, capstan_core::UserId)>,
}

impl Listener {
    /// Whether the caller may still hear the site's events: its session is live and, for
    /// support staff, the grant has not ended (nor its temporary user left the site).
    fn live(&self) -> bool {
        self.st.token_live(&self.token_hash)
            && self.grant.is_none_or(|(until, user)| {
                self.st.now() < until && self.st.site().engine.user(user).is_some()
            })
    }
}

/// Server-Sent Events for any signed-in caller: a `revision` event with the current revision
/// at once, then one per new revision (`{"revision": N}`, the event id is N), and a heartbeat
/// comment every 15 s. An event says only that the site moved on — what changed is read with
/// the caller's own rights (`/changes`, `/site`, `/bundle` with `If-None-Match`). The stream ends
/// when the session does (sign-out, expiry, a revoked key) or, for support staff, the grant.
/// Support staff without an active grant hear nothing (`403`).
#[utoipa::path(get, path = "/api/v1/events", tag = "site", operation_id = "events",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream: `revision` events", content_type = "text/event-stream", body = String),
        (status = 401, description = "not signed in", body = ErrorBody),
        (status = 403, description = "support staff without an active grant", body = ErrorBody),
    ))]
pub async fn events(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let grant = match (&caller.holder, &caller.grant, caller.user) {
        (Holder::Staff(_), Some(g), Some(u)) => Some((g.expires_at, u)),
        (Holder::Staff(_), _, _) => {
            return Err(ApiError::forbidden(
                "support staff hear the site's events only while a grant is active",
            ));
        }
        _ => None,
    };
    let listener = Listener {
        rx: st.subscribe(),
        st,
        token_hash: caller.token_hash.clone(),
        first: Some(caller.site.revision),
        grant,
    };
    let stream = futures_util::stream::unfold(listener, |mut l| async move {
        if let Some(rev) = l.first.take() {
            return Some((Ok(revision(rev)), l));
        }
        loop {
            tokio::select! {
                r = l.rx.recv() => match r {
                    Ok(rev) => return Some((Ok(revision(rev)), l)),
                    // Too slow to keep up: the newest revision says all there is to say.
                    Err(RecvError::Lagged(_)) => {
                        let rev = l.st.site().revision;
                        return Some((Ok(revision(rev)), l));
                    }
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(SESSION_CHECK) => {
                    if !l.live() {
                        return None;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}
