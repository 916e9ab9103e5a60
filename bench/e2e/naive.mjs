// The naive baseline: what a user would write instead of Winnow. One Node process, a p-limit
// loop over the inputs, one chat-completion per candidate (same body and headers as the
// Worker's OpenAI client sends), the same length filter, completions appended to a JSONL file.
//
// Run by bench/e2e/run.mjs as a child process (so its CPU is measured on its own, like the
// pipeline's), with one JSON argument:
//   node bench/e2e/naive.mjs '{"url":"http://127.0.0.1:8781/v1","apiKey":"sk-bench","model":"bench-model",
//     "inputs":"/tmp/x/inputs.jsonl","out":"/tmp/x/naive.jsonl","candidates":1,"concurrency":6,
//     "minChars":1,"maxChars":8000}'
// It prints one JSON line with its timings, counts and own CPU use.
import { createWriteStream, readFileSync } from "node:fs";
import { once } from "node:events";
import pLimit from "p-limit";

const cfg = JSON.parse(process.argv[2] ?? "{}");
for (const k of ["url", "model", "inputs", "out", "candidates", "concurrency"]) {
  if (cfg[k] === undefined) {
    process.stderr.write(`naive: missing ${k}\n`);
    process.exit(2);
  }
}

const rows = readFileSync(cfg.inputs, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));
const endpoint = `${cfg.url.replace(/\/+$/, "")}/chat/completions`;
const out = createWriteStream(cfg.out);
const limit = pLimit(cfg.concurrency);
const counts = { accepted: 0, rejected: 0, failed: 0 };
let inputTokens = 0;
let outputTokens = 0;

async function one(row, index, cand) {
  // The recipe's prompt is just "{{question}}": the user message is the question itself.
  const messages = [{ role: "user", content: String(row.question) }];
  try {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-winnow-candidate": String(cand),
        ...(cfg.apiKey ? { authorization: `Bearer ${cfg.apiKey}` } : {}),
      },
      body: JSON.stringify({ model: cfg.model, messages }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    const body = JSON.parse(text);
    const completion = body.choices?.[0]?.message?.content;
    if (typeof completion !== "string") throw new Error("no choices[0].message.content");
    inputTokens += body.usage?.prompt_tokens ?? 0;
    outputTokens += body.usage?.completion_tokens ?? 0;
    const pass = completion.length >= (cfg.minChars ?? 1) && completion.length <= (cfg.maxChars ?? 8000);
    counts[pass ? "accepted" : "rejected"]++;
    const line = JSON.stringify({
      input_index: index,
      candidate: cand,
      status: pass ? "accepted" : "rejected",
      messages: [...messages, { role: "assistant", content: completion }],
      input: row,
      usage: body.usage,
      created_at: new Date().toISOString(),
    });
    if (!out.write(line + "\n")) await once(out, "drain");
  } catch (e) {
    counts.failed++;
    out.write(JSON.stringify({ input_index: index, candidate: cand, status: "failed", error: String(e?.message ?? e) }) + "\n");
  }
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const work = [];
rows.forEach((row, i) => {
  for (let k = 0; k < cfg.candidates; k++) work.push(limit(() => one(row, i, k)));
});
await Promise.all(work);
out.end();
await once(out, "finish");
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  JSON.stringify({
    planned: rows.length * cfg.candidates,
    ...counts,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    inputTokens,
    outputTokens,
  }) + "\n",
);
