// End to end against the real server (target/debug/capstan-server serving dist/): sign in,
// edit a role and push it, a second browser sees the change after sync, and an edit made
// offline on a stale revision shows the conflict when the browser comes back online.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveServer, launch, newPage, shot } from './lib.mjs';

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
  assert.match(text, /set_permission/);
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
