//! The site as the app holds it: a compiled [`Engine`], the base it was built from, the journal
//! of edits since (each a batch of [`EditOp`]s, applied incrementally), undo/redo, and browser
//! storage so that everything survives a reload with no server.
//!
//! Storage holds the base (the demo and the large site are regenerated from their seed; an
//! imported or server snapshot is stored as text), for a server's site the batches the server
//! accepted since that text (so that a push or a pull stores its edits, not the site), and the
//! journal. A reload rebuilds the base and replays the journal, which is also what undo does.
//!
//! A server session's token is kept in the tab's session storage, never in local storage:
//! it ends with the tab, and another page of the origin reading local storage finds none.

use capstan_core::generate::{GenerateOptions, generate};
use capstan_core::{EditOp, Engine, Timestamp, UserId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

const STATE_KEY: &str = "capstan.state.v1";
const BASE_KEY: &str = "capstan.base.v1";
const SESSION_KEY: &str = "capstan.session.v1";

/// Where the site at the bottom of the journal came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BaseKind {
    /// The built-in demo site.
    Demo,
    /// The large generated site (performance).
    Large,
    /// A site from a core template (`moodle-4.5`: Moodle's real defaults), rebuilt from it.
    Template {
        /// The template's name.
        name: String,
    },
    /// A snapshot the admin imported (text in storage).
    Imported,
    /// The server's site at a revision (text in storage).
    Server {
        /// The server revision of the base.
        revision: u64,
    },
}

impl BaseKind {
    /// For people.
    pub fn label(&self) -> String {
        match self {
            BaseKind::Demo => "demo site".into(),
            BaseKind::Large => "large generated site".into(),
            BaseKind::Template { name } if name == "moodle-4.5" => "Moodle 4.5 defaults".into(),
            BaseKind::Template { name } => format!("template {name}"),
            BaseKind::Imported => "imported snapshot".into(),
            BaseKind::Server { revision } => format!("server, revision {revision}"),
        }
    }
}

/// A session with a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// Who.
    pub username: String,
    /// The user id on the server.
    pub user: u32,
    /// When the token ends (RFC 3339).
    pub expires_at: String,
    /// A support staff session (signed in with a one-time code).
    #[serde(default)]
    pub staff: bool,
    /// Whether the session reads the whole site (then pulls apply the server's changes to the
    /// site held here; a cut of the site is downloaded again instead).
    #[serde(default)]
    pub whole_site: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    base: Option<BaseKind>,
    /// For a server's site: the batches accepted after the stored text, oldest first.
    #[serde(default)]
    server_batches: Vec<Vec<EditOp>>,
    /// A push whose answer never came: sent again with the same key.
    #[serde(default)]
    pending: Option<PendingPush>,
    /// The IndexedDB key of the stored snapshot's text (`base:<tag>`): a new text is written
    /// under a new tag and this state switches to it in one write.
    #[serde(default)]
    base_tag: Option<String>,
    journal: Vec<Vec<EditOp>>,
    redo: Vec<Vec<EditOp>>,
    actor: Option<u32>,
    // Older versions wrote the session here; serde drops it and the next save forgets it.
    lang: Option<String>,
}

/// A push in flight (or whose answer was lost): its key, the revision it was based on and
/// how many journal batches it carried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPush {
    /// The batch's idempotency key.
    pub batch_id: String,
    /// Its base revision.
    pub base: u64,
    /// The journal batches it holds (the first `count`).
    pub count: usize,
    /// Their edits, as sent.
    pub ops: Vec<EditOp>,
}

/// Server batches stored on top of the base text before the text is rewritten.
const MAX_SERVER_BATCHES: usize = 500;

/// A message for the admin after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Success or failure.
    pub ok: bool,
    /// The text.
    pub text: String,
}

/// The app state, shared through context. Copy: every field is an arena handle.
#[derive(Clone, Copy)]
pub struct Store {
    engine: StoredValue<Engine>,
    base_engine: StoredValue<Engine>,
    /// Bumped on every change of the engine: reading it makes a view depend on the site.
    pub rev: RwSignal<u64>,
    /// Bumped only when the structure changes (roles, users, contexts, capabilities, tenants):
    /// pickers and lists that do not show permissions depend on this one.
    pub structure_rev: RwSignal<u64>,
    journal: StoredValue<Vec<Vec<EditOp>>>,
    redo: StoredValue<Vec<Vec<EditOp>>>,
    /// What the journal is built on.
    pub base: RwSignal<BaseKind>,
    /// The user whose rights the can_* rules of the screens use ("acting as").
    pub actor: RwSignal<u32>,
    /// The last message.
    pub notice: RwSignal<Option<Notice>>,
    /// `performance.now()` when the last edit was applied (for the live-preview timing).
    pub last_edit_at: RwSignal<f64>,
    /// The server session, when signed in.
    pub session: RwSignal<Option<Session>>,
    /// Display language for multilang names.
    pub lang: RwSignal<String>,
    server_batches: StoredValue<Vec<Vec<EditOp>>>,
    /// The push in flight or unanswered, if any.
    pub pending: RwSignal<Option<PendingPush>>,
    /// Whether the stored site is still being read (from IndexedDB) at start.
    pub loading: RwSignal<bool>,
    base_tag: StoredValue<Option<String>>,
    /// Snapshot texts being written: the state is saved once they are in.
    writing: StoredValue<u32>,
}

/// The current instant, from the browser clock.
pub fn now() -> Timestamp {
    Timestamp::from_unix_millis(js_sys::Date::now() as i64)
}

/// `performance.now()`, or 0 when unavailable.
pub fn perf_now() -> f64 {
    window().performance().map(|p| p.now()).unwrap_or(0.0)
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn session_storage() -> Option<web_sys::Storage> {
    window().session_storage().ok().flatten()
}

/// The session of this tab, from session storage.
fn saved_session() -> Option<Session> {
    session_storage()
        .and_then(|s| s.get_item(SESSION_KEY).ok().flatten())
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// A site from a core template (`moodle-4.5`), compiled.
pub fn template_engine(name: &str) -> Result<Engine, String> {
    let site = capstan_core::moodle::template(name).map_err(|e| e.to_string())?;
    Engine::from_site(site).map_err(|e| format!("{}: {e}", e.code()))
}

/// The demo site, compiled.
pub fn demo_engine() -> Engine {
    // The demo site is valid by construction (a core test checks it).
    Engine::from_site(capstan_core::demo::demo_site()).unwrap_or_else(|_| Engine::minimal())
}

/// The large generated site, compiled.
pub fn large_engine() -> Result<Engine, String> {
    Engine::from_site(generate(&GenerateOptions::large())).map_err(|e| e.to_string())
}

/// The stored snapshot's text: from IndexedDB under its tag, or from local storage where
/// older versions kept it.
async fn base_text(tag: Option<&str>) -> Result<Option<String>, String> {
    if let Some(tag) = tag {
        return crate::idb::get(&format!("base:{tag}")).await;
    }
    Ok(storage().and_then(|s| s.get_item(BASE_KEY).ok().flatten()))
}

/// Writes the base snapshot's text under a new tag in the background; once it is in, `then`
/// runs, the state switches to the new tag in one save, and the old text goes. Until then the
/// saved state stays the previous one, so that a reload in between finds a whole site.
fn store_base_text(store: Store, text: String, then: impl FnOnce(&Store) + 'static) {
    store.writing.update_value(|w| *w += 1);
    leptos::task::spawn_local(async move {
        let tag = crate::sync::random_hex(8);
        let put = crate::idb::put(&format!("base:{tag}"), Some(&text)).await;
        store.writing.update_value(|w| *w = w.saturating_sub(1));
        match put {
            Ok(()) => {
                let old = store
                    .base_tag
                    .try_update_value(|t| t.replace(tag))
                    .flatten();
                then(&store);
                store.save();
                if let Some(old) = old {
                    let _ = crate::idb::put(&format!("base:{old}"), None).await;
                }
                if let Some(s) = storage() {
                    let _ = s.remove_item(BASE_KEY);
                }
            }
            Err(m) => store.say(false, format!("{m}: the site will not survive a reload")),
        }
    });
}

fn build_base(
    kind: &BaseKind,
    server_batches: &[Vec<EditOp>],
    text: Option<&str>,
) -> Result<Engine, String> {
    match kind {
        BaseKind::Demo => Ok(demo_engine()),
        BaseKind::Large => large_engine(),
        BaseKind::Template { name } => template_engine(name),
        BaseKind::Imported | BaseKind::Server { .. } => {
            let text = text.ok_or_else(|| "the stored snapshot is missing".to_string())?;
            let mut e = Engine::from_json(text).map_err(|e| format!("{}: {e}", e.code()))?;
            // Accepted by the server on this very text: replayed in place (on error the engine
            // is dropped).
            for (i, batch) in server_batches.iter().enumerate() {
                e.replay_batch(batch).map_err(|(_, err)| {
                    format!("stored server change {} no longer applies: {err}", i + 1)
                })?;
            }
            Ok(e)
        }
    }
}

impl Store {
    /// Loads the saved state (or the demo site on a first start) and replays the journal. A
    /// stored snapshot (imported, or a server's site) is read from IndexedDB: until it is
    /// there, [`Store::loading`] is set and the screens wait.
    pub fn load() -> Store {
        let saved: Saved = storage()
            .and_then(|s| s.get_item(STATE_KEY).ok().flatten())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let stored = matches!(
            saved.base,
            Some(BaseKind::Imported | BaseKind::Server { .. })
        );
        let store = Store {
            engine: StoredValue::new(Engine::minimal()),
            base_engine: StoredValue::new(Engine::minimal()),
            rev: RwSignal::new(1),
            structure_rev: RwSignal::new(1),
            journal: StoredValue::new(Vec::new()),
            redo: StoredValue::new(Vec::new()),
            base: RwSignal::new(BaseKind::Demo),
            actor: RwSignal::new(0),
            notice: RwSignal::new(None),
            last_edit_at: RwSignal::new(0.0),
            session: RwSignal::new(saved_session()),
            lang: RwSignal::new(saved.lang.clone().unwrap_or_else(|| "en".into())),
            server_batches: StoredValue::new(Vec::new()),
            pending: RwSignal::new(None),
            loading: RwSignal::new(stored),
            base_tag: StoredValue::new(saved.base_tag.clone()),
            writing: StoredValue::new(0),
        };
        if stored {
            leptos::task::spawn_local(async move {
                let text = base_text(saved.base_tag.as_deref()).await;
                store.restore(saved, text);
            });
        } else {
            store.restore(saved, Ok(None));
        }
        store
    }

    /// Builds the saved state on its base (`text`: the stored snapshot's, when it has one).
    fn restore(&self, saved: Saved, text: Result<Option<String>, String>) {
        let mut notice = None;
        let mut server_batches = saved.server_batches.clone();
        let built = saved.base.clone().map(|k| {
            let b = text
                .clone()
                .and_then(|t| build_base(&k, &saved.server_batches, t.as_deref()));
            (b, k)
        });
        let (kind, base) = match built {
            Some((Ok(e), k)) => (k, e),
            Some((Err(msg), k)) => {
                notice = Some(Notice {
                    ok: false,
                    text: format!(
                        "could not restore the {}: {msg}; the demo site is loaded",
                        k.label()
                    ),
                });
                server_batches.clear();
                (BaseKind::Demo, demo_engine())
            }
            None => (BaseKind::Demo, demo_engine()),
        };
        let mut engine = base.clone();
        let mut journal = Vec::new();
        if notice.is_none() {
            for (i, batch) in saved.journal.into_iter().enumerate() {
                if let Err((_, e)) = engine.apply_all(batch.clone()) {
                    notice = Some(Notice {
                        ok: false,
                        text: format!(
                            "stored edit {} no longer applies ({}: {e}); later edits were dropped",
                            i + 1,
                            e.code()
                        ),
                    });
                    break;
                }
                journal.push(batch);
            }
        }
        let actor = saved
            .actor
            .filter(|a| engine.user(UserId(*a)).is_some())
            .or_else(|| engine.settings().site_admins.first().map(|u| u.0))
            .unwrap_or(0);
        let redo = if notice.is_none() {
            saved.redo
        } else {
            Vec::new()
        };
        self.engine.set_value(engine);
        self.base_engine.set_value(base);
        self.journal.set_value(journal);
        self.redo.set_value(redo);
        self.server_batches.set_value(server_batches);
        self.pending.set(saved.pending);
        self.base.set(kind);
        self.actor.set(actor);
        if notice.is_some() {
            self.notice.set(notice);
        }
        self.loading.set(false);
        self.structure_rev.update(|r| *r += 1);
        self.rev.update(|r| *r += 1);
        self.save();
    }

    /// Reads the engine, and makes the caller depend on every change of the site.
    pub fn with<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        self.rev.track();
        self.engine.with_value(f)
    }

    /// Reads the engine, depending only on structural changes (not permissions, assignments,
    /// switches or settings).
    pub fn with_structure<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        self.structure_rev.track();
        self.engine.with_value(f)
    }

    /// Reads the engine without tracking.
    pub fn with_untracked<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        self.engine.with_value(f)
    }

    /// Applies a batch of edits, all or nothing. A refused batch changes nothing and its error
    /// (with its stable code) is shown and returned.
    pub fn apply(&self, ops: Vec<EditOp>, what: &str) -> Result<(), String> {
        if let Some(user) = self.engine.with_value(Engine::bundle_user) {
            let text = format!(
                "{what} refused: this site is a permission bundle, the slice of a site cut for \
                 user {user}; it answers that user's questions but cannot be edited. Open the \
                 whole site (from its server or a full snapshot) to edit. (error[out_of_bundle])"
            );
            self.notice.set(Some(Notice {
                ok: false,
                text: text.clone(),
            }));
            return Err(text);
        }
        let result = self
            .engine
            .try_update_value(|e| e.apply_all(ops.clone()))
            .unwrap_or(Err((0, capstan_core::EditError::NotFound("site".into()))));
        match result {
            Ok(()) => {
                let structural = ops.iter().any(|op| {
                    !matches!(
                        op,
                        EditOp::SetPermission { .. }
                            | EditOp::Assign { .. }
                            | EditOp::Unassign { .. }
                            | EditOp::AddSwitch { .. }
                            | EditOp::RemoveSwitch { .. }
                            | EditOp::SetSettings { .. }
                    )
                });
                if structural {
                    self.structure_rev.update(|r| *r += 1);
                }
                self.journal.update_value(|j| j.push(ops));
                self.redo.update_value(Vec::clear);
                self.changed(Some(what.to_string()));
                Ok(())
            }
            Err((i, e)) => {
                let text = format!(
                    "{what} refused: {} (error[{}], edit {})",
                    e,
                    e.code(),
                    i + 1
                );
                self.notice.set(Some(Notice {
                    ok: false,
                    text: text.clone(),
                }));
                Err(text)
            }
        }
    }

    fn changed(&self, what: Option<String>) {
        self.last_edit_at.set(perf_now());
        self.rev.update(|r| *r += 1);
        if let Some(w) = what {
            self.notice.set(Some(Notice { ok: true, text: w }));
        }
        self.save();
    }

    /// How many batches can be undone and redone.
    pub fn history(&self) -> (usize, usize) {
        self.rev.track();
        (
            self.journal.with_value(Vec::len),
            self.redo.with_value(Vec::len),
        )
    }

    /// The journal since the base (the edits not yet synced when the base is a server).
    pub fn journal(&self) -> Vec<Vec<EditOp>> {
        self.rev.track();
        self.journal.get_value()
    }

    /// Undoes the last batch: the base is rebuilt and the rest of the journal replayed.
    pub fn undo(&self) {
        let Some(last) = self.journal.try_update_value(Vec::pop).flatten() else {
            return;
        };
        self.redo.update_value(|r| r.push(last));
        self.replay();
        self.structure_rev.update(|r| *r += 1);
        self.changed(Some("undone".into()));
    }

    /// Redoes the last undone batch.
    pub fn redo(&self) {
        let Some(batch) = self.redo.try_update_value(Vec::pop).flatten() else {
            return;
        };
        let redo_rest = self.redo.get_value();
        if self.apply(batch, "redone").is_ok() {
            self.redo.set_value(redo_rest);
            self.save();
        }
    }

    fn replay(&self) {
        let mut engine = self.base_engine.get_value();
        let mut kept = Vec::new();
        for batch in self.journal.get_value() {
            if engine.apply_all(batch.clone()).is_ok() {
                kept.push(batch);
            }
        }
        self.journal.set_value(kept);
        self.engine.set_value(engine);
    }

    /// Starts over from a new base; the journal and redo list are cleared.
    pub fn replace_base(
        &self,
        kind: BaseKind,
        engine: Engine,
        text: Option<&str>,
    ) -> Result<(), String> {
        if let Some(text) = text {
            store_base_text(*self, text.to_string(), |_| {});
        }
        let actor = engine
            .settings()
            .site_admins
            .first()
            .map(|u| u.0)
            .unwrap_or(0);
        self.base_engine.set_value(engine.clone());
        self.engine.set_value(engine);
        self.server_batches.set_value(Vec::new());
        self.pending.set(None);
        self.journal.set_value(Vec::new());
        self.redo.set_value(Vec::new());
        self.base.set(kind);
        self.actor.set(actor);
        self.structure_rev.update(|r| *r += 1);
        self.changed(None);
        Ok(())
    }

    /// Moves a server base forward to `revision` by the server's `batches` (each as the
    /// server accepted it), without downloading the site. The first `pushed` journal batches
    /// leave the journal (this browser's push the server accepted, or every batch when local
    /// edits are dropped); the rest is replayed on top. Returns how many journal batches no
    /// longer applied (dropped), or `Err` when a server batch does not apply to the base: then
    /// the base may be part-way, so it is no longer taken for the server's revision (the next
    /// pull downloads the whole site) and the journal and the engine on screen are untouched.
    pub fn advance_base(
        &self,
        revision: u64,
        batches: Vec<Vec<EditOp>>,
        pushed: usize,
    ) -> Result<usize, String> {
        // The server applied these to this very base: replay them in place (the cost is the
        // edits'). Should one not apply after all, the base is rebuilt by the caller's full pull.
        let moved = self
            .base_engine
            .try_update_value(|base| {
                for (i, b) in batches.iter().enumerate() {
                    base.replay_batch(b).map_err(|(_, e)| {
                        format!("server change {} does not apply here: {e}", i + 1)
                    })?;
                }
                Ok::<(), String>(())
            })
            .unwrap_or(Err("the site is gone".into()));
        if let Err(m) = moved {
            self.base.set(BaseKind::Imported);
            return Err(m);
        }
        let journal = self.journal.get_value();
        let pushed = pushed.min(journal.len());
        let rest: Vec<Vec<EditOp>> = journal.iter().skip(pushed).cloned().collect();
        let own = pushed > 0
            && journal
                .iter()
                .take(pushed)
                .flatten()
                .eq(batches.iter().flatten());
        let mut dropped = 0;
        if own {
            // Our own push: the new base and the rest of the journal make the engine we have.
            self.journal.set_value(rest);
        } else if rest.is_empty() {
            // No local edits left: the engine is the base, moved the same way (or copied, when
            // local edits were dropped).
            let applied = pushed == 0
                && self
                    .engine
                    .try_update_value(|e| batches.iter().try_for_each(|b| e.replay_batch(b)))
                    .is_some_and(|r| r.is_ok());
            if !applied {
                self.engine.set_value(self.base_engine.get_value());
            }
            self.journal.set_value(Vec::new());
        } else {
            // Others' changes under local edits: the edits are replayed on the new base.
            let mut engine = self.base_engine.get_value();
            let mut kept = Vec::new();
            for batch in rest {
                if engine.apply_all(batch.clone()).is_ok() {
                    kept.push(batch);
                } else {
                    dropped += 1;
                }
            }
            self.engine.set_value(engine);
            self.journal.set_value(kept);
        }
        let structural = batches.iter().flatten().any(EditOp::is_structural);
        self.server_batches.update_value(|s| s.extend(batches));
        if self.server_batches.with_value(Vec::len) > MAX_SERVER_BATCHES {
            // Rewrite the stored text now and then, so that a reload replays little.
            let k = self.server_batches.with_value(Vec::len);
            let text = self.base_engine.with_value(Engine::to_json);
            store_base_text(*self, text, move |s| {
                s.server_batches.update_value(|b| {
                    b.drain(..k.min(b.len()));
                });
            });
        }
        self.base.set(BaseKind::Server { revision });
        if structural {
            self.structure_rev.update(|r| *r += 1);
        }
        self.changed(None);
        Ok(dropped)
    }

    /// Remembers (or forgets) the push in flight, durably.
    pub fn set_pending(&self, pending: Option<PendingPush>) {
        self.pending.set(pending);
        self.save();
    }

    /// Forgets the site this browser holds (its stored snapshot and journal) and starts again
    /// from the demo site: what signing out of a server does unless the admin keeps the site.
    pub fn forget_site(&self) {
        if let Some(s) = storage() {
            let _ = s.remove_item(BASE_KEY);
        }
        if let Some(tag) = self.base_tag.try_update_value(Option::take).flatten() {
            leptos::task::spawn_local(async move {
                let _ = crate::idb::put(&format!("base:{tag}"), None).await;
            });
        }
        let _ = self.replace_base(BaseKind::Demo, demo_engine(), None);
        self.save();
    }

    /// The current site as `capstan/1` JSON.
    pub fn export_json(&self) -> String {
        self.engine.with_value(Engine::to_json)
    }

    /// Writes the state to browser storage (not while the stored site is still being read).
    pub fn save(&self) {
        if self.loading.get_untracked() || self.writing.get_value() > 0 {
            return;
        }
        let saved = Saved {
            base_tag: self.base_tag.get_value(),
            base: Some(self.base.get_untracked()),
            server_batches: self.server_batches.get_value(),
            pending: self.pending.get_untracked(),
            journal: self.journal.get_value(),
            redo: self.redo.get_value(),
            actor: Some(self.actor.get_untracked()),
            lang: Some(self.lang.get_untracked()),
        };
        if let Some(s) = session_storage() {
            let _ = match self.session.get_untracked() {
                Some(session) => serde_json::to_string(&session)
                    .map_err(|_| ())
                    .and_then(|t| s.set_item(SESSION_KEY, &t).map_err(|_| ())),
                None => s.remove_item(SESSION_KEY).map_err(|_| ()),
            };
        }
        let ok = serde_json::to_string(&saved)
            .ok()
            .and_then(|t| storage().map(|s| s.set_item(STATE_KEY, &t).is_ok()))
            .unwrap_or(false);
        if !ok {
            self.notice.set(Some(Notice {
                ok: false,
                text: "browser storage refused the edits: they will not survive a reload".into(),
            }));
        }
    }

    /// Shows a message.
    pub fn say(&self, ok: bool, text: impl Into<String>) {
        self.notice.set(Some(Notice {
            ok,
            text: text.into(),
        }));
    }
}

/// The store from context.
pub fn use_store() -> Store {
    expect_context::<Store>()
}
