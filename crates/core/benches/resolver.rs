//! Criterion benchmarks of the resolver on the generated large site
//! (`GenerateOptions::large()`: 100k contexts, 5,000 users, 300 capabilities, 12 roles,
//! 3,000 overrides, 25,000 assignments).
//!
//! `cargo bench -p capstan-core --bench resolver`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use capstan_core::generate::{GenerateOptions, generate};
use capstan_core::*;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

struct Mix {
    engine: Engine,
    site: Site,
    triples: Vec<(UserId, CapabilityId, String, ContextId)>,
    courses: Vec<ContextId>,
    at: Timestamp,
}

fn mix() -> Mix {
    let site = generate(&GenerateOptions::large());
    let engine = Engine::from_site(site.clone()).unwrap();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let users: Vec<UserId> = site.users.iter().map(|u| u.id).collect();
    let contexts: Vec<ContextId> = site.contexts.iter().map(|c| c.id).collect();
    let triples = (0..4096)
        .map(|_| {
            let cap = &site.capabilities[next(site.capabilities.len())].name;
            (
                users[next(users.len())],
                engine.capability_id(cap).unwrap(),
                cap.clone(),
                contexts[next(contexts.len())],
            )
        })
        .collect();
    let courses = site
        .contexts
        .iter()
        .filter(|c| c.level == ContextLevel::Course)
        .map(|c| c.id)
        .collect();
    Mix {
        engine,
        site,
        triples,
        courses,
        at: Timestamp::parse("2026-06-01T12:00:00Z").unwrap(),
    }
}

fn benches(c: &mut Criterion) {
    let m = mix();
    let opts = CheckOptions::at(m.at);

    let mut i = 0usize;
    c.bench_function("check/interned", |b| {
        b.iter(|| {
            let (u, cap, _, x) = &m.triples[i % m.triples.len()];
            i += 1;
            black_box(m.engine.check(*u, *cap, *x, opts).unwrap())
        })
    });
    // A page's worth of questions: one user, one course and its activities, every capability
    // (what a front end asks while rendering), cycling through 64 such pages.
    let pages: Vec<(UserId, Vec<ContextId>)> = (0..64)
        .map(|p| {
            let course = m.courses[p * 17 % m.courses.len()];
            let mut ctxs = vec![course];
            ctxs.extend(
                m.site
                    .contexts
                    .iter()
                    .filter(|c| c.parent == Some(course))
                    .map(|c| c.id),
            );
            (m.triples[p].0, ctxs)
        })
        .collect();
    let ncaps = m.site.capabilities.len() as u32;
    let mut i = 0usize;
    c.bench_function("check/page_mix", |b| {
        b.iter(|| {
            let (u, ctxs) = &pages[(i / 512) % pages.len()];
            let x = ctxs[i % ctxs.len()];
            let cap = CapabilityId((i as u32).wrapping_mul(2_654_435_761) % ncaps);
            i += 1;
            black_box(m.engine.check(*u, cap, x, opts).unwrap())
        })
    });
    let mut i = 0usize;
    c.bench_function("check/random_context_one_user", |b| {
        b.iter(|| {
            let (_, cap, _, x) = &m.triples[i % m.triples.len()];
            let u = m.triples[0].0;
            i += 1;
            black_box(m.engine.check(u, *cap, *x, opts).unwrap())
        })
    });
    let mut i = 0usize;
    c.bench_function("check/random_user_one_context", |b| {
        b.iter(|| {
            let (u, cap, _, _) = &m.triples[i % m.triples.len()];
            let x = m.triples[0].3;
            i += 1;
            black_box(m.engine.check(*u, *cap, x, opts).unwrap())
        })
    });
    let mut i = 0usize;
    c.bench_function("has_capability/by_name", |b| {
        b.iter(|| {
            let (u, _, cap, x) = &m.triples[i % m.triples.len()];
            i += 1;
            black_box(m.engine.has_capability(*u, cap, *x, opts).unwrap())
        })
    });
    let mut i = 0usize;
    c.bench_function("explain", |b| {
        b.iter(|| {
            let (u, _, cap, x) = &m.triples[i % m.triples.len()];
            i += 1;
            black_box(m.engine.explain(*u, cap, *x, opts).unwrap())
        })
    });
    let mut i = 0usize;
    c.bench_function("effective_permissions/course_300caps", |b| {
        b.iter(|| {
            let u = m.triples[i % m.triples.len()].0;
            let x = m.courses[i % m.courses.len()];
            i += 1;
            black_box(m.engine.effective_permissions(u, x, opts).unwrap())
        })
    });
    let mut i = 0usize;
    c.bench_function("users_with_capability/5000users", |b| {
        b.iter(|| {
            let (_, _, cap, _) = &m.triples[i % m.triples.len()];
            let x = m.courses[i % m.courses.len()];
            i += 1;
            black_box(m.engine.users_with_capability(cap, x, m.at).unwrap())
        })
    });
    let mut engine = m.engine.clone();
    let role = m.site.roles[4].id;
    let (user, cap_id, cap, _) = m.triples[0].clone();
    let course = m.courses[7];
    let mut flip = false;
    c.bench_function("edit/set_permission+check", |b| {
        b.iter(|| {
            flip = !flip;
            engine
                .apply(EditOp::SetPermission {
                    role,
                    context: course,
                    capability: cap.clone(),
                    permission: Some(if flip {
                        Permission::Allow
                    } else {
                        Permission::Prevent
                    }),
                })
                .unwrap();
            black_box(engine.check(user, cap_id, course, opts).unwrap())
        })
    });
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.bench_function("from_site/100k_contexts", |b| {
        b.iter_batched(
            || m.site.clone(),
            |site| black_box(Engine::from_site(site).unwrap()),
            BatchSize::LargeInput,
        )
    });
    let json = m.engine.to_json();
    g.bench_function("from_json/100k_contexts", |b| {
        b.iter(|| black_box(Engine::from_json(&json).unwrap()))
    });
    g.finish();
    // A learner's course-page bundle: the course and its activities, with their ancestors.
    let learner = m
        .site
        .assignments
        .iter()
        .find(|a| {
            m.site
                .contexts
                .iter()
                .any(|c| c.id == a.context && c.level == ContextLevel::Course)
        })
        .map(|a| (a.user, a.context))
        .unwrap();
    let mut g = c.benchmark_group("bundle");
    g.bench_function("course_page/cut", |b| {
        b.iter(|| black_box(m.engine.bundle(learner.0, &[learner.1]).unwrap()))
    });
    let page = m.engine.bundle(learner.0, &[learner.1]).unwrap().to_json();
    g.bench_function("course_page/load", |b| {
        b.iter(|| black_box(Engine::from_json(&page).unwrap()))
    });
    g.sample_size(10);
    g.bench_function("whole_tree/cut", |b| {
        b.iter(|| black_box(m.engine.bundle(learner.0, &[]).unwrap()))
    });
    g.finish();
    let opts = CheckOptions::at(m.at);
    c.bench_function("contexts_with_capability/2001_courses", |b| {
        b.iter(|| {
            black_box(
                m.engine
                    .contexts_with_capability(
                        learner.0,
                        "moodle/course:view",
                        ContextLevel::Course,
                        opts,
                    )
                    .unwrap(),
            )
        })
    });
    c.bench_function("contexts_with_capability/plan_2001_courses", |b| {
        b.iter(|| {
            black_box(
                m.engine
                    .contexts_with_capability_plan(
                        learner.0,
                        "moodle/course:view",
                        ContextLevel::Course,
                        opts,
                    )
                    .unwrap(),
            )
        })
    });
    // One batch of 3,000 new courses (structural edits): one compile for the run, where one
    // compile per edit took minutes on this site.
    let category = m
        .site
        .contexts
        .iter()
        .find(|c| c.level == ContextLevel::Coursecat)
        .map(|c| c.id.0)
        .unwrap();
    let top = m.site.contexts.iter().map(|c| c.id.0).max().unwrap();
    let batch: Vec<EditOp> = (1..=3_000)
        .map(|i| {
            serde_json::from_value(serde_json::json!({"op": "put_context",
                "context": {"id": top + i, "level": "course", "parent": category}}))
            .unwrap()
        })
        .collect();
    // The impact of one permission edit before it is made (issue: impact preview ≤ 300 ms).
    let student = m
        .site
        .roles
        .iter()
        .find(|r| r.archetype == Some(capstan_core::Archetype::Student))
        .map(|r| r.id)
        .unwrap();
    let module_cap = m
        .site
        .capabilities
        .iter()
        .find(|c| c.contextlevel == ContextLevel::Module)
        .map(|c| c.name.clone())
        .unwrap();
    let course_cap = m
        .site
        .capabilities
        .iter()
        .find(|c| c.contextlevel == ContextLevel::Course)
        .map(|c| c.name.clone())
        .unwrap();
    let system = m.site.contexts[0].id;
    let mut g = c.benchmark_group("impact");
    g.sample_size(10);
    g.bench_function("student_override_in_a_course", |b| {
        b.iter(|| {
            black_box(
                m.engine
                    .permission_impact(
                        student,
                        m.courses[7],
                        &module_cap,
                        Some(Permission::Prohibit),
                        opts,
                    )
                    .unwrap(),
            )
        })
    });
    g.bench_function("student_definition_at_system", |b| {
        b.iter(|| {
            black_box(
                m.engine
                    .permission_impact(
                        student,
                        system,
                        &module_cap,
                        Some(Permission::Prohibit),
                        opts,
                    )
                    .unwrap(),
            )
        })
    });
    if let Some(user_role) = m.site.settings.default_user_role {
        g.bench_function("default_user_role_at_system", |b| {
            b.iter(|| {
                black_box(
                    m.engine
                        .permission_impact(
                            user_role,
                            system,
                            &course_cap,
                            Some(Permission::Allow),
                            opts,
                        )
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("edit");
    g.sample_size(10);
    g.bench_function("structural_batch/3000_contexts", |b| {
        b.iter_batched(
            || (m.engine.clone(), batch.clone()),
            |(mut e, ops)| {
                e.apply_all(ops).unwrap();
                black_box(e)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(resolver, benches);
criterion_main!(resolver);
