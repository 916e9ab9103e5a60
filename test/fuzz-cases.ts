// Generators for test/fuzz.test.ts: malformed and hostile requests across the whole HTTP API,
// drawn from a seeded PRNG so that a failing request can be reproduced from its seed alone.

/** What a request must get back: a 2xx, a refusal (4xx), or anything below 500. */
export type Expect = "ok" | "refused" | "any";

export interface FuzzRequest {
  label: string;
  method: string;
  /** Raw path and query, appended to the base URL as is (encoded junk stays encoded). */
  path: string;
  /** Pairs, not a record, so that a header can be sent twice. */
  headers: [string, string][];
  body?: string | Uint8Array;
  /** Send the body as a stream, without a Content-Length the server could trust. */
  stream?: boolean;
  expect: Expect;
  /** The error code a refusal must carry, where it is known. */
  code?: string;
}

/** Everything the generators point at: two tenants, their datasets, uploads, jobs and a release. */
export interface Targets {
  admin: string;
  keyA: string;
  keyB: string;
  /** A's private dataset, with upload `uploadA` (GSM8K rows), job `jobA` and release `version`. */
  dsA: string;
  uploadA: string;
  jobA: string;
  version: string;
  filePath: string;
  /** B's private and public datasets, B's upload and job: A must never reach the private ones. */
  dsB: string;
  dsBPublic: string;
  uploadB: string;
  jobB: string;
  /** A valid two-row GSM8K upload body, a valid recipe and a valid filter check for A. */
  jsonl: string;
  recipe: Record<string, unknown>;
}

export type Rng = () => number;

/** mulberry32: tiny, fast and good enough to pick mutations reproducibly. */
export function prng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
export function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

const bearer = (key: string): [string, string] => ["authorization", `Bearer ${key}`];
const JSON_CT: [string, string] = ["content-type", "application/json"];
const NDJSON_CT: [string, string] = ["content-type", "application/x-ndjson"];

const deep = (n: number, open = "[", close = "]", leaf = "1") => open.repeat(n) + leaf + close.repeat(n);
const deepObject = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);
const MiB = 1024 * 1024;

/** Route templates, from workers/app.ts and workers/routes/*. */
interface Route {
  method: string;
  path: (t: Targets, p: Partial<Record<"name" | "id" | "version" | "file", string>>) => string;
  params: ("name" | "id" | "version" | "file")[];
  json?: boolean;
}
const ROUTES: Route[] = [
  { method: "GET", path: () => "/healthz", params: [] },
  { method: "GET", path: () => "/openapi.json", params: [] },
  { method: "GET", path: () => "/docs", params: [] },
  { method: "GET", path: () => "/", params: [] },
  { method: "GET", path: () => "/v1/providers", params: [] },
  { method: "POST", path: () => "/v1/keys", params: [], json: true },
  { method: "GET", path: () => "/v1/usage", params: [] },
  { method: "POST", path: () => "/v1/datasets", params: [], json: true },
  { method: "GET", path: () => "/v1/datasets", params: [] },
  { method: "GET", path: (t, p) => `/v1/datasets/${p.name ?? t.dsA}`, params: ["name"] },
  { method: "PATCH", path: (t, p) => `/v1/datasets/${p.name ?? t.dsA}`, params: ["name"], json: true },
  { method: "POST", path: (t, p) => `/v1/datasets/${p.name ?? t.dsA}/inputs`, params: ["name"] },
  { method: "POST", path: () => "/v1/jobs", params: [], json: true },
  { method: "GET", path: (t, p) => `/v1/jobs/${p.id ?? t.jobA}`, params: ["id"] },
  { method: "POST", path: (t, p) => `/v1/jobs/${p.id ?? t.jobA}/cancel`, params: ["id"] },
  { method: "GET", path: (t, p) => `/v1/jobs/${p.id ?? t.jobA}/samples`, params: ["id"] },
  { method: "POST", path: () => "/v1/filters/check", params: [], json: true },
  { method: "POST", path: (t, p) => `/v1/datasets/${p.name ?? t.dsA}/releases`, params: ["name"] },
  { method: "GET", path: (t, p) => `/v1/datasets/${p.name ?? t.dsA}/releases`, params: ["name"] },
  { method: "GET", path: (t, p) => `/v1/datasets/${p.name ?? t.dsA}/releases/${p.version ?? t.version}`, params: ["name", "version"] },
  {
    method: "GET",
    path: (t, p) => `/v1/datasets/${p.name ?? t.dsA}/releases/${p.version ?? t.version}/files/${p.file ?? t.filePath}`,
    params: ["name", "version", "file"],
  },
];

/** Ids and names no route may resolve: traversal, encoded junk, huge and unicode strings. */
const JUNK_IDS = [
  "..%2f..%2fkeys",
  "..%2F..%2F..%2Fetc%2Fpasswd",
  "%2e%2e%2f%2e%2e%2fjobs",
  "%00",
  "job_%00",
  "inp_%00x",
  "%",
  "%E0%A4%A",
  "%ff%fe",
  "%C0%AE%C0%AE%2F",
  "a".repeat(10 * 1024),
  "%41".repeat(3000),
  "donn%C3%A9es",
  "%F0%9F%92%A9",
  "%E2%80%AE" + "txt.exe",
  "%EF%BB%BFds",
  "'%20OR%201=1--",
  "%22%3B%20DROP%20TABLE%20jobs%3B--",
  "*",
  "%2A",
  "%20",
  "job_",
  "JOB_X",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "%5C..%5C..%5Ckeys",
  "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
  "null",
  "undefined",
  "NaN",
  "-1",
  "1e309",
];

const JUNK_VERSIONS = ["0000-00-00", "9999-99-99.999999999999999999999", "2026-01-01.-1", "latest", "2026-01-01%00", "..", "2026-01-01.1e3", "%2e%2e"];
const JUNK_FILES = [
  "..%2fmanifest.json",
  "data/../../../keys",
  "data%2F..%2F..%2Fsecret",
  "%2e%2e/%2e%2e/x",
  "data/./x/../manifest.json",
  "data//train.jsonl.gz",
  "data%5C..%5Cmanifest.json",
  "manifest.json%00.gz",
  "a".repeat(8000),
  "data/%FF",
  "README.md/..",
  "%",
];

function wrongMethods(t: Targets): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  const served = new Set(ROUTES.map((r) => `${r.method} ${r.path(t, {})}`));
  for (const r of ROUTES) {
    for (const m of ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]) {
      if (served.has(`${m} ${r.path(t, {})}`) || (m === "HEAD" && served.has(`GET ${r.path(t, {})}`))) continue;
      out.push({ label: `wrong-method ${m} ${r.method}`, method: m, path: r.path(t, {}), headers: [bearer(t.keyA)], expect: m === "HEAD" ? "any" : "refused" });
    }
  }
  return out;
}

function unknownPaths(rng: Rng, t: Targets): FuzzRequest[] {
  const fixed = [
    "/v2/datasets",
    "/v1",
    "/v1/",
    "/v1/datasetsX",
    "/v1//datasets",
    "/v1/datasets//inputs",
    "/v1/jobs/",
    "/v1/keys/list",
    "/v1/datasets/x/y/z/w",
    "/.env",
    "/wrangler.toml",
    "/v1/..%2f..%2f.dev.vars",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/v1/admin",
    "/v1/jobs/x/samples/y",
    "/v1/uploads",
    "/v1/filters",
    "/v1/filters/check/x",
    "/openapi.json/..%2f",
    "/docs/x",
    "/v1/providers/openai",
    "/v1/usage/2026",
    "/%00",
    "/v1/%00/datasets",
    "/V1/DATASETS",
  ];
  const out: FuzzRequest[] = fixed.flatMap((p) =>
    ["GET", "POST"].map((m) => ({ label: `unknown-path ${m}`, method: m, path: p, headers: [bearer(t.keyA), JSON_CT] as [string, string][], body: m === "POST" ? "{}" : undefined, expect: "any" as Expect })),
  );
  const alphabet = "abcxyz019-_.~%/:@!$&'()*+,;=";
  for (let i = 0; i < 20; i++) {
    let p = "/v1/";
    const n = 1 + Math.floor(rng() * 40);
    for (let j = 0; j < n; j++) p += pick(rng, alphabet.split(""));
    out.push({ label: "unknown-path random", method: pick(rng, ["GET", "POST", "DELETE"]), path: p, headers: [bearer(t.keyA)], expect: "any" });
  }
  return out;
}

function junkIds(rng: Rng, t: Targets): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  for (const r of ROUTES.filter((r) => r.params.length)) {
    for (const junk of shuffle(rng, [...JUNK_IDS]).slice(0, 12)) {
      const param = pick(rng, r.params.filter((p) => p === "name" || p === "id"));
      out.push({
        label: `junk-id ${r.method} ${param}`,
        method: r.method,
        path: r.path(t, { [param]: junk }),
        headers: [bearer(t.keyA), NDJSON_CT],
        body: r.method === "POST" ? t.jsonl : undefined,
        expect: "refused",
      });
    }
  }
  const file = ROUTES.at(-1)!;
  for (const v of JUNK_VERSIONS) out.push({ label: "junk-version", method: "GET", path: file.path(t, { version: v }), headers: [bearer(t.keyA)], expect: "refused" });
  for (const v of JUNK_VERSIONS) out.push({ label: "junk-version manifest", method: "GET", path: ROUTES.at(-2)!.path(t, { version: v }), headers: [bearer(t.keyA)], expect: "refused" });
  for (const f of JUNK_FILES) out.push({ label: "junk-file", method: "GET", path: file.path(t, { file: f }), headers: [bearer(t.keyA)], expect: "refused" });
  // A dataset name that is valid in the URL but not as a name, for creation.
  for (const name of ["..", "../x", "A", "a/b", "x".repeat(65), "\u0000", "ds\u202e", "données", "-x", ".x", "", "a".repeat(10 * 1024)])
    out.push({ label: "create bad dataset name", method: "POST", path: "/v1/datasets", headers: [bearer(t.keyA), JSON_CT], body: JSON.stringify({ name }), expect: "refused" });
  return out;
}

function authVariants(rng: Rng, t: Targets): FuzzRequest[] {
  const variants: { label: string; headers: [string, string][] }[] = [
    { label: "none", headers: [] },
    { label: "empty", headers: [["authorization", ""]] },
    { label: "scheme only", headers: [["authorization", "Bearer"]] },
    { label: "scheme space", headers: [["authorization", "Bearer "]] },
    { label: "basic", headers: [["authorization", `Basic ${btoa("a:b")}`]] },
    { label: "unknown key", headers: [bearer("wn_" + "0".repeat(43))] },
    { label: "admin as key", headers: [bearer(t.admin)] },
    { label: "two tokens", headers: [["authorization", `Bearer ${t.keyA} ${t.keyB}`]] },
    { label: "duplicate header", headers: [bearer(t.keyA), bearer(t.keyB)] },
    { label: "duplicate same", headers: [bearer(t.keyA), bearer(t.keyA)] },
    { label: "10 KB token", headers: [bearer("x".repeat(10 * 1024))] },
    { label: "latin1 junk", headers: [["authorization", "Bearer \u00ff\u00fe\u00e9"]] },
    { label: "key prefix", headers: [bearer(t.keyA.slice(0, -1))] },
    { label: "key upper", headers: [bearer(t.keyA.toUpperCase())] },
    { label: "quoted", headers: [["authorization", `Bearer "${t.keyA}"`]] },
    { label: "sql", headers: [bearer("' OR '1'='1")] },
  ];
  const out: FuzzRequest[] = [];
  for (const r of ROUTES.filter((r) => r.path(t, {}).startsWith("/v1/") && r.path(t, {}) !== "/v1/providers")) {
    const admin = r.path(t, {}) === "/v1/keys";
    for (const v of shuffle(rng, [...variants]).slice(0, 8)) {
      // Every route is refused: A's dataset is private (an anonymous read is a 404), and
      // POST /v1/keys takes the admin token, never a key; the admin token is no key elsewhere.
      out.push({
        label: `auth ${v.label} ${r.method}`,
        method: r.method,
        path: r.path(t, {}),
        headers: [...v.headers, r.json ? JSON_CT : NDJSON_CT],
        body: r.method === "POST" ? (r.json ? (admin ? JSON.stringify({ name: "fuzz" }) : "{}") : t.jsonl) : undefined,
        expect: admin && v.label === "admin as key" ? "ok" : "refused",
      });
    }
  }
  return out;
}

/** Tenant A reaching for B's private things, and writing to B's public dataset. */
function crossTenant(t: Targets): FuzzRequest[] {
  const A: [string, string][] = [bearer(t.keyA), JSON_CT];
  const refused = (label: string, method: string, path: string, body?: string, headers = A): FuzzRequest => ({ label: `cross-tenant ${label}`, method, path, headers, body, expect: "refused" });
  const out: FuzzRequest[] = [];
  for (const ds of [t.dsB, t.dsBPublic]) {
    const pub = ds === t.dsBPublic;
    out.push(refused("upload", "POST", `/v1/datasets/${ds}/inputs`, t.jsonl, [bearer(t.keyA), NDJSON_CT]));
    out.push(refused("release", "POST", `/v1/datasets/${ds}/releases`));
    out.push(refused("job on dataset", "POST", "/v1/jobs", JSON.stringify({ ...t.recipe, dataset: ds })));
    out.push(refused("create same name", "POST", "/v1/datasets", JSON.stringify({ name: ds })));
    for (const p of [`/v1/datasets/${ds}`, `/v1/datasets/${ds}/releases`, `/v1/datasets/${ds}/releases/${t.version}`, `/v1/datasets/${ds}/releases/${t.version}/files/manifest.json`]) {
      out.push({ label: "cross-tenant read", method: "GET", path: p, headers: A, expect: pub && !p.includes(t.version) ? "ok" : "refused" });
      out.push({ label: "anonymous read", method: "GET", path: p, headers: [], expect: pub && !p.includes(t.version) ? "ok" : "refused" });
    }
  }
  out.push(refused("job read", "GET", `/v1/jobs/${t.jobB}`));
  out.push(refused("job cancel", "POST", `/v1/jobs/${t.jobB}/cancel`));
  out.push(refused("job samples", "GET", `/v1/jobs/${t.jobB}/samples?status=accepted`));
  out.push(refused("job samples rejected", "GET", `/v1/jobs/${t.jobB}/samples?status=rejected`));
  out.push(refused("upload in recipe", "POST", "/v1/jobs", JSON.stringify({ ...t.recipe, inputs: { upload: t.uploadB } })));
  out.push(
    refused(
      "upload in decontaminate",
      "POST",
      "/v1/jobs",
      JSON.stringify({ ...t.recipe, filters: [{ type: "decontaminate", uploads: [t.uploadB] }] }),
    ),
  );
  // B's key on A's things, the mirror image.
  const B: [string, string][] = [bearer(t.keyB), JSON_CT];
  out.push(refused("B reads A dataset", "GET", `/v1/datasets/${t.dsA}`, undefined, B));
  out.push(refused("B reads A job", "GET", `/v1/jobs/${t.jobA}`, undefined, B));
  out.push(refused("B reads A release", "GET", `/v1/datasets/${t.dsA}/releases/${t.version}/files/${t.filePath}`, undefined, B));
  out.push(refused("B uses A upload", "POST", "/v1/jobs", JSON.stringify({ ...t.recipe, dataset: t.dsB, inputs: { upload: t.uploadA } }), B));
  return out;
}

/** Bodies that are not the JSON object a route wants, under every content type. */
function badBodies(rng: Rng, t: Targets): FuzzRequest[] {
  const bodies: { label: string; body: string | Uint8Array }[] = [
    { label: "empty", body: "" },
    { label: "not json", body: "hello" },
    { label: "truncated", body: JSON.stringify(t.recipe).slice(0, 57) },
    { label: "truncated end", body: JSON.stringify(t.recipe).slice(0, -1) },
    { label: "array", body: "[]" },
    { label: "array of recipe", body: JSON.stringify([t.recipe]) },
    { label: "number", body: "123" },
    { label: "huge number", body: "1e309" },
    { label: "null", body: "null" },
    { label: "string", body: '"x"' },
    { label: "true", body: "true" },
    { label: "deep array 10k", body: deep(10_000) },
    { label: "deep object 10k", body: deepObject(10_000) },
    { label: "deep array 200k", body: deep(200_000) },
    { label: "huge string", body: JSON.stringify({ name: "x".repeat(1.5 * MiB) }) },
    { label: "trailing junk", body: JSON.stringify(t.recipe) + "}}}" },
    { label: "two objects", body: JSON.stringify(t.recipe) + JSON.stringify(t.recipe) },
    { label: "comments", body: '{/* c */"name":"x"}' },
    { label: "single quotes", body: "{'name':'x'}" },
    { label: "NaN literal", body: '{"name":NaN}' },
    { label: "lone surrogate", body: '{"name":"\\ud800"}' },
    { label: "nul", body: '{"name":"\u0000"}' },
    { label: "binary", body: Uint8Array.from({ length: 512 }, () => Math.floor(rng() * 256)) },
    { label: "utf-16", body: new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]) },
    { label: "bom", body: "\ufeff{}" },
    { label: "dup keys", body: '{"name":"a","name":"b","name":{"x":1}}' },
    { label: "proto", body: '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"name":"fuzz"}' },
  ];
  const cts = ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/json, text/plain", "APPLICATION/JSON", ""];
  const out: FuzzRequest[] = [];
  const targets: { path: string; key: string; noBody?: boolean }[] = [
    { path: "/v1/keys", key: t.admin },
    { path: "/v1/datasets", key: t.keyA },
    { path: "/v1/jobs", key: t.keyA },
    { path: "/v1/filters/check", key: t.keyA },
    { path: `/v1/jobs/${t.jobA}/cancel`, key: t.keyA, noBody: true },
    { path: `/v1/datasets/${t.dsA}/releases`, key: t.keyA, noBody: true },
  ];
  for (const target of targets) {
    for (const b of bodies) {
      const ct = b.label === "empty" || rng() < 0.7 ? "application/json" : pick(rng, cts);
      const headers: [string, string][] = [bearer(target.key)];
      if (ct) headers.push(["content-type", ct]);
      // "proto" on /v1/keys and /v1/datasets is still an object with a name: the
      // pollution keys must be refused as unknown fields, or ignored, never obeyed.
      const odd = b.label === "lone surrogate" || b.label === "nul";
      out.push({ label: `body ${b.label} ${ct}`, method: "POST", path: target.path, headers, body: b.body, expect: target.noBody || (odd && target.path === "/v1/keys") ? "any" : "refused" });
    }
  }
  // Over the 2 MiB bodyLimit, with and without a Content-Length the server can trust.
  for (const path of ["/v1/jobs", "/v1/datasets", "/v1/filters/check"])
    out.push({ label: "oversize 2.1 MiB", method: "POST", path, headers: [bearer(t.keyA), JSON_CT], body: JSON.stringify({ name: "x".repeat(2.1 * MiB) }), expect: "refused", code: "payload_too_large" });
  out.push({ label: "oversize streamed", method: "POST", path: "/v1/jobs", headers: [bearer(t.keyA), JSON_CT], body: JSON.stringify({ ...t.recipe, x: "x".repeat(2.1 * MiB) }), stream: true, expect: "refused", code: "payload_too_large" });
  out.push({ label: "deep streamed", method: "POST", path: "/v1/filters/check", headers: [bearer(t.keyA), JSON_CT], body: deep(100_000), stream: true, expect: "refused", code: "too_deep" });
  out.push({ label: "oversize unauthenticated", method: "POST", path: "/v1/jobs", headers: [JSON_CT], body: "[".repeat(2.5 * MiB), expect: "refused" });
  return out;
}

/** NDJSON uploads: broken lines, binary, BOM, CRLF, empty lines, huge rows, wrong types. */
function uploads(rng: Rng, t: Targets): FuzzRequest[] {
  const row = () => JSON.stringify({ question: `q${Math.floor(rng() * 1e6)}`, answer: String(Math.floor(rng() * 100)) });
  const cases: { label: string; body: string | Uint8Array; ct?: string; stream?: boolean; expect: Expect; code?: string }[] = [
    { label: "valid", body: t.jsonl, expect: "ok" },
    { label: "no trailing newline", body: `${row()}\n${row()}`, expect: "ok" },
    { label: "crlf", body: `${row()}\r\n${row()}\r\n`, expect: "ok" },
    { label: "bom", body: `\ufeff${row()}\n${row()}\n`, expect: "any" },
    { label: "empty lines", body: `\n\n${row()}\n\n\n${row()}\n\n`, expect: "ok" },
    { label: "only empty lines", body: "\n\n\r\n  \n", expect: "refused" },
    { label: "empty", body: "", expect: "refused" },
    { label: "broken line", body: `${row()}\n{"question": "x", "ans\n${row()}\n`, expect: "refused" },
    { label: "broken last line", body: `${row()}\n${row()}\n{"question":`, expect: "refused" },
    { label: "array row", body: `${row()}\n[1,2,3]\n`, expect: "refused" },
    { label: "number row", body: `${row()}\n42\n`, expect: "refused" },
    { label: "null row", body: `null\n${row()}\n`, expect: "refused" },
    { label: "string row", body: `"just a string"\n`, expect: "refused" },
    { label: "binary", body: Uint8Array.from({ length: 4096 }, () => Math.floor(rng() * 256)), expect: "refused" },
    { label: "invalid utf-8 in string", body: new Uint8Array([...new TextEncoder().encode('{"question":"'), 0xc3, 0x28, 0xff, ...new TextEncoder().encode('"}\n')]), expect: "refused", code: "invalid_encoding" },
    { label: "latin-1", body: new Uint8Array([...new TextEncoder().encode('{"question":"caf'), 0xe9, ...new TextEncoder().encode('"}\n')]), expect: "refused", code: "invalid_encoding" },
    { label: "multibyte rows", body: new TextEncoder().encode(`{"question":"${"é".repeat(1001)}💩"}\n`.repeat(60)), stream: true, expect: "ok" },
    { label: "raw nul", body: `{"question":"a\u0000b"}\n`, expect: "refused" },
    { label: "escaped nul", body: `{"question":"a\\u0000b","answer":"1"}\n`, expect: "ok" },
    { label: "huge row 70 KB", body: `${row()}\n${JSON.stringify({ question: "x".repeat(70 * 1024) })}\n`, expect: "refused" },
    { label: "endless line 1 MiB", body: "x".repeat(MiB), expect: "refused" },
    { label: "endless json line 1 MiB", body: `{"question":"${"y".repeat(MiB)}`, expect: "refused" },
    { label: "deep row 10k", body: `{"question":${deep(10_000)}}\n`, expect: "any" },
    { label: "deep row 50k", body: `{"question":${deepObject(30_000)}}\n`, expect: "any" },
    { label: "proto keys", body: `{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"prototype":1,"question":"q"}\n`, expect: "ok" },
    { label: "unicode keys", body: `{"données":"é","💩":"x","\u202e":"rtl"}\n`, expect: "ok" },
    { label: "10k rows", body: Array.from({ length: 10_000 }, (_, i) => `{"question":"q${i}","answer":"${i}"}`).join("\n"), expect: "ok" },
    { label: "mixed fields", body: `{"a":1}\n{"b":2}\n{"a":3,"b":4}\n`, expect: "ok" },
    { label: "json array document", body: JSON.stringify([{ question: "x" }]), expect: "refused" },
    { label: "pretty json", body: JSON.stringify({ question: "x", answer: "1" }, null, 2), expect: "refused" },
    { label: "wrong ct json", body: t.jsonl, ct: "application/json", expect: "refused" },
    { label: "wrong ct form", body: t.jsonl, ct: "application/x-www-form-urlencoded", expect: "refused" },
    { label: "wrong ct multipart", body: t.jsonl, ct: "multipart/form-data; boundary=----x", expect: "refused" },
    // Bytes, not a string: a string body gets 'text/plain' from the Request constructor.
    { label: "no ct", body: new TextEncoder().encode(t.jsonl), ct: "", expect: "refused" },
    { label: "ct params", body: t.jsonl, ct: "application/x-ndjson; charset=utf-8", expect: "ok" },
    { label: "ct upper", body: t.jsonl, ct: "APPLICATION/X-NDJSON", expect: "ok" },
    { label: "ct text/plain", body: t.jsonl, ct: "text/plain", expect: "ok" },
    { label: "ct junk", body: t.jsonl, ct: "x".repeat(5000), expect: "refused" },
  ];
  return cases.map((c) => {
    const headers: [string, string][] = [bearer(t.keyA)];
    if (c.ct !== "") headers.push(["content-type", c.ct ?? "application/x-ndjson"]);
    return { label: `upload ${c.label}`, method: "POST", path: `/v1/datasets/${t.dsA}/inputs`, headers, body: c.body, stream: c.stream, expect: c.expect, code: c.code };
  });
}

// Recipe mutation: every path in a valid recipe, and what can be put there.
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = at.length ? [at] : [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

function setAt(root: Json, path: (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(root);
  let cur: any = copy;
  for (const k of path.slice(0, -1)) cur = cur[k];
  const last = path.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(cur)) cur.splice(Number(last), 1);
    else delete cur[last];
  } else cur[last] = value;
  return copy;
}

/** A key JSON.stringify cannot write on an object literal; swapped in on the JSON text. */
const POLLUTION_KEYS = ["__proto__", "constructor", "prototype"];
const pollutionMarker = (i: number) => `__fuzz_pollution_${i}__`;

const WRONG_VALUES: Json[] = [
  null,
  0,
  -1,
  -0,
  1.5,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  "",
  "NaN",
  "Infinity",
  "-1",
  "1e309",
  "x".repeat(200_000),
  true,
  [],
  [null],
  {},
  { "": null },
  "\u0000",
  "\ud83d",
];

const PROVIDERS = ["http://169.254.169.254", "http://169.254.169.254/latest/meta-data/", "../", "../../etc/passwd", "OPENAI", "Replay", "openai ", "file:///etc/passwd", "", "x".repeat(33), "__proto__", "constructor", "localhost:8787", "anthropic", "openai\u0000"];
const FILTER_TYPES = ["exec", "LENGTH", "__proto__", "constructor", "toString", "hasOwnProperty", "", "length ", "js-tests", "../length", null, 1];
const TEMPLATES = [
  "{{#lambda}}x{{/lambda}}",
  "{{> partial}}",
  "{{>../../etc/passwd}}",
  "{{constructor}}",
  "{{__proto__}}",
  "{{question.constructor.constructor}}",
  "{{#question}}{{constructor.name}}{{/question}}",
  "{{question",
  "{{/question}}",
  "{{#question}}",
  "{{^question}}{{/answer}}",
  "{{=<% %>=}}<% question %>",
  "{{=| |=}}",
  "{{{question}}}{{&question}}",
  "{{!comment}}{{question}}",
  "{{ question }}{{.}}",
  "{{" + "#a".repeat(1) + "}}".repeat(1) + "{{#b}}".repeat(500) + "{{/b}}".repeat(500),
  "{{#question}}".repeat(2000),
  "{{}}",
  "{{ }}",
  "{{toString}}",
  "{{hasOwnProperty}}",
  "{{valueOf}}",
];

function recipeMutations(rng: Rng, t: Targets, n: number): FuzzRequest[] {
  const base = t.recipe as Json;
  const all = paths(base);
  const out: FuzzRequest[] = [];
  const send = (label: string, body: string, expect: Expect = "any") =>
    out.push({ label: `recipe ${label}`, method: "POST", path: "/v1/jobs", headers: [bearer(t.keyA), JSON_CT], body, expect });
  const mutate = (path: (string | number)[], value: Json | undefined) => JSON.stringify(setAt(base, path, value));

  // Field by field: each path gets wrong types, deletion and an unknown sibling.
  for (const p of all) {
    for (let i = 0; i < 3; i++) send(`${p.join(".")} = wrong`, mutate(p, pick(rng, WRONG_VALUES)));
    send(`${p.join(".")} deleted`, mutate(p, undefined));
  }
  // Pollution keys in every object of the recipe (and at the root).
  const objects = [[], ...all.filter((p) => { const v = p.reduce<any>((o, k) => o[k], base); return v && typeof v === "object" && !Array.isArray(v); })];
  for (const p of objects)
    for (const [i, k] of POLLUTION_KEYS.entries()) {
      const marker = pollutionMarker(i);
      const value = pick(rng, [{ polluted: true }, { prototype: { polluted: true } }, "x", null] as Json[]);
      const text = JSON.stringify(p.length ? setAt(base, [...p, marker], value) : { ...(base as object), [marker]: value });
      send(`${p.join(".") || "(root)"}.${k}`, text.replace(marker, k));
    }
  // Providers that are URLs, traversal, or merely spelled wrong; in teachers and judges.
  for (const provider of PROVIDERS) {
    send(`provider ${provider.slice(0, 40)}`, JSON.stringify({ ...t.recipe, generators: [{ provider, model: "gsm8k-gpt3" }] }), provider === "anthropic" ? "any" : "refused");
    send(`judge provider ${provider.slice(0, 40)}`, JSON.stringify({ ...t.recipe, filters: [{ type: "judge", provider, model: "m" }] }), provider === "anthropic" ? "any" : "refused");
  }
  for (const type of FILTER_TYPES) send(`filter type ${String(type)}`, JSON.stringify({ ...t.recipe, filters: [{ type }] }), "refused");
  // Template injection in every template slot.
  for (const tpl of TEMPLATES) {
    send("prompt.user template", JSON.stringify({ ...t.recipe, prompt: { user: tpl } }));
    send("prompt.system template", JSON.stringify({ ...t.recipe, prompt: { system: tpl, user: "{{question}}" } }));
    send("math_answer template", JSON.stringify({ ...t.recipe, filters: [{ type: "math_answer", reference: tpl }] }));
    send("js_tests template", JSON.stringify({ ...t.recipe, filters: [{ type: "js_tests", tests: tpl, prelude: tpl }] }));
    send("judge rubric template", JSON.stringify({ ...t.recipe, filters: [{ type: "judge", provider: "openai", model: "m", rubric: tpl }] }));
  }
  // Inputs: inline rows, grids and uploads, hostile in shape and size.
  const inputs: Json[] = [
    { upload: "inp_does_not_exist" },
    { upload: "inp_" + "x".repeat(10_000) },
    { upload: "../" + t.uploadA },
    { upload: t.uploadA, rows: [{ question: "q" }] },
    { rows: [] },
    { rows: Array.from({ length: 1001 }, () => ({ question: "q", answer: "1" })) },
    { rows: [{ question: "q", answer: "1" }, 5] },
    { rows: [{ question: "q" }] },
    { grid: { vars: {} } },
    { grid: { vars: { question: [] } } },
    { grid: { vars: { question: Array.from({ length: 10_001 }, (_, i) => i) } } },
    { grid: { vars: { question: ["a"], answer: ["1"] }, limit: 0 } },
    { grid: { vars: { question: ["a"], answer: ["1"] }, limit: 1e309 as number } },
    { grid: { vars: { question: ["a"], answer: ["1"] }, limit: -5 } },
    { grid: { vars: { question: [{ x: 1 }], answer: ["1"] } } },
    { grid: { vars: { "1bad": ["a"] } } },
    // JSON.parse, not a literal: a literal's "__proto__" sets the prototype instead of a key.
    JSON.parse('{"grid": {"vars": {"__proto__": ["a"], "question": ["q"], "answer": ["1"]}}}') as Json,
    { grid: { vars: { constructor: ["a"], question: ["q"], answer: ["1"] } } },
    Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`v${i}`, Array.from({ length: 10 }, (_, j) => j)])),
    { grid: { vars: Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`v${i}`, Array.from({ length: 10 }, (_, j) => j)])) } },
  ];
  for (const inp of inputs) send("inputs", JSON.stringify({ ...t.recipe, inputs: inp }));
  // Parses fine, but used to overflow the stack of the recipe's canonical JSON (a 500).
  out.push({ label: "recipe deep row", method: "POST", path: "/v1/jobs", headers: [bearer(t.keyA), JSON_CT], body: JSON.stringify({ ...t.recipe, inputs: { rows: [{ question: JSON.parse(deep(5000)) as Json, answer: "1" }] } }), expect: "refused", code: "too_deep" });
  // Numbers at and past every bound.
  for (const [field, values] of [
    ["candidates", [0, 17, -1, 1.5, 1e309, "4", null]],
    ["budget_usd", [0, -1, 1e309, -1e309, 1e-320, "5"]],
    ["until", [{ accepted_per_input: 2, max_candidates_per_input: 1 }, { accepted_per_input: 0, max_candidates_per_input: 0 }, { accepted_per_input: 65, max_candidates_per_input: 257 }, { accepted_per_input: 1 }]],
    ["output", [{ kind: "dpo" }, { kind: "preference", extra: 1 }, "sft"]],
    ["mode", ["batch", "BATCH", "live ", 1, null]],
    ["dry_run", [true, "true", 1, null]],
    ["expected_output_tokens", [0, 200_001, 1.5, -1, 1e309]],
    ["generators", [[], Array.from({ length: 17 }, () => ({ provider: "replay", model: "gsm8k-gpt3" })), [{ provider: "replay", model: "gsm8k-gpt3", weight: 0 }], [{ provider: "replay", model: "", params: { temperature: 3 } }], [{ provider: "replay", model: "gsm8k-gpt3", params: { stop: ["a", "b", "c", "d", "e"] } }], [{ provider: "replay", model: "gsm8k-gpt3", url: "http://169.254.169.254" }], [{ provider: "replay", model: "gsm8k-gpt3", params: { response_format: { type: "json_schema", json_schema: { $ref: "http://169.254.169.254" } } } }], [{ provider: "replay", model: "gsm8k-gpt3", params: { response_format: "json" } }]]],
    ["filters", [Array.from({ length: 33 }, () => ({ type: "refusal" })), [{ type: "regex", pattern: "(a+)+$" }], [{ type: "regex", pattern: "(" }], [{ type: "regex", pattern: "a", flags: "gg" }], [{ type: "json_schema", schema: { $ref: "#" } }], [{ type: "json_schema", schema: { $ref: "http://169.254.169.254/x" } }], [{ type: "json_schema", schema: JSON.parse(deepObject(3000).replaceAll('"a"', '"items"')) as Json }], [{ type: "length", min_chars: 10, max_chars: 1 }], [{ type: "language", languages: ["klingon"] }], [{ type: "dedup", near: 0.5 }], [{ type: "decontaminate", benchmarks: ["mmlu"] }], [{ type: "decontaminate", uploads: ["inp_nope"] }]]],
  ] as [string, Json[]][])
    for (const v of values) send(`${field} bound`, JSON.stringify({ ...t.recipe, [field]: v }));
  // Random multi-point mutations until n.
  while (out.length < n) {
    let r: Json = base;
    const k = 1 + Math.floor(rng() * 3);
    for (let i = 0; i < k; i++) {
      const ps = paths(r);
      if (!ps.length) break;
      const p = pick(rng, ps);
      const roll = rng();
      r = setAt(r, p, roll < 0.15 ? undefined : roll < 0.3 ? pick(rng, TEMPLATES) : roll < 0.4 ? pick(rng, PROVIDERS) : pick(rng, WRONG_VALUES));
    }
    send("random mutation", JSON.stringify(r));
  }
  // Idempotency-Key headers that are too long, empty or repeated.
  for (const key of ["", "x".repeat(201), "x".repeat(10_000), "\u00ff\u00fe", "a, b"])
    out.push({ label: "idempotency-key junk", method: "POST", path: "/v1/jobs", headers: [bearer(t.keyA), JSON_CT, ["idempotency-key", key]], body: JSON.stringify({ ...t.recipe, inputs: { rows: [{ question: "q", answer: "1" }] } }), expect: "any" });
  out.push({ label: "idempotency-key twice", method: "POST", path: "/v1/jobs", headers: [bearer(t.keyA), JSON_CT, ["idempotency-key", "a"], ["idempotency-key", "b"]], body: JSON.stringify(t.recipe), expect: "any" });
  return out;
}

function filterChecks(rng: Rng, t: Targets): FuzzRequest[] {
  const item = { input: { question: "q", answer: "4" }, completion: "2 + 2 = 4. A: 4" };
  const send = (label: string, body: unknown, expect: Expect = "any"): FuzzRequest => ({
    label: `filters/check ${label}`,
    method: "POST",
    path: "/v1/filters/check",
    headers: [bearer(t.keyA), JSON_CT],
    body: typeof body === "string" ? body : JSON.stringify(body),
    expect,
  });
  const filterSets: unknown[] = [
    [{ type: "regex", pattern: "(a+)+$" }],
    [{ type: "regex", pattern: "(a*)*b", allow_nested_quantifiers: true, max_chars: 30 }],
    [{ type: "regex", pattern: "[" }],
    [{ type: "regex", pattern: "\\", flags: "u" }],
    [{ type: "regex", pattern: "a", flags: "iiu" }],
    [{ type: "refusal", patterns: ["("] }],
    [{ type: "refusal", patterns: [], replace_defaults: true }],
    [{ type: "json_schema", schema: { $ref: "#" } }],
    [{ type: "json_schema", schema: { $ref: "http://169.254.169.254/latest" } }],
    [{ type: "json_schema", schema: JSON.parse('{"type": "object", "properties": {"__proto__": {"type": "string"}}}') }],
    [{ type: "json_schema", schema: JSON.parse(deepObject(5000).replaceAll('"a"', '"not"')) }],
    [{ type: "json_schema", schema: true }],
    [{ type: "json_schema", schema: "not a schema" }],
    [{ type: "js_tests", tests: "while (true) {}" }],
    [{ type: "js_tests", tests: "const a = []; for (;;) a.push(new Array(1e6));" }],
    [{ type: "js_tests", tests: "function f(){ f(); } f();" }],
    [{ type: "js_tests", tests: "fetch('http://169.254.169.254')" }],
    [{ type: "js_tests", tests: "{{constructor}}" }],
    [{ type: "judge", provider: "http://169.254.169.254", model: "m" }],
    [{ type: "judge", provider: "openai", model: "gpt-4o-mini", rubric: "{{#lambda}}{{/lambda}} {{completion}}" }],
    [{ type: "language", languages: [] }],
    [{ type: "language", languages: ["__proto__"] }],
    [{ type: "dedup", near: 1 }],
    [{ type: "decontaminate", uploads: [t.uploadA] }],
    [{ type: "decontaminate", uploads: [t.uploadB] }],
    [{ type: "decontaminate", n: 4 }],
    [{ type: "math_answer", reference: "{{answer}}", tolerance: -1 }],
    [{ type: "math_answer", reference: "{{#answer}}{{/answer}}" }],
    [{ type: "math_answer", reference: "\\frac{" + "{".repeat(5000) }],
    [{ type: "length", min_chars: 1e309 }],
    [{ type: "repetition", max_top_ngram_char_fraction: { "2": 2 } }],
    [{ type: "repetition", max_top_ngram_char_fraction: { "1": 0.5 } }],
    Array.from({ length: 33 }, () => ({ type: "length" })),
    [],
    {},
    null,
  ];
  const out = filterSets.map((f) => send(`filters ${JSON.stringify(f).slice(0, 60)}`, { filters: f, items: [item] }));
  const items: unknown[] = [
    [],
    Array.from({ length: 101 }, () => item),
    [{ completion: "x".repeat(200_001) }],
    [{ input: [], completion: "x" }],
    [{ input: null, completion: "x" }],
    [{ input: { q: JSON.parse(deep(10_000)) }, completion: "x" }],
    [{ completion: 5 }],
    [{ completion: "x", messages: [{ role: "root", content: "x" }] }],
    [JSON.parse('{"completion": "x", "__proto__": {"polluted": true}}')],
    [{ completion: "\ud800\u0000" + "é".repeat(1000) }],
    "items",
  ];
  for (const i of items) out.push(send(`items ${JSON.stringify(i).slice(0, 60)}`, { filters: [{ type: "length" }], items: i }));
  out.push(send("extra field", { filters: [{ type: "length" }], items: [item], dataset: t.dsB }, "refused"));
  out.push(send("proto at root", `{"__proto__":{"polluted":true},"filters":[{"type":"length"}],"items":[${JSON.stringify(item)}]}`));
  // A few large but legal checks: many filters on many items.
  out.push(
    send(
      "100 items 6 filters",
      {
        filters: [{ type: "length" }, { type: "refusal" }, { type: "repetition" }, { type: "regex", pattern: "A:" }, { type: "math_answer", reference: "{{answer}}" }, { type: "dedup" }],
        items: Array.from({ length: 100 }, (_, i) => ({ input: { answer: String(i % 7) }, completion: `so the answer is ${Math.floor(rng() * 7)}. A: ${i % 7}` })),
      },
      "ok",
    ),
  );
  return out;
}

function queries(rng: Rng, t: Targets): FuzzRequest[] {
  const samples = [
    "limit=-1", "limit=0", "limit=201", "limit=1e309", "limit=1.5", "limit=abc", "limit=", "limit=NaN", "limit=0x10", "limit=%00", "limit=1&limit=2",
    "status=foo", "status=", "status[]=accepted", "status=ACCEPTED", "status=accepted&status=rejected",
    "cursor=junk", "cursor=", "cursor=%00", "cursor=" + "A".repeat(10_000), `cursor=${btoa('{"shard":-1,"skip":0}')}`, `cursor=${btoa("null")}`, `cursor=${btoa('{"shard":1e309,"skip":1}')}`,
    `cursor=${btoa('{"shard":"1 OR 1=1","skip":0}')}`, `cursor=${btoa('{"shard":9007199254740993,"skip":9007199254740993}')}`, "cursor=%E0%A4%A", "cursor=====",
    "__proto__[x]=1", "constructor=1", "&&&", "?", "%", "limit=10&status=rejected&cursor=" + btoa('{"shard":0,"skip":0}').replace(/=+$/, ""),
  ];
  const out: FuzzRequest[] = samples.map((q) => ({ label: `samples ?${q.slice(0, 40)}`, method: "GET", path: `/v1/jobs/${t.jobA}/samples?${q}`, headers: [bearer(t.keyA)], expect: "any" as Expect }));
  const usage: [string, Expect][] = [
    ["from=garbage", "refused"],
    ["from=2026-13-45", "refused"],
    ["from=9999-99-99", "refused"],
    ["from=0000-00-00", "refused"],
    ["to=2026-02-31", "refused"],
    ["from=2026-01-01&to=2025-01-01", "refused"],
    ["from=2026-01-01T00:00:00Z", "refused"],
    ["from=%00", "refused"],
    ["from=" + "1".repeat(10_000), "refused"],
    ["to=-001-01-01", "refused"],
    ["from[]=1", "any"],
    ["from=2026-01-01&from=2027-01-01", "any"],
    ["from=2024-02-29&to=2024-02-29", "ok"],
    ["from=1970-01-01&to=9999-12-31", "ok"],
  ];
  for (const [q, expect] of usage)
    out.push({ label: `usage ?${q.slice(0, 40)}`, method: "GET", path: `/v1/usage?${q}`, headers: [bearer(t.keyA)], expect, code: expect === "refused" ? "invalid_request" : undefined });
  for (const q of ["limit=-1", "cursor=junk", "name=x&name=y", "%"]) {
    out.push({ label: `datasets ?${q}`, method: "GET", path: `/v1/datasets?${q}`, headers: [bearer(t.keyA)], expect: "ok" });
    out.push({ label: `releases ?${q}`, method: "GET", path: `/v1/datasets/${t.dsA}/releases?${q}`, headers: [bearer(t.keyA)], expect: "ok" });
  }
  // Range and conditional headers on a real release file.
  const ranges = ["bytes=abc", "bytes=99999999999-", "bytes=-0", "bytes=5-1", "bytes=0-0,1-2", "bytes=" + "9".repeat(400) + "-", "bytes=1e3-", "bytes=-99999999999999999999", "bytes=0-", "bytes=-1", "items=0-1", "bytes= 0-1", "bytes=0--1", "bytes=\u00ff"];
  for (const range of ranges)
    out.push({ label: `range ${range.slice(0, 30)}`, method: pick(rng, ["GET", "HEAD"]), path: `/v1/datasets/${t.dsA}/releases/${t.version}/files/${t.filePath}`, headers: [bearer(t.keyA), ["range", range]], expect: "any" });
  for (const inm of ["*", '"junk"', 'W/"x"', '"a", "b"', 'W/"x", "y"', "x".repeat(5000), '"a", "b", *', "junk", '"unterminated'])
    out.push({ label: `if-none-match ${inm.slice(0, 20)}`, method: "GET", path: `/v1/datasets/${t.dsA}/releases/${t.version}/files/${t.filePath}`, headers: [bearer(t.keyA), ["if-none-match", inm]], expect: "any" });
  return out;
}

/** Requests that must succeed: interleaved so that the fuzzer provably reaches the handlers. */
export function validRequests(rng: Rng, t: Targets, n: number): FuzzRequest[] {
  const A: [string, string][] = [bearer(t.keyA)];
  const make: (() => FuzzRequest)[] = [
    () => ({ label: "valid list datasets", method: "GET", path: "/v1/datasets", headers: A, expect: "ok" }),
    () => ({ label: "valid dataset", method: "GET", path: `/v1/datasets/${t.dsA}`, headers: A, expect: "ok" }),
    () => ({ label: "valid providers", method: "GET", path: "/v1/providers", headers: A, expect: "ok" }),
    () => ({ label: "valid usage", method: "GET", path: "/v1/usage?from=2020-01-01", headers: A, expect: "ok" }),
    () => ({ label: "valid job", method: "GET", path: `/v1/jobs/${t.jobA}`, headers: A, expect: "ok" }),
    () => ({ label: "valid samples", method: "GET", path: `/v1/jobs/${t.jobA}/samples?status=accepted&limit=2`, headers: A, expect: "ok" }),
    () => ({ label: "valid releases", method: "GET", path: `/v1/datasets/${t.dsA}/releases`, headers: A, expect: "ok" }),
    () => ({ label: "valid manifest", method: "GET", path: `/v1/datasets/${t.dsA}/releases/${t.version}`, headers: A, expect: "ok" }),
    () => ({ label: "valid file range", method: "GET", path: `/v1/datasets/${t.dsA}/releases/${t.version}/files/${t.filePath}`, headers: [...A, ["range", "bytes=0-9"]], expect: "ok" }),
    () => ({ label: "valid public dataset anonymously", method: "GET", path: `/v1/datasets/${t.dsBPublic}`, headers: [], expect: "ok" }),
    () => ({ label: "valid openapi", method: "GET", path: "/openapi.json", headers: [], expect: "ok" }),
    () => ({ label: "valid upload", method: "POST", path: `/v1/datasets/${t.dsA}/inputs`, headers: [...A, NDJSON_CT], body: t.jsonl, expect: "ok" }),
    () => ({ label: "valid create dataset", method: "POST", path: "/v1/datasets", headers: [...A, JSON_CT], body: JSON.stringify({ name: `fz-${Math.floor(rng() * 2 ** 48).toString(36)}`, description: "é💩\u202e", visibility: pick(rng, ["public", "private"]) }), expect: "ok" }),
    () => ({ label: "valid job create", method: "POST", path: "/v1/jobs", headers: [...A, JSON_CT], body: JSON.stringify(t.recipe), expect: "ok" }),
    () => ({ label: "valid job create inline rows", method: "POST", path: "/v1/jobs", headers: [...A, JSON_CT, ["idempotency-key", `fz-${Math.floor(rng() * 4)}`]], body: JSON.stringify({ ...t.recipe, inputs: { rows: [{ question: "What is 2+2?", answer: "4" }] } }), expect: "ok" }),
    () => ({ label: "valid job quote", method: "POST", path: "/v1/jobs", headers: [...A, JSON_CT], body: JSON.stringify({ ...t.recipe, dry_run: true }), expect: "ok" }),
    () => ({ label: "valid filters/check", method: "POST", path: "/v1/filters/check", headers: [...A, JSON_CT], body: JSON.stringify({ filters: [{ type: "length", min_chars: 1 }, { type: "math_answer", reference: "{{answer}}" }], items: [{ input: { answer: "4" }, completion: "A: 4" }] }), expect: "ok" }),
    () => ({ label: "valid key create", method: "POST", path: "/v1/keys", headers: [bearer(t.admin), JSON_CT], body: JSON.stringify({ name: "fuzz-made", budget_usd: 1 }), expect: "ok" }),
  ];
  return Array.from({ length: n }, () => pick(rng, make)());
}

/** Every hostile request, shuffled; `recipes` sets how many recipe mutations are drawn. */
export function hostileRequests(rng: Rng, t: Targets, recipes: number): FuzzRequest[] {
  return shuffle(rng, [
    ...wrongMethods(t),
    ...unknownPaths(rng, t),
    ...junkIds(rng, t),
    ...authVariants(rng, t),
    ...crossTenant(t),
    ...badBodies(rng, t),
    ...uploads(rng, t),
    ...recipeMutations(rng, t, recipes),
    ...filterChecks(rng, t),
    ...queries(rng, t),
  ]);
}
