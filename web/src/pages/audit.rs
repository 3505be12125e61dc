//! The audit log of the server: who did what and when, filtered by support identity, user and
//! time, in pages of 100, with readable times (UTC).

use crate::store::use_store;
use crate::sync::send;
use crate::ui::{UserPicker, user_name};
use capstan_api::{AuditEntry, AuditPage, paths};
use capstan_core::{Timestamp, UserId};
use leptos::prelude::*;

/// A time for people: `2027-01-15 08:00:00 UTC`.
pub fn readable_time(t: Timestamp) -> String {
    let s = t.to_string();
    let s = s.split('.').next().unwrap_or(&s).trim_end_matches('Z');
    format!("{} UTC", s.replacen('T', " ", 1))
}

/// A `datetime-local` value (`2027-01-15T08:00`), read as UTC.
fn from_local(v: &str) -> Option<Timestamp> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let full = if v.len() == 16 {
        format!("{v}:00Z")
    } else {
        format!("{v}Z")
    };
    Timestamp::parse(&full).ok()
}

/// What an entry did, in a few words.
fn summary(e: &AuditEntry) -> String {
    let d = &e.detail;
    if let Some(ops) = d.get("ops").and_then(|o| o.as_array()) {
        return format!("{} edit(s)", ops.len());
    }
    if let Some(p) = d.get("path").and_then(|p| p.as_str()) {
        return p.to_string();
    }
    String::new()
}

/// The audit log screen.
#[component]
pub fn AuditLog() -> impl IntoView {
    let store = use_store();
    let support = RwSignal::new(String::new());
    let user = RwSignal::new(None::<u32>);
    let from = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let identifier = RwSignal::new(String::new());
    // The page: `after` of the request (None: the first).
    let after = RwSignal::new(None::<i64>);
    let page = RwSignal::new(None::<Result<AuditPage, String>>);
    let query = Memo::new(move |_| {
        let mut q: Vec<(String, String)> = vec![("limit".into(), "100".into())];
        match support.get().as_str() {
            "yes" => q.push(("support".into(), "true".into())),
            "no" => q.push(("support".into(), "false".into())),
            _ => {}
        }
        if let Some(u) = user.get() {
            q.push(("user".into(), u.to_string()));
        }
        if let Some(t) = from_local(&from.get()) {
            q.push(("from".into(), t.to_string()));
        }
        if let Some(t) = from_local(&until.get()) {
            q.push(("until".into(), t.to_string()));
        }
        if let Some(a) = after.get() {
            q.push(("after".into(), a.to_string()));
        }
        q.iter()
            .map(|(k, v)| format!("{k}={}", String::from(js_sys::encode_uri_component(v))))
            .collect::<Vec<_>>()
            .join("&")
    });
    Effect::new(move |_| {
        let q = query.get();
        let token = store.session.get().map(|s| s.token);
        let Some(token) = token else {
            page.set(None);
            return;
        };
        leptos::task::spawn_local(async move {
            let a = send("GET", &format!("{}?{q}", paths::AUDIT), Some(&token), None).await;
            page.set(Some(if a.ok() {
                a.read::<AuditPage>()
            } else {
                Err(a.error())
            }));
        });
    });
    let reset_page = move || after.set(None);
    let on_user = Callback::new(move |u: u32| {
        user.set(Some(u));
        reset_page();
    });
    view! {
        <h1>"Audit log"</h1>
        {move || store.session.get().is_none().then(|| view! {
            <p class="muted" id="audit-offline">"The audit log is kept by the server: sign in to a server (Site data) to read it."</p>
        })}
        <div class="form" id="audit-filters">
            <label for="audit-support">"Who"</label>
            <select id="audit-support" on:change=move |ev| { support.set(event_target_value(&ev)); reset_page(); }>
                <option value="" selected=move || support.get().is_empty()>"Everyone"</option>
                <option value="yes" selected=move || support.get() == "yes">"Support staff only"</option>
                <option value="no" selected=move || support.get() == "no">"Everyone but support staff"</option>
            </select>
            <label for="audit-identifier">"Support identifier contains"</label>
            <input id="audit-identifier" type="search" bind:value=identifier placeholder="e.g. support-7f3a"/>
            <label for="audit-from">"From (UTC)"</label>
            <input id="audit-from" type="datetime-local" prop:value=move || from.get() on:change=move |ev| { from.set(event_target_value(&ev)); reset_page(); }/>
            <label for="audit-until">"Until (UTC)"</label>
            <input id="audit-until" type="datetime-local" prop:value=move || until.get() on:change=move |ev| { until.set(event_target_value(&ev)); reset_page(); }/>
        </div>
        <UserPicker store=store selected=Signal::derive(move || user.get()) on_pick=on_user label="By user" id="audit-user"/>
        <button type="button" id="audit-clear" on:click=move |_| {
            user.set(None);
            support.set(String::new());
            identifier.set(String::new());
            from.set(String::new());
            until.set(String::new());
            reset_page();
        }>"Clear the filters"</button>
        {move || page.get().map(|p| match p {
            Err(m) => view! { <p class="field-error" id="audit-error">{m}</p> }.into_any(),
            Ok(p) => {
                let wanted = identifier.get().to_lowercase();
                let entries: Vec<AuditEntry> = p
                    .entries
                    .into_iter()
                    .filter(|e| wanted.is_empty() || e.support_identifier.as_deref().is_some_and(|s| s.to_lowercase().contains(&wanted)))
                    .collect();
                let next = p.next_after;
                view! {
                    <p id="audit-count" role="status">{format!("{} entr{} on this page", entries.len(), if entries.len() == 1 { "y" } else { "ies" })}</p>
                    <table class="grid" id="audit-table">
                        <thead><tr><th scope="col">"Time (UTC)"</th><th scope="col">"Who"</th><th scope="col">"Action"</th><th scope="col">"Details"</th></tr></thead>
                        <tbody>
                            {entries.into_iter().map(|e| {
                                let who = store.with_untracked(|x| {
                                    let person = e.actor.map(|a| user_name(x, UserId(a))).unwrap_or_else(|| "the server".into());
                                    match (&e.support_identifier, &e.staff) {
                                        (Some(i), Some(s)) => format!("{person} — support {i} ({s})"),
                                        (Some(i), None) => format!("{person} — support {i}"),
                                        _ => person,
                                    }
                                });
                                view! {
                                    <tr data-seq=e.seq.to_string()>
                                        <td>{readable_time(e.at)}</td>
                                        <td>{who}</td>
                                        <td><code>{e.action.clone()}</code></td>
                                        <td>{summary(&e)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    <div class="form-actions">
                        <button type="button" id="audit-first" disabled=move || after.get().is_none() on:click=move |_| after.set(None)>"First page"</button>
                        <button type="button" id="audit-next" disabled=next.is_none() on:click=move |_| after.set(next)>"Next page"</button>
                    </div>
                }
                .into_any()
            }
        })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_write_them() {
        let t = Timestamp::parse("2027-01-15T08:00:00Z").unwrap();
        assert_eq!(readable_time(t), "2027-01-15 08:00:00 UTC");
        assert_eq!(from_local("2027-01-15T08:00"), Some(t));
        assert_eq!(from_local(""), None);
        assert_eq!(from_local("nonsense"), None);
    }
}
