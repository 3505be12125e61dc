//! Tenants: list, isolation, suspension, members and participants, program contents; and the
//! tenant visibility preview (one user's items with reasons, and a users × items picture).

use crate::route::use_router;
use crate::store::{now, use_store};
use crate::ui::{UserPicker, context_name, reason_text};
use capstan_core::snapshot::{ProgramCourseDoc, SettingsDoc, TenantDoc};
use capstan_core::{ContextId, ContextLevel, EditOp, UserId};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The tenants screen.
#[component]
pub fn Tenants() -> impl IntoView {
    let store = use_store();
    let settings = Memo::new(move |_| store.with(|e| e.settings().clone()));
    let tenants = Memo::new(move |_| {
        store.with(|e| {
            e.tenants()
                .iter()
                .map(|t| {
                    let members = e
                        .users()
                        .iter()
                        .filter(|u| u.tenant == Some(t.id) && !u.deleted)
                        .count();
                    let participants = e
                        .users()
                        .iter()
                        .filter(|u| u.participant_of.contains(&t.id) && !u.deleted)
                        .count();
                    let names = (context_name(e, t.context), context_name(e, t.category));
                    (t.clone(), members, participants, names)
                })
                .collect::<Vec<_>>()
        })
    });
    let set_setting = move |f: &dyn Fn(&mut SettingsDoc), what: &str| {
        let mut doc = store.with_untracked(|e| SettingsDoc::from(e.settings()));
        f(&mut doc);
        let _ = store.apply(vec![EditOp::SetSettings { settings: doc }], what);
    };
    // Changes that lock people out are confirmed first; a refusal puts the box back.
    let confirmed = |ev: &leptos::ev::Event, question: String| {
        let yes = window().confirm_with_message(&question).unwrap_or(false);
        if !yes
            && let Some(input) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        {
            input.set_checked(!input.checked());
        }
        yes
    };
    let suspend = move |t: capstan_core::Tenant, on: bool| {
        let mut doc = TenantDoc::from(&t);
        doc.suspended = Some(on);
        let name = t.name.clone().unwrap_or_else(|| format!("Tenant {}", t.id));
        let _ = store.apply(
            vec![EditOp::PutTenant { tenant: doc }],
            &format!("{name} {}", if on { "suspended" } else { "resumed" }),
        );
    };
    view! {
        <h1>"Tenants"</h1>
        <p><a href="#/tenants/visibility">"Tenant visibility preview →"</a></p>
        <fieldset class="settings">
            <legend>"Multitenancy"</legend>
            <label class="inline" for="multitenancy">
                <input type="checkbox" id="multitenancy" prop:checked=move || settings.get().multitenancy
                    on:change=move |ev| { let v = event_target_checked(&ev); set_setting(&move |d| d.multitenancy = Some(v), if v { "multitenancy on" } else { "multitenancy off" }) }/>
                "Multitenancy enabled"
            </label>
            <label class="inline" for="isolation">
                <input type="checkbox" id="isolation" prop:checked=move || settings.get().tenant_isolation
                    on:change=move |ev| {
                        let v = event_target_checked(&ev);
                        if v && !confirmed(&ev, "Turn tenant isolation on? Every tenant member then sees only its own tenant's courses, programs and people, site-level ones included.".into()) {
                            return;
                        }
                        set_setting(&move |d| d.tenant_isolation = Some(v), if v { "tenant isolation on" } else { "tenant isolation off" })
                    }/>
                "Tenant isolation (members see only their tenant)"
            </label>
        </fieldset>
        <table class="grid" id="tenants-table">
            <thead><tr><th scope="col">"Tenant"</th><th scope="col">"Context"</th><th scope="col">"Category"</th><th scope="col">"Members"</th><th scope="col">"Participants"</th><th scope="col">"Suspended"</th></tr></thead>
            <tbody>
                {move || tenants.get().into_iter().map(|(t, m, p, (context, category))| {
                    let t2 = t.clone();
                    let name = t.name.clone().unwrap_or_else(|| format!("Tenant {}", t.id));
                    view! {
                        <tr>
                            <th scope="row">{name.clone()}</th>
                            <td><a href=format!("#/contexts/{}", t.context)>{context}</a></td>
                            <td><a href=format!("#/contexts/{}", t.category)>{category}</a></td>
                            <td>{m}</td>
                            <td>{p}</td>
                            <td><input type="checkbox" class="tenant-suspended" aria-label=format!("{name} suspended") prop:checked=t.suspended
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    let question = format!("Suspend {}? Its {m} member(s) can no longer sign in or hold any capability until it is resumed.", t2.name.clone().unwrap_or_else(|| format!("tenant {}", t2.id)));
                                    if on && !confirmed(&ev, question) {
                                        return;
                                    }
                                    suspend(t2.clone(), on)
                                }/></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <h2>"Members and participants"</h2>
        {move || tenants.get().into_iter().map(|(t, _, _, _)| {
            let tid = t.id;
            let people = store.with(|e| {
                e.users()
                    .iter()
                    .filter(|u| !u.deleted && (u.tenant == Some(tid) || u.participant_of.contains(&tid)))
                    .map(|u| (u.id.0, crate::ui::user_name(e, u.id), u.tenant == Some(tid)))
                    .collect::<Vec<_>>()
            });
            view! {
                <details class="members" data-tenant=tid.0.to_string()>
                    <summary>{t.name.clone().unwrap_or_else(|| format!("Tenant {tid}"))} ": " {people.len()} " people"</summary>
                    <ul class="compact columns">
                        {people.into_iter().map(|(id, name, member)| view! {
                            <li><a href=format!("#/tenants/visibility?user={id}")>{name}</a> {if member { "" } else { " (participant)" }}</li>
                        }).collect_view()}
                    </ul>
                </details>
            }
        }).collect_view()}
        <ProgramContents/>
    }
}

#[component]
fn ProgramContents() -> impl IntoView {
    let store = use_store();
    let program = RwSignal::new(None::<u32>);
    let course = RwSignal::new(None::<u32>);
    let error = RwSignal::new(None::<String>);
    let programs = Memo::new(move |_| {
        store.with(|e| {
            e.contexts()
                .iter()
                .filter(|c| c.level == ContextLevel::Program)
                .map(|c| (c.id.0, context_name(e, c.id)))
                .collect::<Vec<_>>()
        })
    });
    let courses = Memo::new(move |_| {
        store.with(|e| {
            e.contexts()
                .iter()
                .filter(|c| c.level == ContextLevel::Course)
                .map(|c| (c.id.0, context_name(e, c.id)))
                .collect::<Vec<_>>()
        })
    });
    let contents = Memo::new(move |_| {
        let p = program.get()?;
        Some(store.with(|e| {
            e.program_courses()
                .iter()
                .filter(|pc| pc.program.0 == p)
                .map(|pc| (pc.course.0, context_name(e, pc.course)))
                .collect::<Vec<_>>()
        }))
    });
    let add = move |_| {
        let (Some(p), Some(c)) = (program.get_untracked(), course.get_untracked()) else {
            error.set(Some("Choose a program and a course.".into()));
            return;
        };
        match store.apply(
            vec![EditOp::AddProgramCourse {
                item: ProgramCourseDoc {
                    program: p,
                    course: c,
                },
            }],
            "course added to program",
        ) {
            Ok(()) => error.set(None),
            Err(m) => error.set(Some(m)),
        }
    };
    view! {
        <h2>"Program contents"</h2>
        <p class="muted">"A program may only hold courses of its own tenant or of the site; a refused change is explained here."</p>
        <div class="inline-form">
            <label for="pc-program">"Program"</label>
            <select id="pc-program" on:change=move |ev| program.set(event_target_value(&ev).parse().ok())>
                <option value="">"Choose…"</option>
                {move || programs.get().into_iter().map(|(id, n)| view! { <option value=id.to_string()>{n}</option> }).collect_view()}
            </select>
            <label for="pc-course">"Course"</label>
            <select id="pc-course" on:change=move |ev| course.set(event_target_value(&ev).parse().ok())>
                <option value="">"Choose…"</option>
                {move || courses.get().into_iter().map(|(id, n)| view! { <option value=id.to_string()>{n}</option> }).collect_view()}
            </select>
            <button id="pc-add" on:click=add>"Add course"</button>
        </div>
        {move || error.get().map(|e| view! { <p class="field-error" role="alert" id="pc-error">{e}</p> })}
        {move || contents.get().map(|list| view! { <ul class="compact" id="pc-list">{list.into_iter().map(|(_, n)| view! { <li>{n}</li> }).collect_view()}</ul> })}
    }
}

/// The tenant visibility preview.
#[component]
pub fn VisibilityPreview() -> impl IntoView {
    let store = use_store();
    let router = use_router();
    let user = Memo::new(move |_| router.loc.with(|l| l.num("user")));
    let on_user = Callback::new(move |u: u32| router.push_param("user", &u.to_string()));
    let items = Memo::new(move |_| {
        let u = user.get()?;
        Some(store.with(|e| {
            e.visible_items(UserId(u), now())
                .into_iter()
                .map(|i| {
                    (
                        i.context.0,
                        context_name(e, i.context),
                        i.tenant.map(|t| t.0),
                        i.visible,
                        reason_text(i.reason),
                    )
                })
                .collect::<Vec<_>>()
        }))
    });
    view! {
        <h1>"Tenant visibility preview"</h1>
        <UserPicker store=store selected=Signal::derive(move || user.get()) on_pick=on_user label="Preview for" id="vis-user"/>
        {move || items.get().map(|list| {
            let visible = list.iter().filter(|i| i.3).count();
            view! {
                <p id="vis-summary" data-rev=move || store.rev.get().to_string()>{visible} " of " {list.len()} " courses and programs visible"</p>
                <table class="grid" id="vis-table">
                    <thead><tr><th scope="col">"Item"</th><th scope="col">"Tenant"</th><th scope="col">"Visible"</th><th scope="col">"Reason"</th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|(id, n, t, v, why)| view! {
                            <tr data-ctx=id.to_string()><td><a href=format!("#/contexts/{id}")>{n}</a></td><td>{t.map(|t| t.to_string()).unwrap_or_else(|| "site".into())}</td><td class=if v { "yes" } else { "no" }>{if v { "Yes" } else { "No" }}</td><td>{why}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }
        })}
        <h2>"Users × items"</h2>
        <p class="muted">"Each row a user, each column a course or program: green visible, red not visible, grey a deleted user."</p>
        <Matrix/>
    }
}

/// The most rows (users) and columns (items) the picture draws; larger sites are sampled
/// evenly, which is what a screen can show anyway.
const MATRIX_ROWS: usize = 400;
const MATRIX_COLS: usize = 800;

/// Every `n`-th element so that at most `max` remain.
fn sample<T: Copy>(all: &[T], max: usize) -> Vec<T> {
    let step = all.len().div_ceil(max.max(1)).max(1);
    all.iter().step_by(step).copied().collect()
}

/// The users × items picture, drawn on a canvas in one `putImageData`.
#[component]
fn Matrix() -> impl IntoView {
    let store = use_store();
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let data = Memo::new(move |_| {
        store.with(|e| {
            let at = now();
            let all_users: Vec<UserId> = e.users().iter().map(|u| u.id).collect();
            let all_items: Vec<ContextId> = e
                .contexts()
                .iter()
                .filter(|c| matches!(c.level, ContextLevel::Course | ContextLevel::Program))
                .map(|c| c.id)
                .collect();
            let (users, items) = (
                sample(&all_users, MATRIX_ROWS),
                sample(&all_items, MATRIX_COLS),
            );
            let mut rgba = Vec::with_capacity(users.len() * items.len() * 4);
            for u in &users {
                let deleted = e.user(*u).is_some_and(|x| x.deleted);
                for c in &items {
                    let colour: [u8; 4] = if deleted {
                        [0xbd, 0xbd, 0xbd, 0xff]
                    } else if e.visible(*u, *c, at).is_ok_and(|v| v.visible) {
                        [0x2e, 0x7d, 0x32, 0xff]
                    } else {
                        [0xc6, 0x28, 0x28, 0xff]
                    };
                    rgba.extend_from_slice(&colour);
                }
            }
            (
                users.len(),
                items.len(),
                all_users.len(),
                all_items.len(),
                rgba,
            )
        })
    });
    Effect::new(move |_| {
        data.with(|(rows, cols, _, _, rgba)| {
            let Some(c) = canvas.get() else { return };
            let c: web_sys::HtmlCanvasElement = c;
            c.set_width((*cols).max(1) as u32);
            c.set_height((*rows).max(1) as u32);
            let ctx = c
                .get_context("2d")
                .ok()
                .flatten()
                .and_then(|x| x.dyn_into::<web_sys::CanvasRenderingContext2d>().ok());
            let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
                wasm_bindgen::Clamped(rgba.as_slice()),
                (*cols).max(1) as u32,
                (*rows).max(1) as u32,
            );
            if let (Some(ctx), Ok(image)) = (ctx, image) {
                let _ = ctx.put_image_data(&image, 0.0, 0.0);
            }
        })
    });
    view! {
        <canvas node_ref=canvas id="vis-matrix" class="matrix" role="img" aria-label="Visibility of every course and program for every user"></canvas>
        {move || data.with(|(rows, cols, users, items, _)| (rows < users || cols < items).then(|| view! {
            <p class="muted" id="vis-sampled">{format!("{users} users × {items} items: every {}th user and every {}th item are drawn ({rows} × {cols}).", users.div_ceil(*rows.max(&1)), items.div_ceil(*cols.max(&1)))}</p>
        }))}
    }
}
