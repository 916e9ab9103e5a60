// The one place R2 object keys are spelled. Everything else asks these functions.

/** Uploaded input rows, in fixed-size chunks: input i is row (i % rowsPerChunk) of chunk i / rowsPerChunk. */
export const uploadChunk = (uploadId: string, chunk: number) => `uploads/${uploadId}/${String(chunk).padStart(6, "0")}.jsonl`;
export const uploadPrefix = (uploadId: string) => `uploads/${uploadId}/`;

/** A shard: every candidate one consumer batch wrote for one job, named by the batch's lease. */
export const shard = (jobId: string, leaseId: string) => `jobs/${jobId}/shards/${leaseId}.jsonl.gz`;

/** Release layout, as in SPEC.md. */
export const releasePrefix = (dataset: string, version: string) => `datasets/${dataset}/releases/${version}/`;
export const releaseFile = (dataset: string, version: string, path: string) => `${releasePrefix(dataset, version)}${path}`;
