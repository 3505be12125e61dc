//! The demo site: what the admin app and a fresh server show at first start.
//!
//! A generated site ([`crate::generate`]) of a realistic size (about a thousand contexts,
//! 300 users, 100 capabilities with risks, two tenants, courses and programs), given the
//! names a Totara site would have, plus the capabilities the admin surfaces enforce
//! (`moodle/role:manage`, `capstan/support:grant`). Pure and deterministic.

use crate::generate::{GenerateOptions, generate};
use crate::model::*;

/// The options of the demo site.
pub fn demo_options() -> GenerateOptions {
    GenerateOptions {
        contexts: 1_200,
        users: 300,
        capabilities: 100,
        roles: 12,
        overrides: 150,
        assignments: 900,
        tenants: 2,
        seed: 7,
    }
}

/// A capability of the demo site: name, captype, home level, risks, and the archetypes whose
/// definitions allow it.
pub type DemoCapability = (
    &'static str,
    CapType,
    ContextLevel,
    &'static [Risk],
    &'static [Archetype],
);

/// Capabilities the server and the admin app consult besides those of the resolver (the
/// Moodle ones with Moodle's captype, level and risks).
pub const ADMIN_CAPABILITIES: [DemoCapability; 3] = [
    (
        "moodle/role:manage",
        CapType::Write,
        ContextLevel::System,
        &[Risk::Xss, Risk::Personal, Risk::Spam],
        &[Archetype::Manager],
    ),
    (
        "capstan/support:grant",
        CapType::Write,
        ContextLevel::System,
        &[Risk::Config, Risk::Managetrust, Risk::Personal],
        &[],
    ),
    (
        // Moodle's "Check permissions" of others; tenant administrators review their tenant.
        "moodle/role:review",
        CapType::Read,
        ContextLevel::Course,
        &[Risk::Personal],
        &[
            Archetype::Manager,
            Archetype::Editingteacher,
            Archetype::Tenantusermanager,
            Archetype::Tenantdomainmanager,
        ],
    ),
];

const TENANTS: [&str; 2] = ["Northwind Health", "Harbour College"];
const FIRST: [&str; 24] = [
    "Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Mia", "Arthur", "Grace", "Oscar", "Freya",
    "Jack", "Sofia", "Ethan", "Chloe", "Lucas", "Ruby", "Mason", "Zara", "Henry", "Nora", "Felix",
    "Aisha", "Tomas",
];
const LAST: [&str; 20] = [
    "Smith", "Nguyen", "Patel", "Garcia", "Kowalski", "Okafor", "Müller", "Rossi", "Tanaka",
    "Silva", "Dubois", "Hansen", "O'Brien", "Novak", "Khan", "Moreau", "Jensen", "Costa",
    "Ivanova", "Walker",
];
const SUBJECTS: [&str; 24] = [
    "Workplace safety",
    "Data protection essentials",
    "Infection control",
    "Leadership foundations",
    "Customer care",
    "Clinical documentation",
    "Manual handling",
    "Fire awareness",
    "Equality and diversity",
    "Project management",
    "Introduction to statistics",
    "Academic writing",
    "Financial literacy",
    "First aid at work",
    "Cyber security basics",
    "Coaching skills",
    "Safeguarding adults",
    "Medication management",
    "Time management",
    "Negotiation skills",
    "Sustainability at work",
    "Effective meetings",
    "Conflict resolution",
    "Presentation skills",
];
const CATEGORIES: [&str; 8] = [
    "Compliance",
    "Clinical skills",
    "Leadership",
    "Professional development",
    "Induction",
    "Digital skills",
    "Health and safety",
    "Languages",
];
const PROGRAMS: [&str; 6] = [
    "New starter programme",
    "Annual compliance certification",
    "Management pathway",
    "Clinical certification",
    "Graduate programme",
    "Team leader pathway",
];

const ACTIVITIES: [&str; 8] = [
    "Quiz",
    "Assignment",
    "Forum",
    "Page",
    "Lesson",
    "Workshop",
    "Feedback",
    "Glossary",
];
const BLOCKS: [&str; 4] = ["Text", "Online users", "Calendar", "Recent activity"];

fn pick<'a>(list: &[&'a str], i: usize) -> &'a str {
    list.get(i % list.len().max(1)).copied().unwrap_or("")
}

/// Gives the generated site Moodle's real capabilities: a name that is Moodle's stays (with
/// Moodle's captype, home level and risks); every other synthetic one becomes, in order, a
/// Moodle capability not used yet of the same component, else of the same plugin type, else
/// any; its rows follow it. Capstan's own (`capstan/…`) and the Totara capability the
/// visibility rules read (`totara/program:viewhiddenprograms`) stay as they are.
fn use_moodle_capabilities(site: &mut Site) {
    use crate::moodle;
    use std::collections::{BTreeSet, HashMap};
    let keep = |n: &str| n.starts_with("capstan/") || n == "totara/program:viewhiddenprograms";
    let mut used: BTreeSet<&'static str> = site
        .capabilities
        .iter()
        .filter_map(|c| moodle::capability(&c.name).map(|m| m.name))
        .collect();
    let mut renames: HashMap<String, String> = HashMap::new();
    for c in &mut site.capabilities {
        if keep(&c.name) {
            continue;
        }
        let real = match moodle::capability(&c.name) {
            Some(m) => m,
            None => {
                let component = c.name.split(':').next().unwrap_or_default();
                let kind = component.split('/').next().unwrap_or_default();
                let free = |want: &dyn Fn(&str) -> bool| {
                    moodle::capabilities()
                        .iter()
                        .find(|m| !used.contains(m.name) && want(m.name))
                };
                let Some(m) = free(&|n| n.split(':').next() == Some(component))
                    .or_else(|| free(&|n| n.split('/').next() == Some(kind)))
                    .or_else(|| free(&|_| true))
                else {
                    continue;
                };
                used.insert(m.name);
                renames.insert(c.name.clone(), m.name.to_string());
                m
            }
        };
        *c = real.to_capability();
    }
    for p in &mut site.permissions {
        if let Some(n) = renames.get(&p.capability) {
            p.capability = n.clone();
        }
    }
}

/// The demo site: valid, deterministic, with real-looking names and Moodle's capabilities.
pub fn demo_site() -> Site {
    let mut site = generate(&demo_options());
    use_moodle_capabilities(&mut site);
    let system = site
        .contexts
        .iter()
        .find(|c| c.level == ContextLevel::System)
        .map(|c| c.id);
    for (name, captype, level, risks, allowed) in ADMIN_CAPABILITIES {
        site.capabilities.retain(|c| c.name != name);
        // Moodle's own definition where the capability is Moodle's.
        site.capabilities.push(
            crate::moodle::capability(name)
                .map(crate::moodle::MoodleCapability::to_capability)
                .unwrap_or_else(|| Capability {
                    name: name.to_string(),
                    captype,
                    contextlevel: level,
                    risks: risks.iter().copied().collect(),
                }),
        );
        site.permissions.retain(|p| p.capability != name);
        let Some(system) = system else { continue };
        let rows: Vec<PermissionRow> = site
            .roles
            .iter()
            .filter(|r| r.archetype.is_some_and(|a| allowed.contains(&a)))
            .map(|r| PermissionRow {
                role: r.id,
                context: system,
                capability: name.to_string(),
                permission: Permission::Allow,
            })
            .collect();
        site.permissions.extend(rows);
    }
    // Site-wide administration stays with managers, as on a real site: the synthetic
    // definitions may have handed these to any role.
    let manager_ids: Vec<RoleId> = site
        .roles
        .iter()
        .filter(|r| r.archetype == Some(Archetype::Manager))
        .map(|r| r.id)
        .collect();
    site.permissions.retain(|p| {
        !matches!(
            p.capability.as_str(),
            "moodle/site:config" | "moodle/role:manage" | "capstan/support:grant"
        ) || (manager_ids.contains(&p.role) && p.permission == Permission::Allow)
    });
    for (i, t) in site.tenants.iter_mut().enumerate() {
        t.name = Some(pick(&TENANTS, i).to_string());
    }
    let tenant_names: Vec<(ContextId, ContextId, String)> = site
        .tenants
        .iter()
        .map(|t| (t.context, t.category, t.name.clone().unwrap_or_default()))
        .collect();
    let (mut cat, mut course, mut program, mut module, mut block) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    for c in site.contexts.iter_mut() {
        if let Some((_, _, name)) = tenant_names.iter().find(|t| t.0 == c.id) {
            c.name = Some(name.clone());
            continue;
        }
        if let Some((_, _, name)) = tenant_names.iter().find(|t| t.1 == c.id) {
            c.name = Some(format!("{name} learning"));
            continue;
        }
        match c.level {
            ContextLevel::Coursecat => {
                let round = cat / CATEGORIES.len();
                let base = pick(&CATEGORIES, cat);
                c.name = Some(if round == 0 {
                    base.to_string()
                } else {
                    format!("{base} {}", round + 1)
                });
                cat += 1;
            }
            ContextLevel::Course if c.name.as_deref() != Some("Front page") => {
                let round = course / SUBJECTS.len();
                let base = pick(&SUBJECTS, course);
                c.name = Some(if round == 0 {
                    base.to_string()
                } else {
                    format!("{base} ({})", 2020 + round)
                });
                course += 1;
            }
            ContextLevel::Program => {
                c.name = Some(format!("{} {}", pick(&PROGRAMS, program), program + 1));
                program += 1;
            }
            ContextLevel::Module => {
                c.name = Some(format!(
                    "{} {}",
                    pick(&ACTIVITIES, module),
                    module / ACTIVITIES.len() + 1
                ));
                module += 1;
            }
            ContextLevel::Block if c.name.is_none() => {
                c.name = Some(format!("{} block", pick(&BLOCKS, block)));
                block += 1;
            }
            _ => {}
        }
    }
    for (i, u) in site.users.iter_mut().enumerate().skip(2) {
        let first = pick(&FIRST, i * 7);
        let last = pick(&LAST, i * 13 / 3);
        u.fullname = Some(format!("{first} {last}"));
        let slug: String = format!("{first}.{last}{i}")
            .to_lowercase()
            .chars()
            .filter(|ch| ch.is_ascii_alphanumeric() || *ch == '.')
            .collect();
        u.username = slug.clone();
        u.email = Some(format!("{slug}@example.org"));
    }
    if let Some(admin) = site.users.get_mut(1) {
        admin.fullname = Some("Site Administrator".into());
    }
    site
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::validate;

    #[test]
    fn demo_site_is_valid_and_realistic() {
        let site = demo_site();
        assert!(validate(&site).is_empty(), "{:?}", validate(&site));
        assert_eq!(site.tenants.len(), 2);
        assert!(site.users.len() >= 300);
        assert!(site.capabilities.len() >= 100);
        assert!(
            site.contexts
                .iter()
                .any(|c| c.level == ContextLevel::Program)
        );
        assert!(
            site.capabilities
                .iter()
                .filter(|c| c.risks != RiskSet::default())
                .count()
                > 10
        );
        let mut names: Vec<&str> = site.users.iter().map(|u| u.username.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), site.users.len(), "usernames are unique");
        assert_eq!(demo_site(), site, "deterministic");
        assert!(
            site.contexts
                .iter()
                .filter(|c| matches!(c.level, ContextLevel::Module | ContextLevel::Block))
                .all(|c| c.name.is_some()),
            "activities and blocks have names"
        );
        // Moodle's capabilities, with Moodle's captype, level and risks.
        for c in &site.capabilities {
            if c.name.starts_with("capstan/") || c.name.starts_with("totara/") {
                continue;
            }
            let real = crate::moodle::capability(&c.name)
                .unwrap_or_else(|| panic!("{} is not Moodle's", c.name));
            assert_eq!(*c, real.to_capability());
        }
    }
}
