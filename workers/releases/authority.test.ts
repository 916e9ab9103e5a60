import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import * as keys from "../../r2/keys";
import { KEY_WORDS, sampleKeys } from "../../filters/dedup";
import { EXACT, KEEP, NEAR, PIECES, StepDedup } from "./authority";
import { pieceStore } from "./compile-step";

/** Distinct texts of ~60 words, and a near copy (one word changed). */
const text = (i: number) => Array.from({ length: 60 }, (_, w) => `t${i}w${(w * 31 + i) % 997}`).join(" ");
const near = (i: number) => text(i).replace(/^\S+/, "changed");

describe("StepDedup: the compile's dedup authority, one index piece at a time", () => {
  it("decides against the stored pieces and the step's own earlier records, then adds what it kept", async () => {
    const base = keys.dedupReleaseIndexBase("ds_authority_test", `v${Date.now()}`);
    const store = pieceStore(env, base);

    const day1 = new StepDedup({ near: 0.85, exact: true }, 1000);
    for (const i of [0, 1, 2]) day1.add(text(i));
    day1.add(text(1)); // within the step: exact
    day1.add(near(2)); // within the step: near
    await day1.decide(null);
    expect([0, 1, 2, 3, 4].map((i) => day1.verdict(i))).toEqual([KEEP, KEEP, KEEP, EXACT, NEAR]);
    await day1.save(null, store);
    // One object per piece: exact keys and each LSH band.
    for (const p of PIECES) expect(await env.BUCKET.head(keys.authorityPiece(base, p))).not.toBeNull();

    const day2 = new StepDedup({ near: 0.85, exact: true }, 1000);
    for (const t of [text(0), near(1), text(3), text(3)]) day2.add(t);
    await day2.decide(store);
    expect([0, 1, 2, 3].map((i) => day2.verdict(i))).toEqual([EXACT, NEAR, KEEP, EXACT]);
    expect(day2.dropped).toEqual({ exact: 2, near: 1 });

    // Saved into a new base from the old one: text(3) is there now, text(4) is not.
    const next = keys.dedupReleaseIndexBase("ds_authority_test", `v${Date.now()}-2`);
    await day2.save(store, pieceStore(env, next));
    const day3 = new StepDedup({ near: 0.85, exact: true }, 1000);
    for (const t of [text(3), text(4), text(0)]) day3.add(t);
    await day3.decide(pieceStore(env, next));
    expect([0, 1, 2].map((i) => day3.verdict(i))).toEqual([EXACT, KEEP, EXACT]);
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
      await d.save(null, { load: async () => null, store: async (p, b) => void pieces.set(p, b.slice()) });
      return pieces;
    };
    expect(await saved(fromKeys)).toEqual(await saved(fromText));
    // The keys are let go once saved; the verdicts stay for writing the files.
    expect(verdicts(fromKeys)).toEqual(verdicts(fromText));
  });
});
