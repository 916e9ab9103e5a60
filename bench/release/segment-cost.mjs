// bench/release/segment-cost: what a release segment costs the consumer that writes it.
//
//   npx tsx bench/release/segment-cost.mjs [--shards 50] [--per-shard 400] [--record-bytes 1024]
//
// The release compile copies each shard's segment instead of re-encoding its records
// (workers/releases/segment.ts), so that work moves to the queue consumer, which already holds
// the records in memory when it writes the shard. This measures, side by side in one process
// on the records bench/release seeds (workers/bench-records.ts): the shard's own gzip JSONL
// (what the consumer wrote before segments), the segment (`buildSegment`), and node's zlib
// gzip -6 of the same JSONL, per record and as ratios; and the segment's stored bytes against
// the shard's. Runs in node, not workerd: the figures are of the code, not of the platform.
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { record, TextGen } from "../../workers/bench-records.ts";
import { gzipJsonl } from "../../workers/records.ts";
import { buildSegment } from "../../workers/releases/segment.ts";

const { values: opt } = parseArgs({
  options: { shards: { type: "string", default: "50" }, "per-shard": { type: "string", default: "400" }, "record-bytes": { type: "string", default: "1024" } },
});
const shards = Number(opt.shards);
const perShard = Number(opt["per-shard"]);
const recordBytes = Number(opt["record-bytes"]);

const text = new TextGen();
const createdAt = new Date().toISOString();
const filters = ["length", "refusal", "dedup", "decontaminate"];
const batches = [];
let input = 0;
for (let s = 0; s < shards; s++) {
  const records = [];
  for (let i = 0; i < perShard; i++) {
    const task = `job_bench:${Math.floor(input / 100)}`;
    records.push(record(text, { jobId: "job_bench0000", task, input: input++, recipeSha256: "0".repeat(64), promptSha256: "0".repeat(64), createdAt, filters, bytes: recordBytes }));
  }
  batches.push(records);
}
const checks = { dedupOn: "completion", decontaminated: "bench" };

async function time(fn) {
  const t0 = performance.now();
  let bytes = 0;
  for (const records of batches) bytes += await fn(records);
  return { ms: performance.now() - t0, bytes };
}

// Warm-up (JIT, wasm, lazily built tables), then the three measured side by side, twice, best kept.
for (const records of batches.slice(0, 3)) await buildSegment(records, 0, checks);
const rawBytes = batches.reduce((n, rs) => n + rs.reduce((m, r) => m + JSON.stringify(r).length + 1, 0), 0);
const best = { shard: Infinity, segment: Infinity, zlib: Infinity };
const sizes = {};
for (let round = 0; round < 2; round++) {
  const shard = await time(async (rs) => (await gzipJsonl(rs)).byteLength);
  const segment = await time(async (rs) => (await buildSegment(rs, 0, checks)).byteLength);
  const zlib = await time(async (rs) => gzipSync(rs.map((r) => JSON.stringify(r)).join("\n") + "\n", { level: 6 }).byteLength);
  best.shard = Math.min(best.shard, shard.ms);
  best.segment = Math.min(best.segment, segment.ms);
  best.zlib = Math.min(best.zlib, zlib.ms);
  Object.assign(sizes, { shard: shard.bytes, segment: segment.bytes });
}

const records = shards * perShard;
const us = (ms) => ((ms * 1000) / records).toFixed(1);
console.log(`node ${process.version}: ${records.toLocaleString()} records (${(rawBytes / records).toFixed(0)} B of JSONL each) in ${shards} shards of ${perShard}`);
console.log(`shard gzip JSONL (CompressionStream): ${us(best.shard)} µs/record, ${(sizes.shard / records).toFixed(0)} B/record stored`);
console.log(`segment (buildSegment):              ${us(best.segment)} µs/record, ${(sizes.segment / records).toFixed(0)} B/record stored`);
console.log(`zlib gzip -6 of the same JSONL:      ${us(best.zlib)} µs/record`);
console.log(`segment / shard gzip: ${(best.segment / best.shard).toFixed(2)}× time, ${(sizes.segment / sizes.shard).toFixed(2)}× bytes; segment / gzip -6: ${(best.segment / best.zlib).toFixed(2)}× time`);
