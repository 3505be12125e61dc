// Node benchmark of the capstan npm package against @cedar-policy/cedar-wasm and @casl/ability.
//
//   cargo xtask wasm
//   cargo run --release -p capstan -- generate --out target/bench-site.json
//   node crates/wasm/js/bench/bench.mjs target/bench-site.json
//
// Every figure is a median: of batch means for per-call timings (batches of BATCH calls over a
// pre-drawn pseudo-random mix of questions), of whole runs for one-off operations.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../../..");
const require = createRequire(import.meta.url);
const { Engine } = require(path.join(root, "target/npm/node"));
const cedar = require("@cedar-policy/cedar-wasm/nodejs");
const { createMongoAbility, subject } = require("@casl/ability");

const sitePath = process.argv[2] ?? path.join(root, "target/bench-site.json");
const text = fs.readFileSync(sitePath, "utf8");
const site = JSON.parse(text);
const BATCH = 4096;
const ROUNDS = 41;
const AT = "2026-06-01T12:00:00Z";

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
function perCall(fn, n = BATCH, rounds = ROUNDS) {
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return median(samples);
}
let state = 0x2545f491;
function rand(n) {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % n;
}
const fmt = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
const results = [];
const report = (name, ns, extra = "") => {
  results.push({ name, ns });
  console.log(`${name.padEnd(46)} ${fmt(ns).padStart(12)}  ${extra}`);
};

// ---- capstan
const loads = [];
let engine;
for (let i = 0; i < 5; i++) {
  const t0 = process.hrtime.bigint();
  engine = Engine.fromJson(text);
  loads.push(Number(process.hrtime.bigint() - t0));
}
engine.setDefaultTime(AT);
report("capstan fromJson (large site)", median(loads));

// A learner's course-page bundle: cut in the engine, loaded as a page would load it.
{
  const courseIds = new Set(site.contexts.filter((c) => c.level === "course").map((c) => c.id));
  const a = site.assignments.find((x) => courseIds.has(x.context));
  const cut = [];
  let page;
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    page = engine.bundle(a.user, { contexts: [a.context] });
    cut.push(Number(process.hrtime.bigint() - t0));
  }
  const load = [];
  for (let i = 0; i < 50; i++) {
    const t0 = process.hrtime.bigint();
    Engine.fromJson(page).free();
    load.push(Number(process.hrtime.bigint() - t0));
  }
  report("capstan bundle cut (course page)", median(cut), `${page.length} B, ${zlib.gzipSync(page, { level: 9 }).length} B gzip`);
  report("capstan bundle fromJson (course page)", median(load));
}

const users = site.users.map((u) => u.id);
const contexts = site.contexts.map((c) => c.id);
const caps = site.capabilities.map((c) => c.name);
const capIds = caps.map((c) => engine.capabilityId(c));
const triples = new Uint32Array(BATCH * 3);
const named = [];
for (let i = 0; i < BATCH; i++) {
  const u = users[rand(users.length)], c = rand(caps.length), x = contexts[rand(contexts.length)];
  triples[i * 3] = u; triples[i * 3 + 1] = capIds[c]; triples[i * 3 + 2] = x;
  named.push([u, caps[c], x]);
}
let sink = 0;
const capstanCheck = perCall(() => {
  for (let i = 0; i < BATCH; i++) sink += engine.check(triples[i * 3], triples[i * 3 + 1], triples[i * 3 + 2]) ? 1 : 0;
});
report("capstan check (numeric), per call", capstanCheck);
report("capstan checkMany, per triple", perCall(() => { sink += engine.checkMany(triples)[0]; }));
// A page's worth of questions, as a front end asks them while rendering: one user, one course
// and its activities, every capability; 64 such pages in turn.
const byParent = new Map();
for (const c of site.contexts) if (c.parent != null) (byParent.get(c.parent) ?? byParent.set(c.parent, []).get(c.parent)).push(c.id);
const courseIds = site.contexts.filter((c) => c.level === "course").map((c) => c.id);
const page = new Uint32Array(BATCH * 3);
for (let i = 0; i < BATCH; i++) {
  const p = Math.floor(i / 64) % 64;
  const course = courseIds[(p * 17) % courseIds.length];
  const ctxs = [course, ...(byParent.get(course) ?? [])];
  page[i * 3] = users[p]; page[i * 3 + 1] = capIds[(i * 7919) % capIds.length]; page[i * 3 + 2] = ctxs[i % ctxs.length];
}
report("capstan check (numeric), page mix, per call", perCall(() => {
  for (let i = 0; i < BATCH; i++) sink += engine.check(page[i * 3], page[i * 3 + 1], page[i * 3 + 2]) ? 1 : 0;
}));
report("capstan checkMany, page mix, per triple", perCall(() => { sink += engine.checkMany(page)[0]; }));
const opts = { at: AT };
report("capstan hasCapability (strings), per call", perCall(() => {
  for (const [u, c, x] of named) sink += engine.hasCapability(u, c, x, opts) ? 1 : 0;
}));
const courses = site.contexts.filter((c) => c.level === "course").map((c) => c.id);
report("capstan effectivePermissions (all caps)", perCall(() => {
  for (let i = 0; i < 64; i++) sink += engine.effectivePermissions(users[i], courses[i % courses.length], opts).length;
}, 64));

// ---- the same kind of question for cedar-wasm and CASL: one capability, role grants at a
// context reaching its subtree, prohibits (Cedar `forbid`, CASL `cannot`) in subtrees.
const parent = new Map(site.contexts.map((c) => [c.id, c.parent ?? null]));
const ancestors = (id) => { const out = []; for (let c = id; c != null; c = parent.get(c)) out.push(c); return out; };
const systemId = site.contexts.find((c) => c.level === "system").id;
const capName = caps.find((name) => site.permissions.some((p) => p.capability === name && p.permission === "allow" && p.context === systemId));
const allowing = new Set(site.permissions.filter((p) => p.capability === capName && p.context === systemId && p.permission === "allow").map((p) => p.role));
const prohibits = site.permissions.filter((p) => p.capability === capName && p.permission === "prohibit");
const sample = users.slice(0, 200);
const asg = site.assignments.filter((a) => sample.includes(a.user) && !a.from && !a.until);
const questions = [];
for (let i = 0; i < 1024; i++) questions.push([sample[rand(sample.length)], contexts[rand(contexts.length)]]);

// Cedar: Grant::"role@context" groups, permit per grant for the capability over its subtree,
// forbid per prohibit row; the entity slice is passed with each call (as cedar-wasm requires).
const grants = [...new Set(asg.filter((a) => allowing.has(a.role)).map((a) => `${a.role}@${a.context}`))];
let policies = grants.map((g, i) => `@id("p${i}") permit(principal in Grant::"${g}", action == Action::"check", resource in Ctx::"${g.split("@")[1]}");`);
policies = policies.concat(prohibits.map((p, i) => `@id("f${i}") forbid(principal in Role::"${p.role}", action == Action::"check", resource in Ctx::"${p.context}");`));
const pset = { staticPolicies: policies.join("\n") };
const parsed = cedar.preparsePolicySet("capstan-bench", pset);
if (parsed.type !== "success") throw new Error(JSON.stringify(parsed));
const ctxEntity = (id) => ({ uid: { type: "Ctx", id: String(id) }, attrs: {}, parents: parent.get(id) != null ? [{ type: "Ctx", id: String(parent.get(id)) }] : [] });
const userEntities = (u) => {
  const mine = asg.filter((a) => a.user === u);
  const out = [{ uid: { type: "User", id: String(u) }, attrs: {}, parents: mine.map((a) => ({ type: "Grant", id: `${a.role}@${a.context}` })) }];
  for (const a of mine) out.push({ uid: { type: "Grant", id: `${a.role}@${a.context}` }, attrs: {}, parents: [{ type: "Role", id: String(a.role) }] });
  return out;
};
const cedarCalls = questions.map(([u, x]) => ({
  principal: { type: "User", id: String(u) },
  action: { type: "Action", id: "check" },
  resource: { type: "Ctx", id: String(x) },
  context: {},
  preparsedPolicySetId: "capstan-bench",
  entities: [...userEntities(u), ...ancestors(x).map(ctxEntity)],
}));
const cedarNs = perCall(() => {
  for (const call of cedarCalls) {
    const a = cedar.statefulIsAuthorized(call);
    sink += a.type === "success" && a.response.decision === "allow" ? 1 : 0;
  }
}, cedarCalls.length, 11);
const capstanSame = perCall(() => {
  const id = engine.capabilityId(capName);
  for (const [u, x] of questions) sink += engine.check(u, id, x) ? 1 : 0;
}, questions.length);
report(`cedar-wasm statefulIsAuthorized (${policies.length} policies)`, cedarNs, `capstan check on the same questions ${fmt(capstanSame)} → ${(cedarNs / capstanSame).toFixed(0)}× faster`);

// CASL: one ability per user (built once, as an app would), `can` on a subject carrying its
// ancestor ids; `cannot` rules after `can` rules so that a prohibit wins.
const abilities = new Map();
for (const u of sample) {
  const rules = asg.filter((a) => a.user === u && allowing.has(a.role)).map((a) => ({ action: "check", subject: "Ctx", conditions: { path: a.context } }));
  const roles = new Set(asg.filter((a) => a.user === u).map((a) => a.role));
  for (const p of prohibits) if (roles.has(p.role)) rules.push({ action: "check", subject: "Ctx", conditions: { path: p.context }, inverted: true });
  abilities.set(u, createMongoAbility(rules));
}
const caslSubjects = questions.map(([u, x]) => [abilities.get(u), subject("Ctx", { id: x, path: ancestors(x) })]);
const caslNs = perCall(() => {
  for (const [ability, s] of caslSubjects) sink += ability.can("check", s) ? 1 : 0;
}, caslSubjects.length);
report("CASL ability.can (indexed rules, per user)", caslNs, `capstan ${fmt(capstanSame)} → ${(capstanSame / caslNs).toFixed(2)}× CASL's time`);

// ---- size
const wasmPath = path.join(root, "target/npm/web/capstan_wasm_bg.wasm");
const wasm = fs.readFileSync(wasmPath);
const cedarWasm = fs.readFileSync(path.join(here, "../node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm_bg.wasm"));
console.log(`size: capstan ${wasm.length} B raw, ${zlib.gzipSync(wasm, { level: 9 }).length} B gzip; cedar-wasm ${cedarWasm.length} B raw, ${zlib.gzipSync(cedarWasm, { level: 9 }).length} B gzip`);
if (sink === -1) console.log(sink);
