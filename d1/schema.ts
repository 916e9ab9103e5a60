// The one place the D1 schema lives. Migrations in ./migrations are generated from this file
// by drizzle-kit (`npm run db:generate`) and applied by wrangler; the counter triggers are a
// hand-written migration because drizzle-kit does not model triggers.
//
// Cost shapes the layout: candidates live in R2 shards, never one D1 row each. D1 holds one
// row per task (a slice of many inputs) and one per shard, so 1M candidates write ~10k rows.
import { sql } from "drizzle-orm";
import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

const now = sql`(unixepoch('subsec') * 1000)`;

export const keys = sqliteTable("keys", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  // sha256 of the secret; the secret itself is shown once and never stored.
  secretHash: text("secret_hash").notNull().unique(),
  // Hard limit on what the key's jobs may spend (null: no limit). Spend is the sum of its jobs'
  // cost and reservations, so the key needs no counter of its own.
  budgetUsd: real("budget_usd"),
  // API requests per minute (null: the deployment's API_RATE_LIMIT_PER_MIN).
  rateLimitPerMin: integer("rate_limit_per_min"),
  createdAt: integer("created_at").notNull().default(now),
});

export const datasets = sqliteTable(
  "datasets",
  {
    id: text("id").primaryKey(),
    keyId: text("key_id").notNull(),
    // Globally unique: public releases are addressed by name alone, without a key.
    name: text("name").notNull().unique(),
    description: text("description").notNull().default(""),
    license: text("license").notNull().default("other"),
    visibility: text("visibility", { enum: ["private", "public"] }).notNull().default("private"),
    // Model-collapse guards. A human reference set (an upload of human-written text) that every
    // release reports drift against; human rows (an upload of SFT-shaped rows) mixed into
    // releases, and the share of them a release must have.
    referenceUpload: text("reference_upload"),
    humanUpload: text("human_upload"),
    minHumanShare: real("min_human_share"),
    // Releases also carry a `rejected` config (rejected candidates, for analysis).
    releaseRejected: integer("release_rejected", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("datasets_key").on(t.keyId)],
);

export const uploads = sqliteTable("uploads", {
  id: text("id").primaryKey(),
  keyId: text("key_id").notNull(),
  datasetId: text("dataset_id").notNull(),
  rows: integer("rows").notNull(),
  // Rows are stored in fixed-size chunks so that input i lives in chunk i / rowsPerChunk.
  rowsPerChunk: integer("rows_per_chunk").notNull(),
  chunks: integer("chunks").notNull(),
  bytes: integer("bytes").notNull(),
  // Fields present in every row: a recipe's placeholders are checked against these at job creation.
  fields: text("fields", { mode: "json" }).$type<string[]>().notNull(),
  createdAt: integer("created_at").notNull().default(now),
});

export const JOB_STATUSES = ["queued", "running", "done", "cancelled", "failed", "budget_exhausted"] as const;

export const jobs = sqliteTable(
  "jobs",
  {
    id: text("id").primaryKey(),
    keyId: text("key_id").notNull(),
    datasetId: text("dataset_id").notNull(),
    status: text("status", { enum: JOB_STATUSES }).notNull().default("queued"),
    recipe: text("recipe", { mode: "json" }).notNull(),
    recipeSha256: text("recipe_sha256").notNull(),
    idempotencyKey: text("idempotency_key"),
    // Where inputs come from, resolved at creation: an upload id, or null for a grid.
    uploadId: text("upload_id"),
    inputsTotal: integer("inputs_total").notNull(),
    candidatesPerInput: integer("candidates_per_input").notNull(),
    inputsPerTask: integer("inputs_per_task").notNull(),
    // Progressive fan-out: tasks [0, fanoutNext) have been created and queued.
    tasksPlanned: integer("tasks_planned").notNull(),
    fanoutNext: integer("fanout_next").notNull().default(0),
    // Maintained by triggers on `tasks` (see the triggers migration): exactly once per task.
    tasksOpen: integer("tasks_open").notNull().default(0),
    candidatesPlanned: integer("candidates_planned").notNull(),
    generated: integer("generated").notNull().default(0),
    accepted: integer("accepted").notNull().default(0),
    rejected: integer("rejected").notNull().default(0),
    failed: integer("failed").notNull().default(0),
    inputTokens: integer("input_tokens").notNull().default(0),
    outputTokens: integer("output_tokens").notNull().default(0),
    costUsd: real("cost_usd").notNull().default(0),
    // `live`: one provider call per candidate. `batch`: provider batch APIs (half price, hours).
    mode: text("mode", { enum: ["live", "batch"] }).notNull().default("live"),
    // The recipe's budget_usd, as a column so the claim's budget check is one indexed lookup.
    budgetUsd: real("budget_usd"),
    // What claimed tasks may still spend: the sum of their reservations (kept by a trigger).
    reservedUsd: real("reserved_usd").notNull().default(0),
    // The quote's upper estimate for one candidate (teacher and judges); a task reserves
    // slots x this before it calls anyone.
    estCostPerCandidate: real("est_cost_per_candidate").notNull().default(0),
    error: text("error"),
    createdAt: integer("created_at").notNull().default(now),
    startedAt: integer("started_at"),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    index("jobs_key").on(t.keyId, t.createdAt),
    uniqueIndex("jobs_idempotency").on(t.keyId, t.idempotencyKey),
  ],
);

export const TASK_STATES = ["queued", "running", "done", "cancelled"] as const;

export interface ModelUsage {
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** One of a task's submitted provider batches (batch mode): one per teacher model. */
export interface ProviderBatchRef {
  provider: string;
  model: string;
  id: string;
  submitted_at: number;
  /** Set once we asked the provider to cancel it (the job stopped). */
  cancelled?: boolean;
}

/** What an input's earlier rounds left to its continuation. */
export interface InputCarry {
  accepted: number;
  next: number;
  /** Preference jobs: a rejected completion still waiting for an accepted partner. */
  rejected?: import("../workers/records").PairSide;
}

export interface ChildTask {
  id: string;
  kind: "retry" | "refill";
  attempt: number;
  slots: [number, number][];
  carry: Record<string, InputCarry>;
  last_error: string | null;
}

export const tasks = sqliteTable(
  "tasks",
  {
    // `{job}:{n}` for fan-out tasks, `{parent}.r{attempt}` for retries of deferred candidates,
    // `{parent}.u` for refills (recipe `until`).
    id: text("id").primaryKey(),
    jobId: text("job_id").notNull(),
    seq: integer("seq").notNull(),
    kind: text("kind", { enum: ["fanout", "retry", "refill"] }).notNull().default("fanout"),
    attempt: integer("attempt").notNull().default(0),
    // The candidate slots this task owns, as [inputIndex, candidateIndex] pairs.
    slots: text("slots", { mode: "json" }).$type<[number, number][]>().notNull(),
    // Per input, what earlier rounds left: accepted so far and the next candidate index. Each
    // input has at most one live continuation (a retry or a refill task), so indexes never clash
    // and a crash cannot reset the count: this row is written with its parent's settle.
    carry: text("carry", { mode: "json" }).$type<Record<string, InputCarry>>(),
    state: text("state", { enum: TASK_STATES }).notNull().default("queued"),
    // Lease: which delivery owns the task until when. Its id also names the shard it writes,
    // so a crash between the R2 write and the D1 commit leaves a key the next owner removes.
    leaseId: text("lease_id"),
    leaseUntil: integer("lease_until"),
    shardId: integer("shard_id"),
    // Money set aside while the task runs; a trigger keeps jobs.reserved_usd in step.
    reservedUsd: real("reserved_usd").notNull().default(0),
    // Batch mode: the provider batches this task's slots were submitted in, while it runs.
    providerBatch: text("provider_batch", { mode: "json" }).$type<ProviderBatchRef[]>(),
    generated: integer("generated").notNull().default(0),
    accepted: integer("accepted").notNull().default(0),
    rejected: integer("rejected").notNull().default(0),
    failed: integer("failed").notNull().default(0),
    inputTokens: integer("input_tokens").notNull().default(0),
    outputTokens: integer("output_tokens").notNull().default(0),
    costUsd: real("cost_usd").notNull().default(0),
    // {"length.pass": 3, "math_answer.mismatch": 1, ...}
    filterCounts: text("filter_counts", { mode: "json" }).$type<Record<string, number>>().notNull().default({}),
    // {"openai/gpt-4o-mini": {calls, input_tokens, output_tokens, cost_usd}, ...}: teachers and
    // judges, so GET /v1/usage can report per model and day without a row per call.
    usageByModel: text("usage_by_model", { mode: "json" }).$type<Record<string, ModelUsage>>(),
    lastError: text("last_error"),
    // The continuations (retry and refill tasks) this task's settle creates, inserted by a
    // trigger in the same statement, so they exist exactly when the settle took effect.
    children: text("children", { mode: "json" }).$type<ChildTask[]>(),
    createdAt: integer("created_at").notNull().default(now),
    finishedAt: integer("finished_at"),
  },
  (t) => [index("tasks_job").on(t.jobId, t.state), index("tasks_shard").on(t.shardId)],
);

export const shards = sqliteTable(
  "shards",
  {
    // Monotonic: a release takes every shard above its parent's high-water mark.
    id: integer("id").primaryKey({ autoIncrement: true }),
    key: text("key").notNull().unique(),
    jobId: text("job_id").notNull(),
    datasetId: text("dataset_id").notNull(),
    records: integer("records").notNull(),
    accepted: integer("accepted").notNull(),
    bytes: integer("bytes").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("shards_dataset").on(t.datasetId, t.id), index("shards_job").on(t.jobId, t.id)],
);

export const releases = sqliteTable(
  "releases",
  {
    id: text("id").primaryKey(),
    datasetId: text("dataset_id").notNull(),
    version: text("version").notNull(),
    parentId: text("parent_id"),
    status: text("status", { enum: ["compiling", "published", "failed"] }).notNull(),
    // Shards with id <= this are included; the next release starts above it.
    shardHigh: integer("shard_high").notNull(),
    rows: integer("rows").notNull().default(0),
    bytes: integer("bytes").notNull().default(0),
    error: text("error"),
    createdAt: integer("created_at").notNull().default(now),
    publishedAt: integer("published_at"),
  },
  (t) => [uniqueIndex("releases_version").on(t.datasetId, t.version), index("releases_dataset").on(t.datasetId, t.createdAt)],
);
