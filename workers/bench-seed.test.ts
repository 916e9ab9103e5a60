import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, BASE, newDataset, newKey } from "../test/helpers";
import { app } from "./app";
import type { Env } from "./env";
import { readJsonlGz } from "./releases/test-seed";

/** The Worker's app with the bench var set (vitest's bindings leave it unset, like production). */
async function seed(body: unknown, opts: { benchRoutes?: string; token?: string | null; path?: string } = {}) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const token = opts.token === undefined ? env.ADMIN_TOKEN : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  const ctx = createExecutionContext();
  const e = { ...env, ...(opts.benchRoutes === undefined ? {} : { BENCH_ROUTES: opts.benchRoutes }) } as Env;
  const res = await app.fetch(new Request(`${BASE}${opts.path ?? "/__bench/seed"}`, { method: "POST", headers, body: JSON.stringify(body) }), e, ctx);
  await waitOnExecutionContext(ctx);
  return { status: res.status, json: (await res.json()) as any };
}

/** The new release's manifest, whether compile answers with it (201) or compiles on (202). */
async function release(dataset: string, key: string) {
  const r = await api(`/v1/datasets/${dataset}/releases`, { method: "POST", key });
  if (r.status === 201) return r.json;
  expect(r.status).toBe(202);
  for (let i = 0; i < 600; i++) {
    const list = await api(`/v1/datasets/${dataset}/releases`, { key });
    const v = list.json.releases.find((x: any) => x.version === r.json.version);
    if (v?.status === "published") return (await api(`/v1/datasets/${dataset}/releases/${v.version}`, { key })).json;
    expect(v?.status).not.toBe("failed");
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("release not published");
}

describe("POST /__bench/seed", () => {
  it("does not exist unless BENCH_ROUTES is 1 and the caller holds the admin token", async () => {
    const key = await newKey();
    const dataset = await newDataset(key);
    const body = { dataset, records: 10, recordBytes: 1024, shards: 1 };
    for (const opts of [{}, { benchRoutes: "0" }, { benchRoutes: "1", token: null }, { benchRoutes: "1", token: key }, { benchRoutes: "1", token: "nope" }]) {
      const r = await seed(body, opts);
      expect(r.status, JSON.stringify(opts)).toBe(404);
      expect(r.json.error.code).toBe("not_found");
    }
    // Through the deployed Worker (no BENCH_ROUTES binding) too.
    const r = await api("/__bench/seed", { method: "POST", key: env.ADMIN_TOKEN, json: body });
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { code: "not_found", message: "no route for POST /__bench/seed; see /docs", details: [] } });
  });

  it("writes accepted records as gzip JSONL shards with their shard and done task rows, and they compile", async () => {
    const key = await newKey();
    const dataset = await newDataset(key);
    const r = await seed({ dataset, records: 450, recordBytes: 1024, shards: 2 }, { benchRoutes: "1" });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ records: 450, shards: 2, tasks: 6 });

    const shards = await env.DB.prepare(`SELECT id, key, records, accepted, bytes FROM shards WHERE job_id = ?1 ORDER BY id`).bind(r.json.job).all<any>();
    expect(shards.results.map((s) => s.records)).toEqual([225, 225]);
    const seen = new Set<string>();
    for (const s of shards.results) {
      const obj = await env.BUCKET.get(s.key);
      const bytes = await obj!.arrayBuffer();
      expect(bytes.byteLength).toBe(s.bytes);
      const records = await readJsonlGz(bytes);
      expect(records).toHaveLength(225);
      for (const rec of records as any[]) {
        expect(rec.status).toBe("accepted");
        expect(rec.messages.map((m: any) => m.role)).toEqual(["system", "user", "assistant"]);
        expect(rec.filters.map((f: any) => f.name)).toEqual(["length", "refusal", "dedup", "decontaminate"]);
        expect(JSON.stringify(rec).length).toBeGreaterThan(1024 * 0.9);
        expect(JSON.stringify(rec).length).toBeLessThan(1024 * 1.1);
        seen.add(rec.messages[2].content);
      }
      // Every record's task owns this shard and is done.
      const tasks = await env.DB.prepare(`SELECT id, state, accepted FROM tasks WHERE shard_id = ?1`).bind(s.id).all<any>();
      expect(new Set(records.map((x: any) => x.task))).toEqual(new Set(tasks.results.map((t) => t.id)));
      expect(tasks.results.every((t) => t.state === "done")).toBe(true);
      expect(tasks.results.reduce((n, t) => n + t.accepted, 0)).toBe(225);
    }
    expect(seen.size).toBe(450);

    // Compile re-checks dedup and decontamination: the synthetic text passes both.
    const manifest = await release(dataset, key);
    expect(manifest.counts.rows).toBe(450);
    expect(manifest.counts.removed_at_compile).toEqual({ decontaminate: 0, dedup_exact: 0, dedup_near: 0 });
    expect(manifest.filters["dedup.pass"]).toBe(450);
  });

  it("POST /__bench/compile compiles every step in one invocation, behind the same gate", async () => {
    const key = await newKey();
    const dataset = await newDataset(key);
    expect((await seed({ dataset }, { path: "/__bench/compile" })).status).toBe(404);
    expect((await seed({ dataset, records: 300, recordBytes: 1024, shards: 3 }, { benchRoutes: "1" })).status).toBe(201);
    const r = await seed({ dataset }, { benchRoutes: "1", path: "/__bench/compile" });
    expect(r.status).toBe(201);
    expect(r.json.counts.rows).toBe(300);
    expect((await seed({ dataset }, { benchRoutes: "1", path: "/__bench/compile" })).status).toBe(409);
  });

  it("POST /__bench/io-floor reads and writes what the compile's steps would, and leaves nothing behind", async () => {
    const key = await newKey();
    const dataset = await newDataset(key);
    expect((await seed({ dataset }, { path: "/__bench/io-floor" })).status).toBe(404);
    expect((await seed({ dataset, records: 1200, recordBytes: 1024, shards: 4 }, { benchRoutes: "1" })).status).toBe(201);
    const r = await seed({ dataset, step_rows: 500, rows_per_file: 400 }, { benchRoutes: "1", path: "/__bench/io-floor" });
    expect(r.status).toBe(200);
    // Steps of 2 shards (300 rows each, a step ends once it has 500): a head and a body read a
    // shard; the first step has read two more heads ahead (read again by the second, as in the
    // compile), and the second step reads the first step's index layer (nine pieces) to decide,
    // and again to add to it (it has room for 2,048).
    expect(r.json).toMatchObject({ steps: 2, rows: 1200, gets: 4 * 2 + 2 + 2 * 9 });
    expect(r.json.bytesRead).toBeGreaterThan(1200 * 200);
    expect(r.json.bytesPut).toBeGreaterThan(1200 * 100);
    // The least any compile needs: one get a shard, the index written once and not read.
    const least = await seed({ dataset, least: true }, { benchRoutes: "1", path: "/__bench/io-floor" });
    expect(least.json).toMatchObject({ steps: 1, rows: 1200, gets: 4 });
    expect(least.json.bytesPut).toBeLessThan(r.json.bytesPut);
    const ds = await env.DB.prepare(`SELECT id FROM datasets WHERE name = ?1`).bind(dataset).first<{ id: string }>();
    expect((await env.BUCKET.list({ prefix: `bench/io-floor/${ds!.id}/` })).objects).toEqual([]);
  });

  it("refuses a dataset that does not exist and a malformed body, in the error envelope", async () => {
    const missing = await seed({ dataset: "no-such-dataset-x", records: 1, recordBytes: 1024, shards: 1 }, { benchRoutes: "1" });
    expect(missing.status).toBe(404);
    const bad = await seed({ dataset: "x", records: 1, recordBytes: 1024, shards: 2 }, { benchRoutes: "1" });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("invalid_request");
  });
});
