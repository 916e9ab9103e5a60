import { describe, expect, it } from "vitest";
import { wordHashes } from "../../filters/ngrams";
import { buildReferenceProfile, DRIFT_DEFAULTS, drift, jensenShannon, ReferenceBuilder, type ReferenceProfile } from "./drift";
import { TextProfile } from "./sketch";
import { rng } from "./test-seed";

/** `n` Zipf-ish texts of about `len` words over `vocab` words named `${prefix}${i}`. */
function texts(seed: number, n: number, opts: { vocab?: number; len?: number; prefix?: string; pick?: (rank: number) => boolean } = {}): string[] {
  const rand = rng(seed);
  const { vocab = 2000, len = 60, prefix = "w", pick = () => true } = opts;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const words: string[] = [];
    const target = Math.max(1, Math.round(len * (0.5 + rand())));
    while (words.length < target) {
      const rank = Math.floor(vocab ** rand());
      if (pick(rank)) words.push(`${prefix}${rank}`);
    }
    out.push(words.join(" "));
  }
  return out;
}

function profileOf(ts: string[]): TextProfile {
  const p = new TextProfile();
  for (const t of ts) p.add(t, wordHashes(t));
  return p;
}

describe("drift", () => {
  const ref = buildReferenceProfile(texts(1, 3000));

  it("is near zero for a release drawn from the reference's own distribution, and not flagged", () => {
    const d = drift(profileOf(texts(2, 3000)), ref);
    expect(d.unigram_jsd).toBeLessThan(0.02);
    expect(d.length.distance).toBeLessThan(0.05);
    expect(d.tail_coverage).toBeGreaterThan(0.6);
    expect(d.tail_sample).toBeGreaterThan(100);
    expect(d.flagged).toBe(false);
    expect(d.reasons).toEqual([]);
    expect(d.thresholds).toEqual(DRIFT_DEFAULTS);
    expect(d.reference).toMatchObject({ texts: 3000, top_k: 1000 });
  });

  it("is near one for a disjoint vocabulary (hash-bucket collisions aside), with no tail covered", () => {
    const d = drift(profileOf(texts(3, 3000, { prefix: "x" })), ref);
    expect(d.unigram_jsd).toBeGreaterThan(0.9);
    expect(d.tail_coverage).toBe(0);
    expect(d.flagged).toBe(true);
    expect(d.reasons.join(" ")).toMatch(/unigram_jsd/);
    expect(d.reasons.join(" ")).toMatch(/tail_coverage/);
  });

  it("length distance grows as the release's texts get shorter", () => {
    const distance = (len: number) => drift(profileOf(texts(4, 2000, { len })), ref).length.distance!;
    const same = distance(60);
    const shorter = distance(40);
    const shortest = distance(15);
    expect(same).toBeLessThan(0.05);
    expect(shorter).toBeGreaterThan(same);
    expect(shortest).toBeGreaterThan(shorter);
    expect(shortest).toBeGreaterThan(DRIFT_DEFAULTS.maxLengthDistance);
    expect(drift(profileOf(texts(4, 2000, { len: 15 })), ref).reasons.join(" ")).toMatch(/length distance/);
  });

  it("tail coverage follows how much of the reference's rarer vocabulary the release uses", () => {
    // Reference: a flat vocabulary so its tail is large and each tail word common enough to be
    // seen; the top 100 are the head.
    const flat = (seed: number, pick?: (w: number) => boolean) => {
      const rand = rng(seed);
      return Array.from({ length: 2000 }, () => {
        const ws: string[] = [];
        while (ws.length < 50) {
          const w = Math.floor(rand() * 3000);
          if (!pick || pick(w)) ws.push(`v${w}`);
        }
        return ws.join(" ");
      });
    };
    const r = buildReferenceProfile(flat(5), { topK: 100 });
    const full = drift(profileOf(flat(6)), r).tail_coverage!;
    const half = drift(profileOf(flat(7, (w) => w % 2 === 0)), r).tail_coverage!;
    // 20 words: in a flat reference some of them fall outside its top 100, so not quite 0.
    const few = drift(profileOf(flat(8, (w) => w < 20)), r).tail_coverage!;
    expect(full).toBeGreaterThan(0.97);
    expect(half).toBeGreaterThan(0.4);
    expect(half).toBeLessThan(0.6);
    expect(few).toBeLessThan(0.02);
  });

  it("honours custom thresholds", () => {
    const release = profileOf(texts(9, 1000));
    expect(drift(release, ref, { maxJsd: 0 }).flagged).toBe(true);
    expect(drift(release, ref, { maxJsd: 1, minTailCoverage: 0, maxLengthDistance: 100 }).flagged).toBe(false);
  });

  it("gives nulls, not NaN, when a side is empty", () => {
    const d = drift(new TextProfile(), ref);
    expect(d.unigram_jsd).toBeNull();
    expect(d.length.distance).toBeNull();
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });
});

describe("reference profile", () => {
  it("survives JSON and stays bounded whatever the reference's size", () => {
    const b = new ReferenceBuilder();
    for (let chunk = 0; chunk < 10; chunk++) for (const t of texts(100 + chunk, 2000, { vocab: 200_000 })) b.add(t);
    const p: ReferenceProfile = b.finish();
    const json = JSON.stringify(p);
    expect(json.length).toBeLessThan(400_000);
    const back = JSON.parse(json) as ReferenceProfile;
    const release = profileOf(texts(2, 500));
    expect(drift(release, back)).toEqual(drift(release, p));
    expect(p.texts).toBe(20_000);
  });

  it("rejects what is not a profile", () => {
    expect(() => drift(new TextProfile(), { format: "nope" } as unknown as ReferenceProfile)).toThrow(/not a reference profile/);
  });
});

describe("jensenShannon", () => {
  it("is 0 for equal, 1 for disjoint, symmetric in between", () => {
    const a = Float64Array.of(1, 2, 3, 0);
    const b = Float64Array.of(0, 0, 0, 5);
    const c = Float64Array.of(3, 2, 1, 1);
    expect(jensenShannon(a, Float64Array.of(2, 4, 6, 0))).toBeCloseTo(0, 12);
    expect(jensenShannon(a, b)).toBeCloseTo(1, 12);
    expect(jensenShannon(a, c)).toBeCloseTo(jensenShannon(c, a)!, 12);
    expect(jensenShannon(a, new Float64Array(4))).toBeNull();
  });
});
