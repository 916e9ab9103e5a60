// Rebuilds this folder's demo data from ../shared/data (run from the repo root:
// `node examples/gsm8k/build.mjs`). The output is committed so a fresh clone needs no ../shared.
import { readFileSync, writeFileSync } from "node:fs";

const N = 200;
const src = new URL("../../../shared/data/", import.meta.url);
const lines = (f) => readFileSync(new URL(f, src), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const test = lines("gsm8k-test.jsonl").slice(0, N);
const solutions = lines("gsm8k-model-solutions.jsonl").slice(0, N);
const MODELS = ["6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"];

writeFileSync(new URL("problems.jsonl", import.meta.url), test.map((r) => JSON.stringify({ question: r.question, answer: r.answer })).join("\n") + "\n");
const recordings = {};
solutions.forEach((s, i) => {
  if (s.question !== test[i].question) throw new Error(`row ${i}: solutions and problems disagree`);
  recordings[s.question] = MODELS.map((m) => ({ model: `gpt3-${m.replace("_", "-")}`, text: s[m].solution, is_correct: s[m].is_correct }));
});
writeFileSync(new URL("recordings.json", import.meta.url), JSON.stringify(recordings));
console.log(`wrote ${test.length} problems and ${Object.keys(recordings).length * MODELS.length} recordings`);
