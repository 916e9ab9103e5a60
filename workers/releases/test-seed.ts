// Test fixtures for releases: real D1 rows and real gzip JSONL shards in R2, shaped like what
// the queue consumer writes, so compile and the routes run against the storage they will meet.
import { env } from "cloudflare:workers";
import type { FilterSpec } from "../../filters";
import * as keys from "../../r2/keys";
import type { DatasetRow } from "../datasets";
import { db, schema } from "../db";
import { newId, sha256Hex } from "../ids";
import { gzipJsonl, type CandidateRecord, type CandidateStatus } from "../records";
import { putSegment } from "./segment";

let counter = 0;
export const uniqueName = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

export async function seedKey(): Promise<{ keyId: string; secret: string }> {
  const keyId = newId("key");
  const secret = `wn_test_${crypto.randomUUID()}`;
  await db(env).insert(schema.keys).values({ id: keyId, name: "test", secretHash: await sha256Hex(secret) });
  return { keyId, secret };
}

export async function seedDataset(keyId: string, over: Partial<DatasetRow> = {}): Promise<DatasetRow> {
  const row = { id: newId("ds"), keyId, name: uniqueName("rel"), description: "", license: "mit", visibility: "private" as const, ...over };
  return db(env).insert(schema.datasets).values(row).returning().get();
}

export async function seedJob(ds: DatasetRow, recipeSha256 = "a".repeat(64), recipe: Record<string, unknown> = {}): Promise<string> {
  const id = newId("job");
  await db(env)
    .insert(schema.jobs)
    .values({
      id,
      keyId: ds.keyId,
      datasetId: ds.id,
      status: "done",
      recipe,
      recipeSha256,
      inputsTotal: 1,
      candidatesPerInput: 1,
      inputsPerTask: 1,
      tasksPlanned: 1,
      candidatesPlanned: 1,
    });
  return id;
}

export interface Cand {
  status: CandidateStatus;
  completion?: string;
  provider?: string;
  model?: string;
  /** False: the record's task does not own this shard (a lost-lease leftover). */
  owned?: boolean;
}

export function candidate(job: string, task: string, i: number, c: Cand): CandidateRecord {
  const completion = c.completion ?? `Step ${i}: 2 + ${i} = ${2 + i}. A: ${2 + i}`;
  const status = c.status;
  return {
    id: `smp_${job}_${task.replace(/\W/g, "")}_${i}`,
    job,
    task,
    input_index: i,
    candidate: 0,
    status,
    ...(status === "rejected" ? { reason: "math_answer.mismatch" } : {}),
    ...(status === "failed" ? { error: { code: "provider_error", message: "upstream 500" } } : {}),
    messages: [
      { role: "system", content: "You are a careful math tutor." },
      { role: "user", content: `What is 2 + ${i}?` },
      ...(status === "failed" ? [] : [{ role: "assistant" as const, content: completion }]),
    ],
    input: { question: `What is 2 + ${i}?`, answer: String(2 + i) },
    generator: { provider: c.provider ?? "openai", model: c.model ?? "gpt-4o-mini", params: { temperature: 0.8 } },
    filters: status === "failed" ? [] : [{ name: "math_answer", pass: status === "accepted", score: status === "accepted" ? 1 : 0 }],
    usage: { input_tokens: 20, output_tokens: 10, cost_usd: 0.00001 },
    lineage: { job, recipe_sha256: "a".repeat(64), prompt_sha256: "b".repeat(64), synthetic_depth: 1 },
    created_at: "2026-11-24T03:00:00.000Z",
  };
}

/**
 * One shard of `cands`, all from one owning task (plus, for `owned: false`, a second task that
 * does not own the shard). Returns the shard id and the records as written.
 */
export async function seedShard(
  ds: DatasetRow,
  jobId: string,
  cands: Cand[],
  /** `segment`: also write the shard's release segment as the consumer does, checked by these filters. */
  opts: { filterCounts?: Record<string, number>; putObject?: boolean; segment?: FilterSpec[] } = {},
): Promise<{ shardId: number; records: CandidateRecord[]; key: string }> {
  const d1 = db(env);
  const lease = newId("lease");
  const key = keys.shard(jobId, lease);
  const owner = `${jobId}:${lease}`;
  const stray = `${jobId}:${lease}.stray`;
  const records = cands.map((c, i) => candidate(jobId, c.owned === false ? stray : owner, i, c));
  const accepted = records.filter((r) => r.status === "accepted").length;
  const body = await gzipJsonl(records);
  if (opts.putObject !== false) await env.BUCKET.put(key, body);
  if (opts.segment) await putSegment(env, key, records, body.byteLength, opts.segment);
  const shard = await d1
    .insert(schema.shards)
    .values({ key, jobId, datasetId: ds.id, records: records.length, accepted, bytes: body.byteLength })
    .returning()
    .get();
  const counted = (s: CandidateStatus) => records.filter((r) => r.task === owner && r.status === s).length;
  await d1.insert(schema.tasks).values({
    id: owner,
    jobId,
    seq: 0,
    slots: [],
    state: "done",
    leaseId: lease,
    shardId: shard.id,
    accepted: counted("accepted"),
    rejected: counted("rejected"),
    failed: counted("failed"),
    filterCounts: opts.filterCounts ?? { "math_answer.pass": counted("accepted"), "math_answer.mismatch": counted("rejected") },
  });
  // The task that lost its lease: still running elsewhere, its records here are not its own.
  if (records.some((r) => r.task === stray)) await d1.insert(schema.tasks).values({ id: stray, jobId, seq: 1, slots: [], state: "running" });
  return { shardId: shard.id, records, key };
}

/** Everything one gzip JSONL object holds, parsed. */
export async function readJsonlGz(bytes: ArrayBuffer): Promise<Record<string, unknown>[]> {
  const text = await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

export async function sha256OfBytes(bytes: ArrayBuffer): Promise<string> {
  return sha256Hex(new Uint8Array(bytes));
}

/** mulberry32: a small seeded PRNG, so every run sees the same records. */
export function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
