import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { costUsd, DEFAULT_PRICES } from "../models/pricing";
import { renderTemplate } from "./index";
import { JudgeOptions, judge, judgeProviderProblem, parseScore, renderRubric } from "./judge";
import type { Candidate } from "./types";

// The judge talks to the loopback fake OpenAI server (test/fake-openai.mjs), whose `judge-…`
// models answer in the grade format their name asks for.
let n = 0;
function candidate(completion = "Janet sells 9 eggs at $2, so $18.\nA: 18"): Candidate {
  // A unique question per call, so the fake's per-prompt flaky state never leaks between tests.
  const input = { question: `How much does Janet make? (case ${++n})`, answer: "18" };
  return { input, messages: [{ role: "user", content: `Solve: ${input.question}` }], completion };
}
const build = (o: Record<string, unknown>) =>
  judge.build(JudgeOptions.parse({ type: "judge", provider: "openai", rubric: "Q: {{question}}\nA: {{completion}}\nScore 1-10.", ...o }), { env, datasetId: null });
const grade = (o: Record<string, unknown>, c = candidate()) => build(o).check(c, { render: (t) => renderTemplate(t, c.input) });

describe("judge filter against the fake provider", () => {
  it.each([
    ["judge-7", 7, true],
    ["judge-7.5", 7.5, true],
    ["judge-6", 6, false],
    ["judge-score-8-of-10", 8, true],
    ["judge-outof-8-of-10", 8, true],
    ["judge-rating-4-of-5", 8, true],
    ["judge-rating-3-of-5", 6, false],
    ["judge-json-9", 9, true],
  ])("%s → score %d, pass %s", async (model, score, pass) => {
    const r = await grade({ model });
    expect(r).toMatchObject({ pass, score });
    if (!pass) expect(r.reason).toBe("judge.low_score");
    expect(r.usage!.input_tokens).toBeGreaterThan(0);
    expect(r.usage!.output_tokens).toBeGreaterThan(0);
    expect(r.usage!.cost_usd).toBe(costUsd(DEFAULT_PRICES, model, r.usage!.input_tokens, r.usage!.output_tokens));
  });

  it("honours min_score and scale", async () => {
    expect(await grade({ model: "judge-6", min_score: 6 })).toMatchObject({ pass: true, score: 6 });
    expect(await grade({ model: "judge-rating-4-of-5", scale: 5, min_score: 4 })).toMatchObject({ pass: true, score: 4 });
    expect(await grade({ model: "judge-rating-4-of-5", scale: 5, min_score: 4.5 })).toMatchObject({ pass: false, score: 4, reason: "judge.low_score" });
  });

  it("records an unparsable grade, with the reply and the usage, without throwing", async () => {
    const r = await grade({ model: "judge-garbage" });
    expect(r).toMatchObject({ pass: false, reason: "judge.unparsable" });
    expect(r.detail).toMatch(/quite good overall/);
    expect(r.usage!.input_tokens).toBeGreaterThan(0);
    expect(r.score).toBeUndefined();
  });

  it("a grade outside the scale is unparsable", async () => {
    expect((await grade({ model: "judge-42" })).reason).toBe("judge.unparsable");
  });

  it("reports provider errors as judge.error, after retrying retryable ones", async () => {
    const started = Date.now();
    const r = await grade({ model: "fault-500" });
    expect(r).toMatchObject({ pass: false, reason: "judge.error" });
    expect(r.detail).toMatch(/^http_500:/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200); // waited before the one retry
    expect(await grade({ model: "fault-429", retries: 0 })).toMatchObject({ reason: "judge.error", detail: expect.stringMatching(/^rate_limited:/) });
    expect(await grade({ model: "fault-400" })).toMatchObject({ reason: "judge.error", detail: expect.stringMatching(/^http_400:/) });
  });

  it("a retry turns a transient 500 into a grade", async () => {
    expect(await grade({ model: "judge-flaky-500-8" })).toMatchObject({ pass: true, score: 8 });
    expect(await grade({ model: "judge-flaky-500-8", retries: 0 })).toMatchObject({ reason: "judge.error" });
  });

  it("renders the rubric from the row, with the completion and prompt verbatim", async () => {
    const c = candidate("Answer with {{answer}} braces and {{{question}}}.");
    const r = await grade({ model: "judge-echo", rubric: "Q={{question}} ref={{answer}} P=[{{prompt}}] C=[{{{completion}}}] /{{scale}}" }, c);
    // the echo is unparsable, and the detail quotes what the judge was sent
    expect(r.reason).toBe("judge.unparsable");
    expect(r.detail).toContain(`Q=${c.input.question} ref=18 P=[Solve: ${c.input.question}] C=[Answer with {{answer}} braces and {{{question}}}.] /10`);
  });

  it("appends the completion when the rubric has no placeholder for it", () => {
    const c = candidate("X");
    expect(renderRubric("Grade {{question}}", c, (t) => renderTemplate(t, c.input), 10)).toBe(`Grade ${c.input.question}\n\nResponse:\nX`);
  });

  it("an unconfigured provider is judge.provider_unavailable, and can be caught at job creation", async () => {
    expect(await grade({ provider: "workers-ai", model: "@cf/meta/llama-3.1-8b-instruct" })).toMatchObject({ pass: false, reason: "judge.provider_unavailable" });
    expect(judgeProviderProblem({ provider: "workers-ai" }, env)).toMatch(/not configured/);
    expect(judgeProviderProblem({ provider: "openai" }, env)).toBeNull();
  });

  it("lists only row placeholders as templates, and validates options", () => {
    const o = JudgeOptions.parse({ type: "judge", provider: "openai", model: "m", rubric: "{{question}} {{completion}} {{{prompt}}} {{scale}}" });
    expect(judge.templates!(o)).toEqual(["{{question}}   "]);
    expect(o).toMatchObject({ min_score: 7, scale: 10, retries: 1, params: {} });
    expect(JudgeOptions.safeParse({ type: "judge", provider: "https://evil.example", model: "m" }).success).toBe(false);
    expect(JudgeOptions.safeParse({ type: "judge", provider: "openai", model: "m", min_score: 11 }).success).toBe(false);
    expect(JudgeOptions.safeParse({ type: "judge", provider: "openai", model: "m", params: { temperature: 5 } }).success).toBe(false);
  });
});

describe("parseScore", () => {
  it.each([
    ["7", 7],
    ["7.5", 7.5],
    ["8.", 8],
    ["Score: 8/10", 8],
    ["**Score:** 9", 9],
    ["Rating: 4/5", 8],
    ["I'd give it 8 out of 10.", 8],
    ["Overall score = 6", 6],
    ['{"score": 9}', 9],
    ['{"score": "7"}', 7],
    ['{"rating": 3, "out_of": 5}', 6],
    ['Reasoning... ```json\n{"score": 5, "reason": "meh"}\n```', 5],
    ["Step 1 has 3 errors, step 2 is fine.\nScore: 4", 4],
    ["Initial score: 3. After review, final score: 8", 8],
    ["The answer (18) is right.\n\n9", 9],
  ])("%j → %d", (text, score) => {
    expect(parseScore(text, 10)?.score).toBe(score);
  });

  it.each(["", "Good answer!", "It has 3 mistakes and 2 typos.", "Score: 11", "Score: 12/10", '{"score": "high"}', "-1"])("%j → null", (text) => {
    expect(parseScore(text, 10)).toBeNull();
  });
});
