// Structured output through the product: a recipe asks a teacher for JSON with a schema, and a
// json_schema filter keeps what follows it.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { allSamples, api, gsm8k, newDataset, newKey, waitForJob } from "./helpers";

const schema = { type: "object", properties: { reasoning: { type: "string" }, answer: { type: "number" } }, required: ["reasoning", "answer"] };
const responseFormat = { type: "json_schema", json_schema: { name: "solution", schema, strict: true } };

function recipe(dataset: string, generator: Record<string, unknown>) {
  return {
    dataset,
    inputs: { rows: gsm8k.slice(0, 3) },
    prompt: { user: "Solve step by step.\n\n{{question}}" },
    generators: [generator],
    candidates: 2,
    filters: [{ type: "json_schema", schema, extract: "whole" }],
  };
}

async function countJobs(dataset: string) {
  return (await env.DB.prepare("SELECT count(*) AS n FROM jobs j JOIN datasets d ON d.id = j.dataset_id WHERE d.name = ?").bind(dataset).first<{ n: number }>())!.n;
}

describe("structured output in a job", () => {
  it("a json_schema response_format on an OpenAI-compatible teacher yields accepted JSON samples", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const created = await api("/v1/jobs", { method: "POST", key, json: recipe(ds, { provider: "openai", model: "gpt-4o-mini", params: { temperature: 0, response_format: responseFormat } }) });
    expect(created.status, created.text).toBe(202);
    const job = await waitForJob(key, created.json.id);
    expect(job.status).toBe("done");
    expect(job.candidates).toMatchObject({ planned: 6, accepted: 6 });
    const accepted = await allSamples(key, job.id, "accepted");
    expect(accepted).toHaveLength(6);
    for (const s of accepted) {
      const answer = JSON.parse(s.messages.at(-1).content);
      expect(answer).toEqual({ reasoning: expect.any(String), answer: expect.any(Number) });
      expect(s.generator.params.response_format).toEqual(responseFormat);
    }
  });

  it("refuses, before creating anything, a response_format for a provider that cannot do it", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const before = await countJobs(ds);
    const r = await api("/v1/jobs", { method: "POST", key, json: recipe(ds, { provider: "replay", model: "gsm8k-gpt3", params: { response_format: { type: "json_object" } } }) });
    expect(r.status, r.text).toBe(400);
    expect(r.json.error).toMatchObject({ code: "unsupported_param", details: [{ path: "generators.0.params.response_format", provider: "replay", supported_by: ["openai", "anthropic"] }] });
    expect(r.json.error.message).toMatch(/^generators\.0\.params\.response_format: provider 'replay'/);
    expect(await countJobs(ds)).toBe(before);
  });

  it("refuses a schema the providers cannot take, in the error envelope", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const bad = { type: "json_schema", json_schema: { name: "list", schema: { type: "array" } } };
    const r = await api("/v1/jobs", { method: "POST", key, json: recipe(ds, { provider: "openai", model: "m", params: { response_format: bad } }) });
    expect(r.status, r.text).toBe(400);
    expect(r.json.error.details).toEqual([{ path: "generators.0.params.response_format.json_schema.schema", message: expect.stringMatching(/top-level schema must be/) }]);
  });

  it("is described in the OpenAPI document", async () => {
    const r = await api("/openapi.json");
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.json.components.schemas.Recipe)).toMatch(/"response_format".*"json_schema"/);
  });
});
