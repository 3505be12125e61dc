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
