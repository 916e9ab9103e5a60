// A shard's release segment: what the release compile needs from a shard's accepted records,
// prepared by the consumer that wrote the shard, so that compiling them is copying bytes.
//
// The consumer already holds the records in memory when it writes a shard; turning them into
// release rows costs it ~50 µs a record (JSON, gzip, Parquet encoding, dedup keys, statistics:
// `npm run bench:segment`), against the seconds the model took to write them. Done at compile
// instead, that work was nearly all of a compile's time (BENCHMARKS.md). So beside each shard
// the consumer writes one object holding, for the `default` config:
//
// - the rows as JSONL (toSftRecord), compressed into a DEFLATE piece that can be followed by
//   others: a release file's gzip stream is a run of such pieces (gzip-writer.ts);
// - the rows as one Parquet row group, encoded, with its metadata: a Parquet file's row groups
//   are self-contained byte ranges the footer points at, so a file can be stitched from them
//   with the offsets moved (parquet-writer.ts `appendRowGroup`);
// - each row's dedup keys (filters/dedup `sampleKeys`) and the hash of its assistant text;
// - the rows' statistics, mergeable (stats.ts `segmentStats`);
// - what it was checked against: the tasks it holds, the dedup text it keyed, and the
//   decontamination the recipe ran (a signature of its options).
//
// The compile trusts a segment only when all of that still holds (compile-step.ts): every task
// in it owns the shard, the release dedups the same text, and decontaminates with the same
// options. Otherwise, or when a record must be dropped, it reads the shard as before: the
// segment is a cache of work, never a second source of truth.
import { ByteWriter as PqBytes, ParquetWriter as RowGroupWriter } from "hyparquet-writer";
import type { RowGroup } from "hyparquet";
import { KEY_WORDS, dedupText, sampleKeys, splitMessages } from "../../filters/dedup";
import type { DecontaminateOptions } from "../../filters/decontaminate";
import type { FilterSpec } from "../../filters";
import * as keys from "../../r2/keys";
import type { Env } from "../env";
import { canonicalJson } from "../ids";
import { isPair, toSftRecord, type CandidateRecord, type ShardLine } from "../records";
import { deflatePiece, type DeflatePiece } from "./gzip-writer";
import { columnData, parquetSchema } from "./parquet-writer";
import { ByteReader, ByteWriter, fromBase64, toBase64 } from "./sketch";
import { segmentStats } from "./stats";

const MAGIC = 0x31474553; // "SEG1"

export type DedupOn = "completion" | "sample";

export interface SegmentMeta {
  v: 1;
  /** The shard object's size: a segment belongs to exactly the shard it was written with. */
  shard_bytes: number;
  /** Tasks with records in the shard: the compile uses the segment only if all own it. */
  tasks: string[];
  /** Every record of the shard by status, and its preference pairs (which the segment does not hold). */
  counts: { accepted: number; rejected: number; failed: number; pairs: number };
  /** `default` rows (the accepted records, in shard order), their uncompressed JSONL bytes and its CRC-32. */
  rows: number;
  raw_bytes: number;
  crc32: number;
  /** The dedup text the keys were taken from (filters/dedup `on`). */
  dedup_on: DedupOn;
  /** Signature of the decontamination every row passed at generation; null: none ran. */
  decontaminated: string | null;
  /** Bytes after the head: the second pass reads exactly these (an explicit R2 range). */
  body_bytes: number;
}

/** The start of a segment: enough for a compile's first pass, which only decides dedup. */
export interface SegmentHead {
  meta: SegmentMeta;
  /** KEY_WORDS words a row: the exact key, then the band keys (filters/dedup). */
  keys: Uint32Array;
  /** Where the head ends: the second pass reads the segment from here (`readSegmentBody`). */
  headBytes: number;
}

export interface Segment extends SegmentHead {
  jsonl: DeflatePiece;
  /** The encoded row group, and its metadata with offsets as if it started at byte 4. */
  parquet: { bytes: Uint8Array; group: RowGroup };
  stats: Uint8Array;
}

/**
 * The first pass range-reads this prefix of a segment: the head of a shard of up to ~450 rows
 * (a consumer batch of 4 tasks of 100 is 400). A longer head is read with a second range read
 * of its exact length (`segmentHeadBytes`). Every byte read is also allocated and copied, so the
 * prefix is not larger than the common head.
 */
export const SEGMENT_HEAD_BYTES = 32 * 1024;

/** What the job's recipe checked at generation, in the form the compile compares with its own. */
export function segmentChecks(filters: readonly FilterSpec[] | undefined): { dedupOn: DedupOn; decontaminated: string | null } {
  const dd = (filters ?? []).find((f) => f.type === "dedup") as { on?: DedupOn } | undefined;
  const dc = (filters ?? []).filter((f) => f.type === "decontaminate") as DecontaminateOptions[];
  return { dedupOn: dd?.on === "sample" ? "sample" : "completion", decontaminated: dc.length === 1 ? decontaminationSignature(dc[0]!) : null };
}

/** The options that decide a decontamination verdict, canonical: equal signatures, equal verdicts. */
export function decontaminationSignature(o: Pick<DecontaminateOptions, "benchmarks" | "uploads" | "n" | "min_matches" | "fields">): string {
  const sorted = (a: readonly string[]) => [...new Set(a)].sort();
  return canonicalJson({ benchmarks: sorted(o.benchmarks), uploads: sorted(o.uploads), n: o.n, min_matches: o.min_matches, fields: sorted(o.fields) });
}

/**
 * Writes a shard's segment beside it (r2/keys `shardSegment`). Best effort: a shard without one
 * is read by the compile, as it always could be, so a failure here must not fail the batch.
 */
export async function putSegment(env: Env, shardKey: string, lines: readonly ShardLine[], shardBytes: number, filters: readonly FilterSpec[] | undefined): Promise<void> {
  try {
    await env.BUCKET.put(keys.shardSegment(shardKey), await buildSegment(lines, shardBytes, segmentChecks(filters)));
  } catch (e) {
    console.error(`segment of ${shardKey} not written; the release compile will read the shard`, e);
  }
}

/** The segment of a shard's lines (candidates and pairs, as the shard holds them). */
export async function buildSegment(lines: readonly ShardLine[], shardBytes: number, checks: { dedupOn: DedupOn; decontaminated: string | null }): Promise<Uint8Array> {
  const counts = { accepted: 0, rejected: 0, failed: 0, pairs: 0 };
  const tasks = new Set<string>();
  const accepted: CandidateRecord[] = [];
  for (const line of lines) {
    tasks.add(line.task);
    if (isPair(line)) counts.pairs++;
    else {
      counts[line.status]++;
      if (line.status === "accepted") accepted.push(line);
    }
  }

  const text = accepted.map((r) => JSON.stringify(toSftRecord(r)) + "\n").join("");
  const jsonl = deflatePiece(new TextEncoder().encode(text));
  const parquet = encodeRowGroup(accepted);

  const keys = new Uint32Array(accepted.length * KEY_WORDS);
  accepted.forEach((r, i) => {
    const k = sampleKeys(dedupText(splitMessages(r.messages), checks.dedupOn));
    keys[i * KEY_WORDS] = k.exact[0];
    keys[i * KEY_WORDS + 1] = k.exact[1];
    keys.set(k.bands, i * KEY_WORDS + 2);
  });
  const stats = segmentStats(accepted);

  const groupJson = new TextEncoder().encode(toTaggedJson(parquet.group));
  const body = [groupJson, stats, jsonl.bytes, parquet.bytes];
  const meta: SegmentMeta = {
    v: 1,
    shard_bytes: shardBytes,
    tasks: [...tasks],
    counts,
    rows: accepted.length,
    raw_bytes: jsonl.rawBytes,
    crc32: jsonl.crc,
    dedup_on: checks.dedupOn,
    decontaminated: checks.decontaminated,
    body_bytes: body.reduce((n, b) => n + 4 + b.byteLength, 0),
  };
  // Length-prefixed parts, the head first (meta, keys), then what only a copy needs: the row
  // group's metadata, the stats, the JSONL piece, the Parquet row group.
  const w = new ByteWriter().u32(MAGIC).str(JSON.stringify(meta)).bytes(keys);
  for (const b of body) w.bytes(b);
  return w.finish();
}

/** Reads a segment's head from its start (a prefix is enough); null when it is not one, or the prefix is too short. */
export function readSegmentHead(bytes: Uint8Array): SegmentHead | null {
  return read(bytes, "head");
}

/**
 * A segment's head through `read` (a range read of the segment object): a SEGMENT_HEAD_BYTES
 * prefix, and a second, exact read when the head is longer. Null when there is no segment or it
 * is not one.
 */
export async function fetchSegmentHead(read: (range: { offset: number; length: number }) => Promise<Uint8Array | null>): Promise<SegmentHead | null> {
  const prefix = await read({ offset: 0, length: SEGMENT_HEAD_BYTES });
  if (!prefix) return null;
  const head = readSegmentHead(prefix);
  const n = head ? null : segmentHeadBytes(prefix);
  if (n === null || n <= prefix.byteLength) return head;
  const whole = await read({ offset: 0, length: n });
  return whole && readSegmentHead(whole);
}

/**
 * How long the head is, from a prefix that holds at least the meta: for a head longer than the
 * prefix read. Null when the bytes are not a segment or do not hold its meta.
 */
export function segmentHeadBytes(prefix: Uint8Array): number | null {
  try {
    const r = new ByteReader(prefix);
    const meta = readMeta(r);
    return meta && r.offset + 4 + meta.rows * KEY_WORDS * 4;
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}

/** The magic and the meta, from the start of a segment; null when it is not one (of this version). */
function readMeta(r: ByteReader): SegmentMeta | null {
  if (r.u32() !== MAGIC) return null;
  const meta = JSON.parse(r.str()) as SegmentMeta;
  return meta.v === 1 ? meta : null;
}

/** Reads a whole segment; null when the bytes are not one (an older layout is simply not used). */
export function readSegment(bytes: Uint8Array): Segment | null {
  return read(bytes, "whole") as Segment | null;
}

/**
 * A segment from the head a first pass read and the bytes after it (an R2 range read from
 * `head.headBytes`), so the second pass does not read the keys again.
 */
export function readSegmentBody(head: SegmentHead, body: Uint8Array): Segment | null {
  return read(body, head) as Segment | null;
}

/** `what`: the head only, the whole segment, or the rest of one whose head was read (`bytes` start after it). */
function read(bytes: Uint8Array, what: "head" | "whole" | SegmentHead): SegmentHead | Segment | null {
  const r = new ByteReader(bytes);
  try {
    let head: SegmentHead;
    if (typeof what === "object") head = what;
    else {
      const meta = bytes.byteLength < 8 ? null : readMeta(r);
      if (!meta) return null;
      head = { meta, keys: r.u32s(), headBytes: r.offset };
      if (what === "head") return head;
    }
    const { meta, keys, headBytes } = head;
    // The row group's metadata is parsed only if the segment is copied.
    const groupJson = r.str();
    let group: RowGroup | undefined;
    // Views, not copies, of what is consumed at once; the JSONL piece is copied, since the file's
    // sink keeps it until a part fills, and a view would keep the whole segment alive with it.
    const stats = r.bytesView();
    const jsonl = { bytes: r.bytes(), rawBytes: meta.raw_bytes, crc: meta.crc32 };
    const parquet = { bytes: r.bytesView(), get group() { return (group ??= fromTaggedJson(groupJson) as RowGroup); } };
    return { meta, keys, headBytes, jsonl, parquet, stats };
  } catch (e) {
    if (e instanceof RangeError) return null; // a prefix that ends inside the head
    throw e;
  }
}

/** The accepted records as one Parquet row group of the `default` config, and its metadata. */
function encodeRowGroup(records: CandidateRecord[]): { bytes: Uint8Array; group: RowGroup } {
  const bytes = new PqBytes(64 * 1024);
  const file = new RowGroupWriter({ writer: bytes, schema: parquetSchema("default"), createdBy: "winnow (hyparquet-writer)" });
  if (!records.length) return { bytes: new Uint8Array(0), group: { columns: [], total_byte_size: 0n, num_rows: 0n } };
  // No flush on a plain ByteWriter: the write is synchronous.
  void file.write({ columnData: columnData("default", records.map(toSftRecord)), rowGroupSize: records.length });
  // Everything after the 4-byte "PAR1" header is the row group.
  return { bytes: bytes.getBytes().slice(4), group: file.row_groups[0]! };
}

// Parquet metadata holds bigints (and statistics may hold -0 or bytes), which JSON cannot: tagged.
function toTaggedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") return { $big: v.toString() };
    if (typeof v === "number" && Object.is(v, -0)) return { $neg0: 1 };
    if (v instanceof Uint8Array) return { $bytes: toBase64(v) };
    return v;
  });
}

function fromTaggedJson(text: string): unknown {
  // A walk after a plain parse, not a reviver: V8's reviver path is ~2× slower over a row
  // group's 13 KB of metadata, parsed once for every segment a compile copies.
  const untag = (v: unknown): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = untag(v[i]);
      return v;
    }
    const o = v as Record<string, unknown>;
    if (typeof o.$big === "string") return BigInt(o.$big);
    if (o.$neg0 === 1) return -0;
    if (typeof o.$bytes === "string") return fromBase64(o.$bytes);
    for (const k in o) o[k] = untag(o[k]);
    return o;
  };
  return untag(JSON.parse(text));
}
