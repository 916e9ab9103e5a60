// Incremental releases: a release compiles only what is new since its parent and lists the
// parent's data files instead of rewriting them.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parquetReadObjects } from "hyparquet";
import { parse as parseYaml } from "yaml";
import { eq } from "drizzle-orm";
import * as keys from "../../r2/keys";
import { db, schema } from "../db";
import { storeUpload } from "../uploads";
import { COMPILE_LEASE_MS, compileRelease, startRelease, type ReleaseManifest } from "./compile";
import { newStaging, runStep, type Staging } from "./compile-step";
import { PIECES } from "./authority";
import { newId } from "../ids";
import { readJsonlGz, seedDataset, seedJob, seedKey, seedShard, sha256OfBytes } from "./test-seed";

const DAY1 = new Date("2026-11-24T03:00:00Z");
const DAY2 = new Date("2026-11-25T03:00:00Z");

/** Every data file of a manifest, fetched where it is stored, checked against its size and sha256. */
async function dataFiles(name: string, m: ReleaseManifest) {
  const out: { path: string; config: string | null; format?: string; rows: unknown[] }[] = [];
  for (const f of m.files.filter((f) => f.config !== null)) {
    const obj = await env.BUCKET.get(keys.releaseFile(name, f.stored_in ?? m.version, f.path));
    expect(obj, f.path).not.toBeNull();
    const bytes = await obj!.arrayBuffer();
    expect(bytes.byteLength, f.path).toBe(f.bytes);
    expect(await sha256OfBytes(bytes), f.path).toBe(f.sha256);
    const rows = f.format === "parquet" ? await parquetReadObjects({ file: bytes }) : await readJsonlGz(bytes);
    expect(rows.length, f.path).toBe(f.rows);
    out.push({ path: f.path, config: f.config, format: f.format, rows });
  }
  return out;
}

describe("incremental releases", () => {
  it("two jobs and two releases later, the second manifest shares the first release's data files", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job1 = await seedJob(ds, "1".repeat(64));
    await seedShard(ds, job1, [{ status: "accepted" }, { status: "accepted" }, { status: "rejected" }]);
    const first = (await compileRelease(env, ds, { now: DAY1 }))!;
    expect(first.parent).toBeNull();
    const firstData = first.files.filter((f) => f.config !== null);
    // Both formats, same rows.
    expect(firstData.map((f) => [f.config, f.format, f.rows])).toEqual([
      ["default", "jsonl", 2],
      ["default", "parquet", 2],
    ]);

    expect(first.filters).toEqual({ "math_answer.mismatch": 1, "math_answer.pass": 2 });
    // Filter counts carry over from the parent: the next compile counts only its new shards'
    // tasks in D1. A count changed under an already-released shard shows that it is not reread.
    await db(env).update(schema.tasks).set({ filterCounts: { "math_answer.pass": 99 } }).where(eq(schema.tasks.jobId, job1));

    const job2 = await seedJob(ds, "2".repeat(64));
    await seedShard(ds, job2, [{ status: "accepted" }, { status: "accepted" }, { status: "accepted" }, { status: "failed" }], {
      filterCounts: { "length.pass": 4, "math_answer.pass": 3 },
    });
    const second = (await compileRelease(env, ds, { now: DAY2 }))!;
    expect(second.filters).toEqual({ "length.pass": 4, "math_answer.mismatch": 1, "math_answer.pass": 5 });
    expect(Object.keys(second.filters)).toEqual(["length.pass", "math_answer.mismatch", "math_answer.pass"]);
    expect(second.parent).toBe(first.version);
    expect(second.changes.from).toBe(first.version);
    expect(second.changes.added.rows).toBe(3);
    // The parent's files are listed as they were (same path, bytes, sha256), stored where they were written.
    for (const f of firstData) expect(second.files).toContainEqual({ ...f, stored_in: first.version });
    expect(second.changes.shared_files.sort()).toEqual(firstData.map((f) => f.path).sort());
    // New files are named after the release that wrote them.
    const own = second.files.filter((f) => f.config !== null && f.stored_in === second.version);
    expect(own.map((f) => f.path).every((p) => p.includes(second.version))).toBe(true);
    expect(own.map((f) => f.rows)).toEqual([3, 3]);
    // Not rewritten: no copy of the parent's files under the new release.
    for (const f of firstData) expect(await env.BUCKET.head(keys.releaseFile(ds.name, second.version, f.path))).toBeNull();
    // Totals are cumulative.
    expect(second.counts).toMatchObject({ rows: 5, jobs: 2, shards: 2, candidates: { accepted: 5, rejected: 1, failed: 1 } });
    const files = await dataFiles(ds.name, second);
    const sft = (format: string) => files.filter((f) => f.config === "default" && f.format === format).flatMap((f) => f.rows);
    expect(sft("jsonl")).toHaveLength(5);
    expect(sft("parquet")).toHaveLength(5);
    expect(new Set(sft("jsonl").map((r: any) => r.id))).toEqual(new Set(sft("parquet").map((r: any) => r.id)));
    const stats = await (await env.BUCKET.get(keys.releaseFile(ds.name, second.version, "stats.json")))!.json<any>();
    expect(stats.rows).toBe(5);
    expect(stats.distinct.distinct_1).toBeGreaterThan(0);

    // The card's YAML parses, and its configs point at files the release has.
    const card = await (await env.BUCKET.get(keys.releaseFile(ds.name, second.version, "README.md")))!.text();
    const front = parseYaml(card.split("---\n")[1]!);
    expect(front.configs).toEqual([{ config_name: "default", data_files: [{ split: "train", path: "data/train-*.parquet" }] }]);
    expect(front.size_categories).toEqual(["n<1K"]);
    expect(front.task_categories).toEqual(["text-generation"]);
    expect(second.files.filter((f) => f.path.startsWith("data/train-") && f.path.endsWith(".parquet"))).toHaveLength(2);
  });

  it("mixes human rows in once, reports their share and drift against a reference set, and enforces a minimum share", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job = await seedJob(ds);
    await seedShard(ds, job, [{ status: "accepted" }, { status: "accepted" }, { status: "accepted" }]);
    const human = await storeUpload(env, keyId, ds.id, [
      { prompt: "What is 2 + 2?", completion: "Two plus two is four." },
      { messages: [{ role: "user", content: "Name a prime." }, { role: "assistant", content: "Seven is a prime number." }] },
      { note: "not a conversation: skipped" },
    ]);
    const reference = await storeUpload(env, keyId, ds.id, [{ text: "People write answers in their own words, with a long tail of rare vocabulary." }, { text: "Another human sentence about arithmetic and reasoning." }]);
    await db(env).update(schema.datasets).set({ humanUpload: human.id, referenceUpload: reference.id, minHumanShare: 0.5 }).where(eq(schema.datasets.id, ds.id));
    const withGuards = { ...ds, humanUpload: human.id, referenceUpload: reference.id, minHumanShare: 0.5 };
    // 2 human rows of 5 is below the required half: refused, nothing published.
    await expect(compileRelease(env, withGuards, { now: DAY1 })).rejects.toThrow(/human_share|min_human_share/);
    const ok = { ...withGuards, minHumanShare: 0.3 };
    const m = (await compileRelease(env, ok, { now: DAY1 }))!;
    expect(m.counts).toMatchObject({ rows: 5, human_rows: 2 });
    const stats = await (await env.BUCKET.get(keys.releaseFile(ds.name, m.version, "stats.json")))!.json<any>();
    expect(stats.human).toEqual({ rows: 2, share: 0.4 });
    expect(stats.synthetic_depth.find((d: any) => d.depth === 0).rows).toBe(2);
    expect(stats.drift).toMatchObject({ reference: { texts: 2 } });
    expect(typeof stats.drift.flagged).toBe("boolean");
    const card = await (await env.BUCKET.get(keys.releaseFile(ds.name, m.version, "README.md")))!.text();
    expect(card).toContain("Drift from the human reference set");

    // The next release shares the human rows' file instead of mixing them in again.
    await seedShard(ds, job, [{ status: "accepted" }]);
    const next = (await compileRelease(env, { ...ok, minHumanShare: 0.2 }, { now: DAY2 }))!;
    expect(next.counts).toMatchObject({ rows: 6, human_rows: 2 });
    expect(next.changes.added).toMatchObject({ rows: 1, human_rows: 0 });
  });

  it("dedups new records against everything already released, and counts the removals in this release's changes", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job1 = await seedJob(ds, "3".repeat(64), { filters: [{ type: "dedup", near: 0.8, exact: true, on: "completion" }] });
    await seedShard(ds, job1, [{ status: "accepted", completion: "The answer is 42 because six times seven is forty-two." }]);
    await compileRelease(env, ds, { now: DAY1 });
    const job2 = await seedJob(ds, "4".repeat(64), { filters: [{ type: "dedup", near: 0.8, exact: true, on: "completion" }] });
    await seedShard(ds, job2, [{ status: "accepted", completion: "The answer is 42 because six times seven is forty-two." }, { status: "accepted", completion: "Something else entirely, with other words." }]);
    const second = (await compileRelease(env, ds, { now: DAY2 }))!;
    expect(second.changes.added.rows).toBe(1);
    expect(second.changes.removed_at_compile.dedup_exact).toBe(1);
    expect(second.counts.removed_at_compile.dedup_exact).toBe(1);
    expect(second.counts.rows).toBe(2);
  });

  it("splits a large compile into steps, one invocation each, through compile queue messages", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job = await seedJob(ds);
    for (let i = 0; i < 5; i++) await seedShard(ds, job, [{ status: "accepted" }, { status: "accepted" }, { status: "rejected" }]);
    const started = await startRelease(env, ds, { now: DAY1, stepRecords: 4 });
    expect(started).toEqual({ version: "2026-11-24", status: "compiling" });
    // The queue consumer runs the remaining steps; wait for the manifest to publish.
    let row;
    for (let i = 0; i < 200; i++) {
      row = await db(env).select().from(schema.releases).where(eq(schema.releases.datasetId, ds.id)).get();
      if (row?.status !== "compiling") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(row).toMatchObject({ status: "published", rows: 10 });
    const m = await (await env.BUCKET.get(keys.releaseFile(ds.name, "2026-11-24", "manifest.json")))!.json<ReleaseManifest>();
    // Steps end between shards (4 records = 2 shards of 3 candidates... at least 2 records each): several files per format.
    const jsonl = m.files.filter((f) => f.format === "jsonl");
    expect(jsonl.length).toBeGreaterThan(1);
    expect(jsonl.reduce((n, f) => n + (f.rows ?? 0), 0)).toBe(10);
    expect(m.counts).toMatchObject({ rows: 10, shards: 5, candidates: { accepted: 10, rejected: 5, failed: 0 } });
    await dataFiles(ds.name, m);
    const stats = await (await env.BUCKET.get(keys.releaseFile(ds.name, m.version, "stats.json")))!.json<any>();
    expect(stats.rows).toBe(10);
    // Nothing of the compile in progress is left behind.
    expect(await env.BUCKET.head(keys.releaseStaging(ds.id, row!.id))).toBeNull();

    // The same compile with every step in one invocation gives the same rows.
    await seedShard(ds, job, [{ status: "accepted" }]);
    const inline = (await compileRelease(env, ds, { now: DAY2, stepRecords: 1 }))!;
    expect(inline.counts.rows).toBe(11);
    expect(inline.changes.shared_files.length).toBe(jsonl.length * 2);
  });

  it("keeps the dedup index in layers: a step writes only the layer it adds to, and a release leaves only the ones it lists", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const dedup = { filters: [{ type: "dedup", near: 0.8, exact: true, on: "completion" }] };
    const job = await seedJob(ds, "6".repeat(64), dedup);
    const words = (i: number) => Array.from({ length: 30 }, (_, w) => `v${i}y${w * 7 + i}`).join(" ");
    for (let s = 0; s < 3; s++) await seedShard(ds, job, [0, 1].map((k) => ({ status: "accepted" as const, completion: words(s * 2 + k) })));
    const layersOf = async (version: string) => (await env.BUCKET.list({ prefix: keys.authorityLayerPrefix(ds.id, version) })).objects.map((o) => o.key).sort();
    const indexOf = async (version: string) => (await env.BUCKET.get(keys.authorityIndex(ds.id, version)))!.json<{ layers: { base: string; count: number }[] }>();

    // Three steps, each adding to the one small layer (written anew by each): only the last version is left.
    const first = (await compileRelease(env, ds, { now: DAY1, stepRecords: 2 }))!;
    expect(first.counts.rows).toBe(6);
    const index1 = await indexOf(first.version);
    expect(index1.layers).toEqual([{ base: keys.authorityLayerBase(ds.id, first.version, 2, 0), count: 6, capacity: 1024 }]);
    expect(await layersOf(first.version)).toEqual(PIECES.map((p) => keys.authorityPiece(index1.layers[0]!.base, p)).sort());

    // The next release adds to that layer under its own prefix; the parent's stays as published.
    const etags = await Promise.all(PIECES.map(async (p) => (await env.BUCKET.head(keys.authorityPiece(index1.layers[0]!.base, p)))!.etag));
    await seedShard(ds, job, [{ status: "accepted", completion: words(0) }, { status: "accepted", completion: words(50) }]);
    const second = (await compileRelease(env, ds, { now: DAY2 }))!;
    expect(second.changes.removed_at_compile.dedup_exact).toBe(1);
    expect((await indexOf(second.version)).layers).toEqual([{ base: keys.authorityLayerBase(ds.id, second.version, 0, 0), count: 7, capacity: 1024 }]);
    expect(await indexOf(first.version)).toEqual(index1);
    expect(await Promise.all(PIECES.map(async (p) => (await env.BUCKET.head(keys.authorityPiece(index1.layers[0]!.base, p)))!.etag))).toEqual(etags);

    // A compile that fails after a step saved a layer leaves none behind.
    await seedShard(ds, job, [{ status: "accepted", completion: words(60) }, { status: "accepted", completion: words(61) }]);
    await seedShard(ds, job, [{ status: "accepted" }], { putObject: false });
    const DAY3 = new Date("2026-11-26T03:00:00Z");
    await expect(compileRelease(env, ds, { now: DAY3, stepRecords: 2 })).rejects.toThrow(/missing from R2/);
    expect(await layersOf("2026-11-26")).toEqual([]);
    expect(await env.BUCKET.head(keys.authorityIndex(ds.id, "2026-11-26"))).toBeNull();
  });

  it("a step delivered again after it saved its index, but not its staging, keeps the same records", async () => {
    // Queue delivery is at-least-once: a step that crashed after writing its dedup index must not,
    // when it runs again, find its own records in that index and drop them as duplicates.
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job = await seedJob(ds, "5".repeat(64), { filters: [{ type: "dedup", near: 0.8, exact: true, on: "completion" }] });
    const words = (i: number) => Array.from({ length: 30 }, (_, w) => `w${i}x${w * 7 + i}`).join(" ");
    let high = 0;
    for (let s = 0; s < 3; s++) high = (await seedShard(ds, job, [0, 1].map((k) => ({ status: "accepted" as const, completion: words(s * 2 + k) })))).shardId;
    const release = await db(env).insert(schema.releases).values({ id: newId("rel"), datasetId: ds.id, version: "2026-11-24", status: "compiling", shardHigh: high }).returning().get();
    const saved = await newStaging(env, ds, release, undefined, DAY1, { stepRecords: 2 });
    expect(await runStep(env, ds, saved, [])).toBe(false); // step 0: shard 1, then its staging is saved

    const first: Staging = structuredClone(saved);
    expect(await runStep(env, ds, first, [])).toBe(false); // step 1: shard 2, then the crash before saving
    const again: Staging = structuredClone(saved);
    expect(await runStep(env, ds, again, [])).toBe(false); // step 1 delivered again
    expect(first.added.rows).toBe(4);
    expect(again.added.rows).toBe(4);
    expect(again.removed_now).toEqual({ decontaminate: 0, dedup_exact: 0, dedup_near: 0 });
    expect(again.index).toEqual(first.index);
    expect(again.index).not.toEqual(saved.index);
  });

  it("refuses a second compile of the same samples while the first makes progress, and supersedes one that stopped", async () => {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job = await seedJob(ds);
    const { shardId } = await seedShard(ds, job, [{ status: "accepted" }]);
    const old = Date.now() - COMPILE_LEASE_MS - 60_000;
    const insert = (version: string) =>
      db(env).insert(schema.releases).values({ id: newId("rel"), datasetId: ds.id, version, status: "compiling", shardHigh: shardId, createdAt: old }).returning().get();

    // Started long ago, but its last step saved progress just now: still running.
    const busy = await insert("2026-11-20");
    await env.BUCKET.put(keys.releaseStaging(ds.id, busy.id), "{}");
    await expect(compileRelease(env, ds, { now: DAY1 })).rejects.toMatchObject({ status: 409, code: "release_in_progress" });

    // No progress for longer than the lease: marked failed, and a new compile publishes.
    await env.BUCKET.delete(keys.releaseStaging(ds.id, busy.id));
    const m = (await compileRelease(env, ds, { now: DAY1 }))!;
    expect(m.counts.rows).toBe(1);
    const row = await db(env).select().from(schema.releases).where(eq(schema.releases.id, busy.id)).get();
    expect(row).toMatchObject({ status: "failed" });
    expect(row!.error).toContain("no progress");
  });

  it("writes a rejected config, with each candidate's reason, when the dataset asks for it", async () => {
    const { keyId } = await seedKey();
    const ds = { ...(await seedDataset(keyId)), releaseRejected: true };
    const job = await seedJob(ds);
    await seedShard(ds, job, [{ status: "accepted" }, { status: "rejected" }, { status: "rejected" }]);
    const m = (await compileRelease(env, ds, { now: DAY1 }))!;
    const rejected = m.files.filter((f) => f.config === "rejected");
    expect(rejected.map((f) => [f.format, f.rows])).toEqual([
      ["jsonl", 2],
      ["parquet", 2],
    ]);
    const files = await dataFiles(ds.name, m);
    const rows = files.filter((f) => f.config === "rejected" && f.format === "parquet").flatMap((f) => f.rows) as any[];
    expect(rows.every((r) => typeof r.reason === "string" && r.reason.includes("."))).toBe(true);
    const card = await (await env.BUCKET.get(keys.releaseFile(ds.name, m.version, "README.md")))!.text();
    expect(parseYaml(card.split("---\n")[1]!).configs.map((c: any) => c.config_name)).toEqual(["default", "rejected"]);
  });
});
