import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { parquetReadObjects } from "hyparquet";
import { describe, expect, it } from "vitest";
import * as keys from "../../r2/keys";
import { db, schema } from "../db";
import { scheduled } from "../scheduled";
import { sizeCategory } from "./card";
import { compileRelease, type ReleaseManifest } from "./compile";
import { readJsonlGz, seedDataset, seedJob, seedKey, seedShard, sha256OfBytes } from "./test-seed";

const NOW = new Date("2026-11-24T03:00:00Z");

async function releaseRows(datasetId: string) {
  return db(env).select().from(schema.releases).where(eq(schema.releases.datasetId, datasetId)).all();
}

/** Downloads every file the manifest lists and checks its size and sha256 against the manifest. */
async function verifyFiles(name: string, m: ReleaseManifest) {
  const out: Record<string, ArrayBuffer> = {};
  for (const f of m.files) {
    const obj = await env.BUCKET.get(keys.releaseFile(name, f.stored_in ?? m.version, f.path));
    expect(obj, f.path).not.toBeNull();
    const bytes = await obj!.arrayBuffer();
    expect(bytes.byteLength, f.path).toBe(f.bytes);
    expect(await sha256OfBytes(bytes), f.path).toBe(f.sha256);
    if (f.config === "default") expect((f.format === "parquet" ? await parquetReadObjects({ file: bytes }) : await readJsonlGz(bytes)).length, f.path).toBe(f.rows);
    out[f.path] = bytes;
  }
  return out;
}

describe("compileRelease", () => {
  it("writes data files, stats, card and manifest whose sizes and checksums match R2", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId, { description: "Grade-school math, distilled." });
    const job1 = await seedJob(ds, "1".repeat(64));
    const job2 = await seedJob(ds, "2".repeat(64));
    const a = await seedShard(ds, job1, [
      { status: "accepted" },
      { status: "rejected" },
      { status: "accepted", completion: "same text" },
      { status: "failed" },
      { status: "accepted", owned: false },
      { status: "accepted", model: "claude-haiku", provider: "anthropic" },
    ]);
    const b = await seedShard(ds, job2, [{ status: "accepted", completion: "same text" }, { status: "accepted" }]);

    const m = (await compileRelease(env, ds, { now: NOW, rowsPerFile: 3 }))!;
    expect(m).not.toBeNull();
    expect(m.version).toBe("2026-11-24");
    expect(m.parent).toBeNull();
    expect(m.files.map((f) => [f.path, f.config, f.format, f.rows])).toEqual([
      ["data/train-2026-11-24-00000.jsonl.gz", "default", "jsonl", 3],
      ["data/train-2026-11-24-00000.parquet", "default", "parquet", 3],
      ["data/train-2026-11-24-00001.jsonl.gz", "default", "jsonl", 2],
      ["data/train-2026-11-24-00001.parquet", "default", "parquet", 2],
      ["stats.json", null, undefined, undefined],
      ["README.md", null, undefined, undefined],
    ]);
    expect(m.counts).toEqual({
      rows: 5,
      pairs: 0,
      human_rows: 0,
      shards: 2,
      jobs: 2,
      candidates: { accepted: 5, rejected: 1, failed: 1 },
      removed_at_compile: { decontaminate: 0, dedup_exact: 0, dedup_near: 0 },
    });
    expect(m.recipes).toEqual([
      { sha256: "1".repeat(64), jobs: 1 },
      { sha256: "2".repeat(64), jobs: 1 },
    ]);
    expect(m.teachers).toEqual([
      { provider: "openai", model: "gpt-4o-mini", rows: 4, share: 0.8 },
      { provider: "anthropic", model: "claude-haiku", rows: 1, share: 0.2 },
    ]);
    expect(m.filters).toEqual({ "math_answer.mismatch": 1, "math_answer.pass": 5 });

    const files = await verifyFiles(ds.name, m);
    const rows = [...(await readJsonlGz(files["data/train-2026-11-24-00000.jsonl.gz"]!)), ...(await readJsonlGz(files["data/train-2026-11-24-00001.jsonl.gz"]!))];
    const expected = [...a.records, ...b.records].filter((r) => r.status === "accepted" && !r.task.endsWith(".stray"));
    expect(rows.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    // SPEC's SFT record exactly: no status, task or other candidate bookkeeping.
    for (const r of rows) expect(Object.keys(r).sort()).toEqual(["created_at", "filters", "generator", "id", "input", "lineage", "messages", "usage"]);

    const stored = await env.BUCKET.get(keys.releaseFile(ds.name, m.version, "manifest.json"));
    expect(await stored!.json()).toEqual(m);

    const stats = JSON.parse(new TextDecoder().decode(files["stats.json"]));
    expect(stats.rows).toBe(5);
    expect(stats.duplicates.exact).toBe(1);
    expect(stats.completion_chars.min).toBe("same text".length);
    expect(stats.completion_chars.histogram.reduce((n: number, h: { count: number }) => n + h.count, 0)).toBe(5);
    expect(stats.filters).toEqual([{ name: "math_answer", pass: 5, rejected: 1, pass_rate: 0.8333, reasons: { "math_answer.mismatch": 1 } }]);

    const card = new TextDecoder().decode(files["README.md"]);
    const front = card.split("---\n")[1]!;
    expect(card.startsWith("---\n")).toBe(true);
    expect(front).toContain("license: mit\n");
    expect(front).toContain("task_categories:\n- text-generation\n");
    expect(front).toContain("size_categories:\n- n<1K\n");
    expect(front).toContain('configs:\n- config_name: default\n  data_files:\n  - split: train\n    path: "data/train-*.parquet"\n');
    expect(front).toContain("tags:\n- synthetic\n- winnow\n");
    expect(card).toContain("Grade-school math, distilled.");
    expect(card).toContain("read_json_auto('data/train-*.jsonl.gz')");
    expect(card).toContain('load_dataset("json"');

    const [row] = await releaseRows(ds.id);
    expect(row).toMatchObject({ version: "2026-11-24", status: "published", rows: 5, shardHigh: b.shardId, parentId: null });
    expect(row!.bytes).toBe(m.files.filter((f) => f.config === "default").reduce((n, f) => n + f.bytes, 0));
    expect(row!.publishedAt).toBeTypeOf("number");
  });

  it("returns null with nothing new, and takes the next version of the day when a shard arrives", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId, { license: "Acme Research License" });
    const job = await seedJob(ds);
    await seedShard(ds, job, [{ status: "accepted" }, { status: "accepted" }]);
    const first = (await compileRelease(env, ds, { now: NOW }))!;
    expect(first.version).toBe("2026-11-24");
    expect(await compileRelease(env, ds, { now: NOW })).toBeNull();

    // A shard with only rejected candidates is nothing new to release.
    await seedShard(ds, job, [{ status: "rejected" }]);
    expect(await compileRelease(env, ds, { now: NOW })).toBeNull();

    await seedShard(ds, job, [{ status: "accepted" }]);
    const second = (await compileRelease(env, ds, { now: NOW }))!;
    expect(second.version).toBe("2026-11-24.2");
    expect(second.parent).toBe("2026-11-24");
    // Incremental: the new release holds every accepted sample so far, sharing the first's files.
    expect(second.counts.rows).toBe(3);
    expect(second.changes.added.rows).toBe(1);
    expect(second.counts.candidates).toEqual({ accepted: 3, rejected: 1, failed: 0 });
    await verifyFiles(ds.name, second);

    const forced = (await compileRelease(env, ds, { now: NOW, force: true }))!;
    expect(forced.version).toBe("2026-11-24.3");
    const card = new TextDecoder().decode(await (await env.BUCKET.get(keys.releaseFile(ds.name, forced.version, "README.md")))!.arrayBuffer());
    expect(card).toContain('license: other\nlicense_name: "Acme Research License"\n');
  });

  it("publishes an empty data file when forced on a dataset without samples", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    expect(await compileRelease(env, ds, { now: NOW })).toBeNull();
    const m = (await compileRelease(env, ds, { now: NOW, force: true }))!;
    expect(m.counts.rows).toBe(0);
    expect(m.files[0]).toMatchObject({ path: "data/train-2026-11-24-00000.jsonl.gz", rows: 0 });
    await verifyFiles(ds.name, m);
  });

  it("marks the release failed, removes its objects and rethrows when a shard is missing from R2", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job = await seedJob(ds);
    await seedShard(ds, job, [{ status: "accepted" }]);
    await seedShard(ds, job, [{ status: "accepted" }], { putObject: false });
    await expect(compileRelease(env, ds, { now: NOW })).rejects.toThrow(/missing from R2/);
    const [row] = await releaseRows(ds.id);
    expect(row).toMatchObject({ status: "failed", version: "2026-11-24" });
    expect(row!.error).toMatch(/missing from R2/);
    const left = await env.BUCKET.list({ prefix: keys.releasePrefix(ds.name, "2026-11-24") });
    expect(left.objects).toEqual([]);
  });

  it("streams a data file larger than one part through a multipart upload", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job = await seedJob(ds);
    // Random base64 barely compresses: ~9 MiB of text gives ~6.8 MiB of gzip, over one 5 MiB part.
    const noise = (n: number) => {
      let s = "";
      const buf = new Uint8Array(48 * 1024);
      while (s.length < n) s += btoa(String.fromCharCode(...crypto.getRandomValues(buf).subarray(0, 12 * 1024)));
      return s.slice(0, n);
    };
    for (let s = 0; s < 3; s++) await seedShard(ds, job, Array.from({ length: 30 }, () => ({ status: "accepted" as const, completion: noise(100_000) })));
    const m = (await compileRelease(env, ds, { now: NOW }))!;
    const data = m.files.find((f) => f.format === "jsonl")!;
    expect(data.rows).toBe(90);
    expect(data.bytes).toBeGreaterThan(5 * 1024 * 1024);
    // R2 gives multipart objects an etag with a part count suffix.
    expect((await env.BUCKET.head(keys.releaseFile(ds.name, m.version, data.path)))!.etag).toMatch(/-2$/);
    await verifyFiles(ds.name, m);
  });

  it("sizes datasets in the Hub's buckets", () => {
    expect([0, 999, 1000, 9_999, 10_000, 123_456, 1_000_000, 20_000_000].map(sizeCategory)).toEqual([
      "n<1K",
      "n<1K",
      "1K<n<10K",
      "1K<n<10K",
      "10K<n<100K",
      "100K<n<1M",
      "1M<n<10M",
      "10M<n<100M",
    ]);
  });
});

describe("the daily cron", () => {
  it("releases each dataset with new samples once, however often it runs, and survives a failing dataset", async () => {
    const { keyId } = await seedKey();
    const fresh = await seedDataset(keyId);
    const idle = await seedDataset(keyId);
    const broken = await seedDataset(keyId);
    const job = await seedJob(fresh);
    await seedShard(fresh, job, [{ status: "accepted" }, { status: "rejected" }]);
    await seedShard(idle, await seedJob(idle), [{ status: "rejected" }]);
    await seedShard(broken, await seedJob(broken), [{ status: "accepted" }], { putObject: false });

    for (let run = 0; run < 2; run++) {
      const ctrl = createScheduledController({ scheduledTime: NOW.getTime(), cron: "0 3 * * *" });
      const ctx = createExecutionContext();
      await scheduled(ctrl, env, ctx);
      await waitOnExecutionContext(ctx);
    }
    const released = await releaseRows(fresh.id);
    expect(released.map((r) => [r.version, r.status, r.rows])).toEqual([["2026-11-24", "published", 1]]);
    expect(await releaseRows(idle.id)).toEqual([]);
    expect((await releaseRows(broken.id)).every((r) => r.status === "failed")).toBe(true);
    const published = await db(env)
      .select()
      .from(schema.releases)
      .where(and(eq(schema.releases.datasetId, fresh.id), eq(schema.releases.status, "published")))
      .all();
    expect(published).toHaveLength(1);
  });
});
