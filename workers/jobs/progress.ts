import { sql } from "drizzle-orm";
import { db, schema } from "../db";
import type { Env } from "../env";

type JobRow = typeof schema.jobs.$inferSelect;

/** Per-filter counts, summed over settled tasks in one query (`json_each` over each task's map). */
export async function filterCounts(env: Env, jobId: string): Promise<Record<string, number>> {
  const rows = await db(env).all<{ k: string; n: number }>(
    sql`SELECT j.key AS k, sum(j.value) AS n FROM tasks t, json_each(t.filter_counts) j WHERE t.job_id = ${jobId} AND t.state = 'done' GROUP BY j.key ORDER BY j.key`,
  );
  return Object.fromEntries(rows.map((r) => [r.k, r.n]));
}

/** The job as the API shows it: status, progress counts, per-filter counts, usage and ETA. */
export async function presentJob(env: Env, job: JobRow, datasetName: string) {
  const settled = job.accepted + job.rejected + job.failed;
  const finished = job.finishedAt !== null;
  const elapsed = ((job.finishedAt ?? Date.now()) - (job.startedAt ?? job.createdAt)) / 1000;
  const remaining = job.candidatesPlanned - settled;
  const eta = finished ? 0 : settled > 0 && elapsed > 0 ? Math.round((remaining * elapsed) / settled) : null;
  return {
    id: job.id,
    status: job.status,
    dataset: datasetName,
    error: job.error,
    inputs: { total: job.inputsTotal },
    tasks: { planned: job.tasksPlanned, queued: job.fanoutNext, open: job.tasksOpen },
    candidates: {
      planned: job.candidatesPlanned,
      generated: job.generated,
      accepted: job.accepted,
      rejected: job.rejected,
      failed: job.failed,
      // Slots never generated because the job was cancelled, ran out of budget or failed first.
      cancelled: (job.status === "cancelled" || job.status === "failed" || job.status === "budget_exhausted") && finished ? remaining : 0,
    },
    filters: await filterCounts(env, job.id),
    tokens: { input: job.inputTokens, output: job.outputTokens },
    cost_usd: Number(job.costUsd.toFixed(6)),
    mode: job.mode,
    // Reserved: what claimed tasks may still spend (each reserves before it calls anyone).
    budget: { usd: job.budgetUsd, reserved_usd: Number(Math.max(0, job.reservedUsd).toFixed(6)) },
    recipe_sha256: job.recipeSha256,
    eta_seconds: eta,
    created_at: new Date(job.createdAt).toISOString(),
    started_at: job.startedAt ? new Date(job.startedAt).toISOString() : null,
    finished_at: job.finishedAt ? new Date(job.finishedAt).toISOString() : null,
  };
}

