//! `GET /events`: Server-Sent Events, one `revision` event per new revision of the site.

use crate::caller::Caller;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use capstan_api::ErrorBody;
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
        .data(format!("{{\"revision\":{rev}}}"))
}

struct Listener {
    st: AppState,
    rx: tokio::sync::broadcast::Receiver<u64>,
    token_hash: String,
    first: Option<u64>,
}

/// Server-Sent Events for any signed-in caller: a `revision` event with the current revision
/// at once, then one per new revision (`{"revision": N}`, the event id is N), and a heartbeat
/// comment every 15 s. An event says only that the site moved on — what changed is read with
/// the caller's own rights (`/changes`, `/site`, `/bundle` with `If-None-Match`). The stream ends
/// when the session does (sign-out, expiry, a revoked key).
#[utoipa::path(get, path = "/api/v1/events", tag = "site", operation_id = "events",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream: `revision` events", content_type = "text/event-stream", body = String),
        (status = 401, description = "not signed in", body = ErrorBody),
    ))]
pub async fn events(
    State(st): State<AppState>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let listener = Listener {
        rx: st.subscribe(),
        st,
        token_hash: caller.token_hash.clone(),
        first: Some(caller.site.revision),
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
                    if !l.st.token_live(&l.token_hash) {
                        return None;
                    }
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT))
}
