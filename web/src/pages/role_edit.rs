//! Edit role and Add a new role: the role's fields and the capability table (grouped by
//! component, risk badges, filter, Not set/Allow/Prevent/Prohibit per capability), with the
//! live preview beside it.

use crate::pages::heatmap::LivePreview;
use crate::pages::roles::{duplicate_ops, next_role_id};
use crate::route::use_router;
use crate::store::use_store;
use crate::ui::{
    PERMISSIONS, Risks, archetype_label, display_role, permission_key, permission_label,
};
use capstan_core::preset::{ResetFrom, RolePart};
use capstan_core::snapshot::RoleDoc;
use capstan_core::validate::is_valid_shortname;
use capstan_core::{Archetype, Capability, ContextLevel, EditOp, Engine, Role, RoleId};
use leptos::prelude::*;

/// The component of a capability (`mod/forum` of `mod/forum:replypost`).
pub fn component_of(cap: &str) -> &str {
    cap.split_once(':').map(|(c, _)| c).unwrap_or(cap)
}

/// Add a new role, based on an archetype or on another role.
#[component]
pub fn NewRole() -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let base = RwSignal::new(
        router
            .loc
            .with_untracked(|l| {
                l.param("from")
                    .or_else(|| l.param("archetype").map(|a| format!("a:{a}")))
            })
            .unwrap_or_else(|| "a:student".into()),
    );
    let shortname = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let roles = Memo::new(move |_| store.with(crate::pages::roles::ordered_roles));
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let short = shortname.get_untracked().trim().to_string();
        if !is_valid_shortname(&short) {
            error.set(Some(
                "Short name: use ASCII letters, digits, _ and - only (1–100 characters).".into(),
            ));
            return;
        }
        let display = name.get_untracked();
        let b = base.get_untracked();
        let made = store.with_untracked(|e| {
            if e.roles().iter().any(|r| r.shortname == short) {
                return Err(format!("The short name {short} is already used."));
            }
            let id = next_role_id(e);
            let display = if display.trim().is_empty() {
                short.clone()
            } else {
                display.clone()
            };
            if let Some(a) = b.strip_prefix("a:") {
                // Moodle's defaults of the archetype: levels, allow lists, definition.
                let arch =
                    Archetype::from_name(a).ok_or_else(|| format!("unknown archetype {a}"))?;
                return Ok((
                    id,
                    e.new_role_from_archetype_ops(id, &short, &display, arch),
                ));
            }
            let rid = b
                .parse::<u32>()
                .map_err(|_| "choose what to base the role on".to_string())?;
            let source = e
                .role(RoleId(rid))
                .cloned()
                .ok_or_else(|| format!("unknown role {rid}"))?;
            Ok((id, duplicate_ops(e, &source, id, &short, &display)))
        });
        match made {
            Ok((id, ops)) => {
                if store.apply(ops, &format!("created role {short}")).is_ok() {
                    router.go(&format!("#/roles/{id}"));
                }
            }
            Err(msg) => error.set(Some(msg)),
        }
    };
    view! {
        <h1>"Add a new role"</h1>
        <form class="form" on:submit=create id="new-role-form">
            <label for="base">"Based on"</label>
            <select id="base" on:change=move |ev| base.set(event_target_value(&ev))>
                <ArchetypeOptions chosen=base/>
                <optgroup label="Existing role (a copy)">
                    {move || {
                        roles
                            .get()
                            .into_iter()
                            .map(|r| {
                                let v = r.id.0.to_string();
                                let v2 = v.clone();
                                view! { <option value=v selected=move || base.get() == v2>{display_role(&r, "en")}</option> }
                            })
                            .collect_view()
                    }}
                </optgroup>
            </select>
            <label for="new-shortname">"Short name"</label>
            <input id="new-shortname" required pattern="[A-Za-z0-9_\\-]+" bind:value=shortname autocomplete="off"/>
            <label for="new-name">"Full name"</label>
            <input id="new-name" bind:value=name autocomplete="off"/>
            <div class="form-actions">
                <button type="submit" class="primary">"Create role"</button>
                <a class="button" href="#/roles">"Cancel"</a>
            </div>
            {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
        </form>
    }
}

/// Edit one role.
#[component]
pub fn EditRole(
    /// The role id.
    id: u32,
) -> impl IntoView {
    let store = use_store();
    let role = Memo::new(move |_| store.with(|e| e.role(RoleId(id)).cloned()));
    move || {
        match role.get() {
        None => view! {
            <h1>"No such role"</h1>
            <p>"Role " {id} " does not exist (deleted, or undone). " <a href="#/roles">"Back to roles"</a></p>
        }
        .into_any(),
        Some(r) => view! {
            <div class="with-preview">
                <div class="main-col">
                    <RoleForm role=r.clone()/>
                    <CapabilityTable role=RoleId(id)/>
                </div>
                <aside class="preview-col" aria-label="Live preview">
                    <LivePreview role=Some(RoleId(id))/>
                </aside>
            </div>
        }
        .into_any(),
    }
    }
}

#[component]
fn RoleForm(
    /// The role as it was when the form opened.
    role: Role,
) -> impl IntoView {
    let store = use_store();
    let id = role.id;
    let name = RwSignal::new(role.name.clone());
    let shortname = RwSignal::new(role.shortname.clone());
    let description = RwSignal::new(role.description.clone());
    let archetype = RwSignal::new(
        role.archetype
            .map(|a| a.name().to_string())
            .unwrap_or_default(),
    );
    let levels = RwSignal::new(role.contextlevels.clone());
    let short_ok = Memo::new(move |_| is_valid_shortname(shortname.get().trim()));
    let lang = store.lang;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !short_ok.get_untracked() {
            store.say(
                false,
                "the short name may hold ASCII letters, digits, _ and - only",
            );
            return;
        }
        let Some(current) = store.with_untracked(|e| e.role(id).cloned()) else {
            return;
        };
        let mut doc = RoleDoc::from(&current);
        doc.name = Some(name.get_untracked());
        doc.shortname = shortname.get_untracked().trim().to_string();
        doc.description = Some(description.get_untracked());
        doc.archetype = Archetype::from_name(&archetype.get_untracked());
        let mut lv = levels.get_untracked();
        lv.sort();
        doc.contextlevels = Some(lv);
        let _ = store.apply(
            vec![EditOp::PutRole { role: doc }],
            &format!("saved role {}", shortname.get_untracked()),
        );
    };
    let resetting = RwSignal::new(false);
    let comparing = RwSignal::new(false);
    let impacting = RwSignal::new(false);
    view! {
        <h1>"Edit role: " {move || {
            let n = name.get();
            if n.trim().is_empty() {
                // Moodle's English name of a standard role, else the short name.
                capstan_core::moodle::standard_role_name(&shortname.get())
                    .map(str::to_string)
                    .unwrap_or_else(|| shortname.get())
            } else {
                crate::multilang::text_for(&n, &lang.get())
            }
        }}</h1>
        <form class="form role-form" on:submit=save id="role-form">
            <label for="role-name">"Full name " <small>"(multilang spans allowed)"</small></label>
            <input id="role-name" bind:value=name autocomplete="off"
                placeholder=move || capstan_core::moodle::standard_role_name(&shortname.get())
                    .map(|n| format!("{n} (Moodle's name while this is empty)"))
                    .unwrap_or_default()/>
            <label for="role-shortname">"Short name"</label>
            <input
                id="role-shortname"
                bind:value=shortname
                aria-invalid=move || (!short_ok.get()).to_string()
                aria-describedby="shortname-help"
                autocomplete="off"
            />
            <small id="shortname-help" class:field-error=move || !short_ok.get()>
                "ASCII letters, digits, _ and - only."
            </small>
            <label for="role-description">"Description"</label>
            <textarea id="role-description" bind:value=description rows="2"></textarea>
            <label for="role-archetype">"Role archetype"</label>
            <select id="role-archetype" on:change=move |ev| archetype.set(event_target_value(&ev))>
                <option value="" selected=move || archetype.get().is_empty()>"None"</option>
                {Archetype::ALL
                    .into_iter()
                    .map(|a| view! { <option value=a.name() selected=move || archetype.get() == a.name()>{archetype_label(a)}</option> })
                    .collect_view()}
            </select>
            {check_set(
                "Context types where this role may be assigned",
                None,
                ContextLevel::ALL
                    .into_iter()
                    .map(|l| (l, format!("level-{}", l.name()), crate::ui::level_name(l)))
                    .collect(),
                levels,
            )}
            <div class="form-actions">
                <button type="submit" class="primary" id="save-role">"Save changes"</button>
                <button type="button" on:click=move |_| resetting.update(|v| *v = !*v) id="reset-role" aria-expanded=move || resetting.get().to_string()>"Reset role…"</button>
                <button type="button" on:click=move |_| comparing.update(|v| *v = !*v) id="compare-role" aria-expanded=move || comparing.get().to_string()>"Compare…"</button>
                <button type="button" on:click=move |_| impacting.update(|v| *v = !*v) id="impact-role" aria-expanded=move || impacting.get().to_string()>"Impact of a change…"</button>
                <a class="button" href="#/roles">"Back to roles"</a>
            </div>
        </form>
        {move || resetting.get().then(|| view! { <ResetPanel role=id archetype=role.archetype on_done=Callback::new(move |_| resetting.set(false))/> })}
        {move || comparing.get().then(|| view! { <ComparePanel role=id archetype=role.archetype on_done=Callback::new(move |_| comparing.set(false))/> })}
        {move || impacting.get().then(|| view! { <ImpactPanel role=id on_done=Callback::new(move |_| impacting.set(false))/> })}
    }
}

/// Moodle's "Reset role": where the parts come from, which parts, what will change, then
/// confirm.
#[component]
fn ResetPanel(
    /// The role.
    role: RoleId,
    /// Its archetype when the panel opened (the default source).
    archetype: Option<Archetype>,
    /// Closes the panel.
    on_done: Callback<()>,
) -> impl IntoView {
    let store = use_store();
    let (source, preset) = source_signals(archetype);
    // Moodle's reset page ticks everything but the names.
    let parts = RwSignal::new(
        RolePart::ALL
            .into_iter()
            .filter(|p| {
                !matches!(
                    p,
                    RolePart::Shortname | RolePart::Name | RolePart::Description
                )
            })
            .collect::<Vec<_>>(),
    );
    let plan = Memo::new(move |_| {
        let src = source.get();
        let chosen = parts.get();
        let file = preset.get();
        store.with(|e| {
            let from = source_from(&src, &file)?;
            e.reset_role_ops(role, from, &chosen)
                .map_err(|err| format!("{err} (error[{}])", err.code()))
        })
    });
    let apply = move |_| {
        let Ok((ops, report)) = plan.get_untracked() else {
            return;
        };
        if ops.is_empty() {
            store.say(true, "nothing to change: the role already has these values");
            on_done.run(());
            return;
        }
        if store
            .apply(ops, &format!("reset role {}", report.shortname))
            .is_ok()
        {
            on_done.run(());
        }
    };
    view! {
        <section class="form reset-panel" id="reset-panel" aria-labelledby="reset-title">
            <h2 id="reset-title">"Reset role"</h2>
            <SourceSelect role=role id="reset-source" file_id="reset-preset" label="Use role or archetype" nothing="No role (clear the chosen parts)" source=source preset=preset/>
            {check_set(
                "What to reset",
                Some("reset-parts"),
                RolePart::ALL
                    .into_iter()
                    .map(|p| (p, format!("reset-{}", p.name()), part_label(p)))
                    .collect(),
                parts,
            )}
            <p id="reset-impact" role="status" class="reset-impact">
                {move || match plan.get() {
                    Err(m) => m,
                    Ok((_, r)) if r.changed.is_empty() => "Nothing would change.".to_string(),
                    Ok((_, r)) => {
                        let parts: Vec<&str> = r.changed.iter().map(|p| part_label(*p)).collect();
                        let mut text = format!("This changes: {}", parts.join(", "));
                        if r.permissions_set > 0 {
                            text.push_str(&format!(" ({} capabilities)", r.permissions_set));
                        }
                        if !r.unknown_capabilities.is_empty() {
                            text.push_str(&format!(
                                "; {} capabilities of the preset are not on this site and are skipped",
                                r.unknown_capabilities.len()
                            ));
                        }
                        text + "."
                    }
                }}
            </p>
            <div class="form-actions">
                <button type="button" class="primary" id="reset-apply" on:click=apply
                    disabled=move || !matches!(plan.get(), Ok((ref ops, _)) if !ops.is_empty())>"Reset"</button>
                <button type="button" on:click=move |_| on_done.run(())>"Cancel"</button>
            </div>
        </section>
    }
}

/// Where a reset or a comparison takes its values from, as [`SourceSelect`] gives it:
/// `nothing`, `a:ARCHETYPE`, `r:ROLE` or `preset` (with the chosen file's text).
fn source_from<'a>(src: &str, file: &'a Option<(String, String)>) -> Result<ResetFrom<'a>, String> {
    Ok(if let Some(a) = src.strip_prefix("a:") {
        ResetFrom::Archetype(Archetype::from_name(a).ok_or("unknown archetype")?)
    } else if let Some(r) = src.strip_prefix("r:") {
        ResetFrom::Role(RoleId(r.parse().map_err(|_| "unknown role")?))
    } else if src == "preset" {
        match file {
            Some((_, xml)) => ResetFrom::Preset(xml),
            None => return Err("choose a preset file".to_string()),
        }
    } else {
        ResetFrom::Nothing
    })
}

/// The state of a [`SourceSelect`]: the chosen source (the role's archetype when it has one,
/// else nothing) and the chosen preset file.
fn source_signals(
    archetype: Option<Archetype>,
) -> (RwSignal<String>, RwSignal<Option<(String, String)>>) {
    (
        RwSignal::new(
            archetype
                .map(|a| format!("a:{}", a.name()))
                .unwrap_or_else(|| "nothing".into()),
        ),
        RwSignal::new(None),
    )
}

/// The source of a reset or a comparison: nothing, an archetype (Moodle's defaults), another
/// role of the site, or a preset file.
#[component]
fn SourceSelect(
    /// The role being reset or compared (not offered as its own source).
    role: RoleId,
    /// The select's id.
    id: &'static str,
    /// The preset file input's id.
    file_id: &'static str,
    /// Its label.
    label: &'static str,
    /// What "nothing" is called here.
    nothing: &'static str,
    /// The chosen source (`nothing`, `a:…`, `r:…`, `preset`).
    source: RwSignal<String>,
    /// The chosen preset file: name and text.
    preset: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    let store = use_store();
    let lang = store.lang;
    let roles = Memo::new(move |_| store.with(crate::pages::roles::ordered_roles));
    let on_file = move |ev: leptos::ev::Event| {
        crate::ui::read_file(&ev, move |name, xml| {
            preset.set(Some((name, xml)));
            source.set("preset".into());
        });
    };
    view! {
        <div>
        <label for=id>{label}</label>
        <select id=id on:change=move |ev| source.set(event_target_value(&ev))>
            <option value="nothing" selected=move || source.get() == "nothing">{nothing}</option>
            <ArchetypeOptions chosen=source/>
            <optgroup label="Another role">
                {move || {
                    roles
                        .get()
                        .into_iter()
                        .filter(|r| r.id != role)
                        .map(|r| {
                            let v = format!("r:{}", r.id);
                            let v2 = v.clone();
                            view! { <option value=v selected=move || source.get() == v2>{display_role(&r, &lang.get())}</option> }
                        })
                        .collect_view()
                }}
            </optgroup>
            <option value="preset" selected=move || source.get() == "preset">"A preset file"</option>
        </select>
        </div>
        <div>
        <label class="button file">
            {move || preset.get().map(|(n, _)| format!("Preset: {n}")).unwrap_or_else(|| "Choose a preset file…".into())}
            <input type="file" accept=".xml,application/xml,text/xml" id=file_id on:change=on_file/>
        </label>
        </div>
    }
}

/// Compare roles: this role beside an archetype's defaults, another role or a preset file,
/// differences only, with the risks; the difference can be downloaded as a preset.
#[component]
fn ComparePanel(
    /// The role.
    role: RoleId,
    /// Its archetype when the panel opened (the default other side).
    archetype: Option<Archetype>,
    /// Closes the panel.
    on_done: Callback<()>,
) -> impl IntoView {
    let store = use_store();
    let lang = store.lang;
    let (source, preset) = source_signals(archetype);
    let cmp = Memo::new(move |_| {
        let src = source.get();
        let file = preset.get();
        store.with(|e| {
            let from = source_from(&src, &file)?;
            e.compare_role(role, from)
                .map_err(|err| format!("{err} (error[{}])", err.code()))
        })
    });
    let other_name = move || {
        let src = source.get();
        store.with(|e| {
            if let Some(a) = src.strip_prefix("a:") {
                Archetype::from_name(a)
                    .map(|a| format!("{} defaults", archetype_label(a)))
                    .unwrap_or_default()
            } else if let Some(r) = src.strip_prefix("r:").and_then(|r| r.parse().ok()) {
                e.role(RoleId(r))
                    .map(|r| display_role(r, &lang.get()))
                    .unwrap_or_default()
            } else if src == "preset" {
                preset
                    .get()
                    .map(|(n, _)| n)
                    .unwrap_or_else(|| "the preset".into())
            } else {
                "No role".into()
            }
        })
    };
    let names = move |ids: &[RoleId]| -> String {
        store.with(|e| {
            ids.iter()
                .map(|r| {
                    e.role(*r)
                        .map(|r| display_role(r, &lang.get()))
                        .unwrap_or_else(|| r.to_string())
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let levels = |l: &[ContextLevel]| -> String {
        if l.is_empty() {
            "none".into()
        } else {
            l.iter()
                .map(|l| crate::ui::level_name(*l))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let export = move |_| {
        let src = source.get_untracked();
        let file = preset.get_untracked();
        // The comparison on screen (the memo's), not a second one.
        let compared = cmp.get_untracked();
        let result = store.with_untracked(|e| {
            let from = source_from(&src, &file)?;
            let c = compared?;
            let xml = e
                .comparison_preset(&c, from, capstan_core::preset::ExportOptions::default())
                .map_err(|x| x.to_string())?;
            let short = e
                .role(role)
                .map(|r| r.shortname.clone())
                .unwrap_or_default();
            Ok::<_, String>((format!("{short}-difference.xml"), xml))
        });
        match result.and_then(|(name, xml)| {
            crate::ui::download(&name, "application/xml", &xml).map(|_| name)
        }) {
            Ok(name) => store.say(
                true,
                format!(
                    "downloaded {name}: import it over this role to give it the other side's values"
                ),
            ),
            Err(m) => store.say(false, &m),
        }
    };
    view! {
        <section class="form compare-panel" id="compare-panel" aria-labelledby="compare-title">
            <h2 id="compare-title">"Compare role"</h2>
            <SourceSelect role=role id="compare-source" file_id="compare-preset" label="Compare with" nothing="No role (everything not set)" source=source preset=preset/>
            {move || match cmp.get() {
                Err(m) => view! { <p class="field-error" id="compare-summary">{m}</p> }.into_any(),
                Ok(c) if c.is_empty() => view! { <p id="compare-summary" role="status">"No difference: the role and " {other_name()} " are the same."</p> }.into_any(),
                Ok(c) => {
                    let n = c.capabilities.len();
                    let risky = c.capabilities.iter().filter(|d| !d.risks.is_empty()).count();
                    view! {
                        <p id="compare-summary" role="status">
                            {format!("{n} capabilit{} differ{}", if n == 1 { "y" } else { "ies" }, if n == 1 { "s" } else { "" })}
                            {(risky > 0).then(|| format!(" ({risky} with risks)"))}
                            {c.archetype.is_some().then_some("; the archetype differs")}
                            {c.contextlevels.is_some().then_some("; the context types differ")}
                            {(!c.allows.is_empty()).then(|| format!("; {} allow list(s) differ", c.allows.len()))}
                            {(!c.unknown_capabilities.is_empty()).then(|| format!("; {} capabilities of the preset are not on this site", c.unknown_capabilities.len()))}
                            "."
                        </p>
                        <table class="grid" id="compare-table">
                            <thead><tr><th scope="col">"Capability"</th><th scope="col">"This role"</th><th scope="col">{other_name()}</th><th scope="col">"Risks"</th></tr></thead>
                            <tbody>
                                {c.archetype.map(|(l, r)| view! {
                                    <tr id="compare-archetype"><th scope="row">"Archetype"</th>
                                        <td>{l.map(archetype_label).unwrap_or_else(|| "none".into())}</td>
                                        <td>{r.map(archetype_label).unwrap_or_else(|| "none".into())}</td><td></td></tr>
                                })}
                                {c.contextlevels.map(|(l, r)| view! {
                                    <tr id="compare-levels"><th scope="row">"Context types"</th><td>{levels(&l)}</td><td>{levels(&r)}</td><td></td></tr>
                                })}
                                {c.allows.into_iter().map(|a| view! {
                                    <tr class="compare-allow"><th scope="row">{format!("Allow role {}", a.kind.element().trim_start_matches("allow"))}</th>
                                        <td>{if a.only_left.is_empty() { "—".to_string() } else { format!("only here: {}", names(&a.only_left)) }}</td>
                                        <td>{if a.only_right.is_empty() { "—".to_string() } else { format!("only there: {}", names(&a.only_right)) }}</td><td></td></tr>
                                }).collect_view()}
                                {c.capabilities.into_iter().map(|d| {
                                    let risks: capstan_core::RiskSet = d.risks.iter().copied().collect();
                                    view! {
                                        <tr data-cap=d.capability.clone()>
                                            <th scope="row"><code>{d.capability.clone()}</code></th>
                                            <td class=format!("perm-{}", permission_key(d.left))>{permission_label(d.left)}</td>
                                            <td class=format!("perm-{}", permission_key(d.right))>{permission_label(d.right)}</td>
                                            <td><Risks risks=risks/></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }
                    .into_any()
                }
            }}
            <div class="form-actions">
                <button type="button" id="compare-export" on:click=export
                    disabled=move || !matches!(cmp.get(), Ok(ref c) if !c.is_empty())>"Download the difference as a preset"</button>
                <button type="button" on:click=move |_| on_done.run(())>"Close"</button>
            </div>
        </section>
    }
}

/// The impact of a change before it is made: who would gain or lose a capability where, if
/// this role's value for it were set in a context (the system context: the definition).
#[component]
fn ImpactPanel(
    /// The role.
    role: RoleId,
    /// Closes the panel.
    on_done: Callback<()>,
) -> impl IntoView {
    use capstan_core::impact::PermissionImpact;
    use capstan_core::{CheckOptions, ContextId, Permission};
    let store = use_store();
    let caps = Memo::new(move |_| {
        store.with_structure(|e| {
            e.capabilities()
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        })
    });
    let system = store.with_untracked(|e| {
        e.contexts()
            .iter()
            .find(|c| c.level == ContextLevel::System)
            .map(|c| c.id.0)
    });
    let cap = RwSignal::new(String::new());
    let value = RwSignal::new("prohibit".to_string());
    let ctx = RwSignal::new(system);
    let result = RwSignal::new(None::<Result<(PermissionImpact, f64), String>>);
    let permission = move || match value.get_untracked().as_str() {
        "allow" => Some(Permission::Allow),
        "prevent" => Some(Permission::Prevent),
        "prohibit" => Some(Permission::Prohibit),
        _ => None,
    };
    let compute = move |_| {
        let Some(c) = ctx.get_untracked() else {
            result.set(Some(Err("choose a context".into())));
            return;
        };
        let name = cap.get_untracked().trim().to_string();
        let t0 = crate::store::perf_now();
        let r = store.with_untracked(|e| {
            e.permission_impact(
                role,
                ContextId(c),
                &name,
                permission(),
                CheckOptions::at(crate::store::now()),
            )
            .map_err(|err| format!("{err} (error[{}])", err.code()))
        });
        result.set(Some(r.map(|i| (i, crate::store::perf_now() - t0))));
    };
    let make = move |_| {
        let (Some(c), name) = (ctx.get_untracked(), cap.get_untracked().trim().to_string()) else {
            return;
        };
        let op = EditOp::SetPermission {
            role,
            context: ContextId(c),
            capability: name.clone(),
            permission: permission(),
        };
        if store
            .apply(vec![op], &format!("{name}: {}", value.get_untracked()))
            .is_ok()
        {
            result.set(None);
            on_done.run(());
        }
    };
    // The first 20 users of a side (the whole list of a site-wide change can hold every user
    // × every course: it is computed as far as it is shown).
    let user_list = move |v: Vec<(capstan_core::UserId, Vec<ContextId>)>, total: usize| {
        let mut out = store.with_untracked(|e| {
            v.iter()
                .map(|(u, cs)| format!("{} — {} context(s)", crate::ui::user_name(e, *u), cs.len()))
                .collect::<Vec<_>>()
        });
        if total > v.len() {
            out.push(format!("… and {} more", total - v.len()));
        }
        out
    };
    let context_list = move |list: Vec<(ContextId, usize)>| {
        let more = list.len().saturating_sub(20);
        let mut out = store.with_untracked(|e| {
            list.into_iter()
                .take(20)
                .map(|(c, n)| format!("{} — {n} user(s)", crate::ui::context_name(e, c)))
                .collect::<Vec<_>>()
        });
        if more > 0 {
            out.push(format!("… and {more} more"));
        }
        out
    };
    view! {
        <section class="form compare-panel" id="impact-panel" aria-labelledby="impact-title">
            <h2 id="impact-title">"Impact of a change"</h2>
            <p class="muted">"Before you change it: who would gain or lose a capability, and where, if this role's value were set in a context (the system context changes the role's definition; a lower one is an override)."</p>
            <div>
                <label for="impact-cap">"Capability"</label>
                <input id="impact-cap" list="impact-caps" bind:value=cap placeholder="mod/forum:addnews" autocomplete="off"/>
                <datalist id="impact-caps">{move || caps.get().into_iter().map(|c| view! { <option value=c/> }).collect_view()}</datalist>
            </div>
            <div>
                <label for="impact-value">"Set to"</label>
                <select id="impact-value" on:change=move |ev| value.set(event_target_value(&ev))>
                    {PERMISSIONS.into_iter().map(|p| {
                        let k = permission_key(p);
                        view! { <option value=k selected=move || value.get() == k>{permission_label(p)}</option> }
                    }).collect_view()}
                </select>
            </div>
            <crate::ui::ContextPicker store=store selected=Signal::derive(move || ctx.get()) on_pick=Callback::new(move |c: u32| ctx.set(Some(c))) label="In" id="impact-context"/>
            <div class="form-actions">
                <button type="button" class="primary" id="impact-compute" on:click=compute>"Show the impact"</button>
                <button type="button" on:click=move |_| on_done.run(())>"Close"</button>
            </div>
            {move || result.get().map(|r| match r {
                Err(m) => view! { <p class="field-error" id="impact-summary">{m}</p> }.into_any(),
                Ok((i, ms)) => {
                    let level = crate::ui::level_name(i.level).to_lowercase();
                    let summary = if i.is_empty() {
                        format!("Nobody's answer for {} changes ({} answers compared).", i.capability, i.compared)
                    } else {
                        format!(
                            "This gives {} user(s) {} in {} {level} context(s) and removes it from {} user(s) in {} ({} answers compared).",
                            i.users_gaining(), i.capability, i.contexts_gaining(), i.users_losing(), i.contexts_losing(), i.compared
                        )
                    };
                    let (gu, gc, lu, lc) = (
                        user_list(i.gains().take(20).collect(), i.users_gaining()),
                        context_list(i.gains_by_context()),
                        user_list(i.losses().take(20).collect(), i.users_losing()),
                        context_list(i.losses_by_context()),
                    );
                    view! {
                        <p id="impact-summary" role="status">{summary} <small class="muted">{format!(" {ms:.0} ms")}</small></p>
                        <div class="impact-lists">
                            {(!gu.is_empty()).then(|| view! {
                                <div><h3>"Gain it"</h3><ul class="compact" id="impact-gain-users">{gu.into_iter().map(|x| view! { <li>{x}</li> }).collect_view()}</ul>
                                <h3>"Where"</h3><ul class="compact" id="impact-gain-contexts">{gc.into_iter().map(|x| view! { <li>{x}</li> }).collect_view()}</ul></div>
                            })}
                            {(!lu.is_empty()).then(|| view! {
                                <div><h3>"Lose it"</h3><ul class="compact" id="impact-lose-users">{lu.into_iter().map(|x| view! { <li>{x}</li> }).collect_view()}</ul>
                                <h3>"Where"</h3><ul class="compact" id="impact-lose-contexts">{lc.into_iter().map(|x| view! { <li>{x}</li> }).collect_view()}</ul></div>
                            })}
                        </div>
                        <div class="form-actions"><button type="button" id="impact-apply" on:click=make>"Make this change"</button></div>
                    }
                    .into_any()
                }
            })}
        </section>
    }
}

/// The archetypes of a select, as `a:NAME` options, with Moodle's names.
#[component]
fn ArchetypeOptions(
    /// The select's value.
    chosen: RwSignal<String>,
) -> impl IntoView {
    view! {
        <optgroup label="Archetype (Moodle 4.5 defaults)">
            {Archetype::ALL
                .into_iter()
                .map(|a| {
                    let v = format!("a:{}", a.name());
                    let v2 = v.clone();
                    view! { <option value=v selected=move || chosen.get() == v2>{archetype_label(a)}</option> }
                })
                .collect_view()}
        </optgroup>
    }
}

/// A fieldset of checkboxes, one per item (value, element id, label), bound to the list of
/// the chosen values.
fn check_set<T: Copy + PartialEq + Send + Sync + 'static>(
    legend: &'static str,
    id: Option<&'static str>,
    items: Vec<(T, String, &'static str)>,
    chosen: RwSignal<Vec<T>>,
) -> impl IntoView {
    view! {
        <fieldset class="levels" id=id>
            <legend>{legend}</legend>
            {items
                .into_iter()
                .map(|(value, idv, label)| {
                    let idv2 = idv.clone();
                    view! {
                        <label for=idv2 class="inline">
                            <input
                                type="checkbox"
                                id=idv
                                prop:checked=move || chosen.get().contains(&value)
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|v| {
                                        v.retain(|x| *x != value);
                                        if on {
                                            v.push(value);
                                        }
                                    });
                                }
                            />
                            {label}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}

/// A role part as Moodle's reset page names it.
fn part_label(p: RolePart) -> &'static str {
    match p {
        RolePart::Shortname => "Short name",
        RolePart::Name => "Custom full name",
        RolePart::Description => "Custom description",
        RolePart::Archetype => "Role archetype",
        RolePart::Contextlevels => "Context types where this role may be assigned",
        RolePart::AllowAssign => "Allow role assignments",
        RolePart::AllowOverride => "Allow role overrides",
        RolePart::AllowSwitch => "Allow role switches",
        RolePart::AllowView => "Allow role to view",
        RolePart::Permissions => "Permissions",
    }
}

#[component]
fn CapabilityTable(
    /// The role.
    role: RoleId,
) -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let filter = Memo::new(move |_| router.loc.with(|l| l.param("q").unwrap_or_default()));
    let caps = Memo::new(move |_| store.with_structure(|e| e.capabilities().to_vec()));
    let groups = Memo::new(move |_| {
        let f = filter.get().to_lowercase();
        let mut groups: Vec<(String, Vec<Capability>)> = Vec::new();
        for c in caps.get() {
            if !f.is_empty() && !c.name.to_lowercase().contains(&f) {
                continue;
            }
            let comp = component_of(&c.name).to_string();
            match groups.iter_mut().find(|g| g.0 == comp) {
                Some(g) => g.1.push(c),
                None => groups.push((comp, vec![c])),
            }
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
    });
    let set = move |cap: String, p: Option<capstan_core::Permission>| {
        let system = store.with_untracked(Engine::system_context);
        let _ = store.apply(
            vec![EditOp::SetPermission {
                role,
                context: system,
                capability: cap.clone(),
                permission: p,
            }],
            &format!("{cap}: {}", permission_label(p)),
        );
    };
    view! {
        <h2>"Capabilities"</h2>
        <div class="filter">
            <label for="cap-filter">"Filter"</label>
            <input
                id="cap-filter"
                type="search"
                placeholder="e.g. forum or :view"
                prop:value=move || filter.get()
                on:input=move |ev| router.set_param("q", &event_target_value(&ev))
            />
            <span class="muted">{move || format!("{} shown", groups.get().iter().map(|g| g.1.len()).sum::<usize>())}</span>
        </div>
        <table class="grid caps" id="capability-table">
            <thead>
                <tr>
                    <th scope="col">"Capability"</th>
                    <th scope="col">"Risks"</th>
                    {PERMISSIONS.into_iter().map(|p| view! { <th scope="col">{permission_label(p)}</th> }).collect_view()}
                </tr>
            </thead>
            {move || {
                groups
                    .get()
                    .into_iter()
                    .map(|(comp, list)| {
                        view! {
                            <tbody>
                                <tr class="group"><th colspan="6" scope="rowgroup">{comp}</th></tr>
                                {list
                                    .into_iter()
                                    .map(|c| {
                                        let name = c.name.clone();
                                        let current = {
                                            let name = name.clone();
                                            Memo::new(move |_| store.with(|e| e.definition(role, &name)))
                                        };
                                        view! {
                                            <tr data-cap=name.clone() class=move || format!("perm-{}", permission_key(current.get()))>
                                                <th scope="row">
                                                    <code>{name.clone()}</code>
                                                    <small class="muted">{format!(" {} · {}", format!("{:?}", c.captype).to_lowercase(), crate::ui::level_name(c.contextlevel))}</small>
                                                </th>
                                                <td><Risks risks=c.risks/></td>
                                                {PERMISSIONS
                                                    .into_iter()
                                                    .map(|p| {
                                                        let name = name.clone();
                                                        let label = format!("{name}: {}", permission_label(p));
                                                        view! {
                                                            <td class="radio">
                                                                <input
                                                                    type="radio"
                                                                    name=format!("perm-{name}")
                                                                    value=permission_key(p)
                                                                    aria-label=label
                                                                    prop:checked=move || current.get() == p
                                                                    on:keydown=move |ev| crate::ui::permission_radio_keys(&ev)
                                                                    on:change=move |_| set(name.clone(), p)
                                                                />
                                                            </td>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        }
                    })
                    .collect_view()
            }}
        </table>
    }
}
