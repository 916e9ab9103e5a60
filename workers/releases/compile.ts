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
import { MIN_PART_SIZE, putSmall } from "./gzip-writer";
import { DataFiles, type Config, type Format } from "./data-files";
import { humanRecords, referenceProfile } from "./human";
import { StatsCollector, type TeacherShare } from "./stats";

export interface ManifestFile {
  path: string;
  /** Hugging Face config the file belongs to (`default`: SFT, `pairs`: preference, `rejected`); null for files that are not data. */
  config: Config | null;
  /** Data files: `jsonl` (gzip JSON lines) or `parquet`, the same rows in each. */
  format?: Format;
  /** Data files: the release whose R2 prefix stores the file (an ancestor's, when shared). */
  stored_in?: string;
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
    /** Rows from the dataset's human_upload (synthetic_depth 0). */
    human_rows: number;
    shards: number;
    jobs: number;
    candidates: { accepted: number; rejected: number; failed: number };
    /** Accepted samples the compile-time authority pass removed (dedup, decontamination). */
    removed_at_compile: Removed;
  };
  /** What this compile did relative to its parent. */
  changes: {
    from: string | null;
    added: { rows: number; human_rows: number; pairs: number; rejected: number; files: string[] };
    removed_at_compile: Removed;
    shared_files: string[];
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
    const manifest = await build(env, dataset, release, parent, now, opts, written);
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
  parent: ReleaseRow | undefined,
  now: Date,
  opts: CompileOptions,
  written: string[],
): Promise<ReleaseManifest> {
  const key = (path: string) => keys.releaseFile(dataset.name, release.version, path);
  // An incremental compile starts from its parent's saved state and shares its data files. A
  // parent without state (compiled before releases were incremental) means a full compile.
  const base = parent ? await loadParent(env, dataset, parent) : null;
  const low = base ? parent!.shardHigh : 0;
  const state: ReleaseState = base?.state ?? emptyState();
  const stats = new StatsCollector(state.stats);
  const files = new DataFiles(env.BUCKET, dataset.name, release.version, Math.max(1, opts.rowsPerFile ?? DEFAULT_ROWS_PER_FILE), opts.partSize ?? MIN_PART_SIZE);
  const added = { rows: 0, pairs: 0, rejected: 0, human: 0 };
  const candidates = { ...state.candidates };
  const jobIds = new Set(state.jobs);
  let shards = state.shards;
  const guards = await releaseGuards(env, dataset.id, await releaseRecipes(env, dataset.id, release.shardHigh), await acceptedEstimate(env, dataset.id, release.shardHigh), release.version, base ? parent!.version : null);
  try {
    let lastShard = -1;
    for await (const { shard, record } of ownedRecords(env, dataset.id, low, release.shardHigh)) {
      if (shard.id !== lastShard) {
        shards++;
        lastShard = shard.id;
      }
      jobIds.add(shard.jobId);
      if (isPair(record)) {
        if (!guards.keepPair(record)) continue;
        added.pairs++;
        await files.write("pairs", toPreferenceRecord(record));
        continue;
      }
      candidates[record.status]++;
      if (record.status === "rejected" && dataset.releaseRejected) {
        added.rejected++;
        await files.write("rejected", { ...toSftRecord(record), reason: record.reason ?? null });
      }
      if (record.status !== "accepted" || !guards.keep(record)) continue;
      added.rows++;
      await files.write("default", toSftRecord(record));
      stats.add(record);
    }
    // Human rows, once per upload: a release after the one that mixed them in shares those files.
    if (dataset.humanUpload && state.human_upload !== dataset.humanUpload) {
      for await (const record of humanRecords(env, dataset.humanUpload, now)) {
        added.human++;
        await files.write("default", toSftRecord(record));
        stats.add(record);
      }
      state.human_upload = dataset.humanUpload;
    }
    // The SFT config always has a data file of its own in a full compile, so the card's globs match.
    await files.finish(base ? [] : ["default"]);
  } catch (e) {
    await files.abort(e);
    written.push(...files.written);
    throw e;
  }
  written.push(...files.written);
  for (const f of files.files) if (f.format === "jsonl") stats.addCompressed(f.rawBytes ?? 0, f.bytes);

  const rows = state.rows + added.rows + added.human;
  const pairs = state.pairs + added.pairs;
  const humanRows = state.human_rows + added.human;
  if (dataset.minHumanShare !== null && rows > 0 && humanRows / rows < dataset.minHumanShare) {
    const need = Math.ceil((dataset.minHumanShare * rows - humanRows) / (1 - dataset.minHumanShare));
    throw new ApiError(
      409,
      "human_share_too_low",
      `human rows would be ${(humanRows / rows).toFixed(3)} of this release, below the dataset's min_human_share ${dataset.minHumanShare}; add about ${need} human rows (human_upload) or lower it`,
    );
  }

  const [filters, recipes, reference] = await Promise.all([
    filterCounts(env, dataset.id, release.shardHigh),
    recipeHashes(env, dataset.id, release.shardHigh),
    dataset.referenceUpload ? referenceProfile(env, dataset.id, dataset.referenceUpload) : Promise.resolve(null),
  ]);
  const removedNow = guards.removed();
  const removed: Removed = {
    decontaminate: state.removed.decontaminate + removedNow.decontaminate,
    dedup_exact: state.removed.dedup_exact + removedNow.dedup_exact,
    dedup_near: state.removed.dedup_near + removedNow.dedup_near,
  };
  const result = { ...stats.result(filters, { reference }), removed_at_compile: removed };

  const own: ManifestFile[] = files.files.map((f) => ({ path: f.path, config: f.config, format: f.format, rows: f.rows, bytes: f.bytes, sha256: f.sha256, stored_in: release.version }));
  const shared: ManifestFile[] = base ? base.manifest.files.filter((f) => f.config !== null).map((f) => ({ ...f, stored_in: f.stored_in ?? base.manifest.version })) : [];
  const manifest: ReleaseManifest = {
    dataset: dataset.name,
    version: release.version,
    parent: base?.manifest.version ?? null,
    created_at: now.toISOString(),
    files: [...shared, ...own],
    counts: { rows, pairs, human_rows: humanRows, shards, jobs: jobIds.size, candidates, removed_at_compile: removed },
    changes: {
      from: base?.manifest.version ?? null,
      added: { rows: added.rows + added.human, human_rows: added.human, pairs: added.pairs, rejected: added.rejected, files: own.map((f) => f.path) },
      removed_at_compile: removedNow,
      shared_files: shared.map((f) => f.path),
    },
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

  // The state the next release resumes from; written before the manifest, which publishes.
  const next: ReleaseState = {
    v: 1,
    rows,
    pairs,
    human_rows: humanRows,
    human_upload: state.human_upload,
    shards,
    jobs: [...jobIds],
    candidates,
    removed,
    stats: stats.state(),
  };
  written.push(keys.releaseState(dataset.id, release.version));
  await env.BUCKET.put(keys.releaseState(dataset.id, release.version), JSON.stringify(next));
  await guards.finish();

  // Last: a manifest in R2 means every file it lists is already there.
  written.push(key("manifest.json"));
  await putSmall(env.BUCKET, key("manifest.json"), JSON.stringify(manifest, null, 2) + "\n", "application/json");
  return manifest;
}

/** What a release saves for its child: everything counted so far, and the mergeable stats. */
export interface ReleaseState {
  v: 1;
  rows: number;
  pairs: number;
  human_rows: number;
  human_upload: string | null;
  shards: number;
  jobs: string[];
  candidates: { accepted: number; rejected: number; failed: number };
  removed: Removed;
  stats: string | undefined;
}

function emptyState(): ReleaseState {
  return {
    v: 1,
    rows: 0,
    pairs: 0,
    human_rows: 0,
    human_upload: null,
    shards: 0,
    jobs: [],
    candidates: { accepted: 0, rejected: 0, failed: 0 },
    removed: { decontaminate: 0, dedup_exact: 0, dedup_near: 0 },
    stats: undefined,
  };
}

/** The parent's manifest and saved state, or null when it has no state (then compile in full). */
async function loadParent(env: Env, dataset: DatasetRow, parent: ReleaseRow): Promise<{ manifest: ReleaseManifest; state: ReleaseState } | null> {
  const [m, st] = await Promise.all([env.BUCKET.get(keys.releaseFile(dataset.name, parent.version, "manifest.json")), env.BUCKET.get(keys.releaseState(dataset.id, parent.version))]);
  if (!m || !st) return null;
  const state = await st.json<ReleaseState>();
  return state?.v === 1 ? { manifest: await m.json<ReleaseManifest>(), state } : null;
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
