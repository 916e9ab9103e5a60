import { describe, expect, it } from "vitest";
import { agreeingBands, BANDS, bandKeys, estimateJaccard, pCandidate, requiredBands, SHINGLE, signature } from "./minhash";
import { normalise, shingleHashes, wordHashes, words } from "./ngrams";

/** Seeded pseudo-English: ~1 KB texts from a vocabulary of made-up words. */
export function textMaker(seed = 1) {
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const syl = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "en", "ar", "po", "li", "dan", "tor", "bel", "qu", "xi", "om"];
  const vocab = Array.from({ length: 3000 }, () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => syl[Math.floor(rand() * syl.length)]).join(""));
  const word = () => vocab[Math.floor(rand() * vocab.length)]!;
  return {
    rand,
    word,
    text(chars = 1000) {
      const out: string[] = [];
      let n = 0;
      while (n < chars) {
        const w = word();
        out.push(w);
        n += w.length + 1;
      }
      return out.join(" ");
    },
    /** Substitutes `k` random words. */
    edit(text: string, k: number) {
      const ws = text.split(" ");
      for (let i = 0; i < k; i++) ws[Math.floor(rand() * ws.length)] = word();
      return ws.join(" ");
    },
  };
}

export function trueJaccard(a: string, b: string): number {
  const A = new Set(shingleHashes(wordHashes(a), SHINGLE));
  const B = new Set(shingleHashes(wordHashes(b), SHINGLE));
  let i = 0;
  for (const x of A) if (B.has(x)) i++;
  return i / (A.size + B.size - i);
}

describe("tokenizer", () => {
  it("lowercases, drops punctuation (joining across a single mark), keeps any script's letters and digits", () => {
    expect(words("Janet’s ducks DON'T lay 16.5 eggs — per day. Café, naïve! $80,000")).toEqual(["janets", "ducks", "dont", "lay", "165", "eggs", "per", "day", "café", "naïve", "80000"]);
    expect(normalise("Janet's 80,000 (x)")).toBe(normalise("Janets 80000 x"));
    expect(normalise("  Hello,\n\tWORLD!! ")).toBe("hello world");
    expect(normalise("hello world")).toBe(normalise("Hello — World."));
  });
  it("word hashes agree with the words", () => {
    expect(wordHashes("Hello, World").length).toBe(2);
    expect([...wordHashes("a b a")][0]).toBe([...wordHashes("a b a")][2]);
  });
});

describe("minhash", () => {
  it("identical texts have identical signatures; unrelated ones share almost nothing", () => {
    const m = textMaker(3);
    const a = m.text();
    expect(estimateJaccard(signature(a), signature(a.toUpperCase()))).toBe(1);
    expect(estimateJaccard(signature(a), signature(m.text()))).toBeLessThan(0.1);
  });

  it("estimates Jaccard without bias (mean error < 0.02 over 200 edited pairs)", () => {
    const m = textMaker(5);
    let err = 0;
    for (let i = 0; i < 200; i++) {
      const a = m.text();
      const b = m.edit(a, 1 + Math.floor(m.rand() * 6));
      err += estimateJaccard(signature(a), signature(b)) - trueJaccard(a, b);
    }
    expect(Math.abs(err / 200)).toBeLessThan(0.02);
  });

  it("LSH parameters: 2 of 8 bands at 0.85, steep curve", () => {
    expect(requiredBands(0.85)).toBe(2);
    expect(pCandidate(0.85, 2)).toBeGreaterThan(0.9);
    expect(pCandidate(0.5, 2)).toBeLessThan(0.03);
    expect(requiredBands(0.95)).toBeGreaterThan(requiredBands(0.85));
  });

  it("catches ≥ 90% of constructed pairs with Jaccard ≥ 0.85", () => {
    const m = textMaker(11);
    let n = 0;
    let caught = 0;
    let lowFlagged = 0;
    let low = 0;
    const need = requiredBands(0.85);
    for (let i = 0; i < 400; i++) {
      const a = m.text();
      const b = m.edit(a, Math.floor(m.rand() * 12));
      const j = trueJaccard(a, b);
      const agree = agreeingBands(bandKeys(signature(a)), bandKeys(signature(b)));
      if (j >= 0.85) {
        n++;
        if (agree >= need) caught++;
      } else if (j < 0.5) {
        low++;
        if (agree >= need) lowFlagged++;
      }
    }
    expect(n).toBeGreaterThan(100);
    expect(caught / n).toBeGreaterThanOrEqual(0.9);
    expect(lowFlagged).toBeLessThanOrEqual(Math.ceil(low * 0.05));
    expect(BANDS).toBe(8);
  });
});
