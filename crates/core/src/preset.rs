//! Moodle role preset XML (SEMANTICS.md §5): export a role's system-level definition, import one.
//!
//! The reader is strict about structure and hostile input: no DOCTYPE (so no entity can expand),
//! a size and a depth limit, only the `role` root. Unknown elements inside `role` are skipped, as
//! Moodle adds fields over time.

use crate::edit::EditOp;
use crate::engine::Engine;
use crate::model::*;
use crate::snapshot::RoleDoc;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;

/// The largest preset document read (bytes).
pub const MAX_PRESET_BYTES: usize = 4 * 1024 * 1024;
/// The deepest element nesting read.
pub const MAX_DEPTH: usize = 16;

/// A role preset as read from XML, by names (not yet tied to a site).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preset {
    /// Short name.
    pub shortname: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Archetype.
    pub archetype: Option<Archetype>,
    /// Levels where the role may be assigned.
    pub contextlevels: Vec<ContextLevel>,
    /// Short names of roles it may assign.
    pub allow_assign: Vec<String>,
    /// Short names of roles it may override.
    pub allow_override: Vec<String>,
    /// Short names of roles it may switch to.
    pub allow_switch: Vec<String>,
    /// Short names of roles it may see.
    pub allow_view: Vec<String>,
    /// Capability values; `None` = inherit (clear the row).
    pub permissions: Vec<(String, Option<Permission>)>,
    /// Level names or numbers that are not context levels.
    pub unknown_levels: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The role written.
    pub role: RoleId,
    /// Its short name.
    pub shortname: String,
    /// A new role was added (else an existing one was updated).
    pub created: bool,
    /// Definition rows set or cleared.
    pub permissions_set: usize,
    /// Capabilities the site does not define (skipped).
    pub unknown_capabilities: Vec<String>,
    /// Role short names the site does not have (skipped).
    pub unknown_roles: Vec<String>,
    /// Context levels that do not exist (skipped).
    pub unknown_levels: Vec<String>,
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
    /// No `shortname`.
    #[error("the preset has no `shortname`")]
    MissingShortname,
    /// A short name with forbidden characters.
    #[error("short name `{0}` may hold only ASCII letters, digits, `_` and `-`")]
    BadShortname(String),
    /// An archetype Capstan does not know.
    #[error("unknown archetype `{0}`")]
    UnknownArchetype(String),
    /// A permission element other than inherit/allow/prevent/prohibit.
    #[error("unknown permission element `{0}`")]
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
            PresetError::Hostile(_) => "hostile_xml",
            PresetError::TooLarge { .. } => "too_large",
            PresetError::WrongRoot(_) => "wrong_root",
            PresetError::MissingShortname => "missing_shortname",
            PresetError::BadShortname(_) => "bad_shortname",
            PresetError::UnknownArchetype(_) => "unknown_archetype",
            PresetError::UnknownPermission(_) => "unknown_permission",
            PresetError::UnknownRole(_) => "unknown_role",
            PresetError::Refused { code, .. } => code,
        }
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes a preset as Moodle role preset XML.
pub fn write_preset(p: &Preset) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<role>\n");
    let leaf = |x: &mut String, indent: &str, tag: &str, text: &str| {
        if text.is_empty() {
            x.push_str(&format!("{indent}<{tag}></{tag}>\n"));
        } else {
            x.push_str(&format!("{indent}<{tag}>{}</{tag}>\n", escape(text)));
        }
    };
    leaf(&mut x, "  ", "shortname", &p.shortname);
    leaf(&mut x, "  ", "name", &p.name);
    leaf(&mut x, "  ", "description", &p.description);
    leaf(
        &mut x,
        "  ",
        "archetype",
        p.archetype.map_or("", |a| a.name()),
    );
    x.push_str("  <contextlevels>\n");
    for l in &p.contextlevels {
        leaf(&mut x, "    ", "level", l.name());
    }
    x.push_str("  </contextlevels>\n");
    for (tag, list) in [
        ("allowassign", &p.allow_assign),
        ("allowoverride", &p.allow_override),
        ("allowswitch", &p.allow_switch),
        ("allowview", &p.allow_view),
    ] {
        x.push_str(&format!("  <{tag}>\n"));
        for s in list {
            leaf(&mut x, "    ", "shortname", s);
        }
        x.push_str(&format!("  </{tag}>\n"));
    }
    x.push_str("  <permissions>\n");
    for (tag, want) in [
        ("inherit", None),
        ("allow", Some(Permission::Allow)),
        ("prevent", Some(Permission::Prevent)),
        ("prohibit", Some(Permission::Prohibit)),
    ] {
        for (cap, v) in &p.permissions {
            if *v == want {
                leaf(&mut x, "    ", tag, cap);
            }
        }
    }
    x.push_str("  </permissions>\n</role>\n");
    x
}

fn level_from(text: &str) -> Option<ContextLevel> {
    ContextLevel::from_name(text)
        .or_else(|| text.parse::<u16>().ok().and_then(ContextLevel::from_number))
}

/// Reads Moodle role preset XML.
pub fn parse_preset(xml: &str) -> Result<Preset, PresetError> {
    if xml.len() > MAX_PRESET_BYTES {
        return Err(PresetError::TooLarge {
            size: xml.len(),
            max: MAX_PRESET_BYTES,
        });
    }
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    reader.config_mut().check_end_names = true;
    let mut p = Preset {
        shortname: String::new(),
        name: String::new(),
        description: String::new(),
        archetype: None,
        contextlevels: Vec::new(),
        allow_assign: Vec::new(),
        allow_override: Vec::new(),
        allow_switch: Vec::new(),
        allow_view: Vec::new(),
        permissions: Vec::new(),
        unknown_levels: Vec::new(),
    };
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut saw_root = false;
    let mut archetype_text = String::new();
    loop {
        let pos = reader.buffer_position();
        let malformed = |e: quick_xml::Error| PresetError::Malformed {
            message: e.to_string(),
            position: pos,
        };
        match reader.read_event().map_err(malformed)? {
            Event::DocType(_) => {
                return Err(PresetError::Hostile(
                    "a DOCTYPE is not allowed in a role preset".into(),
                ));
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if stack.is_empty() {
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
                }
                stack.push(name);
                if stack.len() > MAX_DEPTH {
                    return Err(PresetError::Hostile(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                text.clear();
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if stack.is_empty() {
                    if name != "role" {
                        return Err(PresetError::WrongRoot(name));
                    }
                    saw_root = true;
                }
                // An empty element carries no text: nothing to record.
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(malformed)?;
                text.push_str(&s);
            }
            Event::CData(t) => {
                text.push_str(&String::from_utf8_lossy(&t.into_inner()));
            }
            Event::End(_) => {
                let path: Vec<&str> = stack.iter().map(String::as_str).collect();
                let value = text.trim().to_string();
                match path.as_slice() {
                    ["role", "shortname"] => p.shortname = value,
                    ["role", "name"] => p.name = value,
                    ["role", "description"] => p.description = value,
                    ["role", "archetype"] => archetype_text = value,
                    ["role", "contextlevels", "level"] => match level_from(&value) {
                        Some(l) if !p.contextlevels.contains(&l) => p.contextlevels.push(l),
                        Some(_) => {}
                        None => p.unknown_levels.push(value),
                    },
                    ["role", list, "shortname"] => {
                        let target = match *list {
                            "allowassign" => Some(&mut p.allow_assign),
                            "allowoverride" => Some(&mut p.allow_override),
                            "allowswitch" => Some(&mut p.allow_switch),
                            "allowview" => Some(&mut p.allow_view),
                            _ => None,
                        };
                        if let Some(t) = target
                            && !value.is_empty()
                        {
                            t.push(value);
                        }
                    }
                    ["role", "permissions", kind] => {
                        let v = match *kind {
                            "inherit" => None,
                            "allow" => Some(Permission::Allow),
                            "prevent" => Some(Permission::Prevent),
                            "prohibit" => Some(Permission::Prohibit),
                            other => return Err(PresetError::UnknownPermission(other.to_string())),
                        };
                        if !value.is_empty() {
                            p.permissions.retain(|(c, _)| *c != value);
                            p.permissions.push((value, v));
                        }
                    }
                    _ => {}
                }
                stack.pop();
                text.clear();
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(PresetError::Malformed {
            message: format!("unclosed element `{}`", stack.join("/")),
            position: reader.buffer_position(),
        });
    }
    if !saw_root {
        return Err(PresetError::Malformed {
            message: "no root element".into(),
            position: 0,
        });
    }
    if p.shortname.is_empty() {
        return Err(PresetError::MissingShortname);
    }
    if !crate::validate::is_valid_shortname(&p.shortname) {
        return Err(PresetError::BadShortname(p.shortname.clone()));
    }
    if !archetype_text.is_empty() {
        p.archetype = Some(
            Archetype::from_name(&archetype_text)
                .ok_or(PresetError::UnknownArchetype(archetype_text))?,
        );
    }
    if p.name.is_empty() {
        p.name = p.shortname.clone();
    }
    Ok(p)
}

impl Engine {
    /// The preset of a role: its fields, allow lists by short name, and its system-level
    /// definition (every capability of the site the role does not set is written as `inherit`,
    /// as Moodle does).
    pub fn export_preset(&self, role: RoleId) -> Result<String, PresetError> {
        let r = self.role(role).ok_or(PresetError::UnknownRole(role))?;
        let names = |ids: &[RoleId]| -> Vec<String> {
            ids.iter()
                .filter_map(|id| self.role(*id).map(|x| x.shortname.clone()))
                .collect()
        };
        let ri = self
            .role_index
            .get(role.0)
            .ok_or(PresetError::UnknownRole(role))?;
        let permissions = self
            .caps
            .iter()
            .enumerate()
            .map(|(ci, c)| (c.name.clone(), self.def(ri, ci as u32)))
            .collect();
        Ok(write_preset(&Preset {
            shortname: r.shortname.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            archetype: r.archetype,
            contextlevels: r.contextlevels.clone(),
            allow_assign: names(&r.allow_assign),
            allow_override: names(&r.allow_override),
            allow_switch: names(&r.allow_switch),
            allow_view: names(&r.allow_view),
            permissions,
            unknown_levels: Vec::new(),
        }))
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
        self.apply_all(ops).map_err(|(_, e)| PresetError::Refused {
            code: e.code(),
            message: e.to_string(),
        })?;
        Ok(report)
    }

    /// The edits that [`Engine::import_preset`] would apply, and its report, without applying
    /// them: for callers that journal or sync edits (the admin app, the server).
    pub fn preset_ops(
        &self,
        xml: &str,
        target: Option<RoleId>,
    ) -> Result<(Vec<EditOp>, ImportReport), PresetError> {
        let p = parse_preset(xml)?;
        let existing = match target {
            Some(id) => Some(self.role(id).cloned().ok_or(PresetError::UnknownRole(id))?),
            None => self
                .roles()
                .iter()
                .find(|r| r.shortname == p.shortname)
                .cloned(),
        };
        let created = existing.is_none();
        let id = match &existing {
            Some(r) => r.id,
            None => RoleId(
                self.roles()
                    .iter()
                    .map(|r| r.id.0)
                    .max()
                    .unwrap_or(0)
                    .saturating_add(1),
            ),
        };
        let mut unknown_roles = Vec::new();
        let mut resolve = |names: &[String]| -> Vec<u32> {
            let mut out = Vec::new();
            for n in names {
                if *n == p.shortname {
                    out.push(id.0);
                } else if let Some(r) = self.roles().iter().find(|r| r.shortname == *n) {
                    out.push(r.id.0);
                } else if !unknown_roles.contains(n) {
                    unknown_roles.push(n.clone());
                }
            }
            out
        };
        let doc = RoleDoc {
            id: id.0,
            shortname: p.shortname.clone(),
            name: Some(p.name.clone()),
            description: Some(p.description.clone()),
            archetype: p.archetype,
            contextlevels: Some(p.contextlevels.clone()),
            sortorder: existing.as_ref().and_then(|r| r.sortorder),
            allow_assign: Some(resolve(&p.allow_assign)),
            allow_override: Some(resolve(&p.allow_override)),
            allow_switch: Some(resolve(&p.allow_switch)),
            allow_view: Some(resolve(&p.allow_view)),
        };
        let system = self
            .ctxs
            .get(self.system as usize)
            .map(|c| c.id)
            .unwrap_or(ContextId(0));
        let mut ops = vec![EditOp::PutRole { role: doc }];
        let mut unknown_capabilities = Vec::new();
        for (cap, value) in &p.permissions {
            if self.capability_id(cap).is_none() {
                unknown_capabilities.push(cap.clone());
                continue;
            }
            ops.push(EditOp::SetPermission {
                role: id,
                context: system,
                capability: cap.clone(),
                permission: *value,
            });
        }
        let permissions_set = ops.len() - 1;
        let report = ImportReport {
            role: id,
            shortname: p.shortname,
            created,
            permissions_set,
            unknown_capabilities,
            unknown_roles,
            unknown_levels: p.unknown_levels,
        };
        Ok((ops, report))
    }
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
              {"name": "mod/forum:replypost", "captype": "write", "contextlevel": "module"}],
            "contexts": [{"id": 1, "level": "system"}],
            "roles": [
              {"id": 3, "shortname": "editingteacher", "name": "Teacher <b>&amp; co</b>", "description": "Edits \"courses\"",
               "archetype": "editingteacher", "contextlevels": ["course", "module"], "allow_assign": [5], "allow_switch": [3, 5]},
              {"id": 5, "shortname": "student", "contextlevels": ["course"]}],
            "permissions": [
              {"role": 3, "context": 1, "capability": "moodle/course:view", "permission": "allow"},
              {"role": 3, "context": 1, "capability": "moodle/course:update", "permission": "prevent"},
              {"role": 3, "context": 1, "capability": "mod/forum:replypost", "permission": "prohibit"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn export_then_import_gives_the_same_role() {
        let mut e = site();
        let xml = e.export_preset(RoleId(3)).unwrap();
        assert!(
            xml.contains("<name>Teacher &lt;b&gt;&amp;amp; co&lt;/b&gt;</name>"),
            "{xml}"
        );
        let before = e.to_json();
        let report = e.import_preset(&xml, None).unwrap();
        assert!(!report.created);
        assert_eq!(report.role, RoleId(3));
        assert_eq!(report.permissions_set, 3);
        assert_eq!(e.to_json(), before);
        // Into a fresh role: same fields and definition under a new id.
        let renamed = xml.replace(
            "<shortname>editingteacher</shortname>",
            "<shortname>teacher2</shortname>",
        );
        let report = e.import_preset(&renamed, None).unwrap();
        assert!(report.created);
        assert_eq!(report.role, RoleId(6));
        let a = e.role(RoleId(3)).unwrap().clone();
        let b = e.role(RoleId(6)).unwrap().clone();
        assert_eq!(
            (a.name, a.description, a.archetype, a.contextlevels),
            (b.name, b.description, b.archetype, b.contextlevels)
        );
        // The self-reference in the allow list follows the renamed role.
        assert_eq!(b.allow_switch, vec![RoleId(6), RoleId(5)]);
        let again = e.export_preset(RoleId(6)).unwrap();
        assert_eq!(again, renamed);
    }

    #[test]
    fn unknown_names_are_reported_and_the_rest_imported() {
        let mut e = site();
        let xml = r#"<?xml version="1.0"?>
<role><shortname>auditor</shortname><name>Auditor</name><archetype></archetype>
<contextlevels><level>50</level><level>galaxy</level><level>coursecat</level></contextlevels>
<allowassign><shortname>student</shortname><shortname>ghost</shortname></allowassign>
<permissions><allow>moodle/course:view</allow><allow>local/nope:x</allow><prohibit>moodle/course:update</prohibit></permissions>
</role>"#;
        let r = e.import_preset(xml, None).unwrap();
        assert!(r.created);
        assert_eq!(r.unknown_capabilities, vec!["local/nope:x".to_string()]);
        assert_eq!(r.unknown_roles, vec!["ghost".to_string()]);
        assert_eq!(r.unknown_levels, vec!["galaxy".to_string()]);
        let role = e.role(r.role).unwrap();
        assert_eq!(
            role.contextlevels,
            vec![ContextLevel::Course, ContextLevel::Coursecat]
        );
        assert_eq!(role.allow_assign, vec![RoleId(5)]);
        let rows = e
            .capability_overview("moodle/course:update", Some(&[r.role]))
            .unwrap();
        assert_eq!(rows[0].definition, Some(Permission::Prohibit));
    }

    #[test]
    fn hostile_and_malformed_xml_change_nothing() {
        let mut e = site();
        let before = e.to_json();
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE role [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><role><shortname>&b;</shortname></role>"#;
        let cases = [
            (bomb.to_string(), "hostile_xml"),
            ("<role><shortname>x</role>".to_string(), "malformed_xml"),
            ("<role><shortname>x</shortname>".to_string(), "malformed_xml"),
            ("not xml at all".to_string(), "malformed_xml"),
            ("<other/>".to_string(), "wrong_root"),
            ("<role><name>x</name></role>".to_string(), "missing_shortname"),
            ("<role><shortname>bad name</shortname></role>".to_string(), "bad_shortname"),
            ("<role><shortname>x</shortname><archetype>wizard</archetype></role>".to_string(), "unknown_archetype"),
            ("<role><shortname>x</shortname><permissions><maybe>moodle/course:view</maybe></permissions></role>".to_string(), "unknown_permission"),
            ("<role><shortname>&undefined;</shortname></role>".to_string(), "malformed_xml"),
            (format!("<role>{}</role>", "<a>".repeat(40) + &"</a>".repeat(40)), "hostile_xml"),
            (" ".repeat(MAX_PRESET_BYTES + 1), "too_large"),
        ];
        for (xml, code) in cases {
            let err = e.import_preset(&xml, None).unwrap_err();
            assert_eq!(err.code(), code, "{}: {err}", &xml[..xml.len().min(80)]);
            assert_eq!(e.to_json(), before);
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
        e.import_preset(xml, None).unwrap();
        let view = e
            .capability_overview("moodle/course:view", Some(&[RoleId(3)]))
            .unwrap();
        assert_eq!(view[0].definition, None);
        let update = e
            .capability_overview("moodle/course:update", Some(&[RoleId(3)]))
            .unwrap();
        assert_eq!(update[0].definition, Some(Permission::Prevent));
    }
}
