//! Bundles answer their user's questions at every covered context exactly as the whole site
//! does, refuse everything else with `out_of_bundle`, and hold no other user's record.

use crate::reference::{instants, random_site};
use capstan_core::*;
use proptest::prelude::*;
use serde_json::Value;

fn pick<T: Copy>(v: &[T], k: u64) -> Option<T> {
    (!v.is_empty()).then(|| v[(k as usize) % v.len()])
}

/// Every id of another user that a bundle's JSON could carry.
fn other_users(doc: &Value, user: u32) -> Vec<String> {
    let mut found = Vec::new();
    let id = |v: &Value| v.as_u64().map(|x| x as u32);
    for u in doc["users"].as_array().into_iter().flatten() {
        if id(&u["id"]) != Some(user) {
            found.push(format!("user {}", u["id"]));
        }
    }
    for key in ["assignments", "switches"] {
        for a in doc[key].as_array().into_iter().flatten() {
            if id(&a["user"]) != Some(user) {
                found.push(format!("{key} of {}", a["user"]));
            }
        }
    }
    for a in doc["settings"]["site_admins"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if id(a) != Some(user) {
            found.push(format!("site admin {a}"));
        }
    }
    if let Some(g) = id(&doc["settings"]["guest_user"])
        && g != user
    {
        found.push(format!("guest user {g}"));
    }
    for c in doc["contexts"].as_array().into_iter().flatten() {
        if let Some(i) = id(&c["instance"])
            && i != user
        {
            found.push(format!("user context of {i}"));
        }
    }
    found
}

fn compare(seed: u64, k: u64, roots: u8) -> Result<(), TestCaseError> {
    let site = random_site(seed);
    let whole = Engine::from_site(site.clone()).unwrap();
    let mut users: Vec<UserId> = site.users.iter().map(|u| u.id).collect();
    users.push(UserId(0));
    let user = pick(&users, k).unwrap();
    let ids: Vec<ContextId> = site.contexts.iter().map(|c| c.id).collect();
    let private = |c: ContextId| {
        whole.context_path(c).unwrap().iter().any(|p| {
            whole
                .context(*p)
                .is_some_and(|x| x.level == ContextLevel::User && x.instance != Some(user))
        })
    };
    let picked: Vec<ContextId> = (0..roots as u64)
        .filter_map(|j| pick(&ids, k.wrapping_mul(31).wrapping_add(j * 7)))
        .collect();
    if let Some(p) = picked.iter().find(|c| private(**c)) {
        // Another user's user context answers like a missing one.
        prop_assert_eq!(
            whole.bundle(user, &[*p]).map(|_| ()).map_err(|e| e.code()),
            Err("unknown_context")
        );
    }
    let chosen: Vec<ContextId> = picked.into_iter().filter(|c| !private(*c)).collect();
    prop_assume!(roots == 0 || !chosen.is_empty());
    // A support assignment inside another user's user context cannot come along (the bundle
    // holds no other user's context); the support workflow never makes one.
    let in_foreign_user_context = |c: ContextId| {
        whole.context_path(c).unwrap().iter().any(|p| {
            whole
                .context(*p)
                .is_some_and(|x| x.level == ContextLevel::User && x.instance != Some(user))
        })
    };
    prop_assume!(!site.assignments.iter().any(|a| a.user == user
        && a.source == Source::Support
        && in_foreign_user_context(a.context)));
    let cut = whole.bundle(user, &chosen).unwrap();
    let text = cut.to_json();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let leaks = other_users(&doc, user.0);
    prop_assert!(leaks.is_empty(), "the bundle holds {:?}", leaks);
    let bundle = match Engine::from_json(&text) {
        Ok(b) => b,
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "the bundle does not load: {e}"
            )));
        }
    };
    prop_assert!(bundle.is_bundle());
    let caps: Vec<String> = site.capabilities.iter().map(|c| c.name.clone()).collect();
    let roles: Vec<RoleId> = site.roles.iter().map(|r| r.id).collect();
    let covered: Vec<ContextId> = ids
        .iter()
        .copied()
        .filter(|c| bundle.context(*c).is_some())
        .filter(|c| {
            bundle
                .has_capability(user, &caps[0], *c, CheckOptions::at(instants()[2]))
                .is_ok()
        })
        .collect();
    if chosen.is_empty() {
        // A whole-tree bundle covers every context but other users' user contexts.
        for c in &site.contexts {
            let mine = c.level != ContextLevel::User || c.instance == Some(user);
            if mine {
                let under_foreign = whole.context_path(c.id).unwrap().iter().any(|p| {
                    whole
                        .context(*p)
                        .is_some_and(|x| x.level == ContextLevel::User && x.instance != Some(user))
                });
                prop_assert_eq!(covered.contains(&c.id), !under_foreign, "context {}", c.id);
            }
        }
    } else {
        for r in &chosen {
            let under_foreign = whole.context_path(*r).unwrap().iter().any(|p| {
                whole
                    .context(*p)
                    .is_some_and(|x| x.level == ContextLevel::User && x.instance != Some(user))
            });
            prop_assert_eq!(covered.contains(r), !under_foreign, "root {}", r);
        }
    }
    // A context of a tenant the user can never enter keeps only its id, level and parent: a
    // lock or hidden flag on it or above it is not in the bundle, so a refusal there may come
    // from another rule (the answer is the same).
    let reduced = |c: ContextId| {
        whole
            .context_path(c)
            .unwrap()
            .iter()
            .any(|p| bundle.context(*p) != whole.context(*p))
    };
    for at in instants().into_iter().step_by(3) {
        for &c in &covered {
            for doanything in [true, false] {
                let opts = CheckOptions { doanything, at };
                for cap in &caps {
                    let b = bundle.decision(user, cap, c, opts).unwrap();
                    let w = whole.decision(user, cap, c, opts).unwrap();
                    prop_assert_eq!(b.allows(), w.allows(), "{} {} at {}", user, cap, c);
                    if !reduced(c) {
                        prop_assert_eq!(b, w, "{} {} at {}", user, cap, c);
                    }
                }
            }
            let opts = CheckOptions::at(at);
            let e = |x: &Engine| {
                x.effective_permissions(user, c, opts)
                    .unwrap()
                    .iter()
                    .map(|p| (p.capability.to_string(), p.allowed))
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(e(&bundle), e(&whole));
            let (bx, wx) = (
                bundle.explain(user, &caps[0], c, opts).unwrap(),
                whole.explain(user, &caps[0], c, opts).unwrap(),
            );
            prop_assert_eq!(bx.allowed, wx.allowed);
            if !reduced(c) {
                prop_assert_eq!(bx.rule, wx.rule);
                prop_assert_eq!(bx.roles.len(), wx.roles.len());
            }
            let (b, w) = (
                bundle.visible(user, c, at).unwrap(),
                whole.visible(user, c, at).unwrap(),
            );
            prop_assert_eq!(b.visible, w.visible);
            if !reduced(c) {
                prop_assert_eq!(b.reason, w.reason);
            }
            for &r in &roles {
                prop_assert_eq!(
                    bundle.can_assign(user, r, c, at),
                    whole.can_assign(user, r, c, at)
                );
                prop_assert_eq!(
                    bundle.can_switch(user, r, c, at),
                    whole.can_switch(user, r, c, at)
                );
                prop_assert_eq!(
                    bundle.can_override(user, r, c, Some(&caps[0]), at),
                    whole.can_override(user, r, c, Some(&caps[0]), at)
                );
            }
        }
        if chosen.is_empty() {
            for level in [
                ContextLevel::Course,
                ContextLevel::Coursecat,
                ContextLevel::Module,
            ] {
                let opts = CheckOptions::at(at);
                prop_assert_eq!(
                    bundle
                        .contexts_with_capability(user, &caps[0], level, opts)
                        .unwrap(),
                    whole
                        .contexts_with_capability(user, &caps[0], level, opts)
                        .unwrap()
                );
            }
        }
    }
    // Everything else is out of the bundle.
    let out = |r: Result<bool, QueryError>| r.map_err(|e| e.code());
    if let Some(other) = users.iter().copied().find(|u| *u != user) {
        prop_assert_eq!(
            out(bundle.has_capability(
                other,
                &caps[0],
                whole.system_context(),
                CheckOptions::at(instants()[2])
            )),
            Err("out_of_bundle")
        );
    }
    for c in ids.iter().filter(|c| !covered.contains(c)) {
        prop_assert_eq!(
            out(bundle.has_capability(user, &caps[0], *c, CheckOptions::at(instants()[2]))),
            Err("out_of_bundle")
        );
    }
    prop_assert_eq!(
        bundle
            .users_with_capability(&caps[0], whole.system_context(), instants()[0])
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("out_of_bundle")
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn a_bundle_answers_like_the_whole_site_and_holds_no_other_user(
        seed in any::<u64>(), k in any::<u64>(), roots in 0u8..3
    ) {
        compare(seed, k, roots)?;
    }
}

#[test]
fn contexts_with_capability_is_every_context_of_the_level_where_the_check_is_true() {
    for seed in 0..60u64 {
        let site = random_site(seed);
        let e = Engine::from_site(site.clone()).unwrap();
        let at = instants()[2];
        for u in site.users.iter().map(|u| u.id).chain([UserId(0)]) {
            for cap in site.capabilities.iter().map(|c| c.name.as_str()) {
                for level in [
                    ContextLevel::Course,
                    ContextLevel::Module,
                    ContextLevel::Program,
                ] {
                    let opts = CheckOptions {
                        doanything: seed % 2 == 0,
                        at,
                    };
                    let mut brute: Vec<ContextId> = site
                        .contexts
                        .iter()
                        .filter(|c| c.level == level)
                        .filter(|c| e.has_capability(u, cap, c.id, opts).unwrap())
                        .map(|c| c.id)
                        .collect();
                    brute.sort_unstable();
                    assert_eq!(
                        e.contexts_with_capability(u, cap, level, opts).unwrap(),
                        brute
                    );
                }
            }
        }
    }
}

#[test]
fn a_bundle_may_keep_other_users_contexts_bare() {
    // A bundle made elsewhere may keep another user's user context as id, level and parent,
    // or with its `instance`: it loads and answers its own user.
    let text = r#"{"format": "capstan/1", "bundle": {"user": 10, "contexts": []},
        "settings": {"default_user_role": 7, "multitenancy": true},
        "capabilities": [{"name": "moodle/course:view", "captype": "read", "contextlevel": "course"}],
        "contexts": [{"id": 1, "level": "system"}, {"id": 2, "level": "tenant", "parent": 1},
                     {"id": 3, "level": "coursecat", "parent": 1}, {"id": 4, "level": "course", "parent": 3},
                     {"id": 20, "level": "user", "parent": 2, "instance": 99}, {"id": 21, "level": "user", "parent": 1}],
        "tenants": [{"id": 1, "context": 2, "category": 3}],
        "roles": [{"id": 7, "shortname": "user"}],
        "permissions": [{"role": 7, "context": 1, "capability": "moodle/course:view", "permission": "allow"}],
        "users": [{"id": 10, "username": "alice", "tenant": 1}]}"#;
    let e = Engine::from_json(text).unwrap();
    let at = instants()[0];
    assert!(
        e.has_capability(
            UserId(10),
            "moodle/course:view",
            ContextId(4),
            CheckOptions::at(at)
        )
        .unwrap()
    );
    assert_eq!(
        e.has_capability(
            UserId(99),
            "moodle/course:view",
            ContextId(4),
            CheckOptions::at(at)
        )
        .map_err(|e| e.code()),
        Err("out_of_bundle")
    );
    assert_eq!(
        e.users_with_capability("moodle/course:view", ContextId(4), at)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("out_of_bundle")
    );
}
