import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import type { Context } from "hono";
import { requireKey } from "../auth";
import { loadDataset } from "../datasets";
import { JOB_STATUSES } from "../../d1/schema";
import { db, schema } from "../db";
import type { AppContext } from "../env";
import { notFound } from "../errors";
import { createJob } from "../jobs/create";
import { presentJob } from "../jobs/progress";
import { pageSamples } from "../jobs/samples";
import { settleJob } from "../jobs/settle";
import { bearerSecurity, errors, jsonBody, jsonResponse, router } from "../openapi";
import { Recipe } from "../recipe";

const JobCreated = z.object({ id: z.string(), status: z.string() }).openapi("JobCreated");
const QuoteBody = z
  .object({
    dry_run: z.literal(true),
    quote: z.object({
      mode: z.enum(["live", "batch"]),
      inputs: z.number(),
      candidates: z.object({ expected: z.number(), max: z.number() }),
      tokens: z.object({ input: z.number(), output: z.number() }),
      cost_usd: z.number(),
      max_cost_usd: z.number().nullable(),
      reserve_per_candidate_usd: z.number(),
      by_model: z.array(z.object({ model: z.string(), role: z.enum(["teacher", "judge"]), calls: z.number(), input_tokens: z.number(), output_tokens: z.number(), cost_usd: z.number(), priced: z.boolean() })),
      budget: z.object({ job_usd: z.number().nullable(), key_usd: z.number().nullable(), key_spent_usd: z.number(), within: z.boolean() }),
      method: z.string().describe("how the figures were estimated"),
    }),
  })
  .openapi("Quote");
const Job = z
  .object({
    id: z.string(),
    status: z.enum(JOB_STATUSES).describe("`budget_exhausted`: the job's or key's budget ran out; everything so far is kept"),
    dataset: z.string(),
    error: z.string().nullable(),
    inputs: z.object({ total: z.number() }),
    tasks: z.object({ planned: z.number(), queued: z.number(), open: z.number() }),
    candidates: z.object({ planned: z.number(), generated: z.number(), accepted: z.number(), rejected: z.number(), failed: z.number(), cancelled: z.number() }),
    filters: z.record(z.string(), z.number()).describe("per filter: `name.pass` and each rejection reason"),
    tokens: z.object({ input: z.number(), output: z.number() }),
    cost_usd: z.number(),
    mode: z.enum(["live", "batch"]),
    budget: z.object({ usd: z.number().nullable(), reserved_usd: z.number() }),
    recipe_sha256: z.string(),
    eta_seconds: z.number().nullable(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })
  .openapi("Job");
const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });
const SamplesQuery = z.object({
  status: z.enum(["accepted", "rejected", "failed"]).default("accepted"),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

async function ownedJob(c: Context<AppContext>, id: string) {
  const keyId = requireKey(c);
  const row = await db(c.env)
    .select({ job: schema.jobs, dataset: schema.datasets.name })
    .from(schema.jobs)
    .innerJoin(schema.datasets, eq(schema.datasets.id, schema.jobs.datasetId))
    .where(and(eq(schema.jobs.id, id), eq(schema.jobs.keyId, keyId)))
    .get();
  if (!row) throw notFound(`job '${id}'`);
  return row;
}

export const jobs = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/jobs",
      summary: "Start a job from a recipe",
      security: bearerSecurity,
      request: {
        headers: z.object({ "idempotency-key": z.string().min(1).max(200).optional() }),
        ...jsonBody(Recipe, "the recipe"),
      },
      responses: { 202: jsonResponse(JobCreated, "queued"), 200: jsonResponse(QuoteBody, "`dry_run`: the quote; nothing created"), 402: jsonResponse(z.any(), "the key's budget is spent"), 409: jsonResponse(z.any(), "Idempotency-Key reused with another recipe"), ...errors },
    }),
    async (c) => {
      const keyId = requireKey(c);
      const recipe = c.req.valid("json");
      const dataset = await loadDataset(c, recipe.dataset, "write");
      const created = await createJob(c.env, keyId, dataset, recipe, c.req.valid("header")["idempotency-key"] ?? null);
      if ("quote" in created) return c.json({ dry_run: true as const, quote: created.quote }, 200);
      return c.json({ id: created.id, status: created.status }, 202);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/jobs/{id}",
      summary: "Job status and progress",
      security: bearerSecurity,
      request: { params: IdParam },
      responses: { 200: jsonResponse(Job, "the job"), ...errors },
    }),
    async (c) => {
      const { job, dataset } = await ownedJob(c, c.req.valid("param").id);
      return c.json(await presentJob(c.env, job, dataset), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/jobs/{id}/cancel",
      summary: "Stop issuing model calls; in-flight work finishes and is accounted",
      security: bearerSecurity,
      request: { params: IdParam },
      responses: { 200: jsonResponse(Job, "the job"), ...errors },
    }),
    async (c) => {
      const { job } = await ownedJob(c, c.req.valid("param").id);
      const d1 = db(c.env);
      await d1
        .update(schema.jobs)
        .set({ status: "cancelled" })
        .where(and(eq(schema.jobs.id, job.id), inArray(schema.jobs.status, ["queued", "running"])));
      await settleJob(d1, job.id);
      const { job: after, dataset } = await ownedJob(c, job.id);
      return c.json(await presentJob(c.env, after, dataset), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/jobs/{id}/samples",
      summary: "Page through candidates by status, with their filter traces",
      security: bearerSecurity,
      request: { params: IdParam, query: SamplesQuery },
      responses: { 200: jsonResponse(z.object({ samples: z.array(z.any()), next_cursor: z.string().nullable() }), "a page"), ...errors },
    }),
    async (c) => {
      const { job } = await ownedJob(c, c.req.valid("param").id);
      const q = c.req.valid("query");
      return c.json(await pageSamples(c.env, job.id, q.status, q.cursor, q.limit), 200);
    },
  );

