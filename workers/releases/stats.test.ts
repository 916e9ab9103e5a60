import { describe, expect, it } from "vitest";
import { words } from "../../filters/ngrams";
import type { CandidateRecord } from "../records";
import { buildReferenceProfile } from "./drift";
import { fromBase64 } from "./sketch";
import { StatsCollector } from "./stats";
import { rng } from "./test-seed";

/** Zipf-ish text over `vocab` words; `unique` adds a token only this text has. */
function text(rand: () => number, vocab: number, len: number, unique?: number): string {
  const out: string[] = [];
  for (let i = 0; i < len; i++) out.push(`w${Math.floor(vocab ** rand())}`);
  if (unique !== undefined) out.push(`u${unique}`);
  return out.join(" ");
}

function record(completion: string, over: { provider?: string; model?: string; depth?: number } = {}): CandidateRecord {
  return {
    id: "smp_x",
    job: "job_x",
    task: "t",
    input_index: 0,
    candidate: 0,
    status: "accepted",
    messages: [
      { role: "user", content: "say something" },
      { role: "assistant", content: completion },
    ],
    input: {},
    generator: { provider: over.provider ?? "openai", model: over.model ?? "gpt-4o-mini", params: {} },
    filters: [],
    usage: { input_tokens: 1, output_tokens: 1, cost_usd: 0 },
    lineage: { job: "job_x", recipe_sha256: "a", prompt_sha256: "b", synthetic_depth: over.depth ?? 1 },
    created_at: "2026-11-24T03:00:00.000Z",
  };
}

/** Records with some exact duplicates (of earlier rows, also across the split) and mixed teachers. */
function corpus(n: number, seed: number): CandidateRecord[] {
  const rand = rng(seed);
  const out: CandidateRecord[] = [];
  for (let i = 0; i < n; i++) {
    const dup = i > 10 && rand() < 0.05;
    const completion = dup ? (out[Math.floor(rand() * out.length)]!.messages[1]!.content) : text(rand, 3000, 5 + Math.floor(rand() * 60));
    const human = rand() < 0.1;
    out.push(record(completion, human ? { provider: "human", model: "upl_1", depth: 0 } : { model: rand() < 0.5 ? "a" : "b", depth: 1 + Math.floor(rand() * 2) }));
  }
  return out;
}

const FILTERS = { "length.pass": 9, "length.too_short": 1 };

describe("StatsCollector", () => {
  it("resumed from a parent's state gives what one pass over everything gives", () => {
    const all = corpus(4000, 1);
    const one = new StatsCollector();
    for (const r of all) one.add(r);
    one.addCompressed(1000, 250);
    one.addCompressed(3000, 600);

    const parent = new StatsCollector();
    for (const r of all.slice(0, 2500)) parent.add(r);
    parent.addCompressed(1000, 250);
    const saved = JSON.parse(JSON.stringify({ stats: parent.state() })).stats as string;
    const child = new StatsCollector(saved);
    for (const r of all.slice(2500)) child.add(r);
    child.addCompressed(3000, 600);

    expect(child.result(FILTERS)).toEqual(one.result(FILTERS));
    expect(child.state()).toBe(one.state());
  });

  it("reports lengths, distinct-n, duplicates, compression, teachers, human share and depth", () => {
    const all = corpus(4000, 2);
    const c = new StatsCollector();
    for (const r of all) c.add(r);
    c.addCompressed(4000, 1000);
    const s = c.result(FILTERS);

    const texts = all.map((r) => r.messages[1]!.content);
    const lengths = texts.map((t) => t.length).sort((a, b) => a - b);
    expect(s.rows).toBe(4000);
    expect(s.completion_chars.min).toBe(lengths[0]);
    expect(s.completion_chars.max).toBe(lengths.at(-1));
    expect(s.completion_chars.p50).toBe(lengths[1999]);
    expect(s.completion_chars.histogram.reduce((n, h) => n + h.count, 0)).toBe(4000);
    expect(s.completion_words.histogram.reduce((n, h) => n + h.count, 0)).toBe(4000);

    // distinct-n against exact counts, within 3 HLL standard errors (0.81% each).
    const uni = new Set<string>();
    const bi = new Set<string>();
    let nUni = 0;
    let nBi = 0;
    for (const t of texts) {
      const w = words(t);
      nUni += w.length;
      nBi += Math.max(0, w.length - 1);
      w.forEach((x, i) => {
        uni.add(x);
        if (i) bi.add(`${w[i - 1]} ${x}`);
      });
    }
    expect(s.distinct.unigrams.total).toBe(nUni);
    expect(s.distinct.bigrams.total).toBe(nBi);
    expect(Math.abs(s.distinct.unigrams.distinct - uni.size) / uni.size).toBeLessThan(0.025);
    expect(Math.abs(s.distinct.bigrams.distinct - bi.size) / bi.size).toBeLessThan(0.025);
    expect(s.distinct.distinct_1).toBeCloseTo(uni.size / nUni, 2);
    expect(s.distinct.method).toMatch(/HyperLogLog/);

    const dups = texts.length - new Set(texts).size;
    expect(dups).toBeGreaterThan(100);
    expect(s.duplicates.exact).toBe(dups);
    expect(s.duplicates.rate).toBeCloseTo(dups / 4000, 4);

    expect(s.compression).toMatchObject({ raw_bytes: 4000, gzip_bytes: 1000, ratio: 0.25 });

    const humans = all.filter((r) => r.generator.provider === "human").length;
    expect(s.human).toEqual({ rows: humans, share: Math.round((humans / 4000) * 1e4) / 1e4 });
    expect(s.teachers.reduce((n, t) => n + t.rows, 0)).toBe(4000);
    expect(s.teachers.find((t) => t.provider === "human")?.rows).toBe(humans);
    expect(s.synthetic_depth.map((d) => d.depth)).toEqual([0, 1, 2]);
    expect(s.synthetic_depth[0]!.rows).toBe(humans);
    expect(s.synthetic_depth.reduce((n, d) => n + d.rows, 0)).toBe(4000);

    expect(s.filters).toEqual([{ name: "length", pass: 9, rejected: 1, pass_rate: 0.9, reasons: { "length.too_short": 1 } }]);
    expect(s.drift).toBeUndefined();
  });

  it("an empty collector reports zeros and resumes", () => {
    const s = new StatsCollector(new StatsCollector().state()).result({});
    expect(s.rows).toBe(0);
    expect(s.distinct).toMatchObject({ distinct_1: 0, distinct_2: 0 });
    expect(s.completion_chars).toMatchObject({ min: 0, max: 0, histogram: [] });
    expect(s.compression.ratio).toBeNull();
  });

  it("adds drift when given a reference profile", () => {
    const rand = rng(3);
    const ref = buildReferenceProfile(Array.from({ length: 500 }, () => text(rand, 3000, 40)));
    const c = new StatsCollector();
    for (const r of corpus(500, 4)) c.add(r);
    const s = c.result({}, { reference: ref, driftOptions: { maxJsd: 0.01 } });
    expect(s.drift?.unigram_jsd).toBeGreaterThan(0);
    expect(s.drift?.thresholds.maxJsd).toBe(0.01);
    expect(s.drift?.flagged).toBe(true);
  });

  it("keeps a bounded state at 100k rows: only the duplicate filter grows, by a few bytes a row", () => {
    const rand = rng(5);
    const c = new StatsCollector();
    const sizes: Record<number, { sketch: number; bloom: number }> = {};
    for (let i = 1; i <= 100_000; i++) {
      // Every text unique (its own token), so the vocabulary and the Bloom filter both keep growing.
      c.add(record(text(rand, 20_000, 20 + Math.floor(rand() * 40), i), { model: `m${i % 7}`, depth: i % 4 }));
      if (i === 10_000 || i === 100_000) {
        const bytes = fromBase64(c.state()).length;
        sizes[i] = { sketch: bytes - c.duplicateIndexBytes, bloom: c.duplicateIndexBytes };
      }
    }
    expect(sizes[100_000]!.sketch).toBeLessThan(200_000);
    // The fixed-size part does not grow with rows (a few sparse histogram buckets may fill in).
    expect(sizes[100_000]!.sketch - sizes[10_000]!.sketch).toBeLessThan(8_000);
    expect(sizes[100_000]!.bloom / 100_000).toBeLessThanOrEqual(6);
    const s = c.result({});
    expect(s.duplicates.exact / 100_000).toBeLessThan(5e-4);
    // And it resumes from that state unchanged.
    expect(new StatsCollector(c.state()).state()).toBe(c.state());
  });

  it("rejects a state that is not one", () => {
    expect(() => new StatsCollector(new Uint8Array(64))).toThrow(/not a release statistics state/);
  });
});
