import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import * as keys from "../../r2/keys";
import { KEY_WORDS, sampleKeys } from "../../filters/dedup";
import { bloomOf, EXACT, KEEP, MissingLayerError, NEAR, PIECES, StepDedup } from "./authority";
import { layerStore, releaseIndex } from "./compile-step";

/** Distinct texts of ~60 words, and a near copy (one word changed). */
const text = (i: number) => Array.from({ length: 60 }, (_, w) => `t${i}w${(w * 31 + i) % 997}`).join(" ");
const near = (i: number) => text(i).replace(/^\S+/, "changed");
/** Each text's keys as a step stores them: exact, then two words per band. */
const sampleKeysOf = (texts: string[]) => texts.map((t) => {
  const k = sampleKeys(t);
  return [...k.exact, ...k.bands];
});

describe("StepDedup: the compile's dedup authority, one index piece at a time", () => {
  const store = layerStore(env);
  const baseOf = (run: string) => (layer: number) => keys.authorityLayerBase("ds_authority_test", run, 0, layer);
  const pieceKeys = (base: string) => PIECES.map((p) => keys.authorityPiece(base, p));

  it("decides against the stored layers and the step's own earlier records, then adds what it kept", async () => {
    const run = `v${Date.now()}`;
    const day1 = new StepDedup({ near: 0.85, exact: true }, 1000);
    for (const i of [0, 1, 2]) day1.add(text(i));
    day1.add(text(1)); // within the step: exact
    day1.add(near(2)); // within the step: near
    await day1.decide(null);
    expect([0, 1, 2, 3, 4].map((i) => day1.verdict(i))).toEqual([KEEP, KEEP, KEEP, EXACT, NEAR]);
    const first = await day1.save(null, store, baseOf(`${run}a`));
    // One layer holding the three kept records, one object per piece: exact keys and each LSH band.
    expect(first.layers).toEqual([{ base: baseOf(`${run}a`)(0), count: 3, capacity: 1024 }]);
    for (const k of pieceKeys(first.layers[0]!.base)) expect(await env.BUCKET.head(k)).not.toBeNull();

    const day2 = new StepDedup({ near: 0.85, exact: true }, 1000);
    for (const t of [text(0), near(1), text(3), text(3)]) day2.add(t);
    await day2.decide({ index: first, store });
    expect([0, 1, 2, 3].map((i) => day2.verdict(i))).toEqual([EXACT, NEAR, KEEP, EXACT]);
    expect(day2.dropped).toEqual({ exact: 2, near: 1 });

    // The layer has room: text(3) goes into it, written anew under the new name; the old one is untouched.
    const second = await day2.save(first, store, baseOf(`${run}b`));
    expect(second.layers).toEqual([{ base: baseOf(`${run}b`)(0), count: 4, capacity: 1024 }]);
    const day3 = new StepDedup({ near: 0.85, exact: true }, 1000);
    for (const t of [text(3), text(4), text(0)]) day3.add(t);
    await day3.decide({ index: second, store });
    expect([0, 1, 2].map((i) => day3.verdict(i))).toEqual([EXACT, KEEP, EXACT]);
    const before = new StepDedup({ near: 0.85, exact: true }, 1000);
    before.add(text(3));
    await before.decide({ index: first, store });
    expect(before.verdict(0)).toBe(KEEP);
  });

  it("starts a new layer when the last has no room, and never writes a full one again", async () => {
    const run = `v${Date.now()}n`;
    // A small dataset's first layer: room for its 30 samples, rounded up to a power of two (32).
    const day1 = new StepDedup({ near: 0.85, exact: true }, 1);
    for (let i = 0; i < 30; i++) day1.add(text(100 + i));
    await day1.decide(null);
    const first = await day1.save(null, store, baseOf(`${run}a`));
    expect(first.layers.map((l) => [l.count, l.capacity])).toEqual([[30, 32]]);
    const written = await env.BUCKET.head(keys.authorityPiece(first.layers[0]!.base, "exact"));

    const day2 = new StepDedup({ near: 0.85, exact: true }, 1);
    for (let i = 0; i < 40; i++) day2.add(text(120 + i)); // 10 released already, 30 new
    await day2.decide({ index: first, store });
    expect(day2.dropped.exact).toBe(10);
    const second = await day2.save(first, store, baseOf(`${run}b`));
    expect(second.layers.map((l) => [l.base, l.count])).toEqual([
      [first.layers[0]!.base, 30],
      [baseOf(`${run}b`)(1), 30],
    ]);
    expect((await env.BUCKET.head(keys.authorityPiece(first.layers[0]!.base, "exact")))!.etag).toBe(written!.etag);

    // Both layers count: a record of each is an exact duplicate, a near copy of each is near, a
    // new one is kept. The same whether a step checks the layers in one pass or one at a time.
    const day3 = async () => {
      const d = new StepDedup({ near: 0.85, exact: true }, 1);
      for (const t of [text(105), text(155), near(110), near(150), text(500)]) d.add(t);
      await d.decide({ index: second, store });
      return [0, 1, 2, 3, 4].map((i) => d.verdict(i));
    };
    expect(await day3()).toEqual([EXACT, EXACT, NEAR, NEAR, KEEP]);
    const held = StepDedup.decideBytes;
    StepDedup.decideBytes = 1;
    try {
      expect(await day3()).toEqual([EXACT, EXACT, NEAR, NEAR, KEEP]);
    } finally {
      StepDedup.decideBytes = held;
    }
    // Nothing kept: the index is as it was, and nothing is written.
    const day4 = new StepDedup({ near: 0.85, exact: true }, 1);
    day4.add(text(105));
    await day4.decide({ index: second, store });
    expect(await day4.save(second, store, () => { throw new Error("no layer is written"); })).toEqual(second);
  });

  it("reads a release's index written before layers (whole pieces) as one full layer", async () => {
    const version = `v${Date.now()}-legacy`;
    const base = keys.dedupReleaseIndexBase("ds_authority_test", version);
    // The old layout: each piece one ScalableBloom sized for the dataset, 16 bits a band key.
    const keyed = sampleKeysOf([text(7), text(8)]);
    for (const [p, piece] of PIECES.entries()) {
      const bloom = bloomOf(piece, 1000);
      for (const k of keyed) bloom.add(k[2 * p]!, k[2 * p + 1]!);
      const words = new Uint32Array(bloom.words());
      bloom.write(words, 0);
      await env.BUCKET.put(keys.authorityPiece(base, piece), words);
    }
    const index = await releaseIndex(env, "ds_authority_test", version);
    expect(index).toEqual({ v: 2, layers: [{ base, count: 0, capacity: 0 }] });
    const next = new StepDedup({ near: 0.85, exact: true }, 1000);
    for (const t of [text(7), near(8), text(9)]) next.add(t);
    await next.decide({ index: index!, store });
    expect([0, 1, 2].map((i) => next.verdict(i))).toEqual([EXACT, NEAR, KEEP]);
    // It takes no more samples: the kept one goes into a new layer.
    const saved = await next.save(index, store, baseOf(`${version}b`));
    expect(saved.layers.map((l) => l.count)).toEqual([0, 1]);
    expect(await releaseIndex(env, "ds_authority_test", `${version}-none`)).toBeNull();
  });

  it("refuses to decide against a layer that storage does not have", async () => {
    const step = new StepDedup({ near: 0.85, exact: true }, 1000);
    step.add(text(1));
    const index = { v: 2 as const, layers: [{ base: baseOf(`gone${Date.now()}`)(0), count: 1, capacity: 1024 }] };
    await expect(step.decide({ index, store })).rejects.toBeInstanceOf(MissingLayerError);
  });

  it("with near off, keeps near copies; with exact off, keeps exact copies but still remembers them", async () => {
    const onlyExact = new StepDedup({ near: false, exact: true }, 100);
    for (const t of [text(5), near(5), text(5)]) onlyExact.add(t);
    await onlyExact.decide(null);
    expect([0, 1, 2].map((i) => onlyExact.verdict(i))).toEqual([KEEP, KEEP, EXACT]);

    const onlyNear = new StepDedup({ near: 0.85, exact: false }, 100);
    for (const t of [text(6), text(6)]) onlyNear.add(t);
    await onlyNear.decide(null);
    // The same text agrees on every band: a near duplicate at similarity 1.
    expect([0, 1].map((i) => onlyNear.verdict(i))).toEqual([KEEP, NEAR]);
  });

  it("holds 72 bytes a record of its own, and grows a chunk of 8,192 rows at a time", async () => {
    const step = new StepDedup({ near: 0.85, exact: true }, 10_000);
    for (let i = 0; i < 9000; i++) step.add(text(1000 + i));
    expect(step.size).toBe(9000);
    await step.decide(null);
    expect(step.dropped).toEqual({ exact: 0, near: 0 });
  });

  it("takes keys already computed (a segment's) as add would, across chunks, and saves the same index", async () => {
    const n = 17_000; // more than two chunks of 8,192 rows
    const keyed = new Uint32Array(n * KEY_WORDS);
    for (let i = 0; i < n; i++) {
      const k = sampleKeys(i % 7 === 3 ? text(i - 1) : text(i));
      keyed.set([...k.exact, ...k.bands], i * KEY_WORDS);
    }
    const fromText = new StepDedup({ near: 0.85, exact: true }, 10_000);
    const fromKeys = new StepDedup({ near: 0.85, exact: true }, 10_000);
    for (let i = 0; i < n; i++) {
      fromText.add(i % 7 === 3 ? text(i - 1) : text(i));
      expect(fromKeys.addKeys(keyed, i)).toBe(i);
    }
    await fromText.decide(null);
    await fromKeys.decide(null);
    const verdicts = (d: StepDedup) => Array.from({ length: n }, (_, i) => d.verdict(i));
    expect(verdicts(fromKeys)).toEqual(verdicts(fromText));
    expect(fromKeys.dropped.exact).toBeGreaterThan(2000);
    const saved = async (d: StepDedup) => {
      const pieces = new Map<string, Uint8Array>();
      await d.save(null, { load: async () => null, store: async (_, p, b) => void pieces.set(p, b.slice()) }, () => "mem.");
      return pieces;
    };
    expect(await saved(fromKeys)).toEqual(await saved(fromText));
    // The keys are let go once saved; the verdicts stay for writing the files.
    expect(verdicts(fromKeys)).toEqual(verdicts(fromText));
  });
});
