// bench/release: compiling a big release — wall time, peak memory, throughput against plain gzip —
// and the 1% incremental release after it.
//
//   npm run bench:release -- [--records 200000] [--record-bytes 1024] [--per-call 10000]
//       [--per-shard 400] [--increment-pct 1] [--step-records 25000] [--compile chain|inline] [--no-meter] [--inspector]
//       [--v8-flags='--trace-gc --trace-gc-verbose --max-old-space-size=28 --max-semi-space-size=2']
//       [--compile chain|inline] [--timeout-min 20] [--port 8796] [--keep] [-v]
//
// --compile chain (the default) is the product's path: POST /v1/datasets/{name}/releases, whose
// steps continue through `compile` queue messages. --compile inline runs the same steps in one
// invocation (bench-only POST /__bench/compile): under wrangler dev 4.86 a queue invocation of a
// few seconds sometimes never completes for the local queue broker, which then delivers nothing
// more (BENCHMARKS.md), so a 40-step chain does not always reach the end locally.
//
// The default is 200k records (~2 min on 2 cores); `--records 1000000` is the 1M figure (~5 min).
// The compile gives up after --timeout-min.
//
// Runs `wrangler dev` (fresh persist dir, migrations applied, a bundled snapshot of the Worker as
// in bench/cost) with `--var BENCH_ROUTES:1` and `--var METER_PLATFORM:1`, without the DevTools
// inspector (which copies every R2 body the compile reads; `--inspector` puts it back) and with
// V8 flags for workerd (../lib/wrangler-preload.cjs says how and why), creates a key and a
// dataset, and seeds it through the bench-only `POST /__bench/seed` (workers/bench-seed.ts):
// accepted ~1 KB records, `--per-shard` to a shard (a consumer batch: 4 tasks of 100), the job's
// recipe with length + refusal + dedup + decontaminate, so compile re-runs its dedup and
// decontamination authority pass as it would on real data.
//
// Then `POST /v1/datasets/{name}/releases`, handling both answers compile may give: the manifest
// (201), or `202 {version, status: "compiling"}`, then `GET .../releases` is polled until that
// version is published. Measured from the POST to published:
// - wall time, to the release's `published_at` (a poll can see it seconds later under wrangler dev);
// - the Worker isolate's memory, from V8's own GC trace (../lib/v8-gc-trace.mjs): at every GC,
//   the heap before it plus the external memory (ArrayBuffers, native buffers) at it; the peak
//   of that sum is the figure held against the 64 MB goal. The heap is capped by the V8 flags
//   (old space 28 MB, young generation 3 × 2 MB) as production bounds a Worker's: uncapped,
//   V8 lets garbage grow with the machine and the peak would measure V8's laziness, not the
//   compile. A compile that needed more would fail here with an out-of-memory crash;
//   also the whole process, as before: VmRSS sampled every 100 ms and VmHWM after resetting it
//   (`echo 5 > /proc/PID/clear_refs`) just before the POST, peak minus the RSS before. That
//   process also runs the local D1 (SQLite), R2 and Miniflare's isolates: an upper bound;
// - CPU (utime+stime) of that process, and the compile's own `[meter]` line (D1 rows, R2 ops).
// Throughput is of the input: the seeded shards' uncompressed JSONL bytes and records.
//
// Then the I/O floor: bench-only `POST /__bench/io-floor` (workers/bench-io-floor.ts) does the
// compile's R2 reads and writes without the compile, on the same data. Local R2 runs in the
// Worker's own workerd thread, so that is how much of the wall time is local R2's.
//
// The gzip references, in the same run: the seeded shards are read back from the persist dir
// (local R2 keeps each object's bytes as one blob file) and gunzipped. Their raw JSONL is then
// compressed at level 6 twice, each on one core: by `gzip -6` itself (GNU gzip, the tool the
// goal names, over one file of all of it) and by node's zlib (one shard at a time). The two are
// not the same code: GNU gzip has its own deflate, and on this text zlib runs ~2× faster. Each
// one's MB/s divided into the compile's is a ratio (goal ≥ 0.5×); both are reported.
//
// Incremental: `--increment-pct` (1%) more records are seeded and a second release compiled: its
// wall time, memory, operation counts and their cost at list prices (bench/cost/prices.mjs), and
// a check that its manifest lists every data file of the first release, unchanged and stored in
// the first release's prefix.
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { spawnSync } from "node:child_process";
import http from "node:http";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { PRICES, price } from "../cost/prices.mjs";
import { classify, sumMeters } from "../cost/meter-lines.mjs";
import { settle, startWranglerSnapshot, waitHealthy } from "../lib/wrangler-snapshot.mjs";
import { CLK_TCK, int, readStat, sleep, stopTree } from "../lib/proc.mjs";
import { gcFigures, largestIsolate } from "../lib/v8-gc-trace.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WRANGLER = join(ROOT, "node_modules/wrangler/wrangler-dist/cli.js");
const SAMPLE_MS = 100;

/** Rejects when the deadline passes first: a compile that stalls must end the run, not hang it. */
function before(deadline, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer after --timeout-min ${opt["timeout-min"]}`)), Math.max(0, deadline - performance.now()))));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * wrangler dev 4.86: a request that reaches the Worker while a compile step holds it sometimes
 * gets no answer until another request arrives (seen as a status poll answered after 75 s, at
 * the moment an unrelated `GET /` came in). So while a poll waits, a `GET /` every 5 s wakes it.
 * Only the bench's polls wait like this; the compile's own invocations are not touched.
 */
async function woken(promise) {
  let done = false;
  promise.finally(() => (done = true)).catch(() => {});
  while (!done) {
    await Promise.race([promise.catch(() => {}), sleep(5000)]);
    if (!done) await fetch(`${BASE}/`).then((r) => r.arrayBuffer()).catch(() => {});
  }
  return promise;
}

const { values: opt } = parseArgs({
  allowNegative: true,
  options: {
    records: { type: "string", default: "200000" },
    "record-bytes": { type: "string", default: "1024" },
    "per-call": { type: "string", default: "10000" },
    "per-shard": { type: "string", default: "400" },
    "increment-pct": { type: "string", default: "1" },
    "step-records": { type: "string", default: "25000" },
    compile: { type: "string", default: "chain" },
    port: { type: "string", default: "8796" },
    "inspector-port": { type: "string", default: "8797" },
    meter: { type: "boolean", default: true },
    "poll-ms": { type: "string", default: "250" },
    inspector: { type: "boolean", default: false },
    // The V8 heap of a Worker in production is bounded; uncapped, workerd's V8 lets garbage pile up
    // to the size of the machine, so the Worker's heap is capped here (old space 28 MB, young
    // generation 3 × 2 MB) and every GC traced, which is what the isolate figures are read from.
    "v8-flags": { type: "string", default: "--trace-gc --trace-gc-verbose --max-old-space-size=28 --max-semi-space-size=2" },
    "timeout-min": { type: "string", default: "20" },
    keep: { type: "boolean", default: false },
    verbose: { type: "boolean", short: "v", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opt.help) {
  console.log("usage: node bench/release/run.mjs [--records 200000] [--record-bytes 1024] [--per-call 10000] [--per-shard 400] [--increment-pct 1] [--step-records 25000] [--compile chain|inline] [--no-meter] [--inspector] [--v8-flags='--trace-gc ...'] [--timeout-min 20] [--port 8796] [--inspector-port 8797] [--keep] [-v]");
  process.exit(0);
}
if (!["chain", "inline"].includes(opt.compile)) throw new Error(`--compile must be chain or inline, not ${opt.compile}`);
const RECORDS = int(opt.records, "records");
const RECORD_BYTES = int(opt["record-bytes"], "record-bytes");
const PER_CALL = int(opt["per-call"], "per-call");
const PER_SHARD = int(opt["per-shard"], "per-shard");
const INCREMENT = Math.max(1, Math.round((RECORDS * Number(opt["increment-pct"])) / 100));
const PORT = int(opt.port, "port");
const BASE = `http://127.0.0.1:${PORT}`;

const T_START = performance.now();
const log = (...a) => console.error(`[bench ${((performance.now() - T_START) / 1000).toFixed(1)}s]`, ...a);
const MB = 1e6;

// ---------------------------------------------------------------------------------------------
// Processes: wrangler (its own process group) and the Worker's workerd under it.

const tmp = mkdtempSync(join(tmpdir(), "winnow-bench-release-"));
const persist = join(tmp, "state");
let wrangler = null;
let wranglerExit = null;
const lines = []; // wrangler stdout+stderr, ANSI stripped
let lastQueueActivity = 0; // when wrangler last logged a queue invocation (for the stall check)
/** No queue invocation for this long while the release compiles and workerd idles: the chain stopped. */
const STALL_MS = 120_000;
const seenPids = new Map(); // pid → comm, every process we saw under wrangler


/** The Worker's workerd processes (wrangler dev 4 also runs a proxy workerd on --port: left out). */
function workerPids() {
  const all = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map((d) => readStat(Number(d))).filter(Boolean);
  const kids = new Map();
  for (const p of all) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
  const out = [];
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
    if (!cmd.includes(`entry=127.0.0.1:${PORT} `)) out.push(p.pid);
  }
  if (!out.length) throw new Error("no Worker workerd process found under wrangler dev");
  return out;
}

/** kB fields of /proc/PID/status, summed over the pids. */
function status(pids, field) {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      kb += Number(m?.[1] ?? 0);
    } catch {}
  }
  return kb * 1024;
}

const cpuMs = (pids) => (pids.reduce((n, pid) => n + (readStat(pid)?.ticks ?? 0), 0) * 1000) / CLK_TCK;

async function cleanup() {
  if (wrangler && wranglerExit === null) {
    try {
      workerPids(); // record the tree's pids one last time
    } catch {}
  }
  await stopTree(wrangler, () => wranglerExit, seenPids);
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
// wrangler dev, on a bundled snapshot (others edit the tree while we run; see bench/e2e).

/** Starts wrangler dev and waits until it answers. */
async function startWrangler(adminToken, v8Flags) {
  const vars = {
    ADMIN_TOKEN: adminToken,
    BENCH_ROUTES: "1",
    RELEASE_STEP_RECORDS: String(int(opt["step-records"], "step-records")),
    ...(opt.meter ? { METER_PLATFORM: "1" } : {}),
    // Release polls are the bench's; they must not be rate limited.
    API_RATE_LIMIT_PER_MIN: "100000",
  };
  const onLine = (line) => {
    lines.push(line);
    if (line.includes('"handler":"queue"') || line.includes("QUEUE ")) lastQueueActivity = performance.now();
    if (opt.verbose) process.stderr.write(`  [wrangler] ${line}\n`);
  };
  const handle = startWranglerSnapshot({ root: ROOT, wrangler: WRANGLER, tmp, persist, port: PORT, inspectorPort: opt["inspector-port"], vars, log, onLine, inspector: opt.inspector, v8Flags });
  wrangler = handle.child;
  wranglerExit = null;
  wrangler.on("exit", (code, sig) => (wranglerExit = code ?? sig ?? "exit"));
  await waitHealthy({ probe: async () => (await api("GET", "/healthz")).status === 200, exited: () => wranglerExit, tail: () => lines.slice(-30).join("\n") });
}

const V8_FLAGS = opt["v8-flags"].split(/\s+/).filter(Boolean);

/**
 * Seeding runs without the V8 flags, the compiles with them: seeding is not what is measured, and
 * under the heap cap workerd 4.86 sometimes spins forever in its GC message loop (main thread in
 * `pumpMsgLoop`, a background thread in `AwaitCollectionBackground`), which a million records of
 * seeding (with their segments) met every time. Same persist dir, so the data stays.
 */
async function restartWrangler(adminToken, v8Flags) {
  await stopTree(wrangler, () => wranglerExit, seenPids);
  seenPids.clear(); // their pids may be reused, by the next workerd among others
  await startWrangler(adminToken, v8Flags);
  log(`wrangler dev restarted${v8Flags.length ? " with the V8 flags" : " without V8 flags"}`);
}

/** node:http rather than fetch: a big compile may answer after fetch's 300 s header timeout. */
function api(method, path, { token, json } = {}) {
  return new Promise((resolveReq, reject) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    const body = json === undefined ? undefined : JSON.stringify(json);
    if (body !== undefined) headers["content-type"] = "application/json";
    // A fresh connection each time: a request reusing a socket the dev proxy kept alive through
    // a long compile was once never read by it (Send-Q stuck, no answer, no error).
    const req = http.request(BASE + path, { method, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        if (res.statusCode >= 400) return reject(new Error(`${method} ${path} → ${res.statusCode}: ${text.slice(0, 500)}`));
        try {
          resolveReq({ status: res.statusCode, json: JSON.parse(text) });
        } catch (e) {
          reject(new Error(`${method} ${path} → ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}



// ---------------------------------------------------------------------------------------------
// Seeding, the gzip reference, a measured compile.

async function seed(adminToken, dataset, total, label) {
  let done = 0;
  let calls = 0;
  let nextLog = 0;
  const t0 = performance.now();
  while (done < total) {
    const records = Math.min(PER_CALL, total - done);
    const shards = Math.max(1, Math.round(records / PER_SHARD));
    // woken: a response wrangler dev holds back until another request arrives (see woken) is released.
    await woken(api("POST", "/__bench/seed", { token: adminToken, json: { dataset, records, recordBytes: RECORD_BYTES, shards } }));
    done += records;
    calls++;
    if (done >= nextLog || done === total) {
      const s = (performance.now() - t0) / 1000;
      log(`${label}: seeded ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} records (${calls} calls, ${(done / s).toFixed(0)} records/s)`);
      nextLog = done + Math.max(PER_CALL, Math.round(total / 20));
    }
  }
  return { calls, seconds: (performance.now() - t0) / 1000 };
}

/** Every blob file of the local R2 bucket (miniflare keeps each single-put object's bytes in one). */
function r2Blobs() {
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (dir.endsWith("blobs")) out.push(p);
    }
  };
  walk(join(persist, "v3", "r2"));
  return out;
}

/**
 * gunzip every seeded shard and compress its JSONL again at level 6, timing only the compression:
 * with node's zlib shard by shard, and with GNU `gzip -6` over one file of all the shards' JSONL.
 */
function gzipReference(expectRecords) {
  let raw = 0;
  let out = 0;
  let records = 0;
  let ms = 0;
  let shards = 0;
  const rawFile = join(tmp, "raw.jsonl");
  const fd = openSync(rawFile, "w");
  try {
    for (const file of r2Blobs()) {
      const gz = readFileSync(file);
      if (gz[0] !== 0x1f || gz[1] !== 0x8b) continue;
      const bytes = gunzipSync(gz);
      shards++;
      raw += bytes.byteLength;
      for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) records++;
      writeSync(fd, bytes);
      const t = performance.now();
      out += gzipSync(bytes, { level: 6 }).byteLength;
      ms += performance.now() - t;
    }
  } finally {
    closeSync(fd);
  }
  if (records !== expectRecords) throw new Error(`read back ${records} records from ${shards} blobs under ${persist}/v3/r2, expected ${expectRecords}: has local R2's layout changed?`);
  // The file was just written, so gzip reads it from the page cache. Its output goes to a file,
  // not a pipe: reading a pipe into node added ~10% to gzip's time.
  const gzFile = `${rawFile}.gz`;
  const outFd = openSync(gzFile, "w");
  const t = performance.now();
  const run = spawnSync("gzip", ["-6", "-c", rawFile], { stdio: ["ignore", outFd, "inherit"] });
  const gnuMs = performance.now() - t;
  closeSync(outFd);
  const gnuOut = statSync(gzFile).size;
  rmSync(rawFile, { force: true });
  rmSync(gzFile, { force: true });
  if (run.status !== 0) throw new Error(`gzip -6 exited with ${run.status ?? run.signal}${run.error ? `: ${run.error.message}` : ""}`);
  return { raw, out, records, shards, seconds: ms / 1000, gnu: { seconds: gnuMs / 1000, out: gnuOut } };
}

/** `gzip --version`'s number, for the report. */
function gnuVersion() {
  return /gzip (\S+)/.exec(spawnSync("gzip", ["--version"], { encoding: "utf8" }).stdout ?? "")?.[1] ?? "?";
}

/** POST a release and wait until it is published, sampling the Worker's memory all along. */
async function measuredCompile(key, dataset, adminToken) {
  await settle(lines);
  const pids = workerPids();
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5"); // resets VmHWM to the current RSS
    } catch {}
  }
  const rssBefore = status(pids, "VmRSS");
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, status(pids, "VmRSS"))), SAMPLE_MS);
  const linesBefore = lines.length;
  const cpu0 = cpuMs(pids);
  const t0 = performance.now();
  // The wall time runs to the release's published_at (the compile's own clock: the same machine's),
  // not to when a poll saw it: under wrangler dev a poll sometimes waits seconds for an answer (woken).
  const postedAt = Date.now();
  const deadline = t0 + Number(opt["timeout-min"]) * 60_000;
  let manifest;
  let publishedAt = null;
  try {
    const res =
      opt.compile === "inline"
        ? await before(deadline, woken(api("POST", "/__bench/compile", { token: adminToken, json: { dataset } })), "POST /__bench/compile")
        : await before(deadline, woken(api("POST", `/v1/datasets/${dataset}/releases`, { token: key })), "POST releases");
    if (res.status === 201) manifest = res.json;
    else if (res.status === 202) {
      const version = res.json.version;
      for (;;) {
        if (wranglerExit !== null) throw new Error(`wrangler dev exited (${wranglerExit}) during the compile`);
        const list = await before(deadline, woken(api("GET", `/v1/datasets/${dataset}/releases`, { token: key })), `release ${version}`);
        const row = list.json.releases.find((r) => r.version === version);
        if (row?.status === "failed") throw new Error(`release ${version} failed`);
        if (row?.status === "published") {
          publishedAt = Date.parse(row.published_at);
          break;
        }
        // The local broker stall (BENCHMARKS.md): say so now rather than at --timeout-min.
        if (performance.now() - Math.max(lastQueueActivity, t0) > STALL_MS) {
          const cpu = cpuMs(pids);
          await sleep(5000);
          if (cpuMs(pids) - cpu < 250)
            throw new Error(
              `release ${version}: no queue invocation for ${STALL_MS / 1000} s and workerd idle: wrangler dev's local queue broker stopped delivering the compile's steps (a known local stall, see BENCHMARKS.md). Run again, or measure the same steps with --compile inline.`,
            );
        }
        await sleep(int(opt["poll-ms"], "poll-ms"));
      }
      manifest = (await api("GET", `/v1/datasets/${dataset}/releases/${version}`, { token: key })).json;
    } else throw new Error(`POST releases → ${res.status}: ${JSON.stringify(res.json).slice(0, 300)}`);
  } finally {
    clearInterval(sampler);
  }
  const seenS = (performance.now() - t0) / 1000;
  if (publishedAt === null) {
    const list = await api("GET", `/v1/datasets/${dataset}/releases`, { token: key });
    publishedAt = Date.parse(list.json.releases.find((r) => r.version === manifest.version)?.published_at);
  }
  const wallS = Number.isFinite(publishedAt) ? Math.min(seenS, (publishedAt - postedAt) / 1000) : seenS;
  const cpu = cpuMs(pids) - cpu0;
  peak = Math.max(peak, status(pids, "VmRSS"));
  const hwm = status(pids, "VmHWM");
  await settle(lines);
  // The compile's work: every invocation but the bench's status polls of the release list.
  const meters = classify(lines.slice(linesBefore), "-").work.filter((m) => !(m.handler === "fetch" && m.method === "GET"));
  const isolate = largestIsolate(gcFigures(lines.slice(linesBefore)));
  return { manifest, wallS, seenS, cpuMs: cpu, rssBefore, peakSampled: peak, hwm, isolate, meters: sumMeters(meters), invocations: meters.length };
}

// ---------------------------------------------------------------------------------------------
// Report.

const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const usd = (x) => (x >= 0.01 ? `$${x.toFixed(4)}` : `$${x.toFixed(6)}`);

/** The Worker isolate's own memory, from V8's GC trace (null without --trace-gc-verbose). */
function isolateLine(c) {
  const i = c.isolate;
  if (!i) return "isolate: not traced (run with --v8-flags='--trace-gc --trace-gc-verbose …')";
  return `isolate (V8 GC trace, ${fmt(i.gcs)} GCs, ${fmt(i.markCompacts)} full): **peak ${i.totalPeakMB.toFixed(1)} MB** = heap before a GC + external memory at it (heap peak ${i.heapPeakMB.toFixed(1)} MB, external peak ${i.externalPeakMB.toFixed(1)} MB, live after a full GC ≤ ${i.liveMaxMB.toFixed(1)} MB)`;
}

function memLine(c) {
  const peak = Math.max(c.peakSampled, c.hwm);
  return `process RSS before ${mib(c.rssBefore)}, peak ${mib(c.peakSampled)} sampled every ${SAMPLE_MS} ms / ${mib(c.hwm)} VmHWM → **+${mib(peak - c.rssBefore)}** during the compile`;
}

function opsLine(m) {
  const ops = Object.entries(m.r2.ops).map(([k, v]) => `${k} ${v}`).join(", ");
  return `D1 ${fmt(m.d1.queries)} queries, ${fmt(m.d1.rows_read)} rows read, ${fmt(m.d1.rows_written)} written; R2 class A ${fmt(m.r2.class_a)}, class B ${fmt(m.r2.class_b)} (${ops}), ${mib(m.r2.bytes_put)} put`;
}

let exitCode = 0;
try {
  log(`${RECORDS.toLocaleString("en-US")} records of ~${RECORD_BYTES} B, ${PER_CALL} per seed call, ${PER_SHARD} per shard; then +${INCREMENT} (${opt["increment-pct"]}%); tmp ${tmp}`);
  const adminToken = `adm_${randomBytes(16).toString("hex")}`;
  await startWrangler(adminToken, []);
  log("wrangler dev healthy");
  const { key } = (await api("POST", "/v1/keys", { token: adminToken, json: { name: "bench-release" } })).json;
  const dataset = "bench-release";
  await api("POST", "/v1/datasets", { token: key, json: { name: dataset } });

  const seeded = await seed(adminToken, dataset, RECORDS, "full");
  log("gzip -6 reference over the seeded shards' raw JSONL");
  const gz = gzipReference(RECORDS);
  log(`gzip: ${fmt(gz.raw / MB, 1)} MB raw in ${gz.shards} shards → node zlib ${fmt(gz.out / MB, 1)} MB in ${gz.seconds.toFixed(1)} s; gzip -6 ${fmt(gz.gnu.out / MB, 1)} MB in ${gz.gnu.seconds.toFixed(1)} s`);

  if (V8_FLAGS.length) await restartWrangler(adminToken, V8_FLAGS);
  log("compiling the first release");
  const full = await measuredCompile(key, dataset, adminToken);
  log(`release ${full.manifest.version}: ${full.manifest.counts.rows} rows in ${full.wallS.toFixed(1)} s`);
  // The compile's dedup and decontamination are the authority: random text can, rarely, trip them.
  const removed = Object.values(full.manifest.counts.removed_at_compile).reduce((n, x) => n + x, 0);
  if (full.manifest.counts.rows + removed !== RECORDS) throw new Error(`release has ${full.manifest.counts.rows} rows + ${removed} removed at compile, expected ${RECORDS}`);
  if (removed) log(`${removed} records removed at compile (dedup / decontamination)`);

  // The same R2 reads and writes without the compile (workers/bench-io-floor.ts), on the same
  // data and wrangler dev: local R2 runs in the Worker's own thread, so this is its share of the wall.
  // Also the least R2 work any compile of this release needs (each segment read whole once, files and index written once).
  const ioFloor = async (what, json) => {
    log(`${what}: the compile's R2 reads and writes alone`);
    const f0 = performance.now();
    const res = await before(performance.now() + Number(opt["timeout-min"]) * 60_000, woken(api("POST", "/__bench/io-floor", { token: adminToken, json: { dataset, rows_per_file: 100_000, ...json } })), "POST /__bench/io-floor");
    if (res.status !== 200) throw new Error(`POST /__bench/io-floor → ${res.status}: ${JSON.stringify(res.json).slice(0, 300)}`);
    const f = { ...res.json, wallS: (performance.now() - f0) / 1000 };
    log(`${what}: ${f.wallS.toFixed(1)} s (${f.steps} steps, ${fmt(f.gets)} gets, ${fmt(f.bytesRead / MB, 1)} MB read, ${fmt(f.bytesPut / MB, 1)} MB put)`);
    return f;
  };
  const floor = await ioFloor("I/O floor", { step_rows: int(opt["step-records"], "step-records") * 10 });
  const least = await ioFloor("least I/O", { least: true });

  if (V8_FLAGS.length) await restartWrangler(adminToken, []);
  await seed(adminToken, dataset, INCREMENT, "increment");
  if (V8_FLAGS.length) await restartWrangler(adminToken, V8_FLAGS);
  log("compiling the incremental release");
  const inc = await measuredCompile(key, dataset, adminToken);
  log(`release ${inc.manifest.version}: +${inc.manifest.changes.added.rows} rows in ${inc.wallS.toFixed(1)} s`);

  // The child lists every data file of its parent as it was, stored under the parent's prefix.
  const parentData = full.manifest.files.filter((f) => f.config !== null);
  const childByPath = new Map(inc.manifest.files.map((f) => [f.path, f]));
  const sharedOk =
    inc.manifest.parent === full.manifest.version &&
    parentData.every((f) => {
      const c = childByPath.get(f.path);
      return c && c.sha256 === f.sha256 && c.bytes === f.bytes && c.stored_in === full.manifest.version && inc.manifest.changes.shared_files.includes(f.path);
    });
  const newFiles = inc.manifest.files.filter((f) => f.config !== null && f.stored_in === inc.manifest.version);

  const rawMB = gz.raw / MB;
  const compileMBs = rawMB / full.wallS;
  const gzipMBs = rawMB / gz.seconds;
  const gnuMBs = rawMB / gz.gnu.seconds;
  const dataBytes = (m, format) => m.files.filter((f) => f.config !== null && f.format === format).reduce((n, f) => n + f.bytes, 0);
  const incRows = price(inc.meters, inc.cpuMs);
  const incCost = incRows.reduce((n, r) => n + r.count * r.unitUsd, 0);

  const out = [];
  out.push(`\n## bench/release — ${fmt(RECORDS)} records of ~${RECORD_BYTES} B, then +${fmt(INCREMENT)}`);
  out.push(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); seeded in ${seeded.seconds.toFixed(0)} s (${seeded.calls} calls, ${gz.shards} shards of ~${PER_SHARD})\n`);
  out.push(`input: ${fmt(gz.records)} records, ${fmt(rawMB, 1)} MB of JSONL (${fmt(gz.raw / gz.records)} B/record), ${fmt(full.manifest.counts.shards)} shards`);
  out.push(`\n### full compile (release ${full.manifest.version}; ${opt.compile === "inline" ? "every step in one invocation, POST /__bench/compile" : "steps chained through compile queue messages"})`);
  out.push(`- wall time **${full.wallS.toFixed(1)} s** (request to published_at; a status poll saw it at ${full.seenS.toFixed(1)} s); workerd CPU ${fmt(full.cpuMs / 1000, 1)} s`);
  out.push(`- throughput **${fmt(gz.records / full.wallS)} records/s, ${fmt(compileMBs, 1)} MB/s** of input JSONL (wall); per CPU second of workerd ${fmt(gz.records / (full.cpuMs / 1000))} records/s, ${fmt(rawMB / (full.cpuMs / 1000), 1)} MB/s`);
  out.push(`- \`gzip -6\` (GNU gzip ${gnuVersion()}, one core) over the same bytes: ${fmt(gnuMBs, 1)} MB/s (${gz.gnu.seconds.toFixed(1)} s, → ${fmt(gz.gnu.out / MB, 1)} MB) → **compile / gzip = ${(compileMBs / gnuMBs).toFixed(2)}×** wall, ${(rawMB / (full.cpuMs / 1000) / gnuMBs).toFixed(2)}× per CPU second (goal ≥ 0.5×)`);
  out.push(`- node's zlib at level 6 (one core, shard by shard), the stricter reference: ${fmt(gzipMBs, 1)} MB/s (${gz.seconds.toFixed(1)} s, → ${fmt(gz.out / MB, 1)} MB) → **compile / zlib = ${(compileMBs / gzipMBs).toFixed(2)}×** wall, ${(rawMB / (full.cpuMs / 1000) / gzipMBs).toFixed(2)}× per CPU second`);
  const own = full.wallS - floor.wallS;
  const vs = (s) => `${(gz.gnu.seconds / s).toFixed(2)}× gzip, ${(gz.seconds / s).toFixed(2)}× zlib`;
  out.push(`- I/O floor: the same R2 reads and writes without the compile (\`workers/bench-io-floor.ts\`; ${floor.steps} steps, ${fmt(floor.gets)} gets, ${fmt(floor.bytesRead / MB, 1)} MB read, ${fmt(floor.bytesPut / MB, 1)} MB put) took **${floor.wallS.toFixed(1)} s** (on its own ${vs(floor.wallS)}); the compile's work beyond it, ${own.toFixed(1)} s, is **${vs(own)}**`);
  out.push(`- the least R2 work any compile of this release needs (each segment read whole once, the files and the index written once; ${fmt(least.gets)} gets, ${fmt(least.bytesRead / MB, 1)} MB read, ${fmt(least.bytesPut / MB, 1)} MB put) took **${least.wallS.toFixed(1)} s**: on its own, ${vs(least.wallS)}`);
  out.push(`- memory: ${isolateLine(full)} (goal ≤ 64 MB)`);
  out.push(`- memory of the whole workerd process: ${memLine(full)}`);
  out.push(`- output: ${full.manifest.files.filter((f) => f.config !== null).length} data files, ${fmt(dataBytes(full.manifest, "jsonl") / MB, 1)} MB gzip JSONL + ${fmt(dataBytes(full.manifest, "parquet") / MB, 1)} MB Parquet`);
  out.push(`- operations (${full.invocations} invocation(s)): ${opsLine(full.meters)}`);
  out.push(`\n### incremental compile (release ${inc.manifest.version}, +${fmt(inc.manifest.changes.added.rows)} rows)`);
  out.push(`- wall time **${inc.wallS.toFixed(1)} s** (seen at ${inc.seenS.toFixed(1)} s); workerd CPU ${fmt(inc.cpuMs / 1000, 1)} s; memory: ${isolateLine(inc)}; ${memLine(inc)}`);
  out.push(`- operations (${inc.invocations} invocation(s)): ${opsLine(inc.meters)}`);
  out.push(`- cost at list prices: **${usd(incCost)}** (${incRows.filter((r) => r.count).map((r) => `${r.name.split(" (")[0]} ${fmt(r.count, r.count % 1 ? 1 : 0)} = ${usd(r.count * r.unitUsd)}`).join("; ")})`);
  out.push(`- data files: ${newFiles.length} new (${newFiles.map((f) => f.path).join(", ")}); ${parentData.length} of the parent's listed with the same sha256, stored_in ${full.manifest.version}: **${sharedOk ? "✓ shared" : "✗ NOT shared"}**`);
  out.push(`\nV8 flags: ${opt["v8-flags"] || "none"}. The process RSS also holds local D1 (SQLite), R2 (files), Miniflare's own isolates and V8's unreturned pages: an upper bound, not the isolate.`);
  out.push(`prices: ${[...new Set([PRICES.d1Write, PRICES.r2ClassA, PRICES.workersCpuMs].map((p) => p.source))].join(" , ")}`);
  console.log(out.join("\n"));
  console.log(`\nraw: ${JSON.stringify({ gzip: gz, full: { ...full, manifest: undefined }, floor, least, inc: { ...inc, manifest: undefined }, sharedOk })}`);
  if (!sharedOk) exitCode = 1;
} catch (e) {
  console.error(`bench/release failed: ${e?.stack ?? e}`);
  console.error(lines.slice(-20).join("\n"));
  exitCode = 1;
} finally {
  cleaning ??= cleanup();
  await cleaning;
}
process.exit(exitCode);
