import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openAIProvider } from "./openai";
import { ProviderError, parseRetryAfter } from "./types";

// The fake OpenAI server runs in the vitest process on loopback (see vitest.config.ts) and
// answers with OpenAI's real wire format, errors included.
const base = `${env.FAKE_CONTROL_URL}/v1`;
const janet = "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?";

function call(model: string, opts: { apiKey?: string; timeoutMs?: number; candidate?: number } = {}) {
  const p = openAIProvider({ name: "openai", baseUrl: base, apiKey: opts.apiKey ?? "sk-test", timeoutMs: opts.timeoutMs ?? 3000 });
  return p.chat({ model, messages: [{ role: "user", content: `Solve.\n\n${janet}` }], params: { temperature: 0 }, input: {}, candidate: opts.candidate ?? 0 });
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProviderError);
    return e as ProviderError;
  }
  throw new Error("expected a ProviderError");
}

describe("OpenAI-compatible provider against a loopback fake", () => {
  it("returns the completion and the usage the server reported", async () => {
    const r = await call("gsm8k-replay", { candidate: 2 });
    expect(r.text).toMatch(/A: \d+/);
    expect(r.inputTokens).toBeGreaterThan(10);
    expect(r.outputTokens).toBeGreaterThan(5);
    expect(r.finishReason).toBe("stop");
  });

  it("sorts a 429 as retryable and reads retry-after", async () => {
    const e = await failure(call("fault-429"));
    expect(e).toMatchObject({ code: "rate_limited", retryable: true, status: 429, retryAfterSeconds: 1 });
    expect(e.message).toMatch(/Rate limit/);
  });

  it("sorts a 500 as retryable", async () => {
    expect(await failure(call("fault-500"))).toMatchObject({ code: "http_500", retryable: true, status: 500 });
  });

  it("sorts a 400 as final, with the provider's message", async () => {
    const e = await failure(call("fault-400"));
    expect(e).toMatchObject({ code: "http_400", retryable: false });
    expect(e.message).toMatch(/temperature/);
  });

  it("treats a truncated JSON body as a retryable malformed response", async () => {
    expect(await failure(call("fault-malformed"))).toMatchObject({ code: "malformed_response", retryable: true });
  });

  it("ends a hung call with a retryable timeout", async () => {
    const started = Date.now();
    expect(await failure(call("fault-hang", { timeoutMs: 300 }))).toMatchObject({ code: "timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("reports a rejected API key as final", async () => {
    const p = openAIProvider({ name: "openai", baseUrl: base, timeoutMs: 3000 });
    const e = await failure(p.chat({ model: "x", messages: [{ role: "user", content: "hi" }], params: {}, input: {}, candidate: 0 }));
    expect(e).toMatchObject({ status: 401, retryable: false });
  });

  it("parses retry-after as seconds, HTTP dates and retry-after-ms", () => {
    expect(parseRetryAfter(new Headers({ "retry-after": "7" }))).toBe(7);
    expect(parseRetryAfter(new Headers({ "retry-after-ms": "1500" }))).toBe(2);
    const now = Date.parse("2026-11-24T00:00:00Z");
    expect(parseRetryAfter(new Headers({ "retry-after": "Tue, 24 Nov 2026 00:00:30 GMT" }), now)).toBe(30);
    expect(parseRetryAfter(new Headers())).toBeUndefined();
  });
});
