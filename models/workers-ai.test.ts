import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { configuredProviders, getProvider } from "./index";
import { ProviderError, type GenParams } from "./types";
import { aiError, workersAIProvider, type WorkersAI } from "./workers-ai";

// The AI binding needs a Cloudflare account, so these tests hand the provider a small object
// with the binding's one method; it records what it was asked and answers like the binding.
function fakeAI(answer: (model: string, inputs: Record<string, unknown>) => unknown) {
  const calls: { model: string; inputs: Record<string, unknown> }[] = [];
  const ai: WorkersAI = {
    async run(model, inputs) {
      calls.push({ model, inputs });
      return answer(model, inputs);
    },
  };
  return { ai, calls };
}

const model = "@cf/meta/llama-3.1-8b-instruct";
const ask = (ai: WorkersAI, params: GenParams = {}, timeoutMs = 3000) =>
  workersAIProvider({ name: "workers-ai", ai, timeoutMs }).chat({
    model,
    messages: [{ role: "system", content: "Be careful." }, { role: "user", content: "What is 2 + 2? End with 'A: <number>'." }],
    params,
    input: {},
    candidate: 0,
  });

const schema = { type: "object", properties: { reasoning: { type: "string" }, answer: { type: "number" } }, required: ["reasoning", "answer"] };

describe("Workers AI provider", () => {
  it("sends the messages and params, and returns the response with the usage it reported", async () => {
    const { ai, calls } = fakeAI(() => ({ response: "2 + 2 = 4\nA: 4", usage: { prompt_tokens: 31, completion_tokens: 9, total_tokens: 40 } }));
    const r = await ask(ai, { temperature: 0.7, top_p: 0.9, seed: 5 });
    expect(r).toEqual({ text: "2 + 2 = 4\nA: 4", inputTokens: 31, outputTokens: 9 });
    expect(calls).toEqual([
      {
        model,
        inputs: {
          messages: [{ role: "system", content: "Be careful." }, { role: "user", content: "What is 2 + 2? End with 'A: <number>'." }],
          max_tokens: 1024,
          temperature: 0.7,
          top_p: 0.9,
          seed: 5,
        },
      },
    ]);
  });

  it("estimates tokens when the binding reports no usage, and applies stop sequences itself", async () => {
    const { ai, calls } = fakeAI(() => ({ response: "2 + 2 = 4\nA: 4\nSTOP and more" }));
    const r = await ask(ai, { stop: ["STOP", "never"], max_tokens: 64 });
    expect(r.text).toBe("2 + 2 = 4\nA: 4\n");
    expect(r.inputTokens).toBeGreaterThan(5);
    expect(r.outputTokens).toBeGreaterThan(0);
    expect(calls[0]!.inputs).not.toHaveProperty("stop");
    expect(calls[0]!.inputs.max_tokens).toBe(64);
  });

  it("passes a json_schema response_format as the binding's shape and serialises an object response", async () => {
    const { ai, calls } = fakeAI(() => ({ response: { reasoning: "2 + 2 = 4", answer: 4 }, usage: { prompt_tokens: 40, completion_tokens: 12 } }));
    const r = await ask(ai, { response_format: { type: "json_schema", json_schema: { name: "solution", schema, strict: true } } });
    expect(calls[0]!.inputs.response_format).toEqual({ type: "json_schema", json_schema: schema });
    expect(JSON.parse(r.text)).toEqual({ reasoning: "2 + 2 = 4", answer: 4 });
    expect(r.outputTokens).toBe(12);
  });

  it("passes json_object through, and keeps a response that is already text", async () => {
    const { ai, calls } = fakeAI(() => ({ response: '{"answer": 4}' }));
    const r = await ask(ai, { response_format: { type: "json_object" } });
    expect(calls[0]!.inputs.response_format).toEqual({ type: "json_object" });
    expect(JSON.parse(r.text)).toEqual({ answer: 4 });
  });

  it("sorts the binding's errors: capacity, timeouts and rate limits are retryable, the rest final", async () => {
    const thrown = (message: string) => {
      const e = new Error(message);
      e.name = "InferenceUpstreamError";
      return fakeAI(() => Promise.reject(e)).ai;
    };
    const failure = (message: string) => ask(thrown(message)).then(() => null, (e) => e as ProviderError);
    expect(await failure("3040: Capacity temporarily exceeded, please try again.")).toMatchObject({ code: "capacity", retryable: true, status: 429 });
    expect(await failure("InferenceUpstreamError: 3007: Request timeout")).toMatchObject({ code: "timeout", retryable: true, status: 408 });
    expect(await failure("AiError: 5007: No such model @cf/nope or task")).toMatchObject({ code: "no_such_model", retryable: false, status: 400 });
    expect(await failure("3036: You have used up your daily free allocation of 10,000 neurons.")).toMatchObject({ code: "quota_exhausted", retryable: false, status: 429 });
    expect(await failure("5006: Error: oneOf at '/' not met")).toMatchObject({ code: "invalid_input", retryable: false });
    expect(await failure("Too many requests, rate limited")).toMatchObject({ code: "rate_limited", retryable: true, status: 429 });
    expect(await failure("JSON Mode couldn't be met")).toMatchObject({ code: "response_format_unmet", retryable: false });
    expect(await failure("error code: 1031")).toMatchObject({ code: "upstream_error", retryable: true });
    const e = await failure("3040: Capacity temporarily exceeded, please try again.");
    expect(e).toBeInstanceOf(ProviderError);
    expect(e!.message).toMatch(/^workers-ai: 3040: Capacity/);
    // Something that is not an Error at all still becomes a ProviderError.
    expect(aiError("workers-ai", { httpCode: 504 })).toMatchObject({ code: "upstream_error", retryable: true });
  });

  it("treats a result without a response as a retryable malformed response", async () => {
    await expect(ask(fakeAI(() => ({ result: "?" })).ai)).rejects.toMatchObject({ code: "malformed_response", retryable: true });
    await expect(ask(fakeAI(() => null).ai)).rejects.toMatchObject({ code: "malformed_response", retryable: true });
  });

  it("stops waiting for a call that never settles", async () => {
    await expect(ask({ run: () => new Promise(() => {}) }, {}, 50)).rejects.toMatchObject({ code: "timeout", retryable: true });
  });

  it("is configured exactly when the AI binding exists, and supports structured output", () => {
    expect(configuredProviders(env)).not.toContain("workers-ai");
    expect(getProvider(env, "workers-ai")).toBeNull();
    const withAI = { ...env, AI: fakeAI(() => ({ response: "" })).ai };
    expect(configuredProviders(withAI)).toContain("workers-ai");
    expect(getProvider(withAI, "workers-ai")).toMatchObject({ name: "workers-ai", kind: "workers-ai", supports: { responseFormat: true } });
  });
});
