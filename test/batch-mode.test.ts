// Batch mode end to end: a job submitted through the OpenAI Batch API of the loopback fake,
// polled by delayed queue messages, ingested through the same filters and commit as live jobs.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { allSamples, api, gsm8k, gsmRecipe, newDataset, newKey, recorded, upload, waitForJob } from "./helpers";

async function batchStats() {
  const stats = await (await fetch(`${env.FAKE_CONTROL_URL}/__stats`)).json<any>();
  return stats.batch as { batches: number; lines: number; billedLines: number; billedByLine: Record<string, number>; erroredLines: number; expiredLines: number };
}

const linesOf = (model: string, byLine: Record<string, number>) => Object.entries(byLine).filter(([k]) => k.startsWith(`${model}|`));

async function runBatchJob(model: string, problems: number, provider = "openai") {
  const key = await newKey();
  const ds = await newDataset(key);
  const up = await upload(key, ds, gsm8k.slice(0, problems));
  const created = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }, { mode: "batch", generators: [{ provider, model, params: { max_tokens: 512 } }] }) });
  expect(created.status).toBe(202);
  const job = await waitForJob(key, created.json.id, 90_000);
  return { key, job };
}

describe("batch mode", () => {
  it("completes a job through the provider's batch API, at half the price, each line paid once", async () => {
    const before = await batchStats();
    const { key, job } = await runBatchJob("gpt-4o-mini", 30);
    expect(job.status).toBe("done");
    expect(job.mode).toBe("batch");
    expect(job.candidates).toMatchObject({ planned: 120, generated: 120, failed: 0 });
    // The same filters as live mode: exactly the recorded correct solutions pass.
    const correct = gsm8k.slice(0, 30).reduce((n, p) => n + recorded[p.question]!.slice(0, 4).filter((r) => r.is_correct).length, 0);
    expect(job.candidates.accepted).toBe(correct);

    const after = await batchStats();
    expect(after.billedLines - before.billedLines).toBe(120);
    // Half price: gpt-4o-mini is $0.15 / $0.60 per 1M tokens live.
    expect(job.cost_usd).toBeCloseTo(((job.tokens.input * 0.15 + job.tokens.output * 0.6) / 1e6) * 0.5, 6);
    const accepted = await allSamples(key, job.id, "accepted");
    expect(accepted.every((s: any) => s.generator.model === "gpt-4o-mini" && s.usage.cost_usd > 0)).toBe(true);
  });

  it("resubmits failed and expired lines, never paying twice for a line that succeeded", async () => {
    const model = `batchfail-${Date.now().toString(36)}`;
    const before = await batchStats();
    const { key, job } = await runBatchJob(model, 40);
    expect(job.status).toBe("done");
    expect(job.candidates).toMatchObject({ planned: 160, generated: 160, failed: 0 });
    const after = await batchStats();
    // Some lines failed or expired the first time round and were resubmitted in a second batch.
    expect(after.erroredLines + after.expiredLines - before.erroredLines - before.expiredLines).toBeGreaterThan(0);
    expect(after.batches - before.batches).toBeGreaterThan(2);
    const billed = linesOf(model, after.billedByLine);
    expect(billed.length).toBe(160);
    expect(billed.every(([, n]) => n === 1)).toBe(true);
    // No duplicate samples either.
    const samples = [...(await allSamples(key, job.id, "accepted")), ...(await allSamples(key, job.id, "rejected"))];
    expect(new Set(samples.map((s: any) => `${s.input_index}:${s.candidate}`)).size).toBe(160);
  });

  it("works the same through Anthropic's Message Batches, resubmissions included", async () => {
    const model = `batchfail-claude-${Date.now().toString(36)}`;
    const { key, job } = await runBatchJob(model, 20, "anthropic");
    expect(job.status).toBe("done");
    expect(job.candidates).toMatchObject({ planned: 80, generated: 80, failed: 0 });
    const billed = linesOf(model, (await batchStats()).billedByLine);
    expect(billed.length).toBe(80);
    expect(billed.every(([, n]) => n === 1)).toBe(true);
    const accepted = await allSamples(key, job.id, "accepted");
    expect(accepted.every((s: any) => s.generator.provider === "anthropic")).toBe(true);
  });

  it("fails a whole failed batch's lines only after their retries, with the error", async () => {
    const { key, job } = await runBatchJob(`batchdead-${Date.now().toString(36)}`, 5);
    expect(job.status).toBe("done");
    expect(job.candidates).toMatchObject({ planned: 20, failed: 20 });
    const failed = await allSamples(key, job.id, "failed");
    expect(failed[0].error.message).toMatch(/after 4 attempts/);
  });

  it("refuses batch mode for a provider without a batch API", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const r = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { rows: [{ question: "1+1?", answer: "2" }] }, { mode: "batch" }) });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("batch_unsupported");
  });
});
