//! # capstan-wasm
//!
//! The Capstan permission engine for JavaScript and TypeScript: the same resolver as the server
//! and the CLI, compiled to WebAssembly, so that a browser or Node app can check and explain
//! permissions with no round trip.
//!
//! Errors are thrown as `CapstanError` (a JS `Error` whose `name` is `"CapstanError"`, with a
//! stable `code`, and `path`/`issues` where they apply). The core never panics (workspace lints
//! deny every panicking construct); should one ever happen, the panic hook turns it into a
//! `CapstanError` with code `internal` logged to the console rather than a silent dead module.

mod dto;

use capstan_core as core;
use capstan_core::{CheckOptions, ContextId, RoleId, Timestamp, UserId};
use dto::*;
use js_sys::{Array, Date, Reflect, Uint8Array, Uint32Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = include_str!("types.d.ts");

/// Installs the panic hook once per module instance.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("capstan: internal error (please report): {info}");
        web_log(&msg);
    }));
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_log(s: &str);
}

/// Builds a `CapstanError`: an `Error` with `name`, `code` and optional `path` and `issues`.
fn error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name("CapstanError");
    let _ = Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

fn error_with(code: &str, message: &str, path: Option<&str>, issues: Option<JsValue>) -> JsValue {
    let e = error(code, message);
    if let Some(p) = path {
        let _ = Reflect::set(&e, &"path".into(), &p.into());
    }
    if let Some(i) = issues {
        let _ = Reflect::set(&e, &"issues".into(), &i);
    }
    e
}

/// Hands an answer to JS as a plain object: written as JSON in Rust, read by the engine's own
/// `JSON.parse` (smaller than a per-type serializer, and as fast for these shapes).
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| error("internal", &e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|_| error("internal", "answer is not JSON"))
}

/// Reads a plain JS value as a wire type, through JSON so that the reading is exactly the one of
/// the JSON entry points (unknown fields refused, `null` = absent, `Date`s become RFC 3339).
fn from_js<T: serde::de::DeserializeOwned>(value: &JsValue) -> Result<T, String> {
    let text = js_sys::JSON::stringify(value)
        .map_err(|_| "the value cannot be written as JSON (a cycle or a BigInt?)".to_string())?
        .as_string()
        .ok_or_else(|| "expected an object, got undefined".to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn query_error(e: core::QueryError) -> JsValue {
    error(e.code(), &e.to_string())
}

fn load_error(e: core::LoadError) -> JsValue {
    match e {
        core::LoadError::Invalid(issues) => {
            let first = issues.first();
            let dtos: Vec<ValidationIssue> = issues.iter().map(ValidationIssue::from).collect();
            error_with(
                first.map_or("invalid_snapshot", |i| i.code.as_str()),
                &format!(
                    "invalid snapshot: {} problem(s); first: {}",
                    issues.len(),
                    first.map(|i| i.to_string()).unwrap_or_default()
                ),
                first.map(|i| i.path.as_str()),
                to_js(&dtos).ok(),
            )
        }
        core::LoadError::Parse(p) => error(p.code(), &p.to_string()),
    }
}

fn now() -> Timestamp {
    Timestamp::from_unix_millis(Date::now() as i64)
}

/// Reads an instant given as an RFC 3339 string or a `Date`.
fn instant(v: &JsValue) -> Result<Timestamp, JsValue> {
    if let Some(s) = v.as_string() {
        return Timestamp::parse(&s).map_err(|e| error("bad_instant", &e.to_string()));
    }
    if let Some(d) = v.dyn_ref::<Date>() {
        let ms = d.get_time();
        if ms.is_finite() {
            return Ok(Timestamp::from_unix_millis(ms as i64));
        }
        return Err(error("bad_instant", "the Date is invalid"));
    }
    Err(error(
        "bad_argument",
        "`at` must be an RFC 3339 string or a Date",
    ))
}

#[wasm_bindgen]
extern "C" {
    /// The options object of a question, read through plain property getters.
    type OptionsBag;
    #[wasm_bindgen(method, getter, js_name = doAnything)]
    fn do_anything(this: &OptionsBag) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn at(this: &OptionsBag) -> JsValue;
}

impl Engine {
    /// The user, level and options of `contextsWithCapability` and its plan, checked.
    fn contexts_args(
        &self,
        user: f64,
        level: &str,
        opts: Option<JsValue>,
    ) -> Result<(UserId, core::ContextLevel, CheckOptions), JsValue> {
        Ok((
            UserId(id(user, "user")?),
            context_level(level)?,
            self.options(opts.as_ref())?,
        ))
    }
}

/// A context level argument (`"course"`, `"module"`, …).
fn context_level(level: &str) -> Result<core::ContextLevel, JsValue> {
    serde_json::from_value(serde_json::Value::String(level.to_string()))
        .map_err(|_| error("bad_argument", &format!("`{level}` is not a context level")))
}

/// An id argument: a non-negative integer that fits in 32 bits.
fn id(v: f64, what: &str) -> Result<u32, JsValue> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
        Ok(v as u32)
    } else {
        Err(error(
            "bad_argument",
            &format!("{what} must be a non-negative integer id below 2^32"),
        ))
    }
}

/// A compiled site: ask it questions, explain answers, apply edits.
#[wasm_bindgen]
pub struct Engine {
    inner: core::Engine,
    default_at: Option<Timestamp>,
    /// The last `at` string read and its instant: hot UI code passes the same one again and
    /// again, and comparing JS strings is cheaper than decoding them.
    last_at: std::cell::RefCell<Option<(JsValue, Timestamp)>>,
}

#[wasm_bindgen]
impl Engine {
    /// Reads, validates and compiles a `capstan/1` snapshot given as JSON text.
    /// Throws `CapstanError` (`malformed_json`, `too_large`, `unsupported_format`, or the first
    /// validation code with every problem in `issues`).
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(snapshot: &str) -> Result<Engine, JsValue> {
        core::Engine::from_json(snapshot)
            .map(Engine::new)
            .map_err(load_error)
    }

    /// A site as a fresh Moodle install makes it (`"moodle-4.5"`: Moodle 4.5.6's 741
    /// capabilities, its eight standard roles with their default levels, allow lists and
    /// definitions, Totara's two tenant roles, Moodle's default settings). Throws
    /// `unknown_template`.
    #[wasm_bindgen(js_name = fromTemplate)]
    pub fn from_template(name: &str) -> Result<Engine, JsValue> {
        let site = core::moodle::template(name).map_err(|e| error(e.code(), &e.to_string()))?;
        core::Engine::from_site(site)
            .map(Engine::new)
            .map_err(load_error)
    }

    /// Reads, validates and compiles a `capstan/1` snapshot given as a plain object.
    #[wasm_bindgen(js_name = fromObject)]
    pub fn from_object(
        #[wasm_bindgen(unchecked_param_type = "Snapshot")] snapshot: JsValue,
    ) -> Result<Engine, JsValue> {
        let doc: core::SnapshotDoc = from_js(&snapshot)
            .map_err(|e| error("malformed_json", &format!("malformed snapshot: {e}")))?;
        if doc.format != core::snapshot::FORMAT {
            return Err(error(
                "unsupported_format",
                "unsupported format, expected `capstan/1`",
            ));
        }
        core::Engine::from_site(core::Site::from(doc))
            .map(Engine::new)
            .map_err(load_error)
    }

    /// Every problem of a snapshot (an empty array when it is valid). Throws only when the text
    /// cannot be read at all (`malformed_json`, `too_large`, `unsupported_format`).
    #[wasm_bindgen(unchecked_return_type = "ValidationIssue[]")]
    pub fn validate(snapshot: &str) -> Result<JsValue, JsValue> {
        let site = core::Site::from_json(snapshot).map_err(|e| error(e.code(), &e.to_string()))?;
        let issues: Vec<ValidationIssue> = core::validate(&site)
            .iter()
            .map(ValidationIssue::from)
            .collect();
        to_js(&issues)
    }

    /// Fixes the instant used when a question gives no `at` (`undefined`: the clock, again).
    #[wasm_bindgen(js_name = setDefaultTime)]
    pub fn set_default_time(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | Date | undefined")] at: JsValue,
    ) -> Result<(), JsValue> {
        self.default_at = if at.is_undefined() || at.is_null() {
            None
        } else {
            Some(instant(&at)?)
        };
        Ok(())
    }

    /// `has_capability`: whether the user holds the capability in the context.
    #[wasm_bindgen(js_name = hasCapability)]
    pub fn has_capability(
        &self,
        user: f64,
        capability: &str,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] opts: Option<JsValue>,
    ) -> Result<bool, JsValue> {
        let opts = self.options(opts.as_ref())?;
        self.inner
            .has_capability(
                UserId(id(user, "user")?),
                capability,
                ContextId(id(context, "context")?),
                opts,
            )
            .map_err(query_error)
    }

    /// Explains a decision: the deciding rule and, per active role, where it came from and every
    /// row met on the path.
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub fn explain(
        &self,
        user: f64,
        capability: &str,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let opts = self.options(opts.as_ref())?;
        let ex = self
            .inner
            .explain(
                UserId(id(user, "user")?),
                capability,
                ContextId(id(context, "context")?),
                opts,
            )
            .map_err(query_error)?;
        to_js(&Explanation::from(&ex))
    }

    /// The ids of the users who hold a capability in a context (`doAnything` false, switches
    /// ignored), ascending.
    #[wasm_bindgen(js_name = usersWithCapability, unchecked_return_type = "number[]")]
    pub fn users_with_capability(
        &self,
        capability: &str,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "AtOptions")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let r = self.users_detail(capability, context, opts.as_ref())?;
        to_js(&r.users)
    }

    /// Like `usersWithCapability`, and says whether the default user role alone allows it
    /// ("every authenticated user").
    #[wasm_bindgen(
        js_name = usersWithCapabilityDetail,
        unchecked_return_type = "UsersWithCapability"
    )]
    pub fn users_with_capability_detail(
        &self,
        capability: &str,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "AtOptions")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let r = self.users_detail(capability, context, opts.as_ref())?;
        to_js(&UsersWithCapability::from(&r))
    }

    /// Every capability relevant at the context with the user's answer and the deciding rule.
    #[wasm_bindgen(
        js_name = effectivePermissions,
        unchecked_return_type = "EffectivePermission[]"
    )]
    pub fn effective_permissions(
        &self,
        user: f64,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let opts = self.options(opts.as_ref())?;
        let list = self
            .inner
            .effective_permissions(
                UserId(id(user, "user")?),
                ContextId(id(context, "context")?),
                opts,
            )
            .map_err(query_error)?;
        let out: Vec<EffectivePermission> = list.iter().map(EffectivePermission::from).collect();
        to_js(&out)
    }

    /// `effectivePermissions` packed for speed: `[capabilityId, ruleCode]*`, decoded with
    /// `Engine.ruleTable()` and `capabilityNames()`. The package's `effectivePermissions` is
    /// built on this (objects made in JS are much cheaper than objects made across the boundary).
    #[wasm_bindgen(js_name = effectivePermissionsPacked)]
    pub fn effective_permissions_packed(
        &self,
        user: f64,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] opts: Option<JsValue>,
    ) -> Result<Uint32Array, JsValue> {
        let opts = self.options(opts.as_ref())?;
        let list = self
            .inner
            .effective_permissions(
                UserId(id(user, "user")?),
                ContextId(id(context, "context")?),
                opts,
            )
            .map_err(query_error)?;
        let packed: Vec<u32> = list
            .iter()
            .flat_map(|p| [p.capability_id.0, dto::rule_code(p.rule)])
            .collect();
        Ok(Uint32Array::from(packed.as_slice()))
    }

    /// Decodes the rule codes of `effectivePermissionsPacked`: by code,
    /// `[rule, tenantDenial | null, reason, allowed]`.
    #[wasm_bindgen(
        js_name = ruleTable,
        unchecked_return_type = "[RuleName, TenantDenial | null, string, boolean][]"
    )]
    pub fn rule_table() -> Result<JsValue, JsValue> {
        to_js(&dto::rule_table())
    }

    /// Each role's definition value for a capability plus every override, by context.
    #[wasm_bindgen(js_name = capabilityOverview, unchecked_return_type = "OverviewRow[]")]
    pub fn capability_overview(
        &self,
        capability: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "number[]")] roles: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let roles: Option<Vec<RoleId>> = if let Some(roles) = roles.filter(|r| !r.is_null()) {
            let ids: Vec<u32> = from_js(&roles)
                .map_err(|_| error("bad_argument", "`roles` must be an array of role ids"))?;
            Some(ids.into_iter().map(RoleId).collect())
        } else {
            None
        };
        let rows = self
            .inner
            .capability_overview(capability, roles.as_deref())
            .map_err(query_error)?;
        let out: Vec<OverviewRow> = rows.iter().map(OverviewRow::from).collect();
        to_js(&out)
    }

    /// Whether `actor` may assign `role` in `context`.
    #[wasm_bindgen(js_name = canAssign)]
    pub fn can_assign(
        &self,
        actor: f64,
        role: f64,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "AtOptions")] opts: Option<JsValue>,
    ) -> Result<bool, JsValue> {
        let (actor, role, context, at) = self.role_question(actor, role, context, opts.as_ref())?;
        self.inner
            .can_assign(actor, role, context, at)
            .map_err(query_error)
    }

    /// Whether `actor` may override `role` in `context` (for one capability, or at all).
    #[wasm_bindgen(js_name = canOverride)]
    pub fn can_override(
        &self,
        actor: f64,
        role: f64,
        context: f64,
        capability: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "AtOptions")] opts: Option<JsValue>,
    ) -> Result<bool, JsValue> {
        let (actor, role, context, at) = self.role_question(actor, role, context, opts.as_ref())?;
        self.inner
            .can_override(actor, role, context, capability.as_deref(), at)
            .map_err(query_error)
    }

    /// Whether `actor` may switch to `role` in `context`.
    #[wasm_bindgen(js_name = canSwitch)]
    pub fn can_switch(
        &self,
        actor: f64,
        role: f64,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "AtOptions")] opts: Option<JsValue>,
    ) -> Result<bool, JsValue> {
        let (actor, role, context, at) = self.role_question(actor, role, context, opts.as_ref())?;
        self.inner
            .can_switch(actor, role, context, at)
            .map_err(query_error)
    }

    /// Whether a course or program is visible to the user.
    #[wasm_bindgen(js_name = isVisible)]
    pub fn is_visible(
        &self,
        user: f64,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "AtOptions")] opts: Option<JsValue>,
    ) -> Result<bool, JsValue> {
        let opts = self.options(opts.as_ref())?;
        self.inner
            .visible(
                UserId(id(user, "user")?),
                ContextId(id(context, "context")?),
                opts.at,
            )
            .map(|v| v.visible)
            .map_err(query_error)
    }

    /// Every course and program with its visibility for the user, and the reason.
    #[wasm_bindgen(js_name = visibleItems, unchecked_return_type = "VisibleItem[]")]
    pub fn visible_items(
        &self,
        user: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "AtOptions")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let opts = self.options(opts.as_ref())?;
        let items = self.inner.visible_items(UserId(id(user, "user")?), opts.at);
        let out: Vec<VisibleItem> = items.iter().map(VisibleItem::from).collect();
        to_js(&out)
    }

    /// Every assignment whose role is not assignable at the level of its context.
    #[wasm_bindgen(
        js_name = unsupportedAssignments,
        unchecked_return_type = "AssignmentKey[]"
    )]
    pub fn unsupported_assignments(&self) -> Result<JsValue, JsValue> {
        self.inner
            .whole_site("unsupportedAssignments")
            .map_err(query_error)?;
        let out: Vec<AssignmentKey> = self
            .inner
            .unsupported_assignments()
            .iter()
            .map(AssignmentKey::from)
            .collect();
        to_js(&out)
    }

    /// The user this engine's bundle answers for, or `undefined` for a whole site. A bundle
    /// answers only that user's questions at the contexts it covers (else `out_of_bundle`)
    /// and is never edited.
    #[wasm_bindgen(getter, js_name = bundleUser)]
    pub fn bundle_user(&self) -> Option<u32> {
        self.inner.bundle_user().map(|u| u.0)
    }

    /// The bundle of a user: a snapshot (JSON text) that answers that user's own questions at
    /// the given contexts, their ancestors and descendants (default: the whole tree) exactly
    /// as this site does, and holds no other user's record.
    pub fn bundle(
        &self,
        user: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "BundleOptions")] opts: Option<JsValue>,
    ) -> Result<String, JsValue> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Opts {
            #[serde(default)]
            contexts: Option<Vec<u32>>,
        }
        let roots: Vec<ContextId> = match opts.filter(|o| !o.is_undefined() && !o.is_null()) {
            Some(o) => from_js::<Opts>(&o)
                .map_err(|e| error("bad_argument", &format!("bundle options: {e}")))?
                .contexts
                .unwrap_or_default()
                .into_iter()
                .map(ContextId)
                .collect(),
            None => Vec::new(),
        };
        let site = self
            .inner
            .bundle(UserId(id(user, "user")?), &roots)
            .map_err(query_error)?;
        Ok(site.to_json())
    }

    /// The ids of the contexts of `level` where the user has the capability, ascending
    /// (Moodle's `get_user_capability_course` for `"course"`).
    #[wasm_bindgen(js_name = contextsWithCapability, unchecked_return_type = "number[]")]
    pub fn contexts_with_capability(
        &self,
        user: f64,
        capability: &str,
        #[wasm_bindgen(unchecked_param_type = "ContextLevel")] level: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let (user, level, opts) = self.contexts_args(user, level, opts)?;
        let list = self
            .inner
            .contexts_with_capability(user, capability, level, opts)
            .map_err(query_error)?;
        to_js(&list)
    }

    /// `contextsWithCapability` as a plan of context paths, for back ends that filter in SQL.
    #[wasm_bindgen(js_name = contextsWithCapabilityPlan, unchecked_return_type = "ContextPlan")]
    pub fn contexts_with_capability_plan(
        &self,
        user: f64,
        capability: &str,
        #[wasm_bindgen(unchecked_param_type = "ContextLevel")] level: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let (user, level, opts) = self.contexts_args(user, level, opts)?;
        let p = self
            .inner
            .contexts_with_capability_plan(user, capability, level, opts)
            .map_err(query_error)?;
        to_js(
            &serde_json::json!({"includeUnder": p.include_under, "excludeUnder": p.exclude_under,
            "include": p.include, "exclude": p.exclude}),
        )
    }

    /// Applies one edit (incrementally where possible). Throws `CapstanError` and changes
    /// nothing when the edit is refused.
    pub fn apply(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "EditOp")] op: JsValue,
    ) -> Result<(), JsValue> {
        let op: core::EditOp = from_js(&op)
            .map_err(|e| error("malformed_op", &format!("malformed edit operation: {e}")))?;
        self.inner.apply(op).map_err(edit_error)
    }

    /// Applies a batch of edits, all or nothing; the error's `index` names the refused one.
    #[wasm_bindgen(js_name = applyAll)]
    pub fn apply_all(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "EditOp[]")] ops: JsValue,
    ) -> Result<(), JsValue> {
        let ops: Vec<core::EditOp> = from_js(&ops)
            .map_err(|e| error("malformed_op", &format!("malformed edit operations: {e}")))?;
        self.inner.apply_all(ops).map_err(|(i, e)| {
            let err = edit_error(e);
            let _ = Reflect::set(&err, &"index".into(), &JsValue::from(i as u32));
            err
        })
    }

    /// The site as `capstan/1` JSON text.
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The site as a `capstan/1` object.
    #[wasm_bindgen(js_name = toObject, unchecked_return_type = "Snapshot")]
    pub fn to_object(&self) -> Result<JsValue, JsValue> {
        to_js(&core::SnapshotDoc::from(&self.inner.site()))
    }

    /// A role's definition as Moodle role preset XML, as Moodle 4.5 writes it;
    /// `{allowView: false}` leaves `allowview` out for Moodle sites older than it.
    #[wasm_bindgen(js_name = exportPreset)]
    pub fn export_preset(
        &self,
        role: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "ExportPresetOptions")] opts: Option<
            JsValue,
        >,
    ) -> Result<String, JsValue> {
        let opts: ExportPresetOptions = match opts.filter(|o| !o.is_undefined() && !o.is_null()) {
            Some(o) => from_js(&o).map_err(|e| error("malformed_json", &e))?,
            None => ExportPresetOptions::default(),
        };
        self.inner
            .export_preset_with(
                RoleId(id(role, "role")?),
                core::preset::ExportOptions {
                    allow_view: opts.allow_view.unwrap_or(true),
                },
            )
            .map_err(|e| error(e.code(), &e.to_string()))
    }

    /// Moodle's "Reset role": the chosen `parts` of `role` take their value from `from`
    /// (`{archetype: "student"}`, `{role: 3}`, `{preset: xml}` or `{nothing: true}`), applied
    /// to this engine. Throws `unknown_role`, `unknown_archetype`, `bad_part`, or the preset's
    /// error; nothing changes then.
    #[wasm_bindgen(js_name = resetRole, unchecked_return_type = "ImportReport")]
    pub fn reset_role(
        &mut self,
        role: f64,
        #[wasm_bindgen(unchecked_param_type = "ResetSource")] from: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RolePart[]")] parts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let role = RoleId(id(role, "role")?);
        let from: ResetSource = from_js(&from).map_err(|e| error("malformed_json", &e))?;
        let names: Vec<String> = from_js(&parts).map_err(|e| error("malformed_json", &e))?;
        let parts = core::preset::RolePart::parse_all(&names).map_err(|m| error("bad_part", &m))?;
        let from = match &from {
            ResetSource::Archetype(a) => {
                core::preset::ResetFrom::Archetype(core::Archetype::from_name(a).ok_or_else(
                    || error("unknown_archetype", &format!("unknown archetype `{a}`")),
                )?)
            }
            ResetSource::Role(r) => core::preset::ResetFrom::Role(RoleId(id(*r, "role")?)),
            ResetSource::Preset(xml) => core::preset::ResetFrom::Preset(xml),
            ResetSource::Nothing(_) => core::preset::ResetFrom::Nothing,
        };
        let (ops, report) = self
            .inner
            .reset_role_ops(role, from, &parts)
            .map_err(|e| error(e.code(), &e.to_string()))?;
        if !ops.is_empty() {
            self.inner
                .apply_all(ops)
                .map_err(|(_, e)| error(e.code(), &e.to_string()))?;
        }
        to_js(&ImportReport::from(&report))
    }

    /// The roles `user` may see in `context` (Moodle's `get_viewable_roles`), in sort order:
    /// every role for a site admin, else those in `allow_view` of the roles of its own
    /// assignments there and above.
    #[wasm_bindgen(js_name = viewableRoles, unchecked_return_type = "number[]")]
    pub fn viewable_roles(
        &self,
        user: f64,
        context: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "AtOptions")] opts: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let opts = self.options(opts.as_ref())?;
        let roles: Vec<u32> = self
            .inner
            .viewable_roles(
                UserId(id(user, "user")?),
                ContextId(id(context, "context")?),
                opts.at,
            )
            .map_err(query_error)?
            .into_iter()
            .map(|r| r.0)
            .collect();
        to_js(&roles)
    }

    /// Imports a Moodle role preset: updates the role with the same short name (or `role`, when
    /// given), or adds a new one. Unknown capabilities and roles are reported and skipped.
    #[wasm_bindgen(js_name = importPreset, unchecked_return_type = "ImportReport")]
    pub fn import_preset(&mut self, xml: &str, role: Option<f64>) -> Result<JsValue, JsValue> {
        let target = role.map(|r| id(r, "role").map(RoleId)).transpose()?;
        let report = self
            .inner
            .import_preset(xml, target)
            .map_err(|e| error(e.code(), &e.to_string()))?;
        to_js(&ImportReport::from(&report))
    }

    /// The interned id of a capability for `check`/`checkMany`; throws `unknown_capability`.
    #[wasm_bindgen(js_name = capabilityId)]
    pub fn capability_id(&self, name: &str) -> Result<u32, JsValue> {
        self.inner.capability_id(name).map(|c| c.0).ok_or_else(|| {
            error(
                "unknown_capability",
                &format!("unknown capability `{name}`"),
            )
        })
    }

    /// The fast path: `hasCapability` with an interned capability id, `doAnything` true, at the
    /// default time. Numbers in, a boolean out.
    pub fn check(&self, user: u32, capability: u32, context: u32) -> Result<bool, JsValue> {
        let opts = CheckOptions::at(self.default_at.unwrap_or_else(now));
        self.inner
            .check(
                UserId(user),
                core::CapabilityId(capability),
                ContextId(context),
                opts,
            )
            .map_err(query_error)
    }

    /// Many fast checks at once: `triples` is `[user, capabilityId, context]*`; the answer has
    /// one byte per triple (1 = yes, 0 = no). Throws on the first unknown id.
    #[wasm_bindgen(js_name = checkMany)]
    pub fn check_many(&self, triples: &[u32]) -> Result<Uint8Array, JsValue> {
        if !triples.len().is_multiple_of(3) {
            return Err(error(
                "bad_argument",
                "the length of `triples` must be a multiple of 3",
            ));
        }
        let opts = CheckOptions::at(self.default_at.unwrap_or_else(now));
        let mut out = Vec::with_capacity(triples.len() / 3);
        for t in triples.chunks_exact(3) {
            let (u, c, x) = match t {
                [u, c, x] => (*u, *c, *x),
                _ => continue,
            };
            let yes = self
                .inner
                .check(UserId(u), core::CapabilityId(c), ContextId(x), opts)
                .map_err(query_error)?;
            out.push(u8::from(yes));
        }
        Ok(Uint8Array::from(out.as_slice()))
    }

    /// Every capability name, in interned-id order (`capabilityId(names[i]) === i`).
    #[wasm_bindgen(js_name = capabilityNames, unchecked_return_type = "string[]")]
    pub fn capability_names(&self) -> Array {
        self.inner
            .capabilities()
            .iter()
            .map(|c| JsValue::from(c.name.as_str()))
            .collect()
    }
}

impl Engine {
    fn new(inner: core::Engine) -> Engine {
        Engine {
            inner,
            default_at: None,
            last_at: std::cell::RefCell::new(None),
        }
    }

    /// Options of a question: `{doAnything?: boolean, at?: string | Date}`.
    fn options(&self, opts: Option<&JsValue>) -> Result<CheckOptions, JsValue> {
        let Some(opts) = opts.filter(|o| !o.is_undefined() && !o.is_null()) else {
            return Ok(CheckOptions::at(self.default_at.unwrap_or_else(now)));
        };
        if !opts.is_object() {
            return Err(error("bad_argument", "options must be an object"));
        }
        let bag: &OptionsBag = opts.unchecked_ref();
        let d = bag.do_anything();
        let doanything = if d.is_undefined() || d.is_null() {
            true
        } else {
            d.as_bool()
                .ok_or_else(|| error("bad_argument", "`doAnything` must be a boolean"))?
        };
        let at = bag.at();
        let at = if at.is_undefined() || at.is_null() {
            self.default_at.unwrap_or_else(now)
        } else if at.is_string() {
            let cached = self
                .last_at
                .borrow()
                .as_ref()
                .filter(|(s, _)| *s == at)
                .map(|(_, t)| *t);
            match cached {
                Some(t) => t,
                None => {
                    let t = instant(&at)?;
                    *self.last_at.borrow_mut() = Some((at, t));
                    t
                }
            }
        } else {
            instant(&at)?
        };
        Ok(CheckOptions { doanything, at })
    }

    /// The arguments of the role-management questions, checked.
    fn role_question(
        &self,
        actor: f64,
        role: f64,
        context: f64,
        opts: Option<&JsValue>,
    ) -> Result<(UserId, RoleId, ContextId, Timestamp), JsValue> {
        Ok((
            UserId(id(actor, "actor")?),
            RoleId(id(role, "role")?),
            ContextId(id(context, "context")?),
            self.options(opts)?.at,
        ))
    }

    fn users_detail(
        &self,
        capability: &str,
        context: f64,
        opts: Option<&JsValue>,
    ) -> Result<core::UsersWithCapability, JsValue> {
        let opts = self.options(opts)?;
        self.inner
            .users_with_capability(capability, ContextId(id(context, "context")?), opts.at)
            .map_err(query_error)
    }
}

fn edit_error(e: core::EditError) -> JsValue {
    let issues = match &e {
        core::EditError::Invalid(list) => {
            let dtos: Vec<ValidationIssue> = list.iter().map(ValidationIssue::from).collect();
            to_js(&dtos).ok()
        }
        _ => None,
    };
    error_with(e.code(), &e.to_string(), None, issues)
}
