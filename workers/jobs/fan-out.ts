// Progressive fan-out: a job's tasks are created and queued a slice at a time, each slice by
// one queue message that then queues the next. No invocation creates more than one slice, so a
// 100k-input job never meets D1's query limits or the queue broker's pending-message cap at once.
import { and, eq, sql } from "drizzle-orm";
import { sendAll, type FanoutMessage, type TaskMessage } from "../../queues/task";
import { chunkedInserts, db, schema } from "../db";
import { settleJob, STOPPED } from "./settle";
import type { Env } from "../env";

/** Tasks per slice: one sendBatch (<= 100 messages). */
export const FANOUT_SLICE = 100;

export type Outcome = { ack: true } | { ack: false; delaySeconds: number };

export function taskSlots(job: { inputsTotal: number; inputsPerTask: number; candidatesPerInput: number }, seq: number): [number, number][] {
  const slots: [number, number][] = [];
  const end = Math.min(job.inputsTotal, (seq + 1) * job.inputsPerTask);
  for (let i = seq * job.inputsPerTask; i < end; i++) for (let k = 0; k < job.candidatesPerInput; k++) slots.push([i, k]);
  return slots;
}

export async function runFanout(env: Env, msg: FanoutMessage): Promise<Outcome> {
  const d1 = db(env);
  const job = await d1.select().from(schema.jobs).where(eq(schema.jobs.id, msg.job_id)).get();
  // Gone, finished or stopped (cancelled, out of budget): no further fan-out.
  if (!job || job.status === "done" || STOPPED.includes(job.status)) return { ack: true };
  if (msg.from < job.fanoutNext) return { ack: true }; // a duplicate of a slice already queued
  if (msg.from > job.fanoutNext) return { ack: false, delaySeconds: 2 }; // predecessor not finished yet

  const to = Math.min(job.tasksPlanned, msg.from + FANOUT_SLICE);
  const rows = [];
  for (let seq = msg.from; seq < to; seq++) rows.push({ id: `${job.id}:${seq}`, jobId: job.id, seq, slots: taskSlots(job, seq) });

  // Idempotent: a redelivered slice inserts nothing new and re-sends messages whose tasks
  // are then recognised as done or leased by the consumer.
  const inserts = chunkedInserts(d1, schema.tasks, rows);
  if (inserts.length) await d1.batch(inserts as [(typeof inserts)[0], ...typeof inserts]);

  const messages: TaskMessage[] = rows.map((r) => ({ kind: "generate", job_id: job.id, task_id: r.id, slots: r.slots, attempt: 0 }));
  await sendAll(env.TASKS, messages);
  // Queue the next slice before advancing: if we crash in between, this message is redelivered
  // and the next one waits (from > fanoutNext) until the redelivery advances.
  if (to < job.tasksPlanned) await env.TASKS.send({ kind: "fanout", job_id: job.id, from: to }, { contentType: "json" });
  await d1
    .update(schema.jobs)
    .set({
      fanoutNext: to,
      status: sql`CASE WHEN ${schema.jobs.status} = 'queued' THEN 'running' ELSE ${schema.jobs.status} END`,
      startedAt: sql`coalesce(${schema.jobs.startedAt}, ${Date.now()})`,
    })
    .where(and(eq(schema.jobs.id, job.id), eq(schema.jobs.fanoutNext, msg.from)));
  // The last slice's tasks may all have finished before this advance; settle here too.
  await settleJob(d1, job.id);
  return { ack: true };
}
