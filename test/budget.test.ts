// Money: quotes before running, hard budgets per job and per key, metering that matches what
// the provider reported, and per-key API rate limits.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { allSamples, api, gsm8k, gsmRecipe, newDataset, newKey, upload, waitForJob } from "./helpers";

const TEACHER = { provider: "openai", model: "budget-teacher", params: { max_tokens: 150 } };

async function fakeTokens(model: string): Promise<{ calls: number; input: number; output: number }> {
  const stats = await (await fetch(`${env.FAKE_CONTROL_URL}/__stats`)).json<any>();
  return stats.tokensByModel?.[model] ?? { calls: 0, input: 0, output: 0 };
}

async function countJobs() {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM jobs").first<{ n: number }>();
  return row!.n;
}

describe("quotes (dry_run)", () => {
  it("estimates tokens and cost from the rendered prompts, says how, and creates nothing", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const up = await upload(key, ds, gsm8k.slice(0, 50));
    const before = await countJobs();
    const recipe = gsmRecipe(ds, { upload: up.json.id }, { generators: [TEACHER], dry_run: true, budget_usd: 5 });
    const r = await api("/v1/jobs", { method: "POST", key, json: recipe });
    expect(r.status).toBe(200);
    const q = r.json.quote;
    expect(r.json.dry_run).toBe(true);
    expect(q).toMatchObject({ mode: "live", inputs: 50, candidates: { expected: 200, max: 200 } });
    // Prompts: the templates rendered with the real rows, ~4 chars/token.
    const perPrompt = q.by_model[0].input_tokens / 200;
    expect(perPrompt).toBeGreaterThan(30);
    expect(perPrompt).toBeLessThan(200);
    // Output: the generator's max_tokens. Cost: 10 and 40 USD per 1M tokens.
    expect(q.by_model[0]).toMatchObject({ model: "openai/budget-teacher", role: "teacher", calls: 200, output_tokens: 200 * 150, priced: true });
    expect(q.cost_usd).toBeCloseTo((q.tokens.input * 10 + q.tokens.output * 40) / 1e6, 5);
    expect(q.method).toMatch(/chars\/token/);
    expect(q.budget).toMatchObject({ job_usd: 5, within: true });
    expect(await countJobs()).toBe(before);

    // Batch mode halves the price; a judge adds its own line.
    const batch = await api("/v1/jobs", {
      method: "POST",
      key,
      json: { ...recipe, mode: "batch", filters: [{ type: "judge", provider: "openai", model: "judge-8", min_score: 5 }] },
    });
    expect(batch.status).toBe(200);
    expect(batch.json.quote.by_model[0].cost_usd).toBeCloseTo(q.by_model[0].cost_usd / 2, 6);
    expect(batch.json.quote.by_model[1]).toMatchObject({ model: "openai/judge-8", role: "judge", calls: 200 });
    expect(await countJobs()).toBe(before);
  });

  it("validates like a real job: unknown providers and missing fields are still 400", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const r = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { rows: [{ q: "x" }] }, { dry_run: true }) });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("missing_field");
  });
});

describe("budgets", () => {
  it("a job budget stops the job within one batch, ends it budget_exhausted and keeps what ran", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const up = await upload(key, ds, gsm8k.slice(0, 200));
    const before = await fakeTokens("budget-teacher");
    const budget = 2;
    const created = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }, { generators: [TEACHER], budget_usd: budget }) });
    expect(created.status).toBe(202);
    const job = await waitForJob(key, created.json.id);
    expect(job.status).toBe("budget_exhausted");
    expect(job.error).toMatch(/budget_usd/);
    expect(job.finished_at).not.toBeNull();
    expect(job.budget.reserved_usd).toBe(0);

    // Everything is accounted for: what ran is kept, the rest is counted as cancelled.
    const c = job.candidates;
    expect(c.accepted + c.rejected + c.failed + c.cancelled).toBe(c.planned);
    expect(c.accepted).toBeGreaterThan(0);
    expect(c.cancelled).toBeGreaterThan(0);

    // Spend never exceeds the budget by more than one task (the last one admitted).
    const samples = [...(await allSamples(key, job.id, "accepted")), ...(await allSamples(key, job.id, "rejected"))];
    const perTask = new Map<string, number>();
    for (const s of samples) perTask.set(s.task, (perTask.get(s.task) ?? 0) + s.usage.cost_usd);
    const largestTask = Math.max(...perTask.values());
    expect(job.cost_usd).toBeGreaterThan(0);
    expect(job.cost_usd).toBeLessThanOrEqual(budget + largestTask + 1e-9);

    // Metering matches what the provider reported, token for token, and the price table.
    const after = await fakeTokens("budget-teacher");
    expect(job.tokens.input).toBe(after.input - before.input);
    expect(job.tokens.output).toBe(after.output - before.output);
    expect(job.cost_usd).toBeCloseTo((job.tokens.input * 10 + job.tokens.output * 40) / 1e6, 6);
    expect(samples.reduce((n, s) => n + s.usage.cost_usd, 0)).toBeCloseTo(job.cost_usd, 6);
  });

  it("a key budget stops its jobs, and then refuses new ones with 402", async () => {
    const admin = await api("/v1/keys", { method: "POST", key: env.ADMIN_TOKEN, json: { name: "capped", budget_usd: 0.3 } });
    expect(admin.status).toBe(201);
    const key = admin.json.key;
    const ds = await newDataset(key);
    const up = await upload(key, ds, gsm8k.slice(0, 200));
    const created = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }, { generators: [TEACHER] }) });
    const job = await waitForJob(key, created.json.id);
    expect(job.status).toBe("budget_exhausted");
    expect(job.error).toMatch(/key/);
    const usage = await api("/v1/usage", { key });
    expect(usage.json.budget_usd).toBe(0.3);
    expect(usage.json.totals.cost_usd).toBeCloseTo(job.cost_usd, 6);
    expect(usage.json.totals.cost_usd).toBeGreaterThanOrEqual(0.3);

    const again = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }, { generators: [TEACHER] }) });
    expect(again.status).toBe(402);
    expect(again.json.error.code).toBe("budget_exhausted");
    // A quote still works, and says the budget is spent.
    const quote = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }, { generators: [TEACHER], dry_run: true }) });
    expect(quote.status).toBe(200);
    expect(quote.json.quote.budget.within).toBe(false);
  });

  it("judge calls count against the budget and in usage", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const up = await upload(key, ds, gsm8k.slice(0, 10));
    const before = await fakeTokens("judge-8");
    const created = await api("/v1/jobs", {
      method: "POST",
      key,
      json: gsmRecipe(ds, { upload: up.json.id }, { generators: [{ provider: "openai", model: "gpt-4o-mini" }], filters: [{ type: "judge", provider: "openai", model: "judge-8", min_score: 5 }] }),
    });
    const job = await waitForJob(key, created.json.id);
    expect(job.status).toBe("done");
    const after = await fakeTokens("judge-8");
    const usage = await api("/v1/usage", { key });
    const judge = usage.json.by_model_day.find((r: any) => r.model === "openai/judge-8");
    expect(judge.calls).toBe(after.calls - before.calls);
    expect(judge.input_tokens).toBe(after.input - before.input);
    expect(judge.cost_usd).toBeCloseTo(((after.input - before.input) * 5 + (after.output - before.output) * 20) / 1e6, 6);
  });
});

describe("API rate limits", () => {
  it("answers 429 with retry-after once a key is over its limit, and other keys are unaffected", async () => {
    const admin = await api("/v1/keys", { method: "POST", key: env.ADMIN_TOKEN, json: { name: "slow", rate_limit_per_min: 5 } });
    const key = admin.json.key;
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof api>> | undefined;
    for (let i = 0; i < 8; i++) {
      const r = await api("/v1/usage", { key });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    expect(limited!.json.error.code).toBe("rate_limited");
    expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await api("/v1/usage", { key: await newKey() })).status).toBe(200);
  });
});
