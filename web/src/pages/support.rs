//! Support access (SEMANTICS.md §7): the "allow support user login" setting, and the support
//! users of the site with their status and expiry. With a server session: pending requests,
//! allow/deny, revoke and the support action log.

use crate::store::{now, use_store};
use crate::sync::request;
use crate::ui::{context_name, user_name};
use capstan_core::EditOp;
use capstan_core::snapshot::SettingsDoc;
use leptos::prelude::*;
use serde_json::{Value, json};

/// The support access screen.
#[component]
pub fn Support() -> impl IntoView {
    let store = use_store();
    let enabled = Memo::new(move |_| store.with(|e| e.settings().support_access));
    let support_users = Memo::new(move |_| {
        let at = now();
        store.with(|e| {
            e.users()
                .iter()
                .filter(|u| e.is_support_user(u.id))
                .map(|u| {
                    let grants: Vec<(String, Option<String>, bool)> = e
                        .assignments()
                        .into_iter()
                        .filter(|a| a.user == u.id && a.source == capstan_core::Source::Support)
                        .map(|a| {
                            (
                                context_name(e, a.context),
                                a.until.map(|t| t.to_string()),
                                a.is_active(at),
                            )
                        })
                        .collect();
                    (
                        user_name(e, u.id),
                        u.support_identifier.clone().unwrap_or_default(),
                        grants,
                    )
                })
                .collect::<Vec<_>>()
        })
    });
    let toggle = move |ev: leptos::ev::Event| {
        let v = event_target_checked(&ev);
        let mut doc = store.with_untracked(|e| SettingsDoc::from(e.settings()));
        doc.support_access = Some(v);
        let _ = store.apply(
            vec![EditOp::SetSettings { settings: doc }],
            if v {
                "support access allowed"
            } else {
                "support access turned off"
            },
        );
    };
    view! {
        <h1>"Support access"</h1>
        <label class="inline" for="support-access">
            <input type="checkbox" id="support-access" prop:checked=move || enabled.get() on:change=toggle/>
            "Allow support user login"
        </label>
        <p class="muted">"Off: every support user is refused (\"support access disabled\") and no grant can be made."</p>
        {move || store.session.get().map(|_| view! { <ServerSupport/> })}
        <h2>"Support users on this site"</h2>
        <table class="grid" id="support-users">
            <thead><tr><th scope="col">"Status"</th><th scope="col">"User"</th><th scope="col">"Identifier"</th><th scope="col">"Granted in"</th><th scope="col">"Expires"</th></tr></thead>
            <tbody>
                {move || support_users.get().into_iter().flat_map(|(name, ident, grants)| {
                    grants.into_iter().map(move |(ctx, until, active)| {
                        let on = active && enabled.get();
                        view! {
                            <tr>
                                <td><span class=if on { "dot green" } else { "dot red" } role="img" aria-label=if on { "active" } else { "inactive" }></span></td>
                                <td>{name.clone()}</td><td><code>{ident.clone()}</code></td><td>{ctx}</td><td>{until.unwrap_or_else(|| "never".into())}</td>
                            </tr>
                        }
                    }).collect::<Vec<_>>()
                }).collect_view()}
            </tbody>
        </table>
        {move || support_users.get().is_empty().then(|| view! { <p class="muted">"No support users. Grants are made on the server, from a support request."</p> })}
    }
}

/// Requests, grants and the support log from the server.
#[component]
fn ServerSupport() -> impl IntoView {
    let store = use_store();
    let token = move || store.session.get_untracked().map(|s| s.token);
    let requests = RwSignal::new(Value::Null);
    let grants = RwSignal::new(Value::Null);
    let log = RwSignal::new(Value::Null);
    let message = RwSignal::new(String::new());
    let days = RwSignal::new("1".to_string());
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        tick.get();
        leptos::task::spawn_local(async move {
            let t = token();
            let r = request(
                "GET",
                "/api/v1/support/requests?status=pending",
                t.as_deref(),
                None,
            )
            .await;
            requests.set(if r.status == 200 {
                r.json()
            } else {
                json!({"error": r.error()})
            });
            let g = request("GET", "/api/v1/support/grants", t.as_deref(), None).await;
            grants.set(if g.status == 200 {
                g.json()
            } else {
                json!({"error": g.error()})
            });
            let l = request(
                "GET",
                "/api/v1/audit?support=true&limit=50",
                t.as_deref(),
                None,
            )
            .await;
            log.set(if l.status == 200 {
                l.json()
            } else {
                json!({"error": l.error()})
            });
        });
    });
    let act = move |path: String, body: Value, what: &'static str| {
        leptos::task::spawn_local(async move {
            let a = request("POST", &path, token().as_deref(), Some(&body)).await;
            message.set(if (200..300).contains(&a.status) {
                what.to_string()
            } else {
                a.error()
            });
            tick.update(|t| *t += 1);
        });
    };
    let items = |v: &Value, key: &str| -> Vec<Value> {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| v.as_array().cloned())
            .unwrap_or_default()
    };
    view! {
        <p role="status" id="support-message">{move || message.get()}</p>
        <h2>"Pending requests"</h2>
        {move || {
            let list = items(&requests.get(), "requests");
            if list.is_empty() {
                return view! { <p class="muted">{requests.get().get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| "No pending requests.".into())}</p> }.into_any();
            }
            view! {
                <div class="banner" role="alert">{list.len()} " support request(s) waiting"</div>
                <label for="grant-days">"Duration (days, at most 30)"</label>
                <input id="grant-days" type="number" min="1" max="30" bind:value=days/>
                <ul class="requests">
                    {list.into_iter().map(|r| {
                        let id = r.get("id").and_then(Value::as_u64).unwrap_or(0);
                        let reason = r.get("reason").and_then(Value::as_str).unwrap_or("").to_string();
                        let scope = r.get("scope").cloned().unwrap_or(Value::Null);
                        let scope2 = scope.clone();
                        view! {
                            <li>
                                <strong>"Request " {id}</strong> ": " {reason} " — scope " <code>{scope.to_string()}</code>
                                <button on:click=move |_| {
                                    let d: u64 = days.get_untracked().parse().unwrap_or(1);
                                    act(format!("/api/v1/support/requests/{id}/allow"), json!({"scope": scope2.clone(), "duration_days": d}), "allowed");
                                }>"Allow"</button>
                                <button class="danger" on:click=move |_| act(format!("/api/v1/support/requests/{id}/deny"), json!({}), "denied")>"Deny"</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
        <h2>"Grants"</h2>
        <table class="grid" id="support-grants">
            <thead><tr><th scope="col">"Status"</th><th scope="col">"Identifier"</th><th scope="col">"Scope"</th><th scope="col">"Expires"</th><th scope="col"></th></tr></thead>
            <tbody>
                {move || items(&grants.get(), "grants").into_iter().map(|g| {
                    let id = g.get("id").and_then(Value::as_u64).unwrap_or(0);
                    let active = g.get("status").and_then(Value::as_str) == Some("active");
                    view! {
                        <tr>
                            <td><span class=if active { "dot green" } else { "dot red" } role="img" aria-label=if active { "active" } else { "ended" }></span></td>
                            <td><code>{g.get("identifier").and_then(Value::as_str).unwrap_or("").to_string()}</code></td>
                            <td><code>{g.get("scope").map(Value::to_string).unwrap_or_default()}</code></td>
                            <td>{g.get("expires_at").and_then(Value::as_str).unwrap_or("").to_string()}</td>
                            <td>{active.then(|| view! { <button class="danger" on:click=move |_| act(format!("/api/v1/support/grants/{id}/revoke"), json!({}), "revoked")>"Revoke"</button> })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <h2>"Support action log"</h2>
        <ul class="compact" id="support-log">
            {move || items(&log.get(), "entries").into_iter().map(|e| view! {
                <li>
                    {e.get("at").and_then(Value::as_str).unwrap_or("").to_string()} " "
                    <code>{e.get("support_identifier").and_then(Value::as_str).unwrap_or("").to_string()}</code> " "
                    {e.get("action").and_then(Value::as_str).unwrap_or("").to_string()}
                </li>
            }).collect_view()}
        </ul>
    }
}
