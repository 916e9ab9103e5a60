import { z } from "zod";
import { defineFilter } from "./define";
import type { Filter } from "./types";

// A user-supplied regular expression, checked against the completion.
//
// Risk: JavaScript regexes backtrack, and a pattern such as `(a+)+$` takes exponential time on
// a crafted input; a check cannot be interrupted once it runs, so a bad pattern would burn the
// consumer's CPU. Mitigations, as far as is feasible in a Worker:
//   - the pattern is compiled when the recipe is validated (an invalid one is a 400, never a
//     crash at run time), and its length is capped;
//   - patterns with a nested unbounded quantifier, the classic catastrophic shape
//     (`(x+)+`, `(x*)*`, `(\w+\s?)*`, `(?:a|b+){2,}`), are refused unless
//     `allow_nested_quantifiers` is set: a cheap syntactic check, not a proof of safety;
//   - only the first `max_chars` characters are matched (default 20,000), which bounds the
//     damage of a polynomial pattern (`.*x.*y` is quadratic);
//   - stateful flags (g, y) are not accepted: they would make one candidate's result depend
//     on the previous one.

const FLAGS = /^(?!.*(.).*\1)[imsuv]*$/;

/**
 * True when a group that contains an unbounded quantifier (+, *, {n,}) is itself repeated
 * without bound. Ignores escapes and character classes. Heuristic.
 */
export function hasNestedQuantifier(source: string): boolean {
  // Stack of "does this open group contain an unbounded quantifier".
  const stack: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") inClass = true;
    else if (c === "(") stack.push(false);
    else if (c === ")") {
      const inner = stack.pop() ?? false;
      const rest = source.slice(i + 1);
      const repeated = /^(?:[+*]|\{\d+,\})/.test(rest);
      if (inner && repeated) return true;
      if (inner && stack.length) stack[stack.length - 1] = true;
    } else if ((c === "+" || c === "*" || (c === "{" && /^\{\d+,\}/.test(source.slice(i)))) && stack.length) {
      stack[stack.length - 1] = true;
    }
  }
  return false;
}

export const RegexOptions = z
  .object({
    type: z.literal("regex"),
    /** JavaScript regular expression source, without slashes. */
    pattern: z.string().min(1).max(2000),
    /** Any of i, m, s, u, v (no g or y). */
    flags: z.string().regex(FLAGS, "flags may be i, m, s, u, v, each at most once").default(""),
    /** true: reject completions that do not match; false: reject completions that match. */
    must_match: z.boolean().default(true),
    /** Only this many leading characters are matched. */
    max_chars: z.number().int().positive().max(1_000_000).default(20_000),
    /** Accept patterns with nested unbounded quantifiers (risk of catastrophic backtracking). */
    allow_nested_quantifiers: z.boolean().default(false),
  })
  .strict()
  .superRefine((o, ctx) => {
    try {
      new RegExp(o.pattern, o.flags);
    } catch (e) {
      ctx.addIssue({ code: "custom", path: ["pattern"], message: `invalid regular expression: ${(e as Error).message}` });
      return;
    }
    if (!o.allow_nested_quantifiers && hasNestedQuantifier(o.pattern)) {
      ctx.addIssue({
        code: "custom",
        path: ["pattern"],
        message: "pattern repeats a group that itself contains + or * (catastrophic backtracking risk); rewrite it or set allow_nested_quantifiers",
      });
    }
  });

export type RegexOptions = z.infer<typeof RegexOptions>;

/** Requires (or forbids) a match of a regular expression in the completion. */
export function regexFilter(opts: RegexOptions): Filter {
  const re = new RegExp(opts.pattern, opts.flags);
  return {
    name: "regex",
    check({ completion }) {
      const m = re.exec(completion.length > opts.max_chars ? completion.slice(0, opts.max_chars) : completion);
      const where = m ? `matched "${m[0].slice(0, 100)}" at ${m.index}` : `no match for /${opts.pattern.slice(0, 100)}/${opts.flags}`;
      if (opts.must_match) return m ? { pass: true, score: 1, detail: where } : { pass: false, score: 0, reason: "regex.no_match", detail: where };
      return m ? { pass: false, score: 1, reason: "regex.matched", detail: where } : { pass: true, score: 0, detail: where };
    },
  };
}

export const regex = defineFilter({ type: "regex", options: RegexOptions, build: regexFilter });
