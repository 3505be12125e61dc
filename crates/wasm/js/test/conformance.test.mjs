// Every public conformance scenario, run through the JS API (not through a Rust shortcut).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { capstan, corpus } from "./load.mjs";

const { Engine, CapstanError } = capstan;

function files(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.name.endsWith(".json")) out.push(p);
  }
  return out;
}

function answer(engine, text, q) {
  const opts = { doAnything: q.doanything ?? true, ...(q.at ? { at: q.at } : {}) };
  const at = q.at ? { at: q.at } : {};
  switch (q.op) {
    case "validate":
      return [...new Set(Engine.validate(text).map((i) => i.code))].sort();
    case "has_capability":
      return engine.hasCapability(q.user, q.capability, q.context, opts);
    case "users_with_capability":
      return engine.usersWithCapability(q.capability, q.context, at);
    case "can_assign":
      return engine.canAssign(q.user, q.role, q.context, at);
    case "can_override":
      return engine.canOverride(q.user, q.role, q.context, q.capability ?? undefined, at);
    case "can_switch":
      return engine.canSwitch(q.user, q.role, q.context, at);
    case "visible":
      return engine.isVisible(q.user, q.context, at);
    case "unsupported_assignments":
      return engine.unsupportedAssignments();
    case "contexts_with_capability":
      return engine.contextsWithCapability(q.user, q.capability, q.level, opts);
    default:
      throw new Error(`unknown op ${q.op}`);
  }
}

test("the public conformance corpus passes through the JS API", () => {
  const all = files(corpus);
  assert.ok(all.length >= 60, `corpus not found at ${corpus}`);
  let passed = 0;
  const failures = [];
  for (const f of all) {
    const text = fs.readFileSync(f, "utf8");
    const scenario = JSON.parse(text);
    let engine = null;
    try {
      engine = Engine.fromJson(text);
    } catch (e) {
      assert.ok(e instanceof CapstanError, `${f}: ${e}`);
    }
    scenario.queries.forEach((q, i) => {
      let got;
      try {
        if (!engine && q.op !== "validate") throw Object.assign(new Error("invalid"), { code: "invalid_snapshot" });
        got = answer(engine, text, q);
      } catch (e) {
        got = { error: e.code ?? String(e) };
      }
      const expected = q.expect_error != null ? { error: q.expect_error } : q.expect;
      try {
        assert.deepStrictEqual(got, expected);
        passed++;
      } catch {
        failures.push(`${path.relative(corpus, f)}: query ${i} (${q.op}): expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
      }
    });
  }
  console.log(`${passed} passed, ${failures.length} failed`);
  assert.deepStrictEqual(failures, []);
  assert.ok(passed > 3000);
});

test("every has_capability query of the corpus, asked of a bundle cut in JS, gives the expected answer", () => {
  let asked = 0;
  const failures = [];
  for (const f of files(corpus)) {
    const text = fs.readFileSync(f, "utf8");
    let engine;
    try {
      engine = Engine.fromJson(text);
    } catch {
      continue;
    }
    JSON.parse(text).queries.forEach((q, i) => {
      if (q.op !== "has_capability" || q.expect_error != null) return;
      let bundleText;
      try {
        bundleText = engine.bundle(q.user, { contexts: [q.context] });
      } catch (e) {
        // Another user's user context is not the user's to hold.
        assert.equal(e.code, "unknown_context", `${f}: ${e}`);
        return;
      }
      const mine = Engine.fromJson(bundleText);
      const opts = { doAnything: q.doanything ?? true, ...(q.at ? { at: q.at } : {}) };
      const got = mine.hasCapability(q.user, q.capability, q.context, opts);
      asked++;
      if (got !== q.expect) failures.push(`${path.relative(corpus, f)}: query ${i}: expected ${q.expect}, got ${got}`);
    });
  }
  assert.deepStrictEqual(failures, []);
  assert.ok(asked > 2000, `${asked}`);
});
