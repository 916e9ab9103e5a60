// Claiming tasks: the first thing a consumer does with a batch, and where budgets are enforced.
//
// A claim is one conditional UPDATE that takes the task's lease and reserves money for it
// (slots x the job's quoted cost per candidate) only if the job and the key still have budget
// left: cost + reserved < budget. Reservations are kept in jobs.reserved_usd by a trigger, so
// each claim sees every earlier one, and spend can exceed a budget by at most the one task that
// was admitted last. A task the budget refuses ends the job as `budget_exhausted`.
import { and, eq, lt, or, sql } from "drizzle-orm";
import * as keys from "../../r2/keys";
import { db, schema, type Db } from "../db";
import type { Env } from "../env";
import { intVar } from "../env";
import { newId } from "../ids";
import { parentOf } from "./continuations";
import type { Delivery } from "./generate";
import { settleJob, STOPPED } from "./settle";

export type JobRow = typeof schema.jobs.$inferSelect;
export type TaskRow = typeof schema.tasks.$inferSelect;
export interface Claimed {
  delivery: Delivery;
  task: TaskRow;
  job: JobRow;
  leaseId: string;
}

/** A task's state allows a new owner: queued, or running under a lease that has expired. */
export const claimable = (now: number) => or(eq(schema.tasks.state, "queued"), and(eq(schema.tasks.state, "running"), lt(schema.tasks.leaseUntil, now)));

/** The job and its key can still afford a task (evaluated inside the claim's UPDATE). */
function withinBudget(jobId: string) {
  return sql`coalesce((
    SELECT (j.budget_usd IS NULL OR j.cost_usd + j.reserved_usd < j.budget_usd)
       AND (k.budget_usd IS NULL OR (SELECT coalesce(sum(cost_usd + reserved_usd), 0) FROM jobs WHERE key_id = j.key_id) < k.budget_usd)
    FROM jobs j LEFT JOIN keys k ON k.id = j.key_id WHERE j.id = ${jobId}), 0)`;
}

/**
 * Claims the deliveries' tasks: one lease per job in the batch (it names the job's shard), acks
 * what is finished or stale, and waits out leases held by other deliveries.
 */
export async function claimTasks(env: Env, deliveries: Delivery[], jobRows: Map<string, JobRow>, taskRows: Map<string, TaskRow>): Promise<{ claimed: Claimed[]; leases: Map<string, string> }> {
  const d1 = db(env);
  const now = Date.now();
  const leaseMs = intVar(env.TASK_LEASE_SECONDS, 120) * 1000;
  const claimed: Claimed[] = [];
  const leases = new Map<string, string>();
  const seen = new Set<string>();
  for (const delivery of deliveries) {
    const { msg } = delivery;
    const task = taskRows.get(msg.task_id);
    const job = jobRows.get(msg.job_id);
    if (seen.has(msg.task_id)) {
      delivery.ack(); // the same task twice in one batch
      continue;
    }
    seen.add(msg.task_id);
    if (!task || !job) {
      // A continuation whose parent has not committed yet (the parent's delivery may still be
      // running or be redelivered): wait for it. Otherwise the message is stale.
      const parentId = parentOf(msg.task_id);
      const parent = parentId !== msg.task_id ? await d1.select().from(schema.tasks).where(eq(schema.tasks.id, parentId)).get() : undefined;
      if (parent && parent.state !== "done" && parent.state !== "cancelled") delivery.retry(10);
      else delivery.ack();
      continue;
    }
    // Done, or handed to a provider batch (its poll messages own it now): nothing to do.
    if (task.state === "done" || task.state === "cancelled" || (task.state === "running" && task.providerBatch)) {
      delivery.ack();
      continue;
    }
    if (task.state === "running" && (task.leaseUntil ?? 0) > now) {
      delivery.retry(Math.min(3600, Math.ceil(((task.leaseUntil ?? now) - now) / 1000) + 1));
      continue;
    }
    if (STOPPED.includes(job.status)) {
      await cancelTask(d1, task, now);
      delivery.ack();
      continue;
    }
    const leaseId = leases.get(job.id) ?? newId("ls");
    const reserve = task.slots.length * job.estCostPerCandidate;
    const res = await d1
      .update(schema.tasks)
      .set({ state: "running", leaseId, leaseUntil: now + leaseMs, reservedUsd: reserve })
      .where(and(eq(schema.tasks.id, task.id), claimable(now), withinBudget(job.id)))
      .returning({ id: schema.tasks.id })
      .all();
    if (!res.length) {
      const current = await d1.select().from(schema.tasks).where(eq(schema.tasks.id, task.id)).get();
      const stillClaimable = current && (current.state === "queued" || (current.state === "running" && (current.leaseUntil ?? 0) < now));
      if (stillClaimable) {
        // Nobody else took it: the budget refused it.
        await exhaustBudget(d1, job, task, now);
        job.status = "budget_exhausted";
        delivery.ack();
      } else delivery.retry(5); // someone else claimed it a moment ago
      continue;
    }
    leases.set(job.id, leaseId);
    // A previous owner's lease expired: it crashed, maybe after writing its shard. Remove it.
    if (task.leaseId && task.leaseId !== leaseId) await env.BUCKET.delete(keys.shardObjects(keys.shard(job.id, task.leaseId)));
    claimed.push({ delivery, task: { ...task, leaseId, state: "running", reservedUsd: reserve }, job, leaseId });
  }
  return { claimed, leases };
}

async function cancelTask(d1: Db, task: TaskRow, now: number) {
  await d1.batch([
    d1.update(schema.tasks).set({ state: "cancelled", finishedAt: now }).where(and(eq(schema.tasks.id, task.id), claimable(now))),
    settleJob(d1, task.jobId),
  ]);
}

/** The job (or its key) cannot afford another task: stop it, keeping everything so far. */
async function exhaustBudget(d1: Db, job: JobRow, task: TaskRow, now: number) {
  await d1.batch([
    d1
      .update(schema.jobs)
      .set({
        status: "budget_exhausted",
        error: sql`CASE WHEN ${schema.jobs.budgetUsd} IS NOT NULL AND ${schema.jobs.costUsd} + ${schema.jobs.reservedUsd} >= ${schema.jobs.budgetUsd}
          THEN 'budget exhausted: the job spent or reserved its budget_usd of $' || ${schema.jobs.budgetUsd}
          ELSE 'budget exhausted: the key spent or reserved its budget_usd' END`,
      })
      .where(and(eq(schema.jobs.id, job.id), sql`${schema.jobs.status} IN ('queued', 'running')`)),
    d1.update(schema.tasks).set({ state: "cancelled", finishedAt: now }).where(and(eq(schema.tasks.id, task.id), claimable(now))),
    settleJob(d1, job.id),
  ]);
}
