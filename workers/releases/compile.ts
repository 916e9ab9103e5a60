// Compiles a release: what is new since the parent release, as data files (gzip JSONL and
// Parquet) plus stats.json, README.md (the dataset card) and manifest.json, listing the parent's
// data files next to its own. Large deltas run as a chain of steps, one per invocation (see
// compile-step.ts), each with bounded memory: shards are read one at a time, records stream
// through the writers into R2, and only counters and sketches are kept.
import { and, asc, desc, eq, gt, inArray, lte, sql } from "drizzle-orm";
import { foldDedupIndex } from "../../filters/dedup";
import type { TaskMessage } from "../../queues/task";
import * as keys from "../../r2/keys";
import { deleteKeys, listKeys } from "../../r2/bulk";
import type { DatasetRow } from "../datasets";
import { db, schema } from "../db";
import { intVar, type Env } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { gunzipJsonl, type ShardLine } from "../records";
import { MissingLayerError, PIECES } from "./authority";
import { DEFAULT_STEP_RECORDS, finalize, newStaging, runStep, type Staging } from "./compile-step";
import type { Config, Format } from "./data-files";
import type { Removed } from "./guards";
import type { TeacherShare } from "./stats";

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
  /** Records one compile step handles before the next invocation takes over (default 25,000). */
  stepRecords?: number;
  /** Compile even when nothing is new since the latest release. */
  force?: boolean;
  /** Rows per data file (a new `data/train-NNNNN.jsonl.gz` starts after this many). */
  rowsPerFile?: number;
  /** Multipart part size for data files; at least 5 MiB. */
  partSize?: number;
}

export type ShardRow = typeof schema.shards.$inferSelect;
/** A shard with the tasks that own it (`ownedShards`). */
export type OwnedShard = { shard: ShardRow; owned: Set<string> };
export type ReleaseRow = typeof schema.releases.$inferSelect;

/** Shard rows fetched from D1 per query while walking a range. */
const SHARD_PAGE = 200;
/** Bound parameters one D1 query may carry, with room for the others in it. */
const D1_PARAMS = 90;
/** A compile whose steps saved no progress for this long is presumed dead (one step takes seconds). */
export const COMPILE_LEASE_MS = 15 * 60 * 1000;
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

export type CompileStarted = { version: string; status: "compiling" };

/**
 * Compiles and publishes a release, every step in this invocation (tests, scripts). Returns null,
 * writing nothing, when no shard with accepted samples arrived since the latest published
 * release (unless `force`), so the daily cron can run any number of times.
 */
export async function compileRelease(env: Env, dataset: DatasetRow, opts: CompileOptions = {}): Promise<ReleaseManifest | null> {
  return (await startRelease(env, dataset, opts, false)) as ReleaseManifest | null;
}

/**
 * Starts a release. A small one (one step) is compiled and published here; a larger one runs
 * its first step here and continues step by step through `compile` queue messages, and this
 * answers `{version, status: "compiling"}`.
 */
export async function startRelease(env: Env, dataset: DatasetRow, opts: CompileOptions = {}, chain = true): Promise<ReleaseManifest | CompileStarted | null> {
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

  // A compile of the same samples is running while its steps keep saving progress. One that
  // made none for a lease (its chain lost, say) is marked failed and superseded by this one.
  const compiling = await d1
    .select()
    .from(schema.releases)
    .where(and(eq(schema.releases.datasetId, dataset.id), eq(schema.releases.status, "compiling"), sql`${schema.releases.shardHigh} >= ${high}`))
    .all();
  for (const other of compiling) {
    const progress = await env.BUCKET.head(keys.releaseStaging(dataset.id, other.id));
    const last = Math.max(other.createdAt, progress?.uploaded.getTime() ?? 0);
    if (Date.now() - last < COMPILE_LEASE_MS) {
      if (opts.force) continue;
      throw new ApiError(409, "release_in_progress", `release ${other.version} of '${dataset.name}' is being compiled with the same samples; wait for it to publish`);
    }
    const saved = progress ? await (await env.BUCKET.get(keys.releaseStaging(dataset.id, other.id)))?.json<Staging>() : null;
    await fail(env, dataset, other, saved ?? null, [], new Error(`no progress for ${COMPILE_LEASE_MS / 60_000} minutes; superseded by a new compile`));
  }

  const release = await claimVersion(env, dataset.id, now, parent?.id ?? null, high);
  let staging: Staging;
  try {
    staging = await newStaging(env, dataset, release, parent, now, { ...opts, stepRecords: opts.stepRecords ?? intVar(env.RELEASE_STEP_RECORDS, DEFAULT_STEP_RECORDS) });
  } catch (e) {
    await fail(env, dataset, release, null, [], e);
    throw e;
  }
  return runSteps(env, dataset, release, staging, null, chain);
}

/** A `compile` queue message: the next step of a release in progress. Stale or duplicate messages do nothing. */
export async function continueCompile(env: Env, msg: { dataset_id: string; release_id: string; step: number }): Promise<void> {
  const d1 = db(env);
  const release = await d1.select().from(schema.releases).where(eq(schema.releases.id, msg.release_id)).get();
  const dataset = await d1.select().from(schema.datasets).where(eq(schema.datasets.id, msg.dataset_id)).get();
  if (!release || !dataset || release.status !== "compiling") return;
  const obj = await env.BUCKET.get(keys.releaseStaging(dataset.id, release.id));
  if (!obj) return;
  const staging = await obj.json<Staging>();
  if (staging.step !== msg.step) return; // a duplicate of a step that already ran
  await runSteps(env, dataset, release, staging, obj.etag, true);
}

/** The compile of a release that failed for good (its messages dead-lettered). */
export async function abandonCompile(env: Env, msg: { dataset_id: string; release_id: string }): Promise<void> {
  const d1 = db(env);
  const release = await d1.select().from(schema.releases).where(eq(schema.releases.id, msg.release_id)).get();
  const dataset = await d1.select().from(schema.datasets).where(eq(schema.datasets.id, msg.dataset_id)).get();
  if (!release || !dataset || release.status !== "compiling") return;
  const obj = await env.BUCKET.get(keys.releaseStaging(dataset.id, release.id));
  await fail(env, dataset, release, obj ? await obj.json<Staging>() : null, [], new Error("the compile's steps were retried until the dead-letter queue"));
}

async function runSteps(env: Env, dataset: DatasetRow, release: ReleaseRow, staging: Staging, etag: string | null, chain: boolean): Promise<ReleaseManifest | CompileStarted> {
  const written: string[] = [];
  try {
    for (;;) {
      const ended = await runStep(env, dataset, staging, written);
      if (ended) break;
      if (!chain) continue;
      // Optimistic concurrency: of two deliveries of one step, only the first to save goes on.
      const saved = await env.BUCKET.put(keys.releaseStaging(dataset.id, release.id), JSON.stringify(staging), etag ? { onlyIf: { etagMatches: etag } } : {});
      if (!saved) return { version: release.version, status: "compiling" };
      await env.TASKS.send({ kind: "compile", dataset_id: dataset.id, release_id: release.id, step: staging.step } satisfies TaskMessage, { contentType: "json" });
      return { version: release.version, status: "compiling" };
    }
    const manifest = await finalize(env, dataset, staging, written);
    await db(env)
      .update(schema.releases)
      .set({
        status: "published",
        rows: manifest.counts.rows,
        bytes: manifest.files.filter((f) => f.config === "default").reduce((n, f) => n + f.bytes, 0),
        publishedAt: Date.now(),
      })
      .where(and(eq(schema.releases.id, release.id), eq(schema.releases.status, "compiling")));
    if (staging.index) await foldDedupIndex(env, dataset.id).catch((e) => console.error("dedup index fold failed", e));
    // A layer that a later step added to was written anew: its earlier versions are spent. They
    // are removed only now, so a step delivered twice never finds a layer it reads gone.
    const listed = new Set(staging.index?.layers.flatMap((l) => PIECES.map((p) => keys.authorityPiece(l.base, p))));
    const spent = [keys.releaseStaging(dataset.id, release.id), ...(await releaseLayers(env, dataset.id, release.version)).filter((k) => !listed.has(k))];
    await deleteKeys(env.BUCKET, spent);
    return manifest;
  } catch (e) {
    // A queued step delivered twice: if the other delivery went on and the compile ended, this
    // one can find a layer its staging lists already removed. It stops, and leaves the compile
    // as the other left it.
    if (e instanceof MissingLayerError && etag !== null && (await env.BUCKET.head(keys.releaseStaging(dataset.id, release.id)))?.etag !== etag) {
      return { version: release.version, status: "compiling" };
    }
    await fail(env, dataset, release, staging, written, e);
    throw e;
  }
}

/** Marks the release failed and removes every object it wrote: an unpublished version is never served. */
async function fail(env: Env, dataset: DatasetRow, release: ReleaseRow, staging: Staging | null, written: string[], e: unknown) {
  const message = String((e as Error)?.message ?? e).slice(0, 1000);
  await db(env).update(schema.releases).set({ status: "failed", error: message }).where(eq(schema.releases.id, release.id));
  const own = (staging?.own ?? []).map((f) => keys.releaseFile(dataset.name, release.version, f.path));
  const layers = await releaseLayers(env, dataset.id, release.version).catch(() => []);
  const all = [...new Set([...written, ...own, keys.releaseStaging(dataset.id, release.id), keys.authorityIndex(dataset.id, release.version), ...layers])];
  await deleteKeys(env.BUCKET, all, { bestEffort: true });
}

/** Every layer piece a release's compile has written to R2 (authority.ts), whichever step wrote it. */
function releaseLayers(env: Env, datasetId: string, version: string): Promise<string[]> {
  return listKeys(env.BUCKET, keys.authorityLayerPrefix(datasetId, version));
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
 * The dataset's shards in (low, high], in order, each with the tasks that own it: a task that
 * lost its lease may have left records in a shard that is not its own, and those are counted
 * by the shard that owns the task instead. Shards no task owns are skipped. A compile step
 * stops between shards by leaving the walk (the generator's `return`).
 */
export async function* ownedShards(
  env: Env,
  datasetId: string,
  low: number,
  high: number,
): AsyncGenerator<OwnedShard> {
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
    // The owners of a page of shards in one query a D1_PARAMS-sized slice, not one per shard.
    const owners = new Map<number, Set<string>>();
    for (let i = 0; i < page.length; i += D1_PARAMS) {
      const ids = page.slice(i, i + D1_PARAMS).map((s) => s.id);
      const rows = await d1
        .select({ id: schema.tasks.id, shardId: schema.tasks.shardId })
        .from(schema.tasks)
        .where(and(inArray(schema.tasks.shardId, ids), eq(schema.tasks.state, "done")))
        .all();
      for (const t of rows) owners.set(t.shardId!, (owners.get(t.shardId!) ?? new Set()).add(t.id));
    }
    for (const shard of page) {
      const owned = owners.get(shard.id);
      if (owned?.size) yield { shard, owned };
    }
    if (page.length < SHARD_PAGE) return;
    cursor = page[page.length - 1]!.id;
  }
}

/**
 * A shard's records whose task owns it. Read whole rather than streamed (a shard is at most a
 * few hundred records): a compile never leaves an R2 body half-read.
 */
export async function shardRecords(env: Env, shard: ShardRow, owned: Set<string>): Promise<ShardLine[]> {
  const obj = await env.BUCKET.get(shard.key);
  // Publishing without it would silently drop samples the dataset claims to have.
  if (!obj) throw new Error(`shard ${shard.id} (${shard.key}) is indexed in D1 but missing from R2`);
  return (await gunzipJsonl<ShardLine>(await obj.arrayBuffer())).filter((record) => owned.has(record.task));
}
