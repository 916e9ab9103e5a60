// At-least-once delivery, taken literally: every queue message of a job is delivered twice,
// once by the real queue and once more by the test (concurrently while the job runs, and again
// after it ends). Nothing may be duplicated and nothing may be counted or paid twice.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import * as keys from "../r2/keys";
import { describe, expect, it } from "vitest";
import type { TaskMessage } from "../queues/task";
import { db, schema } from "../workers/db";
import worker from "../workers/index";
import { allSamples, api, gsm8k, gsmRecipe, newDataset, newKey, upload, waitForJob } from "./helpers";

let seq = 0;
async function deliver(msg: TaskMessage) {
  const batch = createMessageBatch("winnow-tasks", [{ id: `dup${seq++}`, timestamp: new Date(), attempts: 1, body: msg }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

async function fakeTokens(model: string) {
  const stats = await (await fetch(`${env.FAKE_CONTROL_URL}/__stats`)).json<any>();
  return (stats.tokensByModel?.[model] ?? { calls: 0, input: 0, output: 0 }) as { calls: number; input: number; output: number };
}

/** The messages a job's tasks were (or will be) delivered with, rebuilt from their rows. */
async function messagesOf(jobId: string): Promise<TaskMessage[]> {
  const job = (await db(env).select().from(schema.jobs).where(eq(schema.jobs.id, jobId)).get())!;
  const tasks = await db(env).select().from(schema.tasks).where(eq(schema.tasks.jobId, jobId)).all();
  const out: TaskMessage[] = [];
  for (let from = 0; from < job.tasksPlanned; from += 100) out.push({ kind: "fanout", job_id: jobId, from });
  for (const t of tasks) {
    out.push({ kind: "generate", job_id: jobId, task_id: t.id, slots: t.slots, attempt: t.attempt });
    if (t.providerBatch && t.leaseId) out.push({ kind: "poll", job_id: jobId, task_id: t.id, lease_id: t.leaseId, polls: 0 });
  }
  return out;
}

async function runTwice(model: string, mode: "live" | "batch", problems: number) {
  const key = await newKey();
  const ds = await newDataset(key);
  const up = await upload(key, ds, gsm8k.slice(0, problems));
  const before = await fakeTokens(model);
  const created = await api("/v1/jobs", {
    method: "POST",
    key,
    json: gsmRecipe(ds, { upload: up.json.id }, { mode, generators: [{ provider: "openai", model }] }),
  });
  expect(created.status).toBe(202);
  const jobId = created.json.id;

  // While the job runs, deliver every message we can see a second time, concurrently.
  const sent = new Set<string>();
  let running = true;
  const duplicator = (async () => {
    while (running) {
      for (const m of await messagesOf(jobId)) {
        const id = JSON.stringify(m);
        if (sent.has(id)) continue;
        sent.add(id);
        void deliver(m).catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const job = await waitForJob(key, jobId, 90_000);
  running = false;
  await duplicator;
  // And once more after the end, for every message the job ever had.
  for (const m of await messagesOf(jobId)) await deliver(m);
  const after = (await api(`/v1/jobs/${jobId}`, { key })).json;
  return { key, job, after, sent: sent.size, tokens: { input: (await fakeTokens(model)).input - before.input, output: (await fakeTokens(model)).output - before.output } };
}

async function expectNothingDoubled(r: Awaited<ReturnType<typeof runTwice>>, candidates: number) {
  const { key, job, after } = r;
  expect(job.status).toBe("done");
  expect(r.sent).toBeGreaterThan(1);
  // The late duplicates changed nothing.
  expect(after.candidates).toEqual(job.candidates);
  expect(after.tokens).toEqual(job.tokens);
  expect(after.cost_usd).toBe(job.cost_usd);
  const c = job.candidates;
  expect(c.accepted + c.rejected + c.failed).toBe(candidates);
  const samples = [...(await allSamples(key, job.id, "accepted")), ...(await allSamples(key, job.id, "rejected")), ...(await allSamples(key, job.id, "failed"))];
  expect(samples).toHaveLength(candidates);
  expect(new Set(samples.map((s: any) => `${s.input_index}:${s.candidate}`)).size).toBe(candidates);
  // Cost counted once: the job's totals are the samples' sums.
  expect(samples.reduce((n: number, s: any) => n + s.usage.input_tokens, 0)).toBe(job.tokens.input);
  expect(samples.reduce((n: number, s: any) => n + s.usage.cost_usd, 0)).toBeCloseTo(job.cost_usd, 6);
  // One shard per settled task, each listed once.
  const shards = await db(env).select().from(schema.shards).where(eq(schema.shards.jobId, job.id)).all();
  const objects = (await env.BUCKET.list({ prefix: `jobs/${job.id}/shards/` })).objects.map((o) => o.key);
  expect(objects.filter((k) => k.endsWith(".jsonl.gz")).sort()).toEqual(shards.map((s) => s.key).sort());
  // Each shard's release segment beside it, and none left by a shard that was given up.
  expect(objects.filter((k) => !k.endsWith(".jsonl.gz")).sort()).toEqual(shards.map((s) => keys.shardSegment(s.key)).sort());
  expect(shards.reduce((n, s) => n + s.records, 0)).toBe(candidates);
}

describe("every queue message delivered twice", () => {
  it("live: no duplicate samples, counts and cost once, tokens match what the provider reported", async () => {
    const r = await runTwice("gpt-4o-mini", "live", 60);
    await expectNothingDoubled(r, 240);
    // Duplicates may have made extra provider calls (a second delivery racing the first before
    // its lease), but only the settled ones are billed to the job: never more than the provider saw.
    expect(r.job.tokens.input).toBeLessThanOrEqual(r.tokens.input);
  });

  it("batch: duplicate submissions and polls ingest each line once", async () => {
    const r = await runTwice("gpt-4o-mini", "batch", 30);
    await expectNothingDoubled(r, 120);
  });
});
