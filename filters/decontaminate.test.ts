import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
// Shipped subsets (a fresh clone has no ../shared): the first 200 GSM8K test problems, all 164 HumanEval-X JS prompts.
import gsmRaw from "../examples/gsm8k/problems.jsonl?raw";
import heRaw from "../test/data/humaneval-x-js.jsonl?raw";
import * as keys from "../r2/keys";
import type { Env } from "../workers/env";
import { benchmarkIndex, createDecontaminator, decontaminate, decontaminateFilter, DecontaminateOptions } from "./decontaminate";
import type { Candidate } from "./types";

const e = env as unknown as Env;
const ctx = { render: (s: string) => s };
const gsm = gsmRaw.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { question: string; answer: string });
const he = heRaw.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { task_id: string; prompt: string });
const cand = (completion: string, user = "Write something useful."): Candidate => ({ input: {}, messages: [{ role: "user", content: user }], completion });
const build = (o: Partial<DecontaminateOptions> = {}, datasetId: string | null = null) =>
  decontaminateFilter(DecontaminateOptions.parse({ type: "decontaminate", ...o }), { env: e, datasetId });

const ORDINARY = [
  "The quick brown fox jumps over the lazy dog while the farmer counts his sheep in the early morning light, and nobody in the village notices anything unusual about the day.",
  "To install the package, run the installer and follow the prompts; the configuration file lives in your home directory and can be edited with any text editor you like.",
  "function add(a, b) {\n  return a + b;\n}\n\nconsole.log(add(2, 3));",
  "Photosynthesis converts light energy into chemical energy stored in glucose, releasing oxygen as a by-product that most life on Earth depends on to breathe and grow.",
];

describe("decontaminate options", () => {
  it("defaults", () => {
    expect(decontaminate.options.parse({ type: "decontaminate" })).toEqual({
      type: "decontaminate",
      benchmarks: ["gsm8k", "humaneval-x-js"],
      uploads: [],
      n: 13,
      min_matches: 1,
      fields: ["completion", "prompt"],
    });
    expect(() => decontaminate.options.parse({ type: "decontaminate", benchmarks: ["mmlu"] })).toThrow();
  });
});

describe("decontaminate against the shipped benchmarks", () => {
  it("indexes every GSM8K and HumanEval-X item", () => {
    expect(benchmarkIndex("gsm8k").size).toBeGreaterThan(85_000);
    expect(benchmarkIndex("humaneval-x-js").size).toBeGreaterThan(7_000);
  });

  it("catches every verbatim GSM8K question and solution and every HumanEval-X prompt", async () => {
    const d = await createDecontaminator(e, null);
    const texts = [...gsm.map((r) => r.question), ...gsm.map((r) => r.answer), ...he.map((r) => r.prompt)];
    expect(texts.filter((t) => d.check(cand(t)).pass)).toEqual([]);
  });

  it("pins decontaminate.overlap with the benchmark, item and counts", async () => {
    const f = build();
    const v = await f.check(cand(`Sure! ${gsm[0]!.question} Let me think.`), ctx);
    expect(v).toMatchObject({ pass: false, reason: "decontaminate.overlap" });
    expect(v.detail).toMatch(/^completion shares \d+ of its \d+ 13-grams with gsm8k \(\d+ of the \d+ of GSM8K test #0\)$/);
    const w = await f.check(cand(he[12]!.prompt.toUpperCase()), ctx);
    expect(w.detail).toContain("humaneval-x-js");
    expect(w.detail).toContain("JavaScript/12");
  });

  it("catches lightly edited items: case, punctuation, a swapped name, added framing", async () => {
    const d = await createDecontaminator(e, null);
    const edits = [
      (t: string) => t.toUpperCase(),
      (t: string) => t.replace(/[^\p{L}\p{N}\s]/gu, ""),
      (t: string) => t.replace(/Janet/g, "Priya"),
      (t: string) => `Here is a question from my homework. ${t} Thanks in advance!`,
    ];
    let caught = 0;
    let n = 0;
    for (const r of gsm.slice(0, 200))
      for (const f of edits) {
        n++;
        if (!d.check(cand(f(r.question))).pass) caught++;
      }
    expect(caught / n).toBeGreaterThanOrEqual(0.95);
  });

  it("passes ordinary text and checks the prompt too (or not, when told)", async () => {
    const f = build();
    for (const t of ORDINARY) expect((await f.check(cand(t), ctx)).pass).toBe(true);
    const fromBenchmark = cand("The answer is 18.", `Solve: ${gsm[0]!.question}`);
    expect(await f.check(fromBenchmark, ctx)).toMatchObject({ pass: false, reason: "decontaminate.overlap" });
    expect((await f.check(fromBenchmark, ctx)).detail).toMatch(/^prompt shares/);
    expect((await build({ fields: ["completion"] }).check(fromBenchmark, ctx)).pass).toBe(true);
  });

  it("honours benchmarks, n and min_matches", async () => {
    const q = gsm[3]!.question;
    expect((await build({ benchmarks: ["humaneval-x-js"] }).check(cand(q), ctx)).pass).toBe(true);
    expect((await build({ n: 8 }).check(cand(q), ctx)).pass).toBe(false);
    // min_matches counts n-grams; a text containing a whole item with fewer n-grams is still caught.
    const long = gsm.map((r) => r.question).sort((a, b) => b.length - a.length)[0]!;
    const half = long.split(" ").slice(0, 30).join(" ");
    expect((await build({ min_matches: 10 }).check(cand(half), ctx)).pass).toBe(false);
    expect((await build({ min_matches: 40 }).check(cand(half), ctx)).pass).toBe(true);
    expect((await build({ min_matches: 500 }).check(cand(q), ctx)).pass).toBe(false);
  });
});

describe("decontaminate against uploads", () => {
  async function seedUpload(keyId: string, datasetId: string, uploadId: string, rows: object[]) {
    await e.DB.prepare("INSERT INTO datasets (id, key_id, name) VALUES (?1, ?2, ?3)").bind(datasetId, keyId, `n_${datasetId}`).run();
    await e.DB.prepare("INSERT INTO uploads (id, key_id, dataset_id, rows, rows_per_chunk, chunks, bytes, fields) VALUES (?1, ?2, ?3, ?4, 200, 1, 0, '[]')")
      .bind(uploadId, keyId, datasetId, rows.length)
      .run();
    await e.BUCKET.put(keys.uploadChunk(uploadId, 0), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  }

  it("checks candidates against a user's evaluation set, and refuses another key's upload", async () => {
    const id = crypto.randomUUID().slice(0, 8);
    const item = "In the ancient city of Varnholt the lamplighters walk the walls every evening, counting seven hundred and twelve lanterns before the bells ring.";
    await seedUpload(`key_a${id}`, `ds_a${id}`, `inp_a${id}`, [{ question: "unrelated short row" }, { question: item, meta: { answer: "712" } }]);
    await seedUpload(`key_b${id}`, `ds_b${id}`, `inp_b${id}`, [{ text: "whatever" }]);

    const f = build({ benchmarks: [], uploads: [`inp_a${id}`] }, `ds_a${id}`);
    await f.prepare!();
    const v = await f.check(cand(`Story time. ${item.toLowerCase()}`), ctx);
    expect(v).toMatchObject({ pass: false, reason: "decontaminate.overlap" });
    expect(v.detail).toContain(`upload inp_a${id} row 1`);
    expect((await f.check(cand(ORDINARY[0]!), ctx)).pass).toBe(true);

    const other = build({ benchmarks: [], uploads: [`inp_b${id}`] }, `ds_a${id}`);
    await other.prepare!();
    expect(await other.check(cand(ORDINARY[0]!), ctx)).toMatchObject({ pass: false, reason: "decontaminate.unavailable" });
    expect((await build({ uploads: [`inp_a${id}`] }, null).check(cand("x"), ctx)).reason).toBe("decontaminate.unavailable");
  });
});
