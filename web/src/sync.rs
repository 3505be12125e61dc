//! Talking to a Capstan server, when there is one: sign in, pull the site, push the journal as
//! one batch against the base revision, and surface a conflict (409) for the admin to resolve.
//! Edits made offline stay in the journal (browser storage) and are pushed on reconnect.

use crate::store::{BaseKind, Session, Store};
use capstan_core::{EditOp, Engine};
use leptos::prelude::*;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::JsFuture;

/// Sync state shared through context.
#[derive(Clone, Copy)]
pub struct SyncState {
    /// A human status line.
    pub status: RwSignal<String>,
    /// A conflict waiting for the admin: the server revision and the changes we missed.
    pub conflict: RwSignal<Option<(u64, Vec<Value>)>>,
    /// Whether a request is under way.
    pub busy: RwSignal<bool>,
}

/// Sets up sync state and pushes pending edits when the browser comes back online.
pub fn install(store: Store) {
    let state = SyncState {
        status: RwSignal::new(String::new()),
        conflict: RwSignal::new(None),
        busy: RwSignal::new(false),
    };
    provide_context(state);
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

/// An HTTP answer: status, headers we need, body as JSON (or text).
pub struct Answer {
    /// Status code (0 when the request could not be made).
    pub status: u16,
    /// The ETag, if any.
    pub etag: Option<String>,
    /// The body text.
    pub text: String,
}

impl Answer {
    /// The body as JSON (null when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The error message of a JSON error body, with its code.
    pub fn error(&self) -> String {
        let v = self.json();
        match (
            v.get("code").and_then(Value::as_str),
            v.get("message").and_then(Value::as_str),
        ) {
            (Some(c), Some(m)) => format!("{m} (error[{c}])"),
            _ if self.status == 0 => "the server cannot be reached".into(),
            _ => format!("the server answered {}", self.status),
        }
    }
}

/// Makes a request to the server the app was loaded from.
pub async fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let fail = Answer {
        status: 0,
        etag: None,
        text: String::new(),
    };
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = match web_sys::Headers::new() {
        Ok(h) => h,
        Err(_) => return fail,
    };
    let _ = headers.set("Accept", "application/json");
    if let Some(t) = token {
        let _ = headers.set("Authorization", &format!("Bearer {t}"));
    }
    if let Some(b) = body {
        let _ = headers.set("Content-Type", "application/json");
        init.set_body(&wasm_bindgen::JsValue::from_str(&b.to_string()));
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
    let etag = resp.headers().get("ETag").ok().flatten();
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
        etag,
        text,
    }
}

/// Signs in; on success the session is kept and the server's site pulled.
pub async fn login(
    store: Store,
    state: SyncState,
    username: String,
    password: String,
    totp: Option<String>,
) {
    state.busy.set(true);
    let body = json!({"username": username, "password": password, "totp": totp});
    let a = request("POST", "/api/v1/sessions", None, Some(&body)).await;
    state.busy.set(false);
    if a.status != 200 && a.status != 201 {
        state.status.set(format!("sign-in failed: {}", a.error()));
        return;
    }
    let v = a.json();
    let session = Session {
        token: v
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        username: username.clone(),
        user: v.pointer("/user/id").and_then(Value::as_u64).unwrap_or(0) as u32,
        expires_at: v
            .get("expires_at")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    store.session.set(Some(session));
    store.save();
    state.status.set(format!("signed in as {username}"));
    pull(store, state, store.journal().is_empty()).await;
}

/// Signs out (the local site and journal stay).
pub async fn logout(store: Store, state: SyncState) {
    if let Some(s) = store.session.get_untracked() {
        let _ = request("DELETE", "/api/v1/sessions/current", Some(&s.token), None).await;
    }
    store.session.set(None);
    store.save();
    state
        .status
        .set("signed out; the site stays in this browser".into());
}

async fn fetch_site(store: Store) -> Result<(u64, String, Engine), String> {
    let token = store.session.get_untracked().map(|s| s.token);
    let a = request("GET", "/api/v1/site", token.as_deref(), None).await;
    if a.status == 401 {
        store.session.set(None);
        store.save();
        return Err("the session has ended: sign in again".into());
    }
    if a.status != 200 {
        return Err(a.error());
    }
    let revision = a
        .etag
        .as_deref()
        .map(|t| {
            t.trim_matches('"')
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        })
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0);
    let engine =
        Engine::from_json(&a.text).map_err(|e| format!("the server's site does not load: {e}"))?;
    Ok((revision, a.text, engine))
}

/// Pulls the server's site. With `replace`, local edits are dropped; otherwise the journal is
/// replayed on top of the server's site (edits that no longer apply are reported and dropped).
pub async fn pull(store: Store, state: SyncState, replace: bool) {
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
    let ops: Vec<EditOp> = store.journal().into_iter().flatten().collect();
    if ops.is_empty() {
        state.status.set("nothing to push".into());
        return;
    }
    state.busy.set(true);
    let body = json!({"base_revision": base, "ops": ops});
    let a = request("POST", "/api/v1/changes", Some(&session.token), Some(&body)).await;
    state.busy.set(false);
    match a.status {
        200 | 201 => {
            let n = ops.len();
            pull(store, state, true).await;
            state.status.set(format!(
                "pushed {n} edit(s); {}",
                state.status.get_untracked()
            ));
        }
        409 => {
            let v = a.json();
            let rev = v.get("revision").and_then(Value::as_u64).unwrap_or(0);
            let missed = v
                .get("missed")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            state.conflict.set(Some((rev, missed)));
            state.status.set(format!(
                "conflict: the server is at revision {rev}, this site was based on {base}"
            ));
        }
        0 => state
            .status
            .set("offline: the edits stay here and are pushed when the server is back".into()),
        _ => state.status.set(format!("push refused: {}", a.error())),
    }
}
