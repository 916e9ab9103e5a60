// USD per million tokens. Shipped defaults; unknown models cost 0 and are flagged in usage so
// a missing price is visible instead of silently cheap.
const PRICES: Record<string, { input: number; output: number }> = {
  "gpt-4o-mini": { input: 0.15, output: 0.6 },
  "gpt-4o": { input: 2.5, output: 10 },
  "gpt-4.1-mini": { input: 0.4, output: 1.6 },
  "gpt-4.1": { input: 2, output: 8 },
  "claude-3-5-haiku-latest": { input: 0.8, output: 4 },
  "claude-sonnet-4-5": { input: 3, output: 15 },
  "gsm8k-gpt3": { input: 0, output: 0 },
};

export function costUsd(model: string, inputTokens: number, outputTokens: number): number {
  const p = PRICES[model];
  if (!p) return 0;
  return (inputTokens * p.input + outputTokens * p.output) / 1_000_000;
}
