import { describe, expect, it } from "vitest";
import { costUsd, DEFAULT_PRICES, priceTable } from "./pricing";

describe("price table", () => {
  it("prices per million input and output tokens, and unknown models at 0", () => {
    expect(costUsd(DEFAULT_PRICES, "gpt-4o-mini", 1_000_000, 1_000_000)).toBeCloseTo(0.75, 10);
    expect(costUsd(DEFAULT_PRICES, "nobody-knows", 1000, 1000)).toBe(0);
  });

  it("takes the operator's MODEL_PRICES over the shipped defaults, ignoring bad entries", () => {
    const prices = priceTable({ MODEL_PRICES: JSON.stringify({ "my-vllm": { input: 1, output: 2 }, "gpt-4o-mini": { input: 0, output: 0 }, bad: { input: -1, output: 1 } }) });
    expect(costUsd(prices, "my-vllm", 500_000, 500_000)).toBeCloseTo(1.5, 10);
    expect(costUsd(prices, "gpt-4o-mini", 1_000_000, 1_000_000)).toBe(0);
    expect(prices.bad).toBeUndefined();
    expect(priceTable({ MODEL_PRICES: "{not json" })).toEqual(DEFAULT_PRICES);
    expect(priceTable({})).toEqual(DEFAULT_PRICES);
  });
});

describe("model names are data, not property names", () => {
  it("prices 'constructor', '__proto__' and 'toString' as unknown models unless the operator priced them", () => {
    const shipped = priceTable({});
    for (const model of ["constructor", "__proto__", "toString", "hasOwnProperty"]) expect(costUsd(shipped, model, 1000, 1000)).toBe(0);
    const priced = priceTable({ MODEL_PRICES: '{"__proto__": {"input": 1, "output": 1}, "constructor": {"input": 2, "output": 2}}' });
    expect(costUsd(priced, "__proto__", 1_000_000, 0)).toBe(1);
    expect(costUsd(priced, "constructor", 1_000_000, 0)).toBe(2);
    expect(({} as Record<string, unknown>).input).toBeUndefined();
  });
});
