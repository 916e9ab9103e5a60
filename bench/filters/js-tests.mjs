// bench/filters/js-tests: the js_tests sandbox on HumanEval-X JS — accuracy (canonical solutions
// and empty bodies), sandbox start-up time, runs per second on one core, and what hostile code
// costs before its verdict.
//
//   npx tsx bench/filters/js-tests.mjs [--rounds 5]
//
// Runs the filter's own sandbox code (filters/js-sandbox.ts) in Node through tsx. The Worker
// imports the QuickJS wasm statically (a CompiledWasm module); Node cannot import .wasm, so the
// bench builds the same variant with the package's Node loader (same wasm file, same memory cap).
// Node and workerd share V8, so the per-core figures carry over (the vitest run of the same 164
// problems inside workerd is in filters/js-tests.test.ts).
import variant from "@jitl/quickjs-ng-wasmfile-release-sync";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { assembleProgram, loadQuickJS, runJsTests } from "../../filters/js-sandbox.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const ROUNDS = Number(values.rounds);

const rows = readFileSync(new URL("../../test/data/humaneval-x-js.jsonl", import.meta.url), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));
const LIMITS = { maxInstructions: 50_000_000, memoryMb: 32, stackKb: 256 }; // the filter's defaults
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(2)} ms`;

console.log(`Node ${process.version}, ${cpus()[0]?.model ?? "?"} × ${cpus().length}`);

let t = performance.now();
let qjs = await loadQuickJS(variant);
console.log(`QuickJS module load (once per isolate): ${ms(performance.now() - t)}`);

// --- accuracy --------------------------------------------------------------------------------
const canonical = rows.map((r) => ({ id: r.task_id, programs: assembleProgram(r.canonical_solution, r.prompt, "auto").programs, test: r.test }));
const empty = rows.map((r) => ({ id: r.task_id, programs: assembleProgram("\n}\n", r.prompt, "body").programs, test: r.test }));
const failed = [];
let maxInstr = 0;
for (const c of canonical) {
  const r = runJsTests(qjs, c.programs, c.test, LIMITS);
  maxInstr = Math.max(maxInstr, r.instructions);
  if (!r.pass) failed.push(`${c.id} (${r.reason}: ${r.detail})`);
}
let emptyPass = 0;
const emptyReasons = {};
for (const c of empty) {
  const r = runJsTests(qjs, c.programs, c.test, LIMITS);
  if (r.pass) emptyPass++;
  else emptyReasons[r.reason] = (emptyReasons[r.reason] ?? 0) + 1;
}
console.log(`canonical solutions passing: ${rows.length - failed.length} / ${rows.length}; failing: ${failed.join("; ")}`);
console.log(`empty bodies passing: ${emptyPass} / ${rows.length} (rejections: ${JSON.stringify(emptyReasons)})`);
console.log(`most instructions used by a canonical solution: ~${(maxInstr / 1e6).toFixed(1)}M (budget ${LIMITS.maxInstructions / 1e6}M)`);

// --- start-up ----------------------------------------------------------------------------------
const N = 1000;
for (let i = 0; i < 50; i++) qjs.newRuntime().dispose();
t = performance.now();
for (let i = 0; i < N; i++) {
  const rt = qjs.newRuntime();
  const ctx = rt.newContext();
  ctx.dispose();
  rt.dispose();
}
const bare = (performance.now() - t) / N;
t = performance.now();
for (let i = 0; i < N; i++) runJsTests(qjs, "", "", LIMITS);
const full = (performance.now() - t) / N;
console.log(`sandbox start-up: new runtime + context + dispose ${ms(bare)}; a whole empty run (limits, bootstrap console, compile, dispose) ${ms(full)}`);

// --- throughput --------------------------------------------------------------------------------
const rates = [];
for (let round = 0; round < ROUNDS; round++) {
  t = performance.now();
  for (const c of canonical) runJsTests(qjs, c.programs, c.test, LIMITS);
  rates.push(canonical.length / ((performance.now() - t) / 1000));
}
console.log(`canonical solutions, 1 core: median ${median(rates).toFixed(0)} runs/s (rounds: ${rates.map((r) => r.toFixed(0)).join(", ")})`);

// --- hostile code: what a verdict costs ---------------------------------------------------------
const hostile = [
  ["infinite loop `for(;;){}`, default budget", "for(;;){}", "", LIMITS],
  ["busy loop `let i=0; while(true) i++`, default budget", "let i = 0; while (true) i++", "", LIMITS],
  // These two take ~10-40 s at the default budget; they run at 5M and scale linearly (×10).
  ["throw-and-catch loop `for(;;){ try { null.x } catch {} }`, 5M budget", "for(;;){ try { null.x } catch (e) {} }", "", { ...LIMITS, maxInstructions: 5_000_000 }],
  ["catch-and-recurse at the stack limit, 5M budget (the worst case found)", "const d = (n) => { try { return d(n + 1) } catch (e) { return d(n + 1) } }", "d(0)", { ...LIMITS, maxInstructions: 5_000_000 }],
  ["deep recursion", "const d = (n) => d(n + 1) + 1", "d(0)", LIMITS],
  ["memory bomb (arrays)", "const a = []; for (;;) a.push(new Array(1e5).fill(1.5).map((x, i) => x + i))", "", LIMITS],
  ["memory bomb (string doubling)", "let s = 'x'; for (;;) s += s", "", LIMITS],
];
for (const [label, code, test, limits] of hostile) {
  t = performance.now();
  const r = runJsTests(qjs, code, test, limits);
  const took = performance.now() - t;
  let reload = "";
  if (r.poisoned) {
    const t2 = performance.now();
    qjs = await loadQuickJS(variant);
    reload = `; module dropped and reloaded in ${ms(performance.now() - t2)}`;
  }
  console.log(`${label}: ${r.reason} in ${ms(took)}${reload}`);
}
