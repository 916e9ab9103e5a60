// Recall, false positives and throughput of filters/decontaminate.ts.
// Run: npx tsx bench/filters/decontam.mjs
//
// Verbatim: every GSM8K test question, every GSM8K reference solution (as in the file, with its
// calculator annotations `<<16-3-4=9>>`, and plain, as a model would write it) and every
// HumanEval-X JS prompt, as the completion. Edited: the same
// items after each programmatic edit — upper case, lower case, punctuation removed, one name
// swapped everywhere (GSM8K: the first capitalised word that is not sentence-initial, or the
// first word if none; HumanEval: the function name), a framing sentence added before and after,
// and all of these at once. Ordinary text: ~1 KB passages of the Markdown/text files under
// node_modules, /usr/share/vim and /usr/share/doc (see dedup.mjs). Throughput: CPU time.
import { readFileSync } from "node:fs";
import { createDecontaminator } from "../../filters/decontaminate.ts";
import { corpus } from "./dedup.mjs";

const data = new URL("../../../shared/data/", import.meta.url);
const jsonl = (f) => readFileSync(new URL(f, data), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const gsm = jsonl("gsm8k-test.jsonl");
const he = jsonl("humaneval-x-js.jsonl");

const items = [
  ...gsm.map((r) => ({ set: "gsm8k question", text: r.question, kind: "text" })),
  ...gsm.map((r) => ({ set: "gsm8k solution, annotated", text: r.answer, kind: "text" })),
  ...gsm.map((r) => ({ set: "gsm8k solution, plain", text: r.answer.replace(/<<[^<>]*>>/g, ""), kind: "text" })),
  ...he.map((r) => ({ set: "humaneval-x-js prompt", text: r.prompt, kind: "code" })),
];

function swapName(text, kind) {
  if (kind === "code") {
    const m = text.match(/const (\w+) = /);
    return m ? text.split(m[1]).join("solveTheTask") : text;
  }
  const m = text.match(/(?<![.?!]\s+|^)\b([A-Z][a-z]+)\b/);
  const name = m?.[1] ?? text.split(/\s+/)[0];
  return text.split(name).join("Zebulon");
}
const EDITS = {
  upper: (t) => t.toUpperCase(),
  lower: (t) => t.toLowerCase(),
  "no punctuation": (t) => t.replace(/[^\p{L}\p{N}\s]/gu, ""),
  "name swapped": swapName,
  framing: (t) => `Here is a problem I would like you to work through carefully. ${t} Please show every step and explain your reasoning.`,
  "all at once": (t, k) => EDITS.framing(EDITS["no punctuation"](swapName(t, k)).toLowerCase()),
};

const cand = (completion) => ({ messages: [{ role: "user", content: "Write something." }], completion });

for (const min_matches of [1, 2]) {
  const d = await createDecontaminator({}, null, { min_matches });
  console.log(`\n## min_matches = ${min_matches}, n = 13`);
  const rows = [];
  const sets = [...new Set(items.map((i) => i.set))];
  for (const set of sets) {
    const its = items.filter((i) => i.set === set);
    const row = [set, `${its.filter((i) => !d.check(cand(i.text)).pass).length}/${its.length}`];
    for (const [, f] of Object.entries(EDITS)) row.push(`${its.filter((i) => !d.check(cand(f(i.text, i.kind))).pass).length}/${its.length}`);
    rows.push(row);
  }
  console.log(`| items | verbatim | ${Object.keys(EDITS).join(" | ")} |`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  const edited = items.flatMap((i) => Object.values(EDITS).map((f) => f(i.text, i.kind)));
  const caught = edited.filter((t) => !d.check(cand(t)).pass).length;
  console.log(`verbatim recall ${items.filter((i) => !d.check(cand(i.text)).pass).length}/${items.length}; edited recall ${caught}/${edited.length} = ${(caught / edited.length).toFixed(4)}`);
  const passages = corpus();
  const fp = passages.filter((p) => !d.check(cand(p)).pass);
  console.log(`ordinary text: ${fp.length}/${passages.length} passages flagged → FALSE-POSITIVE RATE ${(fp.length / passages.length).toFixed(5)}`);
  for (const p of fp.slice(0, 3)) console.log(`  e.g. ${d.check(cand(p)).detail} :: ${p.slice(0, 120)}`);
  if (min_matches === 1) {
    const sols = jsonl("gsm8k-model-solutions.jsonl");
    const texts = sols.flatMap((r) => Object.values(r).filter((v) => v && typeof v === "object" && typeof v.solution === "string").map((v) => v.solution));
    const flagged = texts.filter((t) => !d.check(cand(t)).pass).length;
    console.log(`(for information) GPT-3 solutions to GSM8K test problems, completion only: ${flagged}/${texts.length} flagged`);
    const cpu = (f) => { const t0 = process.cpuUsage(); f(); const x = process.cpuUsage(t0); return (x.user + x.system) / 1e6; };
    const sample = passages.slice(0, 5000);
    let dt = 0;
    for (let r = 0; r < 3; r++) dt = cpu(() => { for (const p of sample) d.check(cand(p)); });
    console.log(`throughput (completion + prompt, ~1 KB completions): ${(sample.length / dt).toFixed(0)} candidates/s per core (CPU time)`);
    const t0 = process.cpuUsage();
    await createDecontaminator({}, null, { n: 12 });
    const x = process.cpuUsage(t0);
    console.log(`index build for both shipped sets (first use of an n in an isolate): ${((x.user + x.system) / 1000).toFixed(0)} ms CPU`);
  }
}
