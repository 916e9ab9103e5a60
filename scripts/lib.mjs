// Shared helpers for scripts/start.mjs and scripts/demo.mjs. Node built-ins only: these run
// before (and without) any bundling, on a fresh clone right after `npm install`.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (scripts/..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Where `npm start` leaves what `npm run demo` needs: the dev key, the base URL and the admin
 * token it generated. WINNOW_STATE_DIR moves it (CI uses its own, so a dev checkout's saved key
 * is never overwritten or mistaken for a fresh one).
 */
export function stateDir() {
  const dir = process.env.WINNOW_STATE_DIR;
  if (!dir) return join(ROOT, ".wrangler", "winnow");
  return isAbsolute(dir) ? dir : resolve(ROOT, dir);
}

export function statePath(name) {
  return join(stateDir(), name);
}

export function readState(name) {
  const p = statePath(name);
  if (!existsSync(p)) return null;
  const v = readFileSync(p, "utf8").trim();
  return v || null;
}

export function writeState(name, value, mode = 0o600) {
  const p = statePath(name);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, `${value}\n`, { mode });
  return p;
}

// ---------------------------------------------------------------------------------------------
// Terminal output.

const useColor = (stream) => Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== "dumb";
const paint = (code) => (s) => (useColor(process.stdout) ? `\x1b[${code}m${s}\x1b[0m` : String(s));
export const c = {
  bold: paint("1"),
  dim: paint("2"),
  red: paint("31"),
  green: paint("32"),
  yellow: paint("33"),
  cyan: paint("36"),
};

export function fail(message, code = 1) {
  process.stderr.write(`${useColor(process.stderr) ? "\x1b[31merror\x1b[0m" : "error"}: ${message}\n`);
  process.exit(code);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// HTTP.

/** An error envelope `{"error": {code, message, details}}` (or anything else) from the API. */
export class HttpError extends Error {
  constructor(method, url, status, body) {
    const env = body && typeof body === "object" && body.error ? body.error : null;
    const what = env ? `${env.code}: ${env.message}` : typeof body === "string" ? body.slice(0, 500) : JSON.stringify(body)?.slice(0, 500);
    super(`${method} ${url} → ${status} ${what}`);
    this.status = status;
    this.code = env?.code ?? null;
    this.body = body;
    if (env?.details && (!Array.isArray(env.details) || env.details.length)) {
      this.message += `\n  details: ${JSON.stringify(env.details).slice(0, 2000)}`;
    }
  }
}

/**
 * A tiny JSON client. `body` may be an object (sent as JSON) or a ReadableStream/Buffer with an
 * explicit content-type in `headers`. Returns the parsed JSON (or text) of a 2xx; throws
 * HttpError otherwise, and a plain Error (with `cause`) when the server cannot be reached.
 */
export function client(baseUrl, key) {
  const base = baseUrl.replace(/\/+$/, "");
  async function request(method, path, { body, headers = {}, auth = key, timeoutMs = 60_000 } = {}) {
    const url = `${base}${path}`;
    const h = { accept: "application/json", ...headers };
    if (auth) h.authorization = `Bearer ${auth}`;
    let payload = body;
    const init = { method, headers: h, signal: AbortSignal.timeout(timeoutMs) };
    if (body !== undefined && !(body instanceof ReadableStream) && !Buffer.isBuffer(body) && typeof body !== "string") {
      payload = JSON.stringify(body);
      h["content-type"] ??= "application/json";
    }
    if (payload !== undefined) init.body = payload;
    if (payload instanceof ReadableStream) init.duplex = "half";
    let res;
    try {
      res = await fetch(url, init);
    } catch (err) {
      const e = new Error(`${method} ${url}: ${err.cause?.code ?? err.cause?.message ?? err.message}`);
      e.cause = err;
      e.network = true;
      throw e;
    }
    const text = await res.text();
    let parsed = text;
    if ((res.headers.get("content-type") ?? "").includes("json") || /^\s*[{[]/.test(text)) {
      try {
        parsed = JSON.parse(text);
      } catch {
        /* keep the text */
      }
    }
    if (!res.ok) throw new HttpError(method, url, res.status, parsed);
    return parsed;
  }
  return {
    base,
    request,
    get: (path, opts) => request("GET", path, opts),
    post: (path, body, opts = {}) => request("POST", path, { ...opts, body }),
    patch: (path, body, opts = {}) => request("PATCH", path, { ...opts, body }),
  };
}

/** True when something answers GET /healthz with {ok: true}. */
export async function healthy(baseUrl, timeoutMs = 2000) {
  try {
    const res = await fetch(`${baseUrl.replace(/\/+$/, "")}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return false;
    const body = await res.json().catch(() => null);
    return body?.ok === true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Misc.

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return "?";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** `--name value`, `--name=value` and boolean `--flag`s, with a usage error on anything unknown. */
export function parseFlags(argv, spec, usage) {
  const out = {};
  for (const [name, def] of Object.entries(spec)) if ("default" in def) out[name] = def.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(usage);
      process.exit(0);
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    const def = m && spec[m[1]];
    if (!def) fail(`unknown argument ${JSON.stringify(arg)}\n${usage}`, 2);
    if (def.type === "boolean") {
      if (m[2] !== undefined) fail(`--${m[1]} takes no value`, 2);
      out[m[1]] = true;
      continue;
    }
    const raw = m[2] ?? argv[++i];
    if (raw === undefined) fail(`--${m[1]} needs a value`, 2);
    if (def.type === "number") {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < (def.min ?? -Infinity)) fail(`--${m[1]} must be a number${def.min !== undefined ? ` >= ${def.min}` : ""}, got ${JSON.stringify(raw)}`, 2);
      out[m[1]] = n;
    } else {
      if (def.choices && !def.choices.includes(raw)) fail(`--${m[1]} must be one of ${def.choices.join(", ")}`, 2);
      out[m[1]] = raw;
    }
  }
  return out;
}
