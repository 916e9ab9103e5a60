// Compiles a release: every accepted sample of a dataset up to a shard high-water mark, as
// gzip JSONL data files plus stats.json, README.md (the dataset card) and manifest.json.
//
// Memory stays bounded whatever the dataset's size: shards are read one at a time, records
// stream through the compressor into R2 (see gzip-writer.ts), and only counters are kept.
import { and, asc, desc, eq, gt, lte, sql } from "drizzle-orm";
import * as keys from "../../r2/keys";
import type { DatasetRow } from "../datasets";
import { db, schema } from "../db";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { isPair, readGzipJsonl, toPreferenceRecord, toSftRecord, type ShardLine } from "../records";
import type { Recipe } from "../recipe";
import { renderCard } from "./card";
import { releaseGuards, type Removed } from "./guards";
import { GzipJsonlWriter, MIN_PART_SIZE, putSmall, type WrittenObject } from "./gzip-writer";
import { StatsCollector, type TeacherShare } from "./stats";

export interface ManifestFile {
  path: string;
  /** Hugging Face config the file belongs to (`default`: SFT, `pairs`: preference); null for files that are not data. */
  config: "default" | "pairs" | null;
  /** Rows, for data files only. */
  rows?: number;
  bytes: number;
  sha256: string;
}

export interface ReleaseManifest {
  dataset: string;
  version: string;
  parent: string | null;
  created_at: string;
  files: ManifestFile[];
  counts: {
    rows: number;
    pairs: number;
    shards: number;
    jobs: number;
    candidates: { accepted: number; rejected: number; failed: number };
    /** Accepted samples the compile-time authority pass removed (dedup, decontamination). */
    removed_at_compile: Removed;
  };
  recipes: { sha256: string; jobs: number }[];
  teachers: TeacherShare[];
  filters: Record<string, number>;
}

export interface CompileOptions {
  now?: Date;
  /** Compile even when nothing is new since the latest release. */
  force?: boolean;
  /** Rows per data file (a new `data/train-NNNNN.jsonl.gz` starts after this many). */
  rowsPerFile?: number;
  /** Multipart part size for data files; at least 5 MiB. */
  partSize?: number;
}

export type ShardRow = typeof schema.shards.$inferSelect;
export type ReleaseRow = typeof schema.releases.$inferSelect;

const DEFAULT_ROWS_PER_FILE = 100_000;
/** Shard rows fetched from D1 per query while walking a range. */
const SHARD_PAGE = 200;
/** A compile older than this is presumed dead (a Worker invocation cannot run longer). */
const COMPILE_LEASE_MS = 15 * 60 * 1000;
const MAX_VERSION_ATTEMPTS = 50;

/**
 * The newest published release: highest shard mark first, since two compiles may overlap and
 * publish out of order; creation time breaks ties.
 */
export async function latestPublished(env: Env, datasetId: string): Promise<ReleaseRow | undefined> {
  return db(env)
    .select()
    .from(schema.releases)
    .where(and(eq(schema.releases.datasetId, datasetId), eq(schema.releases.status, "published")))
    .orderBy(desc(schema.releases.shardHigh), desc(schema.releases.createdAt))
    .get();
}

/**
 * Compiles and publishes a release of everything accepted so far. Returns null, writing
 * nothing, when no shard with accepted samples arrived since the latest published release
 * (unless `force`), so the daily cron can run any number of times.
 */
export async function compileRelease(env: Env, dataset: DatasetRow, opts: CompileOptions = {}): Promise<ReleaseManifest | null> {
  const now = opts.now ?? new Date();
  const d1 = db(env);
  const parent = await latestPublished(env, dataset.id);
  const low = parent?.shardHigh ?? 0;

  // Snapshot the high-water mark first: shards written while compiling belong to the next release.
  const snap = await d1
    .select({
      high: sql<number | null>`max(${schema.shards.id})`,
      fresh: sql<number>`coalesce(sum(${schema.shards.id} > ${low} AND ${schema.shards.accepted} > 0), 0)`,
    })
    .from(schema.shards)
    .where(eq(schema.shards.datasetId, dataset.id))
    .get();
  if (!opts.force && !snap?.fresh) return null;
  const high = Math.max(snap?.high ?? 0, low);

  const running = await d1
    .select({ version: schema.releases.version })
    .from(schema.releases)
    .where(
      and(
        eq(schema.releases.datasetId, dataset.id),
        eq(schema.releases.status, "compiling"),
        sql`${schema.releases.shardHigh} >= ${high}`,
        gt(schema.releases.createdAt, Date.now() - COMPILE_LEASE_MS),
      ),
    )
    .get();
  if (running && !opts.force)
    throw new ApiError(409, "release_in_progress", `release ${running.version} of '${dataset.name}' is being compiled with the same samples; wait for it to publish`);

  const release = await claimVersion(env, dataset.id, now, parent?.id ?? null, high);
  const written: string[] = [];
  try {
    const manifest = await build(env, dataset, release, parent?.version ?? null, now, opts, written);
    await d1
      .update(schema.releases)
      .set({
        status: "published",
        rows: manifest.counts.rows,
        bytes: manifest.files.filter((f) => f.config === "default").reduce((n, f) => n + f.bytes, 0),
        publishedAt: Date.now(),
      })
      .where(and(eq(schema.releases.id, release.id), eq(schema.releases.status, "compiling")));
    return manifest;
  } catch (e) {
    const message = String((e as Error)?.message ?? e).slice(0, 1000);
    await d1.update(schema.releases).set({ status: "failed", error: message }).where(eq(schema.releases.id, release.id));
    // An unpublished version is never served; removing its objects keeps R2 from paying for them.
    if (written.length) await env.BUCKET.delete(written).catch(() => {});
    throw e;
  }
}

/** `YYYY-MM-DD`, or `YYYY-MM-DD.N` when that day already has releases; the unique index arbitrates races. */
async function claimVersion(env: Env, datasetId: string, now: Date, parentId: string | null, shardHigh: number): Promise<ReleaseRow> {
  const d1 = db(env);
  const day = now.toISOString().slice(0, 10);
  const taken = await d1
    .select({ version: schema.releases.version })
    .from(schema.releases)
    .where(and(eq(schema.releases.datasetId, datasetId), sql`(${schema.releases.version} = ${day} OR ${schema.releases.version} LIKE ${day + ".%"})`))
    .all();
  let n = 1;
  for (const { version } of taken) n = Math.max(n, version === day ? 2 : Number(version.slice(day.length + 1)) + 1 || n);
  for (let attempt = 0; attempt < MAX_VERSION_ATTEMPTS; attempt++, n++) {
    const version = n === 1 ? day : `${day}.${n}`;
    const row = await d1
      .insert(schema.releases)
      .values({ id: newId("rel"), datasetId, version, parentId, status: "compiling", shardHigh })
      .onConflictDoNothing()
      .returning()
      .get();
    if (row) return row;
  }
  throw new Error(`could not claim a release version for ${day} after ${MAX_VERSION_ATTEMPTS} attempts`);
}

/**
 * Every record of the dataset's shards in (low, high], in shard order, keeping only records
 * whose task owns the shard: a task that lost its lease may have left records in a shard that
 * is not its own, and those are counted by the shard that owns the task instead.
 */
export async function* ownedRecords(env: Env, datasetId: string, low: number, high: number): AsyncGenerator<{ shard: ShardRow; record: ShardLine }> {
  const d1 = db(env);
  let cursor = low;
  for (;;) {
    const page = await d1
      .select()
      .from(schema.shards)
      .where(and(eq(schema.shards.datasetId, datasetId), gt(schema.shards.id, cursor), lte(schema.shards.id, high)))
      .orderBy(asc(schema.shards.id))
      .limit(SHARD_PAGE)
      .all();
    for (const shard of page) {
      const owned = new Set(
        (
          await d1
            .select({ id: schema.tasks.id })
            .from(schema.tasks)
            .where(and(eq(schema.tasks.shardId, shard.id), eq(schema.tasks.state, "done")))
            .all()
        ).map((t) => t.id),
      );
      if (!owned.size) continue;
      const obj = await env.BUCKET.get(shard.key);
      // Publishing without it would silently drop samples the dataset claims to have.
      if (!obj) throw new Error(`shard ${shard.id} (${shard.key}) is indexed in D1 but missing from R2`);
      for await (const record of readGzipJsonl<ShardLine>(obj.body)) if (owned.has(record.task)) yield { shard, record };
    }
    if (page.length < SHARD_PAGE) return;
    cursor = page[page.length - 1]!.id;
  }
}

async function build(
  env: Env,
  dataset: DatasetRow,
  release: ReleaseRow,
  parentVersion: string | null,
  now: Date,
  opts: CompileOptions,
  written: string[],
): Promise<ReleaseManifest> {
  const rowsPerFile = Math.max(1, opts.rowsPerFile ?? DEFAULT_ROWS_PER_FILE);
  const partSize = opts.partSize ?? MIN_PART_SIZE;
  const key = (path: string) => keys.releaseFile(dataset.name, release.version, path);
  const stats = new StatsCollector();
  const candidates = { accepted: 0, rejected: 0, failed: 0 };
  const shardIds = new Set<number>();
  const jobIds = new Set<string>();

  // One rolling writer per config: SFT samples (`default`) and preference pairs (`pairs`).
  const writers = {
    default: { prefix: "data/train", file: null as GzipJsonlWriter | null, path: "", files: [] as (WrittenObject & { path: string })[] },
    pairs: { prefix: "data/pairs", file: null as GzipJsonlWriter | null, path: "", files: [] as (WrittenObject & { path: string })[] },
  };
  const write = async (config: keyof typeof writers, value: unknown) => {
    const w = writers[config];
    if (w.file && w.file.rows >= rowsPerFile) {
      w.files.push({ path: w.path, ...(await w.file.finish()) });
      w.file = null;
    }
    if (!w.file) {
      w.path = `${w.prefix}-${String(w.files.length).padStart(5, "0")}.jsonl.gz`;
      written.push(key(w.path));
      w.file = new GzipJsonlWriter(env.BUCKET, key(w.path), partSize);
    }
    await w.file.writeRecord(value);
  };
  let pairs = 0;
  const guards = await releaseGuards(env, dataset.id, await releaseRecipes(env, dataset.id, release.shardHigh), await acceptedEstimate(env, dataset.id, release.shardHigh));
  try {
    for await (const { shard, record } of ownedRecords(env, dataset.id, 0, release.shardHigh)) {
      shardIds.add(shard.id);
      jobIds.add(shard.jobId);
      if (isPair(record)) {
        if (!guards.keepPair(record)) continue;
        pairs++;
        await write("pairs", toPreferenceRecord(record));
        continue;
      }
      candidates[record.status]++;
      if (record.status !== "accepted") continue;
      if (!guards.keep(record)) continue;
      await write("default", toSftRecord(record));
      stats.add(record);
    }
    // The SFT config always has a (possibly empty) data file, so the card's data_files glob matches.
    for (const [config, w] of Object.entries(writers)) {
      if (!w.file && config === "default" && !w.files.length) {
        w.path = `${w.prefix}-00000.jsonl.gz`;
        written.push(key(w.path));
        w.file = new GzipJsonlWriter(env.BUCKET, key(w.path), partSize);
      }
      if (w.file) w.files.push({ path: w.path, ...(await w.file.finish()) });
      w.file = null;
    }
  } catch (e) {
    for (const w of Object.values(writers)) await w.file?.abort(e);
    throw e;
  }
  const dataFiles = [
    ...writers.default.files.map((f) => ({ ...f, config: "default" as const })),
    ...writers.pairs.files.map((f) => ({ ...f, config: "pairs" as const })),
  ];

  const [filters, recipes] = await Promise.all([filterCounts(env, dataset.id, release.shardHigh), recipeHashes(env, dataset.id, release.shardHigh)]);
  const removed = guards.removed();
  const result = { ...stats.result(filters), removed_at_compile: removed };

  const manifest: ReleaseManifest = {
    dataset: dataset.name,
    version: release.version,
    parent: parentVersion,
    created_at: now.toISOString(),
    files: dataFiles.map((f) => ({ path: f.path, config: f.config, rows: f.rows, bytes: f.bytes, sha256: f.sha256 })),
    counts: { rows: stats.rows, pairs, shards: shardIds.size, jobs: jobIds.size, candidates, removed_at_compile: removed },
    recipes,
    teachers: result.teachers,
    filters,
  };

  written.push(key("stats.json"));
  const statsFile = await putSmall(env.BUCKET, key("stats.json"), JSON.stringify(result, null, 2) + "\n", "application/json");
  manifest.files.push({ path: "stats.json", config: null, ...statsFile });

  written.push(key("README.md"));
  const card = await putSmall(env.BUCKET, key("README.md"), renderCard(dataset, manifest, result), "text/markdown; charset=utf-8");
  manifest.files.push({ path: "README.md", config: null, ...card });

  // Last: a manifest in R2 means every file it lists is already there.
  written.push(key("manifest.json"));
  await putSmall(env.BUCKET, key("manifest.json"), JSON.stringify(manifest, null, 2) + "\n", "application/json");
  await guards.finish();
  return manifest;
}

/** The recipes of the jobs whose shards the release covers. */
async function releaseRecipes(env: Env, datasetId: string, high: number): Promise<Recipe[]> {
  const rows = await env.DB.prepare(`SELECT recipe FROM jobs WHERE id IN (SELECT DISTINCT job_id FROM shards WHERE dataset_id = ?1 AND id <= ?2)`)
    .bind(datasetId, high)
    .all<{ recipe: string }>();
  return rows.results.map((r) => JSON.parse(r.recipe) as Recipe);
}

async function acceptedEstimate(env: Env, datasetId: string, high: number): Promise<number> {
  const row = await env.DB.prepare(`SELECT coalesce(sum(accepted), 0) AS n FROM shards WHERE dataset_id = ?1 AND id <= ?2`).bind(datasetId, high).first<{ n: number }>();
  return row?.n ?? 0;
}

/** Filter counts of the tasks whose records the release holds, summed in D1 rather than here. */
async function filterCounts(env: Env, datasetId: string, high: number): Promise<Record<string, number>> {
  const rows = await env.DB.prepare(
    `SELECT fc.key AS name, sum(fc.value) AS n
       FROM shards s JOIN tasks t ON t.shard_id = s.id AND t.state = 'done', json_each(t.filter_counts) fc
      WHERE s.dataset_id = ?1 AND s.id <= ?2
      GROUP BY fc.key ORDER BY fc.key`,
  )
    .bind(datasetId, high)
    .all<{ name: string; n: number }>();
  return Object.fromEntries(rows.results.map((r) => [r.name, r.n]));
}

async function recipeHashes(env: Env, datasetId: string, high: number): Promise<{ sha256: string; jobs: number }[]> {
  const rows = await env.DB.prepare(
    `SELECT recipe_sha256 AS sha256, count(*) AS jobs FROM jobs
      WHERE id IN (SELECT job_id FROM shards WHERE dataset_id = ?1 AND id <= ?2)
      GROUP BY recipe_sha256 ORDER BY jobs DESC, recipe_sha256`,
  )
    .bind(datasetId, high)
    .all<{ sha256: string; jobs: number }>();
  return rows.results;
}
