import { z } from "zod";
import { defineFilter } from "./define";
import type { Filter } from "./types";

// Refusals and assistant boilerplate ("As an AI language model…", "I'm sorry, but I can't…").
//
// Where to look: a refusal is how a model *opens* its answer, so only the first
// `max_chars_scanned` characters are searched (default 400), anywhere inside that window (a
// refusal is often preceded by "Hmm," or a restated question). Scanning the whole text would
// reject a story whose character says "I cannot help with that" and would cost time on long
// completions; set `max_chars_scanned` high to scan everything.
//
// The default phrases are specific enough to match refusals, not ordinary prose: "I can't help
// but notice" or "I cannot stress enough" do not match. Matching is case-insensitive and
// typographic apostrophes (’) count as ASCII ones.

export const DEFAULT_REFUSAL_PATTERNS: readonly string[] = [
  String.raw`\bas an ai\b(?:[ -](?:language model|assistant|model|system|chatbot))?`,
  String.raw`\bas a (?:large )?language model\b`,
  String.raw`\bi(?:'m| am) (?:just |only )?an ai\b`,
  String.raw`\bi(?:'m| am) (?:so |very |really )?(?:sorry|afraid)[,.!]?\s+(?:but\s+)?i (?:can(?:no|')?t|cannot|won't|will not|am (?:not able|unable)|(?:'m|am) (?:not able|unable))\b`,
  String.raw`\b(?:i apologi[sz]e|my apologies|sorry)[,.!]?\s+(?:but\s+)?i (?:can(?:no|')?t|cannot|won't|will not|(?:'m|am) (?:not able|unable))\b`,
  String.raw`\bi (?:can(?:no|')?t|cannot|won't|will not) (?:help|assist)(?: you)? with\b`,
  String.raw`\bi (?:can(?:no|')?t|cannot|won't|will not) (?:provide|fulfill|comply with|complete|create|generate|write|produce|engage in|support|answer) (?:that|this|your|such|the requested|any)\b`,
  String.raw`\bi(?:'m| am) (?:unable|not able|not allowed|not permitted) to (?:help|assist|provide|fulfill|comply|complete|create|generate|write|produce|answer|do that|engage)\b`,
  String.raw`\bi (?:must|have to|will have to|need to) (?:respectfully |politely )?decline\b`,
  String.raw`\b(?:it(?:'s| is)|that(?:'s| is)|this is) (?:not appropriate|inappropriate) for me to\b`,
  String.raw`\b(?:against|violates?) (?:my|openai's|the) (?:programming|guidelines|content polic(?:y|ies)|usage polic(?:y|ies)|policies|ethical guidelines)\b`,
  String.raw`\bi do(?:n't| not) have (?:personal )?(?:opinions|feelings|emotions|the ability to (?:browse|access))\b`,
];

/**
 * The patterns as one case-insensitive regex. Without the `u` flag when possible: V8 matches
 * this alternation ~17× faster without it (measured, bench/filters); `u` is used only when a
 * pattern needs it (\p{...}, \u{...}).
 */
function compile(sources: readonly string[]): RegExp {
  const src = sources.map((s) => `(?:${s})`).join("|");
  // Without `u`, \p{L} silently means "p{L}", so its presence decides.
  return new RegExp(src, /\\[pPu]\{/.test(src) ? "iu" : "i");
}

function compiles(p: string): boolean {
  try {
    compile([p]);
    return true;
  } catch {
    return false;
  }
}

export const RefusalOptions = z
  .object({
    type: z.literal("refusal"),
    /** Extra patterns (JavaScript regex source, matched case-insensitively). */
    patterns: z
      .array(z.string().min(1).max(1000).refine(compiles, { message: "not a valid regular expression" }))
      .max(100)
      .default([]),
    /** Use only `patterns`, not the defaults. */
    replace_defaults: z.boolean().default(false),
    /** How much of the beginning of the completion is searched. */
    max_chars_scanned: z.number().int().positive().max(1_000_000).default(400),
  })
  .strict()
  .refine((o) => !o.replace_defaults || o.patterns.length > 0, { message: "replace_defaults needs at least one pattern" });

export type RefusalOptions = z.infer<typeof RefusalOptions>;

/** Rejects completions that refuse or talk about being an AI instead of answering. */
export function refusalFilter(opts: RefusalOptions): Filter {
  const sources = opts.replace_defaults ? opts.patterns : [...DEFAULT_REFUSAL_PATTERNS, ...opts.patterns];
  // One alternation: a single pass over the text instead of one per pattern.
  const re = compile(sources);
  return {
    name: "refusal",
    check({ completion }) {
      const head = completion.slice(0, opts.max_chars_scanned).replace(/[\u2018\u2019\u02bc]/g, "'");
      // Lower-casing first is another ~2× for V8's case-insensitive matching (the `i` flag stays
      // for user patterns written with capitals).
      const lower = head.toLowerCase();
      const m = re.exec(lower);
      if (m) {
        const phrase = lower.length === head.length ? head.slice(m.index, m.index + m[0].length) : m[0];
        return { pass: false, score: 1, reason: "refusal.matched", detail: `matched "${phrase.slice(0, 100)}" at ${m.index}` };
      }
      return { pass: true, score: 0 };
    },
  };
}

export const refusal = defineFilter({ type: "refusal", options: RefusalOptions, build: refusalFilter });
