//! The Moodle 4.5 data and template against the real data in `shared/moodle/`: the
//! capabilities read from Moodle 4.5.6's `access.php` files, and the role tables of a real
//! Moodle 4.5.6 database (a fresh install plus a test site; its README lists what was changed).

use capstan_core::moodle::{self, AllowKind};
use capstan_core::{Archetype, ContextLevel, Engine, Permission, RoleId, validate};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/moodle")
        .join(rel)
}

#[test]
fn the_embedded_data_is_the_shared_capability_list() {
    let text = std::fs::read_to_string(shared("capabilities/capabilities.json")).unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(list.len(), 741);
    assert_eq!(moodle::capabilities().len(), list.len());
    let sources = std::fs::read_to_string(shared("capabilities/sources.tsv")).unwrap();
    let mut file_of = BTreeMap::new();
    let mut clone_of = BTreeMap::new();
    for line in sources.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        file_of.insert(f[0], f[1]);
        if let Some(src) = f.get(2).filter(|s| s.contains(':') && !s.contains(' ')) {
            clone_of.insert(f[0], *src);
        }
    }
    for (c, j) in moodle::capabilities().iter().zip(&list) {
        assert_eq!(c.name, j["name"].as_str().unwrap());
        let cap = c.to_capability();
        let back = serde_json::json!({
            "name": c.name,
            "captype": j["captype"],
            "contextlevel": cap.contextlevel.name(),
            "risks": cap.risks.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "archetypes": c.archetypes.iter().map(|(a, p)| (a.name().to_string(), serde_json::Value::from(p.name()))).collect::<serde_json::Map<_, _>>(),
        });
        assert_eq!(&back, j, "{}", c.name);
        assert_eq!(
            match c.captype {
                capstan_core::CapType::Read => "read",
                capstan_core::CapType::Write => "write",
            },
            j["captype"].as_str().unwrap()
        );
        assert_eq!(Some(&c.file), file_of.get(c.name), "{}", c.name);
        assert_eq!(c.clone_from, clone_of.get(c.name).copied(), "{}", c.name);
    }
}

/// The rows of one table of a plain-SQL pg_dump, as maps from column to text.
fn dump_table(dump: &str, table: &str) -> Vec<BTreeMap<String, String>> {
    let head = format!("COPY public.{table} (");
    let Some(start) = dump.find(&head) else {
        panic!("no table {table}")
    };
    let rest = &dump[start + head.len()..];
    let (cols, rest) = rest.split_once(") FROM stdin;\n").unwrap();
    let cols: Vec<String> = cols
        .split(", ")
        .map(|c| c.trim_matches('"').into())
        .collect();
    rest.lines()
        .take_while(|l| *l != "\\.")
        .map(|l| {
            cols.iter()
                .cloned()
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

fn real_dump() -> String {
    let gz = std::fs::read(shared("db/moodle-4.5.6-xs.sql.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn the_template_is_a_fresh_moodle_4_5_site() {
    let site = moodle::template("moodle-4.5").unwrap();
    assert_eq!(validate(&site), vec![], "the template is valid");
    let engine = Engine::from_site(site.clone()).unwrap();
    assert_eq!(
        engine.capabilities().len(),
        742,
        "741 of Moodle's and Capstan's own"
    );
    let dump = real_dump();
    let shortname_of: BTreeMap<String, String> = dump_table(&dump, "mdl_role")
        .into_iter()
        .map(|r| (r["id"].clone(), r["shortname"].clone()))
        .collect();
    let standard = |id: &str| id.parse::<u32>().is_ok_and(|n| (1..=8).contains(&n));
    // Ids and short names of the eight standard roles are Moodle's.
    for r in &site.roles[..8] {
        assert_eq!(shortname_of[&r.id.0.to_string()], r.shortname);
        assert_eq!(r.name, "", "Moodle stores no name for its standard roles");
    }
    // Definitions: the real site's rows of roles 1–8 at the system context, but for the one
    // change its README lists (authenticated user: moodle/course:request allowed); the
    // other listed change (guest: changeownpassword prohibited) is already the default.
    let value = |p: &str| match p {
        "1" => Permission::Allow,
        "-1" => Permission::Prevent,
        "-1000" => Permission::Prohibit,
        other => panic!("permission {other}"),
    };
    let mut real: BTreeSet<(u32, String, i32)> = dump_table(&dump, "mdl_role_capabilities")
        .into_iter()
        .filter(|r| r["contextid"] == "1" && standard(&r["roleid"]))
        .map(|r| {
            (
                r["roleid"].parse().unwrap(),
                r["capability"].clone(),
                value(&r["permission"]).number(),
            )
        })
        .collect();
    assert!(real.remove(&(7, "moodle/course:request".into(), 1)));
    let ours: BTreeSet<(u32, String, i32)> = site
        .permissions
        .iter()
        .filter(|p| p.role.0 <= 8)
        .map(|p| (p.role.0, p.capability.clone(), p.permission.number()))
        .collect();
    assert_eq!(ours.len(), 1533);
    assert_eq!(
        ours.symmetric_difference(&real).collect::<Vec<_>>(),
        Vec::<&(u32, String, i32)>::new()
    );
    // Context levels and the four allow matrices of the standard roles.
    let pairs = |table: &str, col: &str| -> BTreeSet<(u32, u32)> {
        dump_table(&dump, table)
            .into_iter()
            .filter(|r| standard(&r["roleid"]))
            .map(|r| (r["roleid"].parse().unwrap(), r[col].parse().unwrap()))
            .collect()
    };
    let ours_levels: BTreeSet<(u32, u32)> = site.roles[..8]
        .iter()
        .flat_map(|r| {
            r.contextlevels
                .iter()
                .map(move |l| (r.id.0, u32::from(l.number())))
        })
        .collect();
    assert_eq!(
        ours_levels,
        pairs("mdl_role_context_levels", "contextlevel")
    );
    for kind in AllowKind::ALL {
        let col = kind.element();
        let ours: BTreeSet<(u32, u32)> = site.roles[..8]
            .iter()
            .flat_map(|r| {
                kind.of(r)
                    .iter()
                    .filter(|t| t.0 <= 8)
                    .map(move |t| (r.id.0, t.0))
            })
            .collect();
        assert_eq!(
            ours,
            pairs(&format!("mdl_role_allow_{}", &col[5..]), col),
            "{col}"
        );
    }
    // Moodle's default settings.
    let config: BTreeMap<String, String> = dump_table(&dump, "mdl_config")
        .into_iter()
        .map(|r| (r["name"].clone(), r["value"].clone()))
        .collect();
    let s = &site.settings;
    let id = |v: Option<RoleId>| v.map(|r| r.0.to_string());
    assert_eq!(id(s.guest_role), Some(config["guestroleid"].clone()));
    assert_eq!(
        id(s.not_logged_in_role),
        Some(config["notloggedinroleid"].clone())
    );
    assert_eq!(
        id(s.default_user_role),
        Some(config["defaultuserroleid"].clone())
    );
    assert_eq!(
        id(s.default_frontpage_role),
        Some(config["defaultfrontpageroleid"].clone())
    );
    assert_eq!(
        s.guest_user.map(|u| u.0.to_string()),
        Some(config["siteguest"].clone())
    );
    assert_eq!(
        s.site_admins
            .iter()
            .map(|u| u.0.to_string())
            .collect::<Vec<_>>()
            .join(","),
        config["siteadmins"]
    );
    assert_eq!(s.force_login, config["forcelogin"] == "1");
    // The first ten contexts have Moodle's ids and levels (the test site locks contexts and
    // changes `contextlocking`, so only the tree is compared).
    let real_ctx: Vec<(u32, u16)> = dump_table(&dump, "mdl_context")
        .into_iter()
        .filter(|c| c["id"].parse::<u32>().unwrap() <= 10)
        .map(|c| (c["id"].parse().unwrap(), c["contextlevel"].parse().unwrap()))
        .collect();
    let ours_ctx: Vec<(u32, u16)> = site
        .contexts
        .iter()
        .map(|c| (c.id.0, c.level.number()))
        .collect();
    assert_eq!(ours_ctx, real_ctx);
}

#[test]
fn tenant_archetypes_are_derived_from_the_manager() {
    let site = moodle::template("moodle-4.5").unwrap();
    let defs = moodle::archetype_defaults(Archetype::Tenantdomainmanager);
    assert!(!defs.is_empty());
    for (name, _) in &defs {
        let level = moodle::capability(name).unwrap().contextlevel;
        assert!(matches!(
            level,
            ContextLevel::Coursecat
                | ContextLevel::Course
                | ContextLevel::Module
                | ContextLevel::Block
        ));
    }
    let tum = moodle::archetype_defaults(Archetype::Tenantusermanager);
    assert!(tum.iter().any(|(n, _)| *n == "moodle/user:create"));
    assert!(site.roles[8].contextlevels == vec![ContextLevel::Tenant]);
    assert!(moodle::template("moodle-3.9").is_err());
}

/// Validates a document with libxml's `xmllint` (Debian's `libxml2-utils`, which
/// `cargo xtask test` installs) against a schema; the error text when it does not.
fn xmllint(schema: &Path, xml: &str, name: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("capstan-preset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(&file)
        .output()
        .expect("xmllint (apt-get install libxml2-utils; cargo xtask test installs it)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_standard_role_round_trips_and_validates_against_both_schemas() {
    use capstan_core::preset::{ExportOptions, parse_preset};
    let schema = shared("presets/role_schema.xml");
    let old_schema = shared("presets/moodle-moodle-29765e6e/role_schema.xml");
    let engine = Engine::from_site(moodle::template("moodle-4.5").unwrap()).unwrap();
    for r in engine.roles() {
        let xml = engine.export_preset(r.id).unwrap();
        assert_eq!(
            xml.lines().count(),
            2,
            "declaration and one line, as Moodle writes"
        );
        // Every capability of the site once.
        let p = parse_preset(&xml).unwrap();
        assert_eq!(p.permissions.as_ref().unwrap().len(), 742);
        xmllint(&schema, &xml, &format!("{}.xml", r.shortname))
            .unwrap_or_else(|e| panic!("{}: {e}", r.shortname));
        // An export with allowview is refused by the older schema; one without is accepted.
        assert!(
            xmllint(&old_schema, &xml, "old.xml").is_err(),
            "{}",
            r.shortname
        );
        let old = engine
            .export_preset_with(r.id, ExportOptions { allow_view: false })
            .unwrap();
        xmllint(&old_schema, &old, &format!("{}-old.xml", r.shortname))
            .unwrap_or_else(|e| panic!("{} (old schema): {e}", r.shortname));
        // Import onto itself changes nothing; onto a copy of the site without the role's
        // definition, it brings it back.
        let mut same = engine.clone();
        let report = same.import_preset(&xml, None).unwrap();
        assert_eq!((report.permissions_set, report.changed.len()), (0, 0));
        assert!(
            same.site() == engine.site(),
            "{}: import onto itself changed the site",
            r.shortname
        );
        let (ops, _) = engine
            .reset_role_ops(
                r.id,
                capstan_core::preset::ResetFrom::Nothing,
                &capstan_core::preset::RolePart::ALL,
            )
            .unwrap();
        let mut cleared = engine.clone();
        cleared.apply_all(ops).unwrap();
        cleared.import_preset(&xml, Some(r.id)).unwrap();
        assert_eq!(cleared.role(r.id), engine.role(r.id), "{}", r.shortname);
        let rows = |e: &Engine| {
            let mut v: Vec<(u32, String, i32)> = e
                .site()
                .permissions
                .into_iter()
                .map(|p| (p.role.0, p.capability, p.permission.number()))
                .collect();
            v.sort();
            v
        };
        assert!(
            rows(&cleared) == rows(&engine),
            "{}: definitions differ",
            r.shortname
        );
        assert!(
            cleared.export_preset(r.id).unwrap() == xml,
            "{}",
            r.shortname
        );
    }
}

#[test]
fn the_schema_checks_of_the_reader_agree_with_xmllint() {
    use capstan_core::preset::parse_preset;
    let schema = shared("presets/role_schema.xml");
    let engine = Engine::from_site(moodle::template("moodle-4.5").unwrap()).unwrap();
    let xml = engine.export_preset(RoleId(5)).unwrap();
    let fixture = std::fs::read_to_string(shared("presets/mixed_levels.xml")).unwrap();
    let cases: Vec<(String, String)> = vec![
        ("export".into(), xml.clone()),
        ("fixture".into(), fixture.clone()),
        (
            "swapped".into(),
            xml.replacen("<name/><description/>", "<description/><name/>", 1),
        ),
        ("twice".into(), xml.replacen("<name/>", "<name/><name/>", 1)),
        (
            "unknown".into(),
            xml.replacen("<name/>", "<name/><colour/>", 1),
        ),
        (
            "attribute".into(),
            xml.replacen("<role>", "<role version=\"1\">", 1),
        ),
        (
            "interleaved".into(),
            xml.replacen(
                "</permissions>",
                "<inherit>moodle/site:config</inherit></permissions>",
                1,
            ),
        ),
        (
            "child".into(),
            xml.replacen("<name/>", "<name><b>x</b></name>", 1),
        ),
        (
            "text".into(),
            xml.replacen("<allowassign/>", "<allowassign>x</allowassign>", 1),
        ),
        (
            "level".into(),
            fixture.replacen("<level>40</level>", "<shortname>40</shortname>", 1),
        ),
        ("minimal".into(), "<role/>".into()),
        (
            "empty-permissions".into(),
            "<role><permissions/></role>".into(),
        ),
    ];
    for (name, doc) in cases {
        let ours = parse_preset(&doc).map(|_| ());
        let theirs = xmllint(&schema, &doc, &format!("{name}.xml"));
        assert_eq!(
            ours.is_ok(),
            theirs.is_ok(),
            "{name}: {ours:?} / {theirs:?}"
        );
    }
}

#[test]
fn moodles_own_fixture_imports_to_its_three_levels() {
    let fixture = std::fs::read_to_string(shared("presets/mixed_levels.xml")).unwrap();
    let mut engine = Engine::from_site(moodle::template("moodle-4.5").unwrap()).unwrap();
    let report = engine.import_preset(&fixture, None).unwrap();
    assert!(report.created);
    assert_eq!(report.role, RoleId(11));
    assert_eq!(report.permissions_set, 4);
    assert!(report.unknown_capabilities.is_empty() && report.unknown_roles.is_empty());
    let role = engine.role(report.role).unwrap();
    assert_eq!(
        role.contextlevels,
        vec![
            ContextLevel::System,
            ContextLevel::Coursecat,
            ContextLevel::Course
        ]
    );
    assert_eq!(role.allow_view, vec![RoleId(5)]);
    assert_eq!(role.name, "");
    assert_eq!(
        engine.definition(report.role, "moodle/site:configview"),
        Some(Permission::Allow)
    );
}

#[test]
fn viewable_roles_follow_allow_view() {
    use capstan_core::{Assignment, ContextId, Source, Timestamp, User, UserId};
    let mut site = moodle::template("moodle-4.5").unwrap();
    site.contexts.push(capstan_core::Context {
        id: ContextId(20),
        level: ContextLevel::Course,
        parent: Some(ContextId(3)),
        tenant: None,
        instance: None,
        locked: false,
        visible: true,
        name: Some("Course".into()),
    });
    for (id, name) in [
        (3, "manager"),
        (4, "teacher"),
        (5, "student"),
        (6, "plain"),
        (7, "gone"),
    ] {
        site.users.push(User {
            id: UserId(id),
            username: name.into(),
            tenant: None,
            participant_of: vec![],
            deleted: id == 7,
            suspended: false,
            fullname: None,
            email: None,
            support_identifier: None,
        });
    }
    let assign = |user, role, context| Assignment {
        user: UserId(user),
        role: RoleId(role),
        context: ContextId(context),
        from: None,
        until: None,
        source: Source::Manual,
    };
    site.assignments = vec![
        assign(3, 1, 1),
        assign(4, 3, 20),
        assign(5, 5, 20),
        assign(7, 1, 1),
    ];
    let e = Engine::from_site(site).unwrap();
    let at = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let ids = |user, ctx| -> Vec<u32> {
        e.viewable_roles(UserId(user), ContextId(ctx), at)
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect()
    };
    let all: Vec<u32> = (1..=10).collect();
    assert_eq!(ids(2, 20), all, "the site admin sees every role");
    assert_eq!(
        ids(3, 20),
        all,
        "a manager at system: Moodle's default lists all"
    );
    assert_eq!(ids(4, 20), vec![2, 3, 4, 5], "a teacher in its course");
    assert_eq!(ids(4, 1), Vec::<u32>::new(), "but not above it");
    assert_eq!(
        ids(5, 20),
        vec![2, 3, 4, 5],
        "a student, by Moodle's defaults"
    );
    assert_eq!(
        ids(6, 20),
        Vec::<u32>::new(),
        "the default user role gives none"
    );
    assert_eq!(ids(7, 20), Vec::<u32>::new(), "deleted");
    assert_eq!(ids(1, 20), Vec::<u32>::new(), "guest");
    assert_eq!(ids(0, 20), Vec::<u32>::new(), "not logged in");
    assert_eq!(
        e.viewable_roles(UserId(4), ContextId(999), at)
            .unwrap_err()
            .code(),
        "unknown_context"
    );
}

#[test]
fn a_new_role_from_an_archetype_takes_moodles_defaults() {
    let mut e = Engine::from_site(moodle::template("moodle-4.5").unwrap()).unwrap();
    let ops = e.new_role_from_archetype_ops(RoleId(11), "tutor", "Tutor", Archetype::Teacher);
    e.apply_all(ops).unwrap();
    let tutor = e.role(RoleId(11)).unwrap().clone();
    assert_eq!(
        tutor.contextlevels,
        vec![ContextLevel::Course, ContextLevel::Module]
    );
    assert_eq!(tutor.allow_switch, vec![RoleId(5), RoleId(6)]);
    assert_eq!(
        tutor.allow_view,
        vec![RoleId(2), RoleId(3), RoleId(4), RoleId(5), RoleId(11)],
        "as a teacher views teachers, it views itself"
    );
    let defaults = moodle::archetype_defaults(Archetype::Teacher);
    for c in e.capabilities() {
        let want = defaults.iter().find(|(n, _)| *n == c.name).map(|(_, p)| *p);
        assert_eq!(e.definition(RoleId(11), &c.name), want, "{}", c.name);
    }
    // A manager-based role may assign and view itself, as the standard manager does.
    let ops = e.new_role_from_archetype_ops(RoleId(12), "boss", "Boss", Archetype::Manager);
    e.apply_all(ops).unwrap();
    assert!(
        e.role(RoleId(12))
            .unwrap()
            .allow_assign
            .contains(&RoleId(12))
    );
}
