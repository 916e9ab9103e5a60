// Bench-only: the storage work of a release compile without the compile (bench/release's "I/O
// floor"). Under wrangler dev, local R2 runs in the Worker's own workerd thread, so its reads and
// writes are part of the compile's wall time; this measures how much, on the same data in the
// same run. It does what the compile's steps do to R2, in the same order and sizes:
// - per step of `stepRows` rows, every segment's head (a 32 KiB range read, a second one when
//   longer), then every body (an exact range read), four reads ahead (read-ahead.ts);
// - the bodies' gzip and Parquet bytes into data files of `rowsPerFile` rows, through ObjectSink
//   (multipart parts, sha256);
// - the dedup index in layers of the compile's size (nine pieces each, 32 bits a key): every layer
//   so far read, then one new layer written, per step (authority.ts).
// It decides nothing, merges no statistics, and writes no valid file (no gzip header or Parquet
// footer). With `least`, it does the least R2 work any compile of the same release needs: each
// segment read whole in one get, the data files and the index written once. It is reached through
// POST /__bench/io-floor (bench-seed.ts), behind the same gate.
import { deleteKeys, listKeys } from "../r2/bulk";
import * as keys from "../r2/keys";
import type { DatasetRow } from "./datasets";
import type { Env } from "./env";
import { layerBloomOf, newLayerCapacity, PIECES } from "./releases/authority";
import { ownedShards, type OwnedShard } from "./releases/compile";
import { acceptedEstimate } from "./releases/compile-step";
import { MIN_PART_SIZE, ObjectSink, putChunks, slices } from "./releases/object-sink";
import { readAhead, READ_AHEAD_BYTES } from "./releases/read-ahead";
import { fetchSegmentHead, readSegment, readSegmentBody, type Segment, type SegmentHead } from "./releases/segment";

export interface IoFloor {
  steps: number;
  rows: number;
  gets: number;
  bytesRead: number;
  bytesPut: number;
  ms: number;
}

export async function ioFloor(env: Env, ds: DatasetRow, opts: { stepRows: number; rowsPerFile: number; least?: boolean }): Promise<IoFloor> {
  const t0 = Date.now();
  const out: IoFloor = { steps: 0, rows: 0, gets: 0, bytesRead: 0, bytesPut: 0, ms: 0 };
  const prefix = keys.benchIoFloorPrefix(ds.id, t0);
  const get = async (key: string, range?: R2Range) => {
    const obj = await env.BUCKET.get(key, range ? { range } : undefined);
    out.gets++;
    const bytes = obj ? new Uint8Array(await obj.arrayBuffer()) : null;
    out.bytesRead += bytes?.byteLength ?? 0;
    return bytes;
  };
  const head = ({ shard }: OwnedShard) => fetchSegmentHead((range) => get(keys.shardSegment(shard.key), range));

  // A layer of the index the compile keeps: nine pieces, each sized as a new layer is (authority.ts).
  const capacity = await acceptedEstimate(env, ds.id, Number.MAX_SAFE_INTEGER);
  let room = 0;
  const pieces = PIECES.map((p) => {
    const bloom = layerBloomOf(p, newLayerCapacity(0, Math.max(1024, capacity)));
    bloom.add(0, 1); // a piece's first layer opens with its first key
    room = bloom.layers[0]!.capacity;
    return new Uint8Array(bloom.words() * 4);
  });
  /** Layers written so far, and samples in the last. */
  let layers = 0;
  let open = 0;

  let files = 0;
  let sinks: ObjectSink[] | null = null;
  let fileRows = 0;
  /** Ends the open pair of files, if any; the next pair gets the next number. */
  const closeFiles = async () => {
    if (!sinks) return;
    for (const s of sinks) out.bytesPut += (await s.close()).bytes;
    sinks = null;
    fileRows = 0;
    files++;
  };

  const writeRows = async (seg: Segment) => {
    sinks ??= ["jsonl", "parquet"].map((f) => new ObjectSink(env.BUCKET, `${prefix}data/${files}.${f}`, MIN_PART_SIZE, {}));
    await sinks[0]!.write(seg.jsonl.bytes);
    await sinks[1]!.write(seg.parquet.bytes);
    fileRows += seg.meta.rows;
    out.rows += seg.meta.rows;
    if (fileRows >= opts.rowsPerFile) await closeFiles();
  };
  /** Adds `rows` samples as a step does: into the last layer, read again and rewritten, while it has room, or else a new one. */
  const saveLayer = async (rows: number) => {
    const into = layers && open + rows <= room ? layers - 1 : layers;
    if (into < layers) for (const p of PIECES) await get(`${prefix}index/${into}/${p}`);
    for (const [i, p] of PIECES.entries()) {
      await putChunks(env.BUCKET, `${prefix}index/${into}/${p}`, slices(pieces[i]!), pieces[i]!.byteLength);
      out.bytesPut += pieces[i]!.byteLength;
    }
    open = into < layers ? open + rows : rows;
    layers = into + 1;
  };

  if (opts.least) {
    const whole = async ({ shard }: OwnedShard) => {
      const bytes = await get(keys.shardSegment(shard.key));
      return bytes && readSegment(bytes);
    };
    for await (const [, seg] of readAhead(ownedShards(env, ds.id, 0, Number.MAX_SAFE_INTEGER), whole)) if (seg) await writeRows(seg);
    await closeFiles();
    for (let left = out.rows; left > 0; left -= room) await saveLayer(Math.min(room, left));
    out.steps = 1;
  }

  let cursor = 0;
  for (let more = !opts.least; more; out.steps++) {
    // Pass 1: the step's heads.
    const step: { shard: OwnedShard; head: SegmentHead }[] = [];
    let rows = 0;
    more = false;
    for await (const [s, h] of readAhead(ownedShards(env, ds.id, cursor, Number.MAX_SAFE_INTEGER), head)) {
      if (rows >= opts.stepRows) {
        more = true;
        break;
      }
      if (!h) continue;
      step.push({ shard: s, head: { ...h, keys: new Uint32Array(0) } });
      rows += h.meta.rows;
      cursor = s.shard.id;
    }
    // The index: every layer so far read for deciding (none in step 0), then the step's samples saved.
    for (const p of PIECES) for (let l = 0; l < layers; l++) await get(`${prefix}index/${l}/${p}`);
    await saveLayer(rows);
    // Pass 2: the bodies, their bytes into the data files.
    const byId = new Map(step.map((x) => [x.shard.shard.id, x.head]));
    const weight = ({ shard }: OwnedShard) => byId.get(shard.id)!.meta.body_bytes;
    const body = async ({ shard }: OwnedShard) => {
      const h = byId.get(shard.id)!;
      const bytes = await get(keys.shardSegment(shard.key), { offset: h.headBytes, length: h.meta.body_bytes });
      return bytes && readSegmentBody(h, bytes);
    };
    async function* listed() {
      for (const x of step) yield x.shard;
    }
    for await (const [, seg] of readAhead(listed(), body, { bytes: READ_AHEAD_BYTES, weight })) if (seg) await writeRows(seg);
    // A step closes its files, as the compile's steps do.
    await closeFiles();
  }
  out.ms = Date.now() - t0;
  // Leave nothing behind.
  await deleteKeys(env.BUCKET, await listKeys(env.BUCKET, prefix));
  return out;
}
