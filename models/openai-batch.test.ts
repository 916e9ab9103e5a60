import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { gsm8k, recorded, unique } from "../test/helpers";
import { batchLineId, parseBatchLineId, type BatchClient, type BatchLine, type BatchResults } from "./batch";
import { openAIBatchClient } from "./openai-batch";
import { ProviderError, type ChatResult } from "./types";

// The loopback fake (test/fake-batch.mjs, served by test/fake-openai.mjs) speaks OpenAI's Batch
// API. Its state is shared with every other test file, so each test uses its own model names and
// reads only its own lines from the stats.
const client = () => openAIBatchClient({ name: "openai", baseUrl: `${env.FAKE_CONTROL_URL}/v1`, apiKey: "sk-test", timeoutMs: 3000 });
const prompt = (i: number) => `Solve step by step.\n\n${gsm8k[i]!.question}`;

function lines(model: string, inputs: number, candidates: number): BatchLine[] {
  const out: BatchLine[] = [];
  for (let i = 0; i < inputs; i++)
    for (let c = 0; c < candidates; c++)
      out.push({ custom_id: batchLineId(i, c), request: { model, messages: [{ role: "system", content: "Be careful." }, { role: "user", content: prompt(i) }], params: { temperature: 0.7 }, candidate: c } });
  return out;
}

async function untilEnded(c: BatchClient, id: string) {
  for (let polls = 0; polls < 20; polls++) {
    const s = await c.status(id);
    if (s.state === "ended") return s;
  }
  throw new Error(`batch ${id} never ended`);
}

async function run(c: BatchClient, batch: BatchLine[]): Promise<BatchResults> {
  const { id } = await c.submit(batch, { task: "t1" });
  await untilEnded(c, id);
  return c.results(id);
}

async function billedFor(model: string): Promise<number[]> {
  const stats = await (await fetch(`${env.FAKE_CONTROL_URL}/__stats`)).json<{ batch: { billedByLine: Record<string, number> } }>();
  return Object.entries(stats.batch.billedByLine).filter(([k]) => k.startsWith(`${model}|`)).map(([, n]) => n);
}

const errorOf = (r: ChatResult | ProviderError | undefined) => {
  expect(r).toBeInstanceOf(ProviderError);
  return r as ProviderError;
};

describe("OpenAI batch client against the loopback fake", () => {
  it("submits, polls until ended and reads every completion with its usage", async () => {
    const c = client();
    const model = unique("gpt-batch");
    const { id } = await c.submit(lines(model, 2, 2), { task: "t1" });
    expect(await c.status(id)).toMatchObject({ id, state: "in_progress", detail: "in_progress" });
    expect(await c.status(id)).toMatchObject({ state: "ended", detail: "completed", counts: { total: 4, succeeded: 4, failed: 0 } });
    const results = await c.results(id);
    expect([...results.keys()].sort()).toEqual(["i0-c0", "i0-c1", "i1-c0", "i1-c1"]);
    for (const [customId, r] of results) {
      const { input, candidate } = parseBatchLineId(customId)!;
      // The candidate picks the recording, as x-winnow-candidate does for a direct call.
      expect(r).toMatchObject({ text: recorded[gsm8k[input]!.question]![candidate]!.text, finishReason: "stop" });
      expect((r as ChatResult).inputTokens).toBeGreaterThan(10);
      expect((r as ChatResult).outputTokens).toBeGreaterThan(5);
    }
    expect(await billedFor(model)).toEqual([1, 1, 1, 1]);
  });

  it("returns errored and expired lines as retryable, and a resubmission pays only for those", async () => {
    const c = client();
    const model = unique("batchfail-gpt");
    const all = lines(model, 10, 2);
    const first = await run(c, all);
    const failed = [...first].filter(([, r]) => r instanceof ProviderError) as [string, ProviderError][];
    const errored = failed.filter(([, e]) => e.code === "http_500");
    const expired = failed.filter(([, e]) => e.code === "batch_expired");
    expect(errored.length).toBeGreaterThan(0);
    expect(expired.length).toBeGreaterThan(0);
    expect(errored.length + expired.length).toBe(failed.length);
    for (const [, e] of failed) expect(e.retryable).toBe(true);
    expect(first.size).toBe(all.length);

    const again = await run(c, all.filter((l) => failed.some(([id]) => id === l.custom_id)));
    expect([...again.values()].every((r) => !(r instanceof ProviderError))).toBe(true);
    const billed = await billedFor(model);
    expect(billed).toHaveLength(all.length);
    expect(billed.every((n) => n === 1)).toBe(true);
  });

  it("sorts line errors: 4xx final, 5xx and a cut-off results line retryable", async () => {
    const c = client();
    const ok = lines(unique("gpt-batch"), 1, 1)[0]!;
    const mk = (model: string, input: number): BatchLine => lines(model, input + 1, 1)[input]!;
    const results = await run(c, [ok, mk("fault-400", 1), mk("fault-500", 2), mk("fault-malformed", 3)]);
    expect(results.get("i0-c0")).toMatchObject({ finishReason: "stop" });
    expect(errorOf(results.get("i1-c0"))).toMatchObject({ code: "http_400", retryable: false, status: 400 });
    expect(errorOf(results.get("i1-c0")).message).toMatch(/temperature/);
    expect(errorOf(results.get("i2-c0"))).toMatchObject({ code: "http_500", retryable: true });
    expect(errorOf(results.get("i3-c0"))).toMatchObject({ code: "malformed_response", retryable: true });
  });

  it("ends a failed batch with every line retryable and the reason attached", async () => {
    const c = client();
    const batch = lines(unique("batchdead-gpt"), 2, 2);
    const { id } = await c.submit(batch);
    expect(await untilEnded(c, id)).toMatchObject({ detail: "failed" });
    const results = await c.results(id);
    expect(results.size).toBe(batch.length);
    for (const r of results.values()) expect(errorOf(r)).toMatchObject({ code: "batch_failed", retryable: true });
    expect(errorOf(results.get("i0-c0")).message).toMatch(/could not be processed/);
  });

  it("sorts 429 and 500 on submit as retryable with retry-after, then submits", async () => {
    const c = client();
    const limited = lines(unique("batch429-gpt"), 1, 1);
    await expect(c.submit(limited)).rejects.toMatchObject({ code: "rate_limited", retryable: true, status: 429, retryAfterSeconds: 1 });
    expect(await c.submit(limited)).toMatchObject({ id: expect.stringMatching(/^batch_/) });
    const broken = lines(unique("batch500-gpt"), 1, 1);
    await expect(c.submit(broken)).rejects.toMatchObject({ code: "http_500", retryable: true, retryAfterSeconds: 2 });
  });

  it("cancels: what already ran is returned, the rest is absent", async () => {
    const c = client();
    const { id } = await c.submit(lines(unique("gpt-batch"), 2, 2));
    await c.cancel(id);
    expect(await c.status(id)).toMatchObject({ state: "ended", detail: "cancelled", counts: { total: 4, succeeded: 2 } });
    const results = await c.results(id);
    expect(results.size).toBe(2);
    for (const r of results.values()) expect(r).toMatchObject({ finishReason: "stop" });
  });

  it("refuses results before the end, bad custom_ids before any upload, and a missing key", async () => {
    const c = client();
    const { id } = await c.submit(lines(unique("gpt-batch"), 1, 1));
    await expect(c.results(id)).rejects.toMatchObject({ code: "batch_not_ended", retryable: true });
    const bad = lines("m", 1, 2).map((l) => ({ ...l, custom_id: "task~0~1" }));
    await expect(c.submit(bad)).rejects.toMatchObject({ code: "invalid_batch", retryable: false });
    await expect(c.submit([])).rejects.toMatchObject({ code: "invalid_batch", retryable: false });
    const keyless = openAIBatchClient({ name: "openai", baseUrl: `${env.FAKE_CONTROL_URL}/v1`, timeoutMs: 3000 });
    await expect(keyless.submit(lines("m", 1, 1))).rejects.toMatchObject({ status: 401, retryable: false });
  });

  it("lets a test choose the poll at which batches end (2 unless set)", async () => {
    const config = (body: unknown) => fetch(`${env.FAKE_CONTROL_URL}/__batch/config`, { method: "POST", body: JSON.stringify(body) });
    expect((await config({ pollsToEnd: 0 })).status).toBe(400);
    expect(await (await config({})).json()).toEqual({ pollsToEnd: 2 });
  });

  it("encodes a slot as a custom_id both providers accept", () => {
    expect(batchLineId(17, 3)).toBe("i17-c3");
    expect(parseBatchLineId("i17-c3")).toEqual({ input: 17, candidate: 3 });
    expect(parseBatchLineId("17-3")).toBeNull();
    expect(batchLineId(Number.MAX_SAFE_INTEGER, 9999)).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
  });
});
