// bench/filters/heuristics: throughput of the heuristic filters (refusal, repetition, language,
// regex, json_schema) in candidates per second on one core, on ~1 KB texts, plus the pass rates
// of refusal, repetition and language on real solutions (the 5,276 GPT-3 and 1,319 human GSM8K
// solutions: false positives) and on constructed looping outputs (recall).
//
//   npx tsx bench/filters/heuristics.mjs [--seconds 2] [--rounds 3]
//
// Runs the filters' own TypeScript (filters/*.ts) in Node through tsx: the same V8 engine as
// workerd, on one thread, so candidates/s is per core. Texts: the GPT-3 solutions, each padded
// with solutions to other problems to 1,024 characters; for json_schema, ~1 KB JSON objects (fenced in a third
// of them) of which about half violate the schema. Each filter is timed over the whole corpus
// repeatedly for `--seconds`, `--rounds` times; the median round is reported.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { refusal, RefusalOptions } from "../../filters/refusal.ts";
import { repetition, RepetitionOptions } from "../../filters/repetition.ts";
import { language, LanguageOptions } from "../../filters/language.ts";
import { regex, RegexOptions } from "../../filters/regex.ts";
import { jsonSchema, JsonSchemaOptions } from "../../filters/json-schema.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" }, rounds: { type: "string", default: "3" } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);

const DATA = new URL("../../../shared/data/gsm8k-model-solutions.jsonl", import.meta.url);
// Grouped by model, so neighbours (used for padding) answer different problems.
const MODELS = ["6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"];
const rows = readFileSync(DATA, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const solutions = MODELS.flatMap((k) => rows.map((r) => r[k]?.solution).filter(Boolean));
const humans = rows.map((r) => r.ground_truth);
// Degenerate outputs: a solution that then loops on one of its sentences (5 more times).
const looping = solutions.map((s) => {
  const sentences = s.split(/(?<=[.!?])\s+|\n/).filter((x) => x.split(" ").length >= 4);
  const loop = sentences[Math.floor(sentences.length / 2)] ?? s.slice(0, 80);
  return `${s}\n${Array(5).fill(loop).join(" ")}`;
});
const texts1k = solutions.map((_, i) => {
  let t = solutions[i];
  for (let j = i + 1; t.length < 1024; j++) t += "\n\n" + solutions[j % solutions.length];
  return t.slice(0, 1024);
});

const schema = {
  type: "object",
  required: ["id", "question", "steps", "answer"],
  properties: {
    id: { type: "integer", minimum: 0 },
    question: { type: "string", minLength: 1 },
    steps: { type: "array", items: { type: "string" }, minItems: 1 },
    answer: { type: "number" },
    tags: { type: "array", items: { type: "string", pattern: "^[a-z0-9-]+$" } },
  },
  additionalProperties: false,
};
const jsonTexts = solutions.slice(0, 2000).map((s, i) => {
  const lines = s.split("\n");
  const obj = { id: i, question: `Problem ${i}`, steps: lines.slice(0, -1), answer: Number(lines.at(-1)?.replace(/[^\d.-]/g, "")) || 0, tags: ["gsm8k", "math"] };
  while (JSON.stringify(obj).length < 1000) obj.steps.push(lines[0] ?? "step");
  if (i % 2) obj.answer = String(obj.answer); // invalid: answer must be a number
  const text = JSON.stringify(obj, null, 1);
  return i % 3 === 0 ? "Here is the JSON:\n```json\n" + text + "\n```" : text;
});

const deps = { env: {}, datasetId: null };
const ctx = { render: (t) => t };
const benches = [
  ["refusal", refusal.build(RefusalOptions.parse({ type: "refusal" }), deps), texts1k],
  ["refusal (scan whole 1 KB)", refusal.build(RefusalOptions.parse({ type: "refusal", max_chars_scanned: 100000 }), deps), texts1k],
  ["repetition", repetition.build(RepetitionOptions.parse({ type: "repetition" }), deps), texts1k],
  ["language", language.build(LanguageOptions.parse({ type: "language" }), deps), texts1k],
  ["regex (^A: -?\\d+$, m)", regex.build(RegexOptions.parse({ type: "regex", pattern: "^A: -?\\d+$", flags: "m" }), deps), texts1k],
  ["json_schema", jsonSchema.build(JsonSchemaOptions.parse({ type: "json_schema", schema }), deps), jsonTexts],
];

function run(filter, texts) {
  let n = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  for (;;) {
    for (const completion of texts) sink += filter.check({ input: {}, messages: [], completion }, ctx).pass ? 1 : 0;
    n += texts.length;
    if (process.hrtime.bigint() - start >= budget) break;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return { rate: n / secs, sink };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const avgLen = (ts) => Math.round(ts.reduce((s, t) => s + t.length, 0) / ts.length);

console.log(`node ${process.version}, ${cpus()[0]?.model ?? "cpu"}, ${SECONDS}s × ${ROUNDS} rounds per filter, single thread`);
console.log(`| filter | texts | avg chars | candidates/s (1 core) | µs/candidate | passed |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
for (const [name, filter, texts] of benches) {
  run(filter, texts.slice(0, 200)); // warm-up
  const rates = [];
  for (let r = 0; r < ROUNDS; r++) rates.push(run(filter, texts).rate);
  const rate = median(rates);
  const passed = texts.filter((completion) => filter.check({ input: {}, messages: [], completion }, ctx).pass).length;
  console.log(`| ${name} | ${texts.length} | ${avgLen(texts)} | ${Math.round(rate).toLocaleString("en-US")} | ${(1e6 / rate).toFixed(1)} | ${((100 * passed) / texts.length).toFixed(1)}% |`);
}

// Pass rates on real text (false positives) and on constructed degenerate text (recall).
const corpora = [
  [`GPT-3 GSM8K solutions, unpadded (${solutions.length}, avg ${avgLen(solutions)} chars)`, solutions],
  [`human GSM8K solutions (${humans.length}, avg ${avgLen(humans)} chars)`, humans],
  [`GPT-3 solutions + one sentence looped 5× (${looping.length}, avg ${avgLen(looping)} chars)`, looping],
];
console.log(`\n| filter | corpus | passed | rejected, by reason |`);
console.log(`|---|---|---:|---|`);
for (const [name, filter] of benches.filter(([n]) => ["refusal", "repetition", "language"].includes(n))) {
  for (const [label, texts] of corpora) {
    const reasons = {};
    let passed = 0;
    for (const completion of texts) {
      const r = filter.check({ input: {}, messages: [], completion }, ctx);
      if (r.pass) passed++;
      else reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
    }
    const by = Object.entries(reasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ") || "—";
    console.log(`| ${name} | ${label} | ${passed} (${((100 * passed) / texts.length).toFixed(1)}%) | ${by} |`);
  }
}
