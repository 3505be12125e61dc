// The JS API itself: errors with stable codes, argument checking, the fast path, edits, presets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { capstan } from "./load.mjs";

const { Engine, CapstanError } = capstan;

const site = {
  format: "capstan/1",
  settings: { default_user_role: 7, site_admins: [2] },
  capabilities: [
    { name: "moodle/course:view", captype: "read", contextlevel: "course" },
    { name: "moodle/course:update", captype: "write", contextlevel: "course", risks: ["xss"] },
  ],
  contexts: [
    { id: 1, level: "system" },
    { id: 2, level: "coursecat", parent: 1, name: "Science" },
    { id: 3, level: "course", parent: 2, name: "Physics" },
  ],
  roles: [
    { id: 5, shortname: "student", contextlevels: ["course"] },
    { id: 7, shortname: "user" },
  ],
  permissions: [{ role: 5, context: 1, capability: "moodle/course:view", permission: "allow" }],
  users: [{ id: 2, username: "admin" }, { id: 10, username: "alice" }],
  assignments: [{ user: 10, role: 5, context: 3, until: "2030-01-01T00:00:00Z" }],
};

function throwsCode(fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof CapstanError, `not a CapstanError: ${e}`);
    assert.ok(e instanceof Error);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test("fromObject and fromJson agree; toJson round-trips", () => {
  const a = Engine.fromObject(site);
  const b = Engine.fromJson(JSON.stringify(site));
  assert.equal(a.hasCapability(10, "moodle/course:view", 3), true);
  assert.equal(b.hasCapability(10, "moodle/course:view", 3), true);
  assert.equal(Engine.fromJson(a.toJson()).toJson(), a.toJson());
  assert.equal(a.toObject().format, "capstan/1");
});

test("time: at as string or Date, default time", () => {
  const e = Engine.fromObject(site);
  assert.equal(e.hasCapability(10, "moodle/course:view", 3, { at: "2031-01-01T00:00:00Z" }), false);
  assert.equal(e.hasCapability(10, "moodle/course:view", 3, { at: new Date("2029-01-01T00:00:00Z") }), true);
  e.setDefaultTime("2031-01-01T00:00:00Z");
  assert.equal(e.hasCapability(10, "moodle/course:view", 3), false);
  e.setDefaultTime(undefined);
  assert.equal(e.hasCapability(10, "moodle/course:view", 3, { at: "2029-06-01T00:00:00Z" }), true);
});

test("invalid snapshots throw CapstanError with the right code and every issue", () => {
  throwsCode(() => Engine.fromJson("{"), "malformed_json");
  throwsCode(() => Engine.fromJson('{"format": "capstan/9"}'), "unsupported_format");
  throwsCode(() => Engine.fromObject({ ...site, surprise: true }), "malformed_json");
  try {
    Engine.fromObject({ ...site, contexts: [...site.contexts, { id: 9, level: "module", parent: 2 }] });
    assert.fail("should throw");
  } catch (e) {
    assert.equal(e.code, "bad_parent_level");
    assert.equal(e.path, "contexts[3].parent");
    assert.equal(e.issues.length, 1);
  }
  assert.deepEqual(Engine.validate(JSON.stringify(site)), []);
  const issues = Engine.validate(JSON.stringify({ ...site, roles: [...site.roles, { id: 8, shortname: "a b" }] }));
  assert.deepEqual(issues.map((i) => i.code), ["bad_shortname"]);
});

test("unknown ids and wrong argument types throw with stable codes", () => {
  const e = Engine.fromObject(site);
  throwsCode(() => e.hasCapability(10, "moodle/nope:x", 3), "unknown_capability");
  throwsCode(() => e.hasCapability(10, "moodle/course:view", 99), "unknown_context");
  throwsCode(() => e.canAssign(10, 99, 3), "unknown_role");
  throwsCode(() => e.hasCapability(-1, "moodle/course:view", 3), "bad_argument");
  throwsCode(() => e.hasCapability(1.5, "moodle/course:view", 3), "bad_argument");
  throwsCode(() => e.hasCapability("x", "moodle/course:view", 3), "bad_argument");
  throwsCode(() => e.hasCapability(10, "moodle/course:view", 3, { at: "yesterday" }), "bad_instant");
  throwsCode(() => e.hasCapability(10, "moodle/course:view", 3, { at: 12 }), "bad_argument");
  throwsCode(() => e.hasCapability(10, "moodle/course:view", 3, { doAnything: "yes" }), "bad_argument");
  throwsCode(() => e.hasCapability(10, "moodle/course:view", 3, 7), "bad_argument");
  throwsCode(() => e.capabilityId("nope/x:y"), "unknown_capability");
  throwsCode(() => e.checkMany(new Uint32Array([1, 2])), "bad_argument");
  // An unknown user is not an error: it has no permissions.
  assert.equal(e.hasCapability(12345, "moodle/course:view", 3), false);
  // The engine still works after every error.
  assert.equal(e.hasCapability(10, "moodle/course:view", 3), true);
});

test("explain agrees with hasCapability and names the decisive row", () => {
  const e = Engine.fromObject(site);
  const ex = e.explain(10, "moodle/course:view", 3);
  assert.equal(ex.allowed, true);
  assert.equal(ex.rule, "allowed");
  assert.equal(ex.step, 10);
  assert.deepEqual(ex.path, [1, 2, 3]);
  const student = ex.roles.find((r) => r.shortname === "student");
  assert.deepEqual(student.rows, [{ context: 1, permission: "allow", decisive: true }]);
  assert.equal(student.origins[0].kind, "assignment");
  const admin = e.explain(2, "moodle/course:update", 3);
  assert.equal(admin.rule, "site_admin");
});

test("fast path: capabilityId, check, checkMany", () => {
  const e = Engine.fromObject(site);
  e.setDefaultTime("2029-01-01T00:00:00Z");
  const view = e.capabilityId("moodle/course:view");
  const update = e.capabilityId("moodle/course:update");
  assert.deepEqual(e.capabilityNames(), ["moodle/course:view", "moodle/course:update"]);
  assert.equal(e.check(10, view, 3), true);
  assert.equal(e.check(10, update, 3), false);
  const out = e.checkMany(new Uint32Array([10, view, 3, 10, update, 3, 2, update, 3, 10, view, 2]));
  assert.ok(out instanceof Uint8Array);
  assert.deepEqual([...out], [1, 0, 1, 0]);
  throwsCode(() => e.check(10, 99, 3), "unknown_capability");
});

test("derived questions", () => {
  const e = Engine.fromObject(site);
  const at = { at: "2029-01-01T00:00:00Z" };
  assert.deepEqual(e.usersWithCapability("moodle/course:view", 3, at), [10]);
  assert.deepEqual(e.usersWithCapabilityDetail("moodle/course:view", 3, at), { users: [10], allAuthenticated: false });
  const perms = e.effectivePermissions(10, 3, at);
  assert.deepEqual(perms.map((p) => [p.capability, p.allowed]), [["moodle/course:view", true], ["moodle/course:update", false]]);
  assert.deepEqual(e.capabilityOverview("moodle/course:view", [5]), [{ role: 5, definition: "allow", overrides: [] }]);
  assert.equal(e.canAssign(2, 5, 3, at), true);
  assert.equal(e.canOverride(2, 5, 1), false);
  assert.equal(e.isVisible(10, 3, at), true);
  const items = e.visibleItems(10, at);
  assert.deepEqual(items.map((i) => [i.context, i.name, i.visible, i.reason]), [[3, "Physics", true, "visible"]]);
  assert.deepEqual(e.unsupportedAssignments(), []);
});

test("edits apply incrementally, refused edits change nothing", () => {
  const e = Engine.fromObject(site);
  const at = { at: "2029-01-01T00:00:00Z" };
  e.apply({ op: "set_permission", role: 5, context: 2, capability: "moodle/course:view", permission: "prohibit" });
  assert.equal(e.hasCapability(10, "moodle/course:view", 3, at), false);
  e.apply({ op: "set_permission", role: 5, context: 2, capability: "moodle/course:view", permission: null });
  assert.equal(e.hasCapability(10, "moodle/course:view", 3, at), true);
  const before = e.toJson();
  throwsCode(() => e.apply({ op: "assign", user: 10, role: 99, context: 3 }), "unknown_role");
  throwsCode(() => e.apply({ op: "explode" }), "malformed_op");
  try {
    e.applyAll([{ op: "assign", user: 2, role: 5, context: 3 }, { op: "unassign", user: 2, role: 7, context: 3 }]);
    assert.fail("should throw");
  } catch (err) {
    assert.equal(err.code, "not_found");
    assert.equal(err.index, 1);
  }
  assert.equal(e.toJson(), before);
});

test("role presets round-trip; hostile XML is refused", () => {
  const e = Engine.fromObject(site);
  const xml = e.exportPreset(5);
  assert.match(xml, /<shortname>student<\/shortname>/);
  const renamed = xml.replace("<shortname>student</shortname>", "<shortname>learner</shortname>");
  const report = e.importPreset(renamed);
  assert.equal(report.created, true);
  assert.equal(report.shortname, "learner");
  assert.deepEqual(e.capabilityOverview("moodle/course:view", [report.role])[0].definition, "allow");
  throwsCode(() => e.importPreset('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><role>&a;</role>'), "hostile_xml");
  throwsCode(() => e.importPreset("<role><shortname>x</role>"), "malformed_xml");
});

test("Moodle 4.5 template: real defaults, presets as Moodle writes them, reset, viewable roles", () => {
  const e = Engine.fromTemplate("moodle-4.5");
  throwsCode(() => Engine.fromTemplate("moodle-1.9"), "unknown_template");
  const snap = e.toObject();
  assert.equal(snap.capabilities.length, 742);
  assert.deepEqual(snap.roles.slice(0, 8).map((r) => r.shortname),
    ["manager", "coursecreator", "editingteacher", "teacher", "student", "guest", "user", "frontpage"]);
  // One line after the declaration, every capability once, `<name/>` for a standard role.
  const xml = e.exportPreset(5);
  assert.equal(xml.split("\n").length, 3);
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<role><shortname>student<\/shortname><name\/><description\/><archetype>student<\/archetype>/);
  assert.equal((xml.match(/<(inherit|allow|prevent|prohibit)>/g) || []).length, 742);
  assert.doesNotMatch(e.exportPreset(5, { allowView: false }), /allowview/);
  assert.match(xml, /<allowview><shortname>coursecreator<\/shortname><shortname>editingteacher<\/shortname><shortname>teacher<\/shortname><shortname>student<\/shortname><\/allowview>/);
  const same = e.importPreset(xml);
  assert.equal(same.permissionsSet, 0);
  assert.deepEqual(same.changed, []);
  // Reset the student role's permissions to the teacher archetype, and only them.
  const before = e.toObject().roles[4];
  const r = e.resetRole(5, { archetype: "teacher" }, ["permissions"]);
  assert.deepEqual(r.changed, ["permissions"]);
  assert.ok(r.permissionsSet > 10);
  assert.deepEqual(e.toObject().roles[4], before);
  assert.equal(e.capabilityOverview("moodle/grade:viewall", [5])[0].definition, "allow");
  throwsCode(() => e.resetRole(5, { archetype: "wizard" }, ["permissions"]), "unknown_archetype");
  throwsCode(() => e.resetRole(5, { nothing: true }, ["colour"]), "bad_part");
  throwsCode(() => e.resetRole(99, { nothing: true }, ["name"]), "unknown_role");
  // Viewable roles: the admin (user 2) sees all ten; the guest account none.
  assert.deepEqual(e.viewableRoles(2, 1), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(e.viewableRoles(1, 1), []);
  throwsCode(() => e.viewableRoles(2, 999), "unknown_context");
});

test("the public TypeScript surface has no `any`", async () => {
  const fs = await import("node:fs");
  const path = await import("node:path");
  const { root } = await import("./load.mjs");
  for (const dir of ["node", "web"]) {
    for (const f of ["capstan_wasm.d.ts", "index.d.ts"]) {
      const text = fs.readFileSync(path.join(root, "target/npm", dir, f), "utf8");
      // `InitOutput` (web build only) describes the raw WebAssembly exports that `init()`
      // resolves to; it is wasm-bindgen's plumbing, not the API.
      const code = text
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/\/\/.*$/gm, "")
        .replace(/export interface InitOutput \{[\s\S]*?\n\}/, "");
      assert.doesNotMatch(code, /\bany\b/, `${dir}/${f}`);
    }
  }
});

test("effectivePermissions (decoded in JS) agrees with hasCapability, also after edits", () => {
  const e = Engine.fromObject(site);
  const at = { at: "2029-01-01T00:00:00Z" };
  const check = () => {
    for (const user of [0, 2, 10, 99]) {
      for (const p of e.effectivePermissions(user, 3, at)) {
        assert.equal(p.allowed, e.hasCapability(user, p.capability, 3, at), `${user} ${p.capability}`);
        assert.equal(p.capabilityId, e.capabilityId(p.capability));
        assert.equal(typeof p.reason, "string");
      }
    }
  };
  check();
  e.apply({ op: "put_capability", capability: { name: "mod/quiz:attempt", captype: "write", contextlevel: "module" } });
  e.apply({ op: "set_permission", role: 5, context: 1, capability: "mod/quiz:attempt", permission: "allow" });
  check();
  assert.ok(e.effectivePermissions(10, 3, at).some((p) => p.capability === "mod/quiz:attempt" && p.allowed));
  assert.equal(e.effectivePermissions(2, 3, at)[0].rule, "site_admin");
});

test("bundles: a user's own slice answers like the site, refuses the rest, is never edited", () => {
  const e = Engine.fromObject(site);
  const text = e.bundle(10, { contexts: [3] });
  const doc = JSON.parse(text);
  assert.deepEqual(doc.bundle, { user: 10, contexts: [3] });
  assert.deepEqual(doc.users.map((u) => u.id), [10]);
  assert.deepEqual(doc.settings.site_admins, []);
  const b = Engine.fromJson(text);
  assert.equal(b.bundleUser, 10);
  assert.equal(e.bundleUser, undefined);
  const at = { at: "2026-06-01T00:00:00Z" };
  assert.equal(b.hasCapability(10, "moodle/course:view", 3, at), e.hasCapability(10, "moodle/course:view", 3, at));
  throwsCode(() => b.hasCapability(2, "moodle/course:view", 3, at), "out_of_bundle");
  throwsCode(() => b.usersWithCapability("moodle/course:view", 3, at), "out_of_bundle");
  throwsCode(() => b.unsupportedAssignments(), "out_of_bundle");
  throwsCode(() => b.contextsWithCapability(10, "moodle/course:view", "course", at), "out_of_bundle");
  throwsCode(() => b.apply({ op: "set_permission", role: 5, context: 3, capability: "moodle/course:view", permission: "prevent" }), "out_of_bundle");
  throwsCode(() => e.bundle(10, { contexts: [99] }), "unknown_context");
  throwsCode(() => e.bundle(10, { rooms: [3] }), "bad_argument");
  // contextsWithCapability and its plan.
  assert.deepEqual(e.contextsWithCapability(10, "moodle/course:view", "course", at), [3]);
  assert.deepEqual(e.contextsWithCapability(2, "moodle/course:view", "course", { ...at, doAnything: false }), []);
  const plan = e.contextsWithCapabilityPlan(10, "moodle/course:view", "course", at);
  assert.deepEqual(plan, { includeUnder: ["/1"], excludeUnder: [], include: [], exclude: [] });
  throwsCode(() => e.contextsWithCapability(10, "moodle/course:view", "galaxy", at), "bad_argument");
  const whole = Engine.fromJson(e.bundle(10));
  assert.deepEqual(whole.contextsWithCapability(10, "moodle/course:view", "course", at), [3]);
});
