// The plain-HTML example page, loaded in Debian's headless Chromium from a local server: the web
// package initialises in a real browser and the page shows a checked, explained answer.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { root } from "./load.mjs";

const { chromium } = createRequire(import.meta.url)("playwright-core");

const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
const chromiumPath = "/usr/bin/chromium";

test("the example page checks and explains in headless Chromium", { skip: !fs.existsSync(chromiumPath) && "no chromium" }, async () => {
  const server = http.createServer((req, res) => {
    const file = path.join(root, decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address();
  try {
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage",
      ],
    });
    try {
      const page = await browser.newPage();
      const errors = [];
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`http://127.0.0.1:${port}/crates/wasm/example/index.html`);
      await page.waitForSelector("#answer.yes", { timeout: 30000 }).catch((e) => { throw new Error(`${e.message}; page errors: ${errors.join(" | ")}`); });
      assert.equal(await page.textContent("#answer"), "Yes");
      const trace = await page.textContent("#trace");
      assert.match(trace, /step 10: an active role allows the capability/);
      assert.match(trace, /=> allow in 1/);
      // Ask again with a capability the site does not define: a CapstanError with its code.
      await page.fill("#capability", "moodle/nope:x");
      await page.click("#ask");
      await page.waitForSelector("#answer.no");
      assert.equal(await page.textContent("#answer"), "Error unknown_capability");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  } finally {
    server.close();
  }
});
