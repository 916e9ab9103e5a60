import { describe, expect, it } from "vitest";
import { api, gsm8k, gsmRecipe, newDataset, newKey, upload, waitForJob } from "../../test/helpers";

describe("GET /v1/usage", () => {
  it("reports tokens and cost per model and day, judges included, matching the job's own totals", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const up = await upload(key, ds, gsm8k.slice(0, 5));
    const recipe = gsmRecipe(ds, { upload: up.json.id }, {
      generators: [{ provider: "openai", model: "gpt-4o-mini" }],
      filters: [
        { type: "math_answer", reference: "{{answer}}" },
        { type: "judge", provider: "openai", model: "judge-json-9" },
      ],
    });
    const created = await api("/v1/jobs", { method: "POST", key, json: recipe });
    const job = await waitForJob(key, created.json.id);
    expect(job.status).toBe("done");

    const u = await api("/v1/usage", { key });
    expect(u.status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    expect(u.json.totals).toMatchObject({ input_tokens: job.tokens.input, output_tokens: job.tokens.output, candidates: 20, accepted: job.candidates.accepted, jobs: 1 });
    expect(u.json.totals.cost_usd).toBeCloseTo(job.cost_usd, 6);
    const teacher = u.json.by_model_day.find((r: any) => r.model === "openai/gpt-4o-mini");
    const judge = u.json.by_model_day.find((r: any) => r.model === "openai/judge-json-9");
    expect(teacher).toMatchObject({ day: today, calls: 20 });
    // The judge grades only what passed math_answer.
    expect(judge).toMatchObject({ day: today, calls: job.filters["math_answer.pass"] });
    expect(teacher.input_tokens + judge.input_tokens).toBe(job.tokens.input);
    // gpt-4o-mini is priced, so the teacher cost is positive and adds up.
    expect(teacher.cost_usd).toBeGreaterThan(0);
  });

  it("is per key, and filters by day", async () => {
    const other = await newKey();
    const u = await api("/v1/usage", { key: other });
    expect(u.json).toMatchObject({ totals: { candidates: 0, cost_usd: 0 }, by_model_day: [], by_day: [] });
    expect((await api("/v1/usage?from=2001-01-01&to=2001-01-02", { key: other })).json.by_day).toEqual([]);
    expect((await api("/v1/usage?from=yesterday", { key: other })).status).toBe(400);
    expect((await api("/v1/usage")).status).toBe(401);
  });
});
