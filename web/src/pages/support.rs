//! Support access (SEMANTICS.md §7): the "allow support user login" setting, and the support
//! users of the site with their status and expiry. With a server session: pending requests,
//! allow/deny, revoke and the support action log.

use crate::store::{now, use_store};
use crate::sync::{request, send};
use crate::ui::{context_name, user_name};
use capstan_api::{
    AllowRequest, AuditEntry, AuditPage, DenyRequest, GrantStatus, NewStaff, NewSupportRequest,
    StaffAccount, StaffCreated, SupportGrant, SupportRequest, SupportScope, TotpReset, paths,
};
use capstan_core::EditOp;
use capstan_core::snapshot::SettingsDoc;
use leptos::prelude::*;

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
        {move || store.session.get().map(|s| if s.staff {
            view! { <StaffRequest/> <ServerSupport/> }.into_any()
        } else {
            view! { <ServerSupport/> }.into_any()
        })}
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

/// The tenants of the site as the app holds it: `(id, name)`.
fn tenant_list(store: crate::store::Store) -> Memo<Vec<(u32, String)>> {
    Memo::new(move |_| {
        store.structure_rev.get();
        store.with_untracked(|e| {
            e.tenants()
                .iter()
                .map(|t| {
                    (
                        t.id.0,
                        t.name
                            .clone()
                            .unwrap_or_else(|| format!("tenant {}", t.id.0)),
                    )
                })
                .collect::<Vec<_>>()
        })
    })
}

/// Where support access reaches: the top-level site and/or tenants, as checkboxes.
#[component]
fn ScopePicker(
    /// The top-level site is in the scope.
    site: RwSignal<bool>,
    /// The tenants in the scope.
    tenants: RwSignal<Vec<u32>>,
    /// A prefix for the controls' ids (unique on the page).
    #[prop(into)]
    prefix: String,
) -> impl IntoView {
    let store = use_store();
    let all = tenant_list(store);
    let site_id = format!("{prefix}-site");
    view! {
        <fieldset class="scope">
            <legend>"Scope"</legend>
            <label class="inline"><input type="checkbox" id=site_id prop:checked=move || site.get() on:change=move |ev| site.set(event_target_checked(&ev))/>"Top-level site"</label>
            {move || all.get().into_iter().map(|(id, name)| {
                let input = format!("{prefix}-tenant-{id}");
                view! {
                    <label class="inline"><input type="checkbox" id=input class="scope-tenant"
                        prop:checked=move || tenants.with(|t| t.contains(&id))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            tenants.update(|t| { t.retain(|x| *x != id); if on { t.push(id); } });
                        }/>{name}</label>
                }
            }).collect_view()}
        </fieldset>
    }
}

/// Support staff ask for access: a reason and the scope wanted.
#[component]
fn StaffRequest() -> impl IntoView {
    let store = use_store();
    let reason = RwSignal::new(String::new());
    let site = RwSignal::new(true);
    let tenants = RwSignal::new(Vec::<u32>::new());
    let message = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = NewSupportRequest {
            reason: reason.get_untracked(),
            scope: SupportScope {
                site: site.get_untracked(),
                tenants: tenants.get_untracked(),
            },
        };
        let token = store.session.get_untracked().map(|s| s.token);
        leptos::task::spawn_local(async move {
            let a = request(
                "POST",
                paths::SUPPORT_REQUESTS,
                token.as_deref(),
                Some(&body),
            )
            .await;
            message.set(if a.ok() {
                "asked: a top-level admin will decide".into()
            } else {
                a.error()
            });
            if a.ok() {
                reason.set(String::new());
            }
        });
    };
    view! {
        <h2>"Ask for support access"</h2>
        <form class="form" id="support-request-form" on:submit=submit>
            <label for="support-reason">"Reason"</label>
            <textarea id="support-reason" required maxlength="2000" prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))></textarea>
            <ScopePicker site=site tenants=tenants prefix="support-scope"/>
            <div class="form-actions"><button type="submit" class="primary">"Ask"</button></div>
        </form>
        <p role="status" id="support-request-message">{move || message.get()}</p>
    }
}

/// One pending request: who asks, why, for what; the admin may narrow or widen the scope
/// before allowing it.
#[component]
fn PendingRequest(
    /// The request.
    request: SupportRequest,
    /// The duration field (days).
    days: RwSignal<String>,
    /// The role field (empty: the default manager role).
    role: RwSignal<String>,
    /// Posts to a path and reports.
    act: impl Fn(String, serde_json::Value, &'static str) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let store = use_store();
    let all = tenant_list(store);
    let site = RwSignal::new(request.scope.site);
    let tenants = RwSignal::new(request.scope.tenants.clone());
    let id = request.id;
    let asked = move || {
        let names = all.get();
        let mut parts: Vec<String> = Vec::new();
        if request.scope.site {
            parts.push("top-level site".into());
        }
        parts.extend(request.scope.tenants.iter().map(|t| {
            names
                .iter()
                .find(|x| x.0 == *t)
                .map(|x| x.1.clone())
                .unwrap_or_else(|| format!("tenant {t}"))
        }));
        parts.join(", ")
    };
    view! {
        <li class="request" data-request=id.to_string()>
            <p><strong>{request.staff_username.clone()}</strong> " asks for " {asked} ": " {request.reason.clone()}
               " (" {request.created_at.to_string()} ")"</p>
            <ScopePicker site=site tenants=tenants prefix=format!("allow-{id}")/>
            <button class="allow-request primary" on:click=move |_| {
                let d: u32 = days.get_untracked().trim().parse().unwrap_or(1);
                let role: Option<u32> = role.get_untracked().parse().ok();
                let body = AllowRequest {
                    scope: Some(SupportScope { site: site.get_untracked(), tenants: tenants.get_untracked() }),
                    duration_days: Some(d),
                    role,
                };
                act(paths::with_id(paths::SUPPORT_ALLOW, id), serde_json::to_value(body).unwrap_or_default(), "allowed: the temporary support user is active");
            }>"Allow"</button>
            " "
            <button class="danger deny-request" on:click=move |_| act(paths::with_id(paths::SUPPORT_DENY, id), serde_json::to_value(DenyRequest::default()).unwrap_or_default(), "denied")>"Deny"</button>
        </li>
    }
}

/// A list from the server, or the error that kept it away.
type Loaded<T> = Result<Vec<T>, String>;

async fn load<T: serde::de::DeserializeOwned>(path: &str, token: Option<&str>) -> Loaded<T> {
    let a = send("GET", path, token, None).await;
    if a.ok() { a.read() } else { Err(a.error()) }
}

fn scope_text(s: &SupportScope, tenant_name: &dyn Fn(u32) -> String) -> String {
    let mut parts: Vec<String> = Vec::new();
    if s.site {
        parts.push("top-level site".into());
    }
    parts.extend(s.tenants.iter().map(|t| tenant_name(*t)));
    parts.join(", ")
}

/// Requests, grants, staff accounts and the support log from the server.
#[component]
fn ServerSupport() -> impl IntoView {
    let store = use_store();
    let token = move || store.session.get_untracked().map(|s| s.token);
    let sync = crate::sync::use_sync();
    let requests = RwSignal::new(Loaded::<SupportRequest>::Ok(Vec::new()));
    let grants = RwSignal::new(Loaded::<SupportGrant>::Ok(Vec::new()));
    let log = RwSignal::new(Loaded::<AuditEntry>::Ok(Vec::new()));
    let message = RwSignal::new(String::new());
    let days = RwSignal::new("1".to_string());
    let role = RwSignal::new(String::new());
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        tick.get();
        leptos::task::spawn_local(async move {
            let t = token();
            requests.set(
                load(
                    &format!("{}?status=pending", paths::SUPPORT_REQUESTS),
                    t.as_deref(),
                )
                .await,
            );
            grants.set(load(paths::SUPPORT_GRANTS, t.as_deref()).await);
            let a = send(
                "GET",
                &format!("{}?support=true&limit=100", paths::AUDIT),
                t.as_deref(),
                None,
            )
            .await;
            log.set(if a.ok() {
                a.read::<AuditPage>().map(|p| p.entries)
            } else {
                Err(a.error())
            });
        });
    });
    let act = move |path: String, body: serde_json::Value, what: &'static str| {
        leptos::task::spawn_local(async move {
            let a = request("POST", &path, token().as_deref(), Some(&body)).await;
            message.set(if a.ok() { what.to_string() } else { a.error() });
            if a.ok() {
                // Grants and revokes change the site (the temporary user): take it in,
                // replaying any local edits on top.
                crate::sync::pull(store, sync, false).await;
            }
            tick.update(|t| *t += 1);
        });
    };
    let tenant_name = move |id: u32| {
        store.with_untracked(|e| {
            e.tenants()
                .iter()
                .find(|t| t.id.0 == id)
                .and_then(|t| t.name.clone())
                .unwrap_or_else(|| format!("tenant {id}"))
        })
    };
    let roles = Memo::new(move |_| {
        store.structure_rev.get();
        store.with_untracked(|e| {
            e.roles()
                .iter()
                .map(|r| (r.id.0, r.shortname.clone()))
                .collect::<Vec<_>>()
        })
    });
    view! {
        <p role="status" id="support-message">{move || message.get()}</p>
        <button id="support-refresh" on:click=move |_| tick.update(|t| *t += 1)>"Refresh from the server"</button>
        <h2>"Pending requests"</h2>
        {move || match requests.get() {
            Err(m) => view! { <p class="muted">{m}</p> }.into_any(),
            Ok(list) if list.is_empty() => view! { <p class="muted">"No pending requests."</p> }.into_any(),
            Ok(list) => view! {
                <div class="banner" role="alert" id="support-pending">{list.len()} " support request(s) waiting for a top-level admin"</div>
                <div class="form inline">
                    <label for="grant-days">"Duration (days, 1 to 30)"</label>
                    <input id="grant-days" type="number" min="1" max="30" bind:value=days/>
                    <label for="grant-role">"Role"</label>
                    <select id="grant-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        <option value="">"Manager (default)"</option>
                        {move || roles.get().into_iter().map(|(id, name)| view! { <option value=id.to_string()>{name}</option> }).collect_view()}
                    </select>
                </div>
                <ul class="requests">
                    {list.into_iter().map(|r| view! { <PendingRequest request=r days=days role=role act=act/> }).collect_view()}
                </ul>
            }.into_any(),
        }}
        <h2>"Grants"</h2>
        {move || match grants.get() {
            Err(m) => view! { <p class="muted">{m}</p> }.into_any(),
            Ok(list) => view! {
                <table class="grid" id="support-grants">
                    <thead><tr><th scope="col">"Status"</th><th scope="col">"Staff"</th><th scope="col">"Identifier"</th><th scope="col">"Scope"</th><th scope="col">"Expires"</th><th scope="col"></th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|g| {
                            let active = g.status == GrantStatus::Active;
                            let id = g.id;
                            view! {
                                <tr>
                                    <td class="grant-status"><span class=if active { "dot green" } else { "dot red" } aria-hidden="true"></span>" " {format!("{:?}", g.status)}</td>
                                    <td>{g.staff_username.clone()}</td>
                                    <td><code>{g.identifier.clone()}</code></td>
                                    <td>{scope_text(&g.scope, &tenant_name)}</td>
                                    <td>{g.expires_at.to_string()}</td>
                                    <td>{active.then(|| view! { <button class="danger" on:click=move |_| act(paths::with_id(paths::SUPPORT_REVOKE, id), serde_json::Value::Object(Default::default()), "revoked: access ended")>"Revoke"</button> })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any(),
        }}
        <StaffAccounts/>
        <h2>"Support action log"</h2>
        {move || match log.get() {
            Err(m) => view! { <p class="muted">{m}</p> }.into_any(),
            Ok(list) => view! {
                <ul class="compact" id="support-log">
                    {list.into_iter().rev().map(|e| view! {
                        <li>
                            {e.at.to_string()} " " <code>{e.support_identifier.clone().unwrap_or_default()}</code>
                            " (" {e.staff.clone().unwrap_or_default()} ") " {e.action.clone()}
                            {e.detail.get("path").and_then(|p| p.as_str()).map(|p| format!(" {p}"))}
                        </li>
                    }).collect_view()}
                </ul>
            }.into_any(),
        }}
    }
}

/// A secret shown once: the TOTP secret of a new account or of a reset, for the staff
/// member's authenticator app.
#[derive(Debug, Clone, PartialEq)]
struct ShownOnce {
    username: String,
    secret: String,
    uri: String,
}

/// Support staff accounts: create one (its second factor is shown once), disable or enable
/// it, reset its second factor. Top-level site admins only (the server says so to others).
#[component]
fn StaffAccounts() -> impl IntoView {
    let store = use_store();
    let token = move || store.session.get_untracked().map(|s| s.token);
    let staff = RwSignal::new(Loaded::<StaffAccount>::Ok(Vec::new()));
    let shown = RwSignal::new(None::<ShownOnce>);
    let message = RwSignal::new(String::new());
    let tick = RwSignal::new(0u32);
    let username = RwSignal::new(String::new());
    let fullname = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    Effect::new(move |_| {
        tick.get();
        leptos::task::spawn_local(async move {
            staff.set(load(paths::SUPPORT_STAFF, token().as_deref()).await);
        });
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = NewStaff {
            username: username.get_untracked().trim().to_string(),
            password: password.get_untracked(),
            fullname: Some(fullname.get_untracked().trim().to_string()).filter(|n| !n.is_empty()),
        };
        leptos::task::spawn_local(async move {
            let a = request(
                "POST",
                paths::SUPPORT_STAFF,
                token().as_deref(),
                Some(&body),
            )
            .await;
            match a.read::<StaffCreated>() {
                Ok(c) if a.ok() => {
                    message.set(format!(
                        "created the support account {}",
                        c.account.username
                    ));
                    shown.set(Some(ShownOnce {
                        username: c.account.username,
                        secret: c.totp_secret,
                        uri: c.otpauth_uri,
                    }));
                    username.set(String::new());
                    fullname.set(String::new());
                    password.set(String::new());
                }
                _ => message.set(a.error()),
            }
            tick.update(|t| *t += 1);
        });
    };
    let act = move |account: StaffAccount, what: &'static str| {
        let (path, question, done) = match what {
            "disable" => (
                paths::with_id(paths::SUPPORT_STAFF_DISABLE, account.id),
                format!(
                    "Disable the support account {}? Its sessions end at once and it cannot sign in until enabled again.",
                    account.username
                ),
                "disabled",
            ),
            "enable" => (
                paths::with_id(paths::SUPPORT_STAFF_ENABLE, account.id),
                String::new(),
                "enabled",
            ),
            _ => (
                paths::with_id(paths::SUPPORT_STAFF_TOTP, account.id),
                format!(
                    "Reset the second factor of {}? The old authenticator code stops working and its sessions end; the new secret is shown once.",
                    account.username
                ),
                "given a new second factor",
            ),
        };
        if !question.is_empty() && !window().confirm_with_message(&question).unwrap_or(false) {
            return;
        }
        leptos::task::spawn_local(async move {
            let empty = serde_json::Value::Object(Default::default());
            let a = request("POST", &path, token().as_deref(), Some(&empty)).await;
            if a.ok() {
                message.set(format!("{} {done}", account.username));
                if let Ok(r) = a.read::<TotpReset>() {
                    shown.set(Some(ShownOnce {
                        username: r.account.username,
                        secret: r.totp_secret,
                        uri: r.otpauth_uri,
                    }));
                }
            } else {
                message.set(a.error());
            }
            tick.update(|t| *t += 1);
        });
    };
    view! {
        <h2>"Support staff accounts"</h2>
        <p role="status" id="staff-message">{move || message.get()}</p>
        {move || shown.get().map(|s| view! {
            <div class="banner" id="staff-secret" role="alert">
                <p>"Second factor of " <strong>{s.username.clone()}</strong> ", shown this once: give it to the staff member for their authenticator app."</p>
                <p>"Secret: " <code id="staff-secret-value">{s.secret.clone()}</code></p>
                <p>"Or the link: " <code>{s.uri.clone()}</code></p>
                <button type="button" on:click=move |_| shown.set(None)>"I have passed it on: hide it"</button>
            </div>
        })}
        <form class="form" id="staff-form" on:submit=create>
            <label for="staff-username">"Username"</label>
            <input id="staff-username" required bind:value=username autocomplete="off"/>
            <label for="staff-fullname">"Full name"</label>
            <input id="staff-fullname" bind:value=fullname autocomplete="off"/>
            <label for="staff-password">"Password (at least 8 characters)"</label>
            <input id="staff-password" type="password" minlength="8" required bind:value=password autocomplete="new-password"/>
            <div class="form-actions"><button type="submit" class="primary" id="staff-create">"Create support account"</button></div>
        </form>
        {move || match staff.get() {
            Err(m) => view! { <p class="muted">{m}</p> }.into_any(),
            Ok(list) if list.is_empty() => view! { <p class="muted">"No support staff accounts yet."</p> }.into_any(),
            Ok(list) => view! {
                <table class="grid" id="staff-table">
                    <thead><tr><th scope="col">"Username"</th><th scope="col">"Name"</th><th scope="col">"Created"</th><th scope="col">"Status"</th><th scope="col"></th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|a| {
                            let (a1, a2, a3) = (a.clone(), a.clone(), a.clone());
                            view! {
                                <tr data-staff=a.username.clone()>
                                    <th scope="row">{a.username.clone()}</th>
                                    <td>{a.fullname.clone().unwrap_or_default()}</td>
                                    <td>{a.created_at.to_string()}</td>
                                    <td class="staff-status">{if a.disabled { "Disabled" } else { "Active" }}</td>
                                    <td>
                                        {if a.disabled {
                                            view! { <button class="staff-enable" on:click=move |_| act(a1.clone(), "enable")>"Enable"</button> }.into_any()
                                        } else {
                                            view! { <button class="danger staff-disable" on:click=move |_| act(a2.clone(), "disable")>"Disable"</button> }.into_any()
                                        }}
                                        " "
                                        <button class="staff-totp" on:click=move |_| act(a3.clone(), "totp")>"Reset second factor"</button>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any(),
        }}
    }
}
