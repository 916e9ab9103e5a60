import { createRoute, z } from "@hono/zod-openapi";
import { count, desc, eq, sql } from "drizzle-orm";
import { requireKey } from "../auth";
import { loadDataset, type DatasetRow } from "../datasets";
import { latestPublished } from "../releases/compile";
import { db, schema } from "../db";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { bearerSecurity, errors, jsonBody, jsonResponse, router } from "../openapi";
import { DatasetName } from "../recipe";
import { storeUpload } from "../uploads";

const CreateDataset = z
  .object({
    name: DatasetName,
    description: z.string().max(10_000).optional(),
    license: z.string().max(100).optional().openapi({ example: "mit" }),
    visibility: z.enum(["private", "public"]).default("private"),
  })
  .strict()
  .openapi("CreateDataset");

const Dataset = z
  .object({
    name: z.string(),
    description: z.string(),
    license: z.string(),
    visibility: z.enum(["private", "public"]),
    created_at: z.string(),
    counts: z.object({ accepted_samples: z.number(), jobs: z.number(), uploads: z.number() }),
    latest_release: z.object({ version: z.string(), rows: z.number(), created_at: z.string() }).nullable(),
  })
  .openapi("Dataset");

const Upload = z.object({ id: z.string(), rows: z.number(), chunks: z.number(), bytes: z.number(), fields: z.array(z.string()) }).openapi("Upload");
const NameParam = z.object({ name: z.string().openapi({ param: { name: "name", in: "path" } }) });

async function present(env: Env, d: DatasetRow): Promise<z.infer<typeof Dataset>> {
  const d1 = db(env);
  const [jobs, uploads, release] = await Promise.all([
    d1.select({ n: count(), accepted: sql<number>`coalesce(sum(${schema.jobs.accepted}), 0)` }).from(schema.jobs).where(eq(schema.jobs.datasetId, d.id)).get(),
    d1.select({ n: count() }).from(schema.uploads).where(eq(schema.uploads.datasetId, d.id)).get(),
    latestPublished(env, d.id),
  ]);
  return {
    name: d.name,
    description: d.description,
    license: d.license,
    visibility: d.visibility,
    created_at: new Date(d.createdAt).toISOString(),
    counts: { accepted_samples: jobs?.accepted ?? 0, jobs: jobs?.n ?? 0, uploads: uploads?.n ?? 0 },
    latest_release: release ? { version: release.version, rows: release.rows, created_at: new Date(release.createdAt).toISOString() } : null,
  };
}

export const datasets = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/datasets",
      summary: "Create a dataset",
      security: bearerSecurity,
      request: jsonBody(CreateDataset),
      responses: { 201: jsonResponse(Dataset, "the dataset"), 409: jsonResponse(z.any(), "name taken"), ...errors },
    }),
    async (c) => {
      const keyId = requireKey(c);
      const body = c.req.valid("json");
      const row = { id: newId("ds"), keyId, name: body.name, description: body.description ?? "", license: body.license ?? "other", visibility: body.visibility };
      const inserted = await db(c.env).insert(schema.datasets).values(row).onConflictDoNothing().returning().get();
      if (!inserted) throw new ApiError(409, "dataset_exists", `a dataset named '${body.name}' already exists; pick another name`);
      return c.json(await present(c.env, inserted), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/datasets",
      summary: "List your datasets",
      security: bearerSecurity,
      responses: { 200: jsonResponse(z.object({ datasets: z.array(Dataset) }), "your datasets"), ...errors },
    }),
    async (c) => {
      const keyId = requireKey(c);
      const rows = await db(c.env).select().from(schema.datasets).where(eq(schema.datasets.keyId, keyId)).orderBy(desc(schema.datasets.createdAt)).limit(1000).all();
      return c.json({ datasets: await Promise.all(rows.map((d) => present(c.env, d))) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/datasets/{name}",
      summary: "One dataset, with counts and latest release",
      security: bearerSecurity,
      request: { params: NameParam },
      responses: { 200: jsonResponse(Dataset, "the dataset"), ...errors },
    }),
    async (c) => c.json(await present(c.env, await loadDataset(c, c.req.valid("param").name, "read")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/datasets/{name}/inputs",
      summary: "Upload seed rows as JSONL (streamed)",
      security: bearerSecurity,
      request: {
        params: NameParam,
        body: { content: { "application/x-ndjson": { schema: z.string().openapi({ example: '{"question": "..."}\n' }) } }, required: true },
      },
      responses: { 201: jsonResponse(Upload, "stored rows"), 415: jsonResponse(z.any(), "not JSONL"), 413: jsonResponse(z.any(), "row too large"), ...errors },
    }),
    async (c) => {
      const keyId = requireKey(c);
      const ds = await loadDataset(c, c.req.valid("param").name, "write");
      const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (!["application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/json-seq", "text/plain"].includes(type))
        throw new ApiError(415, "unsupported_media_type", "send the rows as JSONL with 'Content-Type: application/x-ndjson'");
      if (!c.req.raw.body) throw new ApiError(400, "empty_upload", "the upload has no body; send one JSON object per line");
      const result = await storeUpload(c.env, keyId, ds.id, c.req.raw.body);
      return c.json(result, 201);
    },
  );

export { present as presentDataset };
