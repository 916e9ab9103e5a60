// bench/cost: what one run really costs on Cloudflare, per 1M candidates.
//
//   npm run bench:cost -- [--inputs 2000] [--candidates 4] [--port 8790] [--keep] [-v]
//
// Runs one realistic job under `wrangler dev --var METER_PLATFORM:1` (workers/metering.ts counts
// every D1, R2, Queue and Durable Object operation at the bindings and prints one `[meter]` line
// per invocation), against the loopback fake teacher: GSM8K inputs × candidates
// through openai/gpt-4o-mini, filters length + math_answer + dedup, then a release compile.
// The lines are summed, split into per-candidate work (the job's API calls, every queue
// invocation, the release) and the user's status polls, and priced at list prices
// (bench/cost/prices.mjs).
//
// Inputs: the 200 GSM8K problems of examples/gsm8k, each in N/200 numbered cases. The fake
// teacher answers each case with that problem's four recorded GPT-3 solutions, with a case tag
// woven between their words so cases are not near-duplicates of each other (the real ones of
// one problem still may be, as real samples are); the final "A: <n>" line is kept as recorded.
//
// Latency: 50 ms per teacher call by default, not 0. wrangler dev's proxy workerd holds ~4
// sockets per outbound call in CLOSE-WAIT for several seconds; at latency 0 (~500 calls/s) a
// run of 8,000 calls exhausts its 20,000 file descriptors and wrangler dev dies. The latency
// changes no operation count, only wall time.
//
// CPU: utime+stime of the Worker's workerd process from POST /v1/jobs to the release, net of the
// status polls (priced by a calibration afterwards). workerd also runs local D1 (SQLite), R2
// (files) and the queue broker, and the metering itself: an upper bound on the Worker's own CPU.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { PRICES, price } from "./prices.mjs";
import { sumMeters, classify } from "./meter-lines.mjs";

import { startFakeOpenAI } from "../../test/fake-openai.mjs";
import { client } from "../../scripts/lib.mjs";
import { settle, startWranglerSnapshot, waitHealthy } from "../lib/wrangler-snapshot.mjs";
import { CLK_TCK, int, readStat, sleep, stopTree } from "../lib/proc.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WRANGLER = join(ROOT, "node_modules/wrangler/wrangler-dist/cli.js");
const POLL_MS = 1000;
const MODEL = "gpt-4o-mini";

const { values: opt } = parseArgs({
  options: {
    inputs: { type: "string", default: "2000" },
    candidates: { type: "string", default: "4" },
    latency: { type: "string", default: "50" },
    port: { type: "string", default: "8790" },
    "fake-port": { type: "string", default: "8791" },
    "inspector-port": { type: "string", default: "8792" },
    keep: { type: "boolean", default: false },
    verbose: { type: "boolean", short: "v", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opt.help) {
  console.log("usage: node bench/cost/run.mjs [--inputs 2000] [--candidates 4] [--latency 50] [--port 8790] [--fake-port 8791] [--inspector-port 8792] [--keep] [-v]");
  process.exit(0);
}
const N_INPUTS = int(opt.inputs, "inputs");
const CANDIDATES = int(opt.candidates, "candidates");
const PORT = int(opt.port, "port");
const LATENCY = Number(opt.latency);
const BASE = `http://127.0.0.1:${PORT}`;

const T_START = performance.now();
const log = (...a) => console.error(`[bench ${((performance.now() - T_START) / 1000).toFixed(1)}s]`, ...a);

// ---------------------------------------------------------------------------------------------
// Processes: wrangler (its own process group) and the Worker's workerd under it.

const tmp = mkdtempSync(join(tmpdir(), "winnow-bench-cost-"));
const persist = join(tmp, "state");
let wrangler = null;
let wranglerExit = null;
let fake = null;
const lines = []; // wrangler stdout+stderr, ANSI stripped
const seenPids = new Map(); // pid → comm, every process we saw under wrangler


/** CPU ms of the Worker's workerd (not the dev proxy in front of it on --port). */
function workerdMs() {
  const all = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map((d) => readStat(Number(d))).filter(Boolean);
  const kids = new Map();
  for (const p of all) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
  let ticks = 0;
  const stack = all.filter((p) => p.pid === wrangler.pid);
  while (stack.length) {
    const p = stack.pop();
    seenPids.set(p.pid, p.comm);
    stack.push(...(kids.get(p.pid) ?? []));
    if (p.comm !== "workerd") continue;
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${p.pid}/cmdline`, "utf8").split("\0").join(" ");
    } catch {}
    if (!cmd.includes(`entry=127.0.0.1:${PORT} `)) ticks += p.ticks;
  }
  return (ticks * 1000) / CLK_TCK;
}

async function cleanup() {
  if (wrangler && wranglerExit === null) {
    try {
      workerdMs(); // record the tree's pids one last time
    } catch {}
  }
  await stopTree(wrangler, () => wranglerExit, seenPids);
  if (fake) await fake.close().catch(() => {});
  if (opt.keep) log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
let cleaning = null;
for (const sig of ["SIGINT", "SIGTERM"])
  process.once(sig, () => {
    cleaning ??= cleanup();
    cleaning.finally(() => process.exit(130));
  });

// ---------------------------------------------------------------------------------------------
// Inputs and the teacher's recordings for them.

function writeData() {
  const problems = readFileSync(join(ROOT, "examples/gsm8k/problems.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const recorded = JSON.parse(readFileSync(join(ROOT, "examples/gsm8k/recordings.json"), "utf8"));
  const rows = [];
  const recordings = {};
  for (let i = 0; i < N_INPUTS; i++) {
    const p = problems[i % problems.length];
    const k = Math.floor(i / problems.length) + 1;
    const question = `${p.question} (case ${k})`;
    rows.push({ question, answer: p.answer });
    const tag = caseTag(k);
    recordings[question] = (recorded[p.question] ?? []).map((r) => ({ ...r, text: weave(r.text, tag) }));
  }
  const inputs = join(tmp, "inputs.jsonl");
  const recs = join(tmp, "recordings.json");
  writeFileSync(inputs, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  writeFileSync(recs, JSON.stringify(recordings));
  return { inputs, recs };
}

/** A word without digits, unique per case (so answer extraction never sees it as a number). */
const caseTag = (k) => "c" + [...String(k)].map((d) => "abcdefghij"[Number(d)]).join("");

/** The tag after every third word of every line but the last (the "A: <n>" line). */
function weave(text, tag) {
  const ls = text.split("\n");
  return ls.map((l, i) => (i === ls.length - 1 ? l : l.split(" ").map((w, j) => (j % 3 === 2 ? `${w} ${tag}` : w)).join(" "))).join("\n");
}

// ---------------------------------------------------------------------------------------------
// wrangler dev, on a bundled snapshot (others edit the tree while we run; see bench/e2e).

function startWrangler(fakeUrl, adminToken) {
  const vars = {
    OPENAI_BASE_URL: `${fakeUrl}/v1`,
    OPENAI_API_KEY: "sk-bench",
    ADMIN_TOKEN: adminToken,
    METER_PLATFORM: "1",
    // Status polls are the user's; a 1 s poller must not be rate limited.
    API_RATE_LIMIT_PER_MIN: "100000",
  };
  const onLine = (line) => {
    lines.push(line);
    if (opt.verbose) process.stderr.write(`  [wrangler] ${line}\n`);
  };
  const handle = startWranglerSnapshot({ root: ROOT, wrangler: WRANGLER, tmp, persist, port: PORT, inspectorPort: opt["inspector-port"], vars, log, onLine });
  wrangler = handle.child;
  wrangler.on("exit", (code, sig) => (wranglerExit = code ?? sig ?? "exit"));
}

/** The API as JSON through scripts/lib.mjs's client: `token` authorizes, `json` is sent as JSON, `body` as it is. */
const http = client(BASE, null);
const api = (method, path, { token, json, body, contentType } = {}) =>
  http.request(method, path, { auth: token, body: json ?? body, headers: contentType ? { "content-type": contentType } : {} });



// ---------------------------------------------------------------------------------------------
// Report.

const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const usd = (x) => (x >= 0.01 ? `$${x.toFixed(4)}` : `$${x.toFixed(6)}`);

function report({ planned, work, polls, cpuMsPerCand, storage, job, manifest, wallS, pollCostMs, cpuRaw }) {
  const scale = 1e6 / planned;
  const rows = price(work, cpuMsPerCand * planned);
  const out = [];
  out.push(`\n## bench/cost — ${planned} candidates (${N_INPUTS} GSM8K inputs × ${CANDIDATES}), teacher openai/${MODEL} (loopback fake, latency ${LATENCY} ms), filters length + math_answer + dedup, then a release compile`);
  out.push(`node ${process.version}, ${cpus().length} CPUs; job ${job.id}: ${job.candidates.accepted} accepted / ${job.candidates.rejected} rejected / ${job.candidates.failed} failed of ${job.candidates.planned}; release ${manifest.version}: ${manifest.counts?.rows ?? "?"} rows; ${wallS.toFixed(1)} s POST→release\n`);
  out.push("| operation | count in this run | per 1M candidates | list price | $ per 1M candidates |");
  out.push("|---|---:|---:|---|---:|");
  let total = 0;
  for (const r of rows) {
    const per = r.count * scale;
    const cost = (r.count * r.unitUsd * scale);
    total += cost;
    out.push(`| ${r.name} | ${fmt(r.count, r.count % 1 ? 1 : 0)} | ${fmt(per)} | ${r.priceText} | ${usd(cost)} |`);
  }
  out.push(`| **total** | | | | **${usd(total)}** |`);
  const top = [...rows].map((r) => ({ ...r, cost: r.count * r.unitUsd * scale })).sort((a, b) => b.cost - a.cost);
  out.push(`\ntotal ${usd(total)} per 1M candidates vs the goal $0.50: ${total <= 0.5 ? "✓ within" : "✗ above"}. Dominated by ${top.slice(0, 3).map((r) => `${r.name} (${((100 * r.cost) / total).toFixed(0)}%)`).join(", ")}.`);
  out.push(`\nworkerd CPU: ${cpuRaw.toFixed(0)} ms over the run, ${fmt(cpuMsPerCand, 3)} ms per candidate net of ${polls.invocations.fetch} status polls (${pollCostMs.toFixed(1)} ms each, calibrated after the run).`);
  out.push("It includes what local simulation adds in the same process (D1 as SQLite, R2 as files, the queue broker, the Durable Objects) and the metering itself: an upper bound on the Worker's billed CPU.");
  const pollCost = polls.invocations.fetch * PRICES.workersRequest.usd + polls.durable_objects.RATE_LIMITER * PRICES.doRequest.usd + polls.d1.rows_read * PRICES.d1Read.usd;
  out.push(`\nstatus polls, not per-candidate (one GET /v1/jobs/{id} a second while the job ran): ${polls.invocations.fetch} requests, ${fmt(polls.d1.rows_read)} D1 rows read, ${polls.durable_objects.RATE_LIMITER} rate-limiter DO requests, ${usd(pollCost)} in all (≈ ${usd((pollCost / polls.invocations.fetch) * 1e6)} per 1M polls, plus their CPU).`);
  out.push("\nstorage written per 1M candidates (monthly, at list prices):");
  const r2GB = (storage.r2Bytes * scale) / 1e9;
  const d1GB = (storage.d1Bytes * scale) / 1e9;
  out.push(`| store | bytes in this run | GB per 1M candidates | $ / month per 1M candidates |`);
  out.push(`|---|---:|---:|---:|`);
  out.push(`| R2 (objects put, gross: shards, dedup deltas, release files, uploads) | ${fmt(storage.r2Bytes)} | ${r2GB.toFixed(3)} | ${usd(r2GB * PRICES.r2Storage.usd)} (${PRICES.r2Storage.text}) |`);
  out.push(`| D1 (database growth, setup → after release) | ${fmt(storage.d1Bytes)} | ${d1GB.toFixed(3)} | ${usd(d1GB * PRICES.d1Storage.usd)} (${PRICES.d1Storage.text}) |`);
  out.push("\nfree tiers ignored; model (teacher) costs excluded.");
  out.push("\nsources: " + [...new Set(Object.values(PRICES).map((p) => p.source))].join(" , "));
  return { text: out.join("\n"), total };
}

// ---------------------------------------------------------------------------------------------
// Main.

let exitCode = 0;
try {
  const planned = N_INPUTS * CANDIDATES;
  log(`${N_INPUTS} inputs × ${CANDIDATES} candidates = ${planned}; tmp ${tmp}`);
  const { inputs, recs } = writeData();
  fake = await startFakeOpenAI({ port: Number(opt["fake-port"]), latencyMs: LATENCY, keepAlive: true, recordingsPath: recs });
  const adminToken = `adm_${randomBytes(16).toString("hex")}`;
  startWrangler(fake.url, adminToken);
  await waitHealthy({ probe: async () => (await fetch(`${BASE}/healthz`)).ok, exited: () => wranglerExit, tail: () => lines.slice(-30).join("\n") });
  log("wrangler dev healthy");

  const { key } = await api("POST", "/v1/keys", { token: adminToken, json: { name: "bench-cost" } });
  const dataset = "bench-cost";
  await api("POST", "/v1/datasets", { token: key, json: { name: dataset } });
  const up = await api("POST", `/v1/datasets/${dataset}/inputs`, { token: key, body: readFileSync(inputs), contentType: "application/x-ndjson" });
  if (up.rows !== N_INPUTS) throw new Error(`upload stored ${up.rows} rows, expected ${N_INPUTS}`);
  log(`uploaded ${up.rows} rows (${up.chunks} chunks, ${up.bytes} bytes)`);
  await settle(lines);
  const setupEnd = lines.length; // lines before this: health checks, key, dataset, upload

  const cpu0 = workerdMs();
  const t0 = performance.now();
  const job = await api("POST", "/v1/jobs", {
    token: key,
    json: {
      dataset,
      inputs: { upload: up.id },
      prompt: { system: "You are a careful math tutor.", user: "Solve step by step, end with 'A: <number>'.\n\n{{question}}" },
      generators: [{ provider: "openai", model: MODEL, params: { temperature: 0.8, max_tokens: 1024 } }],
      candidates: CANDIDATES,
      filters: [
        { type: "length", min_chars: 20, max_chars: 8000 },
        { type: "math_answer", reference: "{{answer}}" },
        { type: "dedup" },
      ],
      output: { kind: "sft" },
    },
  });
  log(`job ${job.id} started`);
  const pollStart = lines.length;
  let status;
  let pollsSent = 0;
  const deadline = performance.now() + 15 * 60_000;
  for (;;) {
    status = await api("GET", `/v1/jobs/${job.id}`, { token: key });
    pollsSent++;
    if (["done", "failed", "cancelled"].includes(status.status)) break;
    if (performance.now() > deadline) throw new Error(`job not done after 15 min: ${JSON.stringify(status)}`);
    if (wranglerExit !== null) throw new Error(`wrangler dev exited (${wranglerExit}) during the job`);
    await sleep(POLL_MS);
  }
  const c = status.candidates;
  log(`job ${status.status}: ${c.accepted} accepted / ${c.rejected} rejected / ${c.failed} failed of ${c.planned} (${pollsSent} polls)`);
  if (status.status !== "done" || c.accepted + c.rejected + c.failed !== planned) throw new Error(`job ended ${status.status} with counts ${JSON.stringify(c)}`);
  const manifest = await api("POST", `/v1/datasets/${dataset}/releases`, { token: key });
  const wallS = (performance.now() - t0) / 1000;
  log(`release ${manifest.version} compiled`);
  const cpuRaw = workerdMs() - cpu0;
  await settle(lines);
  const runEnd = lines.length;

  // Calibrate one status poll's workerd CPU: idle for a while, then polls at the same pace.
  const idleMs = 5000;
  const i0 = workerdMs();
  await sleep(idleMs);
  const idleRate = (workerdMs() - i0) / idleMs;
  const c0 = workerdMs();
  const ct0 = performance.now();
  const CAL = 10;
  for (let i = 0; i < CAL; i++) {
    await api("GET", `/v1/jobs/${job.id}`, { token: key });
    await sleep(POLL_MS / 2);
  }
  const pollCostMs = Math.max(0, workerdMs() - c0 - idleRate * (performance.now() - ct0)) / CAL;

  const run = classify(lines.slice(setupEnd, runEnd), job.id);
  if (run.polls.length !== pollsSent) log(`note: ${run.polls.length} poll meter lines for ${pollsSent} polls sent`);
  const work = sumMeters(run.work);
  const polls = sumMeters(run.polls);
  // The upload is part of the job's work: its R2 puts and D1 rows are per input.
  const upload = sumMeters(classify(lines.slice(0, setupEnd), job.id).work.filter((m) => m.handler === "fetch" && /\/inputs$/.test(m.path)));
  const total = sumMeters([work, upload]);
  const cpuMsPerCand = Math.max(0, cpuRaw - pollCostMs * pollsSent) / planned;
  const d1After = Math.max(0, ...lines.slice(0, runEnd).map(parseSize));
  const d1Before = Math.max(0, ...lines.slice(0, setupEnd).map(parseSize));
  const storage = { r2Bytes: total.r2.bytes_put, d1Bytes: Math.max(0, d1After - d1Before) };
  const rep = report({ planned, work: total, polls, cpuMsPerCand, storage, job: status, manifest, wallS, pollCostMs, cpuRaw });
  console.log(rep.text);
  console.log(`\nper-candidate work summed from ${run.work.length + 1} meter lines: the upload, ${work.invocations.fetch} API requests (POST /v1/jobs, the release) and ${work.invocations.queue} queue invocations (${work.queue.received} deliveries, ${work.queue.redelivered} redelivered). Key and dataset creation and health checks are left out.`);
  console.log(`raw sums: ${JSON.stringify({ work: total, polls })}`);
} catch (e) {
  console.error(`bench/cost failed: ${e?.stack ?? e}`);
  exitCode = 1;
} finally {
  cleaning ??= cleanup();
  await cleaning;
}
process.exit(exitCode);

function parseSize(line) {
  const i = line.indexOf("[meter] ");
  if (i < 0) return 0;
  try {
    return JSON.parse(line.slice(i + 8)).d1?.size_after ?? 0;
  } catch {
    return 0;
  }
}
