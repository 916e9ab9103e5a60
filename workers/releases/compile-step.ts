// One step of a release compile, and the step that publishes it.
//
// A compile walks the shards new since the parent release. A step reads shards until it has
// handled `stepRecords` records, closes the data files it wrote, and saves where it got to in R2
// (the staging object: counts, file list, mergeable stats, and the layers of the dedup authority
// index: authority.ts). So a day
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
import { ownedShards, shardRecords, type OwnedShard, type ShardRow } from "./compile";
import { DataFiles, type Config } from "./data-files";
import { KEEP, PIECES, StepDedup, type AuthorityIndex, type LayerStore } from "./authority";
import { releaseGuards, type ReleaseGuards, type Removed } from "./guards";
import { fetchSegmentHead, readSegment, readSegmentBody, type Segment, type SegmentHead } from "./segment";
import { MIN_PART_SIZE, putSmall } from "./gzip-writer";
import { putChunks, slices } from "./object-sink";
import { readAhead, READ_AHEAD_BYTES } from "./read-ahead";
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
  /**
   * The parent's data files (shared), and its filter counts with the shard mark they run to, so
   * only the new shards' are counted in D1 (both absent in stagings saved before they were kept).
   */
  parent: { version: string; files: ManifestFile[]; filters?: Record<string, number>; shard_high?: number } | null;
  /** Cumulative: the parent's state plus every step so far. */
  state: ReleaseState;
  own: ManifestFile[];
  seq: Partial<Record<Config, number>>;
  added: { rows: number; human_rows: number; pairs: number; rejected: number };
  removed_now: Removed;
  /** The authority dedup index to continue from (the parent release's, then the last step's); null: none yet. */
  index: AuthorityIndex | null;
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
  // The parent's index layers are read in place, never copied.
  const index = base ? await releaseIndex(env, dataset.id, base.manifest.version) : null;
  return {
    v: 1,
    release_id: release.id,
    version: release.version,
    created_at: now.toISOString(),
    cursor: base ? parent!.shardHigh : 0,
    high: release.shardHigh,
    step: 0,
    parent: base ? { version: base.manifest.version, files: base.manifest.files.filter((f) => f.config !== null), filters: base.manifest.filters, shard_high: parent!.shardHigh } : null,
    state: base?.state ?? emptyState(),
    own: [],
    seq: {},
    added: { rows: 0, human_rows: 0, pairs: 0, rejected: 0 },
    removed_now: zero(),
    index,
    rows_per_file: Math.max(1, opts.rowsPerFile ?? DEFAULT_ROWS_PER_FILE),
    part_size: opts.partSize ?? MIN_PART_SIZE,
    step_records: Math.max(1, opts.stepRecords ?? DEFAULT_STEP_RECORDS),
  };
}

/**
 * Reads shards from the staging cursor until `step_records` records are handled or the range
 * ends, writing their data files. Updates `staging` in place; returns whether the range ended.
 * Objects it wrote are listed in `written` (removed if the compile fails).
 *
 * With dedup, in two passes over the step's shards (authority.ts): the first takes the keys of
 * its accepted records, decides them against the stored index piece by piece, and saves the
 * index with the kept ones added; the second writes what was kept. So no step holds the
 * dataset's whole index, nor its keys while it writes files.
 */
export async function runStep(env: Env, dataset: DatasetRow, staging: Staging, written: string[]): Promise<boolean> {
  const state = staging.state;
  const guards = await releaseGuards(env, dataset.id, await releaseRecipes(env, dataset.id, staging.high));
  const dd = guards.dedup ? new StepDedup(guards.dedup, Math.max(1024, await acceptedEstimate(env, dataset.id, staging.high))) : null;
  const store = layerStore(env);
  // A shard's segment stands in for it when it was checked as this compile checks (segment.ts).
  const headOf = (shard: ShardRow, owned: Set<string>) => usableSegment(env, shard, owned, guards, dataset.releaseRejected, "head");
  const segmentOf = (shard: ShardRow, owned: Set<string>, head: SegmentHead | "whole") => usableSegment(env, shard, owned, guards, dataset.releaseRejected, head) as Promise<Segment | null>;

  // Pass 1 (dedup only): the step's shards, ending between shards after `step_records` records,
  // and each accepted record's decontamination verdict and dedup keys, in release order.
  let stopped = false;
  let end = staging.high;
  const clean: boolean[] = [];
  /**
   * Shards whose keys came from their segment, with its head less the keys (the step's dedup
   * holds those): pass 2 reads the rest of the segment, and copies it if nothing of it was dropped.
   */
  const segmented = new Map<number, SegmentHead>();
  let index: AuthorityIndex | null = null;
  if (dd) {
    let handled = 0;
    let last = -1;
    // Heads are read a few shards ahead (read-ahead.ts); a step that stops leaves those unused.
    for await (const [{ shard, owned }, seg] of readAhead(ownedShards(env, dataset.id, staging.cursor, staging.high), (s) => headOf(s.shard, s.owned))) {
      if ((stopped = handled >= staging.step_records)) break;
      last = shard.id;
      if (seg) {
        segmented.set(shard.id, { meta: seg.meta, keys: new Uint32Array(0), headBytes: seg.headBytes });
        handled += segmentCost(seg);
        for (let i = 0; i < seg.meta.rows; i++) {
          clean.push(true);
          dd.addKeys(seg.keys, i);
        }
        continue;
      }
      for (const record of await shardRecords(env, shard, owned)) {
        handled++;
        if (isPair(record) || record.status !== "accepted") continue;
        const ok = guards.clean(record);
        clean.push(ok);
        if (ok) dd.add(guards.dedup!.text(record));
      }
    }
    if (stopped) end = last;
    await dd.decide(staging.index && { index: staging.index, store });
    // The index is saved before the files are written, so the step's keys are let go before
    // the files' parts are buffered. A layer this step writes is named after the step: a step
    // delivered again reads the layers its staging lists, never its own, and writes the same
    // bytes under the same names. The last step also writes the list of layers, which the next
    // release starts from.
    index = await dd.save(staging.index, store, (layer) => {
      const base = keys.authorityLayerBase(dataset.id, staging.version, staging.step, layer);
      written.push(...PIECES.map((p) => keys.authorityPiece(base, p)));
      return base;
    });
    if (!stopped) {
      written.push(keys.authorityIndex(dataset.id, staging.version));
      await env.BUCKET.put(keys.authorityIndex(dataset.id, staging.version), JSON.stringify(index));
    }
  }

  // Pass 2 (the only pass without dedup): the same shards again, writing what stays.
  const stats = new StatsCollector(state.stats);
  const files = new DataFiles(env.BUCKET, dataset.name, staging.version, staging.rows_per_file, staging.part_size, staging.seq);
  const jobIds = new Set(state.jobs);
  let handled = 0;
  let lastShard = -1;
  let accepted = 0;
  let keyed = 0;
  // With dedup, pass 1 chose the step's shards (up to `end`); without, this pass stops the step.
  const segmentFor = ({ shard, owned }: OwnedShard) => {
    const head = dd ? segmented.get(shard.id) : "whole";
    return head ? segmentOf(shard, owned, head) : Promise.resolve(null);
  };
  const allKept = (from: number, n: number) => {
    for (let i = 0; i < n; i++) if (dd!.verdict(from + i) !== KEEP) return false;
    return true;
  };
  try {
    // Bodies read ahead are held until copied: bounded by their size too (known from the heads).
    const bodyBytes = ({ shard }: OwnedShard) => segmented.get(shard.id)?.meta.body_bytes ?? 0;
    for await (const [{ shard, owned }, seg] of readAhead(ownedShards(env, dataset.id, staging.cursor, end), segmentFor, { bytes: READ_AHEAD_BYTES, weight: bodyBytes })) {
      if (!dd && (stopped = handled >= staging.step_records)) break;
      state.shards++;
      lastShard = shard.id;
      jobIds.add(shard.jobId);
      if (seg && (!dd || allKept(keyed, seg.meta.rows))) {
        // Nothing of this shard is dropped: its rows are copied as the consumer encoded them.
        const c = seg.meta.counts;
        handled += segmentCost(seg);
        state.candidates.accepted += c.accepted;
        state.candidates.rejected += c.rejected;
        state.candidates.failed += c.failed;
        staging.added.rows += seg.meta.rows;
        accepted += seg.meta.rows;
        if (dd) keyed += seg.meta.rows;
        await files.append("default", { rows: seg.meta.rows, jsonl: seg.jsonl, parquet: seg.parquet });
        stats.merge(seg.stats);
        continue;
      }
      for (const record of await shardRecords(env, shard, owned)) {
        handled++;
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
        if (record.status !== "accepted") continue;
        const keep = dd ? clean[accepted++]! && dd.verdict(keyed++) === KEEP : guards.clean(record);
        if (!keep) continue;
        staging.added.rows++;
        await files.write("default", toSftRecord(record));
        stats.add(record);
      }
    }
    // Both passes read the same immutable shards; if they ever disagreed, the verdicts would
    // belong to other records, so the release fails rather than publish them.
    if (dd && (accepted !== clean.length || keyed !== dd.size))
      throw new Error(`compile step ${staging.step}: the second pass read ${accepted} accepted records, the first ${clean.length}`);
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

  const removed: Removed = { decontaminate: guards.decontaminated(), dedup_exact: dd?.dropped.exact ?? 0, dedup_near: dd?.dropped.near ?? 0 };
  for (const k of ["decontaminate", "dedup_exact", "dedup_near"] as const) {
    staging.removed_now[k] += removed[k];
    state.removed[k] += removed[k];
  }
  state.jobs = [...jobIds];
  state.stats = stats.state();
  staging.own.push(...files.files.map((f) => ({ path: f.path, config: f.config, format: f.format, rows: f.rows, bytes: f.bytes, sha256: f.sha256, stored_in: staging.version })));
  staging.seq = files.nextSeq();
  staging.step++;
  if (index) staging.index = index;
  return !stopped;
}

/**
 * A segment's records weigh this much of a step's `step_records`: copying them costs about a
 * tenth of reading a shard's (bench/release), and what a step holds for them is their dedup keys
 * (72 bytes a row: 18 MB for the 250,000 rows of a default step). Fewer, larger steps matter
 * because each step reads every layer of the dedup index once more, to decide.
 */
const SEGMENT_RECORD_COST = 0.1;
const segmentCost = (seg: SegmentHead) => {
  const c = seg.meta.counts;
  return (c.accepted + c.rejected + c.failed + c.pairs) * SEGMENT_RECORD_COST;
};

/**
 * The shard's segment if this compile may copy it instead of reading the shard: it belongs to
 * this very shard, every task in it owns the shard, nothing in the shard needs a row of its own
 * (pairs; rejected rows when the dataset releases them), and its rows were dedup-keyed and
 * decontaminated exactly as this compile would. Otherwise null, and the shard is read.
 *
 * `what` it reads: the head (a dedup pass), the whole segment (a compile without dedup), or
 * the body after a head the dedup pass read.
 */
async function usableSegment(env: Env, shard: ShardRow, owned: Set<string>, guards: ReleaseGuards, releaseRejected: boolean, what: "head" | "whole" | SegmentHead): Promise<Segment | SegmentHead | null> {
  const key = keys.shardSegment(shard.key);
  const bytesOf = async (range?: R2Range) => {
    const obj = await env.BUCKET.get(key, range ? { range } : undefined);
    return obj ? new Uint8Array(await obj.arrayBuffer()) : null;
  };
  let seg: SegmentHead | null;
  if (what === "head") {
    // The first pass needs only the head: a range read, and a second one if it is longer.
    seg = await fetchSegmentHead(bytesOf);
  } else if (what === "whole") {
    const bytes = await bytesOf();
    seg = bytes && readSegment(bytes);
  } else {
    // The second pass, after the first read the head: the rest of the segment. The range has
    // an explicit length: an offset-only range made local R2 (Miniflare) twice as slow.
    const body = await bytesOf({ offset: what.headBytes, length: what.meta.body_bytes });
    seg = body && readSegmentBody(what, body);
  }
  if (!seg) return null;
  const m = seg.meta;
  const fits =
    m.shard_bytes === shard.bytes &&
    m.tasks.every((t) => owned.has(t)) &&
    m.counts.pairs === 0 &&
    !(releaseRejected && m.counts.rejected > 0) &&
    (!guards.dedup || guards.dedup.on === m.dedup_on) &&
    (guards.decontamination === null || guards.decontamination === m.decontaminated);
  return fits ? seg : null;
}

/** Layer pieces of authority indexes in R2 (authority.ts). */
export function layerStore(env: Env): LayerStore {
  return {
    async load(base, piece) {
      const obj = await env.BUCKET.get(keys.authorityPiece(base, piece));
      return obj ? new Uint8Array(await obj.arrayBuffer()) : null;
    },
    async store(base, piece, bytes) {
      await putChunks(env.BUCKET, keys.authorityPiece(base, piece), slices(bytes), bytes.byteLength);
    },
  };
}

/**
 * A published release's authority index, or null when it has none (compiled without dedup). A
 * release compiled before the index had layers kept its pieces whole under its index base: read
 * as one full layer.
 */
export async function releaseIndex(env: Env, datasetId: string, version: string): Promise<AuthorityIndex | null> {
  const obj = await env.BUCKET.get(keys.authorityIndex(datasetId, version));
  if (obj) return obj.json<AuthorityIndex>();
  const base = keys.dedupReleaseIndexBase(datasetId, version);
  return (await env.BUCKET.head(keys.authorityPiece(base, PIECES[0]!))) ? { v: 2, layers: [{ base, count: 0, capacity: 0 }] } : null;
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

  // The parent's filter counts plus the new shards': D1 reads grow with the day's shards, not the dataset's.
  const p = staging.parent;
  const carried = p?.filters && p.shard_high !== undefined ? { since: p.shard_high, counts: p.filters } : { since: 0, counts: {} };
  const [filters, recipes, reference] = await Promise.all([
    filterCounts(env, dataset.id, carried.since, staging.high).then((fresh) => addCounts(carried.counts, fresh)),
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

/** Accepted records in the dataset's shards up to `high`: what sizes a new dedup index. */
export async function acceptedEstimate(env: Env, datasetId: string, high: number): Promise<number> {
  const row = await env.DB.prepare(`SELECT coalesce(sum(accepted), 0) AS n FROM shards WHERE dataset_id = ?1 AND id <= ?2`).bind(datasetId, high).first<{ n: number }>();
  return row?.n ?? 0;
}

/** Filter counts of the tasks whose records shards in (low, high] hold, summed in D1 rather than here. */
async function filterCounts(env: Env, datasetId: string, low: number, high: number): Promise<Record<string, number>> {
  const rows = await env.DB.prepare(
    `SELECT fc.key AS name, sum(fc.value) AS n
       FROM shards s JOIN tasks t ON t.shard_id = s.id AND t.state = 'done', json_each(t.filter_counts) fc
      WHERE s.dataset_id = ?1 AND s.id > ?2 AND s.id <= ?3
      GROUP BY fc.key ORDER BY fc.key`,
  )
    .bind(datasetId, low, high)
    .all<{ name: string; n: number }>();
  return Object.fromEntries(rows.results.map((r) => [r.name, r.n]));
}

/** `a` plus `b`, keys in order (as the manifest lists them). */
function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const sum: Record<string, number> = { ...a };
  for (const [k, n] of Object.entries(b)) sum[k] = (sum[k] ?? 0) + n;
  return Object.fromEntries(Object.entries(sum).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
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
