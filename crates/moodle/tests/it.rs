//! The importer on the real Moodle 4.5.6 database of `shared/moodle/db`: from its dump file and
//! from a PostgreSQL cluster that the test starts and loads with psql.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/cluster.rs"]
mod cluster;

use capstan_core::{
    CheckOptions, ContextId, ContextLevel, Engine, Permission, Source, Timestamp, UserId, validate,
};
use capstan_moodle::dump::DumpSource;
use capstan_moodle::pg::PgSource;
use capstan_moodle::{ErrorCode, ImportOptions, Imported, NoteCode, SkipCode, import};
use std::path::PathBuf;

fn dump_path() -> PathBuf {
    let shared = std::env::var_os("CAPSTAN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    shared.join("moodle/db/moodle-4.5.6-xs.sql.gz")
}

fn from_dump() -> Imported {
    let mut source = DumpSource::open(&dump_path()).unwrap();
    import(&mut source, &ImportOptions::default()).unwrap()
}

fn at() -> CheckOptions {
    CheckOptions::at(Timestamp::parse("2026-06-01T00:00:00Z").unwrap())
}

/// The counts of the database's README.
fn assert_counts(im: &Imported) {
    let c = &im.report.counts;
    let levels: Vec<(&str, usize)> = c.contexts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        levels,
        [
            ("block", 7),
            ("course", 4),
            ("coursecat", 4),
            ("module", 74),
            ("system", 1),
            ("user", 115)
        ]
    );
    assert_eq!(im.site.contexts.len(), 205);
    assert_eq!(c.roles, 12);
    // Moodle's 741 and capstan/support:grant.
    assert_eq!(c.capabilities, 742);
    assert_eq!(c.permissions, 1790);
    assert_eq!(c.overrides, 17);
    assert_eq!(c.assignments, 121);
    assert_eq!(c.users, 115);
    assert_eq!(c.deleted_users, 2);
    assert_eq!(c.suspended_users, 2);
    assert_eq!(c.locked_contexts, 2);
    let by = |p: Permission| {
        im.site
            .permissions
            .iter()
            .filter(|r| r.context != ContextId(1) && r.permission == p)
            .count()
    };
    assert_eq!(
        (
            by(Permission::Prohibit),
            by(Permission::Prevent),
            by(Permission::Allow)
        ),
        (5, 7, 5)
    );
    let by_role = |short: &str| {
        let role = im.site.roles.iter().find(|r| r.shortname == short).unwrap();
        im.site
            .assignments
            .iter()
            .filter(|a| a.role == role.id)
            .count()
    };
    let roles = [
        ("manager", 2),
        ("coursecreator", 2),
        ("editingteacher", 5),
        ("teacher", 2),
        ("student", 104),
        ("assistant", 1),
        ("reviewer", 2),
        ("mentor", 2),
        ("blocker", 1),
    ];
    for (short, n) in roles {
        assert_eq!(by_role(short), n, "{short}");
    }
    assert!(
        im.site
            .assignments
            .iter()
            .all(|a| a.source == Source::Manual)
    );
    assert!(im.report.problems.is_empty(), "{:?}", im.report.problems);
    assert!(validate(&im.site).is_empty());
}

#[test]
fn the_real_dump_imports_with_the_counts_of_its_readme() {
    let im = from_dump();
    assert_counts(&im);
    assert_eq!(im.report.product, "Moodle");
    assert_eq!(
        im.report.release.as_deref(),
        Some("4.5.6 (Build: 20250811)")
    );
    assert_eq!(im.name.as_deref(), Some("Real"));
    // Nothing skipped but Moodle's inherit rows (there are none in this site).
    assert!(
        im.report
            .skipped
            .iter()
            .all(|s| s.code == SkipCode::InheritRow),
        "{:?}",
        im.report.skipped
    );
    let codes: Vec<NoteCode> = im.report.notes.iter().map(|n| n.code).collect();
    // Moodle's own `READ` captype (moodle/course:viewhiddengroups) and the deleted users.
    assert!(codes.contains(&NoteCode::OddCaptype));
    assert!(codes.contains(&NoteCode::DeletedUsers));
    assert!(codes.contains(&NoteCode::SupportCapabilityAdded));
}

#[test]
fn settings_names_and_flags_are_moodles() {
    let im = from_dump();
    let s = &im.site.settings;
    assert_eq!(s.site_admins, [UserId(2)]);
    assert_eq!(s.guest_user, Some(UserId(1)));
    assert_eq!(
        (
            s.guest_role,
            s.not_logged_in_role,
            s.default_user_role,
            s.default_frontpage_role
        ),
        (
            Some(capstan_core::RoleId(6)),
            Some(capstan_core::RoleId(6)),
            Some(capstan_core::RoleId(7)),
            Some(capstan_core::RoleId(8))
        )
    );
    assert_eq!(s.frontpage_context, Some(ContextId(2)));
    assert!(s.context_locking && !s.context_lock_applies_to_admin && !s.force_login);
    let ctx = |id: u32| {
        im.site
            .contexts
            .iter()
            .find(|c| c.id == ContextId(id))
            .unwrap()
    };
    assert_eq!(ctx(2).name.as_deref(), Some("Site home"));
    assert_eq!(ctx(201).name.as_deref(), Some("Faculty A"));
    assert_eq!(ctx(202).parent, Some(ContextId(201)));
    assert_eq!(ctx(11).parent, Some(ContextId(202)));
    assert_eq!(ctx(11).name.as_deref(), Some("Test course: XS"));
    assert!(ctx(11).locked && ctx(187).locked && !ctx(24).locked);
    assert_eq!(ctx(187).level, ContextLevel::Module);
    assert_eq!(ctx(6).name.as_deref(), Some("Admin bookmarks"));
    assert_eq!(ctx(198).instance, Some(UserId(113)));
    let role = |short: &str| im.site.roles.iter().find(|r| r.shortname == short).unwrap();
    assert_eq!(role("teacher").name, "Non-editing teacher");
    assert_eq!(role("editingteacher").name, "Teacher");
    assert_eq!(role("mentor").contextlevels, [ContextLevel::User]);
    assert_eq!(
        role("assistant").archetype,
        Some(capstan_core::Archetype::Teacher)
    );
    let viewhiddengroups = im
        .site
        .capabilities
        .iter()
        .find(|c| c.name == "moodle/course:viewhiddengroups")
        .unwrap();
    assert_eq!(viewhiddengroups.captype, capstan_core::CapType::Read);
    let u = |id: u32| im.site.users.iter().find(|u| u.id == UserId(id)).unwrap();
    assert!(u(4).deleted && u(112).deleted && u(3).suspended && u(111).suspended);
    assert_eq!(u(2).username, "admin");
}

/// Answers derived by hand from the README's list of assignments and overrides.
#[test]
fn answers_match_what_the_data_says() {
    let im = from_dump();
    let e = Engine::from_site(im.site.clone()).unwrap();
    let has = |user: u32, cap: &str, ctx: u32| {
        e.has_capability(UserId(user), cap, ContextId(ctx), at())
            .unwrap()
    };
    // A prohibit override: course creators may not create courses in Faculty B [203], where
    // creator1 (110) holds the role, but may in Faculty A [201] from the system assignment.
    assert!(!has(110, "moodle/course:create", 203));
    assert!(has(110, "moodle/course:create", 201));
    // A locked context: course 2 [11] is frozen; teacher2 (106), its editing teacher, loses
    // writing there and in its activities, keeps reading; the admin is not locked out
    // (contextlockappliestoadmin = 0).
    assert!(!has(106, "moodle/course:manageactivities", 11));
    assert!(!has(106, "mod/assign:grade", 12));
    assert!(has(106, "mod/assign:view", 12));
    assert!(has(2, "moodle/course:update", 11));
    // Course-level assignments: assistant1 (107) @ course 4 [24] has course:update there from
    // the custom role, not in course 2; teacher1 (105), editing teacher @ course 4, is
    // prevented from managing activities by the course override but grades.
    assert!(has(107, "moodle/course:update", 24));
    assert!(!has(107, "moodle/course:update", 18));
    assert!(!has(105, "moodle/course:manageactivities", 24));
    assert!(has(105, "mod/assign:grade", 24));
    // The guest (1): allowed to see participants in course 4 by an override, not in course 3;
    // never a write capability; the forum override lets it read discussions in cm 74 [187].
    assert!(has(1, "moodle/course:viewparticipants", 24));
    assert!(!has(1, "moodle/course:viewparticipants", 18));
    assert!(!has(1, "moodle/user:changeownpassword", 1));
    assert!(has(1, "mod/forum:viewdiscussion", 187));
    // A deleted user (112, a student of course 4 before deletion): nothing, while plain1 (113),
    // whose enrolment is suspended but whose role assignment stays, still answers as a student.
    assert!(!has(112, "mod/assign:view", 25));
    assert!(!has(112, "moodle/course:request", 1));
    assert!(has(113, "mod/assign:view", 25));
    // Module overrides: students may not submit in cm 11 [25], may in cm 12 [26].
    assert!(!has(113, "mod/assign:submit", 25));
    assert!(has(113, "mod/assign:submit", 26));
    // The blocker role's prohibit beats prohibited1's (115) student allow.
    assert!(!has(115, "mod/assign:view", 25));
    // A category override for the authenticated user role: hidden courses show in Dept A1.
    assert!(has(113, "moodle/course:viewhiddencourses", 11));
    assert!(!has(113, "moodle/course:viewhiddencourses", 18));
    // The mentor role in a user's context.
    assert!(has(109, "moodle/user:viewdetails", 198));
    assert!(!has(109, "moodle/user:viewdetails", 5));
    // Authenticated users may request courses (changed at system).
    assert!(has(113, "moodle/course:request", 1));
}

#[test]
fn the_snapshot_reads_back_as_the_same_site() {
    let im = from_dump();
    let doc = im.snapshot();
    assert_eq!(doc.name.as_deref(), Some("Real"));
    let json = doc.to_json();
    let back = capstan_core::Site::from_json(&json).unwrap();
    assert_eq!(back, im.site);
    Engine::from_json(&json).unwrap();
}

#[test]
fn a_wrong_prefix_names_the_prefix_found() {
    let mut source = DumpSource::open(&dump_path()).unwrap();
    let err = import(
        &mut source,
        &ImportOptions {
            prefix: "moodle_".into(),
            ..ImportOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::NoMoodleTables);
    assert!(err.message.contains("`mdl_`"), "{}", err.message);
    let err = import(
        &mut source,
        &ImportOptions {
            prefix: "mdl; drop".into(),
            ..ImportOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::BadPrefix);
    let err = DumpSource::open("/nonexistent/dump.sql".as_ref()).unwrap_err();
    assert_eq!(err.code, ErrorCode::MalformedDump);
}

/// One cluster for every PostgreSQL check (starting one costs seconds).
#[test]
fn postgres_imports_the_same_site_and_refuses_what_it_cannot_read() {
    let cluster = cluster::Cluster::start().unwrap();
    cluster.load_dump("moodle", &dump_path()).unwrap();

    // The same site as from the dump.
    let mut source = PgSource::connect(&cluster.url("moodle")).unwrap();
    let im = import(&mut source, &ImportOptions::default()).unwrap();
    drop(source);
    assert_counts(&im);
    assert_eq!(im.site, from_dump().site);
    assert_eq!(im.name.as_deref(), Some("Real"));

    // Errors, each with its code.
    let err = |url: &str, options: &ImportOptions| match PgSource::connect(url) {
        Err(e) => e,
        Ok(mut s) => import(&mut s, options).unwrap_err(),
    };
    let default = ImportOptions::default();
    assert_eq!(err("mysql://x@y/z", &default).code, ErrorCode::BadUrl);
    assert_eq!(
        err(
            "postgres://postgres@127.0.0.1:1/x?connect_timeout=notanumber",
            &default
        )
        .code,
        ErrorCode::BadUrl
    );
    assert_eq!(
        err(&cluster.url("nosuchdb"), &default).code,
        ErrorCode::ConnectFailed
    );
    let wrong = ImportOptions {
        prefix: "m_".into(),
        ..ImportOptions::default()
    };
    assert_eq!(
        err(&cluster.url("moodle"), &wrong).code,
        ErrorCode::NoMoodleTables
    );

    // A copy with a future version, a missing table, and a plugin's context level.
    cluster
        .psql("postgres", "CREATE DATABASE future TEMPLATE moodle; CREATE DATABASE broken TEMPLATE moodle; CREATE DATABASE plugin TEMPLATE moodle;")
        .unwrap();
    cluster
        .psql(
            "future",
            "UPDATE mdl_config SET value = '2031010100.00' WHERE name = 'version';",
        )
        .unwrap();
    let e = err(&cluster.url("future"), &default);
    assert_eq!(e.code, ErrorCode::UnknownMoodleVersion);
    assert!(e.message.contains("2031010100"), "{}", e.message);
    let mut source = PgSource::connect(&cluster.url("future")).unwrap();
    let anyway = import(
        &mut source,
        &ImportOptions {
            allow_unknown_version: true,
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(anyway.site, im.site);
    drop(source);

    cluster
        .psql("broken", "DROP TABLE mdl_role_assignments;")
        .unwrap();
    let e = err(&cluster.url("broken"), &default);
    assert_eq!(e.code, ErrorCode::MissingTable);
    assert!(e.message.contains("mdl_role_assignments"), "{}", e.message);

    cluster
        .psql(
            "plugin",
            "INSERT INTO mdl_context (id, contextlevel, instanceid, path, depth, locked) VALUES \
               (9001, 99, 1, '/1/9001', 2, 0), (9002, 80, 9001, '/1/9001/9002', 3, 0), \
               (9003, 50, 99, '/1/9003/11', 2, 0); \
             INSERT INTO mdl_role_capabilities (contextid, roleid, capability, permission, timemodified, modifierid) \
               VALUES (9001, 5, 'mod/assign:view', 1, 0, 2), (1, 5, 'mod/assign:nosuch', 1, 0, 2), \
                      (24, 5, 'mod/assign:view', 0, 0, 2); \
             INSERT INTO mdl_capabilities (name, captype, contextlevel, component, riskbitmask) VALUES \
               ('local/Bad Name:x', 'read', 10, 'local_bad', 0), ('local/thing:use', 'write', 99, 'local_thing', 0); \
             INSERT INTO mdl_role_assignments (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) \
               VALUES (5, 24, 113, 0, 2, 'enrol_cohort', 1, 0), (5, 24, 114, 0, 2, 'enrol_meta', 3, 0);",
        )
        .unwrap();
    let mut source = PgSource::connect(&cluster.url("plugin")).unwrap();
    let p = import(&mut source, &default).unwrap();
    let skipped = |code: SkipCode| p.report.skipped.iter().filter(|s| s.code == code).count();
    assert_eq!(skipped(SkipCode::UnknownContextLevel), 1);
    assert_eq!(skipped(SkipCode::UnderSkippedContext), 1);
    assert_eq!(skipped(SkipCode::BadPath), 1);
    assert_eq!(skipped(SkipCode::BadCapabilityName), 1);
    assert_eq!(skipped(SkipCode::InheritRow), 1);
    // The row at the skipped context, the row of the unknown capability.
    assert_eq!(skipped(SkipCode::UnknownReference), 2);
    let codes: Vec<NoteCode> = p.report.notes.iter().map(|n| n.code).collect();
    assert!(codes.contains(&NoteCode::UnknownCapabilityLevel));
    assert!(codes.contains(&NoteCode::OtherAssignmentComponent));
    assert!(p.report.problems.is_empty(), "{:?}", p.report.problems);
    assert_eq!(p.site.contexts.len(), 205);
    let cohort = p
        .site
        .assignments
        .iter()
        .find(|a| a.user == UserId(113) && a.source == Source::Audience)
        .unwrap();
    assert_eq!(cohort.context, ContextId(24));
    Engine::from_site(p.site).unwrap();
}

/// A small Totara site written as a dump by hand (no Totara database is available here): its
/// tenant table, tenant context level, `tenantid` columns and the tenant's audience.
/// A small Totara site as a pg_dump, written by hand.
fn totara_dump() -> String {
    let table = |name: &str, cols: &str, rows: &[&str]| {
        let mut t = format!("COPY public.ttr_{name} ({cols}) FROM stdin;\n");
        for r in rows {
            t.push_str(&r.replace(' ', "\t"));
            t.push('\n');
        }
        t.push_str("\\.\n");
        t
    };
    [
        table(
            "config",
            "id, name, value",
            &[
                "1 version 2022041900.00",
                "2 totara_release 17.3_(Build:_20230901.00)",
                "3 siteadmins 2",
                "4 tenantsenabled 1",
                "5 tenantsisolated 1",
                "6 defaultuserroleid 7",
                "7 contextlocking 0",
            ],
        ),
        table(
            "context",
            "id, contextlevel, instanceid, path, depth, locked, tenantid",
            &[
                "1 10 0 /1 1 0 \\N",
                "2 15 1 /1/2 2 0 1",
                "3 40 5 /1/3 2 0 1",
                "4 50 9 /1/3/4 3 0 1",
                "5 30 3 /1/2/5 3 0 1",
            ],
        ),
        table(
            "capabilities",
            "id, name, captype, contextlevel, component, riskbitmask",
            &["1 moodle/course:view read 50 moodle 0"],
        ),
        table(
            "role",
            "id, name, shortname, description, sortorder, archetype",
            &[
                "5 \\N student \\N 5 student",
                "7 \\N user \\N 7 user",
                "9 \\N tenantusermanager \\N 9 tenantusermanager",
            ],
        ),
        table(
            "role_capabilities",
            "id, contextid, roleid, capability, permission, timemodified, modifierid",
            &["1 1 5 moodle/course:view 1 0 2"],
        ),
        table(
            "role_assignments",
            "id, roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder",
            &["1 5 4 3 0 2 totara_cohort 1 0", "2 5 4 4 0 2 \\N 0 0"],
        ),
        table(
            "role_context_levels",
            "id, roleid, contextlevel",
            &["1 5 50", "2 9 15"],
        ),
        table("role_allow_assign", "id, roleid, allowassign", &[]),
        table("role_allow_override", "id, roleid, allowoverride", &[]),
        table("role_allow_switch", "id, roleid, allowswitch", &[]),
        table(
            "user",
            "id, username, deleted, suspended, firstname, lastname, email, tenantid",
            &[
                "2 admin 0 0 Admin User a@x \\N",
                "3 learner 0 0 Lee Learner l@x 1",
                "4 visitor 0 0 Vi Sitor v@x \\N",
            ],
        ),
        table(
            "course",
            "id, category, fullname, visible",
            &["1 0 Totara 1", "9 5 Onboarding 1"],
        ),
        table(
            "course_categories",
            "id, name, visible",
            &["5 Acme_learning 1"],
        ),
        table(
            "tenant",
            "id, name, idnumber, suspended, categoryid, cohortid",
            &["1 Acme acme 0 5 11"],
        ),
        table(
            "cohort_members",
            "id, cohortid, userid",
            &["1 11 3", "2 11 4"],
        ),
    ]
    .concat()
}

#[test]
fn a_totara_site_maps_its_tenants_and_participants() {
    let dump = totara_dump();
    let mut source = DumpSource::from_text(&dump).unwrap();
    let im = import(
        &mut source,
        &ImportOptions {
            prefix: "ttr_".into(),
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(im.report.product, "Totara");
    assert!(im.report.problems.is_empty(), "{:?}", im.report.problems);
    let t = &im.site.tenants;
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].context, t[0].category, t[0].name.as_deref()),
        (ContextId(2), ContextId(3), Some("Acme"))
    );
    let user = |id: u32| im.site.users.iter().find(|u| u.id == UserId(id)).unwrap();
    assert_eq!(user(3).tenant, Some(capstan_core::TenantId(1)));
    // A site user in the tenant's audience is a participant; a member is not "also" one.
    assert_eq!(user(4).participant_of, [capstan_core::TenantId(1)]);
    assert!(user(3).participant_of.is_empty());
    assert!(im.site.settings.multitenancy && im.site.settings.tenant_isolation);
    let audience = im
        .site
        .assignments
        .iter()
        .find(|a| a.user == UserId(3))
        .unwrap();
    assert_eq!(audience.source, Source::Audience);
    assert_eq!(im.site.roles[2].name, "Tenant user manager");
    let e = Engine::from_site(im.site).unwrap();
    assert!(
        e.has_capability(UserId(3), "moodle/course:view", ContextId(4), at())
            .unwrap()
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// A mangled dump (lines dropped, doubled, replaced, fields changed, text appended) is
    /// refused with a code or imported; never a panic, and an imported site's problems are
    /// exactly its validation issues (so the CLI and the server refuse it when there are any).
    #[test]
    fn a_mangled_dump_never_panics(
        edits in proptest::collection::vec((0usize..400, 0u8..5, "[ -~\t]{0,12}"), 1..6)
    ) {
        let mut lines: Vec<String> = totara_dump().lines().map(str::to_string).collect();
        for (at, kind, junk) in edits {
            if lines.is_empty() {
                break;
            }
            let i = at % lines.len();
            match kind {
                0 => {
                    lines.remove(i);
                }
                1 => {
                    let l = lines[i].clone();
                    lines.insert(i, l);
                }
                2 => lines[i] = junk,
                3 => {
                    let mut fields: Vec<String> = lines[i].split('\t').map(str::to_string).collect();
                    let j = at % fields.len();
                    fields[j] = junk;
                    lines[i] = fields.join("\t");
                }
                _ => lines[i].push_str(&junk),
            }
        }
        let text = lines.join("\n") + "\n";
        if let Ok(mut source) = DumpSource::from_text(&text) {
            let options = ImportOptions { prefix: "ttr_".into(), ..ImportOptions::default() };
            if let Ok(im) = import(&mut source, &options) {
                proptest::prop_assert_eq!(&im.report.problems, &validate(&im.site));
                if im.report.problems.is_empty() {
                    proptest::prop_assert!(Engine::from_site(im.site).is_ok());
                }
            }
        }
    }
}
