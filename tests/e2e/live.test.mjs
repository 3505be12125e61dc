// The npm package's live client against the real server: in Node, a learner's page connects,
// answers from its own bundle and sees an admin's edit without asking again; in Chromium, the
// plain-HTML example page (served from an origin of its own, as an LMS page) does the same while
// an admin edits in the admin app in another browser; and a React component (real react and
// react-dom, in jsdom) re-renders when the bundle changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { serveServer, serveRepo, launch, newPage, shot, root, request } from './lib.mjs';

const require = createRequire(import.meta.url);
const { connect, CapstanError } = require(join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'npm', 'node'));

let srv, repo;
before(async () => {
  repo = await serveRepo();
  srv = await serveServer(['--allow-origin', repo.origin]);
});
after(() => { srv?.stop(); repo?.stop(); });

const api = (method, path, token, body) => request(srv.url, method, path, token, body);

async function until(what, ok, ms = 5000) {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

const adminToken = async () => (await api('POST', '/api/v1/sessions', null, { username: 'admin', password: 'e2e-admin-pass' })).body.token;

/** A learner of the demo site with an assignment in a course (of `role` when given), signed in
 * with a password set by the admin: `{site, a (the assignment), learner, token, password}`. */
async function aLearner(admin, role) {
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
  const a = site.assignments.find((x) => courses.has(x.context) && !admins.has(x.user) && (role === undefined || x.role === role)
    && site.users.find((u) => u.id === x.user && !u.deleted && !u.suspended && (u.tenant ?? null) === tenantOf(x.context)));
  const learner = site.users.find((u) => u.id === a.user);
  const password = `learner-pass-${learner.id}`;
  assert.equal((await api('PUT', `/api/v1/users/${learner.id}/password`, admin, { password })).status, 204);
  const token = (await api('POST', '/api/v1/sessions', null, { username: learner.username, password })).body.token;
  return { site, a, learner, token, password };
}

test('connect: the learner\'s own bundle, kept live by /events', async () => {
  const admin = await adminToken();
  const { site, a, learner, token } = await aLearner(admin);
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

/** A capability the learner has in the context, given to it by `role`'s definition. */
async function allowedBy(token, learner, context, role) {
  const eff = (await api('POST', '/api/v1/effective-permissions', token, { user: learner, context })).body;
  for (const p of eff.filter((x) => x.allowed)) {
    const ex = (await api('POST', '/api/v1/explain', token, { user: learner, capability: p.capability, context })).body;
    if (ex.roles.some((r) => r.role === role && r.value === 'allow')) return p.capability;
  }
  throw new Error(`no capability of role ${role} allowed at ${context}`);
}

test('the example page, connected to the server from its own origin, follows an admin\'s edit in the admin app', async () => {
  const admin = await adminToken();
  const { a, learner, password, token } = await aLearner(admin, 5);
  const cap = await allowedBy(token, learner.id, a.context, 5);
  const browser = await launch();
  try {
    // The learner's page, on the LMS's origin.
    const page = await newPage(browser);
    await page.goto(`${repo.origin}/crates/wasm/example/index.html`);
    await page.waitForSelector('#answer.yes');
    await page.fill('#capability', cap);
    await page.fill('#context', String(a.context));
    await page.fill('#server', srv.url);
    await page.fill('#username', learner.username);
    await page.fill('#password', password);
    await page.click('#connect');
    await page.waitForFunction(() => document.querySelector('#live-answer').textContent === 'allowed');
    assert.match(await page.textContent('#live-state'), /live/);
    await shot(page, 'example-connected-allowed');
    // The admin, in another browser profile, prohibits it for the student role and pushes.
    const adminContext = await browser.newContext();
    const app = await newPage(adminContext, srv.url + '#/site');
    await app.fill('#login-username', 'admin');
    await app.fill('#login-password', 'e2e-admin-pass');
    await app.click('#login-form button[type=submit]');
    await app.waitForFunction(() => /in sync with server revision/.test(document.querySelector('#sync-status')?.textContent ?? ''));
    await app.evaluate(() => { location.hash = '#/roles/5'; });
    await app.waitForSelector(`#capability-table tr[data-cap="${cap}"]`);
    await app.click(`#capability-table tr[data-cap="${cap}"] input[value=prohibit]`);
    await app.waitForSelector(`#capability-table tr[data-cap="${cap}"].perm-prohibit`);
    await app.evaluate(() => { location.hash = '#/site'; });
    await app.click('#sync-push');
    await app.waitForFunction(() => /pushed 1 edit/.test(document.querySelector('#sync-status')?.textContent ?? ''));
    // The learner's page follows without a reload.
    await page.waitForFunction(() => document.querySelector('#live-answer').textContent === 'not allowed', null, { timeout: 10000 });
    await shot(page, 'example-connected-not-allowed');
    assert.deepEqual(page.errors, []);
    assert.deepEqual(app.errors, []);
  } finally {
    await browser.close();
  }
});

test('a React component (react-dom in jsdom) re-renders when the bundle changes', async () => {
  const { JSDOM } = await import('jsdom');
  const dom = new JSDOM('<!doctype html><div id="root"></div>');
  // react-dom reads the DOM from the globals.
  const shimmed = ['window', 'document', 'navigator'].filter((k) => !(k in globalThis));
  for (const k of shimmed) Object.defineProperty(globalThis, k, { value: dom.window[k], configurable: true, writable: true });
  try {
    const React = (await import('react')).default;
    const { createRoot } = await import('react-dom/client');
    const { useSyncExternalStore, useMemo, createElement: h } = React;
    const admin = await adminToken();
    const { site, a, learner, token } = await aLearner(admin, 5);
    const cap = await allowedBy(token, learner.id, a.context, 5);
    const perms = await connect({ baseUrl: srv.url, token, contexts: [a.context] });
    // The hook of the package's README.
    function useCan(capability, context) {
      const snapshot = useSyncExternalStore(perms.subscribe, perms.getSnapshot);
      return useMemo(() => perms.can(capability, context), [snapshot, capability, context]);
    }
    let renders = 0;
    function AttemptButton({ context }) {
      renders++;
      const allowed = useCan(cap, context);
      return h('button', { id: 'go', disabled: !allowed }, allowed ? 'Go' : 'Not allowed');
    }
    const root = createRoot(dom.window.document.getElementById('root'));
    root.render(h(AttemptButton, { context: a.context }));
    const button = () => dom.window.document.getElementById('go');
    await until('the first render', () => button() !== null);
    assert.equal(button().textContent, 'Go');
    const before = renders;
    const rev = (await api('GET', '/api/v1/changes?since=0', admin)).body.revision;
    const r = await api('POST', '/api/v1/changes', admin, { base_revision: rev, ops: [
      { op: 'set_permission', role: 5, context: site.contexts.find((c) => c.level === 'system').id, capability: cap, permission: 'prohibit' }] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await until('the component to re-render', () => button().textContent === 'Not allowed');
    assert.equal(button().disabled, true);
    assert.ok(renders > before);
    root.unmount();
    perms.close();
    // Let React's scheduler finish what unmounting queued before the shim goes.
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    for (const k of shimmed) delete globalThis[k];
  }
});
