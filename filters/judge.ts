import { z } from "zod";
import { getProvider } from "../models";
import { costUsd, priceTable } from "../models/pricing";
import { ProviderError, type GenParams, type Provider } from "../models/types";
import { defineFilter } from "./define";
import type { Candidate, Filter, FilterResult } from "./types";
import type { Env } from "../workers/env";

// An LLM grades each candidate with a rubric, through the same operator-configured providers
// as generation. Pass = score ≥ `min_score`; the judge's tokens and cost are returned as the
// result's `usage`, so they count towards the job.
//
// The rubric is a mustache template rendered from the input row (`{{question}}`), plus two
// placeholders that are not row fields:
//   {{completion}}  the candidate being graded
//   {{prompt}}      the last user message the generator was sent
//   {{scale}}       the `scale` option (so the rubric can say "from 1 to {{scale}}")
// They are substituted after rendering, verbatim, so a completion containing "{{…}}" is never
// interpreted as a template, and they shadow row fields with the same names. (Triple braces
// `{{{completion}}}` work too.) A rubric without {{completion}} gets the completion appended
// under "Response:". Only row fields are listed by `templates()`, so the job's placeholder
// check does not ask the rows for a `completion` field.
//
// Grades are parsed robustly (see parseScore): "7", "7.5", "Score: 8/10", "8 out of 10",
// "Rating: 4/5" (normalised to `scale`), JSON {"score": 9}, a bare number on the last line.
// Anything else is `judge.unparsable` with the reply quoted, never a crash. Provider errors are
// `judge.error`; retryable ones (429, 5xx, timeouts) are retried `retries` times first.

const COMPLETION = /\{\{\{\s*completion\s*\}\}\}|\{\{\s*[&]?\s*completion\s*\}\}/g;
const PROMPT = /\{\{\{\s*prompt\s*\}\}\}|\{\{\s*[&]?\s*prompt\s*\}\}/g;
// Private-use sentinels: survive mustache untouched and cannot come from a JSON recipe by accident.
const COMPLETION_MARK = "\uE000winnow:completion\uE000";
const PROMPT_MARK = "\uE000winnow:prompt\uE000";

export const DEFAULT_RUBRIC =
  "Grade the response to the prompt below for correctness, helpfulness and clarity.\n\n" +
  "Prompt:\n{{prompt}}\n\nResponse:\n{{completion}}\n\n" +
  "Reply with a short justification, then a final line of the form \"Score: N\" where N is an integer from 1 to {{scale}}.";

const JudgeParams = z
  .object({
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    max_tokens: z.number().int().positive().max(32_000).optional(),
    seed: z.number().int().optional(),
  })
  .strict();

export const JudgeOptions = z
  .object({
    type: z.literal("judge"),
    /** An operator-configured provider (never a URL). */
    provider: z.string().regex(/^[a-z0-9_-]{1,32}$/),
    model: z.string().min(1).max(200),
    /** Mustache template from the input row, plus {{completion}} and {{prompt}}. */
    rubric: z.string().min(1).max(100_000).default(DEFAULT_RUBRIC),
    /** An optional system message for the judge. */
    system: z.string().max(100_000).optional(),
    /** Top of the grading scale; grades like "4/5" are rescaled to it. */
    scale: z.number().positive().max(1000).default(10),
    min_score: z.number().nonnegative().default(7),
    /** Temperature defaults to 0: a grade should not be a dice roll. */
    params: JudgeParams.default({}),
    /** Extra attempts after a retryable provider error. */
    retries: z.number().int().min(0).max(3).default(1),
  })
  .strict()
  .refine((o) => o.min_score <= o.scale, { message: "min_score must not exceed scale", path: ["min_score"] });

export type JudgeOptions = z.infer<typeof JudgeOptions>;

/** Whether the judge's provider is configured here: for job creation to turn into a 400. */
export function judgeProviderProblem(opts: Pick<JudgeOptions, "provider">, env: Env): string | null {
  return getProvider(env, opts.provider) ? null : `judge provider "${opts.provider}" is not configured`;
}

const NUM = String.raw`(-?\d+(?:\.\d+)?)`;
const KEYWORD = String.raw`(?:score|rating|grade|overall|final score|final grade|final rating)`;

/**
 * The grade in a judge's reply, normalised to `scale`, or null. Later statements win over
 * earlier ones (judges reason first, then conclude). A grade outside [0, scale] is null.
 */
export function parseScore(reply: string, scale = 10): { score: number; via: string } | null {
  const text = reply.replace(/\*\*|__/g, "").trim();
  if (!text) return null;
  const inRange = (x: number) => (Number.isFinite(x) && x >= 0 && x <= scale ? x : null);
  const ratio = (x: number, of: number) => (of > 0 && x <= of ? inRange((x / of) * scale) : null);
  const last = (re: RegExp) => [...text.matchAll(re)].at(-1);

  // 1. JSON: the whole reply, a fenced block, or the last {...} holding a score-like key.
  const jsonCandidates = [text, /```(?:json)?\s*([\s\S]*?)```/i.exec(text)?.[1] ?? "", ...(text.match(/\{[^{}]*\}/g) ?? []).reverse()];
  for (const c of jsonCandidates) {
    if (!c.trim().startsWith("{")) continue;
    try {
      const o = JSON.parse(c.trim()) as Record<string, unknown>;
      for (const k of ["score", "rating", "grade", "overall", "final_score"]) {
        const v = o?.[k];
        const n = typeof v === "number" ? v : typeof v === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
        const of = Number(o?.out_of ?? o?.max ?? o?.scale ?? NaN);
        if (Number.isFinite(n)) {
          const s = Number.isFinite(of) && of !== scale ? ratio(n, of) : inRange(n);
          return s === null ? null : { score: s, via: "json" };
        }
      }
    } catch {
      // not JSON; try the next shape
    }
  }

  // 2. "Score: 8/10", "Rating: 4 / 5", "score of 8 out of 10".
  const kwRatio = last(new RegExp(String.raw`${KEYWORD}\s*(?:is|of|:|=|-)?\s*${NUM}\s*(?:/|out of)\s*(\d+(?:\.\d+)?)`, "gi"));
  if (kwRatio) {
    const s = ratio(Number(kwRatio[1]), Number(kwRatio[2]));
    return s === null ? null : { score: s, via: "keyword ratio" };
  }
  // 3. "Score: 8", "Rating = 7.5".
  const kw = last(new RegExp(String.raw`${KEYWORD}\s*(?:is|of|:|=|-)\s*${NUM}(?![\d.]*\s*%)`, "gi"));
  if (kw) {
    const s = inRange(Number(kw[1]));
    return s === null ? null : { score: s, via: "keyword" };
  }
  // 4. The whole reply is a number: "7", "7.5", "8." .
  const bare = new RegExp(String.raw`^${NUM}\.?$`).exec(text);
  if (bare) {
    const s = inRange(Number(bare[1]));
    return s === null ? null : { score: s, via: "bare" };
  }
  // 5. "8/10" or "8 out of 10" anywhere: the last one.
  const anyRatio = last(new RegExp(String.raw`(?<![\d.])${NUM}\s*(?:/|out of)\s*(\d+(?:\.\d+)?)(?!\d|\.\d)`, "gi"));
  if (anyRatio) {
    const s = ratio(Number(anyRatio[1]), Number(anyRatio[2]));
    return s === null ? null : { score: s, via: "ratio" };
  }
  // 6. A last line that is only a number ("…reasoning…\n\n8"). A number inside prose is not a grade.
  const lastLine = text.split("\n").at(-1)?.trim() ?? "";
  const tail = new RegExp(String.raw`^${NUM}\.?$`).exec(lastLine);
  if (tail) {
    const s = inRange(Number(tail[1]));
    return s === null ? null : { score: s, via: "last line" };
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Renders the rubric for one candidate: row fields by mustache, then completion and prompt verbatim. */
export function renderRubric(rubric: string, candidate: Candidate, render: (t: string) => string, scale: number): string {
  const withCompletion = rubric.search(COMPLETION) >= 0 ? rubric : `${rubric}\n\nResponse:\n{{completion}}`;
  const marked = withCompletion.replace(COMPLETION, COMPLETION_MARK).replace(PROMPT, PROMPT_MARK).replace(/\{\{\s*scale\s*\}\}/g, String(scale));
  const prompt = [...candidate.messages].reverse().find((m) => m.role === "user")?.content ?? "";
  return render(marked).split(PROMPT_MARK).join(prompt).split(COMPLETION_MARK).join(candidate.completion);
}

/** Grades each candidate with an LLM and keeps those scoring at least `min_score`. */
export function judgeFilter(opts: JudgeOptions, deps: { env: Env }): Filter {
  const provider: Provider | null = getProvider(deps.env, opts.provider);
  const params: GenParams = { temperature: 0, ...opts.params };
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    name: "judge",
    async check(candidate, ctx): Promise<FilterResult> {
      if (!provider) return { pass: false, reason: "judge.provider_unavailable", detail: `provider "${opts.provider}" is not configured` };
      const user = renderRubric(opts.rubric, candidate, (t) => ctx.render(t), opts.scale);
      const messages = [...(opts.system ? [{ role: "system" as const, content: opts.system }] : []), { role: "user" as const, content: user }];
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await provider.chat({ model: opts.model, messages, params, input: candidate.input, candidate: 0 });
          const usage = {
            input_tokens: r.inputTokens,
            output_tokens: r.outputTokens,
            cost_usd: costUsd(priceTable(deps.env), opts.model, r.inputTokens, r.outputTokens),
            model: `${opts.provider}/${opts.model}`,
          };
          const parsed = parseScore(r.text, opts.scale);
          const quoted = r.text.replace(/\s+/g, " ").trim();
          if (!parsed) return { pass: false, reason: "judge.unparsable", detail: `no grade in "${quoted.slice(0, 200)}"`, usage };
          const score = r2(parsed.score);
          const detail = `${score}/${opts.scale} (${parsed.via}), min ${opts.min_score}: ${quoted.slice(-160)}`;
          return score >= opts.min_score ? { pass: true, score, detail, usage } : { pass: false, score, reason: "judge.low_score", detail, usage };
        } catch (e) {
          const retryable = e instanceof ProviderError && e.retryable;
          if (retryable && attempt < opts.retries) {
            await sleep(Math.min(2000, Math.max(200, ((e as ProviderError).retryAfterSeconds ?? 0) * 1000)));
            continue;
          }
          const code = e instanceof ProviderError ? e.code : "exception";
          return { pass: false, reason: "judge.error", detail: `${code}: ${String((e as Error)?.message ?? e).slice(0, 300)}` };
        }
      }
    },
  };
}

export const judge = defineFilter({
  type: "judge",
  options: JudgeOptions,
  build: judgeFilter,
  // Row placeholders only: {{completion}}, {{prompt}} and {{scale}} are filled by the filter.
  templates: (o) => [o.rubric.replace(COMPLETION, "").replace(PROMPT, "").replace(/\{\{\s*scale\s*\}\}/g, "")],
});
