//! Talking to a Capstan server, when there is one, with capstan-api's types: sign in (support
//! staff with their one-time code), pull the site, push the journal as one batch against the
//! base revision, and surface a conflict (409) for the admin to resolve. Edits made offline
//! stay in the journal (browser storage) and are pushed on reconnect. While signed in, the app
//! follows the server's `/events` stream and says when the site moved on (no polling).

use crate::store::{BaseKind, PendingPush, Session, Store};
use capstan_api::{
    Accepted, Change, ChangeBatch, ChangeList, Conflict, ErrorBody, Login, RevisionEvent,
    SessionCreated, StaffLogin, paths,
};
use capstan_core::Engine;
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::JsFuture;

/// Sync state shared through context.
#[derive(Clone, Copy)]
pub struct SyncState {
    /// A human status line.
    pub status: RwSignal<String>,
    /// A conflict waiting for the admin: the server revision and the changes we missed.
    pub conflict: RwSignal<Option<(u64, Vec<Change>)>>,
    /// Whether a request is under way.
    pub busy: RwSignal<bool>,
    /// The newest revision the server announced on `/events` (none: not following).
    pub remote: RwSignal<Option<u64>>,
    /// The token whose `/events` stream is being followed (one follower per session).
    following: RwSignal<Option<String>>,
}

/// Sets up sync state and pushes pending edits when the browser comes back online.
pub fn install(store: Store) {
    let state = SyncState {
        status: RwSignal::new(String::new()),
        conflict: RwSignal::new(None),
        busy: RwSignal::new(false),
        remote: RwSignal::new(None),
        following: RwSignal::new(None),
    };
    provide_context(state);
    if store.session.get_untracked().is_some() {
        follow(store, state);
    }
    let on_online = Closure::<dyn Fn()>::new(move || {
        if store.session.get_untracked().is_some() && !store.journal().is_empty() {
            leptos::task::spawn_local(push(store, state));
        }
    });
    let _ = window().add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    on_online.forget();
}

/// The sync state from context.
pub fn use_sync() -> SyncState {
    expect_context::<SyncState>()
}

/// An HTTP answer.
pub struct Answer {
    /// Status code (0 when the request could not be made).
    pub status: u16,
    /// The revision header, if any.
    pub revision: Option<u64>,
    /// The body text.
    pub text: String,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body read as `T`.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(&self.text)
            .map_err(|e| format!("the server's answer does not read: {e}"))
    }

    /// The error of a failed request, with its code.
    pub fn error(&self) -> String {
        match serde_json::from_str::<ErrorBody>(&self.text) {
            Ok(e) => format!("{} (error[{}])", e.message, e.code),
            _ if self.status == 0 => "the server cannot be reached".into(),
            _ => format!("the server answered {}", self.status),
        }
    }
}

/// Makes a request to the server the app was loaded from; `body` is JSON.
pub async fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&impl Serialize>,
) -> Answer {
    let text = body.and_then(|b| serde_json::to_string(b).ok());
    send(
        method,
        path,
        token,
        text.as_deref().map(|t| ("application/json", t)),
    )
    .await
}

/// Makes a request with a raw body of a content type.
pub async fn send(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> Answer {
    let fail = Answer {
        status: 0,
        revision: None,
        text: String::new(),
    };
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let Ok(headers) = web_sys::Headers::new() else {
        return fail;
    };
    let _ = headers.set("Accept", "application/json");
    if let Some(t) = token {
        let _ = headers.set("Authorization", &format!("Bearer {t}"));
    }
    if let Some((ctype, text)) = body {
        let _ = headers.set("Content-Type", ctype);
        init.set_body(&wasm_bindgen::JsValue::from_str(text));
    }
    init.set_headers(&headers);
    let Ok(req) = web_sys::Request::new_with_str_and_init(path, &init) else {
        return fail;
    };
    let Ok(resp) = JsFuture::from(window().fetch_with_request(&req)).await else {
        return fail;
    };
    let Ok(resp) = resp.dyn_into::<web_sys::Response>() else {
        return fail;
    };
    let revision = resp
        .headers()
        .get("X-Capstan-Revision")
        .ok()
        .flatten()
        .and_then(|r| r.parse().ok());
    let text = match resp.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Answer {
        status: resp.status(),
        revision,
        text,
    }
}

/// Signs in (support staff give their one-time code); on success the session is kept and the
/// server's site pulled.
pub async fn login(
    store: Store,
    state: SyncState,
    username: String,
    password: String,
    totp: Option<String>,
) {
    state.busy.set(true);
    let a = match totp.filter(|t| !t.trim().is_empty()) {
        Some(totp) => {
            let body = StaffLogin {
                username: username.clone(),
                password,
                totp,
            };
            request("POST", paths::STAFF_SESSIONS, None, Some(&body)).await
        }
        None => {
            let body = Login {
                username: username.clone(),
                password,
            };
            request("POST", paths::SESSIONS, None, Some(&body)).await
        }
    };
    state.busy.set(false);
    if !a.ok() {
        state.status.set(format!("sign-in failed: {}", a.error()));
        return;
    }
    let created: SessionCreated = match a.read() {
        Ok(c) => c,
        Err(m) => return state.status.set(m),
    };
    store.session.set(Some(Session {
        token: created.token,
        username: username.clone(),
        user: created.me.user.unwrap_or(0),
        expires_at: created.expires_at.to_string(),
        staff: created.me.kind == capstan_api::PrincipalKind::SupportStaff,
        whole_site: created.me.reach == capstan_api::Reach::Site,
    }));
    store.save();
    state.status.set(format!("signed in as {username}"));
    follow(store, state);
    if created.me.user.is_none() {
        return;
    }
    let edits = store.journal().len();
    let base = store.base.get_untracked();
    if edits > 0 && !matches!(base, BaseKind::Server { .. }) {
        // Edits of another site (the demo site, an import) are never replayed onto the
        // server's: saved as a file if the admin wants them, then left behind.
        let label = base.label();
        let keep = window()
            .confirm_with_message(&format!(
                "This browser holds {edits} edit(s) of the {label}, not of the server's site. \
                 Signing in replaces it with the server's site and never sends these edits there.\n\n\
                 OK: save the {label} with your edits as a snapshot file first. Cancel: discard them."
            ))
            .unwrap_or(false);
        let saved = keep
            && crate::ui::download(
                "capstan-offline-site.json",
                "application/json",
                &store.export_json(),
            )
            .is_ok();
        pull(store, state, true).await;
        state.status.set(format!(
            "{}; the {edits} edit(s) of the {label} were not sent to the server{}",
            state.status.get_untracked(),
            if saved {
                ": they are in capstan-offline-site.json (Import snapshot JSON opens it offline)"
            } else {
                " and were discarded"
            }
        ));
        return;
    }
    pull(store, state, edits == 0).await;
}

/// Follows the server's `/events` stream for the current session (once per session): each
/// `revision` event sets [`SyncState::remote`]. A dropped stream is reopened after a pause; the
/// follower ends when the session does (sign-out, expiry, another sign-in).
pub fn follow(store: Store, state: SyncState) {
    let Some(token) = store.session.get_untracked().map(|s| s.token) else {
        return;
    };
    if state.following.get_untracked().as_deref() == Some(token.as_str()) {
        return;
    }
    state.following.set(Some(token.clone()));
    leptos::task::spawn_local(async move {
        let current = || store.session.get_untracked().map(|s| s.token);
        while current().as_deref() == Some(token.as_str()) {
            match stream_events(&token, store, state).await {
                Ok(()) | Err(None) => {}
                // The session ended on the server.
                Err(Some(401)) => break,
                Err(Some(_)) => {}
            }
            if current().as_deref() != Some(token.as_str()) {
                break;
            }
            sleep_ms(3000).await;
        }
        if state.following.get_untracked().as_deref() == Some(token.as_str()) {
            state.following.set(None);
            state.remote.set(None);
        }
    });
}

/// Reads one `/events` stream to its end. `Err(Some(status))` when it was refused,
/// `Err(None)` when it could not be opened or broke.
async fn stream_events(token: &str, store: Store, state: SyncState) -> Result<(), Option<u16>> {
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().map_err(|_| None)?;
    let _ = headers.set("Accept", "text/event-stream");
    let _ = headers.set("Authorization", &format!("Bearer {token}"));
    init.set_headers(&headers);
    let req = web_sys::Request::new_with_str_and_init(paths::EVENTS, &init).map_err(|_| None)?;
    let resp = JsFuture::from(window().fetch_with_request(&req))
        .await
        .map_err(|_| None)?
        .dyn_into::<web_sys::Response>()
        .map_err(|_| None)?;
    if resp.status() != 200 {
        return Err(Some(resp.status()));
    }
    let reader = resp
        .body()
        .ok_or(None)?
        .get_reader()
        .dyn_into::<web_sys::ReadableStreamDefaultReader>()
        .map_err(|_| None)?;
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|_| None)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .map(|d| d.is_truthy())
            .unwrap_or(true);
        if done || store.session.get_untracked().map(|s| s.token).as_deref() != Some(token) {
            let _ = reader.cancel();
            return Ok(());
        }
        if let Ok(v) = js_sys::Reflect::get(&chunk, &"value".into()) {
            buffer.extend(js_sys::Uint8Array::new(&v).to_vec());
        }
        // Events end with a blank line; `data: {"revision":N}` carries the revision.
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            let revision = text
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .and_then(|d| serde_json::from_str::<RevisionEvent>(d).ok())
                .map(|e| e.revision);
            if let Some(r) = revision {
                state.remote.set(Some(r));
            }
        }
    }
}

/// A fresh idempotency key for a batch (128 random bits, hex).
fn new_batch_id() -> String {
    random_hex(16)
}

/// `n` random bytes as hex (the browser's CSPRNG).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let random = window()
        .crypto()
        .ok()
        .and_then(|c| c.get_random_values_with_u8_array(&mut bytes).ok())
        .is_some();
    if !random {
        for b in &mut bytes {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// Signs out. The server's site and the edits made on it leave this browser too, unless
/// `keep_offline` (the admin chose to go on working on it offline).
pub async fn logout(store: Store, state: SyncState, keep_offline: bool) {
    let unpushed = store.journal().len();
    let server_site = matches!(store.base.get_untracked(), BaseKind::Server { .. });
    if server_site && unpushed > 0 && !keep_offline {
        let go = window()
            .confirm_with_message(&format!(
                "{unpushed} edit(s) are not pushed to the server yet. Signing out removes the \
                 server's site from this browser, and these edits with it. Sign out anyway? \
                 (Cancel, then Push, or tick \"Keep this site in this browser\".)"
            ))
            .unwrap_or(false);
        if !go {
            state
                .status
                .set("still signed in: the edits are not pushed yet".into());
            return;
        }
    }
    if let Some(s) = store.session.get_untracked() {
        let _ = send("DELETE", paths::SESSION_CURRENT, Some(&s.token), None).await;
    }
    store.session.set(None);
    if server_site && !keep_offline {
        store.forget_site();
        state
            .status
            .set("signed out; the server's site was removed from this browser".into());
    } else {
        store.save();
        state
            .status
            .set("signed out; the site stays in this browser".into());
    }
}

async fn fetch_site(store: Store) -> Result<(u64, String, Engine), String> {
    let token = store.session.get_untracked().map(|s| s.token);
    let a = send("GET", paths::SITE, token.as_deref(), None).await;
    if a.status == 401 {
        store.session.set(None);
        store.save();
        return Err("the session has ended: sign in again".into());
    }
    if a.status != 200 {
        return Err(a.error());
    }
    let engine =
        Engine::from_json(&a.text).map_err(|e| format!("the server's site does not load: {e}"))?;
    Ok((a.revision.unwrap_or(0), a.text, engine))
}

/// Moves a server base forward with `GET /changes?since=` (the edits, not the site): `None`
/// when that cannot be done here (no server base, a cut of the site, or a change that does not
/// apply), and the whole site must be pulled.
async fn pull_changes(store: Store, state: SyncState, replace: bool) -> Option<String> {
    let session = store.session.get_untracked().filter(|s| s.whole_site)?;
    let BaseKind::Server { revision: since } = store.base.get_untracked() else {
        return None;
    };
    let path = format!("{}?since={since}", paths::CHANGES);
    state.busy.set(true);
    let a = send("GET", &path, Some(&session.token), None).await;
    state.busy.set(false);
    let list: ChangeList = a.ok().then(|| a.read().ok()).flatten()?;
    // Nothing lost on the way: the list runs from our revision to the server's.
    let contiguous = list
        .changes
        .iter()
        .enumerate()
        .all(|(i, c)| c.revision == since + 1 + i as u64)
        && since + list.changes.len() as u64 == list.revision;
    if !contiguous {
        return None;
    }
    let n = list.changes.len();
    let batches = list.changes.into_iter().map(|c| c.ops).collect();
    let dropped = store
        .advance_base(list.revision, batches, if replace { usize::MAX } else { 0 })
        .ok()?;
    state.conflict.set(None);
    Some(if dropped == 0 {
        format!(
            "in sync with server revision {} ({n} change(s) applied here)",
            list.revision
        )
    } else {
        format!(
            "pulled revision {}; {dropped} local edit(s) no longer applied and were dropped",
            list.revision
        )
    })
}

/// Pulls the server's site: its changes since this browser's revision when it can, else the
/// whole site. With `replace`, local edits are dropped; otherwise the journal is replayed on
/// top (edits that no longer apply are reported and dropped).
pub async fn pull(store: Store, state: SyncState, replace: bool) {
    if let Some(m) = pull_changes(store, state, replace).await {
        state.status.set(m);
        return;
    }
    state.busy.set(true);
    let got = fetch_site(store).await;
    state.busy.set(false);
    match got {
        Err(m) => state.status.set(format!("pull failed: {m}")),
        Ok((revision, text, engine)) => {
            let journal = if replace { Vec::new() } else { store.journal() };
            if let Err(m) = store.replace_base(BaseKind::Server { revision }, engine, Some(&text)) {
                state.status.set(m);
                return;
            }
            let mut dropped = 0;
            for batch in journal {
                if store.apply(batch, "replayed a local edit").is_err() {
                    dropped += 1;
                }
            }
            state.conflict.set(None);
            state.status.set(if dropped == 0 {
                format!("in sync with server revision {revision}")
            } else {
                format!("pulled revision {revision}; {dropped} local edit(s) no longer applied and were dropped")
            });
        }
    }
}

/// Pushes the journal as one batch against the base revision.
pub async fn push(store: Store, state: SyncState) {
    let Some(session) = store.session.get_untracked() else {
        state.status.set("sign in to a server to sync".into());
        return;
    };
    let base = match store.base.get_untracked() {
        BaseKind::Server { revision } => revision,
        _ => {
            state
                .status
                .set("this site is not the server's: pull the server's site first".into());
            return;
        }
    };
    let journal = store.journal();
    if journal.is_empty() {
        state.status.set("nothing to push".into());
        return;
    }
    // The same batch again when an earlier push of it got no answer (the server applies a
    // key once); else a new key.
    let same = |p: &PendingPush| {
        p.base == base
            && p.count <= journal.len()
            && journal.iter().take(p.count).flatten().eq(p.ops.iter())
    };
    let pending = store
        .pending
        .get_untracked()
        .filter(same)
        .unwrap_or_else(|| PendingPush {
            batch_id: new_batch_id(),
            base,
            count: journal.len(),
            ops: journal.iter().flatten().cloned().collect(),
        });
    let ops = pending.ops.clone();
    store.set_pending(Some(pending.clone()));
    state.busy.set(true);
    let n = ops.len();
    let batch = ChangeBatch {
        base_revision: base,
        ops: ops.clone(),
        batch_id: Some(pending.batch_id.clone()),
    };
    let a = request("POST", paths::CHANGES, Some(&session.token), Some(&batch)).await;
    state.busy.set(false);
    match a.status {
        200 => {
            let rev = a.read::<Accepted>().map(|x| x.revision).unwrap_or(base);
            store.set_pending(None);
            // The server's site at `rev` is our base with this batch: move the base there and
            // keep the edits made while the push was under way.
            let moved = if rev == base + 1 {
                store.advance_base(rev, vec![ops], pending.count).ok()
            } else {
                None
            };
            match moved {
                Some(_) => {
                    let later = store.journal().len();
                    state.status.set(format!(
                        "pushed {n} edit(s) as revision {rev}{}",
                        if later > 0 {
                            format!("; {later} later change(s) wait for the next push")
                        } else {
                            String::new()
                        }
                    ));
                    // Others' revisions may have come since: catch up.
                    if state.remote.get_untracked().is_some_and(|r| r > rev) {
                        pull(store, state, false).await;
                    }
                }
                None => {
                    pull(store, state, true).await;
                    state.status.set(format!(
                        "pushed {n} edit(s) as revision {rev}; {}",
                        state.status.get_untracked()
                    ));
                }
            }
        }
        409 => match a.read::<Conflict>() {
            Ok(c) => {
                store.set_pending(None);
                state.status.set(format!(
                    "conflict: the server is at revision {}, this site was based on {base}",
                    c.revision
                ));
                state.conflict.set(Some((c.revision, c.missed)));
            }
            Err(m) => state.status.set(m),
        },
        0 => state
            .status
            .set("offline: the edits stay here and are pushed when the server is back".into()),
        _ => state.status.set(format!("push refused: {}", a.error())),
    }
}
