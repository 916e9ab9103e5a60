import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { gsm8k, recorded, unique } from "../test/helpers";
import { anthropicBatchClient } from "./anthropic-batch";
import { batchLineId, parseBatchLineId, type BatchClient, type BatchLine, type BatchResults } from "./batch";
import { ProviderError, type ChatResult } from "./types";

// The loopback fake (test/fake-batch.mjs) also speaks Anthropic's Message Batches API on the same
// host. Its state is shared with other test files, so each test uses its own model names.
const client = (apiKey?: string) => anthropicBatchClient({ name: "anthropic", baseUrl: env.FAKE_CONTROL_URL, apiKey, timeoutMs: 3000 });

function lines(model: string, inputs: number, candidates: number): BatchLine[] {
  const out: BatchLine[] = [];
  for (let i = 0; i < inputs; i++)
    for (let c = 0; c < candidates; c++)
      out.push({
        custom_id: batchLineId(i, c),
        request: { model, messages: [{ role: "system", content: "Be careful." }, { role: "user", content: `Solve step by step.\n\n${gsm8k[i]!.question}` }], params: { max_tokens: 256 }, candidate: c },
      });
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
  const { id } = await c.submit(batch);
  await untilEnded(c, id);
  return c.results(id);
}

const errorOf = (r: ChatResult | ProviderError | undefined) => {
  expect(r).toBeInstanceOf(ProviderError);
  return r as ProviderError;
};

describe("Anthropic batch client against the loopback fake", () => {
  it("submits, polls until ended and reads every message with its usage", async () => {
    const c = client("sk-ant-test");
    const { id } = await c.submit(lines(unique("claude-batch"), 2, 2));
    expect(id).toMatch(/^msgbatch_/);
    expect(await c.status(id)).toMatchObject({ state: "in_progress", detail: "in_progress", counts: { total: 4, succeeded: 0, failed: 0 } });
    expect(await c.status(id)).toMatchObject({ state: "ended", detail: "ended", counts: { total: 4, succeeded: 4, failed: 0 } });
    const results = await c.results(id);
    expect(results.size).toBe(4);
    for (const [customId, r] of results) {
      const { input, candidate } = parseBatchLineId(customId)!;
      expect(r).toMatchObject({ text: recorded[gsm8k[input]!.question]![candidate]!.text, finishReason: "end_turn" });
      expect((r as ChatResult).inputTokens).toBeGreaterThan(10);
    }
  });

  it("returns errored, expired and cut-off lines as retryable, a 4xx line as final", async () => {
    const c = client("sk-ant-test");
    const flaky = await run(c, lines(unique("batchfail-claude"), 10, 2));
    const failed = [...flaky.values()].filter((r) => r instanceof ProviderError) as ProviderError[];
    expect(failed.some((e) => e.code === "http_500")).toBe(true);
    expect(failed.some((e) => e.code === "batch_expired")).toBe(true);
    expect(failed.every((e) => e.retryable)).toBe(true);

    const mixed = await run(c, [lines("fault-400", 1, 1)[0]!, lines("fault-malformed", 2, 1)[1]!]);
    expect(errorOf(mixed.get("i0-c0"))).toMatchObject({ code: "http_400", retryable: false, status: 400 });
    expect(errorOf(mixed.get("i1-c0"))).toMatchObject({ code: "malformed_response", retryable: true });
  });

  it("a dead batch ends with every line errored and retryable", async () => {
    const c = client("sk-ant-test");
    const results = await run(c, lines(unique("batchdead-claude"), 2, 1));
    expect(results.size).toBe(2);
    for (const r of results.values()) expect(errorOf(r)).toMatchObject({ code: "http_500", retryable: true });
  });

  it("sorts a 429 on submit as retryable with retry-after", async () => {
    const c = client("sk-ant-test");
    const batch = lines(unique("batch429-claude"), 1, 1);
    await expect(c.submit(batch)).rejects.toMatchObject({ code: "rate_limited", retryable: true, retryAfterSeconds: 1 });
    expect(await c.submit(batch)).toMatchObject({ id: expect.stringMatching(/^msgbatch_/) });
  });

  it("cancels: finished lines are returned, the rest come back canceled and retryable", async () => {
    const c = client("sk-ant-test");
    const { id } = await c.submit(lines(unique("claude-batch"), 2, 2));
    await c.cancel(id);
    expect(await c.status(id)).toMatchObject({ state: "ended", counts: { total: 4, succeeded: 2, failed: 2 } });
    const results = await c.results(id);
    const canceled = [...results.values()].filter((r) => r instanceof ProviderError);
    expect(canceled).toHaveLength(2);
    for (const e of canceled) expect(e).toMatchObject({ code: "batch_canceled", retryable: true });
  });

  it("refuses results before the end and a missing API key", async () => {
    const { id } = await client("sk-ant-test").submit(lines(unique("claude-batch"), 1, 1));
    await expect(client("sk-ant-test").results(id)).rejects.toMatchObject({ code: "batch_not_ended", retryable: true });
    await expect(client().submit(lines("m", 1, 1))).rejects.toMatchObject({ status: 401, retryable: false });
  });
});
