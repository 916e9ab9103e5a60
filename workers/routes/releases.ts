import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import type { Context } from "hono";
import * as keys from "../../r2/keys";
import { requireKey } from "../auth";
import { loadDataset, type DatasetRow } from "../datasets";
import { db, schema } from "../db";
import type { AppContext } from "../env";
import { ApiError, notFound } from "../errors";
import { bearerSecurity, errors, jsonResponse, router } from "../openapi";
import { startRelease, type ReleaseManifest } from "../releases/compile";

const Version = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(\.\d+)?$/, "a release version looks like 2026-11-24 or 2026-11-24.2")
  .openapi({ param: { name: "version", in: "path" }, example: "2026-11-24" });
const NameParam = z.object({ name: z.string().openapi({ param: { name: "name", in: "path" } }) });
const VersionParams = NameParam.extend({ version: Version });

const Manifest = z
  .object({
    dataset: z.string(),
    version: z.string(),
    parent: z.string().nullable(),
    created_at: z.string(),
    files: z.array(
      z.object({
        path: z.string().openapi({ example: "data/train-2026-11-24-00000.parquet" }),
        config: z.enum(["default", "pairs", "rejected"]).nullable(),
        format: z.enum(["jsonl", "parquet"]).optional(),
        stored_in: z.string().optional().describe("the release whose objects hold this file: an ancestor's when the file is shared"),
        rows: z.number().optional(),
        bytes: z.number(),
        sha256: z.string(),
      }),
    ),
    counts: z.object({
      rows: z.number(),
      pairs: z.number(),
      human_rows: z.number(),
      shards: z.number(),
      jobs: z.number(),
      candidates: z.object({ accepted: z.number(), rejected: z.number(), failed: z.number() }),
      removed_at_compile: z.object({ decontaminate: z.number(), dedup_exact: z.number(), dedup_near: z.number() }),
    }),
    changes: z.object({
      from: z.string().nullable(),
      added: z.object({ rows: z.number(), human_rows: z.number(), pairs: z.number(), rejected: z.number(), files: z.array(z.string()) }),
      removed_at_compile: z.object({ decontaminate: z.number(), dedup_exact: z.number(), dedup_near: z.number() }),
      shared_files: z.array(z.string()),
    }),
    recipes: z.array(z.object({ sha256: z.string(), jobs: z.number() })),
    teachers: z.array(z.object({ provider: z.string(), model: z.string(), rows: z.number(), share: z.number() })),
    filters: z.record(z.string(), z.number()).openapi({ example: { "math_answer.pass": 90, "math_answer.mismatch": 10 } }),
  })
  .openapi("ReleaseManifest");

const ReleaseSummary = z
  .object({
    version: z.string(),
    parent: z.string().nullable(),
    rows: z.number(),
    bytes: z.number(),
    status: z.enum(["compiling", "published", "failed"]),
    created_at: z.string(),
    published_at: z.string().nullable(),
  })
  .openapi("ReleaseSummary");

const FILE_ROUTE = createRoute({
  method: "get",
  path: "/v1/datasets/{name}/releases/{version}/files/{path}",
  summary: "Download a file of a release",
  description:
    "Streams a file listed in the release's manifest (or `manifest.json` itself) from R2. `path` may contain slashes " +
    "(`data/train-00000.jsonl.gz`). Supports `ETag`/`If-None-Match` (304) and a single `Range: bytes=a-b` (206).",
  security: bearerSecurity,
  request: {
    params: VersionParams.extend({ path: z.string().openapi({ param: { name: "path", in: "path" }, example: "data/train-00000.jsonl.gz" }) }),
  },
  responses: {
    200: { description: "the file", content: { "application/gzip": { schema: z.any() }, "application/json": { schema: z.any() }, "text/markdown": { schema: z.any() } } },
    206: { description: "the requested byte range" },
    304: { description: "unchanged (If-None-Match matched the ETag)" },
    416: jsonResponse(z.any(), "range outside the file"),
    ...errors,
  },
});

/** A published release of a dataset the caller may read, or 404. */
async function publishedRelease(c: Context<AppContext>, ds: DatasetRow, version: string) {
  const row = await db(c.env)
    .select()
    .from(schema.releases)
    .where(and(eq(schema.releases.datasetId, ds.id), eq(schema.releases.version, version), eq(schema.releases.status, "published")))
    .get();
  if (!row) throw notFound(`release '${version}' of dataset '${ds.name}'`);
  return row;
}

async function readManifest(c: Context<AppContext>, ds: DatasetRow, version: string): Promise<{ manifest: ReleaseManifest; size: number }> {
  await publishedRelease(c, ds, version);
  const obj = await c.env.BUCKET.get(keys.releaseFile(ds.name, version, "manifest.json"));
  if (!obj) throw notFound(`release '${version}' of dataset '${ds.name}'`);
  return { manifest: await obj.json<ReleaseManifest>(), size: obj.size };
}

function contentType(path: string): string {
  if (path.endsWith(".gz")) return "application/gzip";
  if (path.endsWith(".json")) return "application/json";
  if (path.endsWith(".md")) return "text/markdown; charset=utf-8";
  if (path.endsWith(".parquet")) return "application/vnd.apache.parquet";
  return "application/octet-stream";
}

/**
 * One `bytes=` range as offset and length. Null means "serve the whole file": a missing,
 * malformed or multi-range header may be ignored (RFC 9110 §14.2); a range starting past the
 * end cannot be served at all.
 */
export function parseRange(header: string | undefined, size: number): { offset: number; length: number } | "unsatisfiable" | null {
  const m = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const first = Number(m[1]);
  const last = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < first) return null;
  if (first >= size) return "unsatisfiable";
  return { offset: first, length: last - first + 1 };
}

const app = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/datasets/{name}/releases",
      summary: "Compile a release now",
      description:
        "Publishes a new release with what was accepted since the latest one, sharing its data files. The daily cron does the same for every dataset " +
        "with new samples. A small release is compiled in this request (201, the manifest); a large one continues in the background step by step " +
        "(202, `{version, status: \"compiling\"}`): poll the release list until it is `published`.",
      security: bearerSecurity,
      request: { params: NameParam },
      responses: {
        201: jsonResponse(Manifest, "the new release's manifest"),
        202: jsonResponse(z.object({ version: z.string(), status: z.literal("compiling") }), "compiling in steps"),
        409: jsonResponse(z.any(), "nothing new to release, or a release is being compiled"),
        ...errors,
      },
    }),
    async (c) => {
      requireKey(c);
      const ds = await loadDataset(c, c.req.valid("param").name, "write");
      const out = await startRelease(c.env, ds);
      if (!out) throw new ApiError(409, "nothing_to_release", `dataset '${ds.name}' has no new accepted samples since its latest release; run a job, then release again`);
      if ("status" in out) return c.json(out, 202);
      return c.json(out, 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/datasets/{name}/releases",
      summary: "List a dataset's releases, newest first",
      security: bearerSecurity,
      request: { params: NameParam },
      responses: { 200: jsonResponse(z.object({ releases: z.array(ReleaseSummary) }), "the releases"), ...errors },
    }),
    async (c) => {
      const ds = await loadDataset(c, c.req.valid("param").name, "read");
      const parent = alias(schema.releases, "parent");
      const rows = await db(c.env)
        .select({
          version: schema.releases.version,
          parent: parent.version,
          rows: schema.releases.rows,
          bytes: schema.releases.bytes,
          status: schema.releases.status,
          createdAt: schema.releases.createdAt,
          publishedAt: schema.releases.publishedAt,
        })
        .from(schema.releases)
        .leftJoin(parent, eq(parent.id, schema.releases.parentId))
        .where(eq(schema.releases.datasetId, ds.id))
        .orderBy(desc(schema.releases.createdAt), desc(sql`${schema.releases}.rowid`))
        .limit(1000)
        .all();
      return c.json(
        {
          releases: rows.map((r) => ({
            version: r.version,
            parent: r.parent ?? null,
            rows: r.rows,
            bytes: r.bytes,
            status: r.status,
            created_at: new Date(r.createdAt).toISOString(),
            published_at: r.publishedAt === null ? null : new Date(r.publishedAt).toISOString(),
          })),
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/datasets/{name}/releases/{version}",
      summary: "A release's manifest",
      security: bearerSecurity,
      request: { params: VersionParams },
      responses: { 200: jsonResponse(Manifest, "the manifest"), ...errors },
    }),
    async (c) => {
      const { name, version } = c.req.valid("param");
      const ds = await loadDataset(c, name, "read");
      return c.json((await readManifest(c, ds, version)).manifest, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/datasets/{name}/releases/{version}/files",
      summary: "Every file of a release, with its download URL, in one call",
      description:
        "For scripts: `?format=urls` answers one absolute URL per line (e.g. for `wget -i` or `xargs curl -O`); the default is JSON. " +
        "The list includes manifest.json and the data files shared with earlier releases.",
      security: bearerSecurity,
      request: { params: VersionParams, query: z.object({ format: z.enum(["json", "urls"]).default("json") }) },
      responses: {
        200: jsonResponse(
          z.object({ version: z.string(), files: z.array(z.object({ path: z.string(), url: z.string(), bytes: z.number(), sha256: z.string().nullable(), config: z.string().nullable(), format: z.string().nullable() })) }),
          "the files",
        ),
        ...errors,
      },
    }),
    async (c) => {
      const { name, version } = c.req.valid("param");
      const ds = await loadDataset(c, name, "read");
      const { manifest, size } = await readManifest(c, ds, version);
      const base = new URL(`/v1/datasets/${encodeURIComponent(ds.name)}/releases/${version}/files/`, c.req.url).toString();
      const files = [
        ...manifest.files.map((f) => ({ path: f.path, url: base + f.path, bytes: f.bytes, sha256: f.sha256, config: f.config, format: f.format ?? null })),
        { path: "manifest.json", url: base + "manifest.json", bytes: size, sha256: null, config: null, format: null },
      ];
      if (c.req.valid("query").format === "urls") return c.text(files.map((f) => f.url).join("\n") + "\n", 200) as never;
      return c.json({ version, files }, 200);
    },
  );

/** `*` or a list of entity tags, weak or strong (RFC 9110 §8.8.3). */
const IF_NONE_MATCH = /^\s*(?:\*|(?:W\/)?"[^"\s]*"(?:\s*,\s*(?:W\/)?"[^"\s]*")*)\s*$/;

// A path with slashes needs Hono's regex parameter, which createRoute cannot spell; the route is
// documented through FILE_ROUTE instead.
app.openAPIRegistry.registerPath(FILE_ROUTE);
app.get("/v1/datasets/:name/releases/:version/files/:path{.+}", async (c) => {
  const ds = await loadDataset(c, c.req.param("name"), "read");
  const version = c.req.param("version");
  const path = c.req.param("path");
  if (path.split("/").some((seg) => seg === ".." || seg === "." || seg === "") || path.includes("\\"))
    throw new ApiError(400, "invalid_path", "a file path is relative to the release, like 'data/train-00000.jsonl.gz', without '.' or '..' segments");
  if (!Version.safeParse(version).success) throw new ApiError(400, "invalid_request", "a release version looks like 2026-11-24 or 2026-11-24.2");
  const { manifest, size: manifestSize } = await readManifest(c, ds, version);
  const size = path === "manifest.json" ? manifestSize : manifest.files.find((f) => f.path === path)?.bytes;
  if (size === undefined) throw notFound(`file '${path}' in release '${version}' of dataset '${ds.name}'`);

  const range = parseRange(c.req.header("range"), size);
  if (range === "unsatisfiable")
    throw new ApiError(416, "range_not_satisfiable", `the file has ${size} bytes; ask for a range that starts inside it`, [], { "Content-Range": `bytes */${size}` });
  // R2 throws on a malformed If-None-Match; like any server, treat one as absent (RFC 9110 §13.1.2).
  const conditions = new Headers();
  const inm = c.req.header("if-none-match");
  if (inm && IF_NONE_MATCH.test(inm)) conditions.set("if-none-match", inm);
  // A shared data file lives under the release that wrote it.
  const storedIn = manifest.files.find((f) => f.path === path)?.stored_in ?? version;
  const obj = await c.env.BUCKET.get(keys.releaseFile(ds.name, storedIn, path), { onlyIf: conditions, ...(range ? { range } : {}) });
  if (!obj) throw notFound(`file '${path}' in release '${version}' of dataset '${ds.name}'`);

  const headers = new Headers({
    ETag: obj.httpEtag,
    "Accept-Ranges": "bytes",
    // A published release never changes; who may cache it depends on who may read it.
    "Cache-Control": `${ds.visibility === "public" ? "public" : "private"}, max-age=31536000, immutable`,
  });
  if (!("body" in obj)) return new Response(null, { status: 304, headers });
  headers.set("Content-Type", contentType(path));
  if (range) {
    headers.set("Content-Range", `bytes ${range.offset}-${range.offset + range.length - 1}/${obj.size}`);
    headers.set("Content-Length", String(range.length));
    return new Response(obj.body, { status: 206, headers });
  }
  headers.set("Content-Length", String(obj.size));
  return new Response(obj.body, { status: 200, headers });
});

export const releases = app;
