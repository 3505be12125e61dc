//! Site data: where the site comes from (demo, large generated site, imported snapshot,
//! server), snapshot import/export, the server connection and sync with conflict resolution.

use crate::store::{BaseKind, demo_engine, large_engine, perf_now, template_engine, use_store};
use crate::sync::{login, logout, pull, push, use_sync};
use crate::ui::{download, read_file};
use capstan_core::Engine;
use leptos::prelude::*;

/// The site data screen.
#[component]
pub fn SiteData() -> impl IntoView {
    let store = use_store();
    let sync = use_sync();
    let history = Memo::new(move |_| store.history());
    let counts = Memo::new(move |_| {
        store.with(|e| {
            (
                e.contexts().len(),
                e.users().len(),
                e.roles().len(),
                e.capabilities().len(),
                e.tenants().len(),
            )
        })
    });
    let export = move |_| {
        let text = store.export_json();
        if let Err(e) = download("capstan-site.json", "application/json", &text) {
            store.say(false, e);
        }
    };
    let import = move |ev: leptos::ev::Event| {
        read_file(&ev, move |name, text| match Engine::from_json(&text) {
            Ok(engine) => match store.replace_base(BaseKind::Imported, engine, Some(&text)) {
                Ok(()) => store.say(true, format!("imported {name}")),
                Err(m) => store.say(false, m),
            },
            Err(e) => {
                let detail = match &e {
                    capstan_core::LoadError::Invalid(issues) => issues
                        .iter()
                        .take(5)
                        .map(|i| format!("{} at {}: {}", i.code.as_str(), i.path, i.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                store.say(
                    false,
                    format!("{name} was not imported (error[{}]): {detail}", e.code()),
                );
            }
        });
    };
    let load_demo = move |_| {
        if confirm("Replace the site in this browser with the demo site? Unsynced edits are lost.")
        {
            let _ = store.replace_base(BaseKind::Demo, demo_engine(), None);
            store.say(true, "demo site loaded");
        }
    };
    let load_moodle = move |_| {
        if confirm(
            "Replace the site in this browser with a fresh Moodle 4.5 site (its 741 capabilities and standard roles with their real defaults)? Unsynced edits are lost.",
        ) {
            match template_engine("moodle-4.5") {
                Ok(e) => {
                    let _ = store.replace_base(
                        BaseKind::Template {
                            name: "moodle-4.5".into(),
                        },
                        e,
                        None,
                    );
                    store.say(true, "a fresh Moodle 4.5 site is loaded");
                }
                Err(m) => store.say(false, m),
            }
        }
    };
    let load_large = move |_| {
        if confirm(
            "Load the large generated site (100,000 contexts, 5,000 users)? Unsynced edits are lost.",
        ) {
            let t = perf_now();
            match large_engine() {
                Ok(e) => {
                    let _ = store.replace_base(BaseKind::Large, e, None);
                    store.say(
                        true,
                        format!(
                            "large site generated and compiled in {:.0} ms",
                            perf_now() - t
                        ),
                    );
                }
                Err(m) => store.say(false, m),
            }
        }
    };
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let totp = RwSignal::new(String::new());
    let keep_offline = RwSignal::new(false);
    let do_login = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = totp.get_untracked();
        leptos::task::spawn_local(login(
            store,
            sync,
            username.get_untracked(),
            password.get_untracked(),
            (!t.is_empty()).then_some(t),
        ));
        password.set(String::new());
        totp.set(String::new());
    };
    view! {
        <h1>"Site data"</h1>
        <p id="site-summary">
            {move || { let (c, u, r, k, t) = counts.get(); format!("{c} contexts, {u} users, {r} roles, {k} capabilities, {t} tenants") }}
            " — " {move || store.base.get().label()}
            {move || { let (n, _) = history.get(); format!(", {n} change(s) made in this browser since") }}
        </p>
        <p class="muted">"Everything lives in this browser (IndexedDB) and survives reloads; no server is needed."</p>
        <div class="actions">
            <button id="export-site" on:click=export>"Export snapshot JSON"</button>
            <label class="button file">"Import snapshot JSON…"<input type="file" accept=".json,application/json" id="import-site" on:change=import/></label>
            <button id="load-demo" on:click=load_demo>"Load the demo site"</button>
            <button id="load-moodle" on:click=load_moodle title="Moodle 4.5.6's capabilities, standard roles, allow matrices and settings, as a fresh install has them">"Start from Moodle 4.5 defaults"</button>
            <button id="load-large" on:click=load_large>"Load the large site"</button>
        </div>
        <h2>"Server"</h2>
        {move || match store.session.get() {
            None => view! {
                <form class="form" on:submit=do_login id="login-form">
                    <label for="login-username">"Username"</label>
                    <input id="login-username" bind:value=username autocomplete="username" required/>
                    <label for="login-password">"Password"</label>
                    <input id="login-password" type="password" bind:value=password autocomplete="current-password" required/>
                    <label for="login-totp">"One-time code (support staff)"</label>
                    <input id="login-totp" bind:value=totp inputmode="numeric" autocomplete="one-time-code"/>
                    <div class="form-actions"><button type="submit" class="primary" disabled=move || sync.busy.get()>"Sign in"</button></div>
                </form>
            }.into_any(),
            Some(s) => view! {
                <p>"Signed in as " <strong>{s.username.clone()}</strong> " until " {s.expires_at.clone()}</p>
                <div class="actions">
                    <button id="sync-push" on:click=move |_| leptos::task::spawn_local(push(store, sync)) disabled=move || sync.busy.get()>
                        {move || format!("Push {} change(s)", history.get().0)}
                    </button>
                    <button id="sync-pull" on:click=move |_| leptos::task::spawn_local(pull(store, sync, false)) disabled=move || sync.busy.get()>"Pull (replay my edits on top)"</button>
                    <button id="sign-out" on:click=move |_| leptos::task::spawn_local(logout(store, sync, keep_offline.get_untracked()))>"Sign out"</button>
                </div>
                <p>
                    <input type="checkbox" id="keep-offline" bind:checked=keep_offline/>
                    <label for="keep-offline">" Keep this site in this browser after signing out (to go on working offline)"</label>
                </p>
            }.into_any(),
        }}
        <p id="sync-status" role="status">{move || sync.status.get()}</p>
        {move || sync.conflict.get().map(|(rev, missed)| view! {
            <section class="conflict" id="conflict" role="alert">
                <h3>"Conflict: the server moved on to revision " {rev}</h3>
                <p>{missed.len()} " change(s) reached the server since this site was pulled (below: who made them and what they did). Nothing was merged. Choose:"</p>
                <ul class="compact">{missed.iter().take(20).map(|c| view! { <li>{store.with_untracked(|e| summary(e, c))}</li> }).collect_view()}</ul>
                <div class="actions">
                    <button id="conflict-rebase" on:click=move |_| leptos::task::spawn_local(pull(store, sync, false))>"Take theirs, then replay my edits on top"</button>
                    <button id="conflict-discard" class="danger" on:click=move |_| leptos::task::spawn_local(pull(store, sync, true))>"Take theirs and discard my edits"</button>
                </div>
            </section>
        })}
    }
}

/// A missed change for people: who, when, and each edit with names.
fn summary(e: &capstan_core::Engine, change: &capstan_api::Change) -> String {
    let who = match (&change.support_identifier, change.by) {
        (Some(id), _) => format!("support user {id}"),
        (None, Some(u)) => crate::ui::user_name(e, capstan_core::UserId(u)),
        (None, None) => "the server".to_string(),
    };
    let mut edits: Vec<String> = change
        .ops
        .iter()
        .take(5)
        .map(|op| crate::ui::describe_op(e, op))
        .collect();
    if change.ops.len() > 5 {
        edits.push(format!("and {} more", change.ops.len() - 5));
    }
    format!(
        "{who}, {} (revision {}): {}",
        change.at,
        change.revision,
        edits.join("; ")
    )
}

fn confirm(msg: &str) -> bool {
    window().confirm_with_message(msg).unwrap_or(false)
}
