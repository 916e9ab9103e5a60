// The HTTP surface's validation, errors and auth, through real requests to the Worker (real D1,
// R2 and Queues underneath). Every error must be the one envelope with a 4xx status and a
// message that tells the caller what to fix.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, gsm8k, gsmRecipe, newDataset, newKey, unique, upload, waitForJob } from "./helpers";

type Res = Awaited<ReturnType<typeof api>>;

/** Asserts the status and the error envelope, and returns the error for further checks. */
function expectError(r: Res, status: number, code?: string) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get("content-type") ?? "").toMatch(/application\/json/);
  expect(Object.keys(r.json ?? {})).toEqual(["error"]);
  const e = r.json.error;
  expect(typeof e.code).toBe("string");
  expect(typeof e.message).toBe("string");
  expect(e.message.length).toBeGreaterThan(10);
  expect(Array.isArray(e.details)).toBe(true);
  if (code) expect(e.code).toBe(code);
  return e as { code: string; message: string; details: any[] };
}

/** The `path`s of a validation error's details. */
const paths = (e: { details: any[] }) => e.details.map((d) => d.path);

const post = (path: string, key: string | null, json: unknown, headers: Record<string, string> = {}) =>
  api(path, { method: "POST", key, json, headers });

async function one<T = Record<string, unknown>>(query: string, ...binds: unknown[]): Promise<T | null> {
  return env.DB.prepare(query).bind(...binds).first<T>();
}

async function datasetId(name: string): Promise<string> {
  const row = await one<{ id: string }>("SELECT id FROM datasets WHERE name = ?", name);
  if (!row) throw new Error(`no dataset ${name}`);
  return row.id;
}

const countUploads = async (dataset: string) =>
  (await one<{ n: number }>("SELECT count(*) AS n FROM uploads WHERE dataset_id = ?", await datasetId(dataset)))!.n;
const countJobs = async (dataset: string) =>
  (await one<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE dataset_id = ?", await datasetId(dataset)))!.n;

/** Every R2 key under a prefix (all pages). */
async function r2Keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await env.BUCKET.list({ prefix, cursor });
    out.push(...page.objects.map((o) => o.key));
    if (!page.truncated) return out;
    cursor = page.cursor;
  }
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const uploadRaw = (key: string, dataset: string, body: string, contentType = "application/x-ndjson") =>
  api(`/v1/datasets/${dataset}/inputs`, { method: "POST", key, body, headers: { "content-type": contentType } });

/** Total size of an upload's chunks in R2. */
async function storedBytes(uploadId: string): Promise<number> {
  const { objects } = await env.BUCKET.list({ prefix: `uploads/${uploadId}/` });
  return objects.reduce((n, o) => n + o.size, 0);
}

/** A tenant: a key with a dataset and a small GSM8K upload in it. */
async function tenant(rows = 5) {
  const key = await newKey(unique("tenant"));
  const dataset = await newDataset(key);
  const up = await upload(key, dataset, gsm8k.slice(0, rows));
  expect(up.status, up.text).toBe(201);
  return { key, dataset, uploadId: up.json.id as string };
}

let a: Awaited<ReturnType<typeof tenant>>;
let b: Awaited<ReturnType<typeof tenant>>;
beforeAll(async () => {
  a = await tenant();
  b = await tenant();
});

describe("POST /v1/keys (admin)", () => {
  it("401s without the admin token, even with a bad body", async () => {
    const e = expectError(await post("/v1/keys", null, { name: "x" }), 401, "unauthorized");
    expect(e.message).toMatch(/ADMIN_TOKEN/);
    expectError(await post("/v1/keys", null, { bogus: true }), 401, "unauthorized");
  });

  it("401s with a wrong admin token (same length, a prefix, and a user key)", async () => {
    const admin = env.ADMIN_TOKEN!;
    const sameLength = admin.slice(0, -1) + (admin.endsWith("x") ? "y" : "x");
    for (const token of [sameLength, admin.slice(0, 5), admin + "x", a.key]) {
      const e = expectError(await post("/v1/keys", token, { name: "x" }), 401, "unauthorized");
      expect(e.message).toMatch(/ADMIN_TOKEN/);
    }
  });

  it("400s on a bad body only once the admin token passed", async () => {
    for (const body of [{}, { name: "" }, { name: "x", budget_usd: -1 }, { name: "x", extra: 1 }]) {
      const e = expectError(await post("/v1/keys", env.ADMIN_TOKEN!, body), 400, "invalid_request");
      expect(e.details.length).toBeGreaterThan(0);
    }
    const e = expectError(await post("/v1/keys", env.ADMIN_TOKEN!, { name: "x", budget_usd: "lots" }), 400, "invalid_request");
    expect(paths(e)).toContain("budget_usd");
  });

  it("201 returns a wn_ secret once, which then authenticates", async () => {
    const r = await post("/v1/keys", env.ADMIN_TOKEN!, { name: "ci", budget_usd: 12.5 });
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ name: "ci", budget_usd: 12.5 });
    expect(r.json.id).toMatch(/^key_/);
    expect(r.json.key).toMatch(/^wn_[A-Za-z0-9_-]{40,}$/);
    const list = await api("/v1/datasets", { key: r.json.key });
    expect(list.status).toBe(200);
    expect(list.json).toEqual({ datasets: [] });
  });

  it("stores only a sha256 hash of the secret, never the secret itself", async () => {
    const r = await post("/v1/keys", env.ADMIN_TOKEN!, { name: "hash-check" });
    expect(r.status).toBe(201);
    const secret: string = r.json.key;
    const { results } = await env.DB.prepare("SELECT * FROM keys").all<Record<string, unknown>>();
    const row = results.find((k) => k.id === r.json.id)!;
    expect(row).toBeDefined();
    for (const k of results) for (const v of Object.values(k)) expect(String(v)).not.toContain(secret.slice(3));
    expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret)));
    expect(row.secret_hash).toBe(Array.from(digest, (x) => x.toString(16).padStart(2, "0")).join(""));
  });
});

describe("authentication", () => {
  it("401s without a key on a route that needs one", async () => {
    const e = expectError(await api("/v1/datasets"), 401, "unauthorized");
    expect(e.message).toMatch(/Authorization: Bearer/);
    expectError(await api(`/v1/jobs/job_nope`), 401, "unauthorized");
    expectError(await post("/v1/datasets", null, { name: unique("anon") }), 401, "unauthorized");
  });

  it("401s on an unknown key (never treated as anonymous)", async () => {
    const e = expectError(await api("/v1/datasets", { key: "wn_notakey" }), 401, "unauthorized");
    expect(e.message).toMatch(/unknown API key/);
    // Not even where anonymous reads are allowed.
    const pub = await newDataset(a.key, { visibility: "public" });
    expect((await api(`/v1/datasets/${pub}`)).status).toBe(200);
    expectError(await api(`/v1/datasets/${pub}`, { key: "wn_notakey" }), 401, "unauthorized");
  });

  it("401s on a malformed Authorization header", async () => {
    for (const h of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", a.key, `Token ${a.key}`]) {
      const r = await api("/v1/datasets", { headers: { authorization: h } });
      const e = expectError(r, 401, "unauthorized");
      expect(e.message).toMatch(/Bearer/);
    }
  });

  it("accepts the scheme case-insensitively", async () => {
    const r = await api("/v1/datasets", { headers: { authorization: `bearer ${a.key}` } });
    expect(r.status).toBe(200);
  });

  // Authentication comes before validation: an anonymous caller never sees the schema.
  it("401s an anonymous request before looking at its body", async () => {
    expectError(await post("/v1/datasets", null, { name: "BAD NAME" }), 401, "unauthorized");
    expectError(await post("/v1/jobs", null, {}), 401, "unauthorized");
    expectError(await post("/v1/filters/check", null, { filters: [], items: [] }), 401, "unauthorized");
  });
});

describe("datasets", () => {
  it("400s on an invalid name, pointing at `name` and saying what is allowed", async () => {
    for (const name of ["Upper", "", "-lead", "a b", "x".repeat(65), "slash/y"]) {
      const e = expectError(await post("/v1/datasets", a.key, { name }), 400, "invalid_request");
      expect(paths(e)).toEqual(["name"]);
      expect(e.message).toMatch(/lowercase letters/);
    }
  });

  it("409 dataset_exists on a duplicate name, naming it", async () => {
    const name = await newDataset(a.key);
    const e = expectError(await post("/v1/datasets", a.key, { name }), 409, "dataset_exists");
    expect(e.message).toContain(name);
  });

  it("400s on unknown fields and bad enums (strict)", async () => {
    let e = expectError(await post("/v1/datasets", a.key, { name: unique("ds"), owner: "me" }), 400, "invalid_request");
    expect(JSON.stringify(e.details)).toContain("owner");
    e = expectError(await post("/v1/datasets", a.key, { name: unique("ds"), visibility: "secret" }), 400, "invalid_request");
    expect(paths(e)).toEqual(["visibility"]);
  });

  it("400s (not 500) on a body that is not an object", async () => {
    for (const body of [null, [], "name", 3]) expectError(await post("/v1/datasets", a.key, body), 400);
  });

  it("GET own dataset → 200 with counts", async () => {
    const r = await api(`/v1/datasets/${a.dataset}`, { key: a.key });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      name: a.dataset,
      visibility: "private",
      license: "other",
      counts: { uploads: expect.any(Number), jobs: expect.any(Number), accepted_samples: expect.any(Number) },
      latest_release: null,
    });
    expect(r.json.counts.uploads).toBeGreaterThanOrEqual(1);
  });

  it("another key's private dataset is a 404 (not a 403), same as a missing one", async () => {
    const e = expectError(await api(`/v1/datasets/${a.dataset}`, { key: b.key }), 404, "not_found");
    expect(e.message).toBe(`dataset '${a.dataset}' not found`);
    const missing = unique("missing");
    expect(expectError(await api(`/v1/datasets/${missing}`, { key: b.key }), 404, "not_found").message).toBe(`dataset '${missing}' not found`);
    expectError(await api(`/v1/datasets/${a.dataset}`), 404, "not_found");
  });

  it("a public dataset is readable by another key and anonymously", async () => {
    const pub = await newDataset(a.key, { visibility: "public", license: "mit" });
    for (const key of [b.key, null]) {
      const r = await api(`/v1/datasets/${pub}`, { key });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ name: pub, visibility: "public", license: "mit" });
    }
    // ...but it is not listed among the other key's datasets.
    const list = await api("/v1/datasets", { key: b.key });
    expect(list.json.datasets.map((d: { name: string }) => d.name)).not.toContain(pub);
  });

  it("list returns only the caller's own datasets", async () => {
    const mine = await newDataset(b.key);
    const r = await api("/v1/datasets", { key: b.key });
    expect(r.status).toBe(200);
    const names = r.json.datasets.map((d: { name: string }) => d.name);
    expect(names).toContain(mine);
    expect(names).toContain(b.dataset);
    expect(names).not.toContain(a.dataset);
    const own = await env.DB.prepare("SELECT d.name FROM datasets d JOIN datasets x ON x.key_id = d.key_id WHERE x.name = ?").bind(b.dataset).all<{ name: string }>();
    expect(new Set(names)).toEqual(new Set(own.results.map((x) => x.name)));
  });
});

describe("POST /v1/datasets/{name}/inputs", () => {
  it("415 on a content type that is not JSONL", async () => {
    const e = expectError(await uploadRaw(a.key, a.dataset, jsonl([{ q: 1 }]), "application/json"), 415, "unsupported_media_type");
    expect(e.message).toMatch(/application\/x-ndjson/);
  });

  it("400 invalid_jsonl with the line number, and nothing recorded (no row, no orphan chunk)", async () => {
    const beforeRows = await countUploads(a.dataset);
    const beforeKeys = await r2Keys("uploads/");
    // 450 good rows first, so two full chunks were already written to R2 when line 452 fails.
    const good = Array.from({ length: 450 }, (_, i) => ({ question: `q${i}`, answer: String(i) }));
    const body = jsonl(good) + "\n" + '{"question": "broken", ' + "\n" + jsonl([{ question: "after" }]);
    const e = expectError(await uploadRaw(a.key, a.dataset, body), 400, "invalid_jsonl");
    expect(e.details).toEqual([{ line: 452 }]);
    expect(e.message).toMatch(/line 452/);
    expect(await countUploads(a.dataset)).toBe(beforeRows);
    expect(await r2Keys("uploads/")).toEqual(beforeKeys);
  });

  it("400 invalid_row for a line that is JSON but not an object", async () => {
    for (const bad of ["[1,2]", "3", '"text"', "null"]) {
      const before = await countUploads(a.dataset);
      const e = expectError(await uploadRaw(a.key, a.dataset, `{"question":"ok"}\n${bad}\n`), 400, "invalid_row");
      expect(e.details).toEqual([{ line: 2 }]);
      expect(e.message).toMatch(/line 2: .*JSON object/);
      expect(await countUploads(a.dataset)).toBe(before);
    }
  });

  it("400 empty_upload on an empty body or only blank lines", async () => {
    for (const body of ["", "\n\n  \n"]) {
      const e = expectError(await uploadRaw(a.key, a.dataset, body), 400, "empty_upload");
      expect(e.message).toMatch(/JSON object per line/);
    }
  });

  it("450 rows → 201 with rows 450, chunks 3, fields the intersection of the rows' keys", async () => {
    const rows = Array.from({ length: 450 }, (_, i) => ({ question: `q${i}`, answer: String(i), ...(i % 2 ? { odd: true } : { even: true }), ...(i === 7 ? {} : { n: i }) }));
    const before = await r2Keys("uploads/");
    const r = await upload(a.key, a.dataset, rows);
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ rows: 450, chunks: 3, fields: ["answer", "question"] });
    expect(r.json.id).toMatch(/^inp_/);
    expect(r.json.bytes).toBe(jsonl(rows).length);
    const added = (await r2Keys("uploads/")).filter((k) => !before.includes(k));
    expect(added.sort()).toEqual([0, 1, 2].map((i) => `uploads/${r.json.id}/${String(i).padStart(6, "0")}.jsonl`));
    const row = await one<{ rows: number; chunks: number; key_id: string }>("SELECT rows, chunks, key_id FROM uploads WHERE id = ?", r.json.id);
    expect(row).toMatchObject({ rows: 450, chunks: 3 });
  });

  it("accepts a charset parameter and the other JSONL media types", async () => {
    for (const type of ["application/x-ndjson; charset=utf-8", "application/jsonl", "text/plain"]) {
      const r = await uploadRaw(a.key, a.dataset, jsonl([{ q: 1 }]), type);
      expect(r.status, `${type}: ${r.text}`).toBe(201);
    }
  });

  it("413 row_too_large for a row over 64 KiB, with its line, and nothing recorded", async () => {
    const before = await countUploads(a.dataset);
    const beforeKeys = await r2Keys("uploads/");
    const rows = [...Array.from({ length: 250 }, (_, i) => ({ q: i })), { q: "y".repeat(70_000) }];
    const e = expectError(await upload(a.key, a.dataset, rows), 413, "row_too_large");
    expect(e.details).toEqual([{ line: 251 }]);
    expect(e.message).toMatch(/line 251: .*65536 bytes/);
    // A single huge line with no newline at all is refused while streaming.
    expectError(await uploadRaw(a.key, a.dataset, '{"q":"' + "y".repeat(300_000)), 413, "row_too_large");
    expect(await countUploads(a.dataset)).toBe(before);
    expect(await r2Keys("uploads/")).toEqual(beforeKeys);
  });

  it("`bytes` equals the bytes stored in R2 (ASCII rows)", async () => {
    const r = await upload(a.key, a.dataset, [{ q: "plain ascii" }, { q: "more" }]);
    expect(r.status).toBe(201);
    expect(r.json.bytes).toBe(await storedBytes(r.json.id));
  });

  // (Was a bug: bytes were counted in UTF-16 units.) 10,000 CJK characters are ~30 KB of UTF-8.
  it("`bytes` equals the bytes stored in R2 (non-ASCII rows)", async () => {
    const r = await upload(a.key, a.dataset, [{ q: "語".repeat(10_000) }]);
    expect(r.status).toBe(201);
    expect(r.json.bytes).toBe(await storedBytes(r.json.id));
  });

  // (Was a bug: the limit was checked in characters.) 30,000 CJK characters are ~90 KB of UTF-8.
  it("413 row_too_large for a row over 64 KiB of UTF-8, whatever its characters", async () => {
    expectError(await upload(a.key, a.dataset, [{ q: "語".repeat(30_000) }]), 413, "row_too_large");
  });

  it("accepts CRLF line endings and a final line without newline", async () => {
    const r = await uploadRaw(a.key, a.dataset, '{"a":1,"b":2}\r\n{"a":3}\r\n{"a":4,"c":5}');
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ rows: 3, chunks: 1, fields: ["a"] });
  });

  it("404 when uploading into another key's dataset (even a public one), and nothing stored", async () => {
    const before = await countUploads(a.dataset);
    expectError(await upload(b.key, a.dataset, [{ question: "x" }]), 404, "not_found");
    const pub = await newDataset(a.key, { visibility: "public" });
    expectError(await upload(b.key, pub, [{ question: "x" }]), 404, "not_found");
    expectError(await upload(b.key, unique("missing"), [{ question: "x" }]), 404, "not_found");
    expect(await countUploads(a.dataset)).toBe(before);
    expect(await countUploads(pub)).toBe(0);
  });

  it("401 without a key", async () => {
    expectError(await api(`/v1/datasets/${a.dataset}/inputs`, { method: "POST", body: "{}\n", headers: { "content-type": "application/x-ndjson" } }), 401, "unauthorized");
  });
});

describe("POST /v1/jobs: recipe validation", () => {
  const recipe = (over: Record<string, unknown> = {}) => gsmRecipe(a.dataset, { upload: a.uploadId }, over);

  it("400 invalid_request when prompt.user is missing", async () => {
    const e = expectError(await post("/v1/jobs", a.key, recipe({ prompt: { system: "hi" } })), 400, "invalid_request");
    expect(paths(e)).toEqual(["prompt.user"]);
  });

  it("400 invalid_request when candidates is 0 (or too many, or not an integer)", async () => {
    for (const candidates of [0, 17, 1.5, "4"]) {
      const e = expectError(await post("/v1/jobs", a.key, recipe({ candidates })), 400, "invalid_request");
      expect(paths(e)).toEqual(["candidates"]);
    }
  });

  it("400 invalid_request on an unknown filter type, pointing at the filter", async () => {
    const e = expectError(await post("/v1/jobs", a.key, recipe({ filters: [{ type: "length" }, { type: "vibes" }] })), 400, "invalid_request");
    expect(paths(e)).toEqual(["filters.1.type"]);
  });

  it("400 invalid_request on a bad filter option", async () => {
    const e = expectError(await post("/v1/jobs", a.key, recipe({ filters: [{ type: "length", min_chars: 10, max_chars: 5 }] })), 400, "invalid_request");
    expect(paths(e)[0]).toMatch(/^filters\.0/);
    expect(JSON.stringify(e.details)).toMatch(/min_chars must not exceed max_chars/);
  });

  it("400 invalid_request on an unknown top-level field, naming it", async () => {
    const e = expectError(await post("/v1/jobs", a.key, recipe({ base_url: "http://evil.example" })), 400, "invalid_request");
    expect(JSON.stringify(e)).toContain("base_url");
  });

  it("400 invalid_request on a generator that tries to carry a URL", async () => {
    const e = expectError(await post("/v1/jobs", a.key, recipe({ generators: [{ provider: "http://evil.example/v1", model: "x" }] })), 400, "invalid_request");
    expect(paths(e)).toEqual(["generators.0.provider"]);
    const e2 = expectError(await post("/v1/jobs", a.key, recipe({ generators: [{ provider: "openai", model: "x", base_url: "http://evil.example" }] })), 400, "invalid_request");
    expect(JSON.stringify(e2)).toContain("base_url");
  });

  // Union failures name what is accepted, not just "Invalid input".
  it("union errors say what is accepted (filter types, input shapes)", async () => {
    const f = expectError(await post("/v1/jobs", a.key, recipe({ filters: [{ type: "vibes" }] })), 400, "invalid_request");
    expect(f.message).toMatch(/length/);
    expect(f.message).toMatch(/math_answer/);
    const i = expectError(await post("/v1/jobs", a.key, recipe({ inputs: {} })), 400, "invalid_request");
    expect(i.message).toMatch(/upload/);
    expect(i.message).toMatch(/rows/);
    expect(i.message).toMatch(/grid/);
  });

  it("400 invalid_request on bad inputs shapes", async () => {
    for (const inputs of [{}, { rows: [] }, { upload: "nope" }, { upload: a.uploadId, rows: [{}] }, { grid: { vars: { "1bad": ["x"] } } }]) {
      const e = expectError(await post("/v1/jobs", a.key, recipe({ inputs })), 400, "invalid_request");
      expect(paths(e).some((p: string) => p.startsWith("inputs")), JSON.stringify(e)).toBe(true);
    }
  });

  it("400 unknown_provider names the configured providers", async () => {
    const before = await countJobs(a.dataset);
    const e = expectError(await post("/v1/jobs", a.key, recipe({ generators: [{ provider: "replay", model: "gsm8k-gpt3" }, { provider: "nope", model: "m" }] })), 400, "unknown_provider");
    expect(e.details).toEqual([{ path: "generators.1.provider", configured: expect.arrayContaining(["replay"]) }]);
    expect(e.message).toMatch(/'nope'.*configured: .*replay/);
    expect(await countJobs(a.dataset)).toBe(before);
  });

  it("model names that are Object.prototype's keys are just unknown models (the fuzz found 'constructor')", async () => {
    for (const model of ["constructor", "__proto__", "toString"]) {
      const r = await post("/v1/jobs", a.key, recipe({ generators: [{ provider: "replay", model }], candidates: 1 }));
      expect(r.status, r.text).toBe(202);
      expect(r.json.quote?.cost_usd ?? 0).toBe(0);
      const job = await waitForJob(a.key, r.json.id);
      expect(job.candidates.accepted + job.candidates.rejected + job.candidates.failed).toBe(job.candidates.planned);
    }
  });

  it("400 missing_field for a placeholder not in the rows, and no job row", async () => {
    const before = await countJobs(a.dataset);
    const e = expectError(await post("/v1/jobs", a.key, recipe({ prompt: { user: "{{question}} {{nope}}" } })), 400, "missing_field");
    expect(e.details).toEqual([{ path: "prompt.user", field: "nope" }]);
    expect(e.message).toMatch(/\{\{nope\}\}.*prompt\.user.*fields: answer, question/);
    // Also in the system prompt and in a filter's reference template.
    const e2 = expectError(
      await post("/v1/jobs", a.key, recipe({ prompt: { system: "{{persona}}", user: "{{question}}" }, filters: [{ type: "math_answer", reference: "{{solution}}" }] })),
      400,
      "missing_field",
    );
    expect(e2.details).toEqual([
      { path: "prompt.system", field: "persona" },
      { path: "filters.0", field: "solution" },
    ]);
    expect(await countJobs(a.dataset)).toBe(before);
  });

  it("400 missing_field for inline rows where only some rows have the field, and no upload stored", async () => {
    const beforeJobs = await countJobs(a.dataset);
    const beforeUploads = await countUploads(a.dataset);
    const rows = [{ question: "1+1?", answer: "2" }, { question: "2+2?" }];
    const e = expectError(await post("/v1/jobs", a.key, gsmRecipe(a.dataset, { rows })), 400, "missing_field");
    expect(e.details).toEqual([{ path: "filters.1", field: "answer" }]);
    expect(await countJobs(a.dataset)).toBe(beforeJobs);
    expect(await countUploads(a.dataset)).toBe(beforeUploads);
  });

  it("400 invalid_template on a template Mustache cannot parse", async () => {
    const e = expectError(await post("/v1/jobs", a.key, recipe({ prompt: { user: "{{#question}} unclosed" } })), 400, "invalid_template");
    expect(e.details).toEqual([{ path: "prompt.user" }]);
  });

  it("400 invalid_recipe for an empty grid and for an unbounded huge grid", async () => {
    let e = expectError(await post("/v1/jobs", a.key, recipe({ inputs: { grid: { vars: {} } }, prompt: { user: "x" }, filters: [] })), 400, "invalid_recipe");
    expect(e.message).toMatch(/inputs\.grid\.vars/);
    const big = Array.from({ length: 1001 }, (_, i) => i);
    e = expectError(await post("/v1/jobs", a.key, recipe({ inputs: { grid: { vars: { x: big, y: big } } }, prompt: { user: "{{x}}{{y}}" }, filters: [] })), 400, "invalid_recipe");
    expect(e.message).toMatch(/inputs\.grid\.limit/);
  });

  it("404 on an unknown upload id", async () => {
    const e = expectError(await post("/v1/jobs", a.key, recipe({ inputs: { upload: "inp_doesnotexist" } })), 404, "not_found");
    expect(e.message).toContain("inp_doesnotexist");
  });

  it("404 on another key's upload, even into the caller's own dataset", async () => {
    const e = expectError(await post("/v1/jobs", b.key, gsmRecipe(b.dataset, { upload: a.uploadId })), 404, "not_found");
    expect(e.message).toContain(a.uploadId);
  });

  it("404 on another key's dataset (private or public) or a missing one", async () => {
    expectError(await post("/v1/jobs", b.key, gsmRecipe(a.dataset, { upload: b.uploadId })), 404, "not_found");
    const pub = await newDataset(a.key, { visibility: "public" });
    expectError(await post("/v1/jobs", b.key, gsmRecipe(pub, { upload: b.uploadId })), 404, "not_found");
    expectError(await post("/v1/jobs", b.key, gsmRecipe(unique("missing"), { upload: b.uploadId })), 404, "not_found");
    expect(await countJobs(pub)).toBe(0);
  });
});

describe("POST /v1/jobs: inputs, idempotency, and job routes", () => {
  it("inline rows run (202) and every candidate is accounted for", async () => {
    const rows = gsm8k.slice(0, 3);
    const r = await post("/v1/jobs", a.key, gsmRecipe(a.dataset, { rows }, { candidates: 2 }));
    expect(r.status, r.text).toBe(202);
    expect(r.json).toEqual({ id: expect.stringMatching(/^job_/), status: "queued" });
    const job = await waitForJob(a.key, r.json.id);
    expect(job).toMatchObject({ status: "done", dataset: a.dataset, inputs: { total: 3 } });
    expect(job.candidates.planned).toBe(6);
    expect(job.candidates.accepted + job.candidates.rejected + job.candidates.failed).toBe(6);
    // Inline rows became an upload of the job's dataset.
    const up = await one<{ rows: number }>("SELECT u.rows AS rows FROM uploads u JOIN jobs j ON j.upload_id = u.id WHERE j.id = ?", r.json.id);
    expect(up).toEqual({ rows: 3 });
  });

  it("grid inputs run (202); replay has no recordings for them, so candidates fail but are counted", async () => {
    const recipe = gsmRecipe(
      a.dataset,
      { grid: { vars: { topic: ["fractions", "ratios", "areas"], audience: ["kids", "adults"] }, limit: 5 } },
      { prompt: { user: "Write a {{topic}} problem for {{audience}}." }, filters: [{ type: "length", min_chars: 1 }], candidates: 2 },
    );
    const r = await post("/v1/jobs", a.key, recipe);
    expect(r.status, r.text).toBe(202);
    const job = await waitForJob(a.key, r.json.id);
    expect(job.status).toBe("done");
    expect(job.inputs.total).toBe(5);
    expect(job.candidates.planned).toBe(10);
    expect(job.candidates.accepted + job.candidates.rejected + job.candidates.failed).toBe(10);
    expect(job.candidates.failed).toBeGreaterThan(0);
    const failed = await api(`/v1/jobs/${r.json.id}/samples?status=failed&limit=200`, { key: a.key });
    expect(failed.status).toBe(200);
    expect(failed.json.samples.length).toBe(job.candidates.failed);
    expect(JSON.stringify(failed.json.samples)).toMatch(/no_recording/);
  });

  it("Idempotency-Key: the same recipe twice → the same job (202 both), one job row", async () => {
    const idem = unique("idem");
    const recipe = gsmRecipe(a.dataset, { upload: a.uploadId }, { candidates: 1 });
    const first = await post("/v1/jobs", a.key, recipe, { "idempotency-key": idem });
    expect(first.status, first.text).toBe(202);
    // Key order does not matter: the recipe is compared canonically.
    const reordered = Object.fromEntries(Object.entries(recipe).reverse());
    const second = await post("/v1/jobs", a.key, reordered, { "idempotency-key": idem });
    expect(second.status, second.text).toBe(202);
    expect(second.json.id).toBe(first.json.id);
    const n = await one<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE idempotency_key = ?", idem);
    expect(n!.n).toBe(1);
    // Scoped per key: another key may use the same Idempotency-Key for its own job.
    const other = await post("/v1/jobs", b.key, gsmRecipe(b.dataset, { upload: b.uploadId }, { candidates: 1 }), { "idempotency-key": idem });
    expect(other.status, other.text).toBe(202);
    expect(other.json.id).not.toBe(first.json.id);
    await waitForJob(a.key, first.json.id);
    await waitForJob(b.key, other.json.id);
  });

  it("Idempotency-Key: concurrent identical requests → one job, every caller gets its id", async () => {
    const ds = await newDataset(a.key);
    const up = await upload(a.key, ds, gsm8k.slice(0, 2));
    const idem = unique("race");
    const rs = await Promise.all(
      Array.from({ length: 8 }, () => post("/v1/jobs", a.key, gsmRecipe(ds, { upload: up.json.id }, { candidates: 1 }), { "idempotency-key": idem })),
    );
    expect(rs.map((r) => r.status)).toEqual(Array(8).fill(202));
    expect(new Set(rs.map((r) => r.json.id)).size).toBe(1);
    expect(await countJobs(ds)).toBe(1);
    await waitForJob(a.key, rs[0]!.json.id);
  });

  // Inline rows are stored only by the request whose job row wins the Idempotency-Key race.
  // The race does not always happen, so this tries up to 20 rounds.
  it("Idempotency-Key: concurrent identical inline-rows requests leave no orphan upload", async () => {
    for (let round = 0; round < 20; round++) {
      const ds = await newDataset(a.key);
      const idem = unique("race");
      const rs = await Promise.all(
        Array.from({ length: 8 }, () => post("/v1/jobs", a.key, gsmRecipe(ds, { rows: gsm8k.slice(0, 2) }, { candidates: 1 }), { "idempotency-key": idem })),
      );
      expect(new Set(rs.map((r) => r.json.id)).size).toBe(1);
      expect(await countJobs(ds)).toBe(1);
      expect(await countUploads(ds), `round ${round}`).toBe(1);
    }
  });

  it("Idempotency-Key: the same key with a different recipe → 409 idempotency_conflict, no new job", async () => {
    const idem = unique("idem");
    const first = await post("/v1/jobs", a.key, gsmRecipe(a.dataset, { upload: a.uploadId }, { candidates: 1 }), { "idempotency-key": idem });
    expect(first.status).toBe(202);
    const before = await countJobs(a.dataset);
    const e = expectError(await post("/v1/jobs", a.key, gsmRecipe(a.dataset, { upload: a.uploadId }, { candidates: 2 }), { "idempotency-key": idem }), 409, "idempotency_conflict");
    expect(e.message).toMatch(/new key/);
    expect(await countJobs(a.dataset)).toBe(before);
    await waitForJob(a.key, first.json.id);
  });

  it("400 on an over-long Idempotency-Key", async () => {
    const e = expectError(await post("/v1/jobs", a.key, gsmRecipe(a.dataset, { upload: a.uploadId }), { "idempotency-key": "k".repeat(201) }), 400, "invalid_request");
    expect(paths(e)).toEqual(["idempotency-key"]);
  });

  describe("one job", () => {
    let jobId: string;
    beforeAll(async () => {
      const r = await post("/v1/jobs", a.key, gsmRecipe(a.dataset, { upload: a.uploadId }, { candidates: 2 }));
      expect(r.status, r.text).toBe(202);
      jobId = r.json.id;
      await waitForJob(a.key, jobId);
    });

    it("GET by its owner → 200 with progress", async () => {
      const r = await api(`/v1/jobs/${jobId}`, { key: a.key });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ id: jobId, status: "done", dataset: a.dataset, inputs: { total: 5 }, candidates: { planned: 10, generated: 10 } });
      expect(r.json.recipe_sha256).toMatch(/^[0-9a-f]{64}$/);
    });

    it("another key gets 404 for the job, its samples and its cancel", async () => {
      const e = expectError(await api(`/v1/jobs/${jobId}`, { key: b.key }), 404, "not_found");
      expect(e.message).toContain(jobId);
      expectError(await api(`/v1/jobs/${jobId}/samples?status=accepted`, { key: b.key }), 404, "not_found");
      expectError(await api(`/v1/jobs/${jobId}/cancel`, { method: "POST", key: b.key }), 404, "not_found");
      expect((await api(`/v1/jobs/${jobId}`, { key: a.key })).json.status).toBe("done");
      expectError(await api(`/v1/jobs/job_doesnotexist`, { key: a.key }), 404, "not_found");
    });

    it("samples?status=bogus → 400 naming `status`", async () => {
      const e = expectError(await api(`/v1/jobs/${jobId}/samples?status=bogus`, { key: a.key }), 400, "invalid_request");
      expect(paths(e)).toEqual(["status"]);
    });

    it("samples with a bad limit → 400 naming `limit`", async () => {
      for (const limit of ["0", "201", "abc"]) {
        const e = expectError(await api(`/v1/jobs/${jobId}/samples?limit=${limit}`, { key: a.key }), 400, "invalid_request");
        expect(paths(e)).toEqual(["limit"]);
      }
    });

    it("samples with a bad cursor → 400 invalid_cursor", async () => {
      const forged = [btoa(JSON.stringify({ shard: -1, skip: 0 })), btoa("null"), btoa('{"shard":"0","skip":0}'), "!!!notbase64", btoa("not json")];
      for (const cursor of forged) {
        const e = expectError(await api(`/v1/jobs/${jobId}/samples?status=accepted&cursor=${encodeURIComponent(cursor)}`, { key: a.key }), 400, "invalid_cursor");
        expect(e.message).toMatch(/without a cursor/);
      }
    });

    it("cancelling a finished job is harmless and keeps its status", async () => {
      const r = await api(`/v1/jobs/${jobId}/cancel`, { method: "POST", key: a.key });
      expect(r.status).toBe(200);
      expect(r.json.status).toBe("done");
    });
  });

  it("cancel returns the job with status cancelled, and it settles", async () => {
    const up = await upload(a.key, a.dataset, gsm8k.slice(0, 400));
    expect(up.status).toBe(201);
    const r = await post("/v1/jobs", a.key, gsmRecipe(a.dataset, { upload: up.json.id }, { candidates: 4 }));
    expect(r.status).toBe(202);
    const c = await api(`/v1/jobs/${r.json.id}/cancel`, { method: "POST", key: a.key });
    expect(c.status, c.text).toBe(200);
    expect(c.json).toMatchObject({ id: r.json.id, status: "cancelled" });
    const job = await waitForJob(a.key, r.json.id);
    expect(job.status).toBe("cancelled");
    const cd = job.candidates;
    expect(cd.accepted + cd.rejected + cd.failed + cd.cancelled).toBe(cd.planned);
    // Cancelling twice is idempotent.
    const again = await api(`/v1/jobs/${r.json.id}/cancel`, { method: "POST", key: a.key });
    expect(again.json.status).toBe("cancelled");
  });
});

describe("POST /v1/filters/check", () => {
  const chain = [
    { type: "length", min_chars: 20 },
    { type: "math_answer", reference: "{{answer}}" },
  ];

  it("400 on 101 items, naming `items`", async () => {
    const items = Array.from({ length: 101 }, () => ({ input: { answer: "1" }, completion: "A: 1" }));
    const e = expectError(await post("/v1/filters/check", a.key, { filters: chain, items }), 400, "invalid_request");
    expect(paths(e)).toEqual(["items"]);
    const ok = await post("/v1/filters/check", a.key, { filters: chain, items: items.slice(1) });
    expect(ok.status).toBe(200);
    expect(ok.json.results).toHaveLength(100);
  });

  it("400 on an unknown filter, and on an empty chain or no items", async () => {
    let e = expectError(await post("/v1/filters/check", a.key, { filters: [{ type: "vibes" }], items: [{ completion: "x" }] }), 400, "invalid_request");
    expect(paths(e)).toEqual(["filters.0.type"]);
    e = expectError(await post("/v1/filters/check", a.key, { filters: [], items: [{ completion: "x" }] }), 400, "invalid_request");
    expect(paths(e)).toEqual(["filters"]);
    e = expectError(await post("/v1/filters/check", a.key, { filters: chain, items: [] }), 400, "invalid_request");
    expect(paths(e)).toEqual(["items"]);
  });

  it("gives length and math_answer verdicts in order, with reasons, traces and counts", async () => {
    const items = [
      { input: { answer: "18" }, completion: "short" },
      { input: { answer: "#### 18" }, completion: "Janet sells 16 - 3 - 4 = 9 eggs at $2.\nA: 19" },
      { input: { answer: "18" }, completion: "I am not sure how to solve this one, sorry." },
      { input: { answer: "The answer is 18" }, completion: "She makes 9 * 2 = 18 dollars per day.\nA: $18" },
    ];
    const r = await post("/v1/filters/check", a.key, { filters: chain, items });
    expect(r.status, r.text).toBe(200);
    const [short, wrong, none, right] = r.json.results;
    expect(short).toMatchObject({ pass: false, reason: "length.too_short" });
    expect(short.trace).toEqual([{ name: "length", pass: false, score: 5, reason: "length.too_short", detail: "5 chars < 20" }]);
    expect(wrong).toMatchObject({ pass: false, reason: "math_answer.mismatch" });
    expect(wrong.trace.map((t: any) => [t.name, t.pass])).toEqual([["length", true], ["math_answer", false]]);
    expect(wrong.trace[1].detail).toMatch(/extracted 19.*reference 18/);
    expect(none).toMatchObject({ pass: false, reason: "math_answer.no_answer" });
    expect(right).toEqual({
      pass: true,
      reason: null,
      trace: [
        { name: "length", pass: true, score: expect.any(Number), detail: expect.stringMatching(/chars$/) },
        { name: "math_answer", pass: true, score: 1, detail: expect.stringMatching(/extracted 18 .*reference 18/) },
      ],
    });
    expect(r.json.counts).toEqual({ pass: 1, "length.too_short": 1, "math_answer.mismatch": 1, "math_answer.no_answer": 1 });
  });

  it("401 without a key", async () => {
    expectError(await post("/v1/filters/check", null, { filters: chain, items: [{ completion: "A: 1", input: { answer: "1" } }] }), 401, "unauthorized");
  });
});

describe("misc", () => {
  it("unknown route → 404 envelope naming the route", async () => {
    const e = expectError(await api("/v1/nope", { key: a.key }), 404, "not_found");
    expect(e.message).toMatch(/GET \/v1\/nope/);
    expectError(await api("/v1/jobs", { key: a.key }), 404, "not_found"); // GET on a POST-only path
  });

  it("JSON body over 2 MiB → 413 envelope", async () => {
    const big = { name: unique("big"), description: "x".repeat(2 * 1024 * 1024 + 10) };
    const e = expectError(await post("/v1/datasets", a.key, big), 413, "payload_too_large");
    expect(e.message).toMatch(/2 MiB/);
  });

  it("malformed JSON body → 400 envelope, not 500", async () => {
    // (the code is hono's generic `http_error`; the message is what tells the caller)
    for (const path of ["/v1/datasets", "/v1/jobs", "/v1/filters/check"]) {
      const r = await api(path, { method: "POST", key: a.key, body: '{"name": ', headers: { "content-type": "application/json" } });
      const e = expectError(r, 400);
      expect(e.message).toMatch(/JSON/i);
    }
    const r = await api("/v1/keys", { method: "POST", key: env.ADMIN_TOKEN!, body: "{", headers: { "content-type": "application/json" } });
    expectError(r, 400);
  });

  it("a JSON body sent without a JSON content type → 415 envelope, not 500", async () => {
    for (const headers of [{ "content-type": "text/plain" }, {}] as Record<string, string>[]) {
      const r = await api("/v1/datasets", { method: "POST", key: a.key, body: JSON.stringify({ name: unique("ds") }), headers });
      expectError(r, 415);
    }
    const ok = await api("/v1/datasets", { method: "POST", key: a.key, body: JSON.stringify({ name: unique("ds") }), headers: { "content-type": "application/json; charset=utf-8" } });
    expect(ok.status).toBe(201);
  });

  it("a streamed JSON body over 2 MiB (no Content-Length) → 413 envelope", async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ name: unique("big"), description: "x".repeat(2 * 1024 * 1024 + 10) }));
    const body = new ReadableStream({
      start(c) {
        for (let i = 0; i < bytes.length; i += 65_536) c.enqueue(bytes.slice(i, i + 65_536));
        c.close();
      },
    });
    const r = await api("/v1/datasets", { method: "POST", key: a.key, body, headers: { "content-type": "application/json" }, duplex: "half" } as RequestInit);
    expectError(r, 413, "payload_too_large");
  });

  it("GET /openapi.json documents the routes and the Recipe", async () => {
    const r = await api("/openapi.json");
    expect(r.status).toBe(200);
    const doc = r.json;
    expect(doc.openapi).toMatch(/^3\.1/);
    for (const p of ["/v1/jobs", "/v1/datasets/{name}/inputs", "/v1/filters/check", "/v1/keys", "/v1/jobs/{id}/samples"]) expect(doc.paths[p], p).toBeDefined();
    expect(doc.paths["/v1/jobs"].post).toBeDefined();
    expect(doc.components.schemas.Recipe).toBeDefined();
    expect(doc.components.schemas.Recipe.properties).toHaveProperty("generators");
    expect(doc.components.schemas.Error).toBeDefined();
    expect(doc.paths["/v1/datasets/{name}/inputs"].post.requestBody.content).toHaveProperty("application/x-ndjson");
  });

  it("GET /docs is an HTML page", async () => {
    const r = await api("/docs");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/text\/html/);
    expect(r.text).toMatch(/^<!doctype html>/i);
    expect(r.text).toContain("/openapi.json");
  });
});
