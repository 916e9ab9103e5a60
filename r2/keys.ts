// The one place R2 object keys are spelled. Everything else asks these functions.

/** Uploaded input rows, in fixed-size chunks: input i is row (i % rowsPerChunk) of chunk i / rowsPerChunk. */
export const uploadChunk = (uploadId: string, chunk: number) => `uploads/${uploadId}/${String(chunk).padStart(6, "0")}.jsonl`;
export const uploadPrefix = (uploadId: string) => `uploads/${uploadId}/`;

/** A shard: every candidate one consumer batch wrote for one job, named by the batch's lease. */
export const shard = (jobId: string, leaseId: string) => `jobs/${jobId}/shards/${leaseId}.jsonl.gz`;
/** A shard's release segment (workers/releases/segment.ts), beside it. */
export const shardSegment = (shardKey: string) => shardKey.replace(/\.jsonl\.gz$/, "") + ".segment.bin";
/** Everything stored for a shard: removed together when a lost lease leaves it an orphan. */
export const shardObjects = (shardKey: string) => [shardKey, shardSegment(shardKey)];

/** Release layout, as in SPEC.md. */
export const releasePrefix = (dataset: string, version: string) => `datasets/${dataset}/releases/${version}/`;
export const releaseFile = (dataset: string, version: string, path: string) => `${releasePrefix(dataset, version)}${path}`;

/** Dataset-wide dedup index (filters/dedup.ts): immutable snapshots and per-batch deltas. */
export const dedupIndexPrefix = (datasetId: string) => `datasets/${datasetId}/index/dedup/`;
export const dedupSnapshot = (datasetId: string, name: string) => `${dedupIndexPrefix(datasetId)}snap-${name}.bin`;
export const dedupDelta = (datasetId: string, name: string) => `${dedupIndexPrefix(datasetId)}delta-${name}.bin`;
/**
 * The authority dedup index as of a release (an incremental compile starts from it): `index.json`
 * lists its layers, and each layer is stored in pieces (exact keys, then one per LSH band) so that
 * a compile step holds one piece at a time: `${layer base}${piece}.bin`. A release's own layers
 * are under `layers/`; the ones it shares with its parent stay under the parent's.
 */
export const dedupReleaseIndexBase = (datasetId: string, version: string) => `${dedupIndexPrefix(datasetId)}release-${version}.`;
export const authorityIndex = (datasetId: string, version: string) => `${dedupReleaseIndexBase(datasetId, version)}index.json`;
/** Ends in "/", so one release's prefix is never the start of another's (`2026-11-24.` vs `2026-11-24.2.`). */
export const authorityLayerPrefix = (datasetId: string, version: string) => `${dedupReleaseIndexBase(datasetId, version)}layers/`;
/** A layer as written by one step: a step that adds to a layer writes it anew, under its own name. */
export const authorityLayerBase = (datasetId: string, version: string, step: number, layer: number) => `${authorityLayerPrefix(datasetId, version)}s${step}-L${layer}.`;
export const authorityPiece = (base: string, piece: string) => `${base}${piece}.bin`;

/** What an incremental compile resumes from: the parent release's mergeable stats and counts. */
export const releaseState = (datasetId: string, version: string) => `datasets/${datasetId}/index/release-state-${version}.json`;
/** A human reference set's drift profile, built once per upload. */
export const referenceProfile = (datasetId: string, uploadId: string) => `datasets/${datasetId}/index/reference-${uploadId}.bin`;
/** A compile in progress: where it got to, and the layers of its dedup authority index, between steps. */
export const releaseStaging = (datasetId: string, releaseId: string) => `datasets/${datasetId}/index/staging-${releaseId}.json`;

/** Bench-only scratch objects of one I/O floor run (workers/bench-io-floor.ts), removed when it ends. */
export const benchIoFloorPrefix = (datasetId: string, run: number) => `bench/io-floor/${datasetId}/${run}/`;
