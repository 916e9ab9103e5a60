import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import * as keys from "../r2/keys";
import type { Env } from "../workers/env";
import { EXACT, KEEP, NEAR, StepDedup } from "../workers/releases/authority";
import { DatasetDedupIndex, dedup, dedupFilter, DedupOptions, FOLD_EVERY, foldDedupIndex, loadDedupIndex } from "./dedup";
import type { Candidate, Filter } from "./types";

const e = env as unknown as Env;
const ctx = { render: (s: string) => s };
const cand = (completion: string, user = "q"): Candidate => ({ input: {}, messages: [{ role: "user", content: user }], completion });

function maker(seed: number) {
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const syl = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "en", "ar", "po", "li", "dan", "tor", "bel"];
  const vocab = Array.from({ length: 3000 }, () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => syl[Math.floor(rand() * syl.length)]).join(""));
  const word = () => vocab[Math.floor(rand() * vocab.length)]!;
  return {
    text: () => Array.from({ length: 170 }, word).join(" "),
    edit: (t: string, k: number) => {
      const ws = t.split(" ");
      for (let i = 0; i < k; i++) ws[Math.floor(rand() * ws.length)] = word();
      return ws.join(" ");
    },
  };
}

const build = (datasetId: string | null, o: Partial<DedupOptions> = {}): Filter => dedupFilter(DedupOptions.parse({ type: "dedup", ...o }), { env: e, datasetId });

async function runBatch(f: Filter, texts: string[]) {
  await f.prepare?.();
  const verdicts: import("./types").FilterResult[] = [];
  for (const t of texts) verdicts.push(await f.check(cand(t), ctx));
  await f.commit?.(texts.filter((_, i) => verdicts[i]!.pass).map((t) => cand(t)));
  return verdicts;
}

describe("dedup options", () => {
  it("defaults and validation", () => {
    expect(dedup.options.parse({ type: "dedup" })).toEqual({ type: "dedup", near: 0.85, exact: true, on: "completion" });
    expect(dedup.options.parse({ type: "dedup", near: false }).near).toBe(false);
    expect(() => dedup.options.parse({ type: "dedup", near: 1.5 })).toThrow();
    expect(() => dedup.options.parse({ type: "dedup", bogus: 1 })).toThrow();
  });
});

describe("dedup within one batch (no dataset: /v1/filters/check)", () => {
  it("pins dedup.exact on case/punctuation/whitespace variants", async () => {
    const f = build(null);
    const m = maker(1);
    const a = m.text();
    const [v1, v2, v3] = await runBatch(f, [a, a.toUpperCase().replace(/ /g, " ,  "), m.text()]);
    expect(v1!.pass).toBe(true);
    expect(v2).toMatchObject({ pass: false, reason: "dedup.exact" });
    expect(v2!.detail).toMatch(/exact duplicate of a candidate in this batch \(text hash [0-9a-f]{16}\)/);
    expect(v3!.pass).toBe(true);
  });

  it("pins dedup.near with the other sample and the similarity", async () => {
    const f = build(null);
    const m = maker(2);
    const a = m.text();
    const [, v] = await runBatch(f, [a, m.edit(a, 2)]);
    expect(v).toMatchObject({ pass: false, reason: "dedup.near" });
    expect(v!.detail).toMatch(/near duplicate of a candidate in this batch \(text hash [0-9a-f]{16}, estimated Jaccard 0\.\d\d, \d\/8 bands\)/);
  });

  it("near: false keeps near-duplicates, exact: false keeps exact ones", async () => {
    const m = maker(3);
    const a = m.text();
    expect((await runBatch(build(null, { near: false }), [a, m.edit(a, 2)]))[1]!.pass).toBe(true);
    expect((await runBatch(build(null, { near: false, exact: false }), [a, a]))[1]!.pass).toBe(true);
  });

  it("on: sample compares prompt and completion", async () => {
    const f = build(null, { on: "sample" });
    expect((await f.check(cand("A: 18", "question one"), ctx)).pass).toBe(true);
    expect((await f.check(cand("A: 18", "question two"), ctx)).pass).toBe(true);
    expect((await f.check(cand("a 18", "Question one"), ctx)).reason).toBe("dedup.exact");
  });
});

describe("dedup across batches through R2", () => {
  it("a later batch (another consumer) sees what earlier batches accepted", async () => {
    const ds = `ds_dedup_${crypto.randomUUID()}`;
    const m = maker(4);
    const a = m.text();
    const b = m.text();
    const v1 = await runBatch(build(ds), [a, b]);
    expect(v1.every((v) => v.pass)).toBe(true);
    const listed = await e.BUCKET.list({ prefix: keys.dedupIndexPrefix(ds) });
    expect(listed.objects.map((o) => o.key)).toEqual([expect.stringMatching(/\/delta-\d{13}-.+\.bin$/)]);

    const [x, y, z] = await runBatch(build(ds), [a.toLowerCase() + ".", m.edit(b, 3), m.text()]);
    expect(x).toMatchObject({ pass: false, reason: "dedup.exact" });
    expect(x!.detail).toContain("earlier sample in the dataset");
    expect(y).toMatchObject({ pass: false, reason: "dedup.near" });
    expect(y!.detail).toMatch(/\d\/8 LSH bands match/);
    expect(z!.pass).toBe(true);
  });

  it("only committed (accepted) candidates are remembered", async () => {
    const ds = `ds_dedup_${crypto.randomUUID()}`;
    const m = maker(5);
    const a = m.text();
    const f = build(ds);
    await f.prepare!();
    expect((await f.check(cand(a), ctx)).pass).toBe(true);
    await f.commit!([]); // a later filter rejected it
    expect((await runBatch(build(ds), [a]))[0]!.pass).toBe(true);
  });

  it("folds deltas into a snapshot after FOLD_EVERY batches, and at compile", async () => {
    const ds = `ds_dedup_${crypto.randomUUID()}`;
    const m = maker(6);
    const texts = Array.from({ length: FOLD_EVERY + 1 }, () => m.text());
    for (const t of texts.slice(0, FOLD_EVERY)) await runBatch(build(ds), [t]);
    // This batch's prepare sees FOLD_EVERY uncovered deltas and writes a snapshot.
    expect((await runBatch(build(ds), [texts[0]!]))[0]!.reason).toBe("dedup.exact");
    let objs = (await e.BUCKET.list({ prefix: keys.dedupIndexPrefix(ds) })).objects.map((o) => o.key);
    expect(objs.filter((k) => k.includes("/snap-")).length).toBe(1);
    await runBatch(build(ds), [texts[FOLD_EVERY]!]);

    const r = await foldDedupIndex(e, ds);
    expect(r.samples).toBe(FOLD_EVERY + 1);
    objs = (await e.BUCKET.list({ prefix: keys.dedupIndexPrefix(ds) })).objects.map((o) => o.key);
    expect(objs).toEqual([r.snapshot]);
    const l = await loadDedupIndex(e, ds, { near: 0.85 });
    for (const t of texts) expect(l.index.check(t).dup).toBe("exact");
    expect((await runBatch(build(ds), [m.edit(texts[5]!, 2)]))[0]!.reason).toBe("dedup.near");
  });

  it("concurrent batches can both accept a duplicate; the compile pass drops the later one", async () => {
    const ds = `ds_dedup_${crypto.randomUUID()}`;
    const m = maker(7);
    const a = m.text();
    const f1 = build(ds);
    const f2 = build(ds);
    await Promise.all([f1.prepare!(), f2.prepare!()]);
    expect((await f1.check(cand(a), ctx)).pass).toBe(true);
    expect((await f2.check(cand(a), ctx)).pass).toBe(true);
    await Promise.all([f1.commit!([cand(a)]), f2.commit!([cand(a)])]);

    // The release compile's authority pass (workers/releases/authority.ts) drops the later one.
    const pass = new StepDedup({ near: 0.85, exact: true }, 1024);
    const other = m.text();
    for (const t of [a, other, a, m.edit(other, 1)]) pass.add(t);
    await pass.decide(null);
    expect([0, 1, 2, 3].map((i) => pass.verdict(i))).toEqual([KEEP, KEEP, EXACT, NEAR]);
    expect(pass.dropped).toEqual({ exact: 1, near: 1 });
  });
});

describe("DatasetDedupIndex", () => {
  it("serialises and loads, keeping every key; memory stays ~20 bytes per sample with a hint", () => {
    const m = maker(8);
    const idx = new DatasetDedupIndex({ near: 0.85, capacity: 2000 });
    const texts = Array.from({ length: 2000 }, () => m.text());
    for (const t of texts) expect(idx.add(t).dup).toBeNull();
    expect(idx.bytes / idx.samples).toBeLessThan(40);
    const back = DatasetDedupIndex.load(idx.serialize(), { near: 0.85 });
    expect(back.samples).toBe(2000);
    for (const t of texts.slice(0, 50)) expect(back.check(t).dup).toBe("exact");
    expect(back.check(m.edit(texts[0]!, 2)).dup).toBe("near");
    expect(back.check(m.text()).dup).toBeNull();
  });

  it("writes a loaded snapshot back into its own buffer while the layout holds, and copies once it grows", () => {
    const m = maker(9);
    const idx = new DatasetDedupIndex({ near: 0.85, capacity: 1024 });
    for (let i = 0; i < 100; i++) idx.add(m.text());
    const snap = idx.serialize();
    const loaded = DatasetDedupIndex.load(snap, { near: 0.85 });
    const extra = Array.from({ length: 100 }, () => m.text());
    for (const t of extra) expect(loaded.add(t).dup).toBeNull();
    const again = loaded.serialize();
    expect(again.buffer).toBe(snap.buffer); // no second copy of the index
    const back = DatasetDedupIndex.load(again.slice(), { near: 0.85 });
    expect(back.samples).toBe(200);
    for (const t of extra) expect(back.check(t).dup).toBe("exact");
    // Past the first layer's capacity a new layer is added: a new buffer, with every key.
    const more = Array.from({ length: 2000 }, () => m.text());
    for (const t of more) loaded.add(t);
    const grown = loaded.serialize();
    expect(grown.buffer).not.toBe(snap.buffer);
    const all = DatasetDedupIndex.load(grown, { near: 0.85 });
    for (const t of [...extra.slice(0, 20), ...more.slice(-20)]) expect(all.check(t).dup).toBe("exact");
  });
});

describe("splitMessages", () => {
  it("separates the completion from the prompt of a stored record", async () => {
    const { splitMessages, dedupText } = await import("./dedup");
    const parts = splitMessages([
      { role: "user", content: "Q" },
      { role: "assistant", content: "A" },
    ]);
    expect(parts).toEqual({ messages: [{ role: "user", content: "Q" }], completion: "A" });
    expect(dedupText(parts, "sample")).toBe("Q\nA");
  });
});
