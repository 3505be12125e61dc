//! The shell: navigation, the "acting as" picker, undo/redo, messages, and the screen for the
//! current location.

use crate::pages;
use crate::route::{Router, use_router};
use crate::store::{Store, use_store};
use crate::ui::UserPicker;
use leptos::prelude::*;

/// The app.
#[component]
pub fn App() -> impl IntoView {
    let store = Store::load();
    provide_context(store);
    let router = Router::install();
    provide_context(router);
    crate::sync::install(store);
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="top">
            <a class="brand" href="#/roles">"Capstan"</a>
            <Nav/>
            <Toolbar/>
        </header>
        <NoticeBar/>
        <ServerChanged/>
        <BundleBanner/>
        <main id="main" tabindex="-1">
            {move || {
                if store.loading.get() {
                    view! { <p class="muted" id="loading" role="status">"Loading the site stored in this browser…"</p> }
                        .into_any()
                } else {
                    view! { <Screen/> }.into_any()
                }
            }}
        </main>
    }
}

#[component]
fn Nav() -> impl IntoView {
    let router = use_router();
    let section = Memo::new(move |_| router.loc.with(|l| l.seg(0).unwrap_or("roles").to_string()));
    let link = move |href: &'static str, key: &'static str, label: &'static str| {
        view! {
            <a
                href=href
                class:active=move || section.get() == key
                aria-current=move || (section.get() == key).then_some("page")
            >
                {label}
            </a>
        }
    };
    view! {
        <nav aria-label="Main">
            {link("#/roles", "roles", "Define roles")}
            {link("#/contexts", "contexts", "Contexts")}
            {link("#/reports/overview", "reports", "Reports")}
            {link("#/heatmap", "heatmap", "Heat map")}
            {link("#/tenants", "tenants", "Tenants")}
            {link("#/support", "support", "Support access")}
            {link("#/audit", "audit", "Audit log")}
            {link("#/site", "site", "Site data")}
        </nav>
    }
}

#[component]
fn Toolbar() -> impl IntoView {
    let store = use_store();
    let history = Memo::new(move |_| store.history());
    let actor = Signal::derive(move || Some(store.actor.get()));
    let on_actor = Callback::new(move |u: u32| {
        store.actor.set(u);
        store.save();
    });
    // Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) outside text fields (a text field keeps its own
    // undo; a permission radio or a check box does not have one).
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        let in_field = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
            .map(|el| match el.tag_name().as_str() {
                "TEXTAREA" | "SELECT" => true,
                "INPUT" => !matches!(
                    el.get_attribute("type").as_deref(),
                    Some("radio" | "checkbox" | "button" | "submit")
                ),
                _ => false,
            })
            .unwrap_or(false);
        if in_field || !(ev.ctrl_key() || ev.meta_key()) {
            return;
        }
        match ev.key().as_str() {
            "z" if !ev.shift_key() => store.undo(),
            "Z" | "y" => store.redo(),
            _ => return,
        }
        ev.prevent_default();
    });
    on_cleanup(move || handle.remove());
    // The browser's network state: edits wait here while it is off.
    let online = RwSignal::new(window().navigator().on_line());
    let up = window_event_listener(leptos::ev::online, move |_| online.set(true));
    let down = window_event_listener(leptos::ev::offline, move |_| online.set(false));
    on_cleanup(move || {
        up.remove();
        down.remove();
    });
    view! {
        <div class="toolbar">
            {move || (!online.get()).then(|| view! {
                <span class="offline-badge" id="offline-badge" role="status" title="No network: everything keeps working here; edits are pushed when the server is back">"Offline"</span>
            })}
            <span class="base" title="What this site is built on">
                {move || store.base.get().label()}
                {move || {
                    let (n, _) = history.get();
                    (n > 0).then(|| format!(" + {n} edit{}", if n == 1 { "" } else { "s" }))
                }}
            </span>
            <button
                id="undo"
                on:click=move |_| store.undo()
                disabled=move || history.get().0 == 0
                title="Undo (Ctrl+Z)"
            >
                "Undo"
            </button>
            <button
                id="redo"
                on:click=move |_| store.redo()
                disabled=move || history.get().1 == 0
                title="Redo (Ctrl+Shift+Z)"
            >
                "Redo"
            </button>
            <span class="actor">
                <UserPicker store=store selected=actor on_pick=on_actor label="Acting as" id="actor"/>
            </span>
        </div>
    }
}

#[component]
fn NoticeBar() -> impl IntoView {
    let store = use_store();
    view! {
        <div class="notice-area" role="status" aria-live="polite">
            {move || {
                store
                    .notice
                    .get()
                    .map(|n| {
                        view! {
                            <div class=if n.ok { "notice ok" } else { "notice error" } id="notice">
                                <span>{n.text}</span>
                                <button
                                    class="link"
                                    on:click=move |_| store.notice.set(None)
                                    aria-label="Dismiss message"
                                >
                                    "×"
                                </button>
                            </div>
                        }
                    })
            }}
        </div>
    }
}

/// Says, while a bundle is loaded, that the site is read-only and whose slice it is.
#[component]
fn BundleBanner() -> impl IntoView {
    let store = use_store();
    let user = Memo::new(move |_| {
        store.with(|e| {
            e.bundle_user().map(|u| {
                let name = e.user(u).map(|x| x.username.clone()).unwrap_or_default();
                (u.0, name)
            })
        })
    });
    move || {
        user.get().map(|(id, name)| {
            view! {
                <div class="notice bundle" id="bundle-banner" role="status">
                    {format!(
                        "Read-only: this is a permission bundle, the slice of a site that answers the questions of {name} (user {id}). Check, explain and preview work for this user; edits are refused."
                    )}
                </div>
            }
        })
    }
}

/// "The site changed on the server", from the `/events` stream, with the pull that catches up.
#[component]
fn ServerChanged() -> impl IntoView {
    let store = use_store();
    let sync = crate::sync::use_sync();
    let behind = Memo::new(move |_| match (sync.remote.get(), store.base.get()) {
        (Some(remote), crate::store::BaseKind::Server { revision }) if remote > revision => {
            Some((remote, revision))
        }
        _ => None,
    });
    move || {
        behind.get().map(|(remote, mine)| {
            let edits = store.history().0;
            let label = if edits == 0 {
                "Pull the new revision".to_string()
            } else {
                format!(
                    "Pull, then replay my {edits} edit{} on top",
                    if edits == 1 { "" } else { "s" }
                )
            };
            view! {
                <div class="notice server-changed" id="server-changed" role="status">
                    <span>
                        {format!(
                            "The site changed on the server: it is at revision {remote}, this browser has revision {mine}."
                        )}
                    </span>
                    <button
                        on:click=move |_| leptos::task::spawn_local(crate::sync::pull(store, sync, false))
                        disabled=move || sync.busy.get()
                    >
                        {label}
                    </button>
                </div>
            }
        })
    }
}

#[component]
fn Screen() -> impl IntoView {
    let router = use_router();
    let key = Memo::new(move |_| {
        router.loc.with(|l| {
            (
                l.seg(0).unwrap_or("roles").to_string(),
                l.seg(1).unwrap_or("").to_string(),
            )
        })
    });
    move || {
        let (a, b) = key.get();
        match (a.as_str(), b.as_str()) {
            ("roles", "") => pages::roles::DefineRoles().into_any(),
            ("roles", "new") => pages::role_edit::NewRole().into_any(),
            ("roles", id) => match id.parse::<u32>() {
                Ok(id) => view! { <pages::role_edit::EditRole id=id/> }.into_any(),
                Err(_) => pages::NotFound().into_any(),
            },
            ("contexts", "") => pages::contexts::ContextTree().into_any(),
            ("contexts", id) => match id.parse::<u32>() {
                Ok(id) => view! { <pages::contexts::ContextPage id=id/> }.into_any(),
                Err(_) => pages::NotFound().into_any(),
            },
            ("reports", "unsupported") => pages::reports::Unsupported().into_any(),
            ("reports", _) => pages::reports::Overview().into_any(),
            ("heatmap", _) => pages::heatmap::HeatMapPage().into_any(),
            ("tenants", "visibility") => pages::tenants::VisibilityPreview().into_any(),
            ("tenants", _) => pages::tenants::Tenants().into_any(),
            ("support", _) => pages::support::Support().into_any(),
            ("audit", _) => pages::audit::AuditLog().into_any(),
            ("site", _) => pages::site::SiteData().into_any(),
            _ => pages::NotFound().into_any(),
        }
    }
}
