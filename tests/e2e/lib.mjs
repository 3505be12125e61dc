// Shared harness: serve the built app (dist/) on 127.0.0.1, drive Debian's Chromium with
// playwright-core, collect console errors, save screenshots, run axe-core.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const shots = join(root, 'target', 'e2e-screenshots');
mkdirSync(shots, { recursive: true });

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitFor(url, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/** Serves the repository's files (for the npm package's example page) on a loopback origin
 * of its own, as an LMS would serve its pages. */
export async function serveRepo() {
  const http = await import('node:http');
  const fs = await import('node:fs');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const target = process.env.CARGO_TARGET_DIR || join(root, 'target');
  const server = http.createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    // The page imports ../../../target/npm/web: map /target to the real target folder.
    const file = path.startsWith('/target/') ? join(target, path.slice(8)) : join(root, path);
    if (!(file.startsWith(root) || file.startsWith(target)) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, stop: () => server.close() };
}

/** Serves dist/ as static files (no server API at all): the offline case. */
export async function serveStatic() {
  const port = await freePort();
  const child = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', join(root, 'dist')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(url);
  return { url, stop: () => child.kill('SIGKILL') };
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A new page that records console errors and page errors. */
export async function newPage(browserOrContext, url) {
  const page = await browserOrContext.newPage({ viewport: { width: 1400, height: 900 } });
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  if (url) {
    await page.goto(url);
    await page.waitForSelector('header.top');
  }
  return page;
}

/** The keys of the app's IndexedDB store (where it keeps the site's snapshot text). */
export async function idbKeys(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('capstan', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('kv');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const req = open.result.transaction('kv').objectStore('kv').getAllKeys();
      req.onsuccess = () => { open.result.close(); resolve(req.result); };
      req.onerror = () => reject(req.error);
    };
  }));
}

export async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

/** Runs axe-core; returns serious and critical violations. */
export async function axe(page) {
  const src = readFileSync(join(root, 'tests', 'e2e', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  await page.addScriptTag({ content: src });
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

/** Starts the real server (target/debug/capstan-server) on a fresh database seeded with the
 * demo site, serving dist/; the admin's password is `e2e-admin-pass`; `args` are more flags. */
export async function serveServer(args = []) {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'capstan-e2e-'));
  const port = await freePort();
  const bin = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'debug', 'capstan-server');
  const child = spawn(bin, ['--db', join(dir, 'capstan.db'), '--create', '--listen', `127.0.0.1:${port}`, '--dist', join(root, 'dist'), ...args],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, CAPSTAN_ADMIN_PASSWORD: 'e2e-admin-pass' } });
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(url + 'api/v1/openapi.json');
  return { url, stop: () => child.kill('SIGKILL') };
}

/** A JSON request to the server at `base` (`path` starts with `/`): `{status, body}`. */
export async function request(base, method, path, token, body) {
  const r = await fetch(base + path.slice(1), {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}
