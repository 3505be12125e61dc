// The npm package's live client against the real server, in Node: a learner's page connects,
// answers from its own bundle, and sees an admin's edit without asking again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { serveServer, root, request } from './lib.mjs';

const require = createRequire(import.meta.url);
const { connect, CapstanError } = require(join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'npm', 'node'));

let srv;
before(async () => { srv = await serveServer(); });
after(() => srv?.stop());

const api = (method, path, token, body) => request(srv.url, method, path, token, body);

async function until(what, ok, ms = 5000) {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

test('connect: the learner\'s own bundle, kept live by /events', async () => {
  const admin = (await api('POST', '/api/v1/sessions', null, { username: 'admin', password: 'e2e-admin-pass' })).body.token;
  const site = (await api('GET', '/api/v1/site', admin)).body;
  const courses = new Set(site.contexts.filter((c) => c.level === 'course').map((c) => c.id));
  const admins = new Set(site.settings.site_admins);
  // The tenant a context is in: the one whose category or tenant context is on its path.
  const byId = new Map(site.contexts.map((c) => [c.id, c]));
  const tenantOf = (id) => {
    for (let c = byId.get(id); c; c = byId.get(c.parent)) {
      const t = (site.tenants ?? []).find((x) => x.category === c.id || x.context === c.id);
      if (t) return t.id;
    }
    return null;
  };
  const a = site.assignments.find((x) => courses.has(x.context) && !admins.has(x.user)
    && site.users.find((u) => u.id === x.user && !u.deleted && !u.suspended && (u.tenant ?? null) === tenantOf(x.context)));
  const learner = site.users.find((u) => u.id === a.user);
  assert.equal((await api('PUT', `/api/v1/users/${learner.id}/password`, admin, { password: 'learner-pass-1' })).status, 204);
  const token = (await api('POST', '/api/v1/sessions', null, { username: learner.username, password: 'learner-pass-1' })).body.token;
  const cap = 'moodle/course:view';
  const perms = await connect({ baseUrl: srv.url, token, contexts: [a.context] });
  const asked = async () => (await api('POST', '/api/v1/check', token, { user: learner.id, capability: cap, context: a.context })).body.allowed;
  assert.equal(perms.can(cap, a.context), await asked());
  assert.equal(perms.engine.bundleUser, learner.id);
  assert.equal(perms.getSnapshot(), perms.getSnapshot(), 'the same snapshot until something changes');
  assert.throws(() => perms.engine.hasCapability(2, cap, a.context), (e) => e instanceof CapstanError && e.code === 'out_of_bundle');
  const before = perms.getSnapshot();
  let calls = 0;
  const stop = perms.subscribe(() => { calls++; });
  // An admin prohibits the capability in that course for every authenticated user.
  const rev = (await api('GET', '/api/v1/changes?since=0', admin)).body.revision;
  const t0 = Date.now();
  const r = await api('POST', '/api/v1/changes', admin, { base_revision: rev, ops: [
    { op: 'set_permission', role: site.settings.default_user_role, context: a.context, capability: cap, permission: 'prohibit' }] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await until('the bundle to change', () => perms.getSnapshot().revision === r.body.revision);
  console.log(`# edit to the client's answer: ${Date.now() - t0} ms`);
  assert.equal(perms.can(cap, a.context), false);
  assert.equal(perms.can(cap, a.context), await asked());
  assert.ok(calls >= 1, 'subscribers were told');
  assert.notEqual(perms.getSnapshot(), before);
  // Edit to the client's answer, 20 times over (prohibit, then back to not set).
  const times = [];
  for (let i = 0; i < 20; i++) {
    const base = perms.getSnapshot().revision;
    const permission = i % 2 === 0 ? null : 'prohibit';
    const t = Date.now();
    const e = await api('POST', '/api/v1/changes', admin, { base_revision: base, ops: [
      { op: 'set_permission', role: site.settings.default_user_role, context: a.context, capability: cap, permission }] });
    assert.equal(e.status, 200, JSON.stringify(e.body));
    await until('the bundle to follow', () => perms.getSnapshot().revision === e.body.revision);
    times.push(Date.now() - t);
    assert.equal(perms.can(cap, a.context), await asked());
  }
  times.sort((x, y) => x - y);
  console.log(`# edit to the client's answer, median of 20: ${times[10]} ms (max ${times[19]} ms)`);
  stop();
  perms.close();
  await assert.rejects(connect({ baseUrl: srv.url, token: 'nonsense' }), (e) => e.code === 'unauthenticated');
});
