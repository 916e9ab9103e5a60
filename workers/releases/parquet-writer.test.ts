import { env } from "cloudflare:workers";
import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";
import { describe, expect, it } from "vitest";
import { toPreferenceRecord, toSftRecord, type PairRecord } from "../records";
import { MIN_PART_SIZE } from "./object-sink";
import { ParquetWriter } from "./parquet-writer";
import { candidate, sha256OfBytes, uniqueName } from "./test-seed";

const key = () => `test/parquet/${uniqueName("pq")}.parquet`;

/** What a reader should get back: the record as JSON, without absent (null) values. */
function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = plain(x);
    return out;
  }
  return v;
}

async function readBack(k: string) {
  const obj = await env.BUCKET.get(k);
  expect(obj, k).not.toBeNull();
  expect(obj!.httpMetadata?.contentType).toBe("application/vnd.apache.parquet");
  const file = await obj!.arrayBuffer();
  const metadata = parquetMetadata(file);
  const rows = await parquetReadObjects({ file, metadata });
  return { file, metadata, rows };
}

const sft = (n: number, content = (i: number) => `Step ${i}: 2 + ${i} = ${2 + i}. A: ${2 + i}`) =>
  Array.from({ length: n }, (_, i) => toSftRecord(candidate("job_pq", "job_pq:lease", i, { status: "accepted", completion: content(i) })));

describe("ParquetWriter", () => {
  it("streams row groups out as they fill and reads back equal, with messages as list<struct<role, content>>", async () => {
    const k = key();
    const records = sft(2_500);
    // One record without optional values, to show nulls round-trip as absent.
    records.push({ ...records[0]!, id: "smp_sparse", filters: [{ name: "length", pass: true }], input: { q: "x", nested: { a: [1, 2] } } });
    const w = new ParquetWriter(env.BUCKET, k, "default", MIN_PART_SIZE, { rows: 1_000 });
    const flushedAfterGroup: number[] = [];
    for (const [i, r] of records.entries()) {
      await w.writeRecord(r);
      if ((i + 1) % 1_000 === 0) flushedAfterGroup.push(w.flushedBytes);
    }
    // Bounded memory: each full row group was encoded and handed to the sink before finish.
    expect(flushedAfterGroup).toHaveLength(2);
    expect(flushedAfterGroup[0]).toBeGreaterThan(0);
    expect(flushedAfterGroup[1]).toBeGreaterThan(flushedAfterGroup[0]!);
    expect(await env.BUCKET.head(k)).toBeNull();

    const written = await w.finish();
    expect(written.rows).toBe(records.length);
    const { file, metadata, rows } = await readBack(k);
    expect(file.byteLength).toBe(written.bytes);
    expect(await sha256OfBytes(file)).toBe(written.sha256);
    expect(metadata.row_groups.map((g) => Number(g.num_rows))).toEqual([1_000, 1_000, 501]);
    expect(rows.map(plain)).toEqual(records.map(plain));

    const messages = parquetSchema(metadata).children.find((c) => c.element.name === "messages")!;
    expect(messages.element.converted_type).toBe("LIST");
    expect(messages.children[0]!.children[0]!.children.map((c) => c.element.name)).toEqual(["role", "content"]);
    const input = parquetSchema(metadata).children.find((c) => c.element.name === "input")!;
    expect(input.element.converted_type).toBe("JSON");
  });

  it("cuts row groups by size too, and a file larger than a part goes up as a multipart upload", async () => {
    const k = key();
    // Hex of random bytes: snappy cannot shrink it much, so ~7 MB of input stays > 5 MiB encoded.
    const noise = (i: number) => {
      const b = crypto.getRandomValues(new Uint8Array(5_000));
      return `${i}:` + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    };
    const records = sft(700, noise);
    const w = new ParquetWriter(env.BUCKET, k, "default", MIN_PART_SIZE, { chars: 2 * 1024 * 1024 });
    for (const r of records) await w.writeRecord(r);
    // At least one whole part left memory before the file was finished.
    expect(w.flushedBytes).toBeGreaterThanOrEqual(MIN_PART_SIZE);
    const written = await w.finish();
    expect(written.bytes).toBeGreaterThan(MIN_PART_SIZE);
    const { file, metadata, rows } = await readBack(k);
    expect(file.byteLength).toBe(written.bytes);
    expect(await sha256OfBytes(file)).toBe(written.sha256);
    expect(metadata.row_groups.length).toBeGreaterThanOrEqual(3);
    expect(rows).toHaveLength(700);
    expect(rows.map(plain)).toEqual(records.map(plain));
  });

  it("writes preference pairs and rejected samples with their own columns", async () => {
    const sides = (i: number) => {
      const good = candidate("job_pq", "t", i, { status: "accepted" });
      const bad = candidate("job_pq", "t", i, { status: "rejected", completion: "A: 0" });
      const meta = (c: typeof good, status: "accepted" | "rejected") => ({
        id: c.id,
        candidate: c.candidate,
        generator: c.generator,
        filters: c.filters,
        usage: c.usage,
        status,
        score: status === "accepted" ? 1 : 0,
        ...(c.reason ? { reason: c.reason } : {}),
      });
      const pair: PairRecord = {
        type: "pair",
        id: `pair_${i}`,
        job: "job_pq",
        task: "t",
        input_index: i,
        prompt: good.messages.slice(0, 2),
        chosen: good.messages.slice(2),
        rejected: bad.messages.slice(2),
        input: good.input,
        chosen_meta: meta(good, "accepted"),
        rejected_meta: meta(bad, "rejected"),
        lineage: good.lineage,
        created_at: good.created_at,
      };
      return { pair: toPreferenceRecord(pair), rejected: { ...toSftRecord(bad), reason: bad.reason } };
    };
    const made = Array.from({ length: 30 }, (_, i) => sides(i));
    for (const config of ["pairs", "rejected"] as const) {
      const k = key();
      const w = new ParquetWriter(env.BUCKET, k, config, MIN_PART_SIZE, { rows: 7 });
      const records = made.map((m) => (config === "pairs" ? m.pair : m.rejected));
      for (const r of records) await w.writeRecord(r);
      expect((await w.finish()).rows).toBe(30);
      const { metadata, rows } = await readBack(k);
      expect(metadata.row_groups).toHaveLength(5);
      expect(rows.map(plain)).toEqual(records.map(plain));
    }
  });

  it("an empty file is a valid Parquet file with the config's columns", async () => {
    const k = key();
    const written = await new ParquetWriter(env.BUCKET, k, "default").finish();
    expect(written.rows).toBe(0);
    const { metadata, rows } = await readBack(k);
    expect(rows).toEqual([]);
    expect(parquetSchema(metadata).children.map((c) => c.element.name)).toEqual(["id", "messages", "input", "generator", "filters", "usage", "lineage", "created_at"]);
  });

  it("abort leaves no object behind, even after parts were uploaded", async () => {
    const k = key();
    const w = new ParquetWriter(env.BUCKET, k, "default", MIN_PART_SIZE, { rows: 100 });
    const big = sft(600, (i) => `${i}:` + Array.from(crypto.getRandomValues(new Uint8Array(5_000)), (x) => x.toString(16).padStart(2, "0")).join(""));
    for (const r of big) await w.writeRecord(r);
    expect(w.flushedBytes).toBeGreaterThanOrEqual(MIN_PART_SIZE);
    await w.abort(new Error("compile failed"));
    expect(await env.BUCKET.head(k)).toBeNull();
  });
});
