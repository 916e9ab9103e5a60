import { z } from "zod";
import { defineFilter } from "./define";
import type { Filter } from "./types";

// Gopher's repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A, the
// MassiveText quality filters), measured the way datatrove's GopherRepetitionFilter does:
//
//   - duplicate lines: the fraction of lines that repeat an earlier line (and of characters in them)
//   - duplicate paragraphs (split on blank lines): the same, for paragraphs
//   - top n-gram, n = 2, 3, 4: characters covered by the most frequent word n-gram / text length
//   - duplicate n-grams, n = 5..10: characters in word n-grams that repeat an earlier one (counted
//     without overlap) / text length
//
// Differences from datatrove, so that short or structured completions are not rejected for
// being short or structured:
//   - a top n-gram counts only when it occurs at least twice (datatrove counts a single
//     occurrence, so "Hello world" is 100% "top 2-gram");
//   - texts with fewer than `min_words` words (default 50, Gopher's own minimum document
//     length) pass untested ("too short to judge");
//   - lines and paragraphs are compared trimmed, and lines without a letter or digit (a lone
//     "}", "---", blank) are ignored, so code and markdown are not "duplicate lines".
// Words are runs of letters, digits and apostrophes (punctuation dropped), compared exactly.

const frac = (d: number) => z.number().min(0).max(1).default(d);

export const RepetitionOptions = z
  .object({
    type: z.literal("repetition"),
    max_duplicate_line_fraction: frac(0.3),
    max_duplicate_line_char_fraction: frac(0.2),
    max_duplicate_paragraph_fraction: frac(0.3),
    max_duplicate_paragraph_char_fraction: frac(0.2),
    /** Max character fraction of the most frequent n-gram, for n = 2, 3, 4. */
    max_top_ngram_char_fraction: z
      .object({ "2": frac(0.2), "3": frac(0.18), "4": frac(0.16) })
      .strict()
      .default({ "2": 0.2, "3": 0.18, "4": 0.16 }),
    /** Max character fraction in duplicated n-grams, for n = 5..10. */
    max_duplicate_ngram_char_fraction: z
      .object({ "5": frac(0.15), "6": frac(0.14), "7": frac(0.13), "8": frac(0.12), "9": frac(0.11), "10": frac(0.1) })
      .strict()
      .default({ "5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.1 }),
    /**
     * Below this many words the filter passes: the ratios mean little on short texts (Gopher
     * itself drops documents under 50 words before applying them).
     */
    min_words: z.number().int().nonnegative().default(50),
  })
  .strict();

export type RepetitionOptions = z.infer<typeof RepetitionOptions>;

const WORD = /[\p{L}\p{N}]+(?:['\u2019][\p{L}\p{N}]+)*/gu;
const HAS_ALNUM = /[\p{L}\p{N}]/u;

/** Elements that repeat an earlier one, and their characters. */
function duplicates(items: string[]): { count: number; chars: number } {
  const seen = new Set<string>();
  let count = 0;
  let chars = 0;
  for (const it of items) {
    if (seen.has(it)) {
      count++;
      chars += it.length;
    } else seen.add(it);
  }
  return { count, chars };
}

export interface RepetitionStats {
  words: number;
  duplicate_line_fraction: number;
  duplicate_line_char_fraction: number;
  duplicate_paragraph_fraction: number;
  duplicate_paragraph_char_fraction: number;
  top_ngram: Record<number, number>;
  duplicate_ngram: Record<number, number>;
}

/** Every Gopher repetition measure of a text (exported for benchmarks and stats). */
export function repetitionStats(text: string): RepetitionStats {
  const t = text.trim();
  const len = Math.max(1, t.length);
  const paragraphs = t.split(/\n\s*\n/).map((p) => p.trim()).filter((p) => HAS_ALNUM.test(p));
  const lines = t.split("\n").map((l) => l.trim()).filter((l) => HAS_ALNUM.test(l));
  const pd = duplicates(paragraphs);
  const ld = duplicates(lines);
  const words = t.match(WORD) ?? [];

  // Words → small integer ids; n-grams → two independent 32-bit hashes, extended from the
  // (n-1)-grams in place, as are their character counts (words plus the n-1 spaces between
  // them). The first hash (30 bits, a small integer V8 keys fast) indexes the maps; the second
  // is stored and must agree, so a collision can only hide a repeat (never invent one).
  // Numbers as keys make this ~4× faster than string keys.
  const ids = new Map<string, number>();
  const m = words.length;
  const wid = new Int32Array(m);
  const ha = new Int32Array(m);
  const hb = new Int32Array(m);
  const chars = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    const w = words[i]!;
    let id = ids.get(w);
    if (id === undefined) ids.set(w, (id = ids.size));
    wid[i] = id;
    ha[i] = Math.imul(id + 1, 0x9e3779b1);
    hb[i] = Math.imul(id + 1, 0x85ebca77) ^ 0x5bd1e995;
    chars[i] = w.length;
  }

  const top_ngram: Record<number, number> = {};
  const duplicate_ngram: Record<number, number> = {};
  for (let n = 2; n <= 10; n++) {
    const count = m - n + 1;
    // Extend every (n-1)-gram starting at i by the word at i+n-1.
    for (let i = 0; i < count; i++) {
      const id = wid[i + n - 1]!;
      ha[i] = Math.imul(ha[i]! ^ id, 0x01000193) + n;
      hb[i] = Math.imul(hb[i]! + id + 0x7f4a7c15, 0xc2b2ae35) ^ (hb[i]! >>> 15);
      chars[i] = chars[i]! + 1 + words[i + n - 1]!.length;
    }
    const owner = new Map<number, number>();
    if (n <= 4) {
      const counts = new Map<number, number>();
      let bestCount = 1;
      let bestChars = 0;
      for (let i = 0; i < count; i++) {
        const k = ha[i]! & 0x3fffffff;
        const o = owner.get(k);
        if (o === undefined) {
          owner.set(k, hb[i]!);
          counts.set(k, 1);
        } else if (o === hb[i]) {
          const c = counts.get(k)! + 1;
          counts.set(k, c);
          // The most frequent n-gram (ties: the longer one); it counts only when it repeats.
          if (c > bestCount || (c === bestCount && chars[i]! > bestChars)) {
            bestCount = c;
            bestChars = chars[i]!;
          }
        }
      }
      top_ngram[n] = (bestCount >= 2 ? bestCount * bestChars : 0) / len;
    } else {
      let dup = 0;
      for (let i = 0; i < count; ) {
        const k = ha[i]! & 0x3fffffff;
        const o = owner.get(k);
        if (o === undefined) {
          owner.set(k, hb[i]!);
          i++;
        } else if (o === hb[i]) {
          dup += chars[i]!;
          i += n; // no overlapping repeats, as in datatrove
        } else i++;
      }
      duplicate_ngram[n] = Math.min(1, dup / len);
    }
  }

  return {
    words: words.length,
    duplicate_line_fraction: lines.length ? ld.count / lines.length : 0,
    duplicate_line_char_fraction: ld.chars / len,
    duplicate_paragraph_fraction: paragraphs.length ? pd.count / paragraphs.length : 0,
    duplicate_paragraph_char_fraction: pd.chars / len,
    top_ngram,
    duplicate_ngram,
  };
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Rejects degenerate, looping completions (the same line, sentence or phrase over and over). */
export function repetitionFilter(opts: RepetitionOptions): Filter {
  const rules: { reason: string; label: string; max: number; value: (s: RepetitionStats) => number }[] = [
    { reason: "repetition.duplicate_paragraphs", label: "duplicate paragraph fraction", max: opts.max_duplicate_paragraph_fraction, value: (s) => s.duplicate_paragraph_fraction },
    { reason: "repetition.duplicate_paragraph_chars", label: "duplicate paragraph char fraction", max: opts.max_duplicate_paragraph_char_fraction, value: (s) => s.duplicate_paragraph_char_fraction },
    { reason: "repetition.duplicate_lines", label: "duplicate line fraction", max: opts.max_duplicate_line_fraction, value: (s) => s.duplicate_line_fraction },
    { reason: "repetition.duplicate_line_chars", label: "duplicate line char fraction", max: opts.max_duplicate_line_char_fraction, value: (s) => s.duplicate_line_char_fraction },
    ...([2, 3, 4] as const).map((n) => ({
      reason: "repetition.top_ngram",
      label: `top ${n}-gram char fraction`,
      max: opts.max_top_ngram_char_fraction[n],
      value: (s: RepetitionStats) => s.top_ngram[n] ?? 0,
    })),
    ...([5, 6, 7, 8, 9, 10] as const).map((n) => ({
      reason: "repetition.duplicate_ngrams",
      label: `duplicate ${n}-gram char fraction`,
      max: opts.max_duplicate_ngram_char_fraction[n],
      value: (s: RepetitionStats) => s.duplicate_ngram[n] ?? 0,
    })),
  ];
  return {
    name: "repetition",
    check({ completion }) {
      const stats = repetitionStats(completion);
      if (stats.words < opts.min_words) return { pass: true, score: 0, detail: `${stats.words} words < ${opts.min_words}: too short to judge` };
      let worst = 0;
      let worstLabel = "";
      for (const r of rules) {
        const v = r.value(stats);
        if (v > r.max) return { pass: false, score: r3(v), reason: r.reason, detail: `${r.label} ${r3(v)} > ${r.max}` };
        const ratio = r.max > 0 ? v / r.max : 0;
        if (ratio > worst) {
          worst = ratio;
          worstLabel = `${r.label} ${r3(v)} ≤ ${r.max}`;
        }
      }
      // On a pass the score is the highest measure as a fraction of its threshold (< 1).
      return { pass: true, score: r3(worst), detail: worstLabel || "no repetition" };
    },
  };
}

export const repetition = defineFilter({ type: "repetition", options: RepetitionOptions, build: repetitionFilter });
