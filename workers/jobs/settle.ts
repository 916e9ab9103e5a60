import { and, eq, isNull, sql } from "drizzle-orm";
import { schema, type Db } from "../db";

/** Statuses that stop a job issuing model calls; its open tasks are cancelled as they come up. */
export const STOPPED: readonly string[] = ["cancelled", "failed", "budget_exhausted"];

/**
 * Ends a job once nothing is left: a running job whose fan-out is complete becomes `done`; a
 * cancelled or budget-exhausted one gets its finish time. Safe to run any number of times, from any path that may
 * have settled the last task (consumer, dead-letter consumer, fan-out, cancel). Returned as a
 * query builder so callers can put it in the same D1 batch as the task update.
 */
export function settleJob(d1: Db, jobId: string) {
  const j = schema.jobs;
  return d1
    .update(j)
    .set({ status: sql`CASE WHEN ${j.status} = 'running' THEN 'done' ELSE ${j.status} END`, finishedAt: Date.now() })
    .where(
      and(
        eq(j.id, jobId),
        isNull(j.finishedAt),
        eq(j.tasksOpen, 0),
        sql`((${j.status} = 'running' AND ${j.fanoutNext} >= ${j.tasksPlanned}) OR ${j.status} IN ('cancelled', 'budget_exhausted'))`,
      ),
    );
}
