// Bench-only: `POST /__bench/seed` writes synthetic accepted candidates straight into a dataset,
// shaped like what the queue consumer writes (gzip JSONL shards in R2, one shard row and its
// done task rows in D1), so bench/release can compile a million records without a million model
// calls. It exists only when the operator sets BENCH_ROUTES=1 and the caller holds ADMIN_TOKEN;
// otherwise it is the same 404 as any unknown path, so production never exposes it.
import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { Hono, type MiddlewareHandler } from "hono";
import { FilterSpec } from "../filters";
import * as keys from "../r2/keys";
import { adminOnly } from "./auth";
import { db, schema } from "./db";
import type { AppContext } from "./env";
import { envelope, notFound } from "./errors";
import { canonicalJson, newId, sha256Hex } from "./ids";
import { gzipJsonl, type CandidateRecord } from "./records";
import { compileRelease } from "./releases/compile";
import { putSegment } from "./releases/segment";
import { ioFloor } from "./bench-io-floor";
import { record, SYSTEM, TEACHERS, TextGen } from "./bench-records";

/** What the consumer puts in one task: ~100 candidate slots. */
const RECORDS_PER_TASK = 100;

const SeedBody = z
  .object({
    dataset: z.string().min(1),
    /** Records this call writes; the caller repeats calls to reach big totals. */
    records: z.number().int().min(1).max(50_000),
    /** Approximate JSON length of one record. */
    recordBytes: z.number().int().min(600).max(64 * 1024),
    shards: z.number().int().min(1).max(1000),
    /** The seeded job's recipe filters: what release compile re-checks (dedup, decontaminate). */
    filters: z.array(FilterSpec).optional(),
    /** Write each shard's release segment, as the consumer does (false: shards only, as before segments). */
    segments: z.boolean().default(true),
  })
  .strict()
  .refine((b) => b.shards <= b.records, { message: "shards must not exceed records", path: ["shards"] });

const DEFAULT_FILTERS = [
  { type: "length", min_chars: 20, max_chars: 8000 },
  { type: "refusal" },
  { type: "dedup", near: 0.85 },
  { type: "decontaminate", benchmarks: ["gsm8k", "humaneval-x-js"] },
];

const gate: MiddlewareHandler<AppContext> = async (c, next) => {
  const missing = () => c.json(envelope("not_found", `no route for ${c.req.method} ${c.req.path}; see /docs`), 404);
  if (c.env.BENCH_ROUTES !== "1") return missing();
  try {
    // The admin check alone (constant time); any refusal reads as absence.
    await adminOnly(c, async () => {});
  } catch {
    return missing();
  }
  await next();
};

export const benchSeed = new Hono<AppContext>();
benchSeed.use("/__bench/*", gate);

/**
 * Compiles the dataset's next release with every step in this one invocation
 * (`compileRelease`), for bench/release's `--compile inline`: the same steps, memory bounds and
 * output as the queue chain, without the local queue broker in between (see BENCHMARKS.md).
 */
benchSeed.post("/__bench/compile", async (c) => {
  const { dataset } = z.object({ dataset: z.string() }).parse(await c.req.json());
  const ds = await db(c.env).select().from(schema.datasets).where(eq(schema.datasets.name, dataset)).get();
  if (!ds) throw notFound(`dataset '${dataset}'`);
  const manifest = await compileRelease(c.env, ds);
  return manifest ? c.json(manifest, 201) : c.json(envelope("nothing_to_release", `no new shards in '${dataset}'`), 409);
});

/** The storage work of a compile without the compile, on the same data (bench-io-floor.ts). */
benchSeed.post("/__bench/io-floor", async (c) => {
  const body = z
    .object({ dataset: z.string(), step_rows: z.number().int().positive().default(250_000), rows_per_file: z.number().int().positive().default(100_000), least: z.boolean().default(false) })
    .parse(await c.req.json());
  const ds = await db(c.env).select().from(schema.datasets).where(eq(schema.datasets.name, body.dataset)).get();
  if (!ds) throw notFound(`dataset '${body.dataset}'`);
  return c.json(await ioFloor(c.env, ds, { stepRows: body.step_rows, rowsPerFile: body.rows_per_file, least: body.least }));
});

benchSeed.post("/__bench/seed", async (c) => {
  const body = SeedBody.parse(await c.req.json());
  const d1 = db(c.env);
  const ds = await d1.select().from(schema.datasets).where(eq(schema.datasets.name, body.dataset)).get();
  if (!ds) throw notFound(`dataset '${body.dataset}'`);

  const filters = z.array(FilterSpec).parse(body.filters ?? DEFAULT_FILTERS);
  const recipe = {
    dataset: ds.name,
    inputs: { rows: [] },
    prompt: { system: SYSTEM, user: "{{question}}" },
    generators: TEACHERS.map((t) => ({ ...t, weight: 1 })),
    candidates: 1,
    filters,
    output: { kind: "sft" },
  };
  const jobId = newId("job");
  const recipeSha256 = await sha256Hex(canonicalJson(recipe));
  const promptSha256 = await sha256Hex(SYSTEM);
  const tasksTotal = Math.ceil(body.records / RECORDS_PER_TASK);
  await d1.insert(schema.jobs).values({
    id: jobId,
    keyId: ds.keyId,
    datasetId: ds.id,
    status: "done",
    recipe,
    recipeSha256,
    inputsTotal: body.records,
    candidatesPerInput: 1,
    inputsPerTask: RECORDS_PER_TASK,
    tasksPlanned: tasksTotal,
    fanoutNext: tasksTotal,
    candidatesPlanned: body.records,
    generated: body.records,
    accepted: body.records,
    finishedAt: Date.now(),
  });

  const text = new TextGen();
  const createdAt = new Date().toISOString();
  let bytes = 0;
  let rawBytes = 0;
  let taskSeq = 0;
  let input = 0;
  for (let s = 0; s < body.shards; s++) {
    // Records spread evenly; a shard holds the records of its whole tasks, as a consumer batch does.
    const n = Math.floor(((s + 1) * body.records) / body.shards) - Math.floor((s * body.records) / body.shards);
    const lease = newId("lease");
    const key = keys.shard(jobId, lease);
    const records: CandidateRecord[] = [];
    const tasks: { id: string; seq: number; accepted: number; filterCounts: Record<string, number> }[] = [];
    for (let i = 0; i < n; i++) {
      if (i % RECORDS_PER_TASK === 0) tasks.push({ id: `${jobId}:${taskSeq}`, seq: taskSeq++, accepted: 0, filterCounts: {} });
      const task = tasks[tasks.length - 1]!;
      const r = record(text, { jobId, task: task.id, input: input++, recipeSha256, promptSha256, createdAt, filters: filters.map((f) => f.type), bytes: body.recordBytes });
      task.accepted++;
      for (const f of r.filters) task.filterCounts[`${f.name}.pass`] = (task.filterCounts[`${f.name}.pass`] ?? 0) + 1;
      rawBytes += JSON.stringify(r).length + 1;
      records.push(r);
    }
    const gz = await gzipJsonl(records);
    bytes += gz.byteLength;
    await c.env.BUCKET.put(key, gz);
    // As the consumer does (workers/jobs/generate.ts): the release compile copies it.
    if (body.segments) await putSegment(c.env, key, records, gz.byteLength, filters);
    // One batch per shard: the shard row, then its tasks pointing at it by key (ids are D1's).
    await c.env.DB.batch([
      c.env.DB.prepare(`INSERT INTO shards (key, job_id, dataset_id, records, accepted, bytes) VALUES (?1, ?2, ?3, ?4, ?4, ?5)`).bind(key, jobId, ds.id, n, gz.byteLength),
      ...tasks.map((t) =>
        c.env.DB.prepare(
          `INSERT INTO tasks (id, job_id, seq, slots, state, lease_id, shard_id, generated, accepted, filter_counts, finished_at)
           VALUES (?1, ?2, ?3, '[]', 'done', ?4, (SELECT id FROM shards WHERE key = ?5), ?6, ?6, ?7, ?8)`,
        ).bind(t.id, jobId, t.seq, lease, key, t.accepted, JSON.stringify(t.filterCounts), Date.now()),
      ),
    ]);
  }
  return c.json({ job: jobId, records: body.records, shards: body.shards, tasks: taskSeq, bytes, raw_bytes: rawBytes }, 201);
});
