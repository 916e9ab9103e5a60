// bench/e2e: the whole pipeline under `wrangler dev` against the naive script it replaces,
// side by side in one run, on the same loopback fake OpenAI server with the same latency.
//
//   npm run bench:e2e -- [--inputs 2000] [--candidates 1] [--latency 200] [--rounds 2]
//
// Pipeline: POST /v1/jobs → poll GET /v1/jobs/{id} every 250 ms until done; the queue consumer
// makes the model calls (CONCURRENCY per invocation). Naive: bench/e2e/naive.mjs, a p-limit
// loop at the same concurrency writing JSONL. Rounds alternate the order (P N, N P, ...) and the
// medians are compared: absolute times on a shared machine are noisy, the ratio is the figure.
//
// CPU: utime+stime of the workerd process(es) under wrangler dev, read from /proc before POST
// and after done. workerd also simulates D1 (SQLite), R2 (files) and the queue broker in the
// same process, so this is an upper bound on the Worker's own CPU. Linux only (/proc).
//
// The Worker is bundled once at start (wrangler deploy --dry-run into a temp dir) and served from
// there with --no-bundle, so edits to the tree during a run cannot make wrangler dev restart it.
// --max-batch-timeout S overrides the task consumer's max_batch_timeout in that temp copy of
// wrangler.toml only (an experiment: 0 makes the local broker deliver strictly one batch at a time).
//
// Ports: wrangler dev on --port (8780), the fake on --fake-port (8781), the inspector on 8782.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { syncBuiltinESMExports } from "node:module";
import { startWranglerSnapshot, waitHealthy } from "../lib/wrangler-snapshot.mjs";
import { CLK_TCK, int, readStat, sleep, stopTree } from "../lib/proc.mjs";

// Observe the fake server's requests (arrival and finish times) without changing it: wrap
// http.createServer before test/fake-openai.mjs binds it. This gives the provider-side view of
// both sides: how many calls were really in flight over time.
const calls = []; // {a: arrival, f: finish} in performance.now() ms
{
  const original = http.createServer;
  http.createServer = function (...args) {
    const server = original.apply(this, args);
    server.on("request", (req, res) => {
      if (!req.url?.includes("/chat/completions")) return;
      const c = { a: performance.now(), f: null };
      calls.push(c);
      res.on("finish", () => (c.f = performance.now()));
    });
    return server;
  };
  syncBuiltinESMExports();
}
const { startFakeOpenAI } = await import("../../test/fake-openai.mjs");

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WRANGLER = join(ROOT, "node_modules/wrangler/wrangler-dist/cli.js");
const NAIVE = join(ROOT, "bench/e2e/naive.mjs");
const CONCURRENCY_IN_WORKER = 6; // workers/jobs/generate.ts CONCURRENCY
const POLL_MS = 250;
const BATCH_SIZE = 4; // wrangler.toml [[queues.consumers]] max_batch_size for winnow-tasks

const { values: opt } = parseArgs({
  options: {
    inputs: { type: "string", default: "2000" },
    candidates: { type: "string", default: "1" },
    latency: { type: "string", default: "200" },
    concurrency: { type: "string", default: String(CONCURRENCY_IN_WORKER) },
    "naive-concurrency": { type: "string" },
    "max-batch-timeout": { type: "string" },
    rounds: { type: "string", default: "2" },
    port: { type: "string", default: "8780" },
    "fake-port": { type: "string", default: "8781" },
    "inspector-port": { type: "string", default: "8782" },
    "calibrate-s": { type: "string", default: "5" },
    keep: { type: "boolean", default: false },
    "trace-cpu": { type: "boolean", default: false },
    verbose: { type: "boolean", short: "v", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opt.help) {
  console.log(
    "usage: node bench/e2e/run.mjs [--inputs 2000] [--candidates 1] [--latency 200] [--concurrency 6]\n" +
      "       [--naive-concurrency N] [--max-batch-timeout S (experiment, temp config only)] [--rounds 2] [--port 8780] [--fake-port 8781] [--inspector-port 8782] [--calibrate-s 5] [--keep] [-v]",
  );
  process.exit(0);
}
const N_INPUTS = int(opt.inputs, "inputs");
const CANDIDATES = int(opt.candidates, "candidates");
const LATENCY = Number(opt.latency);
const CONCURRENCY = int(opt.concurrency, "concurrency");
const NAIVE_CONCURRENCY = int(opt["naive-concurrency"] ?? opt.concurrency, "naive-concurrency");
const ROUNDS = int(opt.rounds, "rounds");
const PORT = int(opt.port, "port");
const PLANNED = N_INPUTS * CANDIDATES;
// workers/jobs/create.ts inputsPerTask(): slots per task (MAX_SLOTS_PER_TASK 100, ROWS_PER_CHUNK 200).
const SLOTS_PER_TASK = (() => {
  const target = Math.max(1, Math.floor(100 / CANDIDATES));
  for (let n = Math.min(target, 200); n > 1; n--) if (200 % n === 0) return n * CANDIDATES;
  return CANDIDATES;
})();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const log = (...a) => console.error(`[bench ${((performance.now() - T_START) / 1000).toFixed(1)}s]`, ...a);
const T_START = performance.now();

// ---------------------------------------------------------------------------------------------
// /proc: the process tree under wrangler and each process's CPU ticks.


function cmdlineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

// wrangler dev 4.x runs two workerd processes: the dev proxy (listening on --port, in front)
// and the user Worker (entry on an ephemeral port, with local D1/R2/Queues). Tell them apart by
// the entry socket on the command line.
const kindCache = new Map();
function kindOf(p) {
  if (!kindCache.has(p.pid)) {
    const cmd = cmdlineOf(p.pid);
    let kind;
    if (p.comm === "workerd" || /\/workerd /.test(cmd)) kind = cmd.includes(`entry=127.0.0.1:${PORT} `) ? "workerd-proxy" : "workerd";
    else if (p.comm === "node") kind = "node";
    else kind = p.comm;
    kindCache.set(p.pid, kind);
  }
  return kindCache.get(p.pid);
}

/** Map pid → {kind, ticks} for rootPid and all its descendants. */
function snapshot(rootPid) {
  const all = [];
  for (const d of readdirSync("/proc")) if (/^\d+$/.test(d)) {
    const p = readStat(Number(d));
    if (p) all.push(p);
  }
  const children = new Map();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out = new Map();
  const root = all.find((p) => p.pid === rootPid);
  const stack = root ? [root] : [];
  while (stack.length) {
    const p = stack.pop();
    out.set(p.pid, { kind: p.pid === rootPid ? "wrangler" : kindOf(p), ticks: p.ticks, comm: p.comm });
    stack.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

/** CPU ms per kind between two snapshots (a process that appeared in between counts from 0). */
function cpuDelta(before, after) {
  const ms = {};
  for (const [pid, a] of after) {
    const b = before.get(pid);
    const d = a.ticks - (b && b.comm === a.comm ? b.ticks : 0);
    ms[a.kind] = (ms[a.kind] ?? 0) + (d * 1000) / CLK_TCK;
  }
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Setup.

const tmp = mkdtempSync(join(tmpdir(), "winnow-bench-e2e-"));
const persist = join(tmp, "state");
const inputsFile = join(tmp, "inputs.jsonl");
const adminToken = `adm_${randomBytes(16).toString("hex")}`;
let wrangler = null;
let wranglerExit = null;
let fake = null;
const wranglerLog = []; // {t, line}
let lastTree = new Map();

async function cleanup() {
  if (wrangler && wranglerExit === null) {
    try {
      lastTree = new Map([...lastTree, ...snapshot(wrangler.pid)]);
    } catch {}
  }
  await stopTree(wrangler, () => wranglerExit, new Map([...lastTree].map(([pid, p]) => [pid, p.comm])));
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

function writeInputs() {
  // Deterministic (mulberry32), so every run uploads the same rows.
  let a = 12345;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const lines = [];
  for (let i = 0; i < N_INPUTS; i++) {
    const x = 1 + Math.floor(rnd() * 999);
    const y = 1 + Math.floor(rnd() * 999);
    lines.push(JSON.stringify({ question: `What is ${x} plus ${y}?`, answer: `#### ${x + y}` }));
  }
  writeFileSync(inputsFile, lines.join("\n") + "\n");
}


function startWrangler(fakeUrl) {
  // An experiment knob, applied to the temporary config copy only: the task consumer's batch timeout.
  const editToml = (toml) => {
    if (opt["max-batch-timeout"] === undefined) return toml;
    const parts = toml.split("[[queues.consumers]]");
    const i = parts.findIndex((x, j) => j > 0 && /^queue\s*=\s*"winnow-tasks"\s*$/m.test(x));
    if (i < 0 || !/^max_batch_timeout\s*=.*$/m.test(parts[i])) throw new Error("wrangler.toml: no max_batch_timeout in the winnow-tasks consumer");
    parts[i] = parts[i].replace(/^max_batch_timeout\s*=.*$/m, `max_batch_timeout = ${Number(opt["max-batch-timeout"])}`);
    log(`override (temp config only): winnow-tasks max_batch_timeout = ${Number(opt["max-batch-timeout"])}`);
    return parts.join("[[queues.consumers]]");
  };
  const vars = { OPENAI_BASE_URL: `${fakeUrl}/v1`, OPENAI_API_KEY: "sk-bench", ADMIN_TOKEN: adminToken, API_RATE_LIMIT_PER_MIN: "100000" };
  const onLine = (line) => {
    wranglerLog.push({ t: performance.now(), line });
    if (opt.verbose) process.stderr.write(`  [wrangler] ${line}\n`);
  };
  const handle = startWranglerSnapshot({ root: ROOT, wrangler: WRANGLER, tmp, persist, port: PORT, inspectorPort: opt["inspector-port"], vars, log, onLine, editToml });
  wrangler = handle.child;
  wrangler.on("exit", (code, sig) => {
    wranglerExit = code ?? sig ?? "exit";
  });
}

const BASE = `http://127.0.0.1:${PORT}`;
async function api(method, path, { token, json, body, contentType } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers["content-type"] = "application/json";
  if (contentType) headers["content-type"] = contentType;
  const res = await fetch(BASE + path, { method, headers, body: json !== undefined ? JSON.stringify(json) : body });
  const text = await res.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
  return data;
}


function recipe(dataset, inputs, candidates) {
  return {
    dataset,
    inputs,
    prompt: { user: "{{question}}" },
    generators: [{ provider: "openai", model: "bench-model" }],
    candidates,
    filters: [{ type: "length", min_chars: 1, max_chars: 8000 }],
  };
}

async function waitDone(key, id, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  let polls = 0;
  for (;;) {
    const job = await api("GET", `/v1/jobs/${id}`, { token: key });
    polls++;
    if (["done", "failed", "cancelled"].includes(job.status)) return { job, polls, t: performance.now() };
    if (performance.now() > deadline) throw new Error(`job ${id} not done after ${timeoutMs / 1000} s: ${JSON.stringify(job)}`);
    if (wranglerExit !== null) throw new Error(`wrangler dev exited (${wranglerExit}) during the job`);
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// The two sides.

const QUEUE_LINE = /QUEUE winnow-tasks (\d+)\/(\d+) \((\d+)ms\)/;

function queueBatches(fromT, toT) {
  return wranglerLog
    .filter((l) => l.t >= fromT && l.t <= toT)
    .map((l) => ({ end: l.t, m: QUEUE_LINE.exec(l.line) }))
    .filter((x) => x.m)
    .map((x) => ({ end: x.end, acked: Number(x.m[1]), size: Number(x.m[2]), ms: Number(x.m[3]), start: x.end - Number(x.m[3]) }));
}

/** Most queue batches running at the same moment (a sweep over their start/end). */
function maxSimultaneous(batches) {
  // Start and end come from when wrangler's log lines arrive; ignore overlaps under 50 ms.
  const ev = batches.flatMap((b) => [[b.start + 25, 1], [b.end - 25, -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let n = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (n += d));
  return max;
}

/** Provider calls seen by the fake between t0 and t1: how many were in flight, over time. */
function inFlight(t0, t1) {
  const cs = calls.filter((c) => c.a >= t0 && c.a <= t1 && c.f !== null);
  if (!cs.length) return null;
  const first = Math.min(...cs.map((c) => c.a));
  const last = Math.max(...cs.map((c) => c.f));
  const ev = [];
  for (const c of cs) ev.push([c.a, 1], [c.f, -1]);
  ev.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let n = 0;
  let prev = first;
  let area = 0;
  let atZero = 0;
  let full = 0;
  for (const [t, d] of ev) {
    const dt = t - prev;
    area += n * dt;
    if (n === 0) atZero += dt;
    if (n >= CONCURRENCY) full += dt;
    n += d;
    prev = t;
  }
  const span = last - first;
  const dur = cs.map((c) => c.f - c.a).sort((a, b) => a - b);
  return {
    n: cs.length,
    leadMs: first - t0, // before the first call
    tailMs: t1 - last, // after the last call
    spanMs: span,
    mean: area / span, // mean calls in flight while active
    zeroMs: atZero, // no call in flight, inside the active span
    fullFrac: full / span, // share of the span with CONCURRENCY calls in flight
    p50: dur[Math.floor(dur.length / 2)],
    p99: dur[Math.floor(dur.length * 0.99)],
  };
}

async function runPipeline(ctx, label) {
  fake.reset();
  const polls0 = ctx.polls;
  const before = snapshot(wrangler.pid);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { id } = await api("POST", "/v1/jobs", { token: ctx.key, json: recipe(ctx.dataset, { upload: ctx.upload }, CANDIDATES) });
  const idealMs = Math.ceil(PLANNED / CONCURRENCY) * LATENCY;
  const { job, polls, t: t1 } = await waitDone(ctx.key, id, Math.max(120_000, 5 * idealMs));
  const after = snapshot(wrangler.pid);
  const cpu = process.cpuUsage(cpu0);
  lastTree = new Map([...lastTree, ...after]);
  const stats = fake.stats();

  // Calibration, after the job: workerd idle for a while (no requests), then the same 250 ms
  // polling against the finished job, to price the polls' own CPU and take it out.
  const calMs = Number(opt["calibrate-s"]) * 1000;
  const ib = snapshot(wrangler.pid);
  const it0 = performance.now();
  await sleep(calMs);
  const idleWall = performance.now() - it0;
  const idleCpu = cpuDelta(ib, snapshot(wrangler.pid)).workerd ?? 0;
  let calPolls = 0;
  const cb = snapshot(wrangler.pid);
  const ct0 = performance.now();
  while (performance.now() - ct0 < calMs) {
    await api("GET", `/v1/jobs/${id}`, { token: ctx.key });
    calPolls++;
    await sleep(POLL_MS);
  }
  const calCpu = cpuDelta(cb, snapshot(wrangler.pid));
  const calWall = performance.now() - ct0;
  const idleRate = idleCpu / idleWall; // workerd ms per ms with nothing to do
  const pollCost = calPolls ? Math.max(0, (calCpu.workerd ?? 0) - idleRate * calWall) / calPolls : 0;

  const c = job.candidates;
  const wallMs = t1 - t0;
  const workerdPids = (m) => [...m].filter(([, v]) => v.kind === "workerd").map(([pid]) => pid).join(",");
  const reloaded =
    workerdPids(before) !== workerdPids(after) || wranglerLog.some((l) => l.t >= t0 && l.t <= t1 && /Reloading local server|Detected changes/.test(l.line));
  if (reloaded) log(`WARNING ${label}: wrangler dev reloaded the Worker during the job; this run is not comparable`);
  const d = cpuDelta(before, after);
  const workerdMs = d.workerd ?? 0;
  const batches = queueBatches(t0, t1 + 1000);
  const gen = batches.filter((b) => b.size > 1 || b.ms > 2000); // the fan-out batch is 1 message, fast
  let gaps = 0;
  for (let i = 1; i < batches.length; i++) gaps += Math.max(0, batches[i].start - batches[i - 1].end);
  const r = {
    side: "pipeline",
    label,
    jobId: id,
    status: job.status,
    reloaded,
    planned: c.planned,
    accepted: c.accepted,
    rejected: c.rejected,
    failed: c.failed,
    countsOk: c.accepted + c.rejected + c.failed === c.planned && c.planned === PLANNED,
    wallMs,
    serverMs: job.finished_at && job.created_at ? Date.parse(job.finished_at) - Date.parse(job.created_at) : null,
    cps: c.planned / (wallMs / 1000),
    workerdMs,
    workerdPerCand: workerdMs / c.planned,
    workerdPerCandNet: Math.max(0, workerdMs - pollCost * polls) / c.planned,
    pollCostMs: pollCost,
    idleMsPerS: idleRate * 1000,
    flight: inFlight(t0, t1),
    polls,
    wranglerNodeMs: d.wrangler ?? 0,
    proxyMs: d["workerd-proxy"] ?? 0,
    otherMs: Object.entries(d).filter(([k]) => !["workerd", "workerd-proxy", "wrangler"].includes(k)).reduce((n, [, v]) => n + v, 0),
    benchMs: (cpu.user + cpu.system) / 1000,
    fakeRequests: stats.requests,
    fakeOk: stats.ok,
    batches,
    firstBatchDelayMs: batches.length ? batches[0].start - t0 : null,
    lastBatchToDoneMs: batches.length ? t1 - batches.at(-1).end : null,
    gapsMs: gaps,
    batchMsSum: batches.reduce((n, b) => n + b.ms, 0),
    maxOverlap: maxSimultaneous(gen),
    genBatchSizes: gen.map((b) => b.size),
    genBatchMs: gen.map((b) => b.ms),
  };
  ctx.polls = polls0 + polls;
  log(`${label}: ${r.cps.toFixed(2)} cand/s in ${(wallMs / 1000).toFixed(1)} s, workerd ${r.workerdPerCand.toFixed(2)} ms/cand, ${c.accepted}/${c.rejected}/${c.failed} of ${c.planned}`);
  return r;
}

async function runNaive(ctx, label) {
  fake.reset();
  const out = join(tmp, `naive-${label}.jsonl`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [NAIVE, JSON.stringify({ url: `${fake.url}/v1`, apiKey: "sk-bench", model: "bench-model", inputs: inputsFile, out, candidates: CANDIDATES, concurrency: NAIVE_CONCURRENCY, minChars: 1, maxChars: 8000 })],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
  const code = await new Promise((res) => child.on("exit", (c) => res(c)));
  const spawnWallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (code !== 0) throw new Error(`naive script exited ${code}: ${stdout}`);
  const res = JSON.parse(stdout.trim().split("\n").at(-1));
  const lines = readFileSync(out, "utf8").split("\n").filter(Boolean).length;
  const stats = fake.stats();
  const r = {
    side: "naive",
    label,
    planned: res.planned,
    accepted: res.accepted,
    rejected: res.rejected,
    failed: res.failed,
    countsOk: res.accepted + res.rejected + res.failed === res.planned && lines === res.planned,
    wallMs: res.wallMs,
    spawnWallMs,
    cps: res.planned / (res.wallMs / 1000),
    naiveCpuMs: res.cpuMs,
    naivePerCand: res.cpuMs / res.planned,
    benchMs: (cpu.user + cpu.system) / 1000,
    fakeRequests: stats.requests,
    fakeOk: stats.ok,
    flight: inFlight(t0, t0 + spawnWallMs),
  };
  log(`${label}: ${r.cps.toFixed(2)} cand/s in ${(res.wallMs / 1000).toFixed(1)} s, script ${r.naivePerCand.toFixed(2)} ms CPU/cand`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Report.

const f = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d));

function report(pipes, naives) {
  const pc = median(pipes.map((p) => p.cps));
  const nc = median(naives.map((n) => n.cps));
  const ratio = pc / nc;
  const wcpu = median(pipes.map((p) => p.workerdPerCand));
  const wcpuNet = median(pipes.map((p) => p.workerdPerCandNet));
  const ideal = (Math.ceil(PLANNED / CONCURRENCY) * LATENCY) / 1000;
  const rows = [];
  const cols = (xs, g) => xs.map(g).join(" | ");
  const blank = (xs) => xs.map(() => "").join(" | ");
  const row = (name, p, n, med, goal = "") => rows.push(`| ${name} | ${p === "" ? blank(pipes) : p} | ${n === "" ? blank(naives) : n} | ${med} | ${goal} |`);
  const labels = [...pipes.map((p) => `pipeline ${p.label}`), ...naives.map((n) => `naive ${n.label}`)];
  rows.push(`| metric | ${labels.join(" | ")} | median | goal |`);
  rows.push(`|---|${labels.map(() => "---:").join("|")}|---|---|`);
  row("candidates/s", cols(pipes, (p) => f(p.cps)), cols(naives, (n) => f(n.cps)), `P ${f(pc)} / N ${f(nc)}`);
  row("ratio pipeline/naive", cols(pipes, (p, i) => f(p.cps / (naives[i]?.cps ?? nc), 3)), "", `**${f(ratio, 3)}×**`, `≥ 0.9× ${ratio >= 0.9 ? "✓" : "✗"}`);
  row("wall s (POST→done / first call→file closed)", cols(pipes, (p) => f(p.wallMs / 1000, 1)), cols(naives, (n) => f(n.wallMs / 1000, 1)), `P ${f(median(pipes.map((p) => p.wallMs)) / 1000, 1)} / N ${f(median(naives.map((n) => n.wallMs)) / 1000, 1)}`, `floor ${f(ideal, 1)} s (⌈${PLANNED}/${CONCURRENCY}⌉ × ${LATENCY} ms)`);
  row("job created→finished (server clock) s", cols(pipes, (p) => f(p.serverMs / 1000, 1)), "", "");
  row("workerd CPU ms / candidate", cols(pipes, (p) => f(p.workerdPerCand)), "", `**${f(wcpu)}**`, `≤ 2 ms ${wcpu <= 2 ? "✓" : "✗"} (upper bound: includes local D1/R2/Queues)`);
  row("… net of the 250 ms status polls", cols(pipes, (p) => f(p.workerdPerCandNet)), "", f(wcpuNet), `a poll costs ${f(pipes[0]?.pollCostMs, 1)} ms workerd CPU; idle workerd ${f(pipes[0]?.idleMsPerS, 1)} ms/s`);
  row("workerd CPU s total", cols(pipes, (p) => f(p.workerdMs / 1000)), "", "");
  row("wrangler Node process CPU s", cols(pipes, (p) => f(p.wranglerNodeMs / 1000)), "", "", "dev tooling, not the Worker");
  row("workerd dev-proxy process CPU s", cols(pipes, (p) => f(p.proxyMs / 1000)), "", "", "in front of the Worker in dev only");
  row("esbuild / other CPU s", cols(pipes, (p) => f(p.otherMs / 1000)), "", "");
  row("naive script CPU ms / candidate", "", cols(naives, (n) => f(n.naivePerCand)), f(median(naives.map((n) => n.naivePerCand))));
  row("bench process CPU s (fake server + poller/spawner)", cols(pipes, (p) => f(p.benchMs / 1000)), cols(naives, (n) => f(n.benchMs / 1000)), "");
  row("accepted / rejected / failed of planned", cols(pipes, (p) => `${p.accepted}/${p.rejected}/${p.failed} of ${p.planned}`), cols(naives, (n) => `${n.accepted}/${n.rejected}/${n.failed} of ${n.planned}`), "", "sum == planned " + ([...pipes, ...naives].every((x) => x.countsOk) ? "✓" : "✗"));
  const fl = (x, g) => (x.flight ? g(x.flight) : "–");
  row("mean provider calls in flight (first call→last reply)", cols(pipes, (p) => fl(p, (q) => f(q.mean))), cols(naives, (n) => fl(n, (q) => f(q.mean))), "", `max ${CONCURRENCY}`);
  row("share of that span with all slots busy", cols(pipes, (p) => fl(p, (q) => f(q.fullFrac * 100, 0) + "%")), cols(naives, (n) => fl(n, (q) => f(q.fullFrac * 100, 0) + "%")), "");
  row("time with no call in flight inside the span s", cols(pipes, (p) => fl(p, (q) => f(q.zeroMs / 1000))), cols(naives, (n) => fl(n, (q) => f(q.zeroMs / 1000))), "");
  row("start → first call / last reply → done s", cols(pipes, (p) => fl(p, (q) => `${f(q.leadMs / 1000)} / ${f(q.tailMs / 1000)}`)), cols(naives, (n) => fl(n, (q) => `${f(q.leadMs / 1000)} / ${f(q.tailMs / 1000)}`)), "", "naive: from spawn (Node start-up)");
  row("call duration at the fake p50 / p99 ms", cols(pipes, (p) => fl(p, (q) => `${f(q.p50, 0)} / ${f(q.p99, 0)}`)), cols(naives, (n) => fl(n, (q) => `${f(q.p50, 0)} / ${f(q.p99, 0)}`)), "", `latency ${LATENCY}`);
  const perSlot = (x) => (x.flight ? x.cps / x.flight.mean : NaN);
  const ps = median(pipes.map(perSlot));
  const ns = median(naives.map(perSlot));
  row("candidates/s per call in flight", cols(pipes, (p) => f(perSlot(p))), cols(naives, (n) => f(perSlot(n))), `P ${f(ps)} / N ${f(ns)} → **${f(ps / ns, 3)}×**`, "ratio normalised for concurrency");
  row("provider requests (fake server)", cols(pipes, (p) => String(p.fakeRequests)), cols(naives, (n) => String(n.fakeRequests)), "");
  row("generate batches running at once (max)", cols(pipes, (p) => String(p.maxOverlap)), "", "", "local broker; max_concurrency is not simulated");
  row("queue batches (generate) × size", cols(pipes, (p) => `${p.genBatchSizes.length} × [${[...new Set(p.genBatchSizes)].join(",")}]`), "", "");
  row("generate batch ms (each)", cols(pipes, (p) => p.genBatchMs.join(" ")), "", "", `floor per full batch ${f((Math.ceil((BATCH_SIZE * SLOTS_PER_TASK) / CONCURRENCY) * LATENCY) / 1000, 1)} s (${BATCH_SIZE} tasks × ${SLOTS_PER_TASK} slots)`);
  row("generate batch efficiency (floor / actual)", cols(pipes, (p) => f((100 * (Math.ceil((BATCH_SIZE * SLOTS_PER_TASK) / CONCURRENCY) * LATENCY)) / median(p.genBatchMs.filter((_, i) => p.genBatchSizes[i] === BATCH_SIZE)), 1) + "%"), cols(naives, (n) => f((100 * Math.ceil(PLANNED / NAIVE_CONCURRENCY) * LATENCY) / n.wallMs, 1) + "%"), "", "naive: floor / wall");
  row("POST → first batch starts s (fan-out incl. 1 s batch timeout)", cols(pipes, (p) => f(p.firstBatchDelayMs / 1000)), "", "");
  row("idle gaps between batches s", cols(pipes, (p) => f(p.gapsMs / 1000)), "", "");
  row("last batch end → poll sees done s", cols(pipes, (p) => f(p.lastBatchToDoneMs / 1000)), "", "");
  return { table: rows.join("\n"), ratio, pc, nc, wcpu, wcpuNet, perSlotRatio: ps / ns };
}

// ---------------------------------------------------------------------------------------------
// Main.

let exitCode = 0;
try {
  log(`inputs ${N_INPUTS} × candidates ${CANDIDATES} = ${PLANNED}, latency ${LATENCY} ms, concurrency ${CONCURRENCY}, rounds ${ROUNDS}; tmp ${tmp}`);
  writeInputs();
  fake = await startFakeOpenAI({ port: Number(opt["fake-port"]), latencyMs: LATENCY, keepAlive: true });
  log(`fake OpenAI on ${fake.url} (latency ${LATENCY} ms)`);
  startWrangler(fake.url);
  await waitHealthy({ probe: async () => (await fetch(`${BASE}/healthz`)).ok, exited: () => wranglerExit, tail: () => wranglerLog.slice(-30).map((l) => l.line).join("\n") });
  log("wrangler dev healthy");
  if (opt["trace-cpu"]) {
    // One line a second: CPU ms per process kind under wrangler, and calls in flight at the fake.
    let prev = snapshot(wrangler.pid);
    const timer = setInterval(() => {
      const cur = snapshot(wrangler.pid);
      const d = cpuDelta(prev, cur);
      prev = cur;
      const now = performance.now();
      const inflight = calls.filter((c) => c.a <= now && (c.f === null || c.f > now)).length;
      log(`cpu ${Object.entries(d).map(([k, v]) => `${k}=${Math.round(v)}`).join(" ")} | in flight ${inflight}`);
    }, 1000);
    timer.unref();
  }

  const { key } = await api("POST", "/v1/keys", { token: adminToken, json: { name: "bench-e2e" } });
  const dataset = "bench-e2e";
  await api("POST", "/v1/datasets", { token: key, json: { name: dataset } });
  const up = await api("POST", `/v1/datasets/${dataset}/inputs`, { token: key, body: readFileSync(inputsFile), contentType: "application/x-ndjson" });
  if (up.rows !== N_INPUTS) throw new Error(`upload stored ${up.rows} rows, expected ${N_INPUTS}`);
  log(`uploaded ${up.rows} rows as ${up.id} (${up.chunks} chunks)`);
  const ctx = { key, dataset, upload: up.id, polls: 0 };

  // Warm-up (not measured): compiles and caches everything the job path touches.
  const warm = await api("POST", "/v1/jobs", {
    token: key,
    json: recipe(dataset, { rows: Array.from({ length: 12 }, (_, i) => ({ question: `What is ${i} plus 1?`, answer: `#### ${i + 1}` })) }, 1),
  });
  await waitDone(key, warm.id, 120_000);
  log("warm-up job done");

  const pipes = [];
  const naives = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const order = r % 2 ? ["pipeline", "naive"] : ["naive", "pipeline"];
    for (const side of order) {
      if (side === "pipeline") pipes.push(await runPipeline(ctx, `P${r}`));
      else naives.push(await runNaive(ctx, `N${r}`));
    }
  }

  const rep = report(pipes, naives);
  const wver = (() => {
    try {
      return JSON.parse(readFileSync(join(ROOT, "node_modules/wrangler/package.json"), "utf8")).version;
    } catch {
      return "?";
    }
  })();
  console.log(`\n## bench/e2e — ${PLANNED} candidates (${N_INPUTS} inputs × ${CANDIDATES}), fake latency ${LATENCY} ms, concurrency ${CONCURRENCY} per invocation / naive ${NAIVE_CONCURRENCY}`);
  console.log(`node ${process.version}, wrangler ${wver} (local), ${(await import("node:os")).cpus().length} CPUs, CLK_TCK ${CLK_TCK}; rounds ordered ${Array.from({ length: ROUNDS }, (_, i) => ((i + 1) % 2 ? "P N" : "N P")).join(", ")}\n`);
  console.log(rep.table);
  console.log(
    "\nworkerd CPU covers the Worker *and* local D1 (SQLite), R2 (files) and the queue broker simulated in the same process:\n" +
      "an upper bound on the Worker's own CPU. The wrangler Node process and the dev-proxy workerd (HTTP proxy on --port, inspector and\n" +
      "log forwarding) exist only under wrangler dev and are reported apart.\n" +
      "\"Net of polls\" subtracts the calibrated cost of the 250 ms status polls.",
  );
  console.log("\nper-batch detail (ms from POST: start–end, size, duration):");
  for (const p of pipes) {
    const t0 = p.batches.length ? p.batches[0].start - p.firstBatchDelayMs : 0;
    console.log(`  ${p.label} ${p.jobId}: ` + p.batches.map((b) => `${Math.round(b.start - t0)}–${Math.round(b.end - t0)} [${b.size}] ${b.ms}`).join(", "));
  }
  if (![...pipes, ...naives].every((x) => x.countsOk)) {
    console.error("\nFAIL: accepted + rejected + failed != planned in some run");
    exitCode = 1;
  }
} catch (e) {
  console.error(`bench/e2e failed: ${e?.stack ?? e}`);
  exitCode = 1;
} finally {
  cleaning ??= cleanup();
  await cleaning;
}
process.exit(exitCode);
