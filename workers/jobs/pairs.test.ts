import { describe, expect, it } from "vitest";
import type { CandidateRecord } from "../records";
import { makePairs, side } from "./pairs";

function rec(input: number, candidate: number, status: "accepted" | "rejected" | "failed", judge?: number): CandidateRecord {
  return {
    id: `smp_${input}_${candidate}`,
    job: "job_x",
    task: "job_x:0",
    input_index: input,
    candidate,
    status,
    ...(status === "rejected" ? { reason: "math_answer.mismatch" } : {}),
    messages: [
      { role: "user", content: `question ${input}` },
      { role: "assistant", content: `answer ${input}.${candidate}` },
    ],
    input: { q: input },
    generator: { provider: "replay", model: "m", params: {} },
    filters: judge === undefined ? [] : [{ name: "judge", pass: status === "accepted", score: judge }],
    usage: { input_tokens: 1, output_tokens: 1, cost_usd: 0 },
    lineage: { job: "job_x", recipe_sha256: "r", prompt_sha256: "p", synthetic_depth: 1 },
    created_at: "2026-11-24T00:00:00Z",
  };
}

describe("preference pairs", () => {
  it("pairs the best accepted with a rejected candidate of the same input", async () => {
    const { pairs, pending } = await makePairs([rec(0, 0, "rejected"), rec(0, 1, "accepted"), rec(1, 0, "accepted"), rec(1, 1, "failed")], new Map());
    expect(pairs).toHaveLength(1);
    expect(pairs[0]).toMatchObject({ input_index: 0, chosen: [{ content: "answer 0.1" }], rejected: [{ content: "answer 0.0" }], prompt: [{ role: "user" }] });
    expect(pending.size).toBe(0);
  });

  it("pairs a higher with a lower judge score when every candidate passed", async () => {
    const { pairs } = await makePairs([rec(0, 0, "accepted", 7), rec(0, 1, "accepted", 9), rec(0, 2, "accepted", 8)], new Map());
    expect(pairs).toHaveLength(1);
    expect(pairs[0]!.chosen_meta).toMatchObject({ candidate: 1, score: 9 });
    expect(pairs[0]!.rejected_meta).toMatchObject({ candidate: 0, score: 7 });
  });

  it("makes no pair from equal scores, and carries a lone rejected side forward", async () => {
    const equal = await makePairs([rec(0, 0, "accepted", 8), rec(0, 1, "accepted", 8)], new Map());
    expect(equal.pairs).toHaveLength(0);
    const lone = await makePairs([rec(3, 0, "rejected")], new Map());
    expect(lone.pairs).toHaveLength(0);
    expect(lone.pending.get(3)).toMatchObject({ candidate: 0, status: "rejected" });
    const later = await makePairs([rec(3, 1, "accepted")], lone.pending);
    expect(later.pairs[0]).toMatchObject({ chosen_meta: { candidate: 1 }, rejected_meta: { candidate: 0 } });
    expect(side(rec(3, 1, "accepted")).score).toBe(1);
  });
});
