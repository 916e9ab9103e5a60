// Job creation: everything a recipe could get wrong is checked here, before anything is
// queued, so a bad recipe is a 400 and never a half-created job.
import { and, eq } from "drizzle-orm";
import type { FilterSpec } from "../../filters";
import { configuredProviders, getBatchClient, getProvider } from "../../models";
import type { GenParams } from "../../models/types";
import type { TaskMessage } from "../../queues/task";
import type { DatasetRow } from "../datasets";
import { db, schema } from "../db";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { canonicalJson, newId, sha256Hex } from "../ids";
import { gridSize, recipeTemplates, templateFields, type Recipe } from "../recipe";
import { ROWS_PER_CHUNK, storeUpload } from "../uploads";
import type { Row } from "../../filters/types";
import { quoteJob, type InputSource, type Quote } from "./quote";

/** A task holds at most this many candidate slots: ~100 model calls per message keeps an
 * invocation well inside its subrequest and wall-time limits, and messages tiny. */
export const MAX_SLOTS_PER_TASK = 100;

/** Inputs per task: the largest divisor of ROWS_PER_CHUNK that keeps slots under the cap, so a
 * task never straddles two upload chunks. */
export function inputsPerTask(candidates: number): number {
  const target = Math.max(1, Math.floor(MAX_SLOTS_PER_TASK / candidates));
  for (let n = Math.min(target, ROWS_PER_CHUNK); n > 1; n--) if (ROWS_PER_CHUNK % n === 0) return n;
  return 1;
}

export interface CreatedJob {
  id: string;
  status: string;
  created: boolean;
}

/**
 * Checks a recipe and either quotes it (`dry_run`, nothing created) or creates the job and
 * queues its fan-out.
 */
export async function createJob(
  env: Env,
  keyId: string,
  dataset: DatasetRow,
  recipe: Recipe,
  idempotencyKey: string | null,
): Promise<CreatedJob | { quote: Quote }> {
  const d1 = db(env);
  const recipeSha256 = await sha256Hex(canonicalJson(recipe));

  if (idempotencyKey && !recipe.dry_run) {
    const prior = await d1.select().from(schema.jobs).where(and(eq(schema.jobs.keyId, keyId), eq(schema.jobs.idempotencyKey, idempotencyKey))).get();
    if (prior) return replay(prior, recipeSha256);
  }

  checkProviders(env, recipe.generators, recipe.filters);
  if (recipe.mode === "batch")
    recipe.generators.forEach((g, i) => {
      if (getBatchClient(env, g.provider)) return;
      const path = `generators.${i}.provider`;
      const able = configuredProviders(env).filter((name) => getBatchClient(env, name));
      throw new ApiError(400, "batch_unsupported", `${path} '${g.provider}' has no batch API here; batch mode works with: ${able.join(", ") || "none configured"}`, [{ path }]);
    });

  // Reference sets a decontaminate filter names must be this key's uploads: found now, not at run time.
  for (const [i, f] of recipe.filters.entries())
    if (f.type === "decontaminate")
      for (const [j, id] of f.uploads.entries()) {
        const up = await d1.select({ id: schema.uploads.id }).from(schema.uploads).where(and(eq(schema.uploads.id, id), eq(schema.uploads.keyId, keyId))).get();
        if (!up) throw new ApiError(404, "not_found", `filters.${i}.uploads.${j}: upload '${id}' not found`, [{ path: `filters.${i}.uploads.${j}` }]);
      }

  // Resolve inputs to a count and the fields every row has.
  let uploadId: string | null = null;
  let total: number;
  let fields: string[];
  if ("upload" in recipe.inputs) {
    const up = await d1.select().from(schema.uploads).where(and(eq(schema.uploads.id, recipe.inputs.upload), eq(schema.uploads.keyId, keyId))).get();
    if (!up) throw new ApiError(404, "not_found", `upload '${recipe.inputs.upload}' not found`);
    uploadId = up.id;
    total = up.rows;
    fields = up.fields;
  } else if ("grid" in recipe.inputs) {
    const { vars, limit } = recipe.inputs.grid;
    if (!Object.keys(vars).length) throw new ApiError(400, "invalid_recipe", "inputs.grid.vars needs at least one variable");
    total = Math.min(gridSize(vars), limit ?? 1_000_000);
    if (gridSize(vars) > 1_000_000 && !limit) throw new ApiError(400, "invalid_recipe", "inputs.grid has more than 1,000,000 combinations; set inputs.grid.limit");
    fields = Object.keys(vars);
  } else {
    const rows = recipe.inputs.rows;
    fields = Object.keys(rows[0]!).filter((k) => rows.every((r) => k in r));
    total = rows.length;
  }

  // Every placeholder must be filled by every row: a missing field is a 400 now, not a
  // thousand failed candidates later.
  const missing = recipeTemplates(recipe).flatMap(({ path, template }) => {
    let names: string[];
    try {
      names = templateFields(template);
    } catch (e) {
      throw new ApiError(400, "invalid_template", `${path}: ${(e as Error).message}`, [{ path }]);
    }
    return names.filter((f) => !fields.includes(f)).map((field) => ({ path, field }));
  });
  if (missing.length)
    throw new ApiError(
      400,
      "missing_field",
      `placeholder {{${missing[0]!.field}}} in ${missing[0]!.path} is not a field of every input row (fields: ${fields.join(", ") || "none"})`,
      missing,
    );

  const source: InputSource = uploadId ? { uploadId } : "grid" in recipe.inputs ? { grid: recipe.inputs.grid.vars } : { rows: (recipe.inputs as { rows: Row[] }).rows };
  const quote = await quoteJob(env, keyId, recipe, source, total);
  if (recipe.dry_run) return { quote };
  const { key_usd, key_spent_usd } = quote.budget;
  if (key_usd !== null && key_spent_usd >= key_usd)
    throw new ApiError(402, "budget_exhausted", `this key has spent its budget ($${key_spent_usd} of $${key_usd}); nothing was created`);

  // Inline rows become an upload so that tasks address every input the same way. Its id is
  // reserved now and the rows stored after the job row wins the Idempotency-Key race, so a
  // losing concurrent request never leaves an orphan upload behind.
  if ("rows" in recipe.inputs) uploadId = newId("inp");

  const perTask = inputsPerTask(recipe.candidates);
  const id = newId("job");
  const row = {
    id,
    keyId,
    datasetId: dataset.id,
    status: "queued" as const,
    recipe,
    recipeSha256,
    idempotencyKey,
    uploadId,
    inputsTotal: total,
    candidatesPerInput: recipe.candidates,
    inputsPerTask: perTask,
    tasksPlanned: Math.ceil(total / perTask),
    candidatesPlanned: total * recipe.candidates,
    mode: recipe.mode,
    budgetUsd: recipe.budget_usd ?? null,
    estCostPerCandidate: quote.reserve_per_candidate_usd,
  };
  const inserted = await d1.insert(schema.jobs).values(row).onConflictDoNothing().returning().get();
  if (!inserted) {
    // A concurrent request with the same Idempotency-Key won the race.
    const prior = await d1.select().from(schema.jobs).where(and(eq(schema.jobs.keyId, keyId), eq(schema.jobs.idempotencyKey, idempotencyKey!))).get();
    return replay(prior!, recipeSha256);
  }
  try {
    if ("rows" in recipe.inputs) await storeUpload(env, keyId, dataset.id, recipe.inputs.rows, uploadId!);
  } catch (e) {
    await d1.delete(schema.jobs).where(eq(schema.jobs.id, id));
    throw e;
  }
  try {
    await env.TASKS.send({ kind: "fanout", job_id: id, from: 0 } satisfies TaskMessage, { contentType: "json" });
  } catch (e) {
    // Never leave a job that nothing will run.
    await d1.delete(schema.jobs).where(eq(schema.jobs.id, id));
    throw new ApiError(503, "queue_unavailable", `could not queue the job, nothing was created; retry later (${(e as Error).message})`, [], { "retry-after": "5" });
  }
  return { id, status: "queued", created: true };
}

/**
 * Every provider a recipe names (teachers and judges) must be one the operator configured, and
 * able to do what the recipe asks of it.
 */
export function checkProviders(env: Env, generators: { provider: string; params?: GenParams }[], filters: FilterSpec[]) {
  const providers = configuredProviders(env);
  const named = [
    ...generators.map((g, i) => ({ path: `generators.${i}.provider`, provider: g.provider })),
    ...filters.flatMap((f, i) => (f.type === "judge" ? [{ path: `filters.${i}.provider`, provider: f.provider }] : [])),
  ];
  for (const { path, provider } of named)
    if (!providers.includes(provider))
      throw new ApiError(400, "unknown_provider", `${path} '${provider}' is not configured here; configured: ${providers.join(", ")}`, [{ path, configured: providers }]);
  generators.forEach((g, i) => {
    if (!g.params?.response_format || getProvider(env, g.provider)?.supports.responseFormat) return;
    const path = `generators.${i}.params.response_format`;
    const able = providers.filter((name) => getProvider(env, name)?.supports.responseFormat);
    throw new ApiError(400, "unsupported_param", `${path}: provider '${g.provider}' cannot do structured output; providers that can: ${able.join(", ") || "none configured"}`, [
      { path, provider: g.provider, supported_by: able },
    ]);
  });
}

function replay(prior: typeof schema.jobs.$inferSelect, recipeSha256: string): CreatedJob {
  if (prior.recipeSha256 !== recipeSha256)
    throw new ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different recipe; use a new key for a new job");
  return { id: prior.id, status: prior.status, created: false };
}
