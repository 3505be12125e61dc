//! Edits: incremental application gives the same answers as compiling the edited site from
//! scratch, and a refused edit changes nothing.

use crate::reference::{instants, random_site};
use capstan_core::*;
use proptest::prelude::*;

fn answers(engine: &Engine) -> Vec<bool> {
    let mut out = Vec::new();
    let users: Vec<UserId> = engine
        .users()
        .iter()
        .map(|u| u.id)
        .chain([UserId(0)])
        .collect();
    for at in instants() {
        for u in &users {
            for c in engine.capabilities() {
                for x in engine.contexts() {
                    out.push(
                        engine
                            .has_capability(*u, &c.name, x.id, CheckOptions::at(at))
                            .unwrap(),
                    );
                }
            }
        }
    }
    out
}

fn random_op(engine: &Engine, pick: &mut impl FnMut(usize) -> usize) -> EditOp {
    let roles: Vec<RoleId> = engine.roles().iter().map(|r| r.id).collect();
    let ctxs: Vec<ContextId> = engine.contexts().iter().map(|c| c.id).collect();
    let caps: Vec<String> = engine
        .capabilities()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let users: Vec<UserId> = engine.users().iter().map(|u| u.id).collect();
    let role = roles[pick(roles.len())];
    let context = ctxs[pick(ctxs.len())];
    let user = users[pick(users.len())];
    match pick(5) {
        0 | 1 => EditOp::SetPermission {
            role,
            context,
            capability: caps[pick(caps.len())].clone(),
            permission: [
                None,
                Some(Permission::Allow),
                Some(Permission::Prevent),
                Some(Permission::Prohibit),
            ][pick(4)],
        },
        2 => EditOp::Assign {
            user,
            role,
            context,
            from: None,
            until: None,
            source: Some([Source::Manual, Source::Support][pick(2)]),
        },
        3 => EditOp::Unassign {
            user,
            role,
            context,
            source: None,
        },
        _ => EditOp::AddSwitch {
            user,
            context,
            role,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn incremental_edits_match_a_rebuild(seed in any::<u64>(), picks in proptest::collection::vec(any::<u32>(), 40)) {
        let mut engine = Engine::from_site(random_site(seed)).unwrap();
        let mut it = picks.into_iter();
        let mut pick = move |n: usize| (it.next().unwrap_or(0) as usize) % n.max(1);
        for _ in 0..6 {
            let op = random_op(&engine, &mut pick);
            let before = engine.to_json();
            match engine.apply(op.clone()) {
                Ok(()) => {}
                Err(e) => {
                    // A refused edit changes nothing.
                    prop_assert_eq!(&before, &engine.to_json(), "refused {:?} ({}) changed the site", op, e.code());
                }
            }
        }
        let rebuilt = Engine::from_site(engine.site()).unwrap();
        prop_assert_eq!(answers(&engine), answers(&rebuilt));
    }
}

fn small() -> Engine {
    Engine::from_json(
        r#"{"format": "capstan/1",
        "settings": {"default_user_role": 7},
        "capabilities": [{"name": "moodle/course:view", "captype": "read", "contextlevel": "course"}],
        "contexts": [{"id": 1, "level": "system"}, {"id": 2, "level": "coursecat", "parent": 1},
                     {"id": 3, "level": "course", "parent": 2}],
        "roles": [{"id": 5, "shortname": "student", "contextlevels": ["course"]},
                  {"id": 7, "shortname": "user"}],
        "users": [{"id": 10, "username": "alice"}]}"#,
    )
    .unwrap()
}

#[test]
fn permission_edit_changes_the_answer_at_once() {
    let mut e = small();
    let at = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let q = |e: &Engine| {
        e.has_capability(
            UserId(10),
            "moodle/course:view",
            ContextId(3),
            CheckOptions::at(at),
        )
        .unwrap()
    };
    assert!(!q(&e));
    e.apply(EditOp::SetPermission {
        role: RoleId(7),
        context: ContextId(1),
        capability: "moodle/course:view".into(),
        permission: Some(Permission::Allow),
    })
    .unwrap();
    assert!(q(&e));
    e.apply(EditOp::SetPermission {
        role: RoleId(7),
        context: ContextId(2),
        capability: "moodle/course:view".into(),
        permission: Some(Permission::Prohibit),
    })
    .unwrap();
    assert!(!q(&e));
    e.apply(EditOp::SetPermission {
        role: RoleId(7),
        context: ContextId(2),
        capability: "moodle/course:view".into(),
        permission: None,
    })
    .unwrap();
    assert!(q(&e));
}

#[test]
fn refused_edits_have_stable_codes_and_change_nothing() {
    let mut e = small();
    let before = e.to_json();
    let cases = [
        (
            EditOp::SetPermission {
                role: RoleId(99),
                context: ContextId(1),
                capability: "moodle/course:view".into(),
                permission: Some(Permission::Allow),
            },
            "unknown_role",
        ),
        (
            EditOp::SetPermission {
                role: RoleId(5),
                context: ContextId(99),
                capability: "moodle/course:view".into(),
                permission: Some(Permission::Allow),
            },
            "unknown_context",
        ),
        (
            EditOp::SetPermission {
                role: RoleId(5),
                context: ContextId(1),
                capability: "nope/x:y".into(),
                permission: Some(Permission::Allow),
            },
            "unknown_capability",
        ),
        (
            EditOp::Assign {
                user: UserId(42),
                role: RoleId(5),
                context: ContextId(3),
                from: None,
                until: None,
                source: None,
            },
            "unknown_user",
        ),
        (
            EditOp::Assign {
                user: UserId(10),
                role: RoleId(5),
                context: ContextId(3),
                from: Some(Timestamp::from_unix_seconds(10)),
                until: Some(Timestamp::from_unix_seconds(10)),
                source: None,
            },
            "bad_time_range",
        ),
        (
            EditOp::Unassign {
                user: UserId(10),
                role: RoleId(5),
                context: ContextId(3),
                source: None,
            },
            "not_found",
        ),
        (
            EditOp::DeleteContext {
                context: ContextId(2),
            },
            "has_children",
        ),
        (
            EditOp::PutContext {
                context: serde_json::from_str(r#"{"id": 2, "level": "coursecat", "parent": 3}"#)
                    .unwrap(),
            },
            "bad_parent_level",
        ),
        (
            EditOp::PutRole {
                role: serde_json::from_str(r#"{"id": 8, "shortname": "bad name"}"#).unwrap(),
            },
            "bad_shortname",
        ),
        (
            EditOp::PutRole {
                role: serde_json::from_str(r#"{"id": 8, "shortname": "student"}"#).unwrap(),
            },
            "duplicate_id",
        ),
    ];
    for (op, code) in cases {
        let err = e.apply(op.clone()).unwrap_err();
        assert_eq!(err.code(), code, "{op:?}: {err}");
        assert_eq!(e.to_json(), before, "{op:?} changed the site");
    }
}

#[test]
fn batches_are_all_or_nothing() {
    let mut e = small();
    let before = e.to_json();
    let ops: Vec<EditOp> = serde_json::from_str(
        r#"[{"op": "assign", "user": 10, "role": 5, "context": 3},
            {"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": "allow"},
            {"op": "assign", "user": 10, "role": 99, "context": 3}]"#,
    )
    .unwrap();
    let (index, err) = e.apply_all(ops).unwrap_err();
    assert_eq!((index, err.code()), (2, "unknown_role"));
    assert_eq!(e.to_json(), before);
}

#[test]
fn structural_edits_recompile() {
    let mut e = small();
    let at = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    e.apply(
        serde_json::from_str(
            r#"{"op": "put_context", "context": {"id": 4, "level": "module", "parent": 3}}"#,
        )
        .unwrap(),
    )
    .unwrap();
    e.apply(
        serde_json::from_str(r#"{"op": "assign", "user": 10, "role": 5, "context": 3}"#).unwrap(),
    )
    .unwrap();
    e.apply(serde_json::from_str(r#"{"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:view", "permission": "allow"}"#).unwrap()).unwrap();
    assert!(
        e.has_capability(
            UserId(10),
            "moodle/course:view",
            ContextId(4),
            CheckOptions::at(at)
        )
        .unwrap()
    );
    e.apply(serde_json::from_str(r#"{"op": "put_role", "role": {"id": 5, "shortname": "learner", "name": "Learner", "contextlevels": ["course"]}}"#).unwrap()).unwrap();
    assert_eq!(e.role(RoleId(5)).unwrap().shortname, "learner");
    assert!(
        e.has_capability(
            UserId(10),
            "moodle/course:view",
            ContextId(4),
            CheckOptions::at(at)
        )
        .unwrap()
    );
    e.apply(serde_json::from_str(r#"{"op": "delete_role", "role": 5}"#).unwrap())
        .unwrap();
    assert!(
        !e.has_capability(
            UserId(10),
            "moodle/course:view",
            ContextId(4),
            CheckOptions::at(at)
        )
        .unwrap()
    );
    assert!(e.site().assignments.is_empty());
}

#[test]
fn every_op_names_itself_as_its_json_tag() {
    let texts = [
        r#"{"op": "set_permission", "role": 1, "context": 1, "capability": "a/b:c", "permission": null}"#,
        r#"{"op": "assign", "user": 1, "role": 1, "context": 1}"#,
        r#"{"op": "unassign", "user": 1, "role": 1, "context": 1}"#,
        r#"{"op": "add_switch", "user": 1, "context": 1, "role": 1}"#,
        r#"{"op": "remove_switch", "user": 1, "context": 1}"#,
        r#"{"op": "put_role", "role": {"id": 1, "shortname": "r"}}"#,
        r#"{"op": "delete_role", "role": 1}"#,
        r#"{"op": "put_context", "context": {"id": 2, "level": "coursecat", "parent": 1}}"#,
        r#"{"op": "delete_context", "context": 2}"#,
        r#"{"op": "put_user", "user": {"id": 1, "username": "u"}}"#,
        r#"{"op": "delete_user", "user": 1}"#,
        r#"{"op": "put_tenant", "tenant": {"id": 1, "context": 2, "category": 3}}"#,
        r#"{"op": "delete_tenant", "tenant": 1}"#,
        r#"{"op": "put_capability", "capability": {"name": "a/b:c", "captype": "read", "contextlevel": "course"}}"#,
        r#"{"op": "set_settings", "settings": {}}"#,
        r#"{"op": "add_program_course", "item": {"program": 2, "course": 3}}"#,
        r#"{"op": "remove_program_course", "item": {"program": 2, "course": 3}}"#,
    ];
    for text in texts {
        let op: EditOp = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let tag = serde_json::to_value(&op).unwrap()["op"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(op.name(), tag, "{text}");
    }
}

#[test]
fn a_run_of_structural_edits_is_validated_once_and_blames_the_first_bad_edit() {
    let put = |id: u32, parent: u32| -> EditOp {
        serde_json::from_value(serde_json::json!(
            {"op": "put_context", "context": {"id": id, "level": "module", "parent": parent}}
        ))
        .unwrap()
    };
    // The same result as one edit at a time.
    let ops: Vec<EditOp> = (100..140).map(|id| put(id, 3)).collect();
    let mut one_by_one = small();
    for op in ops.clone() {
        one_by_one.apply(op).unwrap();
    }
    let mut at_once = small();
    at_once.apply_structural_run(&ops).unwrap();
    assert_eq!(at_once.to_json(), one_by_one.to_json());
    // Valid at the end is enough: a child may come before its parent in one batch.
    let mut e = small();
    let parent: EditOp = serde_json::from_value(serde_json::json!(
        {"op": "put_context", "context": {"id": 200, "level": "course", "parent": 2}}
    ))
    .unwrap();
    e.apply_all(vec![put(201, 200), parent]).unwrap();
    assert!(e.context(ContextId(201)).is_some());
    // Otherwise the first edit after which the run stops validating is named; nothing changes.
    let mut e = small();
    let before = e.to_json();
    let mut ops: Vec<EditOp> = (300..330).map(|id| put(id, 3)).collect();
    ops.insert(17, put(999, 12_345));
    let (index, err) = e.apply_all(ops.clone()).unwrap_err();
    assert_eq!((index, err.code()), (17, "unknown_reference"), "{err}");
    assert_eq!(e.to_json(), before);
    // An edit's own check fails at its own index.
    ops.insert(
        5,
        serde_json::from_value(serde_json::json!({"op": "delete_context", "context": 777}))
            .unwrap(),
    );
    let (index, err) = e.apply_all(ops).unwrap_err();
    assert_eq!((index, err.code()), (5, "unknown_context"));
    assert_eq!(e.to_json(), before);
}

#[test]
fn two_tenants_cannot_share_a_tenant_context_or_category() {
    let site = r#"{"format": "capstan/1", "settings": {"multitenancy": true},
        "contexts": [{"id": 1, "level": "system"}, {"id": 2, "level": "tenant", "parent": 1},
                     {"id": 3, "level": "coursecat", "parent": 1}],
        "tenants": [{"id": 1, "name": "A", "context": 2, "category": 3},
                    {"id": 2, "name": "B", "context": 2, "category": 3}]}"#;
    match Engine::from_json(site) {
        Err(LoadError::Invalid(issues)) => {
            let found: Vec<(&str, &str)> = issues
                .iter()
                .map(|i| (i.code.as_str(), i.path.as_str()))
                .collect();
            assert!(
                found.contains(&("shared_tenant_context", "tenants[1].context")),
                "{found:?}"
            );
            assert!(
                found.contains(&("shared_tenant_context", "tenants[1].category")),
                "{found:?}"
            );
        }
        other => panic!("two tenants shared a context: {:?}", other.is_ok()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, failure_persistence: None, .. ProptestConfig::default() })]

    /// `put_user` takes a path without a recompile for new users and for users whose tenancy
    /// stays: the site and every answer are those of the edited site compiled from scratch,
    /// and an edit the full path would refuse is refused the same way.
    #[test]
    fn put_user_in_place_matches_a_rebuild(seed in any::<u64>(), picks in proptest::collection::vec(any::<u32>(), 40)) {
        use capstan_core::snapshot::UserDoc;
        let mut engine = Engine::from_site(random_site(seed)).unwrap();
        let mut it = picks.into_iter();
        let mut pick = move |n: usize| (it.next().unwrap_or(0) as usize) % n.max(1);
        for step in 0..5 {
            let users = engine.users().to_vec();
            let tenants: Vec<TenantId> = engine.tenants().iter().map(|t| t.id).chain([TenantId(999)]).collect();
            let mut user = if pick(2) == 0 || users.is_empty() {
                let id = users.iter().map(|u| u.id.0).max().unwrap_or(0) + 1 + step;
                User { id: UserId(id), username: format!("new{id}"), tenant: None, participant_of: Vec::new(),
                    deleted: false, suspended: false, fullname: None, email: None, support_identifier: None }
            } else {
                users[pick(users.len())].clone()
            };
            match pick(5) {
                0 => user.deleted = !user.deleted,
                1 => user.suspended = !user.suspended,
                2 => user.tenant = Some(tenants[pick(tenants.len())]),
                3 => user.participant_of = vec![tenants[pick(tenants.len())]],
                _ => user.username = format!("renamed{step}"),
            }
            let op = EditOp::PutUser { user: UserDoc::from(&user) };
            // The full path: the edited model, validated and compiled from scratch.
            let mut site = engine.site();
            match site.users.iter_mut().find(|u| u.id == user.id) {
                Some(slot) => *slot = user.clone(),
                None => site.users.push(user.clone()),
            }
            let expected = Engine::from_site(site);
            let before = engine.to_json();
            match (engine.apply(op.clone()), expected) {
                (Ok(()), Ok(rebuilt)) => {
                    prop_assert_eq!(engine.to_json(), rebuilt.to_json());
                    prop_assert_eq!(answers(&engine), answers(&rebuilt));
                }
                (Err(_), Err(_)) => prop_assert_eq!(&before, &engine.to_json(), "a refused edit changed the site"),
                (got, want) => prop_assert!(false, "{:?}: applied {:?}, rebuild {:?}", op, got.is_ok(), want.is_ok()),
            }
        }
    }
}
