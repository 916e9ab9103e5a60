// The task consumer: claim tasks, call the teachers, run the filter chain, write one shard per
// job in the batch to R2, then commit counters in one D1 transaction.
//
// At-least-once delivery is handled by a lease on each task row. Only the delivery holding the
// lease may settle the task, and the settle is a conditional UPDATE whose trigger moves the job
// counters, so a duplicate delivery can neither duplicate a sample nor double-count. The shard
// is named after the lease, so a crash between the R2 write and the D1 commit leaves a key the
// next owner deletes before it starts: no orphan, no duplicate.
import { and, eq, inArray } from "drizzle-orm";
import { buildFilter, countVerdict, runChain } from "../../filters";
import type { Message, Row } from "../../filters/types";
import { getProvider } from "../../models";
import { BATCH_PRICE_FACTOR, costUsd, priceTable } from "../../models/pricing";
import { ProviderError, type ChatResult } from "../../models/types";
import { sendAll, type GenerateMessage, type TaskMessage } from "../../queues/task";
import * as keys from "../../r2/keys";
import { db, schema, shardIdByKey, type Db } from "../db";
import { intVar, type Env } from "../env";
import { canonicalJson, newId, sha256Hex } from "../ids";
import { gridRow, type Recipe } from "../recipe";
import { gzipJsonl, type CandidateRecord, type PairRecord, type PairSide } from "../records";
import { putSegment } from "../releases/segment";
import { readUploadRows } from "../uploads";
import type { ChildTask, ModelUsage } from "../../d1/schema";
import { buildMessages, newRecord, pickGenerator } from "./candidate";
import { continuations } from "./continuations";
import { makePairs } from "./pairs";
import { limiter } from "./limit";
import { settleJob } from "./settle";
import { claimTasks, type Claimed, type JobRow, type TaskRow } from "./claim";
import { Throttles } from "./throttle";
import { notSubmitted, submitBatches } from "./batch-mode";

/** Simultaneous provider calls per invocation (the platform allows 6 outgoing connections). */
export const CONCURRENCY = 6;
/** Deliveries of a slot before a retryable error becomes a failed candidate. */
export const MAX_ATTEMPTS = 4;

export type Delivery = { msg: GenerateMessage; ack(): void; retry(delaySeconds: number): void };

interface Deferred {
  slot: [number, number];
  error: ProviderError;
}

interface TaskResult {
  task: TaskRow;
  delivery: Delivery;
  records: CandidateRecord[];
  deferred: Deferred[];
  filterCounts: Record<string, number>;
  children?: ChildTask[];
  /** Preference jobs: pairs made from this task's candidates, stored in the same shard. */
  pairs?: PairRecord[];
  /**
   * Model calls this task paid for, per model (teachers and judges). A Map: model names come
   * from users' recipes, and an object would find "constructor" or "__proto__" on its prototype.
   */
  usageByModel: Map<string, ModelUsage>;
}

export async function runGenerate(env: Env, deliveries: Delivery[]): Promise<void> {
  const d1 = db(env);
  const leaseMs = intVar(env.TASK_LEASE_SECONDS, 120) * 1000;
  const taskIds = [...new Set(deliveries.map((d) => d.msg.task_id))];
  const taskRows = new Map((await d1.select().from(schema.tasks).where(inArray(schema.tasks.id, taskIds)).all()).map((t) => [t.id, t]));
  const jobIds = [...new Set(deliveries.map((d) => d.msg.job_id))];
  const jobRows = new Map((await d1.select().from(schema.jobs).where(inArray(schema.jobs.id, jobIds)).all()).map((j) => [j.id, j]));

  // 1. Ask each teacher model's throttle for this batch's share before claiming anything: a
  // task whose model is paused by a provider's retry-after is put back with that delay, unclaimed
  // and without spending one of its deliveries.
  const throttles = new Throttles(env, newId("cs"), CONCURRENCY);
  const models = new Map(deliveries.map((d) => [d, teacherModels(jobRows.get(d.msg.job_id), d.msg.slots)]));
  const paused = await throttles.acquire([...models.values()].flat());
  const ready: Delivery[] = [];
  for (const d of deliveries) {
    const wait = Math.max(0, ...models.get(d)!.map((m) => paused.get(m) ?? 0));
    if (wait > 0) {
      await env.TASKS.send(d.msg, { contentType: "json", delaySeconds: Math.min(wait + 1, 300) });
      d.ack();
    } else ready.push(d);
  }

  // 2. Claim (and reserve budget for) the tasks.
  const { claimed, leases } = await claimTasks(env, ready, jobRows, taskRows);
  if (!claimed.length) return void (await throttles.report());

  // Keep the leases alive while we work, so they can be short: a delivery that dies stalls its
  // tasks for one lease (2 minutes by default), not for the longest possible invocation.
  const heartbeat = setInterval(() => {
    const until = Date.now() + leaseMs;
    for (const leaseId of new Set(claimed.map((c) => c.leaseId)))
      d1.update(schema.tasks)
        .set({ leaseUntil: until })
        .where(and(eq(schema.tasks.leaseId, leaseId), eq(schema.tasks.state, "running"), notSubmitted))
        .run()
        .catch((e) => console.error("lease heartbeat failed", e));
  }, leaseMs / 3);
  try {
    const live = claimed.filter((c) => c.job.mode !== "batch");
    const batch = claimed.filter((c) => c.job.mode === "batch");
    if (batch.length) await submitBatches(env, batch);
    if (live.length)
      await work(env, d1, live, leases, jobRows, { produce: liveProduce(env, throttles), wrap: (m, fn) => throttles.run(m, fn), requeueWhole: true });
  } finally {
    clearInterval(heartbeat);
    await throttles.report();
  }
}

/** The `provider/model` keys a task's slots will call (live jobs only; batch jobs are queued by the provider). */
function teacherModels(job: JobRow | undefined, slots: [number, number][]): string[] {
  if (!job || job.mode === "batch") return [];
  const recipe = job.recipe as Recipe;
  return [...new Set(slots.map(([i, k]) => modelKey(pickGenerator(recipe, job.id, i, k))))];
}

const modelKey = (g: { provider: string; model: string }) => `${g.provider}/${g.model}`;

/**
 * Where a slot's completion comes from: a live provider call, or a line of a finished provider
 * batch. Throws a ProviderError when there is none.
 */
export type Produce = (slot: { job: JobRow; gen: Recipe["generators"][number]; messages: Message[]; row: Row; inputIndex: number; cand: number }) => Promise<ChatResult>;

export interface WorkOptions {
  produce: Produce;
  /** Concurrency per slot, e.g. a model's throttle share (live mode). */
  wrap?: <T>(model: string, fn: () => Promise<T>) => Promise<T>;
  /**
   * Live mode: a task where nothing succeeded and everything is retryable goes back to the
   * queue whole, nothing paid for. Batch mode never does: its failed lines are resubmitted as a
   * retry task, and the lines that succeeded are kept (they were paid for).
   */
  requeueWhole: boolean;
}

/** The live source: a throttled provider call per slot. */
function liveProduce(env: Env, throttles: Throttles): Produce {
  return async ({ gen, messages, row, cand }) => {
    const provider = getProvider(env, gen.provider);
    if (!provider) throw new ProviderError("provider_unavailable", `provider '${gen.provider}' is no longer configured`, false);
    const model = modelKey(gen);
    const closed = await throttles.gate(model);
    if (closed) throw closed;
    try {
      const result = await provider.chat({ model: gen.model, messages, params: gen.params, input: row, candidate: cand });
      throttles.record(model, null);
      return result;
    } catch (e) {
      if (e instanceof ProviderError) throttles.record(model, e);
      throw e;
    }
  };
}

export async function work(env: Env, d1: Db, claimed: Claimed[], leases: Map<string, string>, jobRows: Map<string, JobRow>, opts: WorkOptions): Promise<void> {
  const wrap = opts.wrap ?? ((_model, fn) => fn());
  // 2. Generate and filter every slot of every claimed task, sharing one limiter. Filters are
  // built once per job in the batch, so per-batch state (a dedup index) spans its tasks.
  const run = limiter(CONCURRENCY);
  const inputs = new InputCache(env);
  const plans = new Map<string, Plan>();
  for (const { job } of claimed) if (!plans.has(job.id)) plans.set(job.id, await planFor(env, job, job.recipe as Recipe));
  const results: TaskResult[] = await Promise.all(
    claimed.map(async ({ delivery, task, job }) => {
      const recipe = job.recipe as Recipe;
      const plan = plans.get(job.id)!;
      const result: TaskResult = { task, delivery, records: [], deferred: [], filterCounts: {}, usageByModel: new Map() };
      await Promise.all(
        delivery.msg.slots.map(([inputIndex, cand]) =>
          wrap(modelKey(pickGenerator(recipe, job.id, inputIndex, cand)), () => run(async () => {
            const row = await inputs.row(job, recipe, inputIndex, delivery.msg.slots);
            const outcome = await generateOne(env, job, recipe, plan, task, row, inputIndex, cand, opts.produce);
            if ("deferred" in outcome) {
              if (delivery.msg.attempt + 1 >= MAX_ATTEMPTS) result.records.push(await failedRecord(job, recipe, plan, task, row, inputIndex, cand, outcome.deferred));
              else result.deferred.push({ slot: [inputIndex, cand], error: outcome.deferred });
            } else {
              result.records.push(outcome.record);
              for (const call of outcome.calls ?? []) addUsage(result.usageByModel, call);
              if (outcome.verdict) countVerdict(result.filterCounts, outcome.verdict);
            }
          })),
        ),
      );
      return result;
    }),
  );

  // 3. A task where nothing succeeded and everything is retryable goes back to the queue
  // whole, with the delay the provider asked for (message.retry): nothing was paid for.
  const committing: TaskResult[] = [];
  for (const r of results) {
    if (opts.requeueWhole && r.records.length === 0 && r.deferred.length > 0) {
      const err = r.deferred[0]!.error;
      await d1
        .update(schema.tasks)
        .set({ state: "queued", leaseId: null, leaseUntil: null, reservedUsd: 0, lastError: `${err.code}: ${err.message}` })
        .where(and(eq(schema.tasks.id, r.task.id), eq(schema.tasks.leaseId, r.task.leaseId!)));
      r.delivery.retry(retryDelay(r.deferred));
    } else committing.push(r);
  }
  if (!committing.length) return;

  // 4. Continuations: retries of deferred slots (delayed as the provider asked) and refills for
  // `until`. Queued before the commit; their rows are created by the settle itself (trigger),
  // and a message whose row does not exist yet waits for its parent (see claim).
  for (const r of committing) {
    const recipe = jobRows.get(r.task.jobId)!.recipe as Recipe;
    let pending: Map<number, PairSide> | undefined;
    if (recipe.output.kind === "preference") {
      const carried = new Map(Object.entries(r.task.carry ?? {}).flatMap(([i, c]) => (c.rejected ? [[Number(i), c.rejected] as const] : [])));
      const paired = await makePairs(r.records, carried);
      r.pairs = paired.pairs;
      pending = paired.pending;
    }
    r.children = continuations(r.task, r.delivery.msg.attempt, recipe, r.records, r.deferred, pending);
  }
  // One sendBatch per delay: refills go at once, retries wait as long as the provider asked.
  const byDelay = new Map<number, TaskMessage[]>();
  for (const r of committing)
    for (const child of r.children ?? []) {
      const delay = child.kind === "retry" ? retryDelay(r.deferred) : 0;
      byDelay.set(delay, [...(byDelay.get(delay) ?? []), { kind: "generate", job_id: r.task.jobId, task_id: child.id, slots: child.slots, attempt: child.attempt }]);
    }
  for (const [delay, messages] of byDelay) await sendAll(env.TASKS, messages, delay || undefined);

  // 5. One shard per job in this batch, then one D1 transaction for everything.
  const byJob = new Map<string, TaskResult[]>();
  for (const r of committing) byJob.set(r.task.jobId, [...(byJob.get(r.task.jobId) ?? []), r]);
  const statements = [];
  for (const [jobId, rs] of byJob) {
    const records = rs.flatMap((r) => r.records);
    const key = keys.shard(jobId, leases.get(jobId)!);
    const lines = [...records, ...rs.flatMap((r) => r.pairs ?? [])];
    const body = await gzipJsonl(lines);
    await env.BUCKET.put(key, body, { httpMetadata: { contentType: "application/x-ndjson", contentEncoding: "gzip" } });
    await putSegment(env, key, lines, body.byteLength, (jobRows.get(jobId)!.recipe as Recipe).filters);
    statements.push(
      d1.insert(schema.shards).values({
        key,
        jobId,
        datasetId: jobRows.get(jobId)!.datasetId,
        records: records.length,
        accepted: records.filter((x) => x.status === "accepted").length,
        bytes: body.byteLength,
      }).onConflictDoNothing(),
    );
    for (const r of rs) statements.push(settleTask(d1, r, key));
  }
  for (const jobId of byJob.keys()) statements.push(settleJob(d1, jobId));
  try {
    await d1.batch(statements as [(typeof statements)[0], ...typeof statements]);
  } catch (e) {
    // Give the tasks back so a redelivery need not wait for the lease to expire.
    console.error("commit failed", e);
    for (const r of committing)
      await d1
        .update(schema.tasks)
        .set({ state: "queued", leaseUntil: 0, reservedUsd: 0 })
        .where(and(eq(schema.tasks.id, r.task.id), eq(schema.tasks.leaseId, r.task.leaseId!)))
        .catch(() => {});
    for (const r of committing) r.delivery.retry(5);
    return;
  }
  for (const r of committing) r.delivery.ack();

  // 6. Only now, with the batch committed, may filters persist what they learned from it (e.g.
  // the dedup index): a batch that is retried must not have left its candidates behind.
  for (const [jobId, plan] of plans) {
    const accepted = committing
      .filter((r) => r.task.jobId === jobId)
      .flatMap((r) => r.records.filter((x) => x.status === "accepted"))
      .map((x) => ({ input: x.input, messages: x.messages.slice(0, -1), completion: x.messages.at(-1)?.content ?? "" }));
    for (const f of plan.filters) await f.commit?.(accepted).catch((e) => console.error(`filter ${f.name} commit failed`, e));
  }
}

/** The conditional settle: only the lease holder's UPDATE matches, and the trigger counts once. */
function settleTask(d1: Db, r: TaskResult, shardKey: string) {
  const sum = (f: (x: CandidateRecord) => number) => r.records.reduce((n, x) => n + f(x), 0);
  return d1
    .update(schema.tasks)
    .set({
      state: "done",
      shardId: shardIdByKey(shardKey),
      generated: r.records.filter((x) => x.status !== "failed").length,
      accepted: r.records.filter((x) => x.status === "accepted").length,
      rejected: r.records.filter((x) => x.status === "rejected").length,
      failed: r.records.filter((x) => x.status === "failed").length,
      inputTokens: sum((x) => x.usage.input_tokens),
      outputTokens: sum((x) => x.usage.output_tokens),
      costUsd: sum((x) => x.usage.cost_usd),
      filterCounts: r.filterCounts,
      // fromEntries defines own properties, so even "__proto__" is stored as a model's usage.
      usageByModel: Object.fromEntries(r.usageByModel),
      children: r.children?.length ? r.children : null,
      finishedAt: Date.now(),
    })
    .where(and(eq(schema.tasks.id, r.task.id), eq(schema.tasks.leaseId, r.task.leaseId!), eq(schema.tasks.state, "running")));
}

function retryDelay(deferred: Deferred[]): number {
  const asked = Math.max(0, ...deferred.map((d) => d.error.retryAfterSeconds ?? 0));
  return Math.min(300, Math.max(2, asked));
}

/** Per-job values computed once per batch. */
interface Plan {
  filters: ReturnType<typeof buildFilter>[];
  promptSha256: string;
}

async function planFor(env: Env, job: JobRow, recipe: Recipe): Promise<Plan> {
  const filters = recipe.filters.map((spec) => buildFilter(spec, { env, datasetId: job.datasetId }));
  for (const f of filters) await f.prepare?.();
  return { filters, promptSha256: await sha256Hex(canonicalJson(recipe.prompt)) };
}

/** Input rows, read once per upload chunk per batch. */
export class InputCache {
  private chunks = new Map<string, Promise<Map<number, Row>>>();
  constructor(private env: Env) {}

  async row(job: JobRow, recipe: Recipe, index: number, slots: [number, number][]): Promise<Row> {
    if ("grid" in recipe.inputs) return gridRow(recipe.inputs.grid.vars, index);
    const first = Math.min(...slots.map((s) => s[0]));
    const last = Math.max(...slots.map((s) => s[0]));
    const key = `${job.uploadId}:${first}:${last}`;
    let p = this.chunks.get(key);
    if (!p) {
      p = readUploadRows(this.env, job.uploadId!, first, last - first + 1).then((rows) => new Map(rows.map((r, i) => [first + i, r])));
      this.chunks.set(key, p);
    }
    const row = (await p).get(index);
    if (!row) throw new Error(`input ${index} not found in upload ${job.uploadId}`);
    return row;
  }
}

type Call = { model: string; input_tokens: number; output_tokens: number; cost_usd: number };
type SlotOutcome = { record: CandidateRecord; verdict?: Awaited<ReturnType<typeof runChain>>; calls?: Call[] } | { deferred: ProviderError };

function addUsage(into: Map<string, ModelUsage>, c: Call) {
  let u = into.get(c.model);
  if (!u) into.set(c.model, (u = { calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 }));
  u.calls++;
  u.input_tokens += c.input_tokens;
  u.output_tokens += c.output_tokens;
  u.cost_usd += c.cost_usd;
}

async function generateOne(env: Env, job: JobRow, recipe: Recipe, plan: Plan, task: TaskRow, row: Row, inputIndex: number, cand: number, produce: Produce): Promise<SlotOutcome> {
  const gen = pickGenerator(recipe, job.id, inputIndex, cand);
  const messages = buildMessages(recipe, row);
  const base = await newRecord({ job, recipe, promptSha256: plan.promptSha256, taskId: task.id, row, inputIndex, cand, messages });
  let result;
  try {
    result = await produce({ job, gen, messages, row, inputIndex, cand });
  } catch (e) {
    const err = e instanceof ProviderError ? e : new ProviderError("internal", String((e as Error)?.message ?? e), false);
    if (err.retryable) return { deferred: err };
    return { record: { ...base, status: "failed", error: { code: err.code, message: err.message } } };
  }
  const verdict = await runChain(plan.filters, { input: row, messages, completion: result.text });
  const teacher: Call = {
    model: `${gen.provider}/${gen.model}`,
    input_tokens: result.inputTokens,
    output_tokens: result.outputTokens,
    cost_usd: costUsd(priceTable(env), gen.model, result.inputTokens, result.outputTokens) * (job.mode === "batch" ? BATCH_PRICE_FACTOR : 1),
  };
  // A candidate's usage is what it cost to make and to judge: the teacher's call plus any
  // filter's own model calls.
  const usage = {
    input_tokens: teacher.input_tokens + verdict.usage.input_tokens,
    output_tokens: teacher.output_tokens + verdict.usage.output_tokens,
    cost_usd: teacher.cost_usd + verdict.usage.cost_usd,
  };
  const calls = [teacher, ...verdict.calls.map((c) => ({ ...c, model: c.model ?? "filters" }))];
  const record: CandidateRecord = {
    ...base,
    status: verdict.pass ? "accepted" : "rejected",
    ...(verdict.pass ? {} : { reason: verdict.reason }),
    messages: [...messages, { role: "assistant", content: result.text }],
    filters: verdict.trace,
    usage,
  };
  return { record, verdict, calls };
}

async function failedRecord(job: JobRow, recipe: Recipe, plan: Plan, task: TaskRow, row: Row, inputIndex: number, cand: number, err: ProviderError): Promise<CandidateRecord> {
  const base = await newRecord({ job, recipe, promptSha256: plan.promptSha256, taskId: task.id, row, inputIndex, cand, messages: buildMessages(recipe, row) });
  return { ...base, status: "failed", error: { code: err.code, message: `after ${MAX_ATTEMPTS} attempts: ${err.message}` } };
}

