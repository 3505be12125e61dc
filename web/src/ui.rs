//! Small pieces shared by the screens: display names, risk badges, downloads and uploads.

use crate::multilang;
use crate::store::Store;
use capstan_core::{
    ContextId, ContextLevel, Engine, Permission, RiskSet, Role, RoleId, Rule, UserId,
    VisibilityReason,
};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// A role's display name for the current language (multilang parsed into text).
pub fn role_name(e: &Engine, id: RoleId, lang: &str) -> String {
    e.role(id)
        .map(|r| display_role(r, lang))
        .unwrap_or_else(|| format!("role {id}"))
}

/// A role's display name: its name, else Moodle's English name of a standard role (a fresh
/// Moodle site stores none for them), else its short name.
pub fn display_role(r: &Role, lang: &str) -> String {
    if r.name.trim().is_empty() {
        capstan_core::moodle::role_display_name(r).to_string()
    } else {
        multilang::text_for(&r.name, lang)
    }
}

/// An archetype for people: Moodle's name of its standard role and the archetype's own
/// (`Non-editing teacher (teacher)`).
pub fn archetype_label(a: capstan_core::Archetype) -> String {
    match capstan_core::moodle::standard_role_name(a.name()) {
        Some(n) => format!("{n} ({})", a.name()),
        None => a.name().to_string(),
    }
}

/// A user's display name with the username.
pub fn user_name(e: &Engine, id: UserId) -> String {
    match e.user(id) {
        Some(u) => match &u.fullname {
            Some(f) => format!("{f} ({})", u.username),
            None => u.username.clone(),
        },
        None => format!("user {id}"),
    }
}

/// A context's display name with its level.
pub fn context_name(e: &Engine, id: ContextId) -> String {
    match e.context(id) {
        Some(c) => match (&c.name, c.level) {
            (Some(n), l) => format!("{} {}", level_label(l), n),
            (None, ContextLevel::User) => format!(
                "User {}",
                c.instance
                    .map(|u| user_name(e, u))
                    .unwrap_or_else(|| id.to_string())
            ),
            // Moodle calls it "System"; there is one.
            (None, ContextLevel::System) => "System".to_string(),
            (None, l) => format!("{} {id}", level_label(l)),
        },
        None => format!("context {id}"),
    }
}

/// A tenant's name for people ("Tenant 3" when it has none).
pub fn tenant_name(e: &Engine, id: capstan_core::TenantId) -> String {
    e.tenants()
        .iter()
        .find(|t| t.id == id)
        .and_then(|t| t.name.clone())
        .unwrap_or_else(|| format!("Tenant {id}"))
}

/// A context level for people.
pub fn level_label(l: ContextLevel) -> &'static str {
    match l {
        ContextLevel::System => "System:",
        ContextLevel::User => "User:",
        ContextLevel::Tenant => "Tenant:",
        ContextLevel::Coursecat => "Category:",
        ContextLevel::Program => "Program:",
        ContextLevel::Course => "Course:",
        ContextLevel::Module => "Activity:",
        ContextLevel::Block => "Block:",
    }
}

/// An edit in plain words, with names (for conflicts and change lists).
pub fn describe_op(e: &Engine, op: &capstan_core::EditOp) -> String {
    use capstan_core::EditOp as Op;
    let role = |r: RoleId| role_name(e, r, "en");
    let ctx = |c: ContextId| context_name(e, c);
    let user = |u: UserId| user_name(e, u);
    match op {
        Op::SetPermission {
            role: r,
            context,
            capability,
            permission,
        } => format!(
            "{} for {} in {}: {}",
            capability,
            role(*r),
            ctx(*context),
            permission_label(*permission)
        ),
        Op::Assign {
            user: u,
            role: r,
            context,
            ..
        } => format!("assigned {} as {} in {}", user(*u), role(*r), ctx(*context)),
        Op::Unassign {
            user: u,
            role: r,
            context,
            ..
        } => format!(
            "removed {} as {} from {}",
            user(*u),
            role(*r),
            ctx(*context)
        ),
        Op::AddSwitch {
            user: u,
            context,
            role: r,
        } => format!("{} switched to {} in {}", user(*u), role(*r), ctx(*context)),
        Op::RemoveSwitch { user: u, context } => {
            format!("{} ended a role switch in {}", user(*u), ctx(*context))
        }
        Op::PutRole { role: doc } => format!(
            "saved the role {} ({})",
            doc.name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| role(RoleId(doc.id))),
            doc.shortname
        ),
        Op::DeleteRole { role: r } => format!("deleted the role {}", role(*r)),
        Op::PutContext { context } => format!(
            "saved {}",
            context
                .name
                .clone()
                .map(|n| format!("{} {n}", level_label(context.level)))
                .unwrap_or_else(|| ctx(ContextId(context.id)))
        ),
        Op::DeleteContext { context } => format!("deleted {}", ctx(*context)),
        Op::PutUser { user: doc } => format!("saved the user {}", doc.username),
        Op::DeleteUser { user: u } => format!("deleted the user {}", user(*u)),
        Op::PutTenant { tenant } => format!(
            "saved the tenant {}",
            tenant.name.clone().unwrap_or_else(|| tenant.id.to_string())
        ),
        Op::DeleteTenant { tenant } => format!("deleted tenant {tenant}"),
        Op::PutCapability { capability } => format!("saved the capability {}", capability.name),
        Op::SetSettings { .. } => "changed the site settings".into(),
        Op::AddProgramCourse { item } => format!(
            "added {} to {}",
            ctx(ContextId(item.course)),
            ctx(ContextId(item.program))
        ),
        Op::RemoveProgramCourse { item } => format!(
            "removed {} from {}",
            ctx(ContextId(item.course)),
            ctx(ContextId(item.program))
        ),
    }
}

/// A context level as Moodle names it ("Category", "Activity module"; Totara's "Tenant",
/// "Program").
pub fn level_name(l: ContextLevel) -> &'static str {
    match l {
        ContextLevel::System => "System",
        ContextLevel::Tenant => "Tenant",
        ContextLevel::User => "User",
        ContextLevel::Coursecat => "Category",
        ContextLevel::Program => "Program",
        ContextLevel::Course => "Course",
        ContextLevel::Module => "Activity module",
        ContextLevel::Block => "Block",
    }
}

/// A permission for people.
pub fn permission_label(p: Option<Permission>) -> &'static str {
    match p {
        None => "Not set",
        Some(Permission::Allow) => "Allow",
        Some(Permission::Prevent) => "Prevent",
        Some(Permission::Prohibit) => "Prohibit",
    }
}

/// The four values of a permission cell, in order.
pub const PERMISSIONS: [Option<Permission>; 4] = [
    None,
    Some(Permission::Allow),
    Some(Permission::Prevent),
    Some(Permission::Prohibit),
];

/// A permission's short key for ids and attributes.
pub fn permission_key(p: Option<Permission>) -> &'static str {
    match p {
        None => "inherit",
        Some(Permission::Allow) => "allow",
        Some(Permission::Prevent) => "prevent",
        Some(Permission::Prohibit) => "prohibit",
    }
}

/// Risk badges: a short mark and a title for each risk of a capability.
#[component]
pub fn Risks(
    /// The risks.
    risks: RiskSet,
) -> impl IntoView {
    risks
        .iter()
        .map(|r| {
            let (mark, title) = match r.name() {
                "config" => ("C", "Configuration risk: users could change site configuration"),
                "xss" => ("X", "XSS risk: users could add files and text that allow cross-site scripting"),
                "personal" => ("P", "Privacy risk: users could gain access to private information"),
                "spam" => ("S", "Spam risk: users could send spam to site users or others"),
                "dataloss" => ("D", "Data loss risk: users could destroy large amounts of content"),
                _ => ("T", "Trust risk: users could change trust settings of other users"),
            };
            view! {
                <span class=format!("risk risk-{}", r.name()) title=title aria-label=title role="img">
                    {mark}
                </span>
            }
        })
        .collect_view()
}

/// A rule for people: a plain sentence (the step of the evaluation order is in the "why"
/// panel's details).
pub fn rule_text(rule: Rule) -> String {
    rule.describe().to_string()
}

/// A visibility reason for people.
pub fn reason_text(r: VisibilityReason) -> &'static str {
    match r {
        VisibilityReason::Visible => "visible",
        VisibilityReason::HiddenWithCapability => "hidden, but the user may see hidden items here",
        VisibilityReason::SiteAdmin => "site administrators see everything",
        VisibilityReason::UnknownUser => "the user does not exist",
        VisibilityReason::DeletedUser => "the user is deleted",
        VisibilityReason::UserTenantSuspended => "the user's tenant is suspended",
        VisibilityReason::ItemTenantSuspended => "the item's tenant is suspended",
        VisibilityReason::Hidden => "hidden, and the user may not see hidden items",
        VisibilityReason::GuestTenantItem => "guests and visitors never see tenant items",
        VisibilityReason::OtherTenant => "it belongs to another tenant",
        VisibilityReason::Isolated => "tenant isolation keeps members away from site-level items",
        VisibilityReason::SupportOutOfScope => "outside the support user's granted scope",
        VisibilityReason::SupportDisabled => "support access is disabled",
    }
}

/// Offers `text` as a file download.
pub fn download(filename: &str, mime: &str, text: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)
        .map_err(|_| "the browser refused to make the file".to_string())?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the browser refused to make the file".to_string())?;
    let a: web_sys::HtmlAnchorElement = document()
        .create_element("a")
        .map_err(|_| "no document".to_string())?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(filename);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Reads the first file chosen in a file input, then calls `done` with its text.
pub fn read_file(ev: &leptos::ev::Event, done: impl FnOnce(String, String) + 'static) {
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    input.set_value("");
    let name = file.name();
    leptos::task::spawn_local(async move {
        if let Ok(v) = wasm_bindgen_futures::JsFuture::from(file.text()).await {
            done(name, v.as_string().unwrap_or_default());
        }
    });
}

/// The users of the site, sorted by display name, for pickers (deleted users left out), each
/// with the lower-case text a search matches (name, username, email, id).
pub fn user_options(e: &Engine) -> Vec<PickOption> {
    let mut v: Vec<PickOption> = e
        .users()
        .iter()
        .filter(|u| !u.deleted)
        .map(|u| {
            let label = user_name(e, u.id);
            let haystack = format!(
                "{} {} {} #{}",
                label.to_lowercase(),
                u.username.to_lowercase(),
                u.email.as_deref().unwrap_or("").to_lowercase(),
                u.id
            );
            PickOption {
                id: u.id.0,
                label,
                haystack,
            }
        })
        .collect();
    v.sort_by(|a, b| a.label.cmp(&b.label));
    v
}

/// The contexts of the site for pickers: tree order (a parent before its children, siblings by
/// name), each labelled with its level and name and, below the site, where it is.
pub fn context_options(e: &Engine) -> Vec<PickOption> {
    let mut children: std::collections::HashMap<Option<ContextId>, Vec<(String, ContextId)>> =
        std::collections::HashMap::new();
    for c in e.contexts() {
        children
            .entry(c.parent)
            .or_default()
            .push((context_name(e, c.id), c.id));
    }
    for list in children.values_mut() {
        list.sort();
    }
    let mut out = Vec::with_capacity(e.contexts().len());
    // Depth-first without recursion: (context, the path of names above it).
    let mut stack: Vec<(ContextId, String, String)> = children
        .get(&None)
        .map(|roots| {
            roots
                .iter()
                .rev()
                .map(|(n, id)| (*id, n.clone(), String::new()))
                .collect()
        })
        .unwrap_or_default();
    while let Some((id, name, above)) = stack.pop() {
        let label = if above.is_empty() {
            name.clone()
        } else {
            format!("{name} — in {above}")
        };
        out.push(PickOption {
            id: id.0,
            haystack: format!("{} #{}", label.to_lowercase(), id),
            label,
        });
        if let Some(kids) = children.get(&Some(id)) {
            let here = if above.is_empty() {
                name.clone()
            } else {
                format!("{above} / {name}")
            };
            for (n, k) in kids.iter().rev() {
                stack.push((*k, n.clone(), here.clone()));
            }
        }
    }
    out
}

/// One choice of a [`Picker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickOption {
    /// The user or context id.
    pub id: u32,
    /// What is shown.
    pub label: String,
    /// What a search matches, in lower case.
    pub haystack: String,
}

/// How many matches a picker lists at most.
pub const PICKER_LIMIT: usize = 100;

/// The options matching every word of `query` (all when it is empty), at most `limit`, and
/// how many match in all.
pub fn matching(options: &[PickOption], query: &str, limit: usize) -> (Vec<PickOption>, usize) {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut total = 0;
    let mut shown = Vec::new();
    for o in options {
        if words.iter().all(|w| o.haystack.contains(w.as_str())) {
            total += 1;
            if shown.len() < limit {
                shown.push(o.clone());
            }
        }
    }
    (shown, total)
}

/// A searchable picker, as Moodle's user selector: a search box over a list of the matches
/// (at most [`PICKER_LIMIT`], with a notice when more match). The chosen one stays listed.
#[component]
pub fn Picker(
    /// Every choice.
    #[prop(into)]
    options: Signal<Vec<PickOption>>,
    /// The chosen id.
    #[prop(into)]
    selected: Signal<Option<u32>>,
    /// Called with the chosen id.
    on_pick: Callback<u32>,
    /// The accessible label.
    label: &'static str,
    /// The element id of the list (`{id}-search` is the search box's).
    id: &'static str,
    /// What the list says when nothing is chosen (`Choose a user…`).
    placeholder: &'static str,
    /// What is searched, for the search box's hint (`name, username or email`).
    searched: &'static str,
) -> impl IntoView {
    let query = RwSignal::new(String::new());
    let found = Memo::new(move |_| {
        let q = query.get();
        options.with(|o| {
            let (mut shown, total) = matching(o, &q, PICKER_LIMIT);
            // The chosen one stays in the list, so the list always shows the choice.
            if let Some(sel) = selected.get()
                && !shown.iter().any(|x| x.id == sel)
                && let Some(x) = o.iter().find(|x| x.id == sel)
            {
                shown.insert(0, x.clone());
            }
            (shown, total, o.len())
        })
    });
    let search_id = format!("{id}-search");
    let note_id = format!("{id}-note");
    view! {
        <div class="picker">
            <label for=id>{label}</label>
            <input
                type="search"
                id=search_id
                placeholder=format!("Search by {searched}")
                aria-label=format!("{label}: search by {searched}")
                aria-controls=id
                prop:value=move || query.get()
                on:input=move |ev| query.set(event_target_value(&ev))
            />
            <select
                id=id
                aria-describedby=note_id.clone()
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<u32>() {
                        on_pick.run(v);
                    }
                }
            >
                <option value="" selected=move || selected.get().is_none()>{placeholder}</option>
                {move || {
                    found
                        .get()
                        .0
                        .into_iter()
                        .map(|o| {
                            let id = o.id;
                            view! {
                                <option value=id.to_string() selected=move || selected.get() == Some(id)>
                                    {o.label}
                                </option>
                            }
                        })
                        .collect_view()
                }}
            </select>
            <small id=note_id class="picker-note">
                {move || {
                    let (shown, total, all) = found.get();
                    let q = query.get();
                    if total > PICKER_LIMIT {
                        format!(
                            "Too many to list ({total} match): the first {PICKER_LIMIT} are shown; search to narrow the list."
                        )
                    } else if !q.trim().is_empty() {
                        format!("{total} of {all} match.")
                    } else {
                        let _ = shown;
                        String::new()
                    }
                }}
            </small>
        </div>
    }
}

/// A searchable picker of the site's users (deleted users left out).
#[component]
pub fn UserPicker(
    /// The store.
    store: Store,
    /// The selected user.
    #[prop(into)]
    selected: Signal<Option<u32>>,
    /// Called with the chosen user.
    on_pick: Callback<u32>,
    /// The accessible label.
    label: &'static str,
    /// The element id.
    id: &'static str,
) -> impl IntoView {
    let options = Memo::new(move |_| store.with_structure(user_options));
    view! {
        <Picker
            options=Signal::derive(move || options.get())
            selected=selected
            on_pick=on_pick
            label=label
            id=id
            placeholder="Choose a user…"
            searched="name, username or email"
        />
    }
}

/// A searchable picker of the site's contexts, in tree order with where each one is.
#[component]
pub fn ContextPicker(
    /// The store.
    store: Store,
    /// The selected context.
    #[prop(into)]
    selected: Signal<Option<u32>>,
    /// Called with the chosen context.
    on_pick: Callback<u32>,
    /// The accessible label.
    label: &'static str,
    /// The element id.
    id: &'static str,
) -> impl IntoView {
    let options = Memo::new(move |_| store.with_structure(context_options));
    view! {
        <Picker
            options=Signal::derive(move || options.get())
            selected=selected
            on_pick=on_pick
            label=label
            id=id
            placeholder="Choose a context…"
            searched="name or id"
        />
    }
}

/// Keys on a permission table's radios, as a grid: the arrow keys move the focus (left and
/// right within the capability's row, up and down to the same value of the next capability)
/// without changing anything; Space (the browser's own) and Enter apply the focused value.
/// Without this, the browser's radio-group arrows would check each value they pass: one edit
/// per key press.
pub fn permission_radio_keys(ev: &leptos::ev::KeyboardEvent) {
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let key = ev.key();
    if key == "Enter" {
        ev.prevent_default();
        input.click();
        return;
    }
    let (dr, dc): (i32, i32) = match key.as_str() {
        "ArrowLeft" => (0, -1),
        "ArrowRight" => (0, 1),
        "ArrowUp" => (-1, 0),
        "ArrowDown" => (1, 0),
        _ => return,
    };
    ev.prevent_default();
    let radios = |el: &web_sys::Element| -> Vec<web_sys::HtmlInputElement> {
        let mut out = Vec::new();
        if let Ok(list) = el.query_selector_all("input[type=radio]:not(:disabled)") {
            for i in 0..list.length() {
                if let Some(r) = list
                    .item(i)
                    .and_then(|n| n.dyn_into::<web_sys::HtmlInputElement>().ok())
                {
                    out.push(r);
                }
            }
        }
        out
    };
    let (Ok(Some(row)), Ok(Some(table))) = (input.closest("tr"), input.closest("table")) else {
        return;
    };
    let in_row = radios(&row);
    let Some(col) = in_row.iter().position(|r| *r == input) else {
        return;
    };
    let target = if dr == 0 {
        let next = col as i32 + dc;
        usize::try_from(next)
            .ok()
            .and_then(|i| in_row.get(i))
            .cloned()
    } else {
        let mut rows: Vec<web_sys::Element> = Vec::new();
        if let Ok(list) = table.query_selector_all("tr[data-cap]") {
            for i in 0..list.length() {
                if let Some(r) = list
                    .item(i)
                    .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
                {
                    rows.push(r);
                }
            }
        }
        let here = rows.iter().position(|r| *r == row);
        here.and_then(|h| usize::try_from(h as i32 + dr).ok())
            .and_then(|i| rows.get(i))
            .and_then(|r| radios(r).get(col).cloned())
    };
    if let Some(t) = target {
        let _ = t.focus();
    }
}

/// A tab strip whose tabs are links that set `tab=` on `base`, so the open tab is in the URL.
#[component]
pub fn Tabs(
    /// The accessible name of the tab list.
    label: &'static str,
    /// The location the tabs belong to (`#/roles`, `#/contexts/12`).
    base: String,
    /// (key, label) per tab.
    tabs: Vec<(&'static str, &'static str)>,
    /// The open tab's key.
    current: Memo<String>,
) -> impl IntoView {
    view! {
        <div class="tabs" role="tablist" aria-label=label>
            {tabs
                .into_iter()
                .map(|(key, text)| {
                    view! {
                        <a
                            role="tab"
                            href=format!("{base}?tab={key}")
                            aria-selected=move || (current.get() == key).to_string()
                            class:active=move || current.get() == key
                        >
                            {text}
                        </a>
                    }
                })
                .collect_view()}
        </div>
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn pickers_search_every_word_and_cap_the_list() {
        let e = Engine::from_site(capstan_core::demo::demo_site()).unwrap();
        let users = user_options(&e);
        assert!(users.len() > PICKER_LIMIT);
        let (shown, total) = matching(&users, "", PICKER_LIMIT);
        assert_eq!((shown.len(), total), (PICKER_LIMIT, users.len()));
        let first = users.first().map(|u| u.label.clone()).unwrap_or_default();
        let word = first
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_uppercase();
        let (shown, total) = matching(&users, &word, PICKER_LIMIT);
        assert!(
            total >= 1
                && shown
                    .iter()
                    .all(|o| o.haystack.contains(&word.to_lowercase()))
        );
        // By id, and every word must match.
        let (shown, _) = matching(&users, &format!("#{} ", users[0].id), PICKER_LIMIT);
        assert!(shown.iter().any(|o| o.id == users[0].id));
        assert_eq!(matching(&users, "zzzz-nobody qqq", PICKER_LIMIT).1, 0);
    }

    #[test]
    fn contexts_are_listed_in_tree_order_with_where_they_are() {
        let e = Engine::from_site(capstan_core::demo::demo_site()).unwrap();
        let options = context_options(&e);
        assert_eq!(options.len(), e.contexts().len());
        let position = |id: ContextId| options.iter().position(|o| o.id == id.0);
        for c in e.contexts() {
            if let Some(p) = c.parent {
                assert!(position(p) < position(c.id), "{p} before {}", c.id);
            }
        }
        let course = e
            .contexts()
            .iter()
            .find(|c| c.level == ContextLevel::Course && c.name.is_some())
            .map(|c| c.id);
        let label = course
            .and_then(|c| options.iter().find(|o| o.id == c.0))
            .map(|o| o.label.clone())
            .unwrap_or_default();
        assert!(
            label.starts_with("Course: ") && label.contains(" — in "),
            "{label}"
        );
    }
}
