// The contract of the task queue (and of its dead-letter queue, which receives the same
// messages). Producers (job creation, fan-out, the consumer's own retries) and consumers both
// parse with these schemas; neither owns them.
import { z } from "zod";

export const TASK_QUEUE = "winnow-tasks";
export const TASK_DLQ = "winnow-tasks-dlq";

/** Create and enqueue the next slice of a job's tasks; then enqueue the following slice. */
export const FanoutMessage = z.object({
  kind: z.literal("fanout"),
  job_id: z.string(),
  /** The first task sequence number of this slice. */
  from: z.number().int().nonnegative(),
});

/**
 * Generate, filter and store the candidates of many inputs. The D1 row of the same id is the
 * authority on its state; the message also carries the slots so a reader of the queue can see
 * what a task covers without D1.
 */
export const GenerateMessage = z.object({
  kind: z.literal("generate"),
  job_id: z.string(),
  task_id: z.string(),
  /** [inputIndex, candidateIndex] pairs. */
  slots: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])).min(1),
  attempt: z.number().int().nonnegative().default(0),
});

/**
 * Batch mode: see whether a task's provider batches have ended, and ingest them when they have.
 * `lease_id` is the lease the task was given at submission; only that submission's polls count.
 */
export const PollMessage = z.object({
  kind: z.literal("poll"),
  job_id: z.string(),
  task_id: z.string(),
  lease_id: z.string(),
  /** Polls so far, so a provider that never answers cannot keep a task polling forever. */
  polls: z.number().int().nonnegative().default(0),
});

/** The next step of a release compile in progress (see workers/releases/compile-step.ts). */
export const CompileMessage = z.object({
  kind: z.literal("compile"),
  dataset_id: z.string(),
  release_id: z.string(),
  step: z.number().int().positive(),
});

export const TaskMessage = z.discriminatedUnion("kind", [FanoutMessage, GenerateMessage, PollMessage, CompileMessage]);
export type TaskMessage = z.input<typeof TaskMessage>;
export type FanoutMessage = z.infer<typeof FanoutMessage>;
export type GenerateMessage = z.infer<typeof GenerateMessage>;
export type PollMessage = z.infer<typeof PollMessage>;

/** Platform limits (see DEVELOPERS.md): sendBatch takes at most 100 messages. */
export const SEND_BATCH_MAX = 100;

/** Enqueue messages in batches the platform accepts. */
export async function sendAll(queue: Queue<TaskMessage>, messages: TaskMessage[], delaySeconds?: number) {
  for (let i = 0; i < messages.length; i += SEND_BATCH_MAX) {
    await queue.sendBatch(
      messages.slice(i, i + SEND_BATCH_MAX).map((body) => ({ body, contentType: "json" as const, ...(delaySeconds ? { delaySeconds } : {}) })),
    );
  }
}
