#!/usr/bin/env node
// `npm start`: the whole pipeline on the local runtime.
//
//   1. writes .dev.vars from the environment (provider URLs and keys, ADMIN_TOKEN),
//   2. applies the D1 migrations to the local database,
//   3. runs `wrangler dev` (local D1, R2 and Queues; `--test-scheduled` for the cron),
//   4. once GET /healthz answers, makes sure there is a dev API key, prints it and saves it
//      (with the URL) where `npm run demo` finds it,
//   5. runs until Ctrl-C / SIGTERM, then stops wrangler; if wrangler exits, exits with its code.
//
// Environment: PORT (8787), WINNOW_IP (127.0.0.1), WINNOW_PERSIST_TO (wrangler's --persist-to,
// default .wrangler/state), WINNOW_STATE_DIR (where the dev key/URL/admin token are saved,
// default .wrangler/winnow), WINNOW_START_TIMEOUT (seconds to wait for /healthz, 180),
// OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, ADMIN_TOKEN.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative, resolve } from "node:path";
import { ROOT, c, client, fail, healthy, readState, sleep, statePath, writeState } from "./lib.mjs";

const PORT = Number(process.env.PORT || 8787);
const IP = process.env.WINNOW_IP || "127.0.0.1";
const PERSIST_TO = process.env.WINNOW_PERSIST_TO ? resolve(ROOT, process.env.WINNOW_PERSIST_TO) : null;
const START_TIMEOUT_S = Number(process.env.WINNOW_START_TIMEOUT || 180);
const URL_HOST = IP === "0.0.0.0" || IP === "::" ? "127.0.0.1" : IP.includes(":") ? `[${IP}]` : IP;
const BASE_URL = `http://${URL_HOST}:${PORT}`;

/** Variables this script owns in .dev.vars; each is written only when set in the environment. */
const MANAGED = ["OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "ADMIN_TOKEN"];
const HEADER = "# Written by `npm start` (scripts/start.mjs) on every start, from the environment:";

const say = (msg) => process.stdout.write(`${c.cyan("winnow")} ${msg}\n`);
const rel = (p) => relative(process.cwd(), p) || ".";

if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) fail(`PORT must be a TCP port, got ${JSON.stringify(process.env.PORT)}`);

// ---------------------------------------------------------------------------------------------
// wrangler, run with this Node (no npx: faster, and no npm chatter in the output).

function wranglerCommand(args) {
  const bin = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  if (!existsSync(bin)) fail("wrangler is not installed: run `npm install` (or `npm ci`) first");
  return [process.execPath, [bin, ...args]];
}

function childEnv() {
  const env = { ...process.env };
  env.WRANGLER_SEND_METRICS ??= "false"; // offline-friendly and quiet
  env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false"; // no fetch of Request.cf data from workers.cloudflare.com
  if (process.stdout.isTTY && !env.NO_COLOR) env.FORCE_COLOR ??= "1";
  return env;
}

/** Pipes a child's output through, each line prefixed, so it reads apart from ours. */
function prefixLines(stream, out, prefix) {
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop();
    for (const line of lines) out.write(`${prefix}${line}\n`);
  });
  stream.on("end", () => {
    if (partial) out.write(`${prefix}${partial}\n`);
  });
}

// ---------------------------------------------------------------------------------------------
// 1. .dev.vars

function adminToken() {
  if (process.env.ADMIN_TOKEN) return { token: process.env.ADMIN_TOKEN, source: "ADMIN_TOKEN from the environment" };
  const saved = readState("admin-token");
  if (saved) return { token: saved, source: `saved in ${rel(statePath("admin-token"))}` };
  const token = `adm_${randomBytes(24).toString("base64url")}`;
  writeState("admin-token", token);
  return { token, source: `generated, saved in ${rel(statePath("admin-token"))}` };
}

function quote(value) {
  // dotenv: plain when safe, otherwise double-quoted (where \n and \" are understood).
  return /^[\w.\-:/@+=,~%]*$/.test(value) ? value : JSON.stringify(value);
}

function writeDevVars(admin) {
  const path = join(ROOT, ".dev.vars");
  const values = { ...Object.fromEntries(MANAGED.filter((k) => process.env[k]).map((k) => [k, process.env[k]])), ADMIN_TOKEN: admin };
  // Keep what a user added by hand (other variables and their comments); ours is rewritten.
  const kept = [];
  if (existsSync(path)) {
    let skippingHeader = false;
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (line.startsWith(HEADER)) {
        skippingHeader = true;
        continue;
      }
      if (skippingHeader && line.startsWith("#   ")) continue;
      skippingHeader = false;
      const key = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
      if (key && MANAGED.includes(key)) continue;
      kept.push(line);
    }
    while (kept.length && kept.at(-1) === "") kept.pop();
  }
  const text = [
    HEADER,
    `#   ${MANAGED.join(", ")} are replaced by their values in the environment`,
    "#   (unset ones are left out; ADMIN_TOKEN is always written). Other lines are kept.",
    ...Object.entries(values).map(([k, v]) => `${k}=${quote(v)}`),
    ...(kept.length ? ["", ...kept] : []),
    "",
  ].join("\n");
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return Object.keys(values);
}

// ---------------------------------------------------------------------------------------------
// 2. migrations

function run(args, { label }) {
  const [cmd, argv] = wranglerCommand(args);
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, argv, { cwd: ROOT, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", (err) => fail(`${label}: ${err.message}`));
    child.on("close", (code, signal) => resolvePromise({ code: code ?? (signal ? 1 : 0), output }));
  });
}

async function applyMigrations() {
  const args = ["d1", "migrations", "apply", "DB", "--local", ...(PERSIST_TO ? ["--persist-to", PERSIST_TO] : [])];
  const { code, output } = await run(args, { label: "wrangler d1 migrations apply" });
  if (code !== 0) {
    process.stderr.write(output);
    fail(`\`wrangler ${args.join(" ")}\` failed (exit ${code})`, code);
  }
  const applied = [...output.matchAll(/^│\s*(\S+\.sql)\s*│\s*✅/gmu)].map((m) => m[1]);
  if (/No migrations to apply/i.test(output)) say("D1: local database is up to date");
  else say(`D1: applied ${[...new Set(applied)].join(", ") || "migrations"} to the local database`);
}

// ---------------------------------------------------------------------------------------------
// 3. wrangler dev

function portFree(port, host) {
  return new Promise((resolvePromise) => {
    const srv = createServer();
    srv.once("error", () => resolvePromise(false));
    srv.listen(port, host, () => srv.close(() => resolvePromise(true)));
  });
}

let child = null;
let stopping = false;
let stopCode = 0; // exit code once wrangler is down after we stopped it

function startWrangler() {
  const args = ["dev", "--port", String(PORT), "--ip", IP, "--show-interactive-dev-session=false", "--test-scheduled"];
  if (PERSIST_TO) args.push("--persist-to", PERSIST_TO);
  say(c.dim(`wrangler ${args.join(" ")}`));
  const [cmd, argv] = wranglerCommand(args);
  // Its own process group, so stopping it takes workerd along, and a Ctrl-C in the terminal
  // reaches us first (we stop it in order instead of both racing).
  child = spawn(cmd, argv, { cwd: ROOT, env: childEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
  const prefix = c.dim("wrangler │ ");
  prefixLines(child.stdout, process.stdout, prefix);
  prefixLines(child.stderr, process.stderr, prefix);
  child.on("error", (err) => fail(`cannot run wrangler: ${err.message}`));
  // For a supervisor that has to clean up after us if we are killed outright (kill -9 -- -PID).
  writeState("wrangler.pgid", String(child.pid), 0o644);
  child.on("exit", (code, signal) => {
    try {
      rmSync(statePath("wrangler.pgid"), { force: true });
    } catch {
      /* best effort */
    }
    const status = code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 0);
    if (!stopping) say(c.red(`wrangler exited (${signal ?? `code ${code}`}); stopping`));
    killGroup("SIGKILL"); // anything it left behind in its group
    process.exit(stopping ? stopCode : status);
  });
}

function signalNumber(name) {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[name];
}

function killGroup(signal) {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

function stop(reason, code = 0) {
  if (stopping) {
    killGroup("SIGKILL"); // second Ctrl-C: no more waiting
    return;
  }
  stopping = true;
  stopCode = code;
  say(`${reason}: stopping wrangler…`);
  if (!child || child.exitCode !== null || child.signalCode !== null) process.exit(code);
  killGroup("SIGTERM");
  setTimeout(() => {
    killGroup("SIGKILL");
    setTimeout(() => process.exit(stopCode), 1000).unref();
  }, 8000).unref();
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => stop(sig));

// `npm start` killed with SIGTERM exits without passing it on, leaving us orphaned (re-parented):
// then stop too, rather than keep a stack nobody can reach with Ctrl-C.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) stop("parent process exited");
}, 1000).unref();

// ---------------------------------------------------------------------------------------------
// 4. dev key

async function waitHealthy() {
  const deadline = Date.now() + START_TIMEOUT_S * 1000;
  while (Date.now() < deadline) {
    if (stopping) return false;
    if (await healthy(BASE_URL, 1500)) return true;
    await sleep(300);
  }
  return false;
}

async function devKey(admin) {
  const saved = readState("dev-key");
  if (saved) {
    // Reuse the saved key when this database knows it (any /v1 route rejects an unknown key).
    try {
      await client(BASE_URL, saved).get("/v1/providers");
      return { key: saved, created: false };
    } catch (err) {
      if (err.status !== 401) throw err;
    }
  }
  let lastErr;
  // Short tries: wrangler dev sometimes holds a request unanswered until another one arrives
  // (BENCHMARKS.md, "wrangler dev stalls a long chain"); the next try is that other request. A
  // held first try may still create a key: a spare "dev" key, never the one saved.
  for (let attempt = 1; attempt <= 6; attempt++) {
    try {
      const body = await client(BASE_URL, admin).post("/v1/keys", { name: "dev" }, { timeoutMs: 15_000 });
      if (!body?.key) throw new Error(`POST /v1/keys returned no key: ${JSON.stringify(body)}`);
      return { key: body.key, created: true };
    } catch (err) {
      lastErr = err;
      if (err.status && err.status < 500) throw err;
      await sleep(500 * attempt);
    }
  }
  throw lastErr;
}

async function main() {
  if (!(await portFree(PORT, IP))) {
    const who = (await healthy(BASE_URL)) ? " by a running Winnow (another `npm start`?)" : "";
    fail(`port ${PORT} on ${IP} is already in use${who}; stop it or pick another one: PORT=8788 npm start`);
  }
  const admin = adminToken();
  const written = writeDevVars(admin.token);
  say(`.dev.vars: ${written.join(", ")} (admin token ${admin.source})`);
  if (PERSIST_TO) say(`local state in ${rel(PERSIST_TO)}`);

  await applyMigrations();
  startWrangler();

  const t0 = Date.now();
  if (!(await waitHealthy())) {
    if (stopping) return;
    say(c.red(`no answer from ${BASE_URL}/healthz after ${START_TIMEOUT_S}s`));
    stop("timeout", 1);
    return;
  }

  let key;
  try {
    key = await devKey(admin.token);
  } catch (err) {
    say(c.red(`could not get a dev key: ${err.message}`));
    stop("error", 1);
    return;
  }
  let providers = [];
  try {
    providers = (await client(BASE_URL, key.key).get("/v1/providers")).providers ?? [];
  } catch {
    /* only informative */
  }
  // The URL first: whoever waits for dev-key may read url right after.
  writeState("url", BASE_URL, 0o644);
  const keyFile = writeState("dev-key", key.key);

  const line = "─".repeat(Math.min(72, process.stdout.columns || 72));
  process.stdout.write(
    [
      "",
      c.green(line),
      `  ${c.bold("Winnow is running")} on ${c.bold(BASE_URL)}  ${c.dim(`(ready in ${((Date.now() - t0) / 1000).toFixed(1)}s)`)}`,
      "",
      `  dev API key   ${c.bold(c.yellow(key.key))}`,
      `                ${c.dim(`${key.created ? "new key" : "reused"}, saved in ${rel(keyFile)}`)}`,
      `  providers     ${providers.map((p) => p.name + (p.models ? ` (${p.models.join(", ")})` : "")).join(", ") || "?"}`,
      `  API docs      ${BASE_URL}/docs`,
      `  try           curl -H "Authorization: Bearer ${key.key}" ${BASE_URL}/v1/datasets`,
      `  daily cron    curl "${BASE_URL}/__scheduled?cron=0+3+*+*+*"`,
      "",
      `  now run:      ${c.bold("npm run demo")}`,
      "",
      `  ${c.dim("Ctrl-C stops it.")}`,
      c.green(line),
      "",
    ].join("\n"),
  );
}

main().catch((err) => {
  say(c.red(err.stack ?? String(err)));
  stop("error", 1);
});
