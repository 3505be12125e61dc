//! The context tree and, per context, Assign roles, Permissions (overrides), Check permissions
//! (with the "why" panel) and Switch role preview.

use crate::pages::heatmap::{LivePreview, role_values};
use crate::pages::roles::listed_roles;
use crate::route::use_router;
use crate::store::{now, use_store};
use crate::ui::{
    PERMISSIONS, Risks, Tabs, UserPicker, context_name, display_role, permission_key,
    permission_label, role_name, rule_text, user_name,
};
use capstan_core::queries::is_relevant;
use capstan_core::{
    CheckOptions, ContextId, ContextLevel, EditOp, Engine, RoleId, RoleOrigin, Source, UserId,
};
use leptos::prelude::*;

fn children_of(e: &Engine, parent: Option<ContextId>) -> Vec<(u32, String, usize)> {
    let mine: Vec<ContextId> = e
        .contexts()
        .iter()
        .filter(|c| c.parent == parent && c.level != ContextLevel::User)
        .map(|c| c.id)
        .collect();
    let mut counts: std::collections::HashMap<ContextId, usize> =
        mine.iter().map(|c| (*c, 0)).collect();
    for c in e.contexts() {
        if c.level == ContextLevel::User {
            continue;
        }
        if let Some(n) = c.parent.and_then(|p| counts.get_mut(&p)) {
            *n += 1;
        }
    }
    let mut v: Vec<(u32, String, usize)> = mine
        .into_iter()
        .map(|c| {
            (
                c.0,
                context_name(e, c),
                counts.get(&c).copied().unwrap_or(0),
            )
        })
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// How many matches the context search lists at most.
const SEARCH_LIMIT: usize = 50;

/// The context tree: search, and browse from the system context down.
#[component]
pub fn ContextTree() -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let q = Memo::new(move |_| router.loc.with(|l| l.param("q").unwrap_or_default()));
    let results = Memo::new(move |_| {
        let q = q.get().to_lowercase();
        if q.is_empty() {
            return (Vec::new(), 0);
        }
        store.with(|e| {
            let mut total = 0;
            let mut shown = Vec::new();
            for c in e.contexts().iter().filter(|c| {
                c.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&q))
                    || c.id.0.to_string() == q
            }) {
                total += 1;
                if shown.len() < SEARCH_LIMIT {
                    shown.push((c.id.0, context_name(e, c.id)));
                }
            }
            shown.sort_by(|a, b| a.1.cmp(&b.1));
            (shown, total)
        })
    });
    view! {
        <h1>"Contexts"</h1>
        <div class="filter">
            <label for="ctx-search">"Search"</label>
            <input
                id="ctx-search"
                type="search"
                placeholder="course, category, program or id"
                prop:value=move || q.get()
                on:input=move |ev| router.set_param("q", &event_target_value(&ev))
            />
        </div>
        {move || {
            if q.get().is_empty() {
                view! { <ul class="tree" role="tree" aria-label="Context tree"><TreeNode parent=None depth=0/></ul> }.into_any()
            } else {
                view! {
                    <ul class="results" id="ctx-results">
                        {results.get().0.into_iter().map(|(id, name)| view! { <li><a href=format!("#/contexts/{id}")>{name}</a></li> }).collect_view()}
                    </ul>
                    {move || {
                        let total = results.get().1;
                        if total == 0 {
                            Some(view! { <p class="muted">"Nothing matches."</p> }.into_any())
                        } else if total > SEARCH_LIMIT {
                            Some(view! { <p class="muted" id="ctx-too-many">{format!("Too many to list ({total} match): the first {SEARCH_LIMIT} are shown; search to narrow the list.")}</p> }.into_any())
                        } else {
                            None
                        }
                    }}
                }
                .into_any()
            }
        }}
    }
}

#[component]
fn TreeNode(parent: Option<ContextId>, depth: usize) -> impl IntoView {
    let store = use_store();
    let kids = Memo::new(move |_| store.with_structure(|e| children_of(e, parent)));
    let render = move || {
        kids.get()
            .into_iter()
            .map(|(id, name, n)| {
                let open = RwSignal::new(depth == 0);
                view! {
                    <li role="treeitem" aria-expanded=move || (n > 0).then(|| open.get().to_string())>
                        {(n > 0).then(|| view! {
                            <button class="twisty" on:click=move |_| open.update(|o| *o = !*o) aria-label=move || if open.get() { "Collapse" } else { "Expand" }>
                                {move || if open.get() { "▾" } else { "▸" }}
                            </button>
                        })}
                        <a href=format!("#/contexts/{id}")>{name}</a>
                        {(n > 0).then(|| view! { <span class="muted">" (" {n} ")"</span> })}
                        {move || open.get().then(|| view! { <ul role="group">{TreeNode(TreeNodeProps { parent: Some(ContextId(id)), depth: depth + 1 }).into_any()}</ul> }.into_any())}
                    </li>
                }
            })
            .collect_view()
    };
    render.into_any()
}

/// One context, with its tabs.
#[component]
pub fn ContextPage(
    /// The context id.
    id: u32,
) -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let ctx = ContextId(id);
    let exists = Memo::new(move |_| store.with(|e| e.context(ctx).is_some()));
    let tab = Memo::new(move |_| {
        router
            .loc
            .with(|l| l.param("tab").unwrap_or_else(|| "assign".into()))
    });
    let path = Memo::new(move |_| {
        store.with(|e| {
            e.context_path(ctx)
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.0, context_name(e, c)))
                .collect::<Vec<_>>()
        })
    });
    let tabs = [
        ("assign", "Assign roles"),
        ("permissions", "Permissions"),
        ("check", "Check permissions"),
        ("switch", "Switch role preview"),
    ];
    move || {
        if !exists.get() {
            return view! { <h1>"No such context"</h1><p><a href="#/contexts">"Back to the tree"</a></p> }.into_any();
        }
        view! {
            <nav class="breadcrumb" aria-label="Context path">
                {path.get().into_iter().map(|(cid, name)| view! { <a href=format!("#/contexts/{cid}")>{name}</a> }).collect_view()}
            </nav>
            <h1>{path.get().last().map(|p| p.1.clone()).unwrap_or_default()}</h1>
            <Children ctx=ctx/>
            <Tabs label="Context" base=format!("#/contexts/{id}") tabs=tabs.to_vec() current=tab/>
            {move || match tab.get().as_str() {
                "permissions" => view! { <Overrides ctx=ctx/> }.into_any(),
                "check" => view! { <CheckPermissions ctx=ctx/> }.into_any(),
                "switch" => view! { <SwitchPreview ctx=ctx/> }.into_any(),
                _ => view! { <AssignRoles ctx=ctx/> }.into_any(),
            }}
        }
        .into_any()
    }
}

/// The context's children, as links (user contexts left out).
#[component]
fn Children(ctx: ContextId) -> impl IntoView {
    let store = use_store();
    let kids = Memo::new(move |_| store.with_structure(|e| children_of(e, Some(ctx))));
    move || {
        let list = kids.get();
        (!list.is_empty()).then(|| view! {
            <details class="children">
                <summary>{list.len()} " child contexts"</summary>
                <ul class="compact columns" id="children">
                    {list.into_iter().map(|(id, name, _)| view! { <li><a href=format!("#/contexts/{id}")>{name}</a></li> }).collect_view()}
                </ul>
            </details>
        })
    }
}

/// The most users a list of potential users shows before it asks for a search.
const MAX_LISTED_USERS: usize = 200;

#[component]
fn AssignRoles(ctx: ContextId) -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let lang = store.lang;
    let role = Memo::new(move |_| router.loc.with(|l| l.num("role")).map(RoleId));
    let roles = Memo::new(move |_| {
        let actor = UserId(store.actor.get());
        store.with(|e| {
            let level = e.context(ctx).map(|c| c.level);
            let at = now();
            let here = e.assignments_at(ctx);
            listed_roles(e, actor, ctx)
                .into_iter()
                .filter(|r| level.is_some_and(|l| r.contextlevels.contains(&l)))
                .map(|r| {
                    let n = here.iter().filter(|a| a.role == r.id).count();
                    let can = e.can_assign(actor, r.id, ctx, at).unwrap_or(false);
                    (r.id, display_role(&r, &lang.get()), n, can)
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <p>"Roles that may be assigned here (by the role's context types). Whether the acting user may assign each one is decided as in Moodle: moodle/role:assign here and the role in \"Allow role assignments\" of one of its own roles."</p>
        <RoleChoice id="assignable-roles" count_label="Users assigned here" may_label="May assign" roles=roles selected=role/>
        {move || role.get().map(|r| view! { <AssignLists ctx=ctx role=r/> })}
    }
}

/// A table of roles to choose from in a context: a count per role, whether the acting user may
/// act on it, and a link that puts the role in the URL (`role=`).
#[component]
fn RoleChoice(
    /// The table's id.
    id: &'static str,
    /// The heading of the count column.
    count_label: &'static str,
    /// The heading of the may-act column.
    may_label: &'static str,
    /// (role, name, count, may act) per role.
    roles: Memo<Vec<(RoleId, String, usize, bool)>>,
    /// The chosen role.
    selected: Memo<Option<RoleId>>,
) -> impl IntoView {
    let router = use_router();
    view! {
        <table class="grid" id=id>
            <thead><tr><th scope="col">"Role"</th><th scope="col">{count_label}</th><th scope="col">{may_label}</th></tr></thead>
            <tbody>
                {move || roles.get().into_iter().map(|(rid, name, n, can)| view! {
                    <tr class:selected=move || selected.get() == Some(rid)>
                        <td><a href=move || router.loc.with(|l| l.with("role", &rid.0.to_string()))>{name}</a></td>
                        <td>{n}</td>
                        <td>{if can { "yes" } else { "no" }}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn AssignLists(ctx: ContextId, role: RoleId) -> impl IntoView {
    let store = use_store();
    let search = RwSignal::new(String::new());
    let chosen_existing = RwSignal::new(Vec::<String>::new());
    let chosen_potential = RwSignal::new(Vec::<String>::new());
    let existing = Memo::new(move |_| {
        store.with(|e| {
            let mut v: Vec<(u32, String, Source)> = e
                .assignments_at(ctx)
                .into_iter()
                .filter(|a| a.role == role)
                .map(|a| (a.user.0, user_name(e, a.user), a.source))
                .collect();
            v.sort_by(|a, b| a.1.cmp(&b.1));
            v
        })
    });
    let potential = Memo::new(move |_| {
        let s = search.get().to_lowercase();
        store.with(|e| {
            let here: Vec<UserId> = e
                .assignments_at(ctx)
                .into_iter()
                .filter(|a| a.role == role)
                .map(|a| a.user)
                .collect();
            // Members of another tenant are marked: Totara refuses to assign them here.
            let here_tenant = e.context_tenant(ctx).ok().flatten();
            let mut v: Vec<(u32, String)> = e
                .users()
                .iter()
                .filter(|u| !u.deleted && !here.contains(&u.id) && u.support_identifier.is_none())
                .map(|u| {
                    let mut name = user_name(e, u.id);
                    if let Some(t) = u.tenant.filter(|t| here_tenant.is_some_and(|h| h != *t)) {
                        name.push_str(&format!(" — member of {}", crate::ui::tenant_name(e, t)));
                    }
                    (u.id.0, name)
                })
                .filter(|(_, n)| s.is_empty() || n.to_lowercase().contains(&s))
                .collect();
            v.sort_by(|a, b| a.1.cmp(&b.1));
            // Moodle's "Too many users to show": the first ones, and how many match.
            let total = v.len();
            v.truncate(MAX_LISTED_USERS);
            (v, total)
        })
    });
    let selected = |ev: &leptos::ev::Event| -> Vec<String> {
        use wasm_bindgen::JsCast;
        let Some(sel) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
        else {
            return Vec::new();
        };
        let opts = sel.selected_options();
        (0..opts.length())
            .filter_map(|i| opts.item(i))
            .filter_map(|o| o.get_attribute("value"))
            .collect()
    };
    let add = move |_| {
        let ops: Vec<EditOp> = chosen_potential
            .get_untracked()
            .iter()
            .filter_map(|v| v.parse::<u32>().ok())
            .map(|u| EditOp::Assign {
                user: UserId(u),
                role,
                context: ctx,
                from: None,
                until: None,
                source: Some(Source::Manual),
            })
            .collect();
        if ops.is_empty() {
            return;
        }
        // Totara refuses to assign a tenant's member in another tenant's context: say so first.
        let foreign: Vec<String> = store.with_untracked(|e| {
            let Some(here) = e.context_tenant(ctx).ok().flatten() else {
                return Vec::new();
            };
            ops.iter()
                .filter_map(|op| match op {
                    EditOp::Assign { user, .. } => e.user(*user).and_then(|u| {
                        u.tenant.filter(|t| *t != here).map(|t| {
                            format!(
                                "{} (member of {})",
                                user_name(e, u.id),
                                crate::ui::tenant_name(e, t)
                            )
                        })
                    }),
                    _ => None,
                })
                .collect()
        });
        if !foreign.is_empty() {
            let here = store.with_untracked(|e| {
                e.context_tenant(ctx)
                    .ok()
                    .flatten()
                    .map(|t| crate::ui::tenant_name(e, t))
                    .unwrap_or_default()
            });
            let question = format!(
                "{} belong(s) to another tenant than this context ({here}). Totara refuses such \
                 assignments, and with tenant isolation on they could not reach this context. \
                 Assign anyway?",
                foreign.join(", ")
            );
            if !window().confirm_with_message(&question).unwrap_or(false) {
                return;
            }
        }
        let n = ops.len();
        if store.apply(ops, &format!("assigned {n} user(s)")).is_ok() {
            chosen_potential.set(Vec::new());
        }
    };
    let remove = move |_| {
        let ops: Vec<EditOp> = chosen_existing
            .get_untracked()
            .iter()
            .filter_map(|v| v.parse::<u32>().ok())
            .map(|u| EditOp::Unassign {
                user: UserId(u),
                role,
                context: ctx,
                source: Some(Source::Manual),
            })
            .collect();
        if ops.is_empty() {
            return;
        }
        let n = ops.len();
        if store.apply(ops, &format!("unassigned {n} user(s)")).is_ok() {
            chosen_existing.set(Vec::new());
        }
    };
    view! {
        <div class="assign-lists">
            <div>
                <label for="existing-users">"Existing users"</label>
                <select id="existing-users" multiple size="12" on:change=move |ev| chosen_existing.set(selected(&ev))>
                    {move || existing.get().into_iter().map(|(id, name, src)| {
                        let manual = src == Source::Manual;
                        view! {
                            <option value=id.to_string() disabled=!manual title=(!manual).then(|| format!("{:?} assignment: managed elsewhere", src).to_lowercase())>
                                {name}{(!manual).then(|| format!(" — {}", format!("{src:?}").to_lowercase()))}
                            </option>
                        }
                    }).collect_view()}
                </select>
            </div>
            <div class="assign-buttons">
                <button id="assign-add" on:click=add>"◀ Add"</button>
                <button id="assign-remove" on:click=remove>"Remove ▶"</button>
            </div>
            <div>
                <label for="potential-users">"Potential users"</label>
                <select id="potential-users" multiple size="10" on:change=move |ev| chosen_potential.set(selected(&ev))>
                    {move || potential.get().0.into_iter().map(|(id, name)| view! { <option value=id.to_string()>{name}</option> }).collect_view()}
                </select>
                <label for="potential-search">"Search"</label>
                <input id="potential-search" type="search" bind:value=search/>
                {move || {
                    let (shown, total) = potential.get();
                    (total > shown.len()).then(|| view! {
                        <p class="muted" id="potential-more" role="status">
                            {format!("Too many users ({total}) to list: the first {} are shown; search to narrow the list.", shown.len())}
                        </p>
                    })
                }}
            </div>
        </div>
    }
}

#[component]
fn Overrides(ctx: ContextId) -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let lang = store.lang;
    let role = Memo::new(move |_| router.loc.with(|l| l.num("role")).map(RoleId));
    let filter = Memo::new(move |_| router.loc.with(|l| l.param("q").unwrap_or_default()));
    let roles = Memo::new(move |_| {
        let actor = UserId(store.actor.get());
        store.with(|e| {
            let at = now();
            let here = e.overrides_in(ctx);
            listed_roles(e, actor, ctx)
                .into_iter()
                .map(|r| {
                    let n = here.iter().filter(|o| o.role == r.id).count();
                    let can = e.can_override(actor, r.id, ctx, None, at).unwrap_or(false);
                    (r.id, display_role(&r, &lang.get()), n, can)
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="with-preview">
            <div class="main-col">
                <p>"Override a role's permissions in this context. Only roles the acting user may override are editable; holders of moodle/role:safeoverride only may change capabilities without risks."</p>
                <RoleChoice id="override-roles" count_label="Overrides here" may_label="May override" roles=roles selected=role/>
                {move || role.get().map(|r| view! {
                    <div class="filter">
                        <label for="override-filter">"Filter"</label>
                        <input id="override-filter" type="search" prop:value=move || filter.get() on:input=move |ev| router.set_param("q", &event_target_value(&ev))/>
                    </div>
                    <h2 id="override-title">{move || store.with(|e| format!(
                        "Override permissions for role {} in {}",
                        crate::ui::role_name(e, r, &store.lang.get()),
                        context_name(e, ctx)
                    ))}</h2>
                    <OverrideTable ctx=ctx role=r filter=filter/>
                })}
            </div>
            <aside class="preview-col" aria-label="Live preview">
                <LivePreview role=None/>
            </aside>
        </div>
    }
}

#[component]
fn OverrideTable(ctx: ContextId, role: RoleId, filter: Memo<String>) -> impl IntoView {
    let store = use_store();
    let rows = Memo::new(move |_| {
        let f = filter.get().to_lowercase();
        let actor = UserId(store.actor.get());
        store.with(|e| {
            let level = e
                .context(ctx)
                .map(|c| c.level)
                .unwrap_or(ContextLevel::System);
            let parent = e.context(ctx).and_then(|c| c.parent);
            let inherited = parent.map(|p| role_values(e, p)).unwrap_or_default();
            let here = e.overrides_in(ctx);
            let at = now();
            e.capabilities()
                .iter()
                .filter(|c| is_relevant(c.contextlevel, level))
                .filter(|c| f.is_empty() || c.name.to_lowercase().contains(&f))
                .map(|c| {
                    let cur = here
                        .iter()
                        .find(|o| o.role == role && o.capability == c.name)
                        .map(|o| o.permission);
                    let inh = inherited.get(&(role, c.name.clone())).copied();
                    let can = e
                        .can_override(actor, role, ctx, Some(&c.name), at)
                        .unwrap_or(false);
                    (c.name.clone(), c.risks, inh, cur, can)
                })
                .collect::<Vec<_>>()
        })
    });
    let set = move |cap: String, p: Option<capstan_core::Permission>| {
        let _ = store.apply(
            vec![EditOp::SetPermission {
                role,
                context: ctx,
                capability: cap.clone(),
                permission: p,
            }],
            &format!("override {cap}: {}", permission_label(p)),
        );
    };
    view! {
        <table class="grid caps" id="override-table">
            <thead>
                <tr>
                    <th scope="col">"Capability"</th><th scope="col">"Risks"</th><th scope="col">"Inherited"</th>
                    {PERMISSIONS.into_iter().map(|p| view! { <th scope="col">{if p.is_none() { "Inherit" } else { permission_label(p) }}</th> }).collect_view()}
                </tr>
            </thead>
            <tbody>
                {move || rows.get().into_iter().map(|(cap, risks, inh, cur, can)| {
                    view! {
                        <tr data-cap=cap.clone() class=format!("perm-{}", permission_key(cur)) class:locked=!can>
                            <th scope="row"><code>{cap.clone()}</code></th>
                            <td><Risks risks=risks/></td>
                            <td class="muted">{permission_label(inh)}</td>
                            {PERMISSIONS.into_iter().map(|p| {
                                let cap2 = cap.clone();
                                view! {
                                    <td class="radio">
                                        <input
                                            type="radio"
                                            name=format!("ovr-{cap}")
                                            value=permission_key(p)
                                            checked=cur == p
                                            disabled=!can
                                            aria-label=format!("{cap}: {}", if p.is_none() { "Inherit" } else { permission_label(p) })
                                            on:keydown=move |ev| crate::ui::permission_radio_keys(&ev)
                                            on:change=move |_| set(cap2.clone(), p)
                                        />
                                    </td>
                                }
                            }).collect_view()}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn CheckPermissions(ctx: ContextId) -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let user = Memo::new(move |_| router.loc.with(|l| l.num("user")));
    let cap = Memo::new(move |_| router.loc.with(|l| l.param("cap")));
    let filter = RwSignal::new(String::new());
    let on_user = Callback::new(move |u: u32| router.push_param("user", &u.to_string()));
    let rows = Memo::new(move |_| {
        let Some(u) = user.get() else {
            return Err("Choose a user to check.".to_string());
        };
        let f = filter.get().to_lowercase();
        store.with(|e| {
            e.effective_permissions(UserId(u), ctx, CheckOptions::at(now()))
                .map(|list| {
                    list.into_iter()
                        .filter(|p| f.is_empty() || p.capability.contains(&f))
                        .map(|p| (p.capability.to_string(), p.allowed, rule_text(p.rule)))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| format!("{e} (error[{}])", e.code()))
        })
    });
    // Moodle's "Roles of this user in this context", first: its active assignments on the
    // path (where each is) and the default role of signed-in users.
    let lang = store.lang;
    let held = Memo::new(move |_| {
        let u = UserId(user.get()?);
        Some(store.with(|e| {
            let at = now();
            let path = e.context_path(ctx).unwrap_or_default();
            let mut v: Vec<String> = e
                .assignments_of(u)
                .into_iter()
                .filter(|a| a.is_active(at) && path.contains(&a.context))
                .map(|a| {
                    format!(
                        "{} (in {})",
                        role_name(e, a.role, &lang.get()),
                        context_name(e, a.context)
                    )
                })
                .collect();
            let s = e.settings();
            let guest = s.guest_user == Some(u);
            if let (Some(r), false) = (s.default_user_role, guest || u.0 == 0) {
                v.push(format!(
                    "{} (every signed-in user)",
                    role_name(e, r, &lang.get())
                ));
            }
            v
        }))
    });
    view! {
        <div class="check-layout">
            <div>
                <UserPicker store=store selected=Signal::derive(move || user.get()) on_pick=on_user label="Check permissions for" id="check-user"/>
                {move || held.get().map(|roles| view! {
                    <p id="check-roles">
                        <strong>"Roles in this context: "</strong>
                        {if roles.is_empty() { "none".to_string() } else { roles.join("; ") }}
                    </p>
                })}
                <label for="check-filter">"Filter"</label>
                <input id="check-filter" type="search" bind:value=filter/>
                {move || match rows.get() {
                    Err(msg) => view! { <p class="muted">{msg}</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="grid" id="check-table" data-rev=move || store.rev.get().to_string()>
                            <thead><tr><th scope="col">"Capability"</th><th scope="col">"Allowed"</th><th scope="col">"Why"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|(c, ok, why)| {
                                    let c2 = c.clone();
                                    let c3 = c.clone();
                                    let c4 = c.clone();
                                    view! {
                                        <tr data-cap=c3 class:selected=move || cap.get().as_deref() == Some(c2.as_str())>
                                            <td><code>{c4}</code></td>
                                            <td class=if ok { "yes" } else { "no" }>{if ok { "Yes" } else { "No" }}</td>
                                            <td><a href=move || router.loc.with(|l| l.with("cap", &c))>{why}</a></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }}
            </div>
            {move || match (user.get(), cap.get()) {
                (Some(u), Some(c)) => Some(view! { <Why ctx=ctx user=UserId(u) cap=c/> }),
                _ => None,
            }}
        </div>
    }
}

/// The explanation trace of one answer.
#[component]
fn Why(ctx: ContextId, user: UserId, cap: String) -> impl IntoView {
    let store = use_store();
    let lang = store.lang;
    let cap2 = cap.clone();
    let ex = Memo::new(move |_| {
        store.with(|e| {
            e.explain(user, &cap2, ctx, CheckOptions::at(now()))
                .map(|x| {
                    let roles = x
                        .roles
                        .iter()
                        .map(|r| {
                            let origins = r
                                .origins
                                .iter()
                                .map(|o| origin_text(e, *o))
                                .collect::<Vec<_>>()
                                .join("; ");
                            let rows = r
                                .rows
                                .iter()
                                .map(|row| {
                                    (
                                        context_name(e, row.context),
                                        permission_label(Some(row.permission)),
                                        row.decisive,
                                    )
                                })
                                .collect::<Vec<_>>();
                            (
                                role_name(e, r.role, &lang.get()),
                                origins,
                                rows,
                                permission_label(r.value),
                            )
                        })
                        .collect::<Vec<_>>();
                    (x.allowed, x.step, x.reason.clone(), roles)
                })
                .map_err(|e| format!("{e} (error[{}])", e.code()))
        })
    });
    view! {
        <section class="why" id="why" aria-label="Why">
            <h2>"Why: " <code>{cap}</code></h2>
            {move || match ex.get() {
                Err(m) => view! { <p class="field-error">{m}</p> }.into_any(),
                Ok((allowed, step, reason, roles)) => view! {
                    <p class=if allowed { "verdict yes" } else { "verdict no" } id="why-verdict">
                        {if allowed { "Allowed" } else { "Not allowed" }} " — " {reason}
                    </p>
                    <details class="muted" id="why-step">
                        <summary>"Which rule decided"</summary>
                        "Step " {step} " of the evaluation order (has_capability, SEMANTICS.md §2)."
                    </details>
                    {(!roles.is_empty()).then(|| view! {
                        <ol class="trace">
                            {roles.into_iter().map(|(name, origins, rows, value)| view! {
                                <li>
                                    <strong>{name}</strong> " → " {value}
                                    <div class="muted">"active by " {origins}</div>
                                    <ul>
                                        {rows.into_iter().map(|(c, p, decisive)| view! {
                                            <li class:decisive=decisive>{p} " in " {c}{decisive.then_some(" (decisive)")}</li>
                                        }).collect_view()}
                                    </ul>
                                </li>
                            }).collect_view()}
                        </ol>
                    })}
                }.into_any(),
            }}
        </section>
    }
}

fn origin_text(e: &Engine, o: RoleOrigin) -> String {
    match o {
        RoleOrigin::Assignment {
            context,
            source,
            until,
            ..
        } => format!(
            "{} assignment in {}{}",
            format!("{source:?}").to_lowercase(),
            context_name(e, context),
            until.map(|u| format!(" until {u}")).unwrap_or_default()
        ),
        RoleOrigin::DefaultUserRole => "the default role of authenticated users".into(),
        RoleOrigin::FrontpageRole { .. } => "the front page role".into(),
        RoleOrigin::GuestRole => "the guest role".into(),
        RoleOrigin::NotLoggedInRole => "the not-logged-in role".into(),
        RoleOrigin::Switch { context } => format!("a role switch in {}", context_name(e, context)),
    }
}

#[component]
fn SwitchPreview(ctx: ContextId) -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let lang = store.lang;
    let role = Memo::new(move |_| router.loc.with(|l| l.num("role")).map(RoleId));
    let roles = Memo::new(move |_| {
        let actor = UserId(store.actor.get());
        store.with(|e| {
            listed_roles(e, actor, ctx)
                .into_iter()
                .map(|r| (r.id.0, display_role(&r, &lang.get())))
                .collect::<Vec<_>>()
        })
    });
    let preview = Memo::new(move |_| {
        let Some(r) = role.get() else {
            return Err("Choose a role to view this context as.".to_string());
        };
        let actor = UserId(store.actor.get());
        store.with(|e| {
            let at = now();
            let may = e.can_switch(actor, r, ctx, at).unwrap_or(false);
            // The preview runs on a copy: the acting user switched to the role here, checked
            // without doanything so that a site admin sees what the role sees.
            let mut copy = e.clone();
            copy.apply(EditOp::AddSwitch {
                user: actor,
                context: ctx,
                role: r,
            })
            .map_err(|err| format!("{err} (error[{}])", err.code()))?;
            let opts = CheckOptions {
                doanything: false,
                at,
            };
            let list = copy
                .effective_permissions(actor, ctx, opts)
                .map_err(|err| format!("{err} (error[{}])", err.code()))?
                .into_iter()
                .map(|p| (p.capability.to_string(), p.allowed, rule_text(p.rule)))
                .collect::<Vec<_>>();
            let visible = copy
                .visible_items(actor, at)
                .iter()
                .filter(|i| i.visible)
                .count();
            Ok((may, list, visible))
        })
    });
    view! {
        <p>"View this context as if the acting user had switched to a role (Moodle's \"Switch role to…\"). The site is not changed."</p>
        <label for="switch-role">"Switch role to"</label>
        <select id="switch-role" on:change=move |ev| router.set_param("role", &event_target_value(&ev))>
            <option value="">"Choose a role…"</option>
            {move || roles.get().into_iter().map(|(id, name)| view! { <option value=id.to_string() selected=move || role.get() == Some(RoleId(id))>{name}</option> }).collect_view()}
        </select>
        {move || match preview.get() {
            Err(m) => view! { <p class="muted">{m}</p> }.into_any(),
            Ok((may, list, visible)) => view! {
                <p id="switch-note">
                    {if may { "The acting user may switch to this role here." } else { "Note: the acting user may not switch to this role here (allow_switch, moodle/role:switchroles); this is a preview only." }}
                    " Courses and programs visible: " {visible} "."
                </p>
                <table class="grid" id="switch-table">
                    <thead><tr><th scope="col">"Capability"</th><th scope="col">"Allowed"</th><th scope="col">"Why"</th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|(c, ok, why)| { let c2 = c.clone(); view! {
                            <tr data-cap=c2><td><code>{c}</code></td><td class=if ok { "yes" } else { "no" }>{if ok { "Yes" } else { "No" }}</td><td>{why}</td></tr>
                        } }).collect_view()}
                    </tbody>
                </table>
            }.into_any(),
        }}
    }
}
