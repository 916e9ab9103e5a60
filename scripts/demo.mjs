#!/usr/bin/env node
// `npm run demo`: rejection sampling on GSM8K against the running stack (`npm start`).
//
// Creates a fresh dataset, streams examples/gsm8k/problems.jsonl up as inputs, starts a job that
// asks the teacher for 4 solutions per problem and keeps those whose final answer matches the
// reference (math_answer), follows its progress, compiles a release and says where to read it.
// With --check it then verifies the release end to end and exits non-zero on any mismatch.
import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { gunzipSync } from "node:zlib";
import { ROOT, c, client, fail, formatBytes, formatDuration, healthy, parseFlags, readState, sleep, statePath } from "./lib.mjs";

const USAGE = `usage: npm run demo -- [options]

  --limit N        upload only the first N problems (default: all)
  --timeout S      give up (and cancel the job) after S seconds (default 600)
  --check          verify the release: checksums, counts, and that exactly the recorded
                   correct solutions were accepted; exit 1 on any mismatch
  --provider P     replay | openai (default: openai when the stack has it, else replay)
  --model M        model for the openai provider (default $WINNOW_MODEL or gpt-4o-mini)
  --file F         the problems (default examples/gsm8k/problems.jsonl)
  --recordings F   the recorded solutions --check compares with (examples/gsm8k/recordings.json)
  --output K       sft | preference (default sft): preference also releases a \`pairs\` config,
                   a correct and a wrong solution of the same problem
  --release-rejected
                   the dataset's releases also carry the \`rejected\` config (with reasons)
  --url U          the stack's URL (default $WINNOW_URL, else the one npm start saved)
  --key K          API key (default $WINNOW_KEY, else the dev key npm start saved)
`;

const args = parseFlags(
  process.argv.slice(2),
  {
    limit: { type: "number", min: 1 },
    timeout: { type: "number", min: 1, default: 600 },
    check: { type: "boolean", default: false },
    provider: { type: "string", choices: ["replay", "openai"] },
    model: { type: "string" },
    file: { type: "string", default: "examples/gsm8k/problems.jsonl" },
    recordings: { type: "string", default: "examples/gsm8k/recordings.json" },
    output: { type: "string", choices: ["sft", "preference"], default: "sft" },
    "release-rejected": { type: "boolean", default: false },
    url: { type: "string" },
    key: { type: "string" },
  },
  USAGE,
);

const CANDIDATES = 4;
const SYSTEM = "You are a careful math tutor.";
const USER = "Solve step by step, end with 'A: <number>'.\n\n{{question}}";
const TTY = Boolean(process.stdout.isTTY);
const rel = (p) => relative(process.cwd(), p) || p;
const say = (msg = "") => process.stdout.write(`${msg}\n`);
const step = (msg) => say(`${c.cyan("›")} ${msg}`);

// ---------------------------------------------------------------------------------------------
// Where the stack is.

const baseUrl = args.url ?? process.env.WINNOW_URL ?? readState("url");
const key = args.key ?? process.env.WINNOW_KEY ?? readState("dev-key");
if (!baseUrl || !key) {
  fail(
    `no ${!baseUrl ? "URL" : "API key"} for the Winnow stack.\n` +
      `  Start it in another terminal with \`npm start\` (it saves ${rel(statePath("url"))} and ${rel(statePath("dev-key"))}),\n` +
      "  or set WINNOW_URL and WINNOW_KEY (or pass --url and --key).",
  );
}
const api = client(baseUrl, key);
const t0 = Date.now();

// ---------------------------------------------------------------------------------------------
// The problems (read once for the expectations; the upload streams the file again).

const problemsPath = resolve(ROOT, args.file);
let problems;
try {
  problems = readFileSync(problemsPath, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
} catch (err) {
  fail(`cannot read ${rel(problemsPath)}: ${err.message}`);
}
const limit = Math.min(args.limit ?? problems.length, problems.length);
problems = problems.slice(0, limit);

/**
 * The first `limit` non-empty lines of the file as a byte stream, read as it is sent (so a
 * large file is never held in memory), in chunks of up to 64 KiB.
 */
function uploadStream(path, limit) {
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  const lines = rl[Symbol.asyncIterator]();
  const enc = new TextEncoder();
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      let chunk = "";
      while (sent < limit && chunk.length < 64 * 1024) {
        const { value, done } = await lines.next();
        if (done) break;
        if (!value.trim()) continue;
        chunk += `${value}\n`;
        sent++;
      }
      if (chunk) controller.enqueue(enc.encode(chunk));
      if (!chunk || sent >= limit) {
        rl.close();
        controller.close();
      }
    },
    cancel() {
      rl.close();
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Steps.

async function preflight() {
  if (!(await healthy(baseUrl, 3000))) {
    fail(`nothing answers ${baseUrl}/healthz. Is the stack running? Start it with \`npm start\` (or set WINNOW_URL).`);
  }
  try {
    return (await api.get("/v1/providers")).providers ?? [];
  } catch (err) {
    if (err.status === 401) fail(`the stack at ${baseUrl} does not know this API key (${err.message}).\n  Restart \`npm start\` to get a fresh dev key, or set WINNOW_KEY.`);
    throw err;
  }
}

function timestamp(d = new Date()) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

async function createDataset() {
  const base = `gsm8k-demo-${timestamp()}`;
  for (let i = 1; i <= 20; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    try {
      await api.post("/v1/datasets", {
        name,
        description: `GSM8K rejection-sampling demo (${limit} problems × ${CANDIDATES} candidates, math_answer filter), made by npm run demo.`,
        license: "mit",
        visibility: "private",
      });
      return name;
    } catch (err) {
      if (err.code !== "dataset_exists") throw err;
    }
  }
  throw new Error(`could not find a free dataset name like ${base}`);
}

async function upload(dataset) {
  const res = await api.post(`/v1/datasets/${encodeURIComponent(dataset)}/inputs`, uploadStream(problemsPath, limit), {
    headers: { "content-type": "application/x-ndjson" },
    timeoutMs: 300_000,
  });
  if (res.rows !== limit) throw new Error(`uploaded ${limit} problems but the API counted ${res.rows} rows: ${JSON.stringify(res)}`);
  return res;
}

function recipe(dataset, uploadId, provider, model) {
  return {
    dataset,
    inputs: { upload: uploadId },
    prompt: { system: SYSTEM, user: USER },
    generators: [{ provider, model, params: { temperature: 0.8, max_tokens: 1024 } }],
    candidates: CANDIDATES,
    filters: [
      { type: "length", min_chars: 20, max_chars: 8000 },
      { type: "math_answer", reference: "{{answer}}" },
    ],
    output: { kind: args.output },
  };
}

/** POST /v1/jobs, retried on network errors and 5xx with the same Idempotency-Key. */
async function startJob(body, idempotencyKey) {
  let lastErr;
  for (let attempt = 1; attempt <= 4; attempt++) {
    try {
      return await api.post("/v1/jobs", body, { headers: { "idempotency-key": idempotencyKey } });
    } catch (err) {
      lastErr = err;
      if (!err.network && !(err.status >= 500)) throw err;
      say(c.yellow(`  POST /v1/jobs failed (${err.message.split("\n")[0]}); retrying with the same Idempotency-Key`));
      await sleep(1000 * attempt);
    }
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------------------------
// Progress.

// A stopped job (cancelled, out of budget) is final once its in-flight work has settled.
const TERMINAL = (status, finishedAt = "x") => !["queued", "running"].includes(status) && Boolean(finishedAt);
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

function progressLine(job, elapsedS) {
  const k = job.candidates ?? {};
  const planned = k.planned || 0;
  const settled = (k.accepted ?? 0) + (k.rejected ?? 0) + (k.failed ?? 0) + (k.cancelled ?? 0);
  const pct = planned ? Math.min(1, settled / planned) : 0;
  const eta = TERMINAL(job.status) ? "" : ` · ETA ${job.eta_seconds == null ? (settled ? formatDuration((elapsedS / settled) * (planned - settled)) : "?") : formatDuration(job.eta_seconds)}`;
  const text =
    `${String(Math.round(pct * 100)).padStart(3)}% ${job.status.padEnd(7)} ` +
    `generated ${k.generated ?? 0}/${planned} · ${c.green(`accepted ${k.accepted ?? 0}`)} · ${c.yellow(`rejected ${k.rejected ?? 0}`)} · ` +
    `${(k.failed ?? 0) ? c.red(`failed ${k.failed}`) : `failed 0`}${eta} · ${formatDuration(elapsedS)}`;
  if (!TTY) return text;
  const cols = process.stdout.columns || 100;
  const width = Math.max(0, Math.min(30, cols - stripAnsi(text).length - 4));
  const fill = Math.round(pct * width);
  const bar = width >= 5 ? `[${c.green("█".repeat(fill))}${c.dim("░".repeat(width - fill))}] ` : "";
  let line = bar + text;
  if (stripAnsi(line).length >= cols) line = stripAnsi(line).slice(0, cols - 1);
  return line;
}

async function follow(jobId) {
  const started = Date.now();
  const deadline = started + args.timeout * 1000;
  let lastPrint = 0;
  let lastStatus = null;
  let errors = 0;
  let job;
  for (;;) {
    try {
      job = await api.get(`/v1/jobs/${encodeURIComponent(jobId)}`, { timeoutMs: 15_000 });
      errors = 0;
    } catch (err) {
      if (err.status && err.status < 500) throw err;
      if (++errors >= 20) throw new Error(`GET /v1/jobs/${jobId} kept failing: ${err.message}`);
    }
    const now = Date.now();
    const elapsed = (now - started) / 1000;
    if (job) {
      const done = TERMINAL(job.status, job.finished_at);
      if (TTY) process.stdout.write(`\r\x1b[K${progressLine(job, elapsed)}`);
      else if (done || job.status !== lastStatus || now - lastPrint >= 2000) {
        say(`  ${progressLine(job, elapsed)}`);
        lastPrint = now;
      }
      lastStatus = job.status;
      if (done) {
        if (TTY) process.stdout.write("\n");
        return { job, seconds: elapsed };
      }
    }
    if (now > deadline) {
      if (TTY) process.stdout.write("\n");
      say(c.red(`timed out after ${args.timeout}s with the job ${job?.status ?? "unreachable"}; cancelling it`));
      try {
        await api.post(`/v1/jobs/${encodeURIComponent(jobId)}/cancel`, {});
      } catch (err) {
        say(c.red(`  cancel failed: ${err.message}`));
      }
      process.exit(1);
    }
    await sleep(500);
  }
}

function summary(job, seconds) {
  const k = job.candidates;
  say(
    `  ${job.status === "done" ? c.green("done") : c.red(job.status)} in ${formatDuration(seconds)}: ` +
      `${job.inputs?.total ?? "?"} problems, ${k.planned} candidates → ${c.green(`${k.accepted} accepted`)}, ${k.rejected} rejected, ${k.failed} failed` +
      (k.cancelled ? `, ${k.cancelled} cancelled` : "") +
      (k.planned ? `  (${((100 * k.accepted) / k.planned).toFixed(1)}% kept)` : ""),
  );
  const filters = Object.entries(job.filters ?? {});
  if (filters.length) say(`  filters: ${filters.map(([n, v]) => `${n} ${v}`).join(", ")}`);
  say(`  tokens: ${job.tokens?.input ?? "?"} in, ${job.tokens?.output ?? "?"} out · cost $${(job.cost_usd ?? 0).toFixed(4)}`);
  if (job.error) say(c.red(`  error: ${job.error}`));
}

// ---------------------------------------------------------------------------------------------
// Release.

const pathOf = (p) => p.split("/").map(encodeURIComponent).join("/");
const releaseUrl = (dataset, version) => `${api.base}/v1/datasets/${encodeURIComponent(dataset)}/releases/${encodeURIComponent(version)}`;
const fileUrl = (dataset, version, path) => `${releaseUrl(dataset, version)}/files/${pathOf(path)}`;

function printRelease(dataset, m) {
  say(`  ${c.bold(`${dataset} ${m.version}`)}: ${m.counts?.rows ?? "?"} rows in ${m.files?.length ?? 0} file(s)`);
  for (const f of m.files ?? []) {
    const rows = f.rows === undefined || f.rows === null ? "" : `${f.rows} rows`;
    say(`    ${f.path.padEnd(32)} ${rows.padStart(11)} ${formatBytes(f.bytes).padStart(10)}  sha256 ${String(f.sha256).slice(0, 16)}…`);
  }
  const keyRef = process.env.WINNOW_KEY || args.key ? "$WINNOW_KEY" : `$(cat ${rel(statePath("dev-key"))})`;
  const data = (m.files ?? []).find((f) => /\.jsonl\.gz$/.test(f.path)) ?? m.files?.[0];
  say("");
  say(`  ${c.bold("Read it")} (private dataset: send the key)`);
  say(`    manifest  ${releaseUrl(dataset, m.version)}`);
  for (const f of m.files ?? []) say(`    file      ${fileUrl(dataset, m.version, f.path)}`);
  if (!(m.files ?? []).some((f) => f.path === "README.md")) say(`    card      ${fileUrl(dataset, m.version, "README.md")}`);
  say(`    viewer    ${api.base}/`);
  if (data) {
    const unzip = /\.gz$/.test(data.path) ? " | gunzip" : "";
    say(`    ${c.dim("first record:")}`);
    say(`    curl -s -H "Authorization: Bearer ${keyRef}" \\`);
    say(`      ${fileUrl(dataset, m.version, data.path)}${unzip} | head -n 1`);
  }
}

// ---------------------------------------------------------------------------------------------
// Check.

/** GET with the raw bytes as sent (fetch would undo a Content-Encoding; curl does not). */
function download(url, headers = {}) {
  return new Promise((resolvePromise, reject) => {
    const mod = url.startsWith("https:") ? https : http;
    const req = mod.get(url, { headers: { authorization: `Bearer ${key}`, ...headers } }, (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolvePromise({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.setTimeout(120_000, () => req.destroy(new Error(`timeout downloading ${url}`)));
    req.on("error", reject);
  });
}

async function allSamples(jobId, status) {
  const out = [];
  const seen = new Set();
  let cursor = null;
  for (let page = 0; page < 100_000; page++) {
    const q = new URLSearchParams({ status, limit: "200" });
    if (cursor) q.set("cursor", cursor);
    const res = await api.get(`/v1/jobs/${encodeURIComponent(jobId)}/samples?${q}`);
    out.push(...(res.samples ?? []));
    if (!res.next_cursor) return out;
    if (seen.has(res.next_cursor)) throw new Error(`samples?status=${status}: the cursor repeats (${res.next_cursor})`);
    seen.add(res.next_cursor);
    cursor = res.next_cursor;
  }
  throw new Error(`samples?status=${status}: too many pages`);
}

const assistantText = (r) => [...(r.messages ?? [])].reverse().find((m) => m.role === "assistant")?.content;
const pairKey = (q, text) => `${q}\u0000${text}`;

/** The `pairs` and `rejected` configs are there exactly when the demo asked for them, and hold what they promise. */
function checkOtherConfigs({ byConfig, manifest, k, expect, problem }) {
  const pairs = byConfig.pairs;
  if (args.output !== "preference") {
    expect(pairs.length === 0, "no pairs config (an sft job)", `${pairs.length} pairs in the release of an sft job`);
  } else {
    // A pair per problem whose candidates were both accepted and rejected; the recordings say which.
    const recordings = JSON.parse(readFileSync(resolve(ROOT, args.recordings), "utf8"));
    const want = problems.filter((p) => {
      const recs = recordings[p.question] ?? [];
      const slots = Array.from({ length: CANDIDATES }, (_, i) => recs[i % recs.length]).filter(Boolean);
      return slots.some((r) => r.is_correct) && slots.some((r) => !r.is_correct);
    }).length;
    expect(
      pairs.length === want && manifest.counts?.pairs === want,
      `pairs config: ${want} pairs, one for each problem with a correct and a wrong solution, as counts.pairs says`,
      `pairs config has ${pairs.length} rows, counts.pairs ${manifest.counts?.pairs}, expected ${want}`,
    );
    const correct = (q, text) => (recordings[q] ?? []).some((r) => r.text === text && r.is_correct);
    const bad = pairs.filter(
      (p) =>
        p.prompt?.at(-1)?.role !== "user" ||
        p.chosen?.[0]?.role !== "assistant" ||
        p.rejected?.[0]?.role !== "assistant" ||
        !correct(p.input?.question, p.chosen[0].content) ||
        correct(p.input?.question, p.rejected[0].content),
    );
    expect(bad.length === 0, "pairs: prompt ends with the user turn, chosen is a correct solution and rejected a wrong one", `${bad.length} pair(s) are not {prompt, chosen: correct, rejected: wrong}, e.g. ${JSON.stringify(bad[0])?.slice(0, 200)}`);
  }
  const rejected = byConfig.rejected;
  if (!args["release-rejected"]) {
    expect(rejected.length === 0, "no rejected config (the dataset did not ask for one)", `${rejected.length} rejected rows though the dataset did not ask for them`);
  } else {
    const noReason = rejected.filter((r) => typeof r.reason !== "string" || !r.reason.includes(".")).length;
    expect(
      rejected.length === k.rejected && noReason === 0,
      `rejected config: ${rejected.length} rows = job rejected, each with its namespaced reason`,
      `rejected config has ${rejected.length} rows (${noReason} without a namespaced reason), job rejected ${k.rejected}`,
    );
  }
}

async function check({ dataset, job, jobId, manifest, provider }) {
  const problemsFailed = [];
  const problem = (msg) => {
    problemsFailed.push(msg);
    say(`  ${c.red("✗")} ${msg}`);
  };
  const ok = (msg) => say(`  ${c.green("✓")} ${msg}`);
  const expect = (cond, good, bad) => (cond ? ok(good) : problem(bad));

  // 1. The job's counts add up.
  const k = job.candidates;
  const planned = limit * CANDIDATES;
  expect(job.status === "done", "job status is done", `job status is ${job.status}, expected done`);
  expect(job.inputs?.total === limit, `inputs.total = ${limit}`, `inputs.total = ${job.inputs?.total}, expected ${limit}`);
  expect(
    k.planned === planned && k.accepted + k.rejected + k.failed === planned,
    `accepted + rejected + failed = planned = ${limit} × ${CANDIDATES} = ${planned}`,
    `counts do not add up: accepted ${k.accepted} + rejected ${k.rejected} + failed ${k.failed} = ${k.accepted + k.rejected + k.failed}, planned ${k.planned}, expected ${planned}`,
  );
  if (job.filters && "math_answer.pass" in job.filters) {
    expect(job.filters["math_answer.pass"] === k.accepted, `filters["math_answer.pass"] = accepted = ${k.accepted}`, `filters["math_answer.pass"] = ${job.filters["math_answer.pass"]} but accepted = ${k.accepted}`);
  }

  // 2. Every file of the release, as downloaded: bytes, sha256, rows; records parsed.
  const byConfig = { default: [], pairs: [], rejected: [] };
  const rowsByConfig = { default: 0, pairs: 0, rejected: 0 };
  for (const f of manifest.files ?? []) {
    const url = fileUrl(dataset, manifest.version, f.path);
    let res;
    try {
      res = await download(url);
    } catch (err) {
      problem(`${f.path}: download failed: ${err.message}`);
      continue;
    }
    if (res.status !== 200) {
      problem(`${f.path}: GET ${url} → ${res.status} ${res.body.toString("utf8").slice(0, 300)}`);
      continue;
    }
    const sha = createHash("sha256").update(res.body).digest("hex");
    const enc = res.headers["content-encoding"];
    const good = res.body.length === f.bytes && sha === f.sha256;
    expect(
      good,
      `${f.path}: ${res.body.length} bytes, sha256 matches the manifest`,
      `${f.path}: downloaded ${res.body.length} bytes sha256 ${sha}${enc ? ` (Content-Encoding: ${enc})` : ""}, manifest says ${f.bytes} bytes sha256 ${f.sha256}`,
    );
    if (!/\.jsonl(\.gz)?$/.test(f.path)) continue;
    let text;
    try {
      text = (/\.gz$/.test(f.path) ? gunzipSync(res.body) : res.body).toString("utf8");
    } catch (err) {
      problem(`${f.path}: does not gunzip: ${err.message}`);
      continue;
    }
    const lines = text.split("\n").filter((l) => l.trim());
    const config = f.config ?? "default";
    if (!(config in byConfig)) {
      problem(`${f.path}: config ${JSON.stringify(config)} is not one SPEC names (default, pairs, rejected)`);
      continue;
    }
    let bad = 0;
    for (const l of lines) {
      try {
        byConfig[config].push(JSON.parse(l));
      } catch {
        bad++;
      }
    }
    if (bad) problem(`${f.path}: ${bad} line(s) are not JSON`);
    rowsByConfig[config] += lines.length;
    if (f.rows !== undefined) expect(lines.length === f.rows, `${f.path}: ${lines.length} rows as the manifest says`, `${f.path}: ${lines.length} rows, manifest says ${f.rows}`);
  }
  const records = byConfig.default;
  const fileRows = rowsByConfig.default;
  expect(
    manifest.counts?.rows === fileRows && fileRows === k.accepted,
    `release rows = default config rows = accepted = ${k.accepted}`,
    `release counts.rows ${manifest.counts?.rows}, rows in the default config's files ${fileRows}, job accepted ${k.accepted}: expected all equal`,
  );
  checkOtherConfigs({ byConfig, manifest, k, expect, problem });

  // Range support and ETag (SPEC): reported, not fatal.
  const first = (manifest.files ?? [])[0];
  if (first) {
    try {
      const r = await download(fileUrl(dataset, manifest.version, first.path), { range: "bytes=0-1" });
      if (r.status === 206 && r.body.length === 2) ok(`Range: bytes=0-1 → 206, 2 bytes${r.headers.etag ? `; ETag ${r.headers.etag}` : ""}`);
      else say(`  ${c.yellow("!")} Range: bytes=0-1 → ${r.status}, ${r.body.length} bytes (SPEC promises range support; not counted as a failure)`);
    } catch (err) {
      say(`  ${c.yellow("!")} range request failed: ${err.message}`);
    }
  }

  // 3. The records themselves.
  const byQuestion = new Map(problems.map((p) => [p.question, p]));
  const ids = new Set();
  let dupIds = 0;
  const shapeIssues = [];
  for (const r of records) {
    if (ids.has(r.id)) dupIds++;
    ids.add(r.id);
    const q = r.input?.question;
    const issue = (m) => shapeIssues.length < 5 && shapeIssues.push(`${r.id}: ${m}`);
    if (!byQuestion.has(q)) issue(`input.question is not one of the uploaded problems: ${JSON.stringify(q)?.slice(0, 80)}`);
    const sys = r.messages?.find((m) => m.role === "system")?.content;
    const user = r.messages?.find((m) => m.role === "user")?.content;
    if (sys !== SYSTEM) issue(`system message is ${JSON.stringify(sys)?.slice(0, 120)}, expected ${JSON.stringify(SYSTEM)}`);
    const wantUser = USER.replace("{{question}}", () => q ?? "");
    if (user !== wantUser) issue(`user message differs from the rendered template: got ${JSON.stringify(user)?.slice(0, 200)}, expected ${JSON.stringify(wantUser).slice(0, 200)}`);
    if (typeof assistantText(r) !== "string") issue("no assistant message");
    if (r.generator?.provider !== provider) issue(`generator.provider is ${r.generator?.provider}, expected ${provider}`);
    if (!Array.isArray(r.filters) || r.filters.some((f) => f.pass !== true)) issue(`filters do not all pass: ${JSON.stringify(r.filters)?.slice(0, 200)}`);
    if (r.lineage?.job && r.lineage.job !== jobId) issue(`lineage.job is ${r.lineage.job}, expected ${jobId}`);
  }
  expect(dupIds === 0, `${records.length} records, no duplicate sample ids`, `${dupIds} duplicate sample id(s) among ${records.length} records`);
  if (shapeIssues.length) problem(`records do not look right:\n      ${shapeIssues.join("\n      ")}`);
  else if (records.length) ok("records: SFT messages with the rendered prompt, the uploaded input, passing filter traces");

  // 4. Exactly the recorded correct solutions were accepted.
  const recordings = JSON.parse(readFileSync(resolve(ROOT, args.recordings), "utf8"));
  const expected = new Map(); // (question, text) → count
  const recordedTexts = new Set();
  for (const p of problems) {
    const recs = recordings[p.question] ?? [];
    for (let slot = 0; slot < CANDIDATES; slot++) {
      const rec = recs[slot % recs.length];
      if (!rec) continue;
      recordedTexts.add(pairKey(p.question, rec.text));
      if (rec.is_correct) expected.set(pairKey(p.question, rec.text), (expected.get(pairKey(p.question, rec.text)) ?? 0) + 1);
    }
  }
  const got = new Map();
  for (const r of records) {
    const kk = pairKey(r.input?.question, assistantText(r));
    got.set(kk, (got.get(kk) ?? 0) + 1);
  }
  const fromRecordings = records.filter((r) => recordedTexts.has(pairKey(r.input?.question, assistantText(r)))).length;
  const compare = provider === "replay" || (records.length > 0 && fromRecordings === records.length);
  if (!compare && fromRecordings === 0) {
    say(`  ${c.yellow("!")} the ${provider} teacher does not serve the recorded solutions (a real model?): skipping the comparison with recordings`);
  } else if (!compare) {
    problem(`${fromRecordings} of ${records.length} accepted texts are recordings and the rest are not: a mix of recorded and other answers`);
  } else {
    const expectedTotal = [...expected.values()].reduce((a, b) => a + b, 0);
    const missing = [...expected].filter(([kk, n]) => (got.get(kk) ?? 0) < n);
    const extra = [...got].filter(([kk, n]) => (expected.get(kk) ?? 0) < n);
    const show = (list) =>
      list
        .slice(0, 3)
        .map(([kk]) => {
          const [q, t] = kk.split("\u0000");
          return `\n      ${JSON.stringify(q.slice(0, 60))} → ${JSON.stringify(String(t).slice(-60))}`;
        })
        .join("");
    expect(
      missing.length === 0 && extra.length === 0,
      `accepted = exactly the ${expectedTotal} recorded correct solutions of the ${limit} problems`,
      `accepted ≠ recorded correct solutions (expected ${expectedTotal}, got ${records.length}): ${missing.length} missing, ${extra.length} unexpected${missing.length ? `\n    missing:${show(missing)}` : ""}${extra.length ? `\n    unexpected:${show(extra)}` : ""}`,
    );
    expect(k.failed === 0, "no failed candidates (the teacher is deterministic and healthy)", `${k.failed} failed candidates from a deterministic teacher`);
  }

  // 5. The samples API agrees with the release and the counts.
  try {
    const accepted = await allSamples(jobId, "accepted");
    const sampleIds = new Set(accepted.map((s) => s.id));
    const same = sampleIds.size === ids.size && [...ids].every((id) => sampleIds.has(id));
    expect(
      same && accepted.length === k.accepted,
      `samples?status=accepted: ${accepted.length} samples, the same ids as the release`,
      `samples?status=accepted: ${accepted.length} samples (${sampleIds.size} distinct ids), release has ${ids.size} ids, ${[...ids].filter((id) => !sampleIds.has(id)).length} not in the samples API; job accepted ${k.accepted}`,
    );
    if (compare) {
      // Slot k of a problem gets recording k mod 4: check it where the sample says its slot.
      const wrong = accepted.filter((s) => {
        if (!Number.isInteger(s.candidate)) return false;
        const recs = recordings[s.input?.question] ?? [];
        return recs.length && recs[s.candidate % recs.length].text !== assistantText(s);
      });
      expect(wrong.length === 0, "each accepted sample carries the recording of its candidate slot", `${wrong.length} sample(s) carry another slot's recording, e.g. ${wrong[0]?.id}`);
    }
    for (const status of ["rejected", "failed"]) {
      const list = await allSamples(jobId, status);
      expect(list.length === k[status], `samples?status=${status}: ${list.length} = job ${status}`, `samples?status=${status}: ${list.length} samples, job says ${k[status]}`);
      const failures = list.filter((s) => s.status && s.status !== status).length;
      if (failures) problem(`samples?status=${status}: ${failures} sample(s) with another status`);
    }
  } catch (err) {
    problem(`samples API: ${err.message}`);
  }

  return problemsFailed;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  step(`Winnow at ${baseUrl}`);
  const providers = await preflight();
  const names = providers.map((p) => p.name);
  const provider = args.provider ?? (names.includes("openai") ? "openai" : "replay");
  if (!names.includes(provider)) fail(`provider ${provider} is not configured on this stack (it has: ${names.join(", ") || "none"})`);
  const model =
    provider === "replay"
      ? providers.find((p) => p.name === "replay")?.models?.[0] ?? "gsm8k-gpt3"
      : args.model ?? process.env.WINNOW_MODEL ?? "gpt-4o-mini";
  say(`  teacher: ${provider} / ${model}${provider === "replay" ? c.dim(" (recorded GPT-3 solutions, offline)") : ""}`);

  const dataset = await createDataset();
  step(`dataset ${c.bold(dataset)} created`);
  if (args["release-rejected"]) {
    // A setting, not part of SPEC's create body: PATCH it, as a user would.
    await api.patch(`/v1/datasets/${encodeURIComponent(dataset)}`, { release_rejected: true });
    step("its releases will carry the rejected candidates too (release_rejected)");
  }

  const up = await upload(dataset);
  step(`uploaded ${up.rows} problems from ${rel(problemsPath)} (${formatBytes(up.bytes)}, fields ${(up.fields ?? []).join(", ")}) → ${up.id}`);

  const body = recipe(dataset, up.id, provider, model);
  const idem = `demo-${dataset}-${up.id}`;
  // A quote first: the same recipe with "dry_run" creates nothing and says what it would cost.
  const { quote } = await api.post("/v1/jobs", { ...body, dry_run: true });
  step(`quote: ~${quote.tokens.input.toLocaleString()} input + ${quote.tokens.output.toLocaleString()} output tokens, $${quote.cost_usd.toFixed(4)} ${c.dim(`(${quote.method.split(";")[0]})`)}`);
  const created = await startJob(body, idem);
  step(`job ${c.bold(created.id)} ${created.status}: ${limit} problems × ${CANDIDATES} candidates, keep the ones whose final answer matches (Idempotency-Key ${idem})`);
  let idempotencyProblem = null;
  if (args.check) {
    // The same request again must name the same job, not start a second one.
    try {
      const again = await api.post("/v1/jobs", body, { headers: { "idempotency-key": idem } });
      if (again.id !== created.id) {
        idempotencyProblem = `POST /v1/jobs with the same Idempotency-Key started another job (${again.id} after ${created.id})`;
        await api.post(`/v1/jobs/${encodeURIComponent(again.id)}/cancel`, {}).catch(() => {});
      }
    } catch (err) {
      idempotencyProblem = `POST /v1/jobs repeated with the same Idempotency-Key failed: ${err.message}`;
    }
  }

  const { job, seconds } = await follow(created.id);
  summary(job, seconds);
  if (job.status !== "done") {
    say(c.red(`the job ended ${job.status}; no release compiled`));
    if (args.check) say(`${c.red("FAIL")} demo --check: job ${created.id} ended ${job.status}`);
    process.exit(1);
  }
  if (!job.candidates.accepted) {
    say(c.yellow("no candidate was accepted, so there is nothing to release"));
    if (args.check) say(`${c.red("FAIL")} demo --check: nothing accepted`);
    process.exit(1);
  }

  step("compiling a release");
  const manifest = await api.post(`/v1/datasets/${encodeURIComponent(dataset)}/releases`, {}, { timeoutMs: 300_000 });
  printRelease(dataset, manifest);

  if (!args.check) {
    say("");
    say(c.green(`done in ${formatDuration((Date.now() - t0) / 1000)}`));
    return;
  }

  say("");
  step("checking the release");
  const failures = await check({ dataset, job, jobId: created.id, manifest, provider });
  if (idempotencyProblem) {
    failures.push(idempotencyProblem);
    say(`  ${c.red("✗")} ${idempotencyProblem}`);
  } else say(`  ${c.green("✓")} the same POST /v1/jobs with the same Idempotency-Key named the same job`);
  const took = formatDuration((Date.now() - t0) / 1000);
  const what = `${provider}/${model}, ${limit} problems × ${CANDIDATES} → ${job.candidates.accepted} accepted, release ${manifest.version} (${manifest.counts?.rows} rows), ${took}`;
  if (failures.length) {
    say(`${c.red(c.bold("FAIL"))} demo --check: ${failures.length} problem(s); ${what}`);
    process.exit(1);
  }
  say(`${c.green(c.bold("PASS"))} demo --check: ${what}`);
}

main().catch((err) => {
  if (TTY) process.stdout.write("\n");
  fail(err.message);
});
