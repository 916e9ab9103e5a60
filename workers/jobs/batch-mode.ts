// Batch mode (`"mode": "batch"`): the teachers' calls go through the providers' batch APIs
// (OpenAI Batch, Anthropic Message Batches) at half the price, within hours instead of seconds.
//
//   generate message → claim the task (budget reserved as usual) → one provider batch per teacher
//   model with the task's slots → poll message, delayed → ... → every batch ended → ingest: the
//   lines run through the filters and are committed exactly like live candidates (same shard,
//   settle and counters) → failed, expired or missing lines become a retry task, which submits a
//   new batch with only those lines.
//
// A line that succeeded is committed with its task and never resubmitted, so no line is paid
// for twice. Ingestion takes a fresh lease, so a crash mid-ingest is redone by the next poll,
// with the crashed attempt's shard removed first, as in live mode.
import { and, eq, isNull, or, lt } from "drizzle-orm";
import { getBatchClient } from "../../models";
import { batchLineId, type BatchLine, type BatchResults } from "../../models/batch";
import { ProviderError } from "../../models/types";
import type { PollMessage, TaskMessage } from "../../queues/task";
import * as keys from "../../r2/keys";
import type { ProviderBatchRef } from "../../d1/schema";
import { db, schema } from "../db";
import { intVar, type Env } from "../env";
import { newId } from "../ids";
import type { Recipe } from "../recipe";
import { buildMessages, pickGenerator } from "./candidate";
import type { Claimed } from "./claim";
import { InputCache, work, type Produce } from "./generate";
import { STOPPED } from "./settle";

/** Providers finish a batch within 24 hours; the submitted task is not reclaimable before then. */
const BATCH_WINDOW_MS = 25 * 3600_000;
/** Give up polling a provider that never answers after this many polls (then the task dead-letters). */
const MAX_POLLS = 5000;

export type PollDelivery = { msg: PollMessage & { polls?: number }; ack(): void; retry(delaySeconds: number): void };

const pollDelay = (env: Env) => intVar(env.BATCH_POLL_SECONDS, 60);

/** Submits each claimed task's slots as provider batches, one per teacher model, and schedules its first poll. */
export async function submitBatches(env: Env, claimed: Claimed[]): Promise<void> {
  const d1 = db(env);
  const inputs = new InputCache(env);
  for (const c of claimed) {
    const recipe = c.job.recipe as Recipe;
    const groups = new Map<string, { provider: string; model: string; lines: BatchLine[] }>();
    const refs: ProviderBatchRef[] = [];
    try {
      for (const [input, cand] of c.task.slots) {
        const gen = pickGenerator(recipe, c.job.id, input, cand);
        const row = await inputs.row(c.job, recipe, input, c.task.slots);
        const key = `${gen.provider}/${gen.model}`;
        const g = groups.get(key) ?? { provider: gen.provider, model: gen.model, lines: [] };
        g.lines.push({ custom_id: batchLineId(input, cand), request: { model: gen.model, messages: buildMessages(recipe, row), params: gen.params, candidate: cand } });
        groups.set(key, g);
      }
      for (const g of groups.values()) {
        const client = getBatchClient(env, g.provider);
        if (!client) throw new ProviderError("batch_unsupported", `provider '${g.provider}' has no batch API configured here`, false);
        const { id } = await client.submit(g.lines, { winnow_job: c.job.id, winnow_task: c.task.id });
        refs.push({ provider: g.provider, model: g.model, id, submitted_at: Date.now() });
      }
    } catch (e) {
      // Nothing half-submitted stays behind: cancel what went out, give the task back.
      for (const r of refs) await getBatchClient(env, r.provider)?.cancel(r.id).catch(() => {});
      const err = e instanceof ProviderError ? e : new ProviderError("internal", String((e as Error)?.message ?? e), false);
      await d1
        .update(schema.tasks)
        .set({ state: "queued", leaseId: null, leaseUntil: null, reservedUsd: 0, lastError: `${err.code}: ${err.message}` })
        .where(and(eq(schema.tasks.id, c.task.id), eq(schema.tasks.leaseId, c.leaseId)));
      c.delivery.retry(Math.min(300, Math.max(10, err.retryAfterSeconds ?? 0)));
      continue;
    }
    await d1
      .update(schema.tasks)
      .set({ providerBatch: refs, leaseUntil: Date.now() + BATCH_WINDOW_MS })
      .where(and(eq(schema.tasks.id, c.task.id), eq(schema.tasks.leaseId, c.leaseId), eq(schema.tasks.state, "running")));
    await env.TASKS.send({ kind: "poll", job_id: c.job.id, task_id: c.task.id, lease_id: c.leaseId } satisfies TaskMessage, { contentType: "json", delaySeconds: pollDelay(env) });
    c.delivery.ack();
  }
}

/** One poll: wait more, or ingest the task's ended batches. */
export async function runPoll(env: Env, delivery: PollDelivery): Promise<void> {
  const d1 = db(env);
  const { msg } = delivery;
  const now = Date.now();
  const task = await d1.select().from(schema.tasks).where(eq(schema.tasks.id, msg.task_id)).get();
  const job = await d1.select().from(schema.jobs).where(eq(schema.jobs.id, msg.job_id)).get();
  if (!task || !job || task.state !== "running" || !task.providerBatch?.length) return delivery.ack();
  if (task.leaseId !== msg.lease_id && (task.leaseUntil ?? 0) > now) {
    // Another poll of the same task is ingesting it; look again after its lease.
    return delivery.retry(Math.min(3600, Math.ceil(((task.leaseUntil ?? now) - now) / 1000) + 1));
  }
  const refs = task.providerBatch;
  const again = async (delay: number) => {
    const polls = (msg.polls ?? 0) + 1;
    if (polls > MAX_POLLS) return delivery.retry(delay); // let the queue's retries, then the dead-letter queue, end it
    await env.TASKS.send({ ...msg, polls } as TaskMessage, { contentType: "json", delaySeconds: delay });
    delivery.ack();
  };

  let ended: boolean;
  try {
    const statuses = await Promise.all(refs.map((r) => client(env, r).status(r.id)));
    ended = statuses.every((s) => s.state === "ended");
    // A stopped job cancels what is still running; lines that finished anyway are paid for, so
    // they are still ingested once the batch ends.
    if (!ended && STOPPED.includes(job.status) && refs.some((r) => !r.cancelled)) {
      for (const r of refs) if (!r.cancelled) await client(env, r).cancel(r.id).catch((e) => console.error(`cancel ${r.id} failed`, e));
      await d1
        .update(schema.tasks)
        .set({ providerBatch: refs.map((r) => ({ ...r, cancelled: true })) })
        .where(and(eq(schema.tasks.id, task.id), eq(schema.tasks.state, "running")));
    }
  } catch (e) {
    // The provider did not answer the poll: poll again, without spending a queue retry.
    console.error(`batch poll for ${task.id} failed`, e);
    return again(Math.max(pollDelay(env), e instanceof ProviderError ? (e.retryAfterSeconds ?? 0) : 0));
  }
  if (!ended) return again(pollDelay(env));

  let results: BatchResults;
  try {
    results = new Map();
    for (const r of refs) for (const [id, line] of await client(env, r).results(r.id)) results.set(id, line);
  } catch (e) {
    console.error(`batch results for ${task.id} failed`, e);
    return again(pollDelay(env));
  }

  // Take the task for ingestion: from its submission, or from an ingester whose lease expired.
  const leaseId = newId("ls");
  const taken = await d1
    .update(schema.tasks)
    .set({ leaseId, leaseUntil: now + intVar(env.TASK_LEASE_SECONDS, 120) * 1000 })
    .where(and(eq(schema.tasks.id, task.id), eq(schema.tasks.state, "running"), or(eq(schema.tasks.leaseId, msg.lease_id), lt(schema.tasks.leaseUntil, now))))
    .returning({ id: schema.tasks.id })
    .all();
  if (!taken.length) return delivery.retry(10);
  if (task.leaseId && task.leaseId !== msg.lease_id) await env.BUCKET.delete(keys.shardObjects(keys.shard(job.id, task.leaseId)));

  const produce: Produce = async ({ inputIndex, cand }) => {
    const line = results.get(batchLineId(inputIndex, cand));
    if (!line) throw new ProviderError("batch_line_missing", "the provider batch ended without a result for this line", true);
    if (line instanceof ProviderError) throw line;
    return line;
  };
  const claimed: Claimed = {
    delivery: { msg: { kind: "generate", job_id: job.id, task_id: task.id, slots: task.slots, attempt: task.attempt }, ack: delivery.ack, retry: delivery.retry },
    task: { ...task, leaseId },
    job,
    leaseId,
  };
  await work(env, d1, [claimed], new Map([[job.id, leaseId]]), new Map([[job.id, job]]), { produce, requeueWhole: false });
}

function client(env: Env, ref: ProviderBatchRef) {
  const c = getBatchClient(env, ref.provider);
  if (!c) throw new ProviderError("provider_unavailable", `provider '${ref.provider}' is no longer configured for batches`, true);
  return c;
}

/** The heartbeat must not shorten a submitted task's lease: its polls own it. */
export const notSubmitted = isNull(schema.tasks.providerBatch);
