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
            (None, l) => format!("{} {id}", level_label(l)),
        },
        None => format!("context {id}"),
    }
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

/// The users of the site, sorted by display name, for pickers (deleted users left out).
pub fn user_options(e: &Engine) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = e
        .users()
        .iter()
        .filter(|u| !u.deleted)
        .map(|u| (u.id.0, user_name(e, u.id)))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// A `<select>` of users bound to a query parameter value.
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
        <label for=id>{label}</label>
        <select
            id=id
            on:change=move |ev| {
                if let Ok(v) = event_target_value(&ev).parse::<u32>() {
                    on_pick.run(v);
                }
            }
        >
            <option value="" selected=move || selected.get().is_none()>"Choose a user…"</option>
            {move || {
                options
                    .get()
                    .into_iter()
                    .map(|(id, name)| {
                        view! {
                            <option value=id.to_string() selected=move || selected.get() == Some(id)>
                                {name}
                            </option>
                        }
                    })
                    .collect_view()
            }}
        </select>
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
