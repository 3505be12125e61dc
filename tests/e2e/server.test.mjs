// End to end against the real server (target/debug/capstan-server serving dist/): sign in,
// edit a role and push it, a second browser sees the change after sync, and an edit made
// offline on a stale revision shows the conflict when the browser comes back online.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { serveServer, launch, newPage, shot, request, idbKeys } from './lib.mjs';

let srv, browser;
before(async () => { srv = await serveServer(); browser = await launch(); });
after(async () => { await browser?.close(); srv?.stop(); });

async function go(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((h) => location.hash === h, hash);
}

async function status(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.querySelector('#sync-status')?.textContent ?? ''), re.source);
  return page.locator('#sync-status').innerText();
}

/** A browser profile of its own, signed in as the admin. */
async function signedIn() {
  const context = await browser.newContext();
  const page = await newPage(context, srv.url + '#/site');
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'e2e-admin-pass');
  await page.click('#login-form button[type=submit]');
  await status(page, /in sync with server revision \d+/);
  return { context, page };
}

/** Sets a permission of role 5 (student) in the role editor. */
async function setPermission(page, cap, value) {
  await go(page, '#/roles/5');
  await page.waitForSelector('#capability-table');
  await page.click(`#capability-table tr[data-cap="${cap}"] input[value=${value}]`);
  await page.waitForSelector(`#capability-table tr[data-cap="${cap}"].perm-${value}`);
}

async function push(page) {
  await go(page, '#/site');
  await page.click('#sync-push');
}

test('an edit pushed from one browser reaches another; a stale offline edit shows the conflict', async () => {
  const a = await signedIn();
  const b = await signedIn();
  await go(a.page, '#/roles/5');
  await a.page.waitForSelector('#capability-table');
  const caps = await a.page.locator('#capability-table tr[data-cap]').evaluateAll((rows) => rows.map((r) => r.dataset.cap));
  const [first, second] = caps;
  // A edits and pushes: revision 1.
  await setPermission(a.page, first, 'prohibit');
  await push(a.page);
  assert.match(await status(a.page, /pushed 1 edit\(s\) as revision 1/), /revision 1/);
  await shot(a.page, 'server-pushed');
  // B pulls and sees it.
  await go(b.page, '#/site');
  await b.page.click('#sync-pull');
  await status(b.page, /in sync with server revision 1/);
  await go(b.page, '#/roles/5');
  await b.page.waitForSelector(`#capability-table tr[data-cap="${first}"].perm-prohibit`);
  // B goes offline and edits; the push waits.
  await b.context.setOffline(true);
  await setPermission(b.page, second, 'prevent');
  await push(b.page);
  await status(b.page, /offline: the edits stay here/);
  // Meanwhile A pushes revision 2.
  await setPermission(a.page, second, 'allow');
  await push(a.page);
  await status(a.page, /as revision 2/);
  // B comes back: its queued edit is pushed on reconnect and the conflict is shown, unmerged.
  await b.context.setOffline(false);
  await go(b.page, '#/site');
  await b.page.evaluate(() => window.dispatchEvent(new Event('online')));
  await b.page.waitForSelector('#conflict');
  const text = await b.page.locator('#conflict').innerText();
  assert.match(text, /revision 2/);
  // What the other change did, by name, and who made it.
  assert.ok(text.includes(`${second} for `), text);
  assert.match(text, /: Allow/);
  assert.match(text, /\(admin\), .+ \(revision 2\)/);
  assert.doesNotMatch(text, /set_permission/);
  await shot(b.page, 'server-conflict');
  // Resolve: take theirs, replay mine on top, push.
  await b.page.click('#conflict-rebase');
  await status(b.page, /in sync with server revision 2/);
  await b.page.click('#sync-push');
  await status(b.page, /as revision 3/);
  await go(a.page, '#/site');
  await a.page.click('#sync-pull');
  await status(a.page, /revision 3/);
  await go(a.page, '#/roles/5');
  await a.page.waitForSelector(`#capability-table tr[data-cap="${second}"].perm-prevent`);
  assert.deepEqual(a.page.errors, []);
  // The browser itself logs the refused push (409) and the fetch that failed offline.
  assert.deepEqual(b.page.errors.filter((e) => !/status of 409 \(Conflict\)|Failed to fetch|ERR_INTERNET_DISCONNECTED/.test(e)), []);
  await a.context.close();
  await b.context.close();
});

test('the app follows /events: another admin\'s push shows "the site changed on the server" without polling', async () => {
  const a = await signedIn();
  const b = await signedIn();
  const before = Number((await b.page.locator('.toolbar .base').innerText()).match(/revision (\d+)/)[1]);
  // Nothing to announce while both are current.
  assert.equal(await b.page.locator('#server-changed').count(), 0);
  await go(a.page, '#/roles/5');
  await a.page.waitForSelector('#capability-table');
  const cap = await a.page.locator('#capability-table tr[data-cap]').nth(2).getAttribute('data-cap');
  await setPermission(a.page, cap, 'prevent');
  await push(a.page);
  await status(a.page, new RegExp(`as revision ${before + 1}`));
  // B learns it from the event stream: no request of its own.
  await b.page.waitForSelector('#server-changed');
  assert.match(await b.page.locator('#server-changed').innerText(), new RegExp(`revision ${before + 1}, this browser has revision ${before}`));
  assert.equal(await a.page.locator('#server-changed').count(), 0, 'the pusher is current');
  await shot(b.page, 'server-changed');
  await b.page.click('#server-changed button');
  await status(b.page, new RegExp(`in sync with server revision ${before + 1}`));
  await b.page.waitForSelector('#server-changed', { state: 'detached' });
  await go(b.page, '#/roles/5');
  await b.page.waitForSelector(`#capability-table tr[data-cap="${cap}"].perm-prevent`);
  assert.deepEqual(a.page.errors, []);
  assert.deepEqual(b.page.errors, []);
  await a.context.close();
  await b.context.close();
});

test('signing in never sends the demo site\'s edits to the server; signing out warns about unpushed edits', async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await newPage(context, srv.url + '#/roles/5');
  const dialogs = [];
  page.on('dialog', (d) => dialogs.push(d.message()));
  await page.waitForSelector('#capability-table');
  const caps = await page.locator('#capability-table tr[data-cap]').evaluateAll((rows) => rows.map((r) => r.dataset.cap));
  // An edit of the demo site, in this browser only, before signing in.
  await setPermission(page, caps[5], 'prohibit');
  const admin = (await request(srv.url, 'POST', '/api/v1/sessions', null, { username: 'admin', password: 'e2e-admin-pass' })).body.token;
  const before = (await request(srv.url, 'GET', '/api/v1/changes?since=0', admin)).body.revision;
  await go(page, '#/site');
  const download = page.waitForEvent('download');
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'e2e-admin-pass');
  await page.click('#login-form button[type=submit]');
  assert.equal((await download).suggestedFilename(), 'capstan-offline-site.json');
  await status(page, /1 edit\(s\) of the demo site were not sent to the server: they are in capstan-offline-site\.json/);
  assert.match(dialogs[0], /holds 1 edit\(s\) of the demo site, not of the server's site/);
  // Nothing reached the server, and the app holds the server's site without the edit.
  assert.equal((await request(srv.url, 'GET', '/api/v1/changes?since=0', admin)).body.revision, before);
  await go(page, '#/roles/5');
  await page.waitForSelector(`#capability-table tr[data-cap="${caps[5]}"]`);
  assert.equal(await page.locator(`#capability-table tr[data-cap="${caps[5]}"].perm-prohibit`).count(), 0);
  // An edit not pushed yet: signing out asks first.
  await setPermission(page, caps[6], 'prevent');
  await go(page, '#/site');
  await page.click('#sign-out');
  await page.waitForFunction(() => /removed from this browser/.test(document.querySelector('#sync-status')?.textContent ?? ''));
  assert.match(dialogs[1], /1 edit\(s\) are not pushed to the server yet/);
  assert.deepEqual(page.errors, []);
  await context.close();
});

// TOTP (RFC 6238, SHA-1, 30 s, 6 digits) for the staff member's authenticator.
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 255); bits -= 8; }
  }
  return Buffer.from(out);
}
function totp(secret) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const h = createHmac('sha1', base32(secret)).update(counter).digest();
  const o = h[19] & 15;
  const n = (((h[o] & 127) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3]) % 1e6;
  return String(n).padStart(6, '0');
}
const api = (method, path, token, body) => request(srv.url, method, path, token, body);

test('support access in the app: the pending request banner, allow with a scope and a duration, revoke', async () => {
  const admin = (await api('POST', '/api/v1/sessions', null, { username: 'admin', password: 'e2e-admin-pass' })).body.token;
  const made = await api('POST', '/api/v1/support/staff', admin, { username: 'vendor.e2e', password: 'staff-pass-1' });
  assert.equal(made.status, 201);
  const staff = await api('POST', '/api/v1/support/sessions', null, { username: 'vendor.e2e', password: 'staff-pass-1', totp: totp(made.body.totp_secret) });
  assert.equal(staff.status, 201, JSON.stringify(staff.body));
  const asked = await api('POST', '/api/v1/support/requests', staff.body.token, { reason: 'ticket 99: quiz grades', scope: { site: true, tenants: [1] } });
  assert.equal(asked.status, 201, JSON.stringify(asked.body));
  const a = await signedIn();
  await go(a.page, '#/support');
  await a.page.waitForSelector('#support-pending');
  assert.match(await a.page.locator('#support-pending').innerText(), /1 support request/);
  // Narrow the scope to the top-level site, two days.
  await a.page.uncheck(`#allow-${asked.body.id}-tenant-1`);
  await a.page.fill('#grant-days', '2');
  await shot(a.page, 'support-pending');
  await a.page.click('.allow-request');
  await a.page.waitForSelector('#support-grants .dot.green');
  // The app took in the site with the temporary support user.
  await a.page.waitForSelector('#support-users .dot.green');
  const grants = (await api('GET', '/api/v1/support/grants', admin)).body;
  assert.deepEqual(grants[0].scope, { site: true, tenants: [] });
  const days = (Date.parse(grants[0].expires_at) - Date.parse(grants[0].created_at)) / 86400000;
  assert.equal(days, 2);
  const me = (await api('GET', '/api/v1/sessions/current', staff.body.token)).body;
  assert.equal(me.support.identifier, grants[0].identifier);
  await a.page.click('#support-refresh');
  await a.page.waitForSelector('#support-log li');
  assert.match(await a.page.locator('#support-log').innerText(), new RegExp(grants[0].identifier));
  await shot(a.page, 'support-granted');
  await a.page.click('#support-grants button.danger');
  await a.page.waitForSelector('#support-grants .dot.red');
  assert.equal((await api('GET', '/api/v1/sessions/current', staff.body.token)).body.user, null);
  assert.deepEqual(a.page.errors, []);
  await a.context.close();
});

test('the app runs under the server\'s Content-Security-Policy; the token stays in the tab; sign-out takes the site away', async () => {
  const a = await signedIn();
  const r = await a.context.request.get(srv.url);
  const csp = r.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'sha256-/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(r.headers()['x-content-type-options'], 'nosniff');
  const screens = ['#/roles', '#/roles/3', '#/contexts', '#/contexts/16?tab=check&user=3', '#/reports/unsupported',
    '#/heatmap', '#/tenants', '#/tenants/visibility?user=3', '#/support', '#/site'];
  for (const h of screens) {
    await go(a.page, h);
    await a.page.waitForSelector('main h1');
  }
  // The bearer token is in session storage only.
  const stored = await a.page.evaluate(() => ({
    local: Object.keys(localStorage).map((k) => localStorage.getItem(k)).join('\n'),
    session: sessionStorage.getItem('capstan.session.v1') ?? '',
  }));
  const token = JSON.parse(stored.session).token;
  assert.ok(token && token.length > 20);
  assert.ok(!stored.local.includes(token), 'the token is in local storage');
  // Signing out removes the server's site from the browser.
  await go(a.page, '#/site');
  await a.page.click('#sign-out');
  await status(a.page, /server's site was removed from this browser/);
  const after = await a.page.evaluate(() => ({
    base: localStorage.getItem('capstan.base.v1'),
    session: sessionStorage.getItem('capstan.session.v1'),
    state: localStorage.getItem('capstan.state.v1') ?? '',
  }));
  assert.equal(after.base, null);
  for (let i = 0; i < 50 && (await idbKeys(a.page)).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await idbKeys(a.page), [], 'the site text left IndexedDB');
  assert.equal(after.session, null);
  assert.match(after.state, /"kind":"demo"/);
  assert.equal((await api('GET', '/api/v1/sessions/current', token)).status, 401);
  // Kept on purpose, it stays.
  await a.page.fill('#login-username', 'admin');
  await a.page.fill('#login-password', 'e2e-admin-pass');
  await a.page.click('#login-form button[type=submit]');
  await status(a.page, /in sync with server revision \d+/);
  await a.page.check('#keep-offline');
  await a.page.click('#sign-out');
  await status(a.page, /the site stays in this browser/);
  assert.equal((await idbKeys(a.page)).length, 1, 'the kept site stays in IndexedDB');
  assert.deepEqual(a.page.errors, []);
  await a.context.close();
});

test('support staff accounts in the app: create (second factor shown once), disable, enable, reset the second factor', async () => {
  const { context, page } = await signedIn();
  await go(page, '#/support');
  await page.waitForSelector('#staff-form');
  await page.fill('#staff-username', 'vendor.app');
  await page.fill('#staff-fullname', 'Vendor Person');
  await page.fill('#staff-password', 'a-long-passphrase-1');
  await page.click('#staff-create');
  await page.waitForSelector('#staff-secret', { timeout: 10000 }).catch(async (e) => { throw new Error(e.message + ' message: ' + await page.locator('#staff-message').innerText()); });
  const first = await page.locator('#staff-secret-value').innerText();
  assert.match(first, /^[A-Z2-7]{32}$/);
  const row = page.locator('#staff-table tr[data-staff="vendor.app"]');
  await row.waitFor();
  assert.equal(await row.locator('.staff-status').innerText(), 'Active');
  await row.locator('.staff-disable').click();
  await page.waitForFunction(() => document.querySelector('#staff-table tr[data-staff="vendor.app"] .staff-status')?.textContent === 'Disabled');
  // The server says so too.
  const t = (await request(srv.url, 'POST', '/api/v1/sessions', null, { username: 'admin', password: 'e2e-admin-pass' })).body.token;
  const list = (await request(srv.url, 'GET', '/api/v1/support/staff', t)).body;
  assert.equal(list.find((a) => a.username === 'vendor.app').disabled, true);
  await row.locator('.staff-enable').click();
  await page.waitForFunction(() => document.querySelector('#staff-table tr[data-staff="vendor.app"] .staff-status')?.textContent === 'Active');
  await row.locator('.staff-totp').click();
  await page.waitForFunction((old) => { const s = document.querySelector('#staff-secret-value')?.textContent; return s && s !== old; }, first);
  await shot(page, 'support-staff');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the audit log screen: readable times, filters by who and by user, pages', async () => {
  const { context, page } = await signedIn();
  await go(page, '#/audit');
  await page.waitForSelector('#audit-table tbody tr');
  const times = await page.locator('#audit-table tbody tr td:first-child').allInnerTexts();
  assert.ok(times.length > 0);
  for (const t of times) assert.match(t, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  // Everyone but support staff: no support identity in the list.
  await page.selectOption('#audit-support', 'no');
  await page.waitForFunction(() => !/— support /.test(document.querySelector('#audit-table')?.textContent ?? '—'));
  // By user: the admin's own entries only.
  await page.fill('#audit-user-search', 'admin');
  const admin = await page.locator('#audit-user option', { hasText: '(admin)' }).first().getAttribute('value');
  await page.selectOption('#audit-user', admin);
  await page.waitForFunction(() => {
    const who = [...document.querySelectorAll('#audit-table tbody tr td:nth-child(2)')].map((td) => td.textContent);
    return who.length > 0 && who.every((w) => /\(admin\)/.test(w));
  });
  // A time window in the future holds nothing.
  await page.fill('#audit-from', '2099-01-01T00:00');
  await page.locator('#audit-from').dispatchEvent('change');
  await page.waitForFunction(() => /^0 entries/.test(document.querySelector('#audit-count')?.textContent ?? ''));
  await shot(page, 'audit-log');
  // Clearing the filters brings every entry back.
  await page.click('#audit-clear');
  await page.waitForFunction(() => !/^0 entries/.test(document.querySelector('#audit-count')?.textContent ?? '0 entries'));
  assert.equal(await page.inputValue('#audit-from'), '');
  assert.deepEqual(page.errors, []);
  await context.close();
});
