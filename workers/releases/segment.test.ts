// Segments (segment.ts): the consumer's pre-encoded release rows must give exactly the release
// that reading the shards gives, and be set aside whenever they do not fit.
import { env } from "cloudflare:workers";
import { parquetReadObjects } from "hyparquet";
import { describe, expect, it } from "vitest";
import { FilterSpec } from "../../filters";
import { KEY_WORDS, dedupText, sampleKeys, splitMessages } from "../../filters/dedup";
import * as keys from "../../r2/keys";
import { toSftRecord, type CandidateRecord } from "../records";
import { compileRelease, type ReleaseManifest } from "./compile";
import { buildSegment, readSegment, readSegmentBody, readSegmentHead, SEGMENT_HEAD_BYTES, segmentChecks, segmentHeadBytes } from "./segment";
import { StatsCollector } from "./stats";
import { candidate, readJsonlGz, seedDataset, seedJob, seedKey, seedShard, type Cand } from "./test-seed";

const NOW = new Date("2026-11-24T03:00:00Z");
const FILTERS = FilterSpec.array().parse([{ type: "dedup", near: 0.8, exact: true }, { type: "decontaminate" }]);
const RECIPE = { filters: FILTERS };

/** Distinct completions, so nothing is a duplicate unless a test makes it one. */
const text = (i: number) => `Solution ${i}: first we add ${i} and ${i * 3 + 7}, which gives ${i * 4 + 7}; then the ${["apples", "pears", "plums"][i % 3]} are shared out. A: ${i * 4 + 7}`;
const cands = (from: number, n: number, extra: Partial<Cand> = {}): Cand[] => Array.from({ length: n }, (_, i) => ({ status: "accepted" as const, completion: text(from + i), ...extra }));

async function files(name: string, m: ReleaseManifest) {
  const rows = { jsonl: [] as Record<string, unknown>[], parquet: [] as Record<string, unknown>[] };
  for (const f of m.files.filter((f) => f.config === "default")) {
    const bytes = await (await env.BUCKET.get(keys.releaseFile(name, f.stored_in ?? m.version, f.path)))!.arrayBuffer();
    const got = f.format === "jsonl" ? await readJsonlGz(bytes) : await parquetReadObjects({ file: bytes });
    expect(got.length, f.path).toBe(f.rows);
    rows[f.format!].push(...got);
  }
  return rows;
}

async function stats(name: string, m: ReleaseManifest) {
  const s = JSON.parse(await (await env.BUCKET.get(keys.releaseFile(name, m.version, "stats.json")))!.text());
  delete s.compression; // gzip members compress a little differently from one stream
  return s;
}

/** The same shards in two datasets, one with segments and one without, compiled. */
async function twin(shards: Cand[][], opts: { rowsPerFile?: number } = {}) {
  const out = [];
  for (const segment of [FILTERS, undefined]) {
    const { keyId } = await seedKey();
    const ds = await seedDataset(keyId);
    const job = await seedJob(ds, "5".repeat(64), RECIPE);
    for (const s of shards) await seedShard(ds, job, s, { segment });
    const m = (await compileRelease(env, ds, { now: NOW, ...opts }))!;
    out.push({ ds, m, rows: await files(ds.name, m), stats: await stats(ds.name, m) });
  }
  return out as [(typeof out)[0], (typeof out)[0]];
}

const strip = (r: Record<string, unknown>) => ({ ...r, id: undefined, lineage: { ...(r.lineage as object), job: undefined }, input: undefined });

describe("segments", () => {
  it("hold a shard's accepted rows, their dedup keys and their statistics", async () => {
    const records: CandidateRecord[] = [
      candidate("job_a", "job_a:t", 0, { status: "accepted", completion: text(1) }),
      candidate("job_a", "job_a:t", 1, { status: "rejected" }),
      candidate("job_a", "job_a:t", 2, { status: "failed" }),
      candidate("job_a", "job_a:t", 3, { status: "accepted", completion: text(2), provider: "anthropic", model: "claude" }),
    ];
    const bytes = await buildSegment(records, 123, segmentChecks(FILTERS));
    const seg = readSegment(bytes)!;
    // The head (meta and keys) comes first: a prefix holds it, a shorter one says it does not.
    const head = readSegmentHead(bytes.subarray(0, bytes.byteLength - seg.parquet.bytes.byteLength - seg.jsonl.bytes.byteLength))!;
    expect(head.meta).toEqual(seg.meta);
    expect([...head.keys]).toEqual([...seg.keys]);
    expect(readSegmentHead(bytes.subarray(0, 40))).toBeNull();
    // A prefix with the meta says how long the head is; the rest, read from there, completes it.
    expect(segmentHeadBytes(bytes.subarray(0, 400))).toBe(head.headBytes);
    const body = readSegmentBody(head, bytes.subarray(head.headBytes))!;
    expect(body.meta).toEqual(seg.meta);
    expect([...body.jsonl.bytes]).toEqual([...seg.jsonl.bytes]);
    expect([...body.parquet.bytes]).toEqual([...seg.parquet.bytes]);
    expect(body.parquet.group).toEqual(seg.parquet.group);
    const accepted = records.filter((r) => r.status === "accepted");
    expect(seg.meta).toMatchObject({ shard_bytes: 123, tasks: ["job_a:t"], rows: 2, counts: { accepted: 2, rejected: 1, failed: 1, pairs: 0 }, dedup_on: "completion" });
    expect(seg.meta.decontaminated).toContain("gsm8k");
    const gz = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, ...seg.jsonl.bytes, 3, 0, ...new Uint8Array(new Uint32Array([seg.jsonl.crc, seg.jsonl.rawBytes]).buffer)]);
    expect(await readJsonlGz(gz.buffer)).toEqual(accepted.map((r) => JSON.parse(JSON.stringify(toSftRecord(r)))));
    accepted.forEach((r, i) => {
      const k = sampleKeys(dedupText(splitMessages(r.messages), "completion"));
      expect([...seg.keys.subarray(i * KEY_WORDS, (i + 1) * KEY_WORDS)]).toEqual([...k.exact, ...k.bands]);
    });
    // Merged, the segment's statistics are those of adding its rows one by one.
    const added = new StatsCollector();
    const merged = new StatsCollector();
    for (const r of accepted) added.add(r);
    added.add(accepted[0]!);
    merged.merge(seg.stats);
    merged.add(accepted[0]!);
    expect(merged.result({})).toEqual(added.result({}));
    expect(merged.state()).toEqual(added.state());
  });

  it("compile to the same release as the shards: rows, order, both formats, statistics", async () => {
    const [a, b] = await twin([cands(0, 5), cands(5, 7), cands(12, 3)], { rowsPerFile: 6 });
    expect(a.m.counts).toEqual(b.m.counts);
    expect(a.rows.jsonl.map(strip)).toEqual(b.rows.jsonl.map(strip));
    expect(a.rows.parquet.map(strip)).toEqual(b.rows.parquet.map(strip));
    expect(a.rows.jsonl.map((r) => r.id)).toEqual(a.rows.parquet.map((r) => r.id));
    expect(a.rows.jsonl).toHaveLength(15);
    expect(a.stats).toEqual(b.stats);
    // Segments go into files whole: a file holds at least rowsPerFile rows before the next starts.
    expect(a.m.files.filter((f) => f.format === "jsonl").map((f) => f.rows)).toEqual([12, 3]);
  });

  it("compile the same when a shard's head is longer than the first pass's prefix read", async () => {
    const [a, b] = await twin([cands(0, 3), cands(3, 600), cands(603, 2)]);
    const seg = await buildSegment(cands(3, 600).map((c, i) => candidate("job_a", "job_a:t", i, c)), 0, segmentChecks(FILTERS));
    expect(readSegmentHead(seg.subarray(0, SEGMENT_HEAD_BYTES))).toBeNull();
    expect(a.m.counts).toEqual(b.m.counts);
    expect(a.rows.jsonl.map(strip)).toEqual(b.rows.jsonl.map(strip));
    expect(a.rows.jsonl).toHaveLength(605);
    expect(a.stats).toEqual(b.stats);
  });

  it("are set aside for a shard that loses a record to dedup, or that holds another task's records", async () => {
    const [a, b] = await twin([cands(0, 4), [...cands(4, 2), { status: "accepted", completion: text(1) }], [...cands(6, 2), { status: "accepted", completion: text(40), owned: false }]]);
    expect(a.m.counts.removed_at_compile).toEqual({ decontaminate: 0, dedup_exact: 1, dedup_near: 0 });
    expect(a.m.counts).toEqual(b.m.counts);
    expect(a.rows.jsonl.map(strip)).toEqual(b.rows.jsonl.map(strip));
    expect(a.rows.parquet.map(strip)).toEqual(b.rows.parquet.map(strip));
    expect(a.rows.jsonl).toHaveLength(8);
    expect(a.stats).toEqual(b.stats);
  });
});
