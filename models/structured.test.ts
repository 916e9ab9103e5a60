import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { GenParams as GenParamsSchema } from "../workers/recipe";
import { anthropicProvider } from "./anthropic";
import { openAIProvider } from "./openai";
import type { GenParams, Provider } from "./types";

// Structured output against the loopback fake, which answers response_format (OpenAI) and a
// forced tool call (Anthropic) in each API's real wire format, with JSON built from the
// recorded solution.
const janet = "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?";
const schema = { type: "object", properties: { reasoning: { type: "string" }, answer: { type: "number" } }, required: ["reasoning", "answer"], additionalProperties: false };
const solution: GenParams["response_format"] = { type: "json_schema", json_schema: { name: "solution", schema, strict: true } };

const openai = openAIProvider({ name: "openai", baseUrl: `${env.FAKE_CONTROL_URL}/v1`, apiKey: "sk-test", timeoutMs: 3000 });
const anthropic = anthropicProvider({ name: "anthropic", baseUrl: env.FAKE_CONTROL_URL, apiKey: "sk-ant-test", timeoutMs: 3000 });
// Candidate 3 of this question is the recording that ends "A: 18".
const ask = (p: Provider, params: GenParams) => p.chat({ model: "m", messages: [{ role: "system", content: "Be careful." }, { role: "user", content: janet }], params, input: {}, candidate: 3 });

describe.each([
  ["OpenAI-compatible", openai, "stop"],
  ["Anthropic (forced tool call)", anthropic, "tool_use"],
] as const)("structured output, %s", (_, provider, finish) => {
  it("returns JSON that follows a json_schema response_format", async () => {
    const r = await ask(provider, { response_format: solution, max_tokens: 512 });
    const parsed = JSON.parse(r.text);
    expect(parsed).toEqual({ reasoning: expect.stringMatching(/A: 18$/), answer: 18 });
    expect(r.finishReason).toBe(finish);
    expect(r.outputTokens).toBeGreaterThan(5);
  });

  it("returns a JSON object for json_object", async () => {
    const r = await ask(provider, { response_format: { type: "json_object" } });
    expect(JSON.parse(r.text)).toEqual({ text: expect.stringMatching(/A: 18$/) });
  });

  it("still returns plain text without a response_format", async () => {
    expect((await ask(provider, {})).text).toMatch(/A: 18$/);
  });
});

describe("response_format in a generator's params", () => {
  const parse = (response_format: unknown) => GenParamsSchema.safeParse({ response_format });
  const messages = (response_format: unknown) => {
    const r = parse(response_format);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("accepts OpenAI's two shapes", () => {
    expect(parse({ type: "json_object" }).success).toBe(true);
    expect(parse(solution).success).toBe(true);
    expect(parse({ type: "json_schema", json_schema: { name: "s", description: "a solution", schema: { type: "object" } } }).success).toBe(true);
  });

  it("refuses other shapes, bad names, unknown fields and unusable schemas", () => {
    expect(parse({ type: "text" }).success).toBe(false);
    expect(parse({ type: "json_object", schema: {} }).success).toBe(false);
    expect(parse({ type: "json_schema", json_schema: { schema } }).success).toBe(false);
    expect(parse({ type: "json_schema", json_schema: { name: "has space", schema } }).success).toBe(false);
    expect(parse({ type: "json_schema", json_schema: { name: "s", schema, extra: 1 } }).success).toBe(false);
    expect(messages({ type: "json_schema", json_schema: { name: "s", schema: { type: "array" } } })).toEqual([expect.stringMatching(/^response_format\.json_schema\.schema: the top-level schema must be/)]);
    expect(messages({ type: "json_schema", json_schema: { name: "s", schema: { type: "object", properties: { a: { type: "strng" } } } } })[0]).toMatch(/properties\/a\/type/);
  });

  it("caps the schema's size", () => {
    const properties = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`field_${i}`, { type: "string", description: "a field" }]));
    expect(messages({ type: "json_schema", json_schema: { name: "big", schema: { type: "object", properties } } })).toEqual([expect.stringMatching(/bytes; at most 16384/)]);
  });
});
