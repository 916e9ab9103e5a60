// Every filter kind through the product's surfaces: POST /v1/filters/check, and inside a job.
import { describe, expect, it } from "vitest";
import { allSamples, api, gsm8k, gsmRecipe, newDataset, newKey, upload, waitForJob } from "./helpers";

const janet = gsm8k[0]!;
const good = "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer's market.\nA: 18";

async function check(key: string, filters: unknown[], items: { input?: object; completion: string }[]) {
  const r = await api("/v1/filters/check", { method: "POST", key, json: { filters, items } });
  expect(r.status, r.text).toBe(200);
  return r.json.results as { pass: boolean; reason: string | null; trace: { name: string; pass: boolean; reason?: string }[] }[];
}

describe("every filter kind via POST /v1/filters/check", () => {
  const cases: [string, unknown, string, string, string][] = [
    // [kind, spec, passing completion, rejected completion, reason]
    ["length", { type: "length", min_chars: 10, max_chars: 200 }, good, "short", "length.too_short"],
    ["refusal", { type: "refusal" }, good, "I'm sorry, but I can't help with that request.", "refusal.matched"],
    ["repetition", { type: "repetition", min_words: 5 }, good, Array(30).fill("the same line again and again").join("\n"), "repetition.duplicate_lines"],
    ["language", { type: "language", languages: ["eng"], min_chars: 20 }, "The ducks lay sixteen eggs every single day, and she sells what remains at the market.", "Les canards pondent seize oeufs chaque jour, et elle vend le reste au marché du village.", "language.mismatch"],
    ["regex", { type: "regex", pattern: "A:\\s*\\d+", must_match: true }, good, "no final answer here", "regex.no_match"],
    ["json_schema", { type: "json_schema", schema: { type: "object", required: ["answer"], properties: { answer: { type: "number" } } } }, '{"answer": 18}', '{"answer": "eighteen"}', "json_schema.invalid"],
    ["math_answer", { type: "math_answer", reference: "{{answer}}" }, good, "She makes $26.\nA: 26", "math_answer.mismatch"],
    ["judge", { type: "judge", provider: "openai", model: "judge-json-9", min_score: 7 }, good, "", "judge.low_score"],
  ];

  it.each(cases)("%s passes the good item and rejects the bad one with its reason", async (kind, spec, pass, reject, reason) => {
    const key = await newKey();
    if (kind === "judge") {
      // A judge that scores 9 passes; the same judge with a higher bar rejects.
      const [ok] = await check(key, [spec], [{ input: janet, completion: pass }]);
      expect(ok!.pass).toBe(true);
      const [no] = await check(key, [{ ...(spec as object), min_score: 9.5 }], [{ input: janet, completion: pass }]);
      expect(no).toMatchObject({ pass: false, reason });
      return;
    }
    const [ok, no] = await check(key, [spec], [
      { input: janet, completion: pass },
      { input: janet, completion: reject },
    ]);
    expect(ok!.pass, JSON.stringify(ok)).toBe(true);
    expect(no).toMatchObject({ pass: false, reason });
    expect(no!.trace.at(-1)).toMatchObject({ name: kind, pass: false, reason });
  });

  it("dedup rejects the second copy of a completion within the request", async () => {
    const key = await newKey();
    const [a, b, c] = await check(key, [{ type: "dedup" }], [{ completion: good }, { completion: good.toUpperCase() }, { completion: "Something else entirely, and long enough to shingle." }]);
    expect(a!.pass).toBe(true);
    expect(b).toMatchObject({ pass: false, reason: "dedup.exact" });
    expect(c!.pass).toBe(true);
  });

  it("decontaminate rejects benchmark text and passes ordinary text", async () => {
    const key = await newKey();
    const [bench, plain] = await check(key, [{ type: "decontaminate", fields: ["completion"] }], [
      { completion: `Here is a nice problem: ${janet.question}` },
      // (The Janet solution above would not pass: it is GSM8K's own reference answer.)
      { completion: "To find the total, add the prices of the three books and subtract the coupon from the sum before tax." },
    ]);
    expect(bench).toMatchObject({ pass: false, reason: "decontaminate.overlap" });
    expect(plain!.pass).toBe(true);
  });

  it("js_tests runs model-written JavaScript against its tests in the sandbox", async () => {
    const key = await newKey();
    const spec = { type: "js_tests", prelude: "const add = (a, b) => {\n", tests: "console.assert(add(2, 3) === 5);" };
    const [ok, wrong, loop] = await check(key, [spec], [
      { completion: "```js\nconst add = (a, b) => a + b;\n```" },
      { completion: "  return a - b;\n}" },
      { completion: "  while (true) {}\n}" },
    ]);
    expect(ok!.pass, JSON.stringify(ok)).toBe(true);
    expect(wrong).toMatchObject({ pass: false, reason: "js_tests.assert_failed" });
    expect(loop).toMatchObject({ pass: false, reason: "js_tests.timeout" });
  });

  it("refuses a judge whose provider is not configured", async () => {
    const key = await newKey();
    const r = await api("/v1/filters/check", { method: "POST", key, json: { filters: [{ type: "judge", provider: "nope", model: "m" }], items: [{ completion: "x" }] } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("unknown_provider");
  });
});

describe("filter kinds inside a job", () => {
  it("runs a chain of heuristics, the verifier and a judge, and counts judge usage", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const up = await upload(key, ds, gsm8k.slice(0, 6));
    const filters = [
      { type: "length", min_chars: 20, max_chars: 8000 },
      { type: "refusal" },
      { type: "repetition", min_words: 150 },
      { type: "language", languages: ["en"] },
      { type: "regex", pattern: "A:\\s*-?[\\d,.]+", must_match: true },
      { type: "math_answer", reference: "{{answer}}" },
      { type: "judge", provider: "openai", model: "judge-json-9", min_score: 7 },
    ];
    const created = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }, { filters }) });
    expect(created.status, created.text).toBe(202);
    const job = await waitForJob(key, created.json.id);
    expect(job.status).toBe("done");
    expect(job.candidates.accepted + job.candidates.rejected).toBe(24);
    expect(job.filters["judge.pass"]).toBe(job.candidates.accepted);
    expect(job.filters["math_answer.pass"]).toBe(job.candidates.accepted);
    const accepted = await allSamples(key, job.id, "accepted");
    expect(accepted.every((s) => s.filters.map((f: any) => f.name).join() === filters.map((f) => f.type).join())).toBe(true);
    // The judge's tokens are part of the candidate's usage.
    const judged = accepted[0];
    expect(judged.usage.input_tokens).toBeGreaterThan(judged.messages.map((m: any) => m.content).join("").length / 4);
  });

  it("runs js_tests and json_schema inside a job, with their reasons in progress and traces", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    // The loopback teacher answers prompts it has no recording for with a short prose answer,
    // which is neither a passing program nor JSON: both kinds must reject it with their reason.
    const rows = [{ prompt: "const add = (a, b) => {\n", test: "console.assert(add(1, 1) === 2);" }];
    for (const [filter, reason] of [
      [{ type: "js_tests", prelude: "{{prompt}}", tests: "{{test}}" }, "js_tests."],
      [{ type: "json_schema", schema: { type: "object" } }, "json_schema.not_json"],
    ] as const) {
      const created = await api("/v1/jobs", {
        method: "POST",
        key,
        json: { dataset: ds, inputs: { rows }, prompt: { user: "Complete:\n{{prompt}}" }, generators: [{ provider: "openai", model: "any-model" }], candidates: 2, filters: [filter] },
      });
      expect(created.status, created.text).toBe(202);
      const job = await waitForJob(key, created.json.id);
      expect(job.candidates).toMatchObject({ planned: 2, rejected: 2 });
      const rejected = await allSamples(key, job.id, "rejected");
      expect(rejected.every((r) => r.reason.startsWith(reason) && r.filters.at(-1).name === filter.type)).toBe(true);
    }
  });
});
