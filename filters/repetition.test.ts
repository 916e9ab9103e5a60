import { describe, expect, it } from "vitest";
import { RepetitionOptions, repetition, repetitionStats } from "./repetition";

const ctx = { render: (t: string) => t };
// The rules are pinned on short texts, so min_words is lowered to 10 unless a test says otherwise.
const build = (o: Record<string, unknown> = {}) => repetition.build(RepetitionOptions.parse({ type: "repetition", min_words: 10, ...o }), { env: {} as never, datasetId: null });
const check = (f: ReturnType<typeof build>, completion: string) => f.check({ input: {}, messages: [], completion }, ctx);

const prose =
  "Janet's ducks lay sixteen eggs per day. She eats three for breakfast every morning and bakes muffins for her friends with four more. " +
  "That leaves nine eggs, which she sells at the farmers' market for two dollars each, so she makes eighteen dollars every day.\nA: 18";

describe("repetition filter (Gopher rules)", () => {
  const f = build();

  it("keeps ordinary prose, with a score below 1 (fraction of the nearest threshold)", async () => {
    const r = await check(f, prose);
    expect(r.pass).toBe(true);
    expect(r.score).toBeLessThan(1);
  });

  it("lets short texts through untested (min_words, default 50 as in Gopher)", async () => {
    for (const t of ["Hello world", "yes yes yes", "A: 18", "ok\nok\nok"]) {
      expect(await check(f, t)).toMatchObject({ pass: true, score: 0, detail: expect.stringMatching(/too short to judge/) });
    }
    const loop = "the cat sat on the mat ".repeat(8); // 48 words
    expect(await check(build({ min_words: undefined }), loop)).toMatchObject({ pass: true, detail: "48 words < 50: too short to judge" });
    expect((await check(build({ min_words: undefined }), loop + "again and again")).reason).toBe("repetition.top_ngram");
  });

  it("rejects duplicate lines above max_duplicate_line_fraction", async () => {
    const text = ["Step one is to read.", "Then add the numbers together.", "Then add the numbers together.", "Then add the numbers together.", "Done with it now."].join("\n");
    // paragraphs: 1; lines: 5, 2 duplicates = 0.4 > 0.3
    const r = await check(build({ max_duplicate_line_char_fraction: 1, max_top_ngram_char_fraction: { "2": 1, "3": 1, "4": 1 }, max_duplicate_ngram_char_fraction: { "5": 1, "6": 1, "7": 1, "8": 1, "9": 1, "10": 1 } }), text);
    expect(r).toMatchObject({ pass: false, reason: "repetition.duplicate_lines", score: 0.4 });
    expect(r.detail).toBe("duplicate line fraction 0.4 > 0.3");
    expect((await check(build({ max_duplicate_line_fraction: 0.4, max_duplicate_line_char_fraction: 1, max_top_ngram_char_fraction: { "2": 1, "3": 1, "4": 1 }, max_duplicate_ngram_char_fraction: { "5": 1, "6": 1, "7": 1, "8": 1, "9": 1, "10": 1 } }), text)).pass).toBe(true);
  });

  it("rejects duplicate paragraphs", async () => {
    const p = "This paragraph explains the method in some detail, with several words.";
    const text = [p, "A different paragraph follows here with other words entirely.", p].join("\n\n");
    expect(await check(f, text)).toMatchObject({ pass: false, reason: "repetition.duplicate_paragraphs" });
  });

  it("ignores lines without letters or digits (code braces, rules)", async () => {
    const code = "function f(a) {\n  if (a > 1) {\n    return a * 2;\n  }\n  return a;\n}\n---\nfunction g(b) {\n  return b + 1;\n}";
    expect(repetitionStats(code).duplicate_line_fraction).toBe(0);
  });

  it("rejects a dominant 2-gram (top n-gram rule) and reports the measure", async () => {
    const text = "the cat the cat the cat sat on a mat near the cat and the cat ran to the cat";
    const r = await check(f, text);
    expect(r).toMatchObject({ pass: false, reason: "repetition.top_ngram" });
    expect(r.detail).toMatch(/^top 2-gram char fraction 0\.\d+ > 0\.2$/);
    expect(r.score).toBeGreaterThan(0.2);
  });

  it("rejects looping text by duplicate n-grams", async () => {
    const loop = `${prose.slice(0, 120)} ${"and then she counts the eggs again to be sure of the total ".repeat(4)}`;
    const r = await check(build({ max_top_ngram_char_fraction: { "2": 1, "3": 1, "4": 1 } }), loop);
    expect(r).toMatchObject({ pass: false, reason: "repetition.duplicate_ngrams" });
    expect(r.detail).toMatch(/^duplicate 5-gram char fraction/);
  });

  it("counts a top n-gram only when it repeats", () => {
    expect(repetitionStats("one two three four five six seven eight nine ten eleven").top_ngram[2]).toBe(0);
  });

  it("refuses bad thresholds at recipe time", () => {
    expect(RepetitionOptions.safeParse({ type: "repetition", max_duplicate_line_fraction: 1.5 }).success).toBe(false);
    expect(RepetitionOptions.safeParse({ type: "repetition", max_top_ngram_char_fraction: { "11": 0.1 } }).success).toBe(false);
    const d = RepetitionOptions.parse({ type: "repetition", max_top_ngram_char_fraction: { "2": 0.25 } });
    expect(d.max_top_ngram_char_fraction).toEqual({ "2": 0.25, "3": 0.18, "4": 0.16 });
    expect(d.max_duplicate_ngram_char_fraction["10"]).toBe(0.1);
    expect(d.max_duplicate_line_fraction).toBe(0.3);
  });
});

describe("repetitionStats agrees with a plain string-keyed implementation", () => {
  // The reference: n-grams as strings, as datatrove computes them (top n-gram counted only when it repeats).
  function reference(text: string) {
    const t = text.trim();
    const words = t.match(/[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu) ?? [];
    const top: Record<number, number> = {};
    const dup: Record<number, number> = {};
    for (let n = 2; n <= 10; n++) {
      const grams = words.slice(0, Math.max(0, words.length - n + 1)).map((_, i) => words.slice(i, i + n).join(" "));
      if (n <= 4) {
        const counts = new Map<string, number>();
        for (const g of grams) counts.set(g, (counts.get(g) ?? 0) + 1);
        let best = 0;
        let bestCount = 1;
        for (const [g, c] of counts) if (c > bestCount || (c === bestCount && c >= 2 && g.length > best / c)) [bestCount, best] = [c, c * g.length];
        top[n] = (bestCount >= 2 ? best : 0) / t.length;
      } else {
        const seen = new Set<string>();
        let chars = 0;
        for (let i = 0; i < grams.length; ) {
          if (seen.has(grams[i]!)) {
            chars += grams[i]!.length;
            i += n;
          } else seen.add(grams[i++]!);
        }
        dup[n] = Math.min(1, chars / t.length);
      }
    }
    return { top, dup };
  }

  it("on random texts from a small vocabulary (many repeats)", () => {
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const vocab = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "away", "home", "42", "don't"];
    for (let k = 0; k < 50; k++) {
      const words = Array.from({ length: 20 + Math.floor(rnd() * 200) }, () => vocab[Math.floor(rnd() * (3 + (k % 12)))]!);
      const text = words.join(" ");
      const got = repetitionStats(text);
      const want = reference(text);
      for (const n of [2, 3, 4]) expect(got.top_ngram[n]).toBeCloseTo(want.top[n]!, 10);
      for (const n of [5, 6, 7, 8, 9, 10]) expect(got.duplicate_ngram[n]).toBeCloseTo(want.dup[n]!, 10);
    }
  });
});
