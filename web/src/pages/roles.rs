//! Define roles: the role list (reorder, edit, duplicate, delete, export/import Moodle preset
//! XML, add a role from an archetype or another role) and the allow grids.

use crate::route::use_router;
use crate::store::{Store, use_store};
use crate::ui::{Tabs, display_role, download, read_file};
use capstan_core::snapshot::RoleDoc;
use capstan_core::{ContextId, EditOp, Engine, Role, RoleId, UserId};
use leptos::prelude::*;

/// Roles in display order (sort order, then id).
pub fn ordered_roles(e: &Engine) -> Vec<Role> {
    let mut v = e.roles().to_vec();
    v.sort_by_key(|r| (r.sortorder.unwrap_or(i64::MAX), r.id.0));
    v
}

/// The roles listed to the acting user in `ctx`: every role for a site admin (or when no one
/// is acting), else the roles it may see there (Moodle's "Allow role to view",
/// `get_viewable_roles`), in sort order.
pub fn listed_roles(e: &Engine, actor: UserId, ctx: ContextId) -> Vec<Role> {
    if actor.0 == 0 || e.is_site_admin(actor) {
        return ordered_roles(e);
    }
    let ids = e
        .viewable_roles(actor, ctx, crate::store::now())
        .unwrap_or_default();
    ordered_roles(e)
        .into_iter()
        .filter(|r| ids.contains(&r.id))
        .collect()
}

/// The ops that copy a role under a new id and short name.
pub fn duplicate_ops(
    e: &Engine,
    src: &Role,
    id: RoleId,
    shortname: &str,
    name: &str,
) -> Vec<EditOp> {
    let mut doc = RoleDoc::from(src);
    doc.id = id.0;
    doc.shortname = shortname.to_string();
    doc.name = Some(name.to_string());
    doc.sortorder = Some(
        e.roles()
            .iter()
            .filter_map(|r| r.sortorder)
            .max()
            .unwrap_or(0)
            + 1,
    );
    let system = e.system_context();
    let mut ops = vec![EditOp::PutRole { role: doc }];
    for cap in e.capabilities() {
        if let Some(p) = e.definition(src.id, &cap.name) {
            ops.push(EditOp::SetPermission {
                role: id,
                context: system,
                capability: cap.name.clone(),
                permission: Some(p),
            });
        }
    }
    ops
}

/// The next free role id.
pub fn next_role_id(e: &Engine) -> RoleId {
    RoleId(
        e.roles()
            .iter()
            .map(|r| r.id.0)
            .max()
            .unwrap_or(0)
            .saturating_add(1),
    )
}

/// A short name not used yet, starting from `base`.
pub fn free_shortname(e: &Engine, base: &str) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while e.roles().iter().any(|r| r.shortname == name) {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// The Define roles screen.
#[component]
pub fn DefineRoles() -> impl IntoView {
    let router = use_router();
    let tab = Memo::new(move |_| {
        router
            .loc
            .with(|l| l.param("tab").unwrap_or_else(|| "define".into()))
    });
    let tabs = [
        ("define", "Manage roles"),
        ("assign", "Allow role assignments"),
        ("override", "Allow role overrides"),
        ("switch", "Allow role switches"),
        ("view", "Allow role to view"),
    ];
    view! {
        <h1>"Define roles"</h1>
        <Tabs label="Define roles" base="#/roles".to_string() tabs=tabs.to_vec() current=tab/>
        {move || match tab.get().as_str() {
            "define" => RoleList().into_any(),
            other => view! { <AllowGrid kind=other.to_string()/> }.into_any(),
        }}
    }
}

#[component]
fn RoleList() -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let roles = Memo::new(move |_| store.with(ordered_roles));
    let lang = store.lang;
    let move_role = move |idx: usize, up: bool| {
        let list = roles.get_untracked();
        let other = if up {
            idx.checked_sub(1)
        } else {
            Some(idx + 1)
        };
        let (Some(a), Some(b)) = (list.get(idx), other.and_then(|o| list.get(o))) else {
            return;
        };
        // Renumber the whole list so that equal or missing sort orders become distinct.
        let mut ops = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let want = if r.id == a.id {
                other.unwrap_or(i)
            } else if r.id == b.id {
                idx
            } else {
                i
            } as i64
                + 1;
            if r.sortorder != Some(want) {
                let mut doc = RoleDoc::from(r);
                doc.sortorder = Some(want);
                ops.push(EditOp::PutRole { role: doc });
            }
        }
        let _ = store.apply(ops, &format!("moved {}", a.shortname));
    };
    let delete = move |r: Role| {
        let ok = window()
            .confirm_with_message(&format!(
                "Delete the role {}? Its assignments and overrides go with it.",
                r.shortname
            ))
            .unwrap_or(false);
        if ok {
            let _ = store.apply(
                vec![EditOp::DeleteRole { role: r.id }],
                &format!("deleted {}", r.shortname),
            );
        }
    };
    let duplicate = move |r: Role| {
        let ops = store.with_untracked(|e| {
            let id = next_role_id(e);
            let short = free_shortname(e, &format!("{}copy", r.shortname));
            (
                id,
                duplicate_ops(
                    e,
                    &r,
                    id,
                    &short,
                    &format!("{} (copy)", display_role(&r, "en")),
                ),
            )
        });
        if store
            .apply(ops.1, &format!("duplicated {}", r.shortname))
            .is_ok()
        {
            router.go(&format!("#/roles/{}", ops.0));
        }
    };
    let legacy = RwSignal::new(false);
    let export = move |r: Role| {
        let opts = capstan_core::preset::ExportOptions {
            allow_view: !legacy.get_untracked(),
        };
        match store.with_untracked(|e| e.export_preset_with(r.id, opts)) {
            Ok(xml) => {
                let file = capstan_core::preset::preset_file_name(&r.shortname);
                if let Err(e) = download(&file, "application/xml", &xml) {
                    store.say(false, e);
                }
            }
            Err(e) => store.say(false, format!("export refused: {e} (error[{}])", e.code())),
        }
    };
    let import = move |ev: leptos::ev::Event| {
        read_file(&ev, move |name, xml| import_preset(store, &name, &xml));
    };
    view! {
        <div class="actions">
            <a class="button" href="#/roles/new" id="add-role">"Add a new role"</a>
            <label class="button file">
                "Import preset XML…"
                <input type="file" accept=".xml,application/xml,text/xml" id="import-preset" on:change=import/>
            </label>
            <label for="export-legacy" class="inline" title="Moodle sites older than the 'Allow role to view' setting refuse a preset that has it">
                <input type="checkbox" id="export-legacy" prop:checked=move || legacy.get() on:change=move |ev| legacy.set(event_target_checked(&ev))/>
                "Export for older Moodle sites (without allowview)"
            </label>
        </div>
        <table class="grid" id="roles-table">
            <caption>"Roles, in the order they are listed everywhere"</caption>
            <thead>
                <tr>
                    <th scope="col">"Role"</th>
                    <th scope="col">"Short name"</th>
                    <th scope="col">"Archetype"</th>
                    <th scope="col">"Context levels"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    let list = roles.get();
                    let n = list.len();
                    list.into_iter()
                        .enumerate()
                        .map(|(i, r)| {
                            let (r1, r2, r3) = (r.clone(), r.clone(), r.clone());
                            let name = display_role(&r, &lang.get());
                            view! {
                                <tr data-role=r.shortname.clone()>
                                    <td><a href=format!("#/roles/{}", r.id)>{name.clone()}</a></td>
                                    <td><code>{r.shortname.clone()}</code></td>
                                    <td>{r.archetype.map(crate::ui::archetype_label).unwrap_or_else(|| "none".into())}</td>
                                    <td>{r.contextlevels.iter().map(|l| crate::ui::level_name(*l)).collect::<Vec<_>>().join(", ")}</td>
                                    <td class="row-actions">
                                        <button on:click=move |_| move_role(i, true) disabled=i == 0 aria-label=format!("Move {name} up")>"↑"</button>
                                        <button on:click=move |_| move_role(i, false) disabled=i + 1 == n aria-label=format!("Move {} down", r.shortname)>"↓"</button>
                                        <a class="button" href=format!("#/roles/{}", r.id)>"Edit"</a>
                                        <button on:click=move |_| duplicate(r1.clone())>"Duplicate"</button>
                                        <button on:click=move |_| export(r2.clone())>"Export XML"</button>
                                        <button class="danger" on:click=move |_| delete(r3.clone())>"Delete"</button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()
                }}
            </tbody>
        </table>
    }
}

/// Imports a preset file: a role with the same short name is replaced (after the admin
/// confirms what changes), otherwise one is made.
pub fn import_preset(store: Store, file: &str, xml: &str) {
    match store.with_untracked(|e| e.preset_ops(xml, None)) {
        Ok((ops, report)) => {
            let mut skipped = Vec::new();
            if !report.unknown_capabilities.is_empty() {
                skipped.push(format!(
                    "capabilities not on this site, skipped: {}",
                    report.unknown_capabilities.join(", ")
                ));
            }
            if !report.unknown_roles.is_empty() {
                skipped.push(format!(
                    "unknown roles in allow lists, skipped: {}",
                    report.unknown_roles.join(", ")
                ));
            }
            if !report.unknown_levels.is_empty() {
                skipped.push(format!(
                    "unknown context levels, skipped: {}",
                    report.unknown_levels.join(", ")
                ));
            }
            if let Some(a) = &report.unknown_archetype {
                skipped.push(format!("unknown archetype {a}, read as none"));
            }
            let skipped = if skipped.is_empty() {
                String::new()
            } else {
                format!("; {}", skipped.join("; "))
            };
            if ops.is_empty() {
                store.say(
                    true,
                    format!(
                        "{file}: role {} already matches the preset{skipped}",
                        report.shortname
                    ),
                );
                return;
            }
            if !report.created {
                let name = store.with_untracked(|e| {
                    e.role(report.role)
                        .map(|r| display_role(r, "en"))
                        .unwrap_or_default()
                });
                let parts: Vec<&str> = report.changed.iter().map(|p| p.name()).collect();
                let ok = window()
                    .confirm_with_message(&format!(
                        "{file} replaces parts of the existing role {name} ({}): {}{}. Continue?",
                        report.shortname,
                        parts.join(", "),
                        if report.permissions_set > 0 {
                            format!(", {} capabilities change", report.permissions_set)
                        } else {
                            String::new()
                        }
                    ))
                    .unwrap_or(false);
                if !ok {
                    store.say(true, format!("{file}: not imported"));
                    return;
                }
            }
            let what = format!(
                "{} role {} from {file}: {} permissions{skipped}",
                if report.created {
                    "created"
                } else {
                    "replaced"
                },
                report.shortname,
                report.permissions_set,
            );
            let _ = store.apply(ops, &what);
        }
        Err(e) => store.say(false, format!("{file}: {e} (error[{}])", e.code())),
    }
}

/// One of the role × role allow grids.
#[component]
fn AllowGrid(
    /// `assign`, `override`, `switch` or `view`.
    kind: String,
) -> impl IntoView {
    let store = use_store();
    let roles = Memo::new(move |_| store.with(ordered_roles));
    let lang = store.lang;
    let kind2 = kind.clone();
    let list_of = move |r: &Role| -> Vec<RoleId> {
        match kind2.as_str() {
            "assign" => r.allow_assign.clone(),
            "override" => r.allow_override.clone(),
            "switch" => r.allow_switch.clone(),
            _ => r.allow_view.clone(),
        }
    };
    let kind3 = kind.clone();
    let toggle = move |from: Role, target: RoleId, on: bool| {
        let mut doc = RoleDoc::from(&from);
        let list = match kind3.as_str() {
            "assign" => &mut doc.allow_assign,
            "override" => &mut doc.allow_override,
            "switch" => &mut doc.allow_switch,
            _ => &mut doc.allow_view,
        };
        let mut v = list.clone().unwrap_or_default();
        v.retain(|x| *x != target.0);
        if on {
            v.push(target.0);
            v.sort_unstable();
        }
        *list = Some(v);
        let _ = store.apply(
            vec![EditOp::PutRole { role: doc }],
            &format!(
                "{} may {}{} role {}",
                from.shortname,
                kind3,
                if on { "" } else { " no longer" },
                target
            ),
        );
    };
    let list_of = StoredValue::new(list_of);
    let toggle = StoredValue::new(toggle);
    let explain = match kind.as_str() {
        "assign" => "Users with the role in the row may assign the role in the column.",
        "override" => "Users with the role in the row may override the role in the column.",
        "switch" => "Users with the role in the row may switch to the role in the column.",
        _ => "Users with the role in the row may see the role in the column.",
    };
    view! {
        <p>{explain}</p>
        <div class="scroll">
            <table class="grid allow" id=format!("allow-{kind}")>
                <thead>
                    <tr>
                        <th scope="col">"Role"</th>
                        {move || roles.get().into_iter().map(|r| view! { <th scope="col">{display_role(&r, &lang.get())}</th> }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let list = roles.get();
                        list.iter()
                            .map(|from| {
                                let allowed = list_of.with_value(|f| f(from));
                                let from_name = display_role(from, &lang.get());
                                view! {
                                    <tr>
                                        <th scope="row">{from_name.clone()}</th>
                                        {list
                                            .iter()
                                            .map(|to| {
                                                let on = allowed.contains(&to.id);
                                                let from = from.clone();
                                                let to_id = to.id;
                                                let label = format!("{from_name}: {}", display_role(to, "en"));
                                                view! {
                                                    <td>
                                                        <input
                                                            type="checkbox"
                                                            checked=on
                                                            aria-label=label
                                                            on:change=move |ev| {
                                                                let v = event_target_checked(&ev);
                                                                toggle.with_value(|t| t(from.clone(), to_id, v));
                                                            }
                                                        />
                                                    </td>
                                                }
                                            })
                                            .collect_view()}
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </div>
    }
}
