//! The role × capability heat map and the live preview shown beside editors: the chosen user's
//! effective permissions in a context, the items the user can see, and the heat map, all
//! recomputed from the engine on every edit.

use crate::route::use_router;
use crate::store::{Store, perf_now, use_store};
use crate::ui::{ContextPicker, UserPicker, context_name, display_role, rule_text, user_name};
use capstan_core::{CheckOptions, ContextId, Engine, Permission, RoleId, UserId};
use leptos::prelude::*;
use std::collections::HashMap;

/// Each role's resolved value for every capability at a context: the most specific row on the
/// path, a prohibit anywhere on the path winning (SEMANTICS.md §2 step 9 for one role).
pub fn role_values(e: &Engine, ctx: ContextId) -> HashMap<(RoleId, String), Permission> {
    let mut out: HashMap<(RoleId, String), Permission> = HashMap::new();
    // Definitions only: every permission row of the site would be built and thrown away.
    for r in e.roles() {
        for c in e.capabilities() {
            if let Some(p) = e.definition(r.id, &c.name) {
                out.insert((r.id, c.name.clone()), p);
            }
        }
    }
    let path = e.context_path(ctx).unwrap_or_default();
    for c in path.iter().skip(1) {
        for row in e.overrides_in(*c) {
            let key = (row.role, row.capability);
            let prohibited = out.get(&key) == Some(&Permission::Prohibit);
            if !prohibited {
                out.insert(key, row.permission);
            }
        }
    }
    out
}

/// The heat map page.
#[component]
pub fn HeatMapPage() -> impl IntoView {
    let router = use_router();
    let ctx = Memo::new(move |_| router.loc.with(|l| l.num("ctx")));
    view! {
        <h1>"Role × capability heat map"</h1>
        <p>
            "Each cell is a role's resolved value for a capability "
            {move || match ctx.get() {
                Some(c) => format!("in context {c} (definitions and overrides on its path)"),
                None => "in its definition (system context)".into(),
            }}
            ". Green allow, amber prevent, red prohibit, grey not set. "
            <a href="#/contexts">"Pick a context"</a>
            " to see overrides."
        </p>
        <HeatMap context=Signal::derive(move || ctx.get().map(ContextId)) highlight=None/>
    }
}

/// The heat map grid.
#[component]
pub fn HeatMap(
    /// The context (the system context when none).
    #[prop(into)]
    context: Signal<Option<ContextId>>,
    /// A role to highlight.
    highlight: Option<RoleId>,
) -> impl IntoView {
    let store = use_store();
    let lang = store.lang;
    let data = Memo::new(move |_| {
        store.with(|e| {
            let ctx = context.get().unwrap_or_else(|| e.system_context());
            let values = role_values(e, ctx);
            let roles = crate::pages::roles::listed_roles(e, UserId(store.actor.get()), ctx);
            let caps: Vec<String> = e.capabilities().iter().map(|c| c.name.clone()).collect();
            let rows: Vec<(RoleId, String, Vec<u8>, usize)> = roles
                .iter()
                .map(|r| {
                    let cells: Vec<u8> = caps
                        .iter()
                        .map(|c| match values.get(&(r.id, c.clone())) {
                            None => 0,
                            Some(Permission::Allow) => 1,
                            Some(Permission::Prevent) => 2,
                            Some(Permission::Prohibit) => 3,
                        })
                        .collect();
                    let allowed = cells.iter().filter(|v| **v == 1).count();
                    (r.id, display_role(r, &lang.get()), cells, allowed)
                })
                .collect();
            (caps, rows)
        })
    });
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let (caps, rows) = data.get();
        let Some(c) = canvas.get() else { return };
        let c: web_sys::HtmlCanvasElement = c;
        let (w, h) = (
            caps.len().max(1) as u32 * 4,
            rows.len().max(1) as u32 * ROW_PX,
        );
        c.set_width(w);
        c.set_height(h);
        // Through the CSSOM: a `style` attribute would break the Content-Security-Policy.
        let style = web_sys::HtmlElement::style(&c);
        let _ = style.set_property("width", "100%");
        let _ = style.set_property("height", &format!("{h}px"));
        let Some(ctx) = c.get_context("2d").ok().flatten().and_then(|x| {
            wasm_bindgen::JsCast::dyn_into::<web_sys::CanvasRenderingContext2d>(x).ok()
        }) else {
            return;
        };
        for (y, (_, _, cells, _)) in rows.iter().enumerate() {
            for (x, v) in cells.iter().enumerate() {
                ctx.set_fill_style_str(COLOURS.get(*v as usize).copied().unwrap_or("#fff"));
                ctx.fill_rect(
                    (x * 4) as f64,
                    (y as u32 * ROW_PX) as f64,
                    3.0,
                    (ROW_PX - 2) as f64,
                );
            }
        }
    });
    view! {
        <div class="heatmap" id="heatmap" data-rev=move || store.rev.get().to_string()>
            <div class="hm-labels">
                {move || {
                    data.get()
                        .1
                        .into_iter()
                        .map(|(rid, name, cells, allowed)| {
                            let label = format!("{name}: {allowed} of {} capabilities allowed", cells.len());
                            view! {
                                <div class="hm-row" class:hm-highlight=highlight == Some(rid) data-role=rid.0.to_string() title=label>
                                    <span class="hm-label">{name}</span>
                                    <span class="hm-count">{allowed}</span>
                                </div>
                            }
                        })
                        .collect_view()
                }}
            </div>
            <canvas
                node_ref=canvas
                class="hm-canvas"
                role="img"
                aria-label="Role by capability heat map: green allow, amber prevent, red prohibit, grey not set"
            ></canvas>
        </div>
    }
}

const ROW_PX: u32 = 16;
const COLOURS: [&str; 4] = ["#e3e6ec", "#2e7d32", "#f0a020", "#c62828"];

/// Picks a sensible preview subject for a role: a user holding it and where.
fn default_subject(e: &Engine, role: Option<RoleId>) -> (Option<u32>, Option<u32>) {
    let a = e.assignments().into_iter().find(|a| {
        role.is_none_or(|r| a.role == r)
            && e.user(a.user).is_some_and(|u| !u.deleted && !u.suspended)
    });
    match a {
        Some(a) => (Some(a.user.0), Some(a.context.0)),
        None => (None, None),
    }
}

/// The live preview: effective permissions of a user in a context, what the user can see, and
/// the heat map; recomputed on every edit. The user and context are in the URL (`pu`, `pc`).
#[component]
pub fn LivePreview(
    /// The role being edited (chooses the default subject and the highlighted heat-map row).
    role: Option<RoleId>,
) -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let defaults = store.with_untracked(|e| default_subject(e, role));
    let user = Memo::new(move |_| router.loc.with(|l| l.num("pu")).or(defaults.0));
    let ctx = Memo::new(move |_| router.loc.with(|l| l.num("pc")).or(defaults.1));
    let on_user = Callback::new(move |u: u32| router.set_param("pu", &u.to_string()));
    let on_ctx = Callback::new(move |c: u32| router.set_param("pc", &c.to_string()));
    view! {
        <h2>"Live preview"</h2>
        <UserPicker store=store selected=Signal::derive(move || user.get()) on_pick=on_user label="User" id="preview-user"/>
        <ContextPicker store=store selected=Signal::derive(move || ctx.get()) on_pick=on_ctx label="Context" id="preview-context"/>
        <PreviewBody store=store user=user ctx=ctx/>
        <h3>"Heat map"</h3>
        <HeatMap context=Signal::derive(move || ctx.get().map(ContextId)) highlight=role/>
    }
}

#[component]
fn PreviewBody(store: Store, user: Memo<Option<u32>>, ctx: Memo<Option<u32>>) -> impl IntoView {
    let body = Memo::new(move |_| {
        let (Some(u), Some(c)) = (user.get(), ctx.get()) else {
            return Err("Pick a user and a context.".to_string());
        };
        let at = crate::store::now();
        store.with(|e| {
            let perms = e
                .effective_permissions(UserId(u), ContextId(c), CheckOptions::at(at))
                .map_err(|err| format!("{err} (error[{}])", err.code()))?;
            let allowed: Vec<String> = perms
                .iter()
                .filter(|p| p.allowed)
                .map(|p| p.capability.to_string())
                .collect();
            let denied: Vec<(String, String)> = perms
                .iter()
                .filter(|p| !p.allowed)
                .map(|p| (p.capability.to_string(), rule_text(p.rule)))
                .collect();
            let items = e.visible_items(UserId(u), at);
            let visible = items.iter().filter(|i| i.visible).count();
            Ok((
                user_name(e, UserId(u)),
                context_name(e, ContextId(c)),
                allowed,
                denied,
                visible,
                items.len(),
                store.rev.get_untracked(),
            ))
        })
    });
    view! {
        {move || match body.get() {
            Err(msg) => view! { <p class="muted" id="preview">{msg}</p> }.into_any(),
            Ok((who, whereat, allowed, denied, visible, total, rev)) => {
                let took = perf_now() - store.last_edit_at.get_untracked();
                view! {
                    <div id="preview" data-rev=rev.to_string() data-ms=format!("{took:.2}")>
                        <p><strong>{who}</strong> " in " <strong>{whereat}</strong></p>
                        <p id="preview-counts">
                            <span class="yes">{allowed.len()} " allowed"</span> " · "
                            <span class="no">{denied.len()} " not allowed"</span> " · "
                            <span id="preview-visible">{visible} " of " {total} " courses and programs visible"</span>
                        </p>
                        <details>
                            <summary>"Allowed capabilities"</summary>
                            <ul class="compact" id="preview-allowed">
                                {allowed.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                            </ul>
                        </details>
                        <details>
                            <summary>"Not allowed, with the reason"</summary>
                            <ul class="compact">
                                {denied.into_iter().map(|(c, why)| view! { <li><code>{c}</code> " — " {why}</li> }).collect_view()}
                            </ul>
                        </details>
                    </div>
                }
                .into_any()
            }
        }}
    }
}
