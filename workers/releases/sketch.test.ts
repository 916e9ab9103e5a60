import { describe, expect, it } from "vitest";
import { fmix32 } from "../../filters/ngrams";
import { BottomK, ByteReader, ByteWriter, fromBase64, HyperLogLog, LengthHistogram, ScalableBloom, toBase64, wasserstein1 } from "./sketch";

/** Deterministic 32-bit values: fmix32 is a bijection, so distinct inputs give distinct outputs. */
const val = (i: number, seed = 0) => fmix32((i ^ seed) >>> 0);

describe("HyperLogLog", () => {
  it("estimates distinct counts within 3 standard errors from tiny to large, duplicates ignored", () => {
    for (const n of [0, 1, 10, 1000, 30_000, 300_000]) {
      const h = new HyperLogLog();
      for (let rep = 0; rep < 2; rep++) for (let i = 0; i < n; i++) h.add(val(i, 1), val(i, 2));
      const tolerance = Math.max(1, 3 * HyperLogLog.relativeError * n);
      expect(Math.abs(h.estimate() - n), `n=${n}`).toBeLessThanOrEqual(tolerance);
    }
  });

  it("resumes from its registers with the same result as one pass", () => {
    const one = new HyperLogLog();
    const first = new HyperLogLog();
    for (let i = 0; i < 50_000; i++) {
      one.add(val(i, 1), val(i, 2));
      if (i < 20_000) first.add(val(i, 1), val(i, 2));
    }
    const resumed = new HyperLogLog(first.registers.slice());
    for (let i = 20_000; i < 50_000; i++) resumed.add(val(i, 1), val(i, 2));
    expect(resumed.registers).toEqual(one.registers);
    expect(resumed.estimate()).toBe(one.estimate());
  });
});

describe("BottomK", () => {
  it("keeps exactly the k smallest distinct values, and bounds what it knows", () => {
    const b = new BottomK(100);
    const all = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const v = val(i % 3000, 7); // duplicates on purpose
      b.add(v);
      all.add(v);
    }
    const expected = [...all].sort((x, y) => x - y).slice(0, 100);
    expect([...b.values()]).toEqual(expected);
    expect(b.bound).toBe(expected[99]);

    const small = new BottomK(100);
    for (let i = 0; i < 40; i++) small.add(val(i));
    expect(small.values().length).toBe(40);
    expect(small.bound).toBe(0xffffffff);
  });

  it("resumed from its values equals one pass over everything", () => {
    const one = new BottomK(256);
    const first = new BottomK(256);
    for (let i = 0; i < 10_000; i++) {
      one.add(val(i));
      if (i < 4000) first.add(val(i));
    }
    const resumed = new BottomK(256, first.values());
    for (let i = 4000; i < 10_000; i++) resumed.add(val(i));
    expect(resumed.values()).toEqual(one.values());
  });

  it("merging another's values equals adding them one by one (full or not, overlapping)", () => {
    for (const [k, parts] of [[256, 6], [5000, 3]] as const) {
      const added = new BottomK(k);
      const merged = new BottomK(k);
      for (let p = 0; p < parts; p++) {
        const other = new BottomK(k);
        // Overlapping ranges, so the union has values both sides hold.
        for (let i = p * 700; i < p * 700 + 1500; i++) other.add(val(i, 3));
        for (const v of other.values()) added.add(v);
        merged.merge(other.values());
        expect(merged.values()).toEqual(added.values());
        expect(merged.bound).toBe(added.bound);
      }
    }
  });
});

describe("LengthHistogram", () => {
  it("is exact below 1024 and within its bucket width above", () => {
    const h = new LengthHistogram();
    for (let n = 1; n <= 1000; n++) h.add(n);
    const s = h.summary();
    expect([s.min, s.p50, s.p90, s.max, s.mean]).toEqual([1, 500, 900, 1000, 500.5]);
    expect(s.histogram.reduce((n, b) => n + b.count, 0)).toBe(1000);
    expect(s.histogram.every((b) => b.count === 100)).toBe(true);

    const big = new LengthHistogram();
    for (let n = 1; n <= 10_000; n++) big.add(n * 37);
    expect(Math.abs(big.quantile(0.5) - 5000 * 37) / (5000 * 37)).toBeLessThan(0.012);
    expect(Math.abs(big.quantile(0.9) - 9000 * 37) / (9000 * 37)).toBeLessThan(0.012);
    expect(big.summary().max).toBe(370_000);
  });

  it("Wasserstein-1 is the mean shift between two point masses, 0 for equal ones", () => {
    const a = new LengthHistogram();
    const b = new LengthHistogram();
    for (let i = 0; i < 10; i++) {
      a.add(100);
      b.add(150);
    }
    expect(wasserstein1(a, b)).toBeCloseTo(50, 6);
    expect(wasserstein1(a, a)).toBe(0);
  });

  it("round-trips through bytes", () => {
    const h = new LengthHistogram();
    for (const n of [0, 3, 3, 1023, 1024, 99_999]) h.add(n);
    const w = new ByteWriter();
    h.write(w);
    const back = LengthHistogram.read(new ByteReader(fromBase64(toBase64(w.finish()))));
    expect(back.summary()).toEqual(h.summary());
    expect(back.buckets).toEqual(h.buckets);
  });
});

describe("ScalableBloom", () => {
  it("finds every key it holds, stays under its false-positive bound, and costs a few bytes per key", () => {
    const b = new ScalableBloom();
    const n = 200_000;
    let fresh = 0;
    for (let i = 0; i < n; i++) if (b.addIfNew(val(i, 1), val(i, 2))) fresh++;
    // A false positive while filling would only lower `fresh` by a hair.
    expect(fresh).toBeGreaterThan(n * (1 - ScalableBloom.falsePositiveBound));
    let again = 0;
    for (let i = 0; i < n; i++) if (!b.addIfNew(val(i, 1), val(i, 2))) again++;
    expect(again).toBe(n);
    let fp = 0;
    const probes = 200_000;
    const probe = new ScalableBloom();
    probe.layers.push(...b.layers.map((l) => ({ ...l, bits: l.bits.slice() })));
    for (let i = 0; i < probes; i++) if (!probe.addIfNew(val(i + n, 1), val(i + n, 2))) fp++;
    expect(fp / probes).toBeLessThan(ScalableBloom.falsePositiveBound);
    expect(b.bytes / n).toBeLessThanOrEqual(6);
  });

  it("round-trips through bytes", () => {
    const b = new ScalableBloom();
    for (let i = 0; i < 20_000; i++) b.addIfNew(val(i, 1), val(i, 2));
    const w = new ByteWriter();
    b.write(w);
    const back = ScalableBloom.read(new ByteReader(w.finish()));
    let found = 0;
    for (let i = 0; i < 20_000; i++) if (!back.addIfNew(val(i, 1), val(i, 2))) found++;
    expect(found).toBe(20_000);
    expect(back.bytes).toBe(b.bytes);
  });
});
