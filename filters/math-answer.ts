import { z } from "zod";
import { defineFilter } from "./define";
import type { Filter } from "./types";

export const MathAnswerOptions = z
  .object({
    type: z.literal("math_answer"),
    /** Template for the reference answer, rendered from the input row (e.g. "{{answer}}"). */
    reference: z.string().min(1),
    /** Relative tolerance for numeric equality. */
    tolerance: z.number().nonnegative().max(0.1).default(1e-6),
  })
  .strict();

// Final-answer markers, strongest first. Each finds the *last* occurrence: models often
// restate intermediate results before the final one.
const MARKERS: { name: string; re: RegExp }[] = [
  { name: "boxed", re: /\\boxed\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}/g },
  { name: "####", re: /####\s*([^\n]+)/g },
  { name: "A:", re: /(?:^|\n)\s*A:\s*([^\n]+)/g },
  { name: "answer is", re: /answer is[:\s]*([^\n]+)/gi },
];

const NUMBER = /-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*\/\s*\d+)?|-?\.\d+/g;

/** The final answer text of a solution, and which marker found it. */
export function extractAnswer(text: string): { text: string; via: string } | null {
  for (const { name, re } of MARKERS) {
    const all = [...text.matchAll(re)];
    const last = all.at(-1)?.[1]?.trim();
    if (last) return { text: last, via: name };
  }
  const nums = text.match(NUMBER);
  const last = nums?.at(-1);
  return last ? { text: last, via: "last number" } : null;
}

/** Parses "1,234", "$18.50", "75%", "3/4", "-2", "18 dollars" to a number. */
export function parseNumber(answer: string): number | null {
  const cleaned = answer.replace(/\\[!,;: ]/g, "").replace(/[$€£]/g, "").replace(/\\%|%/g, "");
  const m = cleaned.match(NUMBER);
  if (!m?.[0]) return null;
  const tok = m[0].replace(/,/g, "").replace(/\s+/g, "");
  if (tok.includes("/")) {
    const [a, b] = tok.split("/").map(Number);
    return b ? a! / b : null;
  }
  const n = Number(tok);
  return Number.isFinite(n) ? n : null;
}

export function numericallyEqual(a: number, b: number, tolerance: number): boolean {
  return Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Verifies the completion's final answer against the reference answer. */
export function mathAnswerFilter(opts: z.infer<typeof MathAnswerOptions>): Filter {
  return {
    name: "math_answer",
    check({ completion }, ctx) {
      const refText = ctx.render(opts.reference);
      const ref = extractAnswer(refText);
      const refNum = ref ? parseNumber(ref.text) : null;
      if (refNum === null) return { pass: false, reason: "math_answer.no_reference", detail: `no number in reference "${refText.slice(-80)}"` };
      const got = extractAnswer(completion);
      if (!got) return { pass: false, score: 0, reason: "math_answer.no_answer", detail: "no final answer found" };
      const gotNum = parseNumber(got.text);
      if (gotNum === null) return { pass: false, score: 0, reason: "math_answer.unparsable", detail: `cannot read "${got.text.slice(0, 80)}"` };
      const detail = `extracted ${gotNum} (${got.via}), reference ${refNum}`;
      return numericallyEqual(gotNum, refNum, opts.tolerance)
        ? { pass: true, score: 1, detail }
        : { pass: false, score: 0, reason: "math_answer.mismatch", detail };
    },
  };
}

export const mathAnswer = defineFilter({
  type: "math_answer",
  options: MathAnswerOptions,
  build: mathAnswerFilter,
  templates: (o) => [o.reference],
});
