import { createRoute, z } from "@hono/zod-openapi";
import { and, count, desc, eq, sql } from "drizzle-orm";
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

const UploadId = z.string().regex(/^inp_[A-Za-z0-9_-]{1,64}$/, "an upload id (inp_...) of this dataset");
/** Settings that may change after creation, including the model-collapse guards. */
const UpdateDataset = z
  .object({
    description: z.string().max(10_000).optional(),
    license: z.string().max(100).optional(),
    visibility: z.enum(["private", "public"]).optional(),
    reference_upload: UploadId.nullable().optional().describe("human-written reference texts (rows with a `text` field or `messages`); releases report drift against them"),
    human_upload: UploadId.nullable().optional().describe("human SFT rows (`messages`, or `prompt` + `completion`) mixed into every release"),
    min_human_share: z.number().min(0).max(1).nullable().optional().describe("a release is refused when human rows are a smaller share of it than this"),
    release_rejected: z.boolean().optional().describe("releases also carry a `rejected` config (rejected candidates with their reasons, for analysis)"),
  })
  .strict()
  .openapi("UpdateDataset");

const Dataset = z
  .object({
    name: z.string(),
    description: z.string(),
    license: z.string(),
    visibility: z.enum(["private", "public"]),
    guards: z.object({ reference_upload: z.string().nullable(), human_upload: z.string().nullable(), min_human_share: z.number().nullable() }),
    release_rejected: z.boolean(),
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
    guards: { reference_upload: d.referenceUpload, human_upload: d.humanUpload, min_human_share: d.minHumanShare },
    release_rejected: d.releaseRejected,
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
      method: "patch",
      path: "/v1/datasets/{name}",
      summary: "Change a dataset's settings, including its model-collapse guards",
      security: bearerSecurity,
      request: { params: NameParam, ...jsonBody(UpdateDataset) },
      responses: { 200: jsonResponse(Dataset, "the dataset"), ...errors },
    }),
    async (c) => {
      const keyId = requireKey(c);
      const ds = await loadDataset(c, c.req.valid("param").name, "write");
      const body = c.req.valid("json");
      for (const field of ["reference_upload", "human_upload"] as const) {
        const id = body[field];
        if (!id) continue;
        const up = await db(c.env)
          .select({ id: schema.uploads.id })
          .from(schema.uploads)
          .where(and(eq(schema.uploads.id, id), eq(schema.uploads.keyId, keyId), eq(schema.uploads.datasetId, ds.id)))
          .get();
        if (!up) throw new ApiError(404, "not_found", `${field}: upload '${id}' not found in dataset '${ds.name}'`, [{ path: field }]);
      }
      const patch = {
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.license !== undefined ? { license: body.license } : {}),
        ...(body.visibility !== undefined ? { visibility: body.visibility } : {}),
        ...(body.reference_upload !== undefined ? { referenceUpload: body.reference_upload } : {}),
        ...(body.human_upload !== undefined ? { humanUpload: body.human_upload } : {}),
        ...(body.min_human_share !== undefined ? { minHumanShare: body.min_human_share } : {}),
        ...(body.release_rejected !== undefined ? { releaseRejected: body.release_rejected } : {}),
      };
      const row = Object.keys(patch).length ? await db(c.env).update(schema.datasets).set(patch).where(eq(schema.datasets.id, ds.id)).returning().get() : ds;
      return c.json(await present(c.env, row!), 200);
    },
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
