// The dead-letter consumer: a task message that exhausted its deliveries still ends with every
// candidate accounted for, as `failed` with the last error the task saw.
import { and, eq, inArray } from "drizzle-orm";
import type { GenerateMessage, FanoutMessage } from "../../queues/task";
import * as keys from "../../r2/keys";
import { db, schema, shardIdByKey } from "../db";
import type { Env } from "../env";
import { sha256Hex, canonicalJson } from "../ids";
import type { Recipe } from "../recipe";
import { gzipJsonl, type CandidateRecord } from "../records";
import { newRecord } from "./candidate";
import { settleJob } from "./settle";

export async function recordDeadTask(env: Env, msg: Pick<GenerateMessage, "task_id">): Promise<void> {
  const d1 = db(env);
  const task = await d1.select().from(schema.tasks).where(eq(schema.tasks.id, msg.task_id)).get();
  if (!task || task.state === "done" || task.state === "cancelled") return;
  const job = await d1.select().from(schema.jobs).where(eq(schema.jobs.id, task.jobId)).get();
  if (!job) return;
  const recipe = job.recipe as Recipe;
  const error = { code: "delivery_exhausted", message: task.lastError ?? "the task's queue deliveries were exhausted" };
  const promptSha256 = await sha256Hex(canonicalJson(recipe.prompt));
  // The input row is not re-read here: a dead task may be dead because its input is unreadable.
  const records: CandidateRecord[] = await Promise.all(
    task.slots.map(async ([inputIndex, cand]) => ({
      ...(await newRecord({ job, recipe, promptSha256, taskId: task.id, row: {}, inputIndex, cand, messages: [] })),
      status: "failed" as const,
      error,
    })),
  );
  // Deterministic key: a redelivered dead message rewrites the same object.
  const key = keys.shard(job.id, `dead-${task.id}`);
  const body = await gzipJsonl(records);
  await env.BUCKET.put(key, body);
  await d1.batch([
    d1.insert(schema.shards).values({ key, jobId: job.id, datasetId: job.datasetId, records: records.length, accepted: 0, bytes: body.byteLength }).onConflictDoNothing(),
    d1
      .update(schema.tasks)
      .set({ state: "done", failed: records.length, lastError: error.message, finishedAt: Date.now(), shardId: shardIdByKey(key) })
      .where(and(eq(schema.tasks.id, task.id), inArray(schema.tasks.state, ["queued", "running"]))),
    settleJob(d1, job.id),
  ]);
}

/** A fan-out slice that could not be queued: the job cannot complete, so it fails loudly. */
export async function recordDeadFanout(env: Env, msg: FanoutMessage): Promise<void> {
  const d1 = db(env);
  await d1
    .update(schema.jobs)
    .set({ status: "failed", error: `fan-out of tasks from ${msg.from} failed after all retries`, finishedAt: Date.now() })
    .where(and(eq(schema.jobs.id, msg.job_id), inArray(schema.jobs.status, ["queued", "running"])));
}
