//! The authorisation matrix: every endpoint × (admin, manager, tenant domain manager of T1,
//! member of T2, support user scoped to T1, support user scoped to the top-level site only,
//! expired support user, service key, anonymous).
//! Each cell is allowed or refused by the table below; a refused cell must not succeed and an
//! allowed one must, and no answer to a caller scoped to one tenant names the other tenant.

use crate::common::{Server, set_password, tenants_fixture};
use crate::support::{grant, make_staff, staff_login};
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum P {
    Admin,
    Manager,
    Tdm1,
    Member2,
    SupportT1,
    SupportSite,
    SupportExpired,
    Key,
    Anonymous,
}

use P::*;

const ALL: [P; 9] = [
    Admin,
    Manager,
    Tdm1,
    Member2,
    SupportT1,
    SupportSite,
    SupportExpired,
    Key,
    Anonymous,
];

/// Words only the data of one tenant contains.
const T1_WORDS: [&str; 4] = ["TENANT1", "Acme", "tdm1", "student1"];
const T2_WORDS: [&str; 3] = ["TENANT2", "Globex", "member2"];

struct Cell {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<(&'static str, String)>,
    allowed: Vec<P>,
}

fn cell(
    name: &'static str,
    method: &'static str,
    path: &str,
    body: Option<Value>,
    allowed: &[P],
) -> Cell {
    Cell {
        name,
        method,
        path: path.into(),
        body: body.map(|b| ("application/json", b.to_string())),
        allowed: allowed.to_vec(),
    }
}

fn cells(rev: u64, who: P, self_id: u32, preset: &str) -> Vec<Cell> {
    let site_readers = [Admin, Manager, Tdm1, SupportT1, SupportSite, Key];
    // Questions about tenant 1 (a support grant for the top-level site never reaches it).
    let t1_readers = [Admin, Manager, Tdm1, SupportT1, Key];
    // Role definitions and the top-level site.
    let site_admins = [Admin, Manager, SupportSite];
    let tag = format!("{who:?}").to_lowercase();
    let batch = |ops: Value| Some(json!({"base_revision": rev, "ops": ops}));
    let assign_pair = |user: u32, ctx: u32| {
        json!([{"op": "assign", "user": user, "role": 3, "context": ctx},
               {"op": "unassign", "user": user, "role": 3, "context": ctx}])
    };
    // A key may ask about user 0 ("not logged in"); an expired support user is nobody.
    let with_users: Vec<P> = ALL
        .into_iter()
        .filter(|p| !matches!(p, SupportExpired | Anonymous))
        .collect();
    vec![
        cell(
            "me",
            "GET",
            "/api/v1/sessions/current",
            None,
            &[
                Admin,
                Manager,
                Tdm1,
                Member2,
                SupportT1,
                SupportSite,
                SupportExpired,
                Key,
            ],
        ),
        cell("site", "GET", "/api/v1/site", None, &site_readers),
        cell(
            "changes",
            "GET",
            "/api/v1/changes?since=0",
            None,
            &site_readers,
        ),
        cell(
            "override in T1",
            "POST",
            "/api/v1/changes",
            batch(
                json!([{"op": "set_permission", "role": 5, "context": 10, "capability": "moodle/course:update",
                "permission": if rev.is_multiple_of(2) { "prevent" } else { "prohibit" }}]),
            ),
            &[Admin, Manager, Tdm1, SupportT1],
        ),
        cell(
            "override in T2",
            "POST",
            "/api/v1/changes",
            batch(
                json!([{"op": "set_permission", "role": 5, "context": 11, "capability": "moodle/course:view",
                "permission": if rev.is_multiple_of(2) { "prevent" } else { "allow" }}]),
            ),
            &[Admin, Manager],
        ),
        cell(
            "role definition",
            "POST",
            "/api/v1/changes",
            batch(
                json!([{"op": "set_permission", "role": 5, "context": 1, "capability": "moodle/course:update",
                "permission": if rev.is_multiple_of(2) { Some("prevent") } else { None }}]),
            ),
            &site_admins,
        ),
        cell(
            "assign in T1",
            "POST",
            "/api/v1/changes",
            batch(assign_pair(12, 10)),
            &[Admin, Manager, Tdm1, SupportT1],
        ),
        cell(
            "assign in T2",
            "POST",
            "/api/v1/changes",
            batch(assign_pair(11, 11)),
            &[Admin, Manager],
        ),
        cell(
            "support assignment by hand",
            "POST",
            "/api/v1/changes",
            batch(
                json!([{"op": "assign", "user": 12, "role": 1, "context": 1, "source": "support"}]),
            ),
            &[],
        ),
        cell(
            "new context",
            "POST",
            "/api/v1/changes",
            batch(
                json!([{"op": "put_context", "context": {"id": 500 + rev as u32, "level": "course", "parent": 6}}]),
            ),
            &site_admins,
        ),
        cell(
            "suspend the site admin",
            "POST",
            "/api/v1/changes",
            batch(
                json!([{"op": "put_user", "user": {"id": 2, "username": "admin", "fullname": "Site Administrator", "suspended": true}}]),
            ),
            &[],
        ),
        cell(
            "delete the site admin",
            "POST",
            "/api/v1/changes",
            batch(json!([{"op": "delete_user", "user": 2}])),
            &[],
        ),
        cell(
            "check self",
            "POST",
            "/api/v1/check",
            Some(json!({"user": self_id, "capability": "moodle/course:view", "context": 10})),
            &with_users
                .iter()
                .copied()
                .filter(|p| !matches!(p, Member2 | SupportSite))
                .collect::<Vec<_>>(),
        ),
        cell(
            "check self at the site course",
            "POST",
            "/api/v1/check",
            Some(json!({"user": self_id, "capability": "moodle/course:view", "context": 12})),
            &with_users
                .iter()
                .copied()
                .filter(|p| !matches!(p, SupportT1))
                .collect::<Vec<_>>(),
        ),
        cell(
            "own bundle",
            "GET",
            "/api/v1/bundle",
            None,
            &[Admin, Manager, Tdm1, Member2, SupportT1, SupportSite],
        ),
        cell(
            "a T1 user's bundle",
            "GET",
            "/api/v1/bundle?user=12&context=10",
            None,
            &[Admin, Manager, Key],
        ),
        cell(
            "contexts with capability, self",
            "POST",
            "/api/v1/contexts-with-capability",
            Some(json!({"user": self_id, "capability": "moodle/course:view", "level": "course"})),
            &with_users,
        ),
        cell(
            "check T1 user",
            "POST",
            "/api/v1/check",
            Some(json!({"user": 12, "capability": "moodle/course:view", "context": 10})),
            &t1_readers,
        ),
        cell(
            "check T2 user",
            "POST",
            "/api/v1/check",
            Some(json!({"user": 11, "capability": "moodle/course:view", "context": 11})),
            &[Admin, Manager, Key, Member2],
        ),
        cell(
            "explain T1",
            "POST",
            "/api/v1/explain",
            Some(json!({"user": 12, "capability": "moodle/course:update", "context": 10})),
            &t1_readers,
        ),
        cell(
            "explain site course",
            "POST",
            "/api/v1/explain",
            Some(json!({"user": 13, "capability": "moodle/course:view", "context": 12})),
            &[Admin, Manager, SupportSite, Key],
        ),
        cell(
            "permissions T2",
            "POST",
            "/api/v1/effective-permissions",
            Some(json!({"user": 11, "context": 11})),
            &[Admin, Manager, Key, Member2],
        ),
        cell(
            "who has in T1",
            "POST",
            "/api/v1/users-with-capability",
            Some(json!({"capability": "moodle/course:view", "context": 10})),
            &t1_readers,
        ),
        cell(
            "who has in T2",
            "POST",
            "/api/v1/users-with-capability",
            Some(json!({"capability": "moodle/course:view", "context": 11})),
            &[Admin, Manager, Key],
        ),
        cell(
            "overview",
            "POST",
            "/api/v1/capability-overview",
            Some(json!({"capability": "moodle/course:update"})),
            &site_readers,
        ),
        cell(
            "can assign",
            "POST",
            "/api/v1/can-assign",
            Some(json!({"user": 10, "role": 5, "context": 10})),
            &t1_readers,
        ),
        cell(
            "can override",
            "POST",
            "/api/v1/can-override",
            Some(json!({"user": 10, "role": 5, "context": 10, "capability": "moodle/course:view"})),
            &t1_readers,
        ),
        cell(
            "can switch",
            "POST",
            "/api/v1/can-switch",
            Some(json!({"user": 11, "role": 5, "context": 11})),
            &[Admin, Manager, Key, Member2],
        ),
        cell(
            "unsupported",
            "GET",
            "/api/v1/unsupported-assignments",
            None,
            &site_readers,
        ),
        cell(
            "visibility T1",
            "POST",
            "/api/v1/visibility",
            Some(json!({"user": 12, "context": 10})),
            &t1_readers,
        ),
        cell(
            "visible items T2",
            "POST",
            "/api/v1/visible-items",
            Some(json!({"user": 11})),
            &[Admin, Manager, Key, Member2],
        ),
        cell(
            "validate",
            "POST",
            "/api/v1/validate",
            Some(json!({"format": "capstan/1"})),
            &[
                Admin,
                Manager,
                Tdm1,
                Member2,
                SupportT1,
                SupportSite,
                SupportExpired,
                Key,
            ],
        ),
        cell(
            "preset export",
            "GET",
            "/api/v1/roles/5/preset",
            None,
            &site_readers,
        ),
        Cell {
            name: "preset import",
            method: "POST",
            path: "/api/v1/presets".into(),
            body: Some((
                "application/xml",
                preset.replace(
                    "<shortname>student</shortname>",
                    &format!("<shortname>s{tag}{rev}</shortname>"),
                ),
            )),
            allowed: site_admins.to_vec(),
        },
        cell(
            "audit",
            "GET",
            "/api/v1/audit?limit=500",
            None,
            &[Admin, Manager, Tdm1, SupportT1, SupportSite],
        ),
        cell(
            "audit verify",
            "GET",
            "/api/v1/audit/verify",
            None,
            &site_admins,
        ),
        cell(
            "password of the site admin",
            "PUT",
            "/api/v1/users/2/password",
            Some(json!({"password": "admin-pass-1", "current_password": "admin-pass-1"})),
            &[Admin],
        ),
        cell(
            "own password without the current one",
            "PUT",
            &format!("/api/v1/users/{}/password", self_id.max(1)),
            Some(json!({"password": "a-new-pass-1"})),
            &[],
        ),
        cell(
            "password of a T1 user",
            "PUT",
            "/api/v1/users/12/password",
            Some(json!({"password": "another-pass-1"})),
            &[Admin, Manager],
        ),
        cell(
            "password of a T2 user",
            "PUT",
            "/api/v1/users/14/password",
            Some(json!({"password": "t2learner-pass"})),
            &[Admin, Manager],
        ),
        cell("keys", "GET", "/api/v1/api-keys", None, &[Admin, Manager]),
        cell("revoke a key", "DELETE", "/api/v1/api-keys/999", None, &[]),
        cell(
            "new key",
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": format!("k-{tag}")})),
            &[Admin, Manager],
        ),
        cell("staff", "GET", "/api/v1/support/staff", None, &[Admin]),
        cell(
            "disable staff",
            "POST",
            "/api/v1/support/staff/999/disable",
            None,
            &[],
        ),
        cell(
            "reset a staff TOTP",
            "POST",
            "/api/v1/support/staff/999/totp",
            None,
            &[],
        ),
        cell(
            "new staff",
            "POST",
            "/api/v1/support/staff",
            Some(json!({"username": format!("staff-{tag}"), "password": "staff-pass-9"})),
            &[Admin],
        ),
        cell(
            "support requests",
            "GET",
            "/api/v1/support/requests",
            None,
            &[Admin, SupportT1, SupportSite, SupportExpired],
        ),
        cell(
            "new support request",
            "POST",
            "/api/v1/support/requests",
            Some(json!({"reason": "more", "scope": {"tenants": [1]}})),
            &[SupportT1, SupportSite, SupportExpired],
        ),
        cell(
            "support grants",
            "GET",
            "/api/v1/support/grants",
            None,
            &[Admin, SupportT1, SupportSite, SupportExpired],
        ),
        cell(
            "allow a request",
            "POST",
            "/api/v1/support/requests/999/allow",
            Some(json!({})),
            &[],
        ),
        cell(
            "revoke a grant",
            "POST",
            "/api/v1/support/grants/999/revoke",
            Some(json!({})),
            &[],
        ),
    ]
}

#[test]
fn no_caller_succeeds_where_it_is_not_allowed_or_sees_another_tenant() {
    let s = Server::start("matrix", Some(tenants_fixture()));
    let admin = s.login("admin", "admin-pass-1");
    for (id, pw) in [
        (3, "manager-pass"),
        (10, "tdm1-pass-1"),
        (11, "member2-pass"),
    ] {
        set_password(&s, &admin, id, pw);
    }
    // An expired support user: a grant for the site, one day, then a day passes.
    let old = make_staff(&s, &admin, "vendor_old");
    let t = staff_login(&s, &old);
    let expired = grant(&s, &admin, &t, json!({"site": true}), 1);
    s.advance(86_400 + 60);
    let admin = s.login("admin", "admin-pass-1");
    let vendor = make_staff(&s, &admin, "vendor_t1");
    let t = staff_login(&s, &vendor);
    let active = grant(&s, &admin, &t, json!({"tenants": [1]}), 1);
    let site_vendor = make_staff(&s, &admin, "vendor_site");
    let t = staff_login(&s, &site_vendor);
    let site_only = grant(&s, &admin, &t, json!({"site": true}), 1);
    s.advance(30);
    let preset = s.get("/api/v1/roles/5/preset", &admin).text;
    let (_, key) = s.state.create_api_key("matrix", None, None).unwrap();
    let tokens: Vec<(P, Option<String>, u32)> = vec![
        (Admin, Some(admin.clone()), 2),
        (Manager, Some(s.login("manager", "manager-pass")), 3),
        (Tdm1, Some(s.login("tdm1", "tdm1-pass-1")), 10),
        (Member2, Some(s.login("member2", "member2-pass")), 11),
        (
            SupportT1,
            Some(staff_login(&s, &vendor)),
            active["user"].as_u64().unwrap() as u32,
        ),
        (
            SupportSite,
            Some(staff_login(&s, &site_vendor)),
            site_only["user"].as_u64().unwrap() as u32,
        ),
        (
            SupportExpired,
            Some(staff_login(&s, &old)),
            expired["user"].as_u64().unwrap() as u32,
        ),
        (Key, Some(key), 0),
        (Anonymous, None, 0),
    ];
    let both_tenants: Vec<&str> = T1_WORDS.iter().chain(&T2_WORDS).copied().collect();
    let mut problems = Vec::new();
    let mut cells_run = 0;
    for (who, token, self_id) in &tokens {
        let count = cells(0, *who, 0, "").len();
        for i in 0..count {
            // Rebuilt for each call: batches need the current revision.
            let c = cells(s.revision(), *who, *self_id, &preset).remove(i);
            let r = s.raw(c.method, &c.path, token.as_deref(), c.body.clone(), &[]);
            cells_run += 1;
            let ok = (200..300).contains(&r.status);
            let allowed = c.allowed.contains(who);
            if r.status >= 500 {
                problems.push(format!("{who:?} {}: server error {}", c.name, r.text));
            }
            if ok && !allowed {
                problems.push(format!(
                    "{who:?} {}: UNAUTHORISED SUCCESS {} {}",
                    c.name, r.status, r.text
                ));
            }
            if !ok && allowed {
                problems.push(format!(
                    "{who:?} {}: refused {} {}",
                    c.name, r.status, r.text
                ));
            }
            if !ok && !allowed && !matches!(r.status, 401 | 403 | 404 | 409) {
                problems.push(format!(
                    "{who:?} {}: refused with {} {}",
                    c.name, r.status, r.text
                ));
            }
            let foreign: &[&str] = match who {
                Tdm1 | SupportT1 => &T2_WORDS,
                Member2 => &T1_WORDS,
                SupportSite => &both_tenants,
                _ => &[],
            };
            if let Some(w) = foreign.iter().find(|w| r.text.contains(**w)) {
                problems.push(format!(
                    "{who:?} {}: answer names `{w}`: {}",
                    c.name, r.text
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(cells_run, ALL.len() * cells(0, Admin, 0, "").len());
    // `/events` is a stream: read its status and first event, then hang up. Every caller with
    // a live session and some reach hears that the site moved on, and nothing else.
    let events_allowed = [Admin, Manager, Tdm1, Member2, SupportT1, SupportSite, Key];
    for (who, token, _) in &tokens {
        let (status, first) = open_events(&s, token.as_deref());
        let allowed = events_allowed.contains(who);
        if allowed != (status == 200) {
            problems.push(format!("{who:?} events: {status} {first}"));
        }
        if allowed && first.trim() != format!("{{\"revision\":{}}}", s.revision()) {
            problems.push(format!("{who:?} events: first event `{first}`"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        s.get("/api/v1/audit/verify", &admin).body["ok"]
            .as_bool()
            .unwrap()
    );
}

/// Opens `/events` as `token`: the status and the data of the first event (empty if refused).
fn open_events(s: &Server, token: Option<&str>) -> (u16, String) {
    use std::io::{BufRead, BufReader, Write};
    let addr = s.client.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n{auth}Accept: text/event-stream\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(stream).lines();
    let status = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.split(' ').nth(1).and_then(|c| c.parse().ok()))
        .unwrap_or(0);
    if status != 200 {
        return (status, String::new());
    }
    let data = lines
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .unwrap_or_default();
    (status, data)
}
