// The queue consumer against a fake OpenAI server that misbehaves the way real providers do,
// and against the delivery patterns of an at-least-once queue.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { db, schema } from "../workers/db";
import { inputsPerTask } from "../workers/jobs/create";
import { taskSlots } from "../workers/jobs/fan-out";
import worker from "../workers/index";
import * as keys from "../r2/keys";
import type { GenerateMessage } from "../queues/task";
import { allSamples, api, gsm8k, gsmRecipe, newDataset, newKey, recorded, upload, waitForJob } from "./helpers";

const openai = (model: string) => ({ generators: [{ provider: "openai", model }] });

async function runJob(problems: number, over: Record<string, unknown>, candidates = 4, timeoutMs?: number) {
  const key = await newKey();
  const ds = await newDataset(key);
  const up = await upload(key, ds, gsm8k.slice(0, problems));
  const created = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }, { candidates, ...over }) });
  expect(created.status).toBe(202);
  return { key, ds, job: await waitForJob(key, created.json.id, timeoutMs) };
}

function correctSet(n: number) {
  return new Set(gsm8k.slice(0, n).flatMap((p) => recorded[p.question]!.filter((r) => r.is_correct).map((r) => `${p.question}\n${r.text}`)));
}

describe("consumer against an OpenAI-compatible teacher", () => {
  it("keeps exactly the correct solutions served over HTTP, with usage from the wire", async () => {
    const { key, job } = await runJob(12, openai("gsm8k-replay"));
    expect(job.status).toBe("done");
    const accepted = await allSamples(key, job.id, "accepted");
    expect(new Set(accepted.map((s) => `${s.input.question}\n${s.messages.at(-1).content}`))).toEqual(correctSet(12));
    expect(job.tokens.input).toBeGreaterThan(0);
    expect(accepted.every((s) => s.usage.output_tokens > 0 && s.generator.provider === "openai")).toBe(true);
  });

  it("waits out a 429 with retry-after and loses nothing", async () => {
    const { key, job } = await runJob(3, openai("flaky-429"));
    expect(job.status).toBe("done");
    expect(job.candidates.failed).toBe(0);
    expect(job.candidates.accepted + job.candidates.rejected).toBe(12);
    const accepted = await allSamples(key, job.id, "accepted");
    expect(new Set(accepted.map((s) => `${s.input.question}\n${s.messages.at(-1).content}`))).toEqual(correctSet(3));
  });

  it("retries after a 500 and loses nothing", async () => {
    const { job } = await runJob(2, openai("flaky-500"));
    expect(job).toMatchObject({ status: "done", candidates: { planned: 8, failed: 0 } });
    expect(job.candidates.accepted + job.candidates.rejected).toBe(8);
  });

  it("fails candidates on a non-retryable 400, with the provider's error", async () => {
    const { key, job } = await runJob(2, openai("fault-400"), 2);
    expect(job).toMatchObject({ status: "done", candidates: { planned: 4, failed: 4, accepted: 0 } });
    const failed = await allSamples(key, job.id, "failed");
    expect(failed).toHaveLength(4);
    expect(failed[0].error.code).toBe("http_400");
    expect(failed[0].error.message).toMatch(/temperature/);
  });

  it("sends always-malformed bodies through retries to the dead-letter queue, which records them as failed", async () => {
    const { key, job } = await runJob(1, openai("fault-malformed"), 2);
    expect(job).toMatchObject({ status: "done", candidates: { planned: 2, failed: 2 } });
    const failed = await allSamples(key, job.id, "failed");
    expect(failed.map((f) => f.error.code)).toEqual(["delivery_exhausted", "delivery_exhausted"]);
    expect(failed[0].error.message).toMatch(/malformed_response/);
  });
});

describe("fan-out", () => {
  it("queues a job a slice at a time (2 steps of 100 tasks) and completes every task", async () => {
    expect(inputsPerTask(4)).toBe(25);
    // One input per task, so 200 inputs make 200 tasks: two full fan-out steps, each inserting
    // 100 task rows (under D1's 100-parameter limit) and sending one sendBatch of 100 messages.
    const { key, job } = await seedJob(200, 1, { inputsPerTask: 1, tasksPlanned: 200, fanoutNext: 0, status: "queued" });
    await env.TASKS.send({ kind: "fanout", job_id: job.id, from: 0 }, { contentType: "json" });
    const done = await waitForJob(key, job.id, 90_000);
    expect(done).toMatchObject({ status: "done", tasks: { planned: 200, queued: 200, open: 0 }, candidates: { planned: 200, failed: 0 } });
    expect(done.candidates.accepted + done.candidates.rejected).toBe(200);
    const rows = await db(env).select({ state: schema.tasks.state }).from(schema.tasks).where(eq(schema.tasks.jobId, job.id)).all();
    expect(rows).toHaveLength(200);
    expect(rows.every((t) => t.state === "done")).toBe(true);
  });

  it("stops fanning out a 100k-input job on cancel and accounts for what ran", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const recipe = {
      dataset: ds,
      inputs: { grid: { vars: { a: Array.from({ length: 1000 }, (_, i) => i), b: Array.from({ length: 100 }, (_, i) => i) } } },
      prompt: { user: "What is {{a}} plus {{b}}?" },
      generators: [{ provider: "replay", model: "gsm8k-gpt3" }],
      candidates: 1,
    };
    const created = await api("/v1/jobs", { method: "POST", key, json: recipe });
    expect(created.status).toBe(202);
    const cancelled = await api(`/v1/jobs/${created.json.id}/cancel`, { method: "POST", key });
    expect(cancelled.json.status).toBe("cancelled");
    const job = await waitForJob(key, created.json.id);
    expect(job.inputs.total).toBe(100_000);
    expect(job.tasks.queued).toBeLessThan(job.tasks.planned);
    const rows = await db(env).select().from(schema.tasks).where(eq(schema.tasks.jobId, job.id)).all();
    expect(rows.every((t) => t.state === "done" || t.state === "cancelled")).toBe(true);
    const c = job.candidates;
    expect(c.accepted + c.rejected + c.failed + c.cancelled).toBe(c.planned);
  });
});

// Jobs seeded straight into D1 (no fan-out message), so that only the deliveries a test makes
// reach the consumer.
async function seedJob(problems: number, candidates = 2, over: Partial<typeof schema.jobs.$inferInsert> = {}) {
  const key = await newKey();
  const ds = await newDataset(key);
  const up = await upload(key, ds, gsm8k.slice(0, problems));
  const keyRow = (await db(env).select().from(schema.datasets).where(eq(schema.datasets.name, ds)).get())!;
  const recipe = gsmRecipe(ds, { upload: up.json.id }, { candidates, generators: [{ provider: "replay", model: "gsm8k-gpt3", weight: 1, params: {} }], output: { kind: "sft" } });
  const per = inputsPerTask(candidates);
  const job = {
    id: `job_seed${Math.random().toString(36).slice(2, 10)}`,
    keyId: keyRow.keyId,
    datasetId: keyRow.id,
    status: "running" as const,
    recipe,
    recipeSha256: "seeded",
    uploadId: up.json.id,
    inputsTotal: problems,
    candidatesPerInput: candidates,
    inputsPerTask: per,
    tasksPlanned: 1,
    fanoutNext: 1,
    candidatesPlanned: problems * candidates,
    startedAt: Date.now(),
    ...over,
  };
  await db(env).insert(schema.jobs).values(job);
  const slots = taskSlots(job, 0);
  if (!("fanoutNext" in over)) await db(env).insert(schema.tasks).values({ id: `${job.id}:0`, jobId: job.id, seq: 0, slots });
  const msg: GenerateMessage = { kind: "generate", job_id: job.id, task_id: `${job.id}:0`, slots, attempt: 0 };
  return { key, job, msg };
}

let seq = 0;
async function deliver(msg: GenerateMessage, attempts = 1) {
  const batch = createMessageBatch("winnow-tasks", [{ id: `m${seq++}`, timestamp: new Date(), attempts, body: msg }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

const jobRow = async (id: string) => (await db(env).select().from(schema.jobs).where(eq(schema.jobs.id, id)).get())!;
const shardCount = async (jobId: string) => (await env.BUCKET.list({ prefix: `jobs/${jobId}/shards/` })).objects.filter((o) => o.key.endsWith(".jsonl.gz")).length;

describe("at-least-once delivery", () => {
  it("acks a redelivered message without duplicating samples or counts", async () => {
    const { key, job, msg } = await seedJob(5);
    const first = await deliver(msg);
    expect(first.explicitAcks).toHaveLength(1);
    const before = await jobRow(job.id);
    expect(before.status).toBe("done");
    expect(before.accepted + before.rejected).toBe(10);
    const second = await deliver(msg, 2);
    expect(second.explicitAcks).toHaveLength(1);
    const after = await jobRow(job.id);
    expect(after).toMatchObject({ accepted: before.accepted, rejected: before.rejected, generated: before.generated, inputTokens: before.inputTokens });
    expect(await shardCount(job.id)).toBe(1);
    const samples = [...(await allSamples(key, job.id, "accepted")), ...(await allSamples(key, job.id, "rejected"))];
    expect(samples).toHaveLength(10);
    expect(new Set(samples.map((s) => s.id)).size).toBe(10);
  });

  it("lets only one of two concurrent deliveries do the work; the other waits for the lease", async () => {
    const { job, msg } = await seedJob(5);
    const [a, b] = await Promise.all([deliver(msg), deliver(msg)]);
    const acks = a.explicitAcks.length + b.explicitAcks.length;
    const retries = [...a.retryMessages, ...b.retryMessages];
    expect(acks).toBe(1);
    expect(retries).toHaveLength(1);
    // (getQueueResult does not report the retry's delaySeconds, so the delay is not asserted.)
    const row = await jobRow(job.id);
    expect(row.accepted + row.rejected).toBe(10);
    expect(await shardCount(job.id)).toBe(1);
  });

  it("recovers from a crash between the R2 write and the D1 commit: no orphan, no duplicate", async () => {
    const { key, job, msg } = await seedJob(4);
    // What a crashed delivery leaves behind: a running task with an expired lease and the
    // shard it wrote before it could commit.
    const orphan = keys.shard(job.id, "ls_crashed");
    await env.BUCKET.put(orphan, "partial");
    await db(env).update(schema.tasks).set({ state: "running", leaseId: "ls_crashed", leaseUntil: Date.now() - 1 }).where(eq(schema.tasks.id, msg.task_id));
    const res = await deliver(msg, 2);
    expect(res.explicitAcks).toHaveLength(1);
    expect(await env.BUCKET.head(orphan)).toBeNull();
    expect(await shardCount(job.id)).toBe(1);
    const row = await jobRow(job.id);
    expect(row).toMatchObject({ status: "done", tasksOpen: 0 });
    expect(row.accepted + row.rejected).toBe(8);
    expect(await allSamples(key, job.id, "accepted")).toHaveLength(row.accepted);
  });

  it("drops a message that breaks the queue contract instead of retrying it forever", async () => {
    const batch = createMessageBatch("winnow-tasks", [{ id: "bad", timestamp: new Date(), attempts: 1, body: { kind: "nope" } }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["bad"]);
  });

  it("records every candidate of a dead-lettered task as failed, once", async () => {
    const { key, job, msg } = await seedJob(3);
    await db(env).update(schema.tasks).set({ lastError: "rate_limited: slow down" }).where(eq(schema.tasks.id, msg.task_id));
    for (let i = 0; i < 2; i++) {
      const batch = createMessageBatch("winnow-tasks-dlq", [{ id: `dead${i}`, timestamp: new Date(), attempts: 1, body: msg }]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env, ctx);
      expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([`dead${i}`]);
    }
    const row = await jobRow(job.id);
    expect(row).toMatchObject({ status: "done", failed: 6, accepted: 0 });
    const failed = await allSamples(key, job.id, "failed");
    expect(failed).toHaveLength(6);
    expect(failed[0].error.message).toMatch(/rate_limited/);
  });
});

describe("rate limits without retry storms", () => {
  it("adapts to a provider that allows 2 requests in flight: everything completes, few 429s", async () => {
    const model = `concurrency-2-${Date.now().toString(36)}`;
    const { key, job } = await runJob(30, openai(model), 4, 90_000);
    expect(job.status).toBe("done");
    expect(job.candidates).toMatchObject({ planned: 120, generated: 120, failed: 0 });
    const accepted = await allSamples(key, job.id, "accepted");
    expect(new Set(accepted.map((s) => `${s.input.question}\n${s.messages.at(-1).content}`))).toEqual(correctSet(30));
    const stats = await (await fetch(`${env.FAKE_CONTROL_URL}/__stats`)).json<any>();
    const limited = stats.limitedByModel[model] ?? 0;
    // Six calls at once would get two answers and four 429s per wave; the shared AIMD limit and
    // the per-model gate bring that down to a handful per task.
    expect(limited).toBeGreaterThan(0);
    expect(limited).toBeLessThan(120 * 0.25);
  });
});
