// One step of a release compile, and the step that publishes it.
//
// A compile walks the shards new since the parent release. A step reads shards until it has
// handled `stepRecords` records, closes the data files it wrote, and saves where it got to (the
// staging object: counts, file list, mergeable stats, the dedup authority index) in R2. So a day
// with a million new records becomes a chain of bounded invocations instead of one that would
// exceed the CPU limit, and every step's memory is bounded the same way. The last step mixes in
// human rows, checks the human share, and writes stats.json, the card, the next release's state
// and, last of all, the manifest.
import * as keys from "../../r2/keys";
import type { DatasetRow } from "../datasets";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { isPair, toPreferenceRecord, toSftRecord } from "../records";
import type { Recipe } from "../recipe";
import { renderCard } from "./card";
import type { ManifestFile, ReleaseManifest, ReleaseRow } from "./compile";
import { ownedRecords } from "./compile";
import { DataFiles, type Config } from "./data-files";
import { releaseGuards, type ReleaseGuards, type Removed } from "./guards";
import { MIN_PART_SIZE, putSmall } from "./gzip-writer";
import { humanRecords, referenceProfile } from "./human";
import { StatsCollector } from "./stats";

/** Records one compile step handles before it hands over to the next invocation. */
export const DEFAULT_STEP_RECORDS = 25_000;
const DEFAULT_ROWS_PER_FILE = 100_000;

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

/** Where a compile in progress got to (R2, between steps). */
export interface Staging {
  v: 1;
  release_id: string;
  version: string;
  created_at: string;
  /** Shards with id in (cursor, high] are still to be read. */
  cursor: number;
  high: number;
  step: number;
  parent: { version: string; files: ManifestFile[] } | null;
  /** Cumulative: the parent's state plus every step so far. */
  state: ReleaseState;
  own: ManifestFile[];
  seq: Partial<Record<Config, number>>;
  added: { rows: number; human_rows: number; pairs: number; rejected: number };
  removed_now: Removed;
  /** Where the authority dedup index to continue from is (the parent release's, then this compile's staging copy); null: none yet. */
  index_key: string | null;
  rows_per_file: number;
  part_size: number;
  step_records: number;
}

export function emptyState(): ReleaseState {
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

/** The parent's manifest and saved state, or null when it has none (then compile in full). */
export async function loadParent(env: Env, dataset: DatasetRow, parent: ReleaseRow): Promise<{ manifest: ReleaseManifest; state: ReleaseState } | null> {
  const [m, st] = await Promise.all([env.BUCKET.get(keys.releaseFile(dataset.name, parent.version, "manifest.json")), env.BUCKET.get(keys.releaseState(dataset.id, parent.version))]);
  if (!m || !st) return null;
  const state = await st.json<ReleaseState>();
  return state?.v === 1 ? { manifest: await m.json<ReleaseManifest>(), state } : null;
}

const zero = (): Removed => ({ decontaminate: 0, dedup_exact: 0, dedup_near: 0 });

export async function newStaging(
  env: Env,
  dataset: DatasetRow,
  release: ReleaseRow,
  parent: ReleaseRow | undefined,
  now: Date,
  opts: { rowsPerFile?: number; partSize?: number; stepRecords?: number },
): Promise<Staging> {
  // An incremental compile starts from its parent's saved state and shares its data files. A
  // parent without state (compiled before releases were incremental) means a full compile.
  const base = parent ? await loadParent(env, dataset, parent) : null;
  // The parent's index is read in place by the first step, never copied.
  const seed = base ? await env.BUCKET.head(keys.dedupReleaseIndex(dataset.id, base.manifest.version)) : null;
  return {
    v: 1,
    release_id: release.id,
    version: release.version,
    created_at: now.toISOString(),
    cursor: base ? parent!.shardHigh : 0,
    high: release.shardHigh,
    step: 0,
    parent: base ? { version: base.manifest.version, files: base.manifest.files.filter((f) => f.config !== null) } : null,
    state: base?.state ?? emptyState(),
    own: [],
    seq: {},
    added: { rows: 0, human_rows: 0, pairs: 0, rejected: 0 },
    removed_now: zero(),
    index_key: seed ? seed.key : null,
    rows_per_file: Math.max(1, opts.rowsPerFile ?? DEFAULT_ROWS_PER_FILE),
    part_size: opts.partSize ?? MIN_PART_SIZE,
    step_records: Math.max(1, opts.stepRecords ?? DEFAULT_STEP_RECORDS),
  };
}

/**
 * Reads shards from the staging cursor until `step_records` records are handled or the range
 * ends, writing their data files. Updates `staging` in place; returns whether the range ended.
 * Objects it wrote are listed in `written` (removed if the compile fails).
 */
export async function runStep(env: Env, dataset: DatasetRow, staging: Staging, written: string[]): Promise<boolean> {
  const state = staging.state;
  const stats = new StatsCollector(state.stats);
  const files = new DataFiles(env.BUCKET, dataset.name, staging.version, staging.rows_per_file, staging.part_size, staging.seq);
  let guards: ReleaseGuards | null = await releaseGuards(
    env,
    dataset.id,
    await releaseRecipes(env, dataset.id, staging.high),
    await acceptedEstimate(env, dataset.id, staging.high),
    staging.index_key ? await loadIndex(env, staging.index_key) : null,
  );
  let removed: Removed = { decontaminate: 0, dedup_exact: 0, dedup_near: 0 };
  let indexKey: string | null = null;
  const jobIds = new Set(state.jobs);
  let handled = 0;
  let stopped = false;
  let lastShard = -1;
  // Steps end between shards, so a shard is never split across two.
  const more = () => !(stopped = handled >= staging.step_records);
  try {
    for await (const { shard, record } of ownedRecords(env, dataset.id, staging.cursor, staging.high, more)) {
      if (shard.id !== lastShard) {
        state.shards++;
        lastShard = shard.id;
      }
      handled++;
      jobIds.add(shard.jobId);
      if (isPair(record)) {
        if (!guards.keepPair(record)) continue;
        staging.added.pairs++;
        await files.write("pairs", toPreferenceRecord(record));
        continue;
      }
      state.candidates[record.status]++;
      if (record.status === "rejected" && dataset.releaseRejected) {
        staging.added.rejected++;
        await files.write("rejected", { ...toSftRecord(record), reason: record.reason ?? null });
      }
      if (record.status !== "accepted" || !guards.keep(record)) continue;
      staging.added.rows++;
      await files.write("default", toSftRecord(record));
      stats.add(record);
    }
    if (!stopped) {
      staging.cursor = staging.high;
      // Human rows, once per upload: a release after the one that mixed them in shares those files.
      if (dataset.humanUpload && state.human_upload !== dataset.humanUpload) {
        for await (const record of humanRecords(env, dataset.humanUpload, new Date(staging.created_at))) {
          staging.added.human_rows++;
          await files.write("default", toSftRecord(record));
          stats.add(record);
        }
        state.human_upload = dataset.humanUpload;
      }
    } else if (lastShard !== -1) staging.cursor = Math.max(staging.cursor, lastShard);

    // The authority index is final once the last record is checked: save it now and let it go
    // before the data files close, whose last parts are the step's other large buffers.
    removed = guards.removed();
    const index = guards.index();
    guards = null;
    if (index) {
      // The last step writes the release's own index (the next release starts from it); earlier
      // steps write one for the step after them, under a key of their own.
      indexKey = stopped ? keys.releaseStagingIndex(dataset.id, staging.release_id, staging.step + 1) : keys.dedupReleaseIndex(dataset.id, staging.version);
      written.push(indexKey);
      await env.BUCKET.put(indexKey, index);
    }
    // A release with no data file at all still gets an (empty) SFT file, so the card's globs match.
    const nothing = !staging.parent?.files.length && !staging.own.length && !files.files.length;
    await files.finish(!stopped && nothing ? ["default"] : []);
  } catch (e) {
    await files.abort(e);
    written.push(...files.written);
    throw e;
  }
  written.push(...files.written);
  for (const f of files.files) if (f.format === "jsonl") stats.addCompressed(f.rawBytes ?? 0, f.bytes);

  for (const k of ["decontaminate", "dedup_exact", "dedup_near"] as const) {
    staging.removed_now[k] += removed[k];
    state.removed[k] += removed[k];
  }
  state.jobs = [...jobIds];
  state.stats = stats.state();
  staging.own.push(...files.files.map((f) => ({ path: f.path, config: f.config, format: f.format, rows: f.rows, bytes: f.bytes, sha256: f.sha256, stored_in: staging.version })));
  staging.seq = files.nextSeq();
  staging.step++;
  if (indexKey) staging.index_key = indexKey;
  return !stopped;
}

async function loadIndex(env: Env, key: string): Promise<Uint8Array | null> {
  const obj = await env.BUCKET.get(key);
  return obj ? new Uint8Array(await obj.arrayBuffer()) : null;
}

/** The last step: checks, stats, card, the next release's state, then the manifest (which publishes). */
export async function finalize(env: Env, dataset: DatasetRow, staging: Staging, written: string[]): Promise<ReleaseManifest> {
  const key = (path: string) => keys.releaseFile(dataset.name, staging.version, path);
  // The state's row counts are still the parent's: this release's additions are in `added`.
  const state = staging.state;
  const rows = state.rows + staging.added.rows + staging.added.human_rows;
  const pairs = state.pairs + staging.added.pairs;
  const humanRows = state.human_rows + staging.added.human_rows;
  if (dataset.minHumanShare !== null && rows > 0 && humanRows / rows < dataset.minHumanShare) {
    const need = Math.ceil((dataset.minHumanShare * rows - humanRows) / (1 - dataset.minHumanShare));
    throw new ApiError(
      409,
      "human_share_too_low",
      `human rows would be ${(humanRows / rows).toFixed(3)} of this release, below the dataset's min_human_share ${dataset.minHumanShare}; add about ${need} human rows (human_upload) or lower it`,
    );
  }

  const [filters, recipes, reference] = await Promise.all([
    filterCounts(env, dataset.id, staging.high),
    recipeHashes(env, dataset.id, staging.high),
    dataset.referenceUpload ? referenceProfile(env, dataset.id, dataset.referenceUpload) : Promise.resolve(null),
  ]);
  const result = { ...new StatsCollector(state.stats).result(filters, { reference }), removed_at_compile: state.removed };

  const shared = (staging.parent?.files ?? []).map((f) => ({ ...f, stored_in: f.stored_in ?? staging.parent!.version }));
  const manifest: ReleaseManifest = {
    dataset: dataset.name,
    version: staging.version,
    parent: staging.parent?.version ?? null,
    created_at: staging.created_at,
    files: [...shared, ...staging.own],
    counts: { rows, pairs, human_rows: humanRows, shards: state.shards, jobs: state.jobs.length, candidates: state.candidates, removed_at_compile: state.removed },
    changes: {
      from: staging.parent?.version ?? null,
      added: { ...staging.added, rows: staging.added.rows + staging.added.human_rows, files: staging.own.map((f) => f.path) },
      removed_at_compile: staging.removed_now,
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

  // What the next release resumes from; written before the manifest, which publishes.
  const next: ReleaseState = { ...state, rows, pairs, human_rows: humanRows };
  written.push(keys.releaseState(dataset.id, staging.version));
  await env.BUCKET.put(keys.releaseState(dataset.id, staging.version), JSON.stringify(next));

  // Last: a manifest in R2 means every file it lists is already there.
  written.push(key("manifest.json"));
  await putSmall(env.BUCKET, key("manifest.json"), JSON.stringify(manifest, null, 2) + "\n", "application/json");
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
