import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { anthropicProvider } from "./anthropic";
import { ProviderError } from "./types";

const janet = "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?";
const provider = (apiKey?: string) => anthropicProvider({ name: "anthropic", baseUrl: env.FAKE_CONTROL_URL, apiKey, timeoutMs: 3000 });
const ask = (model: string, apiKey = "sk-ant-test") =>
  provider(apiKey).chat({ model, messages: [{ role: "system", content: "Be careful." }, { role: "user", content: janet }], params: { max_tokens: 256 }, input: {}, candidate: 3 });

describe("Anthropic Messages provider against a loopback fake", () => {
  it("returns the text content and usage", async () => {
    const r = await ask("claude-test");
    expect(r.text).toMatch(/A: \d+/);
    expect(r).toMatchObject({ finishReason: "end_turn" });
    expect(r.inputTokens).toBeGreaterThan(10);
  });

  it("maps rate limits, server errors and bad requests", async () => {
    await expect(ask("fault-429")).rejects.toMatchObject({ code: "rate_limited", retryable: true, retryAfterSeconds: 1 });
    await expect(ask("fault-500")).rejects.toMatchObject({ code: "http_500", retryable: true });
    await expect(ask("fault-400")).rejects.toMatchObject({ code: "http_400", retryable: false });
    await expect(ask("fault-malformed")).rejects.toBeInstanceOf(ProviderError);
  });

  it("reports a missing API key as final", async () => {
    const p = anthropicProvider({ name: "anthropic", baseUrl: env.FAKE_CONTROL_URL, timeoutMs: 3000 });
    await expect(p.chat({ model: "m", messages: [{ role: "user", content: "hi" }], params: {}, input: {}, candidate: 0 })).rejects.toMatchObject({ status: 401, retryable: false });
  });
});
