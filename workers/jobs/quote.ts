// Quotes: what a recipe will cost before it runs (`"dry_run": true`), and the per-candidate
// figure a running job reserves against its budgets. Both come from the same arithmetic, so the
// number a user is quoted is the number the budget guard uses.
//
// How it estimates (also returned as `method`, so nobody has to guess):
//   - prompt tokens: the recipe's templates rendered with up to 200 real input rows, at about
//     4 characters per token plus 4 tokens of framing per message;
//   - output tokens: `expected_output_tokens` if the recipe gives it, else each generator's
//     `max_tokens`, else 400;
//   - judges: every candidate is assumed to reach every judge (an upper bound: earlier filters
//     reject some first), reading the rubric, the prompt and the completion;
//   - prices: the deployment's table (models/pricing.ts), halved in batch mode.
import type { FilterSpec } from "../../filters";
import type { Row } from "../../filters/types";
import { BATCH_PRICE_FACTOR, costUsd, priceTable } from "../../models/pricing";
import type { Env } from "../env";
import { gridRow, type Recipe } from "../recipe";
import { readUploadRows } from "../uploads";
import { buildMessages } from "./candidate";

const SAMPLE_ROWS = 200;
const CHARS_PER_TOKEN = 4;
const TOKENS_PER_MESSAGE = 4;
const DEFAULT_OUTPUT_TOKENS = 400;
const DEFAULT_JUDGE_OUTPUT_TOKENS = 200;
/** The reservation pads the prompt estimate: a tokenizer may count more than 4 chars/token. */
const RESERVE_INPUT_MARGIN = 1.25;

export interface ModelQuote {
  model: string;
  role: "teacher" | "judge";
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  priced: boolean;
}

export interface Quote {
  mode: "live" | "batch";
  inputs: number;
  candidates: { expected: number; max: number };
  tokens: { input: number; output: number };
  cost_usd: number;
  /** With every input using its `until.max_candidates_per_input`; null when no `until`. */
  max_cost_usd: number | null;
  /** Set aside per candidate while a task runs (teacher at max_tokens, judges, a margin). */
  reserve_per_candidate_usd: number;
  by_model: ModelQuote[];
  budget: { job_usd: number | null; key_usd: number | null; key_spent_usd: number; within: boolean };
  method: string;
}

export type InputSource = { uploadId: string } | { rows: Row[] } | { grid: Record<string, (string | number | boolean)[]> };

export async function quoteJob(env: Env, keyId: string, recipe: Recipe, source: InputSource, inputs: number): Promise<Quote> {
  const prices = priceTable(env);
  const factor = recipe.mode === "batch" ? BATCH_PRICE_FACTOR : 1;
  const price = (model: string, i: number, o: number) => costUsd(prices, model, i, o) * factor;

  const rows = await sampleRows(env, source, Math.min(inputs, SAMPLE_ROWS));
  const promptChars = rows.map((r) => buildMessages(recipe, r).reduce((n, m) => n + m.content.length, 0));
  const messagesPerPrompt = recipe.prompt.system ? 2 : 1;
  const promptTokens = rows.length ? Math.ceil(avg(promptChars) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * messagesPerPrompt : 0;

  const expected = inputs * recipe.candidates;
  const max = recipe.until ? inputs * recipe.until.max_candidates_per_input : expected;
  const totalWeight = recipe.generators.reduce((n, g) => n + g.weight, 0);

  const byModel: ModelQuote[] = [];
  let reserve = 0;
  for (const g of recipe.generators) {
    const share = g.weight / totalWeight;
    const out = recipe.expected_output_tokens ?? g.params.max_tokens ?? DEFAULT_OUTPUT_TOKENS;
    const calls = Math.round(expected * share);
    byModel.push(line(`${g.provider}/${g.model}`, "teacher", calls, promptTokens, out, (i, o) => price(g.model, i, o), g.model in prices));
    reserve += share * price(g.model, promptTokens * RESERVE_INPUT_MARGIN, g.params.max_tokens ?? out);
  }
  const completionTokens = recipe.expected_output_tokens ?? DEFAULT_OUTPUT_TOKENS;
  for (const f of recipe.filters.filter(isJudge)) {
    const rubricTokens = Math.ceil(f.rubric.length / CHARS_PER_TOKEN);
    const judgeIn = rubricTokens + promptTokens + completionTokens + TOKENS_PER_MESSAGE;
    const judgeOut = f.params.max_tokens ?? DEFAULT_JUDGE_OUTPUT_TOKENS;
    // A judge retries a retryable error: budget for every attempt.
    const attempts = 1 + f.retries;
    byModel.push(line(`${f.provider}/${f.model}`, "judge", expected, judgeIn, judgeOut, (i, o) => price(f.model, i, o), f.model in prices));
    reserve += price(f.model, judgeIn * RESERVE_INPUT_MARGIN, judgeOut) * attempts;
  }

  const cost = byModel.reduce((n, m) => n + m.cost_usd, 0);
  const perCandidate = expected ? cost / expected : 0;
  const key = await keySpend(env, keyId);
  const jobBudget = recipe.budget_usd ?? null;
  return {
    mode: recipe.mode,
    inputs,
    candidates: { expected, max },
    tokens: { input: sum(byModel, "input_tokens"), output: sum(byModel, "output_tokens") },
    cost_usd: round(cost),
    max_cost_usd: recipe.until ? round(perCandidate * max) : null,
    reserve_per_candidate_usd: reserve,
    by_model: byModel.map((m) => ({ ...m, cost_usd: round(m.cost_usd) })),
    budget: {
      job_usd: jobBudget,
      key_usd: key.budget,
      key_spent_usd: round(key.spent),
      within: (jobBudget === null || cost <= jobBudget) && (key.budget === null || key.spent + cost <= key.budget),
    },
    method:
      `prompts rendered from ${rows.length} of ${inputs} input rows at ~${CHARS_PER_TOKEN} chars/token; ` +
      `output ${recipe.expected_output_tokens ? `${recipe.expected_output_tokens} tokens (expected_output_tokens)` : `each generator's max_tokens, else ${DEFAULT_OUTPUT_TOKENS} tokens`} per candidate; ` +
      `judges see every candidate; ${recipe.until ? "until: expected counts the first round only, max_cost_usd every input at max_candidates_per_input; " : ""}` +
      `prices per 1M tokens from this deployment's table${recipe.mode === "batch" ? `, x${BATCH_PRICE_FACTOR} for batch mode` : ""}; models without a price count as 0 (priced: false)`,
  };
}

/** What the key has spent or reserved across its jobs, and its budget. */
export async function keySpend(env: Env, keyId: string): Promise<{ budget: number | null; spent: number }> {
  // Raw SQL: the correlated subquery needs qualified column names.
  const row = await env.DB.prepare(
    `SELECT k.budget_usd AS budget, (SELECT coalesce(sum(j.cost_usd + j.reserved_usd), 0) FROM jobs j WHERE j.key_id = k.id) AS spent FROM keys k WHERE k.id = ?1`,
  )
    .bind(keyId)
    .first<{ budget: number | null; spent: number }>();
  return { budget: row?.budget ?? null, spent: row?.spent ?? 0 };
}

async function sampleRows(env: Env, source: InputSource, n: number): Promise<Row[]> {
  if ("rows" in source) return source.rows.slice(0, n);
  if ("grid" in source) return Array.from({ length: n }, (_, i) => gridRow(source.grid, i));
  return n ? readUploadRows(env, source.uploadId, 0, n) : [];
}

function line(model: string, role: ModelQuote["role"], calls: number, inTok: number, outTok: number, price: (i: number, o: number) => number, priced: boolean): ModelQuote {
  const input_tokens = calls * inTok;
  const output_tokens = calls * outTok;
  return { model, role, calls, input_tokens, output_tokens, cost_usd: price(input_tokens, output_tokens), priced };
}

const isJudge = (f: FilterSpec): f is Extract<FilterSpec, { type: "judge" }> => f.type === "judge";
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sum = (xs: ModelQuote[], k: "input_tokens" | "output_tokens") => xs.reduce((n, m) => n + m[k], 0);
const round = (x: number) => Math.round(x * 1e6) / 1e6;
