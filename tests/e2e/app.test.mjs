// End-to-end tests of the admin app in Debian's headless Chromium, against the built app
// (dist/) served as static files: no server at all, the offline-first case.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { serveStatic, launch, newPage, shot, axe, shots, root } from './lib.mjs';

const require = createRequire(import.meta.url);

let srv, browser;
before(async () => { srv = await serveStatic(); browser = await launch(); });
after(async () => { await browser?.close(); srv?.stop(); });

/** A fresh browser profile (empty storage) on the app. */
async function fresh(hash = '#/roles') {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await newPage(context, srv.url + hash);
  return { context, page };
}

async function go(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((h) => location.hash === h, hash);
}

/** Clicks a radio and measures, in the page, the time until the live preview shows the new
 * revision (performance.now() on both sides). */
async function timedEdit(page, radioSelector) {
  return page.evaluate(async (sel) => {
    const preview = document.querySelector('#preview');
    const before = preview?.dataset.rev;
    const t0 = performance.now();
    document.querySelector(sel).click();
    for (;;) {
      const p = document.querySelector('#preview');
      if (p && p.dataset.rev !== before) return performance.now() - t0;
      if (performance.now() - t0 > 5000) throw new Error(`no preview update after clicking ${sel}`);
      await new Promise((r) => setTimeout(r, 0));
    }
  }, radioSelector);
}

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

test('every screen renders with no console error and no serious accessibility violation', async () => {
  const { context, page } = await fresh();
  const screens = ['#/roles', '#/audit', '#/roles?tab=assign', '#/roles/3', '#/roles/new', '#/contexts', '#/contexts/16?tab=assign&role=5',
    '#/contexts/16?tab=permissions&role=5', '#/contexts/16?tab=check&user=3', '#/contexts/16?tab=switch&role=5', '#/reports/overview?cap=moodle/course:view',
    '#/reports/unsupported', '#/heatmap', '#/tenants', '#/tenants/visibility?user=3', '#/support', '#/site'];
  const problems = [];
  for (const h of screens) {
    await go(page, h);
    await page.waitForSelector('main h1');
    const v = await axe(page);
    if (v.length) problems.push(`${h}: ${v.join('; ')}`);
    await shot(page, 'screen-' + h.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, ''));
  }
  assert.deepEqual(problems, []);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('create a role from an archetype, then reload keeps it', async () => {
  const { context, page } = await fresh('#/roles/new');
  await page.selectOption('#base', 'a:teacher');
  await page.fill('#new-shortname', 'bad name!');
  await page.click('#new-role-form button[type=submit]');
  // The browser's own pattern check or ours refuses it; nothing is created.
  assert.equal(await page.locator('#roles-table').count(), 0);
  await page.fill('#new-shortname', 'mentor');
  await page.fill('#new-name', '<span lang="en" class="multilang">Mentor</span><span lang="fr" class="multilang">Tuteur</span>');
  await page.click('#new-role-form button[type=submit]');
  await page.waitForSelector('#role-form');
  assert.match(await page.locator('main h1').first().innerText(), /Edit role: Mentor$/);
  await shot(page, 'create-role');
  await page.reload();
  await page.waitForSelector('#role-form');
  await go(page, '#/roles');
  await page.waitForSelector('#roles-table');
  const row = page.locator('#roles-table tr[data-role=mentor]');
  assert.equal(await row.count(), 1);
  assert.match(await row.innerText(), /Mentor\s+mentor\s+Non-editing teacher \(teacher\)/);
  // The multilang name is text, never markup.
  assert.equal(await page.locator('#roles-table span[lang]').count(), 0);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('prohibit in a role definition changes Check permissions with the reason, live', async () => {
  const { context, page } = await fresh('#/roles/3');
  await page.waitForSelector('#preview[data-rev]');
  const user = await page.inputValue('#preview-user');
  const ctx = await page.inputValue('#preview-context');
  // A capability the editing teacher role allows in its definition and the user holds here.
  const allowed = await page.locator('#preview-allowed code').evaluateAll((els) => els.map((e) => e.textContent));
  const defined = await page.locator('#capability-table tr.perm-allow').evaluateAll((rows) => rows.map((r) => r.dataset.cap));
  const cap = allowed.find((c) => defined.includes(c));
  assert.ok(cap, 'a capability allowed by the role');
  await go(page, `#/contexts/${ctx}?tab=check&user=${user}&cap=${encodeURIComponent(cap)}`);
  await page.waitForSelector('#why-verdict');
  // The user's roles here come first, with where each one is.
  assert.match(await page.locator('#check-roles').innerText(), /^Roles in this context: .+ \(in .+\)/);
  const before = await page.locator('#why-verdict').innerText();
  assert.match(before, /^Allowed/);
  await go(page, '#/roles/3');
  await page.waitForSelector('#preview[data-rev]');
  const ms = await timedEdit(page, `#capability-table tr[data-cap="${cap}"] input[value=prohibit]`);
  await go(page, `#/contexts/${ctx}?tab=check&user=${user}&cap=${encodeURIComponent(cap)}`);
  await page.waitForSelector('#why-verdict');
  const after = await page.locator('#why-verdict').innerText();
  assert.match(after, /^Not allowed — .*prohibit/);
  assert.match(await page.locator('#why-step').textContent(), /Step 9 of the evaluation order/);
  assert.equal(await page.locator(`#check-table tr[data-cap="${cap}"] td.no`).count(), 1);
  await shot(page, 'prohibit-check-permissions');
  console.log(`# live preview after one edit (demo site): ${ms.toFixed(1)} ms`);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('live preview latency on the demo site', async () => {
  const { context, page } = await fresh('#/roles/5');
  await page.waitForSelector('#preview[data-rev]');
  const caps = await page.locator('#capability-table tr[data-cap]').evaluateAll((rows) => rows.slice(0, 20).map((r) => r.dataset.cap));
  const demo = [];
  for (const c of caps) demo.push(await timedEdit(page, `#capability-table tr[data-cap="${c}"] input:not(:checked)`));
  console.log(`# live preview, edit to updated preview: demo median ${median(demo).toFixed(1)} ms (n=${demo.length})`);
  // The large generated site (100,000 contexts, 5,000 users): load it, then the same edits.
  await go(page, '#/site');
  const t0 = Date.now();
  await page.click('#load-large');
  await page.waitForFunction(() => /large site generated and compiled/.test(document.body.textContent));
  const loadMs = Date.now() - t0;
  await go(page, '#/roles/5');
  await page.waitForSelector('#preview[data-rev]', { timeout: 60000 });
  const largeCaps = await page.locator('#capability-table tr[data-cap]').evaluateAll((rows) => rows.slice(0, 10).map((r) => r.dataset.cap));
  const large = [];
  for (const c of largeCaps) large.push(await timedEdit(page, `#capability-table tr[data-cap="${c}"] input:not(:checked)`));
  console.log(`# large site: loaded in ${loadMs} ms; live preview median ${median(large).toFixed(1)} ms (n=${large.length})`);
  await shot(page, 'large-site-edit-role');
  writeFileSync(join(shots, 'latency.json'), JSON.stringify({ demo, demoMedian: median(demo), large, largeMedian: median(large), largeLoadMs: loadMs }));
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('assign a role in a course, override in an activity, switch-role preview', async () => {
  const { context, page } = await fresh('#/contexts/16?tab=assign&role=5');
  await page.waitForSelector('#potential-users option');
  // 300 users: more than the list shows, and it says so instead of cutting silently.
  assert.match(await page.locator('#potential-more').innerText(), /^Too many users \(\d+\) to list: the first 200 are shown; search to narrow the list\.$/);
  assert.equal(await page.locator('#potential-users option').count(), 200);
  const first = await page.locator('#potential-users option').first().innerText();
  await page.fill('#potential-search', first.split(' (')[0]);
  await page.waitForSelector('#potential-more', { state: 'detached' });
  assert.ok(await page.locator('#potential-users option').count() >= 1);
  const before = await page.locator('#existing-users option').count();
  const value = await page.locator('#potential-users option').first().getAttribute('value');
  await page.selectOption('#potential-users', [value]);
  await page.click('#assign-add');
  await page.waitForFunction((n) => document.querySelectorAll('#existing-users option').length === n + 1, before);
  await shot(page, 'assign-roles');
  // An activity below the course: override the student role there.
  await page.click('details.children summary');
  const activity = page.locator('#children a', { hasText: 'Activity' }).first();
  const href = await activity.getAttribute('href');
  const id = href.split('/').pop();
  await go(page, `#/contexts/${id}?tab=permissions&role=5`);
  await page.waitForSelector('#override-table tr[data-cap]');
  const row = page.locator('#override-table tr[data-cap]:not(.locked)').first();
  const cap = await row.getAttribute('data-cap');
  await row.locator('input[value=prohibit]').click();
  await page.waitForSelector(`#override-table tr[data-cap="${cap}"].perm-prohibit`);
  assert.match(await page.locator('#notice').innerText(), /override .*: Prohibit/);
  await shot(page, 'override-activity');
  // Switch role preview in the course.
  await go(page, '#/contexts/16?tab=switch');
  await page.selectOption('#switch-role', '5');
  await page.waitForSelector('#switch-table tr[data-cap]');
  assert.match(await page.locator('#switch-note').innerText(), /Courses and programs visible: \d+/);
  await shot(page, 'switch-role-preview');
  // Undo the override, then redo it.
  await page.click('#undo');
  await page.click('#redo');
  // The override page names the role and the context.
  await go(page, `#/contexts/${id}?tab=permissions&role=5`);
  await page.waitForSelector('#override-title');
  assert.match(await page.locator('#override-title').innerText(), /^Override permissions for role .+ in Activity: .+/);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('export a preset XML and import it back as a new role; bad XML is refused', async () => {
  const { context, page } = await fresh('#/roles');
  await page.waitForSelector('#roles-table');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#roles-table tr[data-role=student] button', { hasText: 'Export XML' }).click(),
  ]);
  const path = join(shots, 'student.xml');
  await download.saveAs(path);
  const xml = readFileSync(path, 'utf8');
  assert.match(xml, /<shortname>student<\/shortname>/);
  const copy = join(shots, 'learner.xml');
  writeFileSync(copy, xml.replace('<shortname>student</shortname>', '<shortname>learner</shortname>'));
  await page.setInputFiles('#import-preset', copy);
  await page.waitForSelector('#roles-table tr[data-role=learner]');
  assert.match(await page.locator('#notice').innerText(), /created role learner/);
  const bad = join(shots, 'bad.xml');
  writeFileSync(bad, '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><role><shortname>x</shortname></role>');
  await page.setInputFiles('#import-preset', bad);
  await page.waitForSelector('#notice.error');
  assert.match(await page.locator('#notice').innerText(), /error\[/);
  await shot(page, 'preset-import');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('start from Moodle 4.5 defaults: Moodle names, presets as Moodle writes them, reset with options, import asks first', async () => {
  const { context, page } = await fresh('#/site');
  const dialogs = [];
  page.on('dialog', (d) => dialogs.push(d.message()));
  await page.click('#load-moodle');
  await page.waitForFunction(() => /742 capabilities/.test(document.querySelector('#site-summary')?.textContent ?? ''));
  assert.match(await page.locator('#site-summary').innerText(), /Moodle 4\.5 defaults/);
  await go(page, '#/roles');
  await page.waitForSelector('#roles-table tr[data-role=teacher]');
  // Standard roles have no stored name: Moodle's English names are shown.
  assert.match(await page.locator('#roles-table tr[data-role=teacher]').innerText(), /^Non-editing teacher\s+teacher/);
  assert.match(await page.locator('#roles-table tr[data-role=frontpage]').innerText(), /Authenticated user on site home/);
  // Export: Moodle's exporter's bytes, named <shortname>.xml; without allowview on request.
  const exportXml = async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#roles-table tr[data-role=teacher] button', { hasText: 'Export XML' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'teacher.xml');
    const path = join(shots, 'moodle-teacher.xml');
    await download.saveAs(path);
    return readFileSync(path, 'utf8');
  };
  const xml = await exportXml();
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<role><shortname>teacher<\/shortname><name\/><description\/><archetype>teacher<\/archetype><contextlevels><level>course<\/level><level>module<\/level><\/contextlevels>/);
  assert.match(xml, /<allowview><shortname>coursecreator<\/shortname><shortname>editingteacher<\/shortname><shortname>teacher<\/shortname><shortname>student<\/shortname><\/allowview>/);
  await page.check('#export-legacy');
  assert.doesNotMatch(await exportXml(), /allowview/);
  // Reset the non-editing teacher's permissions (only) from the student archetype.
  await go(page, '#/roles/4');
  await page.waitForSelector('#role-form');
  await page.click('#reset-role');
  await page.waitForSelector('#reset-panel');
  await page.selectOption('#reset-source', 'a:student');
  for (const part of ['archetype', 'contextlevels', 'allow_assign', 'allow_override', 'allow_switch', 'allow_view']) {
    await page.uncheck(`#reset-${part}`);
  }
  await page.waitForFunction(() => /^This changes: Permissions \(\d+ capabilities\)\.$/.test(document.querySelector('#reset-impact')?.textContent ?? ''));
  await shot(page, 'reset-role');
  const cap = 'moodle/grade:viewall';
  assert.equal(await page.locator(`#capability-table tr[data-cap="${cap}"] input[value=allow]`).isChecked(), true);
  await page.click('#reset-apply');
  await page.waitForSelector('#reset-panel', { state: 'detached' });
  assert.equal(await page.locator(`#capability-table tr[data-cap="${cap}"] input[value=inherit]`).isChecked(), true);
  assert.equal(await page.inputValue('#role-archetype'), 'teacher', 'the archetype was not reset');
  assert.equal(await page.isChecked('#level-course'), true, 'its context types are shown');
  assert.equal(await page.isChecked('#level-system'), false);
  // Importing the first export over the role asks first, naming what changes.
  await go(page, '#/roles');
  await page.waitForSelector('#roles-table');
  await page.setInputFiles('#import-preset', join(shots, 'moodle-teacher.xml'));
  await page.waitForFunction(() => /replaced role teacher/.test(document.querySelector('#notice')?.textContent ?? ''));
  assert.match(dialogs.at(-1), /replaces parts of the existing role Non-editing teacher \(teacher\): permissions, \d+ capabilities change/);
  await go(page, '#/roles/4');
  await page.waitForSelector('#capability-table');
  assert.equal(await page.locator(`#capability-table tr[data-cap="${cap}"] input[value=allow]`).isChecked(), true);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('tenant isolation toggled changes the visibility preview', async () => {
  const { context, page } = await fresh('#/tenants');
  await page.waitForSelector('#tenants-table');
  await page.locator('details.members').first().locator('summary').click();
  const member = page.locator('details.members').first().locator('a').first();
  const href = await member.getAttribute('href');
  await go(page, href);
  await page.waitForSelector('#vis-summary');
  const count = async () => Number((await page.locator('#vis-summary').innerText()).split(' ')[0]);
  const before = await count();
  await go(page, '#/tenants');
  await page.check('#isolation');
  await go(page, href);
  await page.waitForSelector('#vis-summary');
  const after = await count();
  assert.ok(after < before, `isolation hides site-level items from members (${before} → ${after})`);
  assert.ok(await page.locator('#vis-table td', { hasText: 'tenant isolation' }).count() > 0);
  await shot(page, 'tenant-visibility');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('suspending a tenant or turning isolation on asks first; Undo unticks the box again', async () => {
  const { context, page } = await fresh('#/tenants');
  const dialogs = [];
  page.on('dialog', (d) => dialogs.push(d.message()));
  await page.waitForSelector('#tenants-table');
  // Contexts by name, not by number.
  const cells = await page.locator('#tenants-table tbody tr').first().locator('td a').allInnerTexts();
  assert.equal(cells.length, 2);
  for (const c of cells) assert.doesNotMatch(c, /^\d+$/, `a bare id: ${c}`);
  const box = page.locator('#tenants-table input.tenant-suspended').first();
  await box.check();
  await page.waitForSelector('#notice.ok');
  assert.match(await page.locator('#notice').innerText(), /suspended/);
  assert.doesNotMatch(await page.locator('#notice').innerText(), /^tenant \d/);
  assert.match(dialogs[0], /^Suspend .+\? Its \d+ member\(s\) can no longer sign in/);
  assert.equal(await box.isChecked(), true);
  await page.click('#undo');
  await page.waitForFunction(() => !document.querySelector('#tenants-table input.tenant-suspended').checked);
  await page.check('#isolation');
  assert.match(dialogs[1], /^Turn tenant isolation on\?/);
  await page.click('#undo');
  await page.waitForFunction(() => !document.querySelector('#isolation').checked);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('offline start: no server API, the site still works and sign-in fails clearly', async () => {
  const { context, page } = await fresh('#/site');
  const r = await page.evaluate(async () => (await fetch('/api/v1/site')).status);
  assert.notEqual(r, 200);
  await page.waitForSelector('#site-summary');
  assert.match(await page.locator('#site-summary').innerText(), /1200 contexts, 300 users/);
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'x');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => /sign-in failed/.test(document.querySelector('#sync-status')?.textContent ?? ''));
  // Import a broken snapshot: refused with its code, nothing changes.
  const bad = join(shots, 'bad-site.json');
  writeFileSync(bad, '{"format": "capstan/1", "contexts": [{"id": 1, "level": "system", "parent": 1}]}');
  await page.setInputFiles('#import-site', bad);
  await page.waitForSelector('#notice.error');
  assert.match(await page.locator('#notice').innerText(), /error\[/);
  assert.match(await page.locator('#site-summary').innerText(), /1200 contexts/);
  await shot(page, 'offline-site-data');
  await context.close();
});

test('with no network a reload starts the app from its service worker, with the site and an Offline badge', async () => {
  const { context, page } = await fresh('#/roles/new');
  await page.waitForSelector('#new-role-form');
  await page.selectOption('#base', 'a:student');
  await page.fill('#new-shortname', 'offlinecheck');
  await page.click('#new-role-form button[type=submit]');
  await page.waitForSelector('#role-form');
  // Wait until the worker holds the files this page was started from.
  await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    await new Promise((resolve) => {
      navigator.serviceWorker.addEventListener('message', (e) => { if (e.data?.cached) resolve(); });
      reg.active.postMessage({ cache: [location.href.split('#')[0]].concat(performance.getEntriesByType('resource').map((e) => e.name)) });
    });
  });
  await context.setOffline(true);
  // The browser says it is offline: the badge shows.
  await page.waitForSelector('#offline-badge');
  await go(page, '#/roles');
  await page.reload();
  await page.waitForSelector('#roles-table tr[data-role=offlinecheck]');
  // (Playwright's offline emulation reports navigator.onLine = true to a reloaded page, so the
  // badge is checked above, on the browser's `offline` event.)
  await shot(page, 'offline-reload');
  await context.setOffline(false);
  await page.waitForSelector('#offline-badge', { state: 'detached' });
  await context.close();
});

test('a permission bundle opens read-only: it answers for its user, every edit is refused with a clear message', async () => {
  const { Engine } = require(join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'npm', 'node'));
  const site = Engine.fromJson(JSON.stringify({
    format: 'capstan/1',
    capabilities: [{ name: 'moodle/course:view', captype: 'read', contextlevel: 'course' }],
    contexts: [{ id: 1, level: 'system' }, { id: 2, level: 'coursecat', parent: 1 }, { id: 3, level: 'course', parent: 2 }],
    roles: [{ id: 5, shortname: 'student', contextlevels: ['course'] }],
    permissions: [{ role: 5, context: 1, capability: 'moodle/course:view', permission: 'allow' }],
    users: [{ id: 10, username: 'alice' }, { id: 11, username: 'bob' }],
    assignments: [{ user: 10, role: 5, context: 3 }, { user: 11, role: 5, context: 3 }],
  }));
  const file = join(shots, 'alice-bundle.json');
  writeFileSync(file, site.bundle(10, { contexts: [3] }));
  const { context, page } = await fresh('#/site');
  await page.setInputFiles('#import-site', file);
  await page.waitForSelector('#bundle-banner');
  assert.match(await page.locator('#bundle-banner').innerText(), /permission bundle.*alice \(user 10\).*edits are refused/);
  // An edit in the role editor is refused, and nothing changes.
  await go(page, '#/roles/5');
  await page.waitForSelector('#capability-table tr[data-cap="moodle/course:view"]');
  await page.click('#capability-table tr[data-cap="moodle/course:view"] input[value=prohibit]');
  await page.waitForSelector('#notice.error');
  assert.match(await page.locator('#notice').innerText(), /permission bundle.*cannot be edited.*out_of_bundle/);
  assert.equal(await page.locator('#capability-table tr[data-cap="moodle/course:view"].perm-prohibit').count(), 0);
  await shot(page, 'bundle-read-only');
  // Reloaded, it is still the bundle, still read-only.
  await page.reload();
  await page.waitForSelector('#bundle-banner');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('compare a role with its archetype and another role; the difference downloads as a preset that removes it', async () => {
  const { context, page } = await fresh('#/roles/5');
  await page.waitForSelector('#capability-table');
  // Make the student differ from Moodle's student defaults in one capability it allows.
  const cap = await page.locator('#capability-table tr.perm-allow').first().getAttribute('data-cap');
  await page.click(`#capability-table tr[data-cap="${cap}"] input[value=prohibit]`);
  await page.waitForSelector(`#capability-table tr[data-cap="${cap}"].perm-prohibit`);
  await page.click('#compare-role');
  await page.waitForSelector('#compare-panel');
  // The default other side is the role's archetype: Moodle's Student defaults.
  assert.equal(await page.inputValue('#compare-source'), 'a:student');
  await page.waitForSelector(`#compare-table tr[data-cap="${cap}"]`);
  assert.equal(await page.locator(`#compare-table tr[data-cap="${cap}"] td`).first().innerText(), 'Prohibit');
  assert.match(await page.locator('#compare-summary').innerText(), /^\d+ capabilit(y|ies) differs?/);
  // Risks are shown beside the capabilities that carry them.
  await page.selectOption('#compare-source', 'r:3');
  await page.waitForSelector('#compare-archetype');
  assert.ok(await page.locator('#compare-table .risk').count() > 0, 'risk badges');
  await shot(page, 'compare-roles');
  // The difference as a preset; imported over the student, nothing differs any more.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#compare-export')]);
  assert.equal(download.suggestedFilename(), 'student-difference.xml');
  const xml = readFileSync(await download.path(), 'utf8');
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<role><shortname>student<\/shortname>/);
  await go(page, '#/roles');
  await page.waitForSelector('#roles-table');
  const file = join(shots, 'student-difference.xml');
  writeFileSync(file, xml);
  await page.setInputFiles('#import-preset', file);
  await page.waitForFunction(() => /replaced role student/.test(document.querySelector('#notice')?.textContent ?? ''));
  await go(page, '#/roles/5');
  await page.waitForSelector('#capability-table');
  await page.click('#compare-role');
  await page.selectOption('#compare-source', 'r:3');
  await page.waitForFunction(() => /^No difference/.test(document.querySelector('#compare-summary')?.textContent ?? ''));
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('arrow keys move along the permission table without editing; Enter applies; Ctrl+Z and Ctrl+Shift+Z undo and redo', async () => {
  const { context, page } = await fresh('#/roles/5');
  await page.waitForSelector('#capability-table tr[data-cap]');
  const rows = page.locator('#capability-table tr[data-cap]');
  const second = await rows.nth(1).getAttribute('data-cap');
  const classes = async () => [await rows.nth(0).getAttribute('class'), await rows.nth(1).getAttribute('class')];
  const before = await classes();
  const target = before[1] === 'perm-prevent' ? 'prohibit' : 'prevent';
  await rows.nth(0).locator('input[value=inherit]').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  if (target === 'prohibit') await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  const focused = await page.evaluate(() => [document.activeElement.closest('tr').dataset.cap, document.activeElement.value]);
  assert.deepEqual(focused, [second, target]);
  assert.deepEqual(await classes(), before, 'moving the focus edits nothing');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  await page.waitForSelector(`#capability-table tr[data-cap="${second}"].perm-${target}`);
  await page.keyboard.press('Control+z');
  await page.waitForFunction(([cap, cls]) => document.querySelector(`#capability-table tr[data-cap="${cap}"]`)?.className === cls, [second, before[1]]);
  await page.keyboard.press('Control+Shift+Z');
  await page.waitForSelector(`#capability-table tr[data-cap="${second}"].perm-${target}`);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("assigning a member of another tenant in a tenant's category asks first, naming both tenants", async () => {
  const { context, page } = await fresh('#/tenants');
  await page.waitForSelector('#tenants-table tbody tr');
  // The first tenant's category; its potential users include members of the other tenants.
  const category = await page.locator('#tenants-table tbody tr').first().locator('td:nth-of-type(2) a').getAttribute('href');
  const id = category.split('/').pop();
  await page.evaluate((h) => { location.hash = h; }, `#/contexts/${id}?tab=assign&role=1`);
  await page.waitForSelector('#potential-users option');
  await page.fill('#potential-search', 'member of');
  await page.waitForFunction(() => [...document.querySelectorAll('#potential-users option')].some((o) => / — member of /.test(o.textContent)));
  const option = page.locator('#potential-users option', { hasText: ' — member of ' }).first();
  const value = await option.getAttribute('value');
  const existingBefore = await page.locator('#existing-users option').count();
  // Cancel first: nothing is assigned.
  const messages = [];
  page.removeAllListeners('dialog');
  page.on('dialog', (d) => { messages.push(d.message()); if (messages.length === 1) d.dismiss(); else d.accept(); });
  await page.selectOption('#potential-users', [value]);
  await page.click('#assign-add');
  assert.match(messages[0], /belong\(s\) to another tenant than this context \(.+\)\. Totara refuses such assignments/);
  assert.equal(await page.locator('#existing-users option').count(), existingBefore);
  // Accept: assigned.
  await page.selectOption('#potential-users', [value]);
  await page.click('#assign-add');
  await page.waitForFunction((n) => document.querySelectorAll('#existing-users option').length === n + 1, existingBefore);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the impact of a change before it is made: who loses a capability where, then make the change', async () => {
  const { context, page } = await fresh('#/roles/5');
  await page.waitForSelector('#capability-table tr[data-cap]');
  // A capability the student role allows at the course or activity level.
  const cap = await page.locator('#capability-table tr.perm-allow').filter({ hasText: /· (Course|Activity module)\b/ }).first().getAttribute('data-cap');
  assert.ok(cap);
  await page.click('#impact-role');
  await page.waitForSelector('#impact-panel');
  await page.fill('#impact-cap', cap);
  await page.selectOption('#impact-value', 'prohibit');
  assert.match(await page.locator('#impact-context option:checked').innerText(), /^System/);
  await page.click('#impact-compute');
  await page.waitForSelector('#impact-summary');
  const summary = await page.locator('#impact-summary').innerText();
  assert.match(summary, new RegExp(`^This gives 0 user\\(s\\) ${cap.replace(/[/:]/g, '\\$&')} in 0 .* and removes it from [1-9]\\d* user\\(s\\) in [1-9]\\d* \\(\\d+ answers compared\\)`));
  assert.ok(await page.locator('#impact-lose-users li').count() > 0);
  assert.match(await page.locator('#impact-lose-contexts li').first().innerText(), /— \d+ user\(s\)$/);
  await page.locator('#impact-lose-users').scrollIntoViewIfNeeded();
  await shot(page, 'impact-preview');
  // Nothing changed yet; then the change is made.
  assert.equal(await page.locator(`#capability-table tr[data-cap="${cap}"]`).getAttribute('class'), 'perm-allow');
  await page.click('#impact-apply');
  await page.waitForSelector(`#capability-table tr[data-cap="${cap}"].perm-prohibit`);
  // Setting it back to Allow would give it back to the same people.
  await page.click('#impact-role');
  await page.fill('#impact-cap', cap);
  await page.selectOption('#impact-value', 'allow');
  await page.click('#impact-compute');
  await page.waitForFunction(() => /^This gives [1-9]/.test(document.querySelector('#impact-summary')?.textContent ?? ''));
  assert.deepEqual(page.errors, []);
  await context.close();
});
