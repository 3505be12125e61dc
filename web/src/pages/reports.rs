//! Reports: capability overview, who has a capability, unsupported role assignments.

use crate::route::use_router;
use crate::store::{now, use_store};
use crate::ui::{ContextPicker, context_name, permission_label, role_name, user_name};
use capstan_core::{ContextId, EditOp, Source};
use leptos::prelude::*;

/// Capability overview and "who has this capability".
#[component]
pub fn Overview() -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let lang = store.lang;
    let cap = Memo::new(move |_| router.loc.with(|l| l.param("cap")));
    let ctx = Memo::new(move |_| router.loc.with(|l| l.num("ctx")).unwrap_or(1));
    let caps = Memo::new(move |_| {
        store.with(|e| {
            e.capabilities()
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        })
    });
    let overview = Memo::new(move |_| {
        let c = cap.get()?;
        let actor = capstan_core::UserId(store.actor.get());
        Some(store.with(|e| {
            // The roles the acting user may see (Moodle's "Allow role to view").
            let ids: Vec<capstan_core::RoleId> =
                crate::pages::roles::listed_roles(e, actor, e.system_context())
                    .iter()
                    .map(|r| r.id)
                    .collect();
            e.capability_overview(&c, Some(&ids))
                .map(|rows| {
                    rows.into_iter()
                        .map(|r| {
                            let ovr = r
                                .overrides
                                .iter()
                                .map(|(cx, p)| {
                                    format!(
                                        "{} in {}",
                                        permission_label(Some(*p)),
                                        context_name(e, *cx)
                                    )
                                })
                                .collect::<Vec<_>>();
                            (
                                role_name(e, r.role, &lang.get()),
                                permission_label(r.definition),
                                ovr,
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(|e| format!("{e} (error[{}])", e.code()))
        }))
    });
    let who = Memo::new(move |_| {
        let c = cap.get()?;
        let x = ContextId(ctx.get());
        Some(store.with(|e| {
            e.users_with_capability(&c, x, now())
                .map(|u| {
                    (
                        u.all_authenticated,
                        u.users
                            .iter()
                            .map(|id| user_name(e, *id))
                            .collect::<Vec<_>>(),
                        context_name(e, x),
                    )
                })
                .map_err(|e| format!("{e} (error[{}])", e.code()))
        }))
    });
    view! {
        <h1>"Capability overview"</h1>
        <p><a href="#/reports/unsupported">"Unsupported role assignments →"</a></p>
        <label for="overview-cap">"Capability"</label>
        <select id="overview-cap" on:change=move |ev| router.push_param("cap", &event_target_value(&ev))>
            <option value="">"Choose a capability…"</option>
            {move || caps.get().into_iter().map(|c| { let c2 = c.clone(); let c3 = c.clone(); view! { <option value=c3 selected=move || cap.get().as_deref() == Some(c2.as_str())>{c}</option> } }).collect_view()}
        </select>
        {move || overview.get().map(|o| match o {
            Err(m) => view! { <p class="field-error">{m}</p> }.into_any(),
            Ok(rows) => view! {
                <table class="grid" id="overview-table">
                    <thead><tr><th scope="col">"Role"</th><th scope="col">"Definition"</th><th scope="col">"Overrides"</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|(r, d, o)| view! { <tr><th scope="row">{r}</th><td>{d}</td><td>{if o.is_empty() { "none".to_string() } else { o.join("; ") }}</td></tr> }).collect_view()}
                    </tbody>
                </table>
            }.into_any(),
        })}
        <h2>"Who has this capability"</h2>
        <ContextPicker
            store=store
            selected=Signal::derive(move || Some(ctx.get()))
            on_pick=Callback::new(move |c: u32| router.set_param("ctx", &c.to_string()))
            label="In context"
            id="who-ctx"
        />
        {move || who.get().map(|w| match w {
            Err(m) => view! { <p class="field-error">{m}</p> }.into_any(),
            Ok((all, users, cname)) => view! {
                <p id="who-summary">{users.len()} " users in " {cname} {all.then_some(" — every authenticated user holds it through the default role")}</p>
                <ul class="compact columns" id="who-list">{users.into_iter().map(|u| view! { <li>{u}</li> }).collect_view()}</ul>
            }.into_any(),
        })}
    }
}

/// Unsupported role assignments (a role assigned where its context types no longer allow it).
#[component]
pub fn Unsupported() -> impl IntoView {
    let store = use_store();
    let lang = store.lang;
    let rows = Memo::new(move |_| {
        store.with(|e| {
            let all = e.assignments();
            e.unsupported_assignments()
                .into_iter()
                .map(|k| {
                    let source = all
                        .iter()
                        .find(|a| a.user == k.user && a.role == k.role && a.context == k.context)
                        .map(|a| a.source)
                        .unwrap_or(Source::Manual);
                    (
                        k,
                        user_name(e, k.user),
                        role_name(e, k.role, &lang.get()),
                        context_name(e, k.context),
                        source,
                    )
                })
                .collect::<Vec<_>>()
        })
    });
    let clean = move |_| {
        let ops: Vec<EditOp> = rows
            .get_untracked()
            .iter()
            .filter(|r| r.4 == Source::Manual)
            .map(|r| EditOp::Unassign {
                user: r.0.user,
                role: r.0.role,
                context: r.0.context,
                source: Some(Source::Manual),
            })
            .collect();
        if ops.is_empty() {
            store.say(true, "nothing to clean up: only non-manual assignments are left, and those are never removed here");
            return;
        }
        let n = ops.len();
        let _ = store.apply(
            ops,
            &format!("removed {n} unsupported manual assignment(s)"),
        );
    };
    view! {
        <h1>"Unsupported role assignments"</h1>
        <p>"Assignments of a role in a context type the role may no longer be assigned in. Clean-up removes the manual ones; assignments made by enrolment plugins, cohorts or support grants are listed but never removed here."</p>
        <button id="cleanup" on:click=clean disabled=move || rows.get().is_empty()>"Remove unsupported manual assignments"</button>
        <table class="grid" id="unsupported-table">
            <thead><tr><th scope="col">"User"</th><th scope="col">"Role"</th><th scope="col">"Context"</th><th scope="col">"Source"</th></tr></thead>
            <tbody>
                {move || rows.get().into_iter().map(|(_, u, r, c, s)| view! {
                    <tr class:greyed=s != Source::Manual><td>{u}</td><td>{r}</td><td>{c}</td><td>{format!("{s:?}").to_lowercase()}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
        {move || rows.get().is_empty().then(|| view! { <p class="muted">"None."</p> })}
    }
}
