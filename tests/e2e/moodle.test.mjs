// A real Moodle 4.5.6 site (shared/moodle/db, imported by `capstan-server --seed-moodle`) in
// the admin app: Moodle's role names, the site's category and course names, and an answer
// derived by hand from the site's overrides.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serveServer, launch, newPage, shot, root } from './lib.mjs';

let srv, browser;
before(async () => {
  const dump = join(root, '..', 'shared', 'moodle', 'db', 'moodle-4.5.6-xs.sql.gz');
  srv = await serveServer(['--seed-moodle', dump]);
  browser = await launch();
});
after(async () => { await browser?.close(); srv?.stop(); });

async function go(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((h) => location.hash === h, hash);
}

test('the admin app opens an imported Moodle site and answers from it', async () => {
  const context = await browser.newContext();
  const page = await newPage(context, srv.url + '#/site');
  // Moodle's own admin account (user 2) signs in.
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'e2e-admin-pass');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => /in sync with server revision 0/.test(document.querySelector('#sync-status')?.textContent ?? ''), null, { timeout: 30000 });
  await go(page, '#/roles');
  await page.waitForSelector('text=Non-editing teacher');
  const roles = await page.locator('main').innerText();
  for (const name of ['Manager', 'Course creator', 'Non-editing teacher', 'Authenticated user on site home', 'Parent mentor', 'Blocker']) {
    assert.ok(roles.includes(name), `role ${name} listed`);
  }
  await go(page, '#/contexts');
  await page.waitForSelector('text=Faculty A');
  const tree = await page.locator('main').innerText();
  for (const name of ['Faculty B', 'Category 1', 'Site home']) assert.ok(tree.includes(name), `${name} in the tree`);
  // Open Faculty A: its sub-category and course, by name.
  await page.click('li[role=treeitem]:has(> a:text-is("Category: Faculty A")) > button.twisty');
  await page.waitForSelector('text=Dept A1');
  assert.ok((await page.locator('main').innerText()).includes('Test course: XS'));
  await shot(page, 'moodle-contexts');
  // The search finds the activities by their names (50 assignments and pages: capped, said so).
  await page.fill('#ctx-search', 'Page');
  await page.waitForSelector('#ctx-results li');
  assert.match(await page.locator('#ctx-results').innerText(), /Activity: Page 1/);
  assert.match(await page.locator('#ctx-too-many').innerText(), /Too many to list \(\d+ match\)/);
  // Course creators are prohibited from creating courses in Faculty B [203]; creator1 (110)
  // may in Faculty A [201] from the system assignment.
  const cap = encodeURIComponent('moodle/course:create');
  await go(page, `#/contexts/203?tab=check&user=110&cap=${cap}`);
  await page.waitForSelector('#why-verdict');
  assert.match(await page.locator('#why-verdict').innerText(), /^Not allowed/);
  await shot(page, 'moodle-prohibit');
  await go(page, `#/contexts/201?tab=check&user=110&cap=${cap}`);
  await page.waitForFunction(() => /^Allowed/.test(document.querySelector('#why-verdict')?.textContent ?? ''));
  // The searchable user picker: plain1 (113) found by username among 113 users.
  await go(page, '#/contexts/24?tab=check');
  await page.fill('#check-user-search', 'plain1');
  await page.waitForFunction(() => document.querySelectorAll('#check-user option').length === 2);
  assert.match(await page.locator('#check-user-note').innerText(), /^1 of 113 match/);
  await page.selectOption('#check-user', '113');
  await page.waitForFunction(() => location.hash.includes('user=113'));
  await shot(page, 'moodle-user-picker');
  assert.deepEqual(page.errors, []);
  await context.close();
});
