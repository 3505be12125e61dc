// The large generated site (100,000 contexts, 6.6 MB) through the real server in Chromium:
// the site is downloaded once; pushes, pulls and reloads after that move edits, not sites; an
// edit made while a (slowed) push is under way is kept and pushed next; offline edits are
// pushed when the browser is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveServer, launch, newPage, shot, request, root } from './lib.mjs';

let srv, browser;
before(async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'capstan-large-')), 'large.json');
  const bin = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'debug', 'capstan');
  execFileSync(bin, ['generate', '--out', file], { stdio: 'ignore' });
  srv = await serveServer(['--seed', file]);
  browser = await launch();
});
after(async () => { await browser?.close(); srv?.stop(); });

const api = (method, path, token, body) => request(srv.url, method, path, token, body);

async function status(page, re, timeout = 30000) {
  await page.waitForFunction((src) => new RegExp(src).test(document.querySelector('#sync-status')?.textContent ?? ''), re.source, { timeout })
    .catch(async (e) => { throw new Error(`${e.message}; the status says: ${await page.locator('#sync-status').innerText().catch(() => '?')}; notice: ${await page.locator('#notice').innerText().catch(() => '-')}`); });
  return page.locator('#sync-status').innerText();
}

async function go(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((h) => location.hash === h, hash);
}

async function setPermission(page, cap, value) {
  await go(page, '#/roles/5');
  await page.waitForSelector(`#capability-table tr[data-cap="${cap}"]`, { timeout: 30000 });
  await page.click(`#capability-table tr[data-cap="${cap}"] input[value=${value}]`);
  await page.waitForSelector(`#capability-table tr[data-cap="${cap}"].perm-${value}`);
}

/** Clicks Push and measures, in the page, the time until the status says it was pushed. */
async function timedPush(page) {
  await go(page, '#/site');
  return page.evaluate(async () => {
    const before = document.querySelector('#sync-status').textContent;
    const t0 = performance.now();
    document.querySelector('#sync-push').click();
    for (;;) {
      const s = document.querySelector('#sync-status').textContent;
      if (s !== before && /pushed|refused|conflict|offline/.test(s)) return { ms: performance.now() - t0, status: s };
      if (performance.now() - t0 > 20000) throw new Error(`no answer to the push: ${s}`);
      await new Promise((r) => setTimeout(r, 0));
    }
  });
}

test('the large site: one download, then edits move, not sites', async () => {
  const context = await browser.newContext();
  const downloads = [];
  context.on('request', (r) => { if (r.method() === 'GET' && /\/api\/v1\/site$/.test(new URL(r.url()).pathname)) downloads.push(r.url()); });
  const page = await newPage(context, srv.url + '#/site');
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'e2e-admin-pass');
  const t0 = Date.now();
  await page.click('#login-form button[type=submit]');
  await status(page, /in sync with server revision 0/, 120000);
  console.log(`# first pull of the large site into a fresh browser: ${Date.now() - t0} ms`);
  assert.equal(downloads.length, 1);
  const caps = (await (await api('GET', '/api/v1/site', (await api('POST', '/api/v1/sessions', null, { username: 'admin', password: 'e2e-admin-pass' })).body.token)).body).capabilities.map((c) => c.name);
  // Edit, push: the base moves to revision 1 without a download.
  await setPermission(page, caps[0], 'prohibit');
  const first = await timedPush(page);
  assert.match(first.status, /pushed 1 edit\(s\) as revision 1/);
  const times = [];
  for (let i = 0; i < 5; i++) {
    await setPermission(page, caps[10 + i], i % 2 ? 'allow' : 'prevent');
    const p = await timedPush(page);
    assert.match(p.status, new RegExp(`as revision ${2 + i}`));
    times.push(p.ms);
  }
  times.sort((a, b) => a - b);
  console.log(`# push of one edit on the large site, median of 5: ${times[2].toFixed(1)} ms (first ${first.ms.toFixed(1)} ms)`);
  // Reload: the site comes back from the browser's database, the edits with it.
  await page.reload();
  await page.waitForSelector('header.top');
  await setPermission(page, caps[1], 'prevent');
  await page.waitForSelector(`#capability-table tr[data-cap="${caps[0]}"].perm-prohibit`);
  // Offline: the edit waits, and goes when the browser is back.
  await context.setOffline(true);
  const off = await timedPush(page);
  assert.match(off.status, /offline: the edits stay here/);
  await context.setOffline(false);
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
  await status(page, /pushed 1 edit\(s\) as revision 7/);
  // A slow push: an edit made meanwhile stays and is pushed next.
  await page.route('**/api/v1/changes', async (route) => {
    if (route.request().method() === 'POST') await new Promise((r) => setTimeout(r, 1500));
    await route.continue();
  });
  await setPermission(page, caps[2], 'prohibit');
  await go(page, '#/site');
  await page.click('#sync-push');
  await setPermission(page, caps[3], 'prohibit');
  await go(page, '#/site');
  await status(page, /pushed 1 edit\(s\) as revision 8; 1 later change\(s\) wait for the next push/);
  await page.unroute('**/api/v1/changes');
  const last = await timedPush(page);
  assert.match(last.status, /pushed 1 edit\(s\) as revision 9/);
  // Another admin's change comes in as a change, not a site.
  const admin = (await api('POST', '/api/v1/sessions', null, { username: 'admin', password: 'e2e-admin-pass' })).body.token;
  const r = await api('POST', '/api/v1/changes', admin, { base_revision: 9, ops: [
    { op: 'set_permission', role: 5, context: 1, capability: caps[4], permission: 'prohibit' }] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await page.waitForSelector('#server-changed', { timeout: 10000 });
  await go(page, '#/site');
  const pulled = await page.evaluate(async () => {
    const t0 = performance.now();
    document.querySelector('#server-changed button').click();
    for (;;) {
      const s = document.querySelector('#sync-status').textContent;
      if (/revision 10/.test(s)) return { ms: performance.now() - t0, status: s };
      if (performance.now() - t0 > 20000) throw new Error(`no pull: ${s}`);
      await new Promise((r) => setTimeout(r, 0));
    }
  });
  assert.match(pulled.status, /in sync with server revision 10 \(1 change\(s\) applied here\)/);
  console.log(`# incremental pull of another admin's edit on the large site: ${pulled.ms.toFixed(1)} ms`);
  await setPermission(page, caps[5], 'allow');
  await page.waitForSelector(`#capability-table tr[data-cap="${caps[4]}"].perm-prohibit`);
  // The server holds every edit; the browser downloaded the site once.
  const site = (await api('GET', '/api/v1/site', admin)).body;
  const row = (cap) => site.permissions.find((p) => p.role === 5 && p.context === 1 && p.capability === cap)?.permission;
  assert.equal(row(caps[0]), 'prohibit');
  assert.equal(row(caps[1]), 'prevent');
  assert.equal(row(caps[2]), 'prohibit');
  assert.equal(row(caps[3]), 'prohibit');
  assert.equal(downloads.length, 1, `the site was downloaded ${downloads.length} times`);
  await shot(page, 'large-site-synced');
  assert.deepEqual(page.errors.filter((e) => !/Failed to fetch|ERR_INTERNET_DISCONNECTED/.test(e)), []);
  await context.close();
});
