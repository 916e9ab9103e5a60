#!/usr/bin/env node
// `npm run test:browser`: the viewer in a real headless Chromium against a real `wrangler dev`.
//
// Starts wrangler dev on free ports with a fresh --persist-to dir (migrations applied, the Worker
// bundled once so edits to the tree mid-run cannot restart it), makes two keys, a public and a
// private dataset, runs a small job on each with the offline replay teacher, compiles releases,
// then drives Chromium (playwright-core, Debian's /usr/bin/chromium) through the pages: charts
// present, sign-in for the private dataset, click through to a sample's filter trace, the same
// 404 for another key as for nothing, sign-out. Screenshots go to a temp dir (paths printed).
//
// Runs with plain node (not vitest: `npm test` runs in workerd). CHROMIUM overrides the browser path.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { client } from "../../scripts/lib.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WRANGLER = join(ROOT, "node_modules/wrangler/wrangler-dist/cli.js");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PROBLEMS = 6;
const T0 = performance.now();
const log = (msg) => process.stdout.write(`[viewer ${((performance.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!existsSync(CHROMIUM)) {
  console.error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)`);
  process.exit(2);
}

const tmp = mkdtempSync(join(tmpdir(), "winnow-viewer-"));
const shots = mkdtempSync(join(tmpdir(), "winnow-viewer-shots-"));
const persist = join(tmp, "state");
const adminToken = `adm_${randomBytes(16).toString("hex")}`;
let wrangler = null;
let wranglerExit = null;
const wranglerLog = [];
let browser = null;

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

async function startWrangler(port, inspectorPort) {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1", FORCE_COLOR: "0" };
  const run = (args) => {
    const r = spawnSync(process.execPath, [WRANGLER, ...args], { cwd: ROOT, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  };
  log("applying D1 migrations to a fresh local database");
  run(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist]);
  log("bundling the Worker once (wrangler deploy --dry-run)");
  const dist = join(tmp, "dist");
  run(["deploy", "--dry-run", "--outdir", dist]);
  // A copy of wrangler.toml next to the bundle: no .dev.vars is read from there, so the run is
  // offline whatever the developer configured.
  let toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  toml = toml.replace(/^main\s*=.*$/m, `main = ${JSON.stringify(join(dist, "index.js"))}`);
  toml = toml.replace(/^migrations_dir\s*=.*$/m, `migrations_dir = ${JSON.stringify(join(ROOT, "d1/migrations"))}`);
  writeFileSync(join(tmp, "wrangler.toml"), toml);
  const args = [WRANGLER, "dev", "--config", join(tmp, "wrangler.toml"), "--no-bundle", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(inspectorPort),
    "--persist-to", persist, "--show-interactive-dev-session=false", "--var", `ADMIN_TOKEN:${adminToken}`];
  log(`starting wrangler dev on 127.0.0.1:${port}`);
  wrangler = spawn(process.execPath, args, { cwd: tmp, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  wrangler.on("exit", (code, sig) => (wranglerExit = code ?? sig ?? "exit"));
  for (const s of [wrangler.stdout, wrangler.stderr]) {
    s.setEncoding("utf8");
    s.on("data", (d) => wranglerLog.push(...d.split("\n").filter(Boolean)));
  }
}

async function stopWrangler() {
  if (!wrangler || wranglerExit !== null) return;
  try {
    process.kill(-wrangler.pid, "SIGTERM"); // its own process group: wrangler and workerd
  } catch {}
  for (let i = 0; i < 50 && wranglerExit === null; i++) await sleep(100);
  if (wranglerExit === null)
    try {
      process.kill(-wrangler.pid, "SIGKILL");
    } catch {}
}

async function main() {
  const port = await freePort();
  const BASE = `http://127.0.0.1:${port}`;
  await startWrangler(port, await freePort());

  const deadline = performance.now() + 120_000;
  for (;;) {
    if (wranglerExit !== null) throw new Error(`wrangler dev exited (${wranglerExit}):\n${wranglerLog.slice(-30).join("\n")}`);
    if (performance.now() > deadline) throw new Error(`wrangler dev not healthy after 120 s:\n${wranglerLog.slice(-30).join("\n")}`);
    if (await fetch(`${BASE}/healthz`).then((r) => r.ok, () => false)) break;
    await sleep(250);
  }
  log("wrangler dev is healthy");

  const http = client(BASE, null);
  const api = (method, path, { token, json, body, contentType } = {}) =>
    http.request(method, path, { auth: token, body: json ?? body, headers: contentType ? { "content-type": contentType } : {} });

  // -- data: two keys, a public and a private dataset, one replay job and one release each.
  const owner = (await api("POST", "/v1/keys", { token: adminToken, json: { name: "viewer-owner" } })).key;
  const other = (await api("POST", "/v1/keys", { token: adminToken, json: { name: "viewer-other" } })).key;
  assert.ok(owner && other, "keys were created");
  const suffix = randomBytes(3).toString("hex");
  const pub = `viewer-public-${suffix}`;
  const priv = `viewer-private-${suffix}`;
  const problems = readFileSync(join(ROOT, "examples/gsm8k/problems.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const jsonl = (rows) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  const upload = async (name, rows) => (await api("POST", `/v1/datasets/${name}/inputs`, { token: owner, body: jsonl(rows), contentType: "application/x-ndjson" })).id;
  async function runJob(name, rows) {
    const { id } = await api("POST", "/v1/jobs", {
      token: owner,
      json: {
        dataset: name,
        inputs: { upload: await upload(name, rows) },
        prompt: { system: "You are a careful math tutor.", user: "Solve step by step, end with 'A: <number>'.\n\n{{question}}" },
        generators: [{ provider: "replay", model: "gsm8k-gpt3", params: { temperature: 0.8, max_tokens: 1024 } }],
        candidates: 4,
        filters: [{ type: "length", min_chars: 20, max_chars: 8000 }, { type: "math_answer", reference: "{{answer}}" }],
        output: { kind: "sft" },
      },
    });
    return id;
  }
  async function finish(id) {
    const until = performance.now() + 180_000;
    for (;;) {
      const j = await api("GET", `/v1/jobs/${id}`, { token: owner });
      if (j.finished_at) {
        assert.equal(j.status, "done", `job ${id} ended ${j.status}: ${j.error}`);
        assert.ok(j.candidates.accepted > 0 && j.candidates.rejected > 0, `job ${id} has accepted and rejected candidates`);
        return;
      }
      if (performance.now() > until) throw new Error(`job ${id} did not finish: ${JSON.stringify(j)}`);
      await sleep(500);
    }
  }
  const release = async (name) => (await api("POST", `/v1/datasets/${name}/releases`, { token: owner })).version;

  const jobs = {};
  for (const [name, visibility] of [[pub, "public"], [priv, "private"]])
    await api("POST", "/v1/datasets", { token: owner, json: { name, visibility, license: "mit", description: `A ${visibility} dataset <b>for the viewer test</b>` } });
  // A human reference set makes releases report drift, when this tree's compiler does that.
  const reference = await upload(priv, problems.slice(100, 140).map((p) => ({ text: p.answer })));
  const patched = await fetch(`${BASE}/v1/datasets/${priv}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${owner}`, "content-type": "application/json" },
    body: JSON.stringify({ reference_upload: reference }),
  });
  log(patched.ok ? "reference set attached to the private dataset" : `no reference set (PATCH → ${patched.status}); drift is not checked`);
  for (const name of [pub, priv]) jobs[name] = await runJob(name, problems.slice(0, PROBLEMS));
  log(`jobs ${Object.values(jobs).join(", ")} started; waiting for them`);
  for (const id of Object.values(jobs)) await finish(id);
  const versions = { [pub]: await release(pub), [priv]: await release(priv) };
  // A second release of the private dataset, so there is a parent and a drift line over two.
  const second = await runJob(priv, problems.slice(PROBLEMS, 2 * PROBLEMS));
  await finish(second);
  const latest = await release(priv);
  log(`releases ${JSON.stringify(versions)} and ${priv} ${latest} compiled`);

  // -- the browser.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const shot = async (page, name) => {
    const path = join(shots, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    log(`screenshot ${path}`);
  };
  const watch = (page, issues) => {
    // The 404 and 401 pages this test asks for are logged as failed loads; anything else is a problem.
    page.on("console", (m) => m.type() === "error" && !/^Failed to load resource: .*\b(404|401)\b/.test(m.text()) && issues.push(`console: ${m.text()}`));
    page.on("pageerror", (e) => issues.push(`page error: ${e.message}`));
  };

  const anon = await browser.newContext();
  const page = await anon.newPage();
  const issues = [];
  watch(page, issues);

  // Home, anonymous: the public dataset, never the private one.
  let res = await page.goto(`${BASE}/`);
  assert.equal(res.status(), 200);
  assert.equal(await page.locator(`a[href="/d/${pub}"]`).count(), 1, "the public dataset is listed");
  assert.equal(await page.locator(`a[href="/d/${priv}"]`).count(), 0, "the private dataset is not listed anonymously");
  assert.ok((await page.content()).includes("&lt;b&gt;for the viewer test&lt;/b&gt;"), "descriptions are escaped");
  assert.equal(await page.evaluate(() => document.compatMode), "CSS1Compat", "standards mode");
  await shot(page, "home-anonymous");

  // Public dataset → its release: the charts, the files, the card.
  await page.click(`a[href="/d/${pub}"]`);
  await page.waitForURL(`${BASE}/d/${pub}`);
  await page.click(`table[data-table=releases] a:text("${versions[pub]}")`);
  await page.waitForURL(`${BASE}/d/${pub}/r/${versions[pub]}`);
  for (const chart of ["length-histogram", "filter-pass-rates", "teacher-shares"]) {
    const svg = page.locator(`svg[data-chart="${chart}"]`);
    assert.equal(await svg.count(), 1, `chart ${chart} is on the release page`);
    assert.ok((await svg.locator("rect").count()) > 0, `chart ${chart} has bars`);
  }
  assert.match(await page.locator("pre[data-card]").innerText(), /^---/, "the dataset card is shown");
  const publicHrefs = await page.locator("table[data-table=files] a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  assert.ok(publicHrefs.some((h) => /\/files\/data\/\S+\.jsonl\.gz$/.test(h)), `a data file is linked: ${publicHrefs.join(" ")}`);
  for (const href of publicHrefs) {
    assert.ok(href.startsWith(`/v1/datasets/${pub}/releases/${versions[pub]}/files/`), `public files link to the download API: ${href}`);
    assert.equal((await anon.request.get(BASE + href)).status(), 200, `download ${href}`);
  }
  assert.equal(await page.locator("table[data-table=release-jobs]").count(), 0, "jobs are the owner's only");
  await shot(page, "release-public");

  // Private dataset, anonymous: the same 404 page as a dataset that does not exist.
  res = await page.goto(`${BASE}/d/${priv}`);
  assert.equal(res.status(), 404);
  const notFoundText = await page.locator("main h1, main p").first().innerText();
  const missing = await page.goto(`${BASE}/d/no-such-dataset-${suffix}`);
  assert.equal(missing.status(), 404);
  assert.equal(await page.locator("main h1, main p").first().innerText(), notFoundText, "private and missing read the same");
  assert.equal((await page.goto(`${BASE}/d/${priv}/r/${versions[priv]}`)).status(), 404);

  // Sign in from the 404 page; it comes back to the dataset, and the key is in no URL.
  await page.goto(`${BASE}/d/${priv}`);
  await page.fill('input[name="key"]', "wn_not_a_key");
  await page.click('form.signin button[type="submit"]');
  assert.match(await page.locator(".error").innerText(), /not a key/);
  await page.fill('input[name="key"]', owner);
  await page.click('form.signin button[type="submit"]');
  await page.waitForURL(`${BASE}/d/${priv}`);
  assert.ok(!page.url().includes(owner), "the key is not in the URL");
  const [cookie] = await anon.cookies();
  assert.equal(cookie.httpOnly, true, "the session cookie is HttpOnly");
  assert.equal(cookie.sameSite, "Strict", "the session cookie is SameSite=Strict");
  assert.equal(await page.locator("table[data-table=jobs] tbody tr").count(), 2, "the owner sees the dataset's jobs");
  await shot(page, "dataset-private");

  // Release → samples of its job → one sample's filter trace.
  await page.click(`table[data-table=releases] a:text("${latest}")`);
  await page.waitForURL(`${BASE}/d/${priv}/r/${latest}`);
  assert.equal(await page.locator('svg[data-chart="filter-pass-rates"]').count(), 1);
  assert.equal(await page.locator(`a[href="/d/${priv}/r/${versions[priv]}"]`).count(), 1, "the parent release is linked");
  const stats = await (await anon.request.get(`${BASE}${await page.locator("table[data-table=files] a", { hasText: "stats.json" }).getAttribute("href")}`)).json();
  if (stats.drift) assert.equal(await page.locator('svg[data-chart="drift"] circle').count(), 2, "drift over both releases");
  else log("this release has no drift in stats.json; the drift chart is not checked");
  const privateHref = await page.locator("table[data-table=files] a", { hasText: /^data\/.*\.jsonl\.gz$/ }).first().getAttribute("href");
  assert.ok(privateHref.startsWith(`/d/${priv}/r/`), "private files download through the viewer");
  const download = await anon.request.get(BASE + privateHref);
  assert.equal(download.status(), 200, "a private file downloads with the session");
  assert.deepEqual([...(await download.body()).subarray(0, 2)], [0x1f, 0x8b], "it is gzip");
  await shot(page, "release-private");
  await page.click(`table[data-table=release-jobs] a:text("rejected")`);
  await page.waitForURL(/\/samples\?/);
  assert.ok((await page.locator("details.sample").count()) > 0, "rejected samples are listed");
  const first = page.locator("details.sample").first();
  await first.locator("> summary").click();
  const trace = first.locator("table[data-trace]");
  await trace.waitFor({ state: "visible" });
  const traceText = await trace.innerText();
  assert.match(traceText, /length/, "the trace shows the length filter");
  assert.match(traceText, /math_answer\.\w+/, "the trace shows math_answer's reason");
  await shot(page, "samples-rejected");
  await page.click(".tabs a:text('accepted')");
  await page.locator("details.sample").first().locator("> summary").click();
  assert.match(await page.locator("details.sample").first().locator("table[data-trace]").innerText(), /math_answer/);

  // The job page: progress bar, and the JSON it polls (authorised by the cookie, not a URL key).
  await page.goto(`${BASE}/jobs/${jobs[priv]}`);
  assert.equal(await page.locator(".progress > div").getAttribute("style"), "width:100.0%");
  const progress = await anon.request.get(`${BASE}/jobs/${jobs[priv]}/progress.json`);
  assert.equal(progress.status(), 200);
  assert.equal((await progress.json()).id, jobs[priv]);
  await shot(page, "job");

  // Live progress: a bigger job's page follows it to the end through the polling script. (If the
  // job is quicker than the page, the page is simply rendered finished.)
  const big = await runJob(priv, problems.slice(20, 120));
  await page.goto(`${BASE}/jobs/${big}`);
  const seenRunning = (await page.locator("[data-job]").getAttribute("data-finished")) === "0";
  await page.locator('[data-k="status"]', { hasText: "done" }).waitFor({ timeout: 180_000 });
  await page.locator('[data-job][data-finished="1"]').waitFor();
  assert.equal(await page.locator(".progress > div").getAttribute("style"), "width:100.0%");
  log(`job page ${seenRunning ? "was open while the job ran and followed it to the end" : "loaded after the job had finished"}`);

  // Another key: the same 404 as for nothing at all, for the dataset, its samples and its job.
  const stranger = await browser.newContext();
  const p2 = await stranger.newPage();
  watch(p2, issues);
  await p2.goto(`${BASE}/session?next=/d/${priv}`);
  await p2.fill('input[name="key"]', other);
  await p2.click('form.signin button[type="submit"]');
  await p2.waitForLoadState();
  assert.equal((await p2.goto(`${BASE}/d/${priv}`)).status(), 404);
  const strangerText = await p2.locator("main h1, main p").first().innerText();
  assert.equal((await p2.goto(`${BASE}/d/no-such-dataset-${suffix}`)).status(), 404);
  assert.equal(await p2.locator("main h1, main p").first().innerText(), strangerText);
  assert.equal((await p2.goto(`${BASE}/d/${priv}/samples?job=${jobs[priv]}`)).status(), 404);
  assert.equal((await p2.goto(`${BASE}/jobs/${jobs[priv]}`)).status(), 404);
  assert.equal((await stranger.request.get(BASE + privateHref)).status(), 404);
  assert.equal((await p2.goto(`${BASE}/d/${pub}/samples?job=${jobs[pub]}`)).status(), 404, "a public dataset's samples are the owner's");
  await shot(p2, "not-found-other-key");

  // Sign out: the cookie is gone and the private dataset is a 404 again.
  await page.goto(`${BASE}/`);
  await page.click('header button:text("Sign out")');
  await page.waitForURL(`${BASE}/`);
  assert.equal((await anon.cookies()).length, 0, "signed out");
  assert.equal((await page.goto(`${BASE}/d/${priv}`)).status(), 404);

  assert.deepEqual(issues, [], "no script errors or CSP violations in any page");
  log(`PASS; screenshots in ${shots}`);
}

let code = 0;
try {
  await main();
} catch (err) {
  code = 1;
  console.error(err);
  if (wranglerLog.length) console.error(`---- last wrangler lines ----\n${wranglerLog.slice(-40).join("\n")}`);
} finally {
  await browser?.close().catch(() => {});
  await stopWrangler();
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
