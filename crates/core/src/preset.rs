//! Moodle role preset XML (SEMANTICS.md §5), as Moodle 4.5 writes and reads it
//! (`shared/moodle/presets/README.md`).
//!
//! **Export** writes what Moodle's exporter writes, byte for byte: the XML declaration, then
//! the whole `<role>` on one line; all ten elements in Moodle's order, empty ones as `<name/>`;
//! context levels by number order, Moodle's core levels by name and the others (Totara's
//! `tenant` 15 and `program` 45) by number; each allow list ordered by the target role's id;
//! the permissions as one `inherit` for every capability of the site the role does not set,
//! then the `allow`, `prevent` and `prohibit` ones, each group in capability-name order. With
//! [`ExportOptions::allow_view`] off, `allowview` is left out, for Moodle sites older than it.
//!
//! **Import** accepts what Moodle's importer accepts and refuses what it refuses: the document
//! must follow `role_schema.xml` (the order of the ten elements, each at most once, no other
//! element, no attribute, the permission groups in order), or it is an `invalid_preset` and
//! nothing changes. A missing element leaves that part of the role as it is; an empty one
//! clears it. The short name is lowercased and cut to `[a-z0-9_-]` as Moodle does. Levels are
//! read by name or number. Where Moodle drops unknown levels, role short names, capabilities
//! and archetypes silently, Capstan drops them too and reports them.
//!
//! The reader refuses hostile input outright: a DOCTYPE (so no entity can expand), more than
//! [`MAX_PRESET_BYTES`], nesting deeper than [`MAX_DEPTH`].
//!
//! **Reset** ([`Engine::reset_role_ops`]) is Moodle's "Reset role" page: from an archetype's
//! defaults, another role, a preset or nothing, with each part (short name, name, description,
//! archetype, context levels, each allow list, permissions) chosen separately.

use crate::edit::EditOp;
use crate::engine::Engine;
use crate::model::*;
use crate::moodle::{self, AllowKind};
use crate::snapshot::RoleDoc;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

/// The largest preset document read (bytes).
pub const MAX_PRESET_BYTES: usize = 4 * 1024 * 1024;
/// The deepest element nesting read.
pub const MAX_DEPTH: usize = 16;

/// The children of `role`, in the order `role_schema.xml` requires.
pub const ROLE_ELEMENTS: [&str; 10] = [
    "shortname",
    "name",
    "description",
    "archetype",
    "contextlevels",
    "allowassign",
    "allowoverride",
    "allowswitch",
    "allowview",
    "permissions",
];

/// The permission groups of `permissions`, in the order the schema requires.
const PERMISSION_GROUPS: [(&str, Option<Permission>); 4] = [
    ("inherit", None),
    ("allow", Some(Permission::Allow)),
    ("prevent", Some(Permission::Prevent)),
    ("prohibit", Some(Permission::Prohibit)),
];

/// A role preset as read from XML, by names (not yet tied to a site). `None` means the
/// element was not in the document ("leave as is"); `Some` of an empty value means it was
/// there and empty ("clear").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Preset {
    /// Short name, lowercased and cut to `[a-z0-9_-]` as Moodle does.
    pub shortname: Option<String>,
    /// Display name (raw text: may hold multilang spans).
    pub name: Option<String>,
    /// Description (raw text: HTML).
    pub description: Option<String>,
    /// Archetype (`Some(None)`: empty, or one Capstan does not know).
    pub archetype: Option<Option<Archetype>>,
    /// Levels where the role may be assigned.
    pub contextlevels: Option<Vec<ContextLevel>>,
    /// Short names of roles it may assign.
    pub allow_assign: Option<Vec<String>>,
    /// Short names of roles it may override.
    pub allow_override: Option<Vec<String>>,
    /// Short names of roles it may switch to.
    pub allow_switch: Option<Vec<String>>,
    /// Short names of roles it may see.
    pub allow_view: Option<Vec<String>>,
    /// Capability values; `None` = inherit (clear the row). A capability listed twice takes
    /// the later (stronger) group, as in Moodle.
    pub permissions: Option<Vec<(String, Option<Permission>)>>,
    /// Level names or numbers that are not context levels (dropped).
    pub unknown_levels: Vec<String>,
    /// An archetype name Capstan does not know (read as none, as Moodle's form does).
    pub unknown_archetype: Option<String>,
    /// The short name as written, when cleaning changed it.
    pub shortname_as_written: Option<String>,
}

impl Preset {
    fn list(&self, kind: AllowKind) -> Option<&Vec<String>> {
        match kind {
            AllowKind::Assign => self.allow_assign.as_ref(),
            AllowKind::Override => self.allow_override.as_ref(),
            AllowKind::Switch => self.allow_switch.as_ref(),
            AllowKind::View => self.allow_view.as_ref(),
        }
    }

    fn list_mut(&mut self, kind: AllowKind) -> &mut Option<Vec<String>> {
        match kind {
            AllowKind::Assign => &mut self.allow_assign,
            AllowKind::Override => &mut self.allow_override,
            AllowKind::Switch => &mut self.allow_switch,
            AllowKind::View => &mut self.allow_view,
        }
    }
}

/// How a preset is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Write `allowview` (Moodle 3.x sites before it refuse a preset that has it).
    pub allow_view: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { allow_view: true }
    }
}

/// A part of a role that a reset or an import may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolePart {
    /// The short name.
    Shortname,
    /// The display name.
    Name,
    /// The description.
    Description,
    /// The archetype.
    Archetype,
    /// The context levels where it may be assigned.
    Contextlevels,
    /// `allow_assign`.
    AllowAssign,
    /// `allow_override`.
    AllowOverride,
    /// `allow_switch`.
    AllowSwitch,
    /// `allow_view`.
    AllowView,
    /// The system-level definition.
    Permissions,
}

impl RolePart {
    /// Every part, in preset order.
    pub const ALL: [RolePart; 10] = [
        RolePart::Shortname,
        RolePart::Name,
        RolePart::Description,
        RolePart::Archetype,
        RolePart::Contextlevels,
        RolePart::AllowAssign,
        RolePart::AllowOverride,
        RolePart::AllowSwitch,
        RolePart::AllowView,
        RolePart::Permissions,
    ];

    /// The snake_case name (`allow_assign`, …).
    pub const fn name(self) -> &'static str {
        match self {
            RolePart::Shortname => "shortname",
            RolePart::Name => "name",
            RolePart::Description => "description",
            RolePart::Archetype => "archetype",
            RolePart::Contextlevels => "contextlevels",
            RolePart::AllowAssign => "allow_assign",
            RolePart::AllowOverride => "allow_override",
            RolePart::AllowSwitch => "allow_switch",
            RolePart::AllowView => "allow_view",
            RolePart::Permissions => "permissions",
        }
    }

    /// The part with that name.
    pub fn from_name(name: &str) -> Option<Self> {
        RolePart::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Parts by name, as every surface takes them; the error names the first unknown one and
    /// lists the known ones.
    pub fn parse_all<S: AsRef<str>>(names: &[S]) -> Result<Vec<RolePart>, String> {
        names
            .iter()
            .map(|n| {
                let n = n.as_ref();
                RolePart::from_name(n).ok_or_else(|| {
                    let known: Vec<&str> = RolePart::ALL.iter().map(|p| p.name()).collect();
                    format!("unknown role part `{n}` ({})", known.join(", "))
                })
            })
            .collect()
    }

    fn allow(kind: AllowKind) -> RolePart {
        match kind {
            AllowKind::Assign => RolePart::AllowAssign,
            AllowKind::Override => RolePart::AllowOverride,
            AllowKind::Switch => RolePart::AllowSwitch,
            AllowKind::View => RolePart::AllowView,
        }
    }
}

/// What a role is reset from (Moodle's "Reset role" page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetFrom<'a> {
    /// An archetype's defaults (Moodle's, see [`crate::moodle`]): archetype, context levels,
    /// allow lists and permissions; an archetype has no short name, name or description.
    Archetype(Archetype),
    /// Another role of the site: every part.
    Role(RoleId),
    /// A preset document: the parts it holds.
    Preset(&'a str),
    /// Nothing: every part empty (names keep their value: a role needs a short name).
    Nothing,
}

/// What an import or a reset did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The role written.
    pub role: RoleId,
    /// Its short name.
    pub shortname: String,
    /// A new role was added (else an existing one was updated).
    pub created: bool,
    /// Definition rows set or cleared (those whose value changes).
    pub permissions_set: usize,
    /// The parts of the role that change.
    pub changed: Vec<RolePart>,
    /// Capabilities the site does not define (skipped).
    pub unknown_capabilities: Vec<String>,
    /// Role short names the site does not have (skipped).
    pub unknown_roles: Vec<String>,
    /// Context levels that do not exist (skipped).
    pub unknown_levels: Vec<String>,
    /// An archetype Capstan does not know (read as none).
    pub unknown_archetype: Option<String>,
}

/// Why a preset could not be read or imported. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// Not well-formed XML.
    #[error("malformed preset XML at byte {position}: {message}")]
    Malformed {
        /// What is wrong.
        message: String,
        /// Where.
        position: u64,
    },
    /// Well-formed, but not what `role_schema.xml` allows (Moodle: "Invalid role preset").
    #[error("invalid role preset at byte {position}: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// Where.
        position: u64,
    },
    /// A DOCTYPE, entity declaration or absurd nesting: refused outright.
    #[error("refused preset XML: {0}")]
    Hostile(String),
    /// Larger than [`MAX_PRESET_BYTES`].
    #[error("preset is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The root element is not `role`.
    #[error("the root element must be `role`, not `{0}`")]
    WrongRoot(String),
    /// No usable `shortname` for a new role.
    #[error("the preset has no `shortname` (needed for a new role)")]
    MissingShortname,
    /// A permission element other than inherit/allow/prevent/prohibit.
    #[error("unknown permission element `{0}` (inherit, allow, prevent, prohibit)")]
    UnknownPermission(String),
    /// The target role does not exist.
    #[error("unknown role `{0}`")]
    UnknownRole(RoleId),
    /// The edit that writes the role was refused.
    #[error("the preset cannot be applied: {message}")]
    Refused {
        /// The edit error's code.
        code: &'static str,
        /// The edit error's message.
        message: String,
    },
}

impl PresetError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            PresetError::Malformed { .. } => "malformed_xml",
            PresetError::Invalid { .. } => "invalid_preset",
            PresetError::Hostile(_) => "hostile_xml",
            PresetError::TooLarge { .. } => "too_large",
            PresetError::WrongRoot(_) => "wrong_root",
            PresetError::MissingShortname => "missing_shortname",
            PresetError::UnknownPermission(_) => "unknown_permission",
            PresetError::UnknownRole(_) => "unknown_role",
            PresetError::Refused { code, .. } => code,
        }
    }
}

/// Escapes text content as libxml's `saveXML` does for a text node.
fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

fn leaf(x: &mut String, tag: &str, text: &str) {
    if text.is_empty() {
        x.push('<');
        x.push_str(tag);
        x.push_str("/>");
    } else {
        x.push('<');
        x.push_str(tag);
        x.push('>');
        escape_text(text, x);
        x.push_str("</");
        x.push_str(tag);
        x.push('>');
    }
}

fn group<'a>(x: &mut String, tag: &str, items: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut items = items.peekable();
    if items.peek().is_none() {
        x.push('<');
        x.push_str(tag);
        x.push_str("/>");
        return;
    }
    x.push('<');
    x.push_str(tag);
    x.push('>');
    for (t, v) in items {
        leaf(x, t, v);
    }
    x.push_str("</");
    x.push_str(tag);
    x.push('>');
}

/// How a level is written: Moodle's core levels by name, the others by number.
pub fn level_text(l: ContextLevel) -> String {
    use ContextLevel as L;
    match l {
        L::System | L::User | L::Coursecat | L::Course | L::Module | L::Block => l.name().into(),
        L::Tenant | L::Program => l.number().to_string(),
    }
}

/// Writes a preset as Moodle's exporter does. Every field is written (a `None` as an empty
/// element); levels are sorted by number; the allow lists and permissions are written in the
/// order given (see [`Engine::export_preset`] for Moodle's).
pub fn write_preset(p: &Preset, opts: ExportOptions) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<role>");
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    leaf(&mut x, "shortname", &text(&p.shortname));
    leaf(&mut x, "name", &text(&p.name));
    leaf(&mut x, "description", &text(&p.description));
    leaf(
        &mut x,
        "archetype",
        p.archetype.flatten().map_or("", |a| a.name()),
    );
    let mut levels = p.contextlevels.clone().unwrap_or_default();
    levels.sort_by_key(|l| l.number());
    levels.dedup();
    let level_texts: Vec<String> = levels.into_iter().map(level_text).collect();
    group(
        &mut x,
        "contextlevels",
        level_texts.iter().map(|l| ("level", l.as_str())),
    );
    for kind in AllowKind::ALL {
        if kind == AllowKind::View && !opts.allow_view {
            continue;
        }
        let list = p.list(kind).cloned().unwrap_or_default();
        group(
            &mut x,
            kind.element(),
            list.iter().map(|s| ("shortname", s.as_str())),
        );
    }
    let perms = p.permissions.clone().unwrap_or_default();
    group(
        &mut x,
        "permissions",
        PERMISSION_GROUPS.iter().flat_map(|(tag, want)| {
            perms
                .iter()
                .filter(move |(_, v)| v == want)
                .map(move |(c, _)| (*tag, c.as_str()))
        }),
    );
    x.push_str("</role>\n");
    x
}

/// The file name Moodle gives an export: `<shortname>.xml`, `role.xml` without one.
pub fn preset_file_name(shortname: &str) -> String {
    if shortname.is_empty() {
        "role.xml".into()
    } else {
        format!("{shortname}.xml")
    }
}

/// Moodle's cleaning of a preset's short name: `PARAM_ALPHANUMEXT`, lowercased.
pub fn clean_shortname(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn level_from(text: &str) -> Option<ContextLevel> {
    ContextLevel::from_name(text)
        .or_else(|| text.parse::<u16>().ok().and_then(ContextLevel::from_number))
}

/// Where the reader is: which element is open, so which children and text it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Role,
    /// A leaf (`xs:string`): text only.
    Leaf,
    Levels,
    Allow(AllowKind),
    Permissions,
}

fn allow_kind(name: &str) -> Option<AllowKind> {
    AllowKind::ALL.into_iter().find(|k| k.element() == name)
}

/// Reads Moodle role preset XML, checking it against `role_schema.xml`.
pub fn parse_preset(xml: &str) -> Result<Preset, PresetError> {
    if xml.len() > MAX_PRESET_BYTES {
        return Err(PresetError::TooLarge {
            size: xml.len(),
            max: MAX_PRESET_BYTES,
        });
    }
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut p = Preset::default();
    // Open elements: (name, slot); the path is what decides where text goes.
    let mut stack: Vec<(String, Slot)> = Vec::new();
    let mut text = String::new();
    let mut saw_root = false;
    let mut next_role_child = 0usize;
    let mut next_group = 0usize;
    loop {
        let pos = reader.buffer_position();
        let invalid = |message: String| PresetError::Invalid {
            message,
            position: pos,
        };
        let malformed = |e: quick_xml::Error| PresetError::Malformed {
            message: e.to_string(),
            position: pos,
        };
        let event = reader.read_event().map_err(malformed)?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = element_name(&e);
            if e.attributes().next().is_some() {
                return Err(invalid(format!("`{name}` may not carry attributes")));
            }
            let slot = match stack.last().map(|(_, s)| *s) {
                None => {
                    if saw_root {
                        return Err(PresetError::Malformed {
                            message: "more than one root element".into(),
                            position: pos,
                        });
                    }
                    if name != "role" {
                        return Err(PresetError::WrongRoot(name));
                    }
                    saw_root = true;
                    Slot::Role
                }
                Some(Slot::Role) => {
                    let Some(i) = ROLE_ELEMENTS.iter().position(|x| *x == name) else {
                        return Err(invalid(format!(
                            "`{name}` is not an element of a role preset ({})",
                            ROLE_ELEMENTS.join(", ")
                        )));
                    };
                    if i < next_role_child {
                        return Err(invalid(format!(
                            "`{name}` comes twice or out of order (the order is {})",
                            ROLE_ELEMENTS.join(", ")
                        )));
                    }
                    next_role_child = i + 1;
                    match name.as_str() {
                        "contextlevels" => {
                            p.contextlevels = Some(Vec::new());
                            Slot::Levels
                        }
                        "permissions" => {
                            p.permissions = Some(Vec::new());
                            Slot::Permissions
                        }
                        n => match allow_kind(n) {
                            Some(kind) => {
                                *p.list_mut(kind) = Some(Vec::new());
                                Slot::Allow(kind)
                            }
                            None => Slot::Leaf,
                        },
                    }
                }
                Some(Slot::Levels) if name == "level" => Slot::Leaf,
                Some(Slot::Allow(_)) if name == "shortname" => Slot::Leaf,
                Some(Slot::Permissions) => {
                    let Some(g) = PERMISSION_GROUPS.iter().position(|(t, _)| *t == name) else {
                        return Err(PresetError::UnknownPermission(name));
                    };
                    if g < next_group {
                        return Err(invalid(format!(
                            "`{name}` after `{}`: the permissions go inherit, allow, prevent, prohibit",
                            PERMISSION_GROUPS
                                .get(next_group.saturating_sub(1))
                                .map_or("", |x| x.0)
                        )));
                    }
                    next_group = g;
                    Slot::Leaf
                }
                Some(Slot::Leaf) => {
                    let parent = stack.last().map(|(n, _)| n.as_str()).unwrap_or_default();
                    return Err(invalid(format!(
                        "`{parent}` holds text only, not a `{name}` element"
                    )));
                }
                Some(_) => {
                    let parent = stack.last().map(|(n, _)| n.as_str()).unwrap_or_default();
                    let want = if parent == "contextlevels" {
                        "level"
                    } else {
                        "shortname"
                    };
                    return Err(invalid(format!(
                        "`{parent}` holds `{want}` elements, not `{name}`"
                    )));
                }
            };
            stack.push((name, slot));
            if stack.len() > MAX_DEPTH {
                return Err(PresetError::Hostile(format!(
                    "elements nested deeper than {MAX_DEPTH}"
                )));
            }
            text.clear();
            if empty {
                close(&mut p, &stack, "")?;
                stack.pop();
            }
            continue;
        }
        match event {
            Event::DocType(_) => {
                return Err(PresetError::Hostile(
                    "a DOCTYPE is not allowed in a role preset".into(),
                ));
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(malformed)?;
                match stack.last().map(|(_, s)| *s) {
                    Some(Slot::Leaf) => text.push_str(&s),
                    _ if s.trim().is_empty() => {}
                    Some(_) => {
                        let parent = stack.last().map(|(n, _)| n.as_str()).unwrap_or_default();
                        return Err(invalid(format!("`{parent}` may not hold text")));
                    }
                    None => {
                        return Err(PresetError::Malformed {
                            message: "text outside the root element".into(),
                            position: pos,
                        });
                    }
                }
            }
            Event::CData(t) => match stack.last().map(|(_, s)| *s) {
                Some(Slot::Leaf) => text.push_str(&String::from_utf8_lossy(&t.into_inner())),
                _ => return Err(invalid("CDATA outside a text element".into())),
            },
            Event::End(_) => {
                if stack.last().is_some_and(|(_, s)| *s == Slot::Leaf) {
                    let value = std::mem::take(&mut text);
                    close(&mut p, &stack, &value)?;
                }
                if stack.last().is_some_and(|(_, s)| *s == Slot::Permissions) {
                    next_group = 0;
                }
                stack.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        let open: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
        return Err(PresetError::Malformed {
            message: format!("unclosed element `{}`", open.join("/")),
            position: reader.buffer_position(),
        });
    }
    if !saw_root {
        return Err(PresetError::Malformed {
            message: "no root element".into(),
            position: 0,
        });
    }
    Ok(p)
}

fn element_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.name().as_ref()).into_owned()
}

/// Records the text of a leaf element that just closed.
fn close(p: &mut Preset, stack: &[(String, Slot)], raw: &str) -> Result<(), PresetError> {
    let path: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
    let value = raw.trim();
    match path.as_slice() {
        ["role", "shortname"] => {
            let clean = clean_shortname(raw);
            if clean != raw {
                p.shortname_as_written = Some(raw.to_string());
            }
            p.shortname = Some(clean);
        }
        ["role", "name"] => p.name = Some(raw.to_string()),
        ["role", "description"] => p.description = Some(raw.to_string()),
        ["role", "archetype"] => {
            p.archetype = Some(if value.is_empty() {
                None
            } else {
                let a = Archetype::from_name(value);
                if a.is_none() {
                    p.unknown_archetype = Some(value.to_string());
                }
                a
            });
        }
        ["role", "contextlevels", "level"] => match level_from(value) {
            Some(l) => {
                let list = p.contextlevels.get_or_insert_with(Vec::new);
                if !list.contains(&l) {
                    list.push(l);
                }
            }
            None => p.unknown_levels.push(value.to_string()),
        },
        ["role", list, "shortname"] => {
            if let Some(kind) = allow_kind(list)
                && !value.is_empty()
            {
                let l = p.list_mut(kind).get_or_insert_with(Vec::new);
                if !l.iter().any(|x| x == value) {
                    l.push(value.to_string());
                }
            }
        }
        ["role", "permissions", kind] => {
            let v = PERMISSION_GROUPS
                .iter()
                .find(|(t, _)| t == kind)
                .map(|(_, v)| *v)
                .ok_or_else(|| PresetError::UnknownPermission(kind.to_string()))?;
            if !value.is_empty() {
                let list = p.permissions.get_or_insert_with(Vec::new);
                list.retain(|(c, _)| c != value);
                list.push((value.to_string(), v));
            }
        }
        _ => {}
    }
    Ok(())
}

/// A role's parts by ids, ready to be written onto a role: `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
struct Parts {
    shortname: Option<String>,
    name: Option<String>,
    description: Option<String>,
    archetype: Option<Option<Archetype>>,
    contextlevels: Option<Vec<ContextLevel>>,
    allows: [Option<Vec<RoleId>>; 4],
    /// Every listed capability's new value (the others keep theirs).
    permissions: Option<Vec<(String, Option<Permission>)>>,
}

impl Parts {
    fn keep_only(&mut self, parts: &[RolePart]) {
        let has = |p| parts.contains(&p);
        if !has(RolePart::Shortname) {
            self.shortname = None;
        }
        if !has(RolePart::Name) {
            self.name = None;
        }
        if !has(RolePart::Description) {
            self.description = None;
        }
        if !has(RolePart::Archetype) {
            self.archetype = None;
        }
        if !has(RolePart::Contextlevels) {
            self.contextlevels = None;
        }
        for (i, kind) in AllowKind::ALL.into_iter().enumerate() {
            if !has(RolePart::allow(kind))
                && let Some(slot) = self.allows.get_mut(i)
            {
                *slot = None;
            }
        }
        if !has(RolePart::Permissions) {
            self.permissions = None;
        }
    }
}

/// What resolving a preset's names against a site left out.
#[derive(Debug, Default)]
struct Unknowns {
    capabilities: Vec<String>,
    roles: Vec<String>,
}

impl Engine {
    /// The preset of a role as Moodle 4.5 exports it (see the module docs).
    pub fn export_preset(&self, role: RoleId) -> Result<String, PresetError> {
        self.export_preset_with(role, ExportOptions::default())
    }

    /// The preset of a role, with options (e.g. without `allowview` for older Moodle sites).
    pub fn export_preset_with(
        &self,
        role: RoleId,
        opts: ExportOptions,
    ) -> Result<String, PresetError> {
        Ok(write_preset(&self.role_preset(role)?, opts))
    }

    /// A role as a [`Preset`]: every part, in Moodle's export order.
    pub fn role_preset(&self, role: RoleId) -> Result<Preset, PresetError> {
        let r = self.role(role).ok_or(PresetError::UnknownRole(role))?;
        let ri = self
            .role_index
            .get(role.0)
            .ok_or(PresetError::UnknownRole(role))?;
        let names = |ids: &[RoleId]| -> Vec<String> {
            let mut ids: Vec<RoleId> = ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            ids.iter()
                .filter_map(|id| self.role(*id).map(|x| x.shortname.clone()))
                .collect()
        };
        let mut permissions: Vec<(String, Option<Permission>)> = self
            .caps
            .iter()
            .enumerate()
            .map(|(ci, c)| (c.name.clone(), self.def(ri, ci as u32)))
            .collect();
        permissions.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Preset {
            shortname: Some(r.shortname.clone()),
            name: Some(r.name.clone()),
            description: Some(r.description.clone()),
            archetype: Some(r.archetype),
            contextlevels: Some(r.contextlevels.clone()),
            allow_assign: Some(names(&r.allow_assign)),
            allow_override: Some(names(&r.allow_override)),
            allow_switch: Some(names(&r.allow_switch)),
            allow_view: Some(names(&r.allow_view)),
            permissions: Some(permissions),
            ..Preset::default()
        })
    }

    /// Imports a preset: into `target` when given, else into the role with the preset's short
    /// name, else as a new role (id = highest role id + 1). Unknown capabilities, roles and
    /// levels are reported and skipped; the rest is applied all or nothing.
    pub fn import_preset(
        &mut self,
        xml: &str,
        target: Option<RoleId>,
    ) -> Result<ImportReport, PresetError> {
        let (ops, report) = self.preset_ops(xml, target)?;
        self.apply_ops(ops)?;
        Ok(report)
    }

    fn apply_ops(&mut self, ops: Vec<EditOp>) -> Result<(), PresetError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.apply_all(ops)
            .map(|_| ())
            .map_err(|(_, e)| PresetError::Refused {
                code: e.code(),
                message: e.to_string(),
            })
    }

    /// The edits that [`Engine::import_preset`] would apply, and its report, without applying
    /// them: for callers that journal or sync edits (the admin app, the server). Only what
    /// changes is in the edits.
    pub fn preset_ops(
        &self,
        xml: &str,
        target: Option<RoleId>,
    ) -> Result<(Vec<EditOp>, ImportReport), PresetError> {
        let p = parse_preset(xml)?;
        let existing = match target {
            Some(id) => Some(self.role(id).cloned().ok_or(PresetError::UnknownRole(id))?),
            None => p
                .shortname
                .as_deref()
                .and_then(|s| self.roles().iter().find(|r| r.shortname == s))
                .cloned(),
        };
        let id = match &existing {
            Some(r) => r.id,
            None => {
                if p.shortname.as_deref().is_none_or(str::is_empty) {
                    return Err(PresetError::MissingShortname);
                }
                self.next_role_id()
            }
        };
        let mut unknowns = Unknowns::default();
        let parts = self.preset_parts(&p, id, &mut unknowns);
        self.parts_ops(id, existing.as_ref(), parts, unknowns, &p)
    }

    fn next_role_id(&self) -> RoleId {
        RoleId(
            self.roles()
                .iter()
                .map(|r| r.id.0)
                .max()
                .unwrap_or(0)
                .saturating_add(1),
        )
    }

    /// A preset's parts by ids: its own short name stands for the role it is written onto.
    fn preset_parts(&self, p: &Preset, id: RoleId, unknowns: &mut Unknowns) -> Parts {
        let mut resolve = |names: &Vec<String>| -> Vec<RoleId> {
            let mut out: Vec<RoleId> = Vec::new();
            for n in names {
                let found = if p.shortname.as_deref() == Some(n.as_str()) {
                    Some(id)
                } else {
                    self.roles()
                        .iter()
                        .find(|r| r.shortname == *n)
                        .map(|r| r.id)
                };
                match found {
                    Some(r) if !out.contains(&r) => out.push(r),
                    Some(_) => {}
                    None if !unknowns.roles.contains(n) => unknowns.roles.push(n.clone()),
                    None => {}
                }
            }
            out
        };
        let allows = AllowKind::ALL.map(|k| p.list(k).map(&mut resolve));
        let permissions = p.permissions.as_ref().map(|list| {
            list.iter()
                .filter(|(cap, _)| {
                    let known = self.capability_id(cap).is_some();
                    if !known {
                        unknowns.capabilities.push(cap.clone());
                    }
                    known
                })
                .cloned()
                .collect()
        });
        Parts {
            shortname: p.shortname.clone().filter(|s| !s.is_empty()),
            name: p.name.clone(),
            description: p.description.clone(),
            archetype: p.archetype,
            contextlevels: p.contextlevels.clone(),
            allows,
            permissions,
        }
    }

    /// The edits that write `parts` onto role `id` (`existing`: the role as it is, `None`
    /// for a new role), and the report.
    fn parts_ops(
        &self,
        id: RoleId,
        existing: Option<&Role>,
        parts: Parts,
        unknowns: Unknowns,
        p: &Preset,
    ) -> Result<(Vec<EditOp>, ImportReport), PresetError> {
        let created = existing.is_none();
        let before = existing.cloned().unwrap_or_else(|| Role {
            id,
            shortname: String::new(),
            name: String::new(),
            description: String::new(),
            archetype: None,
            contextlevels: Vec::new(),
            sortorder: None,
            allow_assign: Vec::new(),
            allow_override: Vec::new(),
            allow_switch: Vec::new(),
            allow_view: Vec::new(),
        });
        let mut after = before.clone();
        if let Some(s) = parts.shortname {
            after.shortname = s;
        }
        if let Some(n) = parts.name {
            after.name = n;
        }
        if let Some(d) = parts.description {
            after.description = d;
        }
        if let Some(a) = parts.archetype {
            after.archetype = a;
        }
        if let Some(l) = parts.contextlevels {
            after.contextlevels = l;
        }
        for (kind, list) in AllowKind::ALL.into_iter().zip(parts.allows) {
            if let Some(list) = list {
                *kind.of_mut(&mut after) = list;
            }
        }
        let mut changed: Vec<RolePart> = Vec::new();
        let same_set = |a: &[RoleId], b: &[RoleId]| {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            a.sort_unstable();
            b.sort_unstable();
            a == b
        };
        let same_levels = |a: &[ContextLevel], b: &[ContextLevel]| {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            a.sort_by_key(|l| l.number());
            b.sort_by_key(|l| l.number());
            a == b
        };
        for (part, same) in [
            (RolePart::Shortname, before.shortname == after.shortname),
            (RolePart::Name, before.name == after.name),
            (
                RolePart::Description,
                before.description == after.description,
            ),
            (RolePart::Archetype, before.archetype == after.archetype),
            (
                RolePart::Contextlevels,
                same_levels(&before.contextlevels, &after.contextlevels),
            ),
        ] {
            if !same || created {
                changed.push(part);
            }
        }
        for kind in AllowKind::ALL {
            if created || !same_set(kind.of(&before), kind.of(&after)) {
                changed.push(RolePart::allow(kind));
            }
        }
        let mut ops = Vec::new();
        if created || changed.iter().any(|c| *c != RolePart::Permissions) {
            ops.push(EditOp::PutRole {
                role: RoleDoc::from(&after),
            });
        }
        let system = self.system_context();
        let mut permissions_set = 0;
        for (cap, value) in parts.permissions.unwrap_or_default() {
            let now = if created {
                None
            } else {
                self.definition(id, &cap)
            };
            if now != value {
                permissions_set += 1;
                ops.push(EditOp::SetPermission {
                    role: id,
                    context: system,
                    capability: cap,
                    permission: value,
                });
            }
        }
        if permissions_set > 0 {
            changed.push(RolePart::Permissions);
        }
        let report = ImportReport {
            role: id,
            shortname: after.shortname,
            created,
            permissions_set,
            changed,
            unknown_capabilities: unknowns.capabilities,
            unknown_roles: unknowns.roles,
            unknown_levels: p.unknown_levels.clone(),
            unknown_archetype: p.unknown_archetype.clone(),
        };
        Ok((ops, report))
    }

    /// The edits of Moodle's "Add a new role" based on an archetype: a role `id` with the
    /// short name and name given, the archetype's default context levels and allow lists (to
    /// the site's roles of the archetypes Moodle lists, itself included where its own
    /// archetype is listed) and the archetype's Moodle defaults as its definition.
    pub fn new_role_from_archetype_ops(
        &self,
        id: RoleId,
        shortname: &str,
        name: &str,
        a: Archetype,
    ) -> Vec<EditOp> {
        let allow = |k: AllowKind| -> Vec<u32> {
            let targets = moodle::default_allows(k, a);
            let mut v: Vec<u32> = self
                .roles()
                .iter()
                .filter(|r| r.archetype.is_some_and(|x| targets.contains(&x)))
                .map(|r| r.id.0)
                .collect();
            if targets.contains(&a) {
                v.push(id.0);
            }
            v.sort_unstable();
            v.dedup();
            v
        };
        let sortorder = self
            .roles()
            .iter()
            .filter_map(|r| r.sortorder)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let mut ops = vec![EditOp::PutRole {
            role: RoleDoc {
                id: id.0,
                shortname: shortname.to_string(),
                name: Some(name.to_string()),
                description: None,
                archetype: Some(a),
                contextlevels: Some(moodle::default_contextlevels(a).to_vec()),
                sortorder: Some(sortorder),
                allow_assign: Some(allow(AllowKind::Assign)),
                allow_override: Some(allow(AllowKind::Override)),
                allow_switch: Some(allow(AllowKind::Switch)),
                allow_view: Some(allow(AllowKind::View)),
            },
        }];
        let system = self.system_context();
        for c in self.capabilities() {
            if let Some(p) =
                moodle::capability(&c.name).and_then(|m| moodle::archetype_default(m, a))
            {
                ops.push(EditOp::SetPermission {
                    role: id,
                    context: system,
                    capability: c.name.clone(),
                    permission: Some(p),
                });
            }
        }
        ops
    }

    /// The edits of Moodle's "Reset role": the chosen `parts` of `role` take their value from
    /// `from`. An archetype or another role replaces the whole definition (every capability the
    /// source does not set is cleared); a preset changes the capabilities it lists, as an
    /// import does. Parts the source does not have (an archetype's names, a preset's missing
    /// elements) stay as they are.
    pub fn reset_role_ops(
        &self,
        role: RoleId,
        from: ResetFrom<'_>,
        parts: &[RolePart],
    ) -> Result<(Vec<EditOp>, ImportReport), PresetError> {
        let existing = self
            .role(role)
            .cloned()
            .ok_or(PresetError::UnknownRole(role))?;
        let mut unknowns = Unknowns::default();
        let mut preset = Preset::default();
        let mut parts_of = self.source_parts(role, from, &mut unknowns, &mut preset)?;
        parts_of.keep_only(parts);
        self.parts_ops(role, Some(&existing), parts_of, unknowns, &preset)
    }

    /// Every part of a role's definition as `from` gives it, for `role` (a preset's own short
    /// name in its allow lists means `role`); parts the source does not have are `None`.
    fn source_parts(
        &self,
        role: RoleId,
        from: ResetFrom<'_>,
        unknowns: &mut Unknowns,
        preset: &mut Preset,
    ) -> Result<Parts, PresetError> {
        let all_caps =
            |value: &dyn Fn(&str) -> Option<Permission>| -> Vec<(String, Option<Permission>)> {
                let mut v: Vec<(String, Option<Permission>)> = self
                    .capabilities()
                    .iter()
                    .map(|c| (c.name.clone(), value(&c.name)))
                    .collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            };
        let parts = match from {
            ResetFrom::Archetype(a) => {
                let of = |targets: &[Archetype]| -> Vec<RoleId> {
                    self.roles()
                        .iter()
                        .filter(|r| r.archetype.is_some_and(|x| targets.contains(&x)))
                        .map(|r| r.id)
                        .collect()
                };
                Parts {
                    archetype: Some(Some(a)),
                    contextlevels: Some(moodle::default_contextlevels(a).to_vec()),
                    allows: AllowKind::ALL.map(|k| Some(of(moodle::default_allows(k, a)))),
                    permissions: Some(all_caps(&|name| {
                        moodle::capability(name).and_then(|c| moodle::archetype_default(c, a))
                    })),
                    ..Parts::default()
                }
            }
            ResetFrom::Role(source) => {
                *preset = self.role_preset(source)?;
                // As an export and an import: a source that allows itself gives a role that
                // allows itself.
                self.preset_parts(preset, role, unknowns)
            }
            ResetFrom::Preset(xml) => {
                *preset = parse_preset(xml)?;
                self.preset_parts(preset, role, unknowns)
            }
            ResetFrom::Nothing => Parts {
                name: Some(String::new()),
                description: Some(String::new()),
                archetype: Some(None),
                contextlevels: Some(Vec::new()),
                allows: AllowKind::ALL.map(|_| Some(Vec::new())),
                permissions: Some(all_caps(&|_| None)),
                ..Parts::default()
            },
        };
        Ok(parts)
    }

    /// Compares a role's definition with another source (Moodle's archetype defaults, another
    /// role, a preset, or nothing): the archetype, context levels, allow lists and every
    /// capability whose system-level value differs, with its risks. Parts a preset leaves out
    /// are not compared.
    pub fn compare_role(
        &self,
        role: RoleId,
        with: ResetFrom<'_>,
    ) -> Result<RoleComparison, PresetError> {
        let existing = self
            .role(role)
            .cloned()
            .ok_or(PresetError::UnknownRole(role))?;
        let mut unknowns = Unknowns::default();
        let mut preset = Preset::default();
        let other = self.source_parts(role, with, &mut unknowns, &mut preset)?;
        let mine = self.role_preset(role)?;
        let current: std::collections::HashMap<&str, Option<Permission>> = mine
            .permissions
            .iter()
            .flatten()
            .map(|(c, v)| (c.as_str(), *v))
            .collect();
        let risks: std::collections::HashMap<&str, RiskSet> = self
            .capabilities()
            .iter()
            .map(|c| (c.name.as_str(), c.risks))
            .collect();
        let mut capabilities = Vec::new();
        for (name, value) in other.permissions.iter().flatten() {
            let Some(cap_risks) = risks.get(name.as_str()) else {
                continue;
            };
            let left = current.get(name.as_str()).copied().flatten();
            if left != *value {
                capabilities.push(CapabilityDifference {
                    capability: name.clone(),
                    left,
                    right: *value,
                    risks: cap_risks.iter().collect(),
                });
            }
        }
        capabilities.sort_by(|a, b| a.capability.cmp(&b.capability));
        let sorted = |v: &[ContextLevel]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        let contextlevels = other
            .contextlevels
            .as_deref()
            .map(sorted)
            .filter(|o| *o != sorted(&existing.contextlevels))
            .map(|o| (sorted(&existing.contextlevels), o));
        let mut allows = Vec::new();
        for (kind, theirs) in AllowKind::ALL.into_iter().zip(other.allows.iter()) {
            let Some(theirs) = theirs else {
                continue;
            };
            let ours = kind.of(&existing);
            let only_left: Vec<RoleId> = ours
                .iter()
                .filter(|r| !theirs.contains(r))
                .copied()
                .collect();
            let only_right: Vec<RoleId> = theirs
                .iter()
                .filter(|r| !ours.contains(r))
                .copied()
                .collect();
            if !only_left.is_empty() || !only_right.is_empty() {
                allows.push(AllowDifference {
                    kind,
                    only_left,
                    only_right,
                });
            }
        }
        let archetype = other
            .archetype
            .filter(|a| *a != existing.archetype)
            .map(|a| (existing.archetype, a));
        Ok(RoleComparison {
            role,
            archetype,
            contextlevels,
            allows,
            capabilities,
            unknown_capabilities: unknowns.capabilities,
        })
    }

    /// The difference as a preset that, imported over the compared role, gives it the other
    /// side's values: the other side's archetype, context levels and allow lists, and only the
    /// capabilities that differ (each with the other side's value, `inherit` to clear).
    pub fn comparison_preset(
        &self,
        cmp: &RoleComparison,
        with: ResetFrom<'_>,
        opts: ExportOptions,
    ) -> Result<String, PresetError> {
        let mut unknowns = Unknowns::default();
        let mut preset = Preset::default();
        let other = self.source_parts(cmp.role, with, &mut unknowns, &mut preset)?;
        let mut p = self.role_preset(cmp.role)?;
        let shortname_of = |ids: &[RoleId]| -> Vec<String> {
            ids.iter()
                .filter_map(|r| self.role(*r).map(|r| r.shortname.clone()))
                .collect()
        };
        if let Some(a) = other.archetype {
            p.archetype = Some(a);
        }
        if let Some(l) = other.contextlevels {
            p.contextlevels = Some(l);
        }
        for (kind, theirs) in AllowKind::ALL.into_iter().zip(other.allows.iter()) {
            if let Some(ids) = theirs {
                *p.list_mut(kind) = Some(shortname_of(ids));
            }
        }
        p.permissions = Some(
            cmp.capabilities
                .iter()
                .map(|d| (d.capability.clone(), d.right))
                .collect(),
        );
        Ok(write_preset(&p, opts))
    }
}

/// How a role differs from another source ([`Engine::compare_role`]); "left" is the role,
/// "right" the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleComparison {
    /// The role compared.
    pub role: RoleId,
    /// The archetypes, when they differ.
    pub archetype: Option<(Option<Archetype>, Option<Archetype>)>,
    /// The context levels, when they differ.
    pub contextlevels: Option<(Vec<ContextLevel>, Vec<ContextLevel>)>,
    /// The allow lists that differ.
    pub allows: Vec<AllowDifference>,
    /// The capabilities whose system-level value differs, by name.
    pub capabilities: Vec<CapabilityDifference>,
    /// Capabilities of a preset that this site does not have (not compared).
    pub unknown_capabilities: Vec<String>,
}

impl RoleComparison {
    /// Whether the two sides are the same in every compared part.
    pub fn is_empty(&self) -> bool {
        self.archetype.is_none()
            && self.contextlevels.is_none()
            && self.allows.is_empty()
            && self.capabilities.is_empty()
    }
}

/// One allow list that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowDifference {
    /// Which list.
    pub kind: AllowKind,
    /// Roles only the compared role lists.
    pub only_left: Vec<RoleId>,
    /// Roles only the other side lists.
    pub only_right: Vec<RoleId>,
}

/// One capability whose value differs (`None`: not set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityDifference {
    /// The capability.
    pub capability: String,
    /// The compared role's value.
    pub left: Option<Permission>,
    /// The other side's value.
    pub right: Option<Permission>,
    /// The capability's risks.
    pub risks: Vec<Risk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Engine {
        Engine::from_json(
            r#"{"format": "capstan/1",
            "capabilities": [
              {"name": "moodle/course:view", "captype": "read", "contextlevel": "course"},
              {"name": "moodle/course:update", "captype": "write", "contextlevel": "course"},
              {"name": "mod/forum:replypost", "captype": "write", "contextlevel": "module"},
              {"name": "mod/assign:view", "captype": "read", "contextlevel": "module"}],
            "contexts": [{"id": 1, "level": "system"}],
            "roles": [
              {"id": 3, "shortname": "editingteacher", "name": "Teacher <b>&amp; co</b>", "description": "Edits \"courses\"",
               "archetype": "editingteacher", "contextlevels": ["module", "course"], "allow_assign": [5], "allow_switch": [5, 3]},
              {"id": 5, "shortname": "student", "contextlevels": ["course"]}],
            "permissions": [
              {"role": 3, "context": 1, "capability": "moodle/course:view", "permission": "allow"},
              {"role": 3, "context": 1, "capability": "moodle/course:update", "permission": "prevent"},
              {"role": 3, "context": 1, "capability": "mod/forum:replypost", "permission": "prohibit"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_export_is_what_moodle_writes() {
        let e = site();
        let xml = e.export_preset(RoleId(3)).unwrap();
        assert_eq!(
            xml,
            concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<role><shortname>editingteacher</shortname>",
                "<name>Teacher &lt;b&gt;&amp;amp; co&lt;/b&gt;</name>",
                "<description>Edits \"courses\"</description>",
                "<archetype>editingteacher</archetype>",
                "<contextlevels><level>course</level><level>module</level></contextlevels>",
                "<allowassign><shortname>student</shortname></allowassign>",
                "<allowoverride/>",
                "<allowswitch><shortname>editingteacher</shortname><shortname>student</shortname></allowswitch>",
                "<allowview/>",
                "<permissions><inherit>mod/assign:view</inherit>",
                "<allow>moodle/course:view</allow><prevent>moodle/course:update</prevent>",
                "<prohibit>mod/forum:replypost</prohibit></permissions></role>\n"
            )
        );
        let old = e
            .export_preset_with(RoleId(5), ExportOptions { allow_view: false })
            .unwrap();
        assert!(!old.contains("allowview"), "{old}");
        assert!(
            old.contains("<name>student</name><description/><archetype/>"),
            "{old}"
        );
        assert_eq!(preset_file_name("editingteacher"), "editingteacher.xml");
        assert_eq!(preset_file_name(""), "role.xml");
    }

    #[test]
    fn export_then_import_gives_the_same_role() {
        let mut e = site();
        let xml = e.export_preset(RoleId(3)).unwrap();
        let before = e.site();
        let report = e.import_preset(&xml, None).unwrap();
        assert!(!report.created);
        assert_eq!(report.role, RoleId(3));
        assert_eq!(report.permissions_set, 0);
        assert_eq!(report.changed, vec![]);
        assert_eq!(e.site(), before);
        // Into a fresh role: same fields and definition under a new id.
        let renamed = xml.replace(
            "<shortname>editingteacher</shortname>",
            "<shortname>teacher2</shortname>",
        );
        let report = e.import_preset(&renamed, None).unwrap();
        assert!(report.created);
        assert_eq!(report.role, RoleId(6));
        assert_eq!(report.permissions_set, 3);
        let a = e.role(RoleId(3)).unwrap().clone();
        let b = e.role(RoleId(6)).unwrap().clone();
        assert_eq!(
            (a.name, a.description, a.archetype),
            (b.name, b.description, b.archetype)
        );
        // The self-reference in the allow list follows the renamed role.
        assert_eq!(b.allow_switch, vec![RoleId(6), RoleId(5)]);
        let again = e.export_preset(RoleId(6)).unwrap();
        assert_eq!(
            again,
            renamed.replace(
                "<shortname>teacher2</shortname><shortname>student</shortname>",
                "<shortname>student</shortname><shortname>teacher2</shortname>"
            ),
            "allow lists by role id"
        );
    }

    #[test]
    fn unknown_names_are_reported_and_the_rest_imported() {
        let mut e = site();
        let xml = r#"<?xml version="1.0"?>
<role><shortname>Auditor 1!</shortname><name>Auditor</name><archetype>wizard</archetype>
<contextlevels><level>50</level><level>galaxy</level><level>coursecat</level></contextlevels>
<allowassign><shortname>student</shortname><shortname>ghost</shortname></allowassign>
<permissions><allow>moodle/course:view</allow><allow>local/nope:x</allow><prohibit>moodle/course:update</prohibit></permissions>
</role>"#;
        let r = e.import_preset(xml, None).unwrap();
        assert!(r.created);
        assert_eq!(r.shortname, "auditor1", "cleaned as Moodle does");
        assert_eq!(r.unknown_capabilities, vec!["local/nope:x".to_string()]);
        assert_eq!(r.unknown_roles, vec!["ghost".to_string()]);
        assert_eq!(r.unknown_levels, vec!["galaxy".to_string()]);
        assert_eq!(r.unknown_archetype.as_deref(), Some("wizard"));
        let role = e.role(r.role).unwrap();
        assert_eq!(role.archetype, None);
        assert_eq!(
            role.contextlevels,
            vec![ContextLevel::Course, ContextLevel::Coursecat]
        );
        assert_eq!(role.allow_assign, vec![RoleId(5)]);
        assert_eq!(
            e.definition(r.role, "moodle/course:update"),
            Some(Permission::Prohibit)
        );
    }

    #[test]
    fn levels_by_name_or_number_as_in_moodles_fixture() {
        let p = parse_preset(
            "<role><shortname>courseviewer</shortname><name/><description/><archetype/>
            <contextlevels><level>system</level><level>40</level><level>50</level></contextlevels>
            <allowassign/><allowoverride/><allowswitch/><allowview><shortname>student</shortname></allowview>
            <permissions><allow>moodle/course:view</allow></permissions></role>",
        )
        .unwrap();
        assert_eq!(
            p.contextlevels,
            Some(vec![
                ContextLevel::System,
                ContextLevel::Coursecat,
                ContextLevel::Course
            ])
        );
        assert_eq!(p.name.as_deref(), Some(""));
        assert_eq!(p.archetype, Some(None));
        assert_eq!(p.allow_assign, Some(vec![]));
        assert_eq!(p.allow_view, Some(vec!["student".to_string()]));
        // Totara's levels go out as numbers and come back.
        assert_eq!(level_text(ContextLevel::Program), "45");
        assert_eq!(level_from("45"), Some(ContextLevel::Program));
        assert_eq!(level_from("tenant"), Some(ContextLevel::Tenant));
    }

    #[test]
    fn a_missing_element_leaves_the_part_an_empty_one_clears_it() {
        let mut e = site();
        e.import_preset(
            "<role><shortname>editingteacher</shortname><allowswitch/></role>",
            None,
        )
        .unwrap();
        let r = e.role(RoleId(3)).unwrap();
        assert_eq!(r.allow_switch, vec![], "empty: cleared");
        assert_eq!(r.allow_assign, vec![RoleId(5)], "missing: left");
        assert_eq!(r.name, "Teacher <b>&amp; co</b>");
        assert_eq!(r.contextlevels.len(), 2);
        assert_eq!(
            e.definition(RoleId(3), "moodle/course:view"),
            Some(Permission::Allow)
        );
        // Into a role by id, without a short name at all.
        e.import_preset("<role><name>Renamed</name></role>", Some(RoleId(5)))
            .unwrap();
        assert_eq!(e.role(RoleId(5)).unwrap().name, "Renamed");
        assert_eq!(e.role(RoleId(5)).unwrap().shortname, "student");
        // A new role needs one.
        assert_eq!(
            e.import_preset("<role><name>x</name></role>", None)
                .unwrap_err()
                .code(),
            "missing_shortname"
        );
        assert_eq!(
            e.import_preset("<role><shortname>!!</shortname></role>", None)
                .unwrap_err()
                .code(),
            "missing_shortname"
        );
    }

    #[test]
    fn what_the_schema_refuses_is_refused() {
        let mut e = site();
        let before = e.site();
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE role [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><role><shortname>&b;</shortname></role>"#;
        let cases = [
            (bomb.to_string(), "hostile_xml"),
            ("<role><shortname>x</role>".to_string(), "malformed_xml"),
            ("<role><shortname>x</shortname>".to_string(), "malformed_xml"),
            ("not xml at all".to_string(), "malformed_xml"),
            ("<other/>".to_string(), "wrong_root"),
            ("<role><shortname>x</shortname><permissions><maybe>moodle/course:view</maybe></permissions></role>".to_string(), "unknown_permission"),
            ("<role><shortname>&undefined;</shortname></role>".to_string(), "malformed_xml"),
            (format!("<role><name>{}</name></role>", "<a>".repeat(40) + &"</a>".repeat(40)), "invalid_preset"),
            (format!("<role>{}</role>", "<permissions>".repeat(20) + &"</permissions>".repeat(20)), "unknown_permission"),
            (" ".repeat(MAX_PRESET_BYTES + 1), "too_large"),
            // What role_schema.xml refuses.
            ("<role><name>x</name><shortname>x</shortname></role>".to_string(), "invalid_preset"),
            ("<role><shortname>x</shortname><shortname>y</shortname></role>".to_string(), "invalid_preset"),
            ("<role><shortname>x</shortname><colour>red</colour></role>".to_string(), "invalid_preset"),
            ("<role version=\"2\"><shortname>x</shortname></role>".to_string(), "invalid_preset"),
            ("<role><shortname lang=\"en\">x</shortname></role>".to_string(), "invalid_preset"),
            ("<role><shortname>x</shortname><permissions><allow>mod/assign:view</allow><inherit>moodle/course:view</inherit></permissions></role>".to_string(), "invalid_preset"),
            ("<role><shortname>x</shortname><contextlevels><shortname>course</shortname></contextlevels></role>".to_string(), "invalid_preset"),
            ("<role><shortname>x</shortname><allowassign><level>course</level></allowassign></role>".to_string(), "invalid_preset"),
            ("<role><shortname>x</shortname><allowassign>student</allowassign></role>".to_string(), "invalid_preset"),
            ("<role>stray<shortname>x</shortname></role>".to_string(), "invalid_preset"),
            ("<role><shortname><b>x</b></shortname></role>".to_string(), "invalid_preset"),
        ];
        for (xml, code) in cases {
            let err = e.import_preset(&xml, None).unwrap_err();
            assert_eq!(err.code(), code, "{}: {err}", &xml[..xml.len().min(80)]);
            assert_eq!(e.site(), before);
        }
        assert_eq!(
            e.import_preset("<role><shortname>x</shortname></role>", Some(RoleId(99)))
                .unwrap_err()
                .code(),
            "unknown_role"
        );
    }

    #[test]
    fn inherit_clears_and_unmentioned_rows_stay() {
        let mut e = site();
        let xml = "<role><shortname>editingteacher</shortname><permissions><inherit>moodle/course:view</inherit></permissions></role>";
        let r = e.import_preset(xml, None).unwrap();
        assert_eq!(r.changed, vec![RolePart::Permissions]);
        assert_eq!(e.definition(RoleId(3), "moodle/course:view"), None);
        assert_eq!(
            e.definition(RoleId(3), "moodle/course:update"),
            Some(Permission::Prevent)
        );
        // A capability listed twice takes the stronger (later) group.
        let xml = "<role><shortname>student</shortname><permissions><allow>mod/assign:view</allow><prohibit>mod/assign:view</prohibit></permissions></role>";
        e.import_preset(xml, None).unwrap();
        assert_eq!(
            e.definition(RoleId(5), "mod/assign:view"),
            Some(Permission::Prohibit)
        );
    }

    #[test]
    fn reset_changes_exactly_the_parts_chosen() {
        let e = site();
        let preset = "<role><shortname>student</shortname><name>Learner</name><description>Takes courses</description>\
            <archetype>student</archetype><contextlevels><level>module</level></contextlevels>\
            <allowassign><shortname>editingteacher</shortname></allowassign><allowoverride><shortname>student</shortname></allowoverride>\
            <allowswitch><shortname>editingteacher</shortname></allowswitch><allowview><shortname>student</shortname></allowview>\
            <permissions><allow>mod/assign:view</allow></permissions></role>";
        for part in RolePart::ALL {
            if part == RolePart::Shortname {
                continue;
            }
            let (ops, report) = e
                .reset_role_ops(RoleId(3), ResetFrom::Preset(preset), &[part])
                .unwrap();
            assert_eq!(report.changed, vec![part], "{part:?}");
            let mut after = e.clone();
            after.apply_all(ops).unwrap();
            let (a, b) = (e.role(RoleId(3)).unwrap(), after.role(RoleId(3)).unwrap());
            let rest = |r: &Role, part: RolePart| {
                let mut r = r.clone();
                match part {
                    RolePart::Name => r.name.clear(),
                    RolePart::Description => r.description.clear(),
                    RolePart::Archetype => r.archetype = None,
                    RolePart::Contextlevels => r.contextlevels.clear(),
                    RolePart::AllowAssign => r.allow_assign.clear(),
                    RolePart::AllowOverride => r.allow_override.clear(),
                    RolePart::AllowSwitch => r.allow_switch.clear(),
                    RolePart::AllowView => r.allow_view.clear(),
                    RolePart::Shortname | RolePart::Permissions => {}
                }
                r
            };
            assert_eq!(
                rest(a, part),
                rest(b, part),
                "{part:?}: nothing else changes"
            );
            let defs_same = e.site().permissions == after.site().permissions;
            assert_eq!(defs_same, part != RolePart::Permissions, "{part:?}");
        }
        // From an archetype: Moodle's defaults replace the whole definition.
        let (ops, report) = e
            .reset_role_ops(
                RoleId(3),
                ResetFrom::Archetype(Archetype::Student),
                &[RolePart::Permissions, RolePart::Contextlevels],
            )
            .unwrap();
        assert!(report.changed.contains(&RolePart::Permissions));
        let mut after = e.clone();
        after.apply_all(ops).unwrap();
        assert_eq!(
            after.definition(RoleId(3), "mod/assign:view"),
            Some(Permission::Allow)
        );
        assert_eq!(after.definition(RoleId(3), "moodle/course:update"), None);
        assert_eq!(
            after.definition(RoleId(3), "mod/forum:replypost"),
            Some(Permission::Allow)
        );
        assert_eq!(
            report.changed,
            vec![RolePart::Permissions],
            "the levels are already the archetype's"
        );
        // From another role: its definition, its lists (a self-reference stays one).
        let (ops, _) = e
            .reset_role_ops(
                RoleId(5),
                ResetFrom::Role(RoleId(3)),
                &[RolePart::AllowSwitch, RolePart::Permissions],
            )
            .unwrap();
        let mut after = e.clone();
        after.apply_all(ops).unwrap();
        assert_eq!(after.role(RoleId(5)).unwrap().allow_switch, vec![RoleId(5)]);
        assert_eq!(
            after.definition(RoleId(5), "mod/forum:replypost"),
            Some(Permission::Prohibit)
        );
        // From nothing: cleared.
        let (ops, _) = e
            .reset_role_ops(RoleId(3), ResetFrom::Nothing, &RolePart::ALL)
            .unwrap();
        let mut after = e.clone();
        after.apply_all(ops).unwrap();
        assert_eq!(after.role(RoleId(3)).unwrap().shortname, "editingteacher");
        assert!(after.site().permissions.is_empty());
        assert_eq!(
            e.reset_role_ops(RoleId(42), ResetFrom::Nothing, &RolePart::ALL)
                .unwrap_err()
                .code(),
            "unknown_role"
        );
    }

    #[test]
    fn compare_a_role_with_its_archetype_another_role_and_its_own_difference() {
        let mut e = Engine::from_site(moodle::template("moodle-4.5").unwrap()).unwrap();
        let student = RoleId(5);
        e.apply(EditOp::SetPermission {
            role: student,
            context: ContextId(1),
            capability: "mod/forum:replypost".into(),
            permission: Some(Permission::Prohibit),
        })
        .unwrap();
        e.apply(EditOp::SetPermission {
            role: student,
            context: ContextId(1),
            capability: "moodle/site:config".into(),
            permission: Some(Permission::Allow),
        })
        .unwrap();
        let cmp = e
            .compare_role(student, ResetFrom::Archetype(Archetype::Student))
            .unwrap();
        let diff = |c: &RoleComparison, name: &str| {
            c.capabilities
                .iter()
                .find(|d| d.capability == name)
                .map(|d| (d.left, d.right))
        };
        assert_eq!(
            diff(&cmp, "mod/forum:replypost"),
            Some((Some(Permission::Prohibit), Some(Permission::Allow)))
        );
        assert_eq!(
            diff(&cmp, "moodle/site:config"),
            Some((Some(Permission::Allow), None))
        );
        let config = cmp
            .capabilities
            .iter()
            .find(|d| d.capability == "moodle/site:config")
            .unwrap();
        assert!(config.risks.contains(&Risk::Config));
        assert!(cmp.archetype.is_none() && cmp.contextlevels.is_none());
        // A role compared with itself: nothing.
        assert!(
            e.compare_role(student, ResetFrom::Role(student))
                .unwrap()
                .is_empty()
        );
        // With the non-editing teacher: levels are the same, archetype and rows differ.
        let teacher = e.compare_role(student, ResetFrom::Role(RoleId(4))).unwrap();
        assert_eq!(
            teacher.archetype,
            Some((Some(Archetype::Student), Some(Archetype::Teacher)))
        );
        assert!(diff(&teacher, "moodle/grade:viewall").is_some());
        // The difference as a preset, imported over the role, leaves no difference.
        for with in [
            ResetFrom::Archetype(Archetype::Student),
            ResetFrom::Role(RoleId(4)),
            ResetFrom::Nothing,
        ] {
            let cmp = e.compare_role(student, with).unwrap();
            let xml = e
                .comparison_preset(&cmp, with, ExportOptions::default())
                .unwrap();
            let mut after = e.clone();
            after.import_preset(&xml, Some(student)).unwrap();
            let left = after.compare_role(student, with).unwrap();
            assert!(
                left.capabilities.is_empty(),
                "{with:?}: {:?}",
                left.capabilities
            );
            assert!(
                left.contextlevels.is_none() && left.allows.is_empty(),
                "{with:?}"
            );
        }
        assert_eq!(
            e.compare_role(RoleId(99), ResetFrom::Nothing)
                .unwrap_err()
                .code(),
            "unknown_role"
        );
    }
}
