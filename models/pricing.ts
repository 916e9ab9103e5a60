// USD per million tokens: shipped defaults, overridden per deployment by the MODEL_PRICES var
// (JSON, e.g. {"my-vllm-model": {"input": 0.1, "output": 0.3}}). Unknown models cost 0, and
// GET /v1/usage shows their tokens, so a missing price is visible rather than silently cheap.
export type Prices = Record<string, { input: number; output: number }>;

export const DEFAULT_PRICES: Prices = {
  "gpt-4o-mini": { input: 0.15, output: 0.6 },
  "gpt-4o": { input: 2.5, output: 10 },
  "gpt-4.1-mini": { input: 0.4, output: 1.6 },
  "gpt-4.1": { input: 2, output: 8 },
  "claude-3-5-haiku-latest": { input: 0.8, output: 4 },
  "claude-sonnet-4-5": { input: 3, output: 15 },
  "gsm8k-gpt3": { input: 0, output: 0 },
};

const parsed = new Map<string, Prices>();

/** The deployment's price table: defaults plus the operator's MODEL_PRICES (parsed once per isolate). */
export function priceTable(env: { MODEL_PRICES?: string }): Prices {
  const raw = env.MODEL_PRICES ?? "";
  let table = parsed.get(raw);
  if (!table) {
    // Model names come from users' recipes: a plain object would price "constructor" or
    // "__proto__" from Object.prototype, so the table has no prototype.
    table = Object.assign(Object.create(null) as Prices, DEFAULT_PRICES);
    if (raw) {
      try {
        for (const [model, p] of Object.entries(JSON.parse(raw) as Prices))
          if (Number.isFinite(p?.input) && Number.isFinite(p?.output) && p.input >= 0 && p.output >= 0) table[model] = { input: p.input, output: p.output };
          else console.error(`MODEL_PRICES: ignoring ${model}: needs non-negative "input" and "output" (USD per 1M tokens)`);
      } catch (e) {
        console.error(`MODEL_PRICES is not JSON; using the shipped prices (${(e as Error).message})`);
      }
    }
    parsed.set(raw, table);
  }
  return table;
}

/** OpenAI's Batch API and Anthropic's Message Batches both bill half the live price. */
export const BATCH_PRICE_FACTOR = 0.5;

export function costUsd(prices: Prices, model: string, inputTokens: number, outputTokens: number): number {
  const p = Object.hasOwn(prices, model) ? prices[model] : undefined;
  if (!p) return 0;
  return (inputTokens * p.input + outputTokens * p.output) / 1_000_000;
}
