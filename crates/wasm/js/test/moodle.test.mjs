// The real Moodle 4.5.6 site, imported by the CLI (`capstan import moodle --dump`; `cargo xtask
// test` writes target/moodle/real.json before these tests), opened through the JS API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { capstan, root } from "./load.mjs";

const { Engine } = capstan;
const file = process.env.CAPSTAN_MOODLE_SITE ?? path.join(root, "target/moodle/real.json");

test("an imported Moodle site validates and answers in JS", () => {
  assert.ok(existsSync(file), `${file} is missing: run \`capstan import moodle --dump ../shared/moodle/db/moodle-4.5.6-xs.sql.gz --out ${file}\``);
  const text = readFileSync(file, "utf8");
  assert.deepEqual(Engine.validate(text), []);
  const e = Engine.fromJson(text);
  // A prohibit override at Faculty B [203] for course creators (creator1 = 110).
  assert.equal(e.hasCapability(110, "moodle/course:create", 203), false);
  assert.equal(e.hasCapability(110, "moodle/course:create", 201), true);
  // Course 2 [11] is locked: its editing teacher (106) may not write there, may read.
  assert.equal(e.hasCapability(106, "moodle/course:manageactivities", 11), false);
  assert.equal(e.hasCapability(106, "mod/assign:view", 12), true);
  // The guest's override in course 4 [24]; a deleted user (112) gets nothing.
  assert.equal(e.hasCapability(1, "moodle/course:viewparticipants", 24), true);
  assert.equal(e.hasCapability(112, "mod/assign:view", 25), false);
});
