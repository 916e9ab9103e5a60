import { describe, expect, it } from "vitest";
import humanevalRaw from "../test/data/humaneval-x-js.jsonl?raw";
import { renderTemplate } from "./index";
import { assembleProgram, extractCode, runJsTests, stripExports, WASM_MAX_MB } from "./js-sandbox";
import { getQuickJS, JsTestsOptions, jsTests, jsTestsFilter } from "./js-tests";
import type { Candidate, FilterResult, Row } from "./types";

interface Problem {
  task_id: string;
  prompt: string;
  canonical_solution: string;
  test: string;
}
const problems: Problem[] = humanevalRaw
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as Problem);

const deps = { env: {} as never, datasetId: null };
const build = (o: Record<string, unknown> = {}) => jsTestsFilter(JsTestsOptions.parse({ type: "js_tests", tests: "{{test}}", ...o }));

async function check(completion: string, input: Row, o: Record<string, unknown> = {}): Promise<FilterResult> {
  const f = build(o);
  const cand: Candidate = { input, messages: [{ role: "user", content: "write it" }], completion };
  return f.check(cand, { render: (t) => renderTemplate(t, input) });
}
/** A completion and its tests, no prelude. */
const run = (code: string, test = "", o: Record<string, unknown> = {}) => check(code, { test }, o);

describe("js_tests options", () => {
  it("has defaults and bounds", () => {
    const o = JsTestsOptions.parse({ type: "js_tests", tests: "{{test}}" });
    expect(o).toMatchObject({ mode: "auto", max_instructions: 20_000_000, memory_mb: 32, stack_kb: 256 });
    expect(() => JsTestsOptions.parse({ type: "js_tests", tests: "t", stack_kb: 512 })).toThrow();
    expect(() => JsTestsOptions.parse({ type: "js_tests", tests: "t", memory_mb: 1000 })).toThrow();
    expect(() => JsTestsOptions.parse({ type: "js_tests" })).toThrow();
    expect(() => JsTestsOptions.parse({ type: "js_tests", tests: "t", timeout_ms: 5 })).toThrow();
    expect(jsTests.templates!(JsTestsOptions.parse({ type: "js_tests", tests: "{{test}}", prelude: "{{prompt}}" }))).toEqual(["{{test}}", "{{prompt}}"]);
    expect(jsTests.build(o, deps).name).toBe("js_tests");
  });
});

describe("code extraction", () => {
  it("takes the longest js fence, else an unlabelled one, else the whole text", () => {
    expect(extractCode("Here:\n```js\nconst a = 1;\n```\nand\n```javascript\nconst b = 2;\nconst c = 3;\n```\n")).toBe("const b = 2;\nconst c = 3;");
    expect(extractCode("```\nx()\n```")).toBe("x()");
    expect(extractCode("```python\nprint(1)\n```\n```\nlet z = 1\n```")).toBe("let z = 1");
    expect(extractCode("const x = 1;")).toBe("const x = 1;");
    expect(extractCode("```python\nprint(1)\n```")).toBeNull();
    expect(extractCode("   \n")).toBeNull();
    expect(extractCode("```js\nconst cut = 1;\nconst off")).toBe("const cut = 1;\nconst off");
  });
  it("strips export keywords", () => {
    expect(stripExports("export default function f() {}\nexport const g = 1;\nexport { f, g };")).toBe("function f() {}\nconst g = 1;\n");
  });
  it("runs fenced code from a chatty completion", async () => {
    const r = await run("Sure! Here is the function:\n\n```javascript\nconst add = (a, b) => a + b;\n```\n\nIt adds `a` and `b`.", "console.assert(add(2, 3) === 5)");
    expect(r).toMatchObject({ pass: true, score: 1 });
  });
  it("no code → js_tests.no_code", async () => {
    expect(await run("", "console.assert(true)")).toMatchObject({ pass: false, reason: "js_tests.no_code" });
    expect(await run("```python\nprint(1)\n```", "console.assert(true)")).toMatchObject({ pass: false, reason: "js_tests.no_code" });
  });
});

describe("verdicts", () => {
  it("passes when every console.assert holds", async () => {
    const r = await run("function sq(x) { return x * x }", "console.assert(sq(3) === 9); console.assert(sq(-2) === 4, 'negatives')");
    expect(r.pass).toBe(true);
    expect(r.detail).toContain("2 assertions passed");
  });
  it("a failed console.assert → js_tests.assert_failed, with the message", async () => {
    const r = await run("function sq(x) { return x + x }", "console.assert(sq(2) === 4); console.assert(sq(3) === 9, 'sq(3)', sq(3))");
    expect(r).toMatchObject({ pass: false, reason: "js_tests.assert_failed", score: 0.5 });
    expect(r.detail).toContain("sq(3) 6");
  });
  it("a thrown error → js_tests.error", async () => {
    expect(await run("function f() { throw new TypeError('nope') }", "f()")).toMatchObject({ pass: false, reason: "js_tests.error" });
    expect((await run("function f() { return null.x }", "console.assert(f() === 1)")).reason).toBe("js_tests.error");
    expect((await run("throw 'a string'", "")).reason).toBe("js_tests.error");
    // A SyntaxError thrown at run time is an error, not a syntax verdict.
    expect((await run("const p = () => JSON.parse('{')", "p()")).reason).toBe("js_tests.error");
  });
  it("syntax errors → js_tests.syntax", async () => {
    const r = await run("function f( { return 1 }", "console.assert(f() === 1)");
    expect(r).toMatchObject({ pass: false, reason: "js_tests.syntax" });
    expect(r.detail).toContain("SyntaxError");
    expect((await run("const f = () => 1", "console.assert(f() === 1")).detail).toContain("tests:");
  });
  it("an infinite loop → js_tests.timeout (instruction budget, not a clock)", async () => {
    const r = await run("function spin() { for (;;) {} }", "spin()", { max_instructions: 2_000_000 });
    expect(r).toMatchObject({ pass: false, reason: "js_tests.timeout" });
    expect((await run("const f = () => f2(); const f2 = () => { while (true) { try { for(;;){} } catch (e) {} } }", "f()", { max_instructions: 1_000_000 })).reason).toBe(
      "js_tests.timeout",
    );
    // Throw-and-catch loops end too (errors are built without backtraces, and that stays so).
    expect((await run("for (;;) { try { null.x } catch (e) {} }", "", { max_instructions: 1_000_000 })).reason).toBe("js_tests.timeout");
    expect((await run("for (;;) { try { throw new Error('x') } catch (e) {} }", "", { max_instructions: 1_000_000 })).reason).toBe("js_tests.timeout");
    const r2 = await run("Error.stackTraceLimit = 1e6; try { delete Error.stackTraceLimit } catch (e) {}", "console.assert(Error.stackTraceLimit === 0)");
    expect(r2.pass).toBe(true);
  });
  it("a memory bomb → js_tests.memory", async () => {
    const r = await run("const a = []; for (;;) a.push(new Array(100000).fill(1.5).map((x, i) => x + i));", "");
    expect(r).toMatchObject({ pass: false, reason: "js_tests.memory" });
    expect((await run("let s = 'x'; for (;;) s += s;", "")).reason).toBe("js_tests.memory");
    expect((await run("const o = {}; for (let i = 0; ; i++) o['k' + i] = [i];", "")).reason).toBe("js_tests.memory");
    // The wasm memory stays under its hard cap, and the next run is fine.
    const qjs = await getQuickJS();
    expect(qjs.getWasmMemory().buffer.byteLength).toBeLessThanOrEqual(WASM_MAX_MB * 1024 * 1024);
    expect((await run("const ok = 1", "console.assert(ok === 1)")).pass).toBe(true);
  });
  it("deep recursion → js_tests.stack", async () => {
    expect(await run("function down(n) { return down(n + 1) + 1 }", "down(0)")).toMatchObject({ pass: false, reason: "js_tests.stack" });
    expect((await run("function down(n) { return [n].map((m) => down(m + 1)) }", "down(0)")).reason).toBe("js_tests.stack");
    expect((await run("const down = (n) => { try { return down(n + 1) } catch (e) { return down(n + 1) } }", "down(0)", { max_instructions: 1_000_000 })).pass).toBe(false);
    expect((await run("const ok = 1", "console.assert(ok === 1)")).pass).toBe(true);
  });
  it("no host: require, fetch, process, timers, import() → error verdicts", async () => {
    for (const code of [
      "const md5 = require('js-md5')",
      "fetch('https://example.com')",
      "process.exit(0)",
      "setTimeout(() => {}, 0)",
      "globalThis.constructor.constructor('return this')().fetch('x')",
      "Function('return this')().process.env",
      "new WebAssembly.Module(new Uint8Array(8))",
      "Deno.exit()",
    ]) {
      const r = await run(code, "console.assert(true)");
      expect(r, code).toMatchObject({ pass: false, reason: "js_tests.error" });
    }
    const r = await run("const t = [typeof require, typeof fetch, typeof process, typeof setTimeout, typeof std, typeof os, typeof WebAssembly].join()", "console.assert(t === 'undefined,undefined,undefined,undefined,undefined,undefined,undefined', t)");
    expect(r.pass).toBe(true);
    const dyn = await run("const load = async () => { await import('fs') }", "load()");
    expect(dyn).toMatchObject({ pass: false, reason: "js_tests.error" });
  });
  it("async tests: settled promises are awaited and rejections fail", async () => {
    const add = "const addLater = async (a, b) => { await null; return a + b }";
    expect((await run(add, "const t = async () => { console.assert(await addLater(1, 2) === 3) }\nt()")).pass).toBe(true);
    expect(await run(add, "const t = async () => { console.assert(await addLater(1, 2) === 4) }\nt()")).toMatchObject({ reason: "js_tests.assert_failed" });
    expect(await run(add, "const t = async () => { await addLater(1, 2); throw new Error('late') }\nt()")).toMatchObject({ reason: "js_tests.error" });
    expect(await run("const never = () => new Promise(() => {})", "never()")).toMatchObject({ reason: "js_tests.unresolved" });
    expect(await run("const loop = () => Promise.resolve().then(loop)", "loop()", { max_instructions: 1_000_000 })).toMatchObject({ reason: "js_tests.timeout" });
  });
  it("the checks cannot be rewritten by the completion", async () => {
    for (const code of [
      "console.assert = () => {}",
      "JSON.stringify = () => 'same'",
      "Object.prototype.toJSON = function () { return { asserts: 1, failed: 0 } }",
      "Math.abs = () => 0",
    ]) {
      const r = await run(`${code};\nconst f = () => [1];`, "console.assert(JSON.stringify(f()) === JSON.stringify([2])); console.assert(Math.abs(f()[0] - 2) < 1e-6)");
      expect(r, code).toMatchObject({ pass: false });
    }
    expect((await run("const console = { assert() {} }; const f = () => 1", "console.assert(f() === 2)")).pass).toBe(false);
  });
  it("module.exports lines do not fail a correct solution", async () => {
    expect((await run("function f() { return 1 }\nmodule.exports = { f };", "console.assert(f() === 1)")).pass).toBe(true);
    expect((await run("export function f() { return 1 }", "console.assert(f() === 1)")).pass).toBe(true);
  });
});

describe("prelude and mode", () => {
  const input = { prompt: "/* add */\nconst add = (a, b) => {\n", test: "console.assert(add(2, 3) === 5)" };
  const o = { prelude: "{{prompt}}" };
  it("auto: a body continues the prelude, a whole program replaces it", async () => {
    expect(await check("  return a + b\n}\n", input, o)).toMatchObject({ pass: true });
    expect((await check("  return a + b\n}\n", input, o)).detail).toContain("prelude + completion");
    expect((await check("  return a + b\n", input, o)).pass).toBe(true); // missing closing brace
    expect(await check("```js\nconst add = (a, b) => a + b;\n```", input, o)).toMatchObject({ pass: true });
    expect(await check("```js\nfunction add(a, b) { return a + b }\n```", input, o)).toMatchObject({ pass: true });
    expect(await check(`${input.prompt}  return a + b\n}`, input, o)).toMatchObject({ pass: true });
    expect(await check("  return a - b\n}\n", input, o)).toMatchObject({ pass: false, reason: "js_tests.assert_failed" });
  });
  it("body and program modes", async () => {
    expect((await check("  return a + b\n}\n", input, { ...o, mode: "body" })).pass).toBe(true);
    expect((await check("  return a + b\n}\n", input, { ...o, mode: "program" })).reason).toBe("js_tests.syntax");
    expect((await check("const add = (a, b) => a + b", input, { ...o, mode: "program" })).pass).toBe(true);
  });
});

describe("HumanEval-X JS (164 problems)", () => {
  const limits = { maxInstructions: 50_000_000, memoryMb: 32, stackKb: 256 };
  it("161 canonical solutions pass; exactly 112, 155 and 162 fail", async () => {
    const qjs = await getQuickJS();
    const failed: string[] = [];
    for (const p of problems) {
      const r = runJsTests(qjs, assembleProgram(p.canonical_solution, p.prompt, "auto").programs, p.test, limits);
      if (!r.pass) failed.push(p.task_id);
    }
    expect(problems).toHaveLength(164);
    expect(failed).toEqual(["JavaScript/112", "JavaScript/155", "JavaScript/162"]);
  });
  it("0 of 164 empty bodies pass", async () => {
    const qjs = await getQuickJS();
    let passed = 0;
    for (const p of problems) {
      const r = runJsTests(qjs, assembleProgram("\n}\n", p.prompt, "body").programs, p.test, limits);
      if (r.pass) passed++;
    }
    expect(passed).toBe(0);
  });
  it("through the filter: the canonical solution as a fenced chat answer, prelude {{prompt}}", async () => {
    const p = problems[0]!;
    const r = await check("```javascript\n" + p.canonical_solution + "```", p as unknown as Row, { prelude: "{{prompt}}" });
    expect(r).toMatchObject({ pass: true, score: 1 });
    const bad = problems.find((q) => q.task_id === "JavaScript/162")!;
    expect(await check(bad.canonical_solution, bad as unknown as Row, { prelude: "{{prompt}}" })).toMatchObject({ pass: false, reason: "js_tests.error" });
  });
});

describe("resources", () => {
  it("300 runs, hostile and not, leave nothing behind", async () => {
    const qjs = await getQuickJS();
    const limits = { maxInstructions: 200_000, memoryMb: 8, stackKb: 128 };
    const codes = [
      ["const f = (x) => x * 2", "console.assert(f(2) === 4)", true],
      ["for (;;) {}", "", false],
      ["function r() { return r() }", "r()", false],
      ["const big = []; for (let i = 0; i < 50; i++) big.push('x'.repeat(1 << 16) + i);", "console.assert(big.length === 50)", true],
      ["throw new Error('x')", "", false],
      ["const a = (async () => { await null; return 1 })()", "a", true],
    ] as const;
    // warm up, then the wasm memory must not grow with the number of runs
    for (const [c, t] of codes) runJsTests(qjs, c, t, limits);
    const before = qjs.getWasmMemory().buffer.byteLength;
    for (let i = 0; i < 300; i++) {
      const [c, t, ok] = codes[i % codes.length]!;
      expect(runJsTests(qjs, c, t, limits).pass).toBe(ok);
    }
    expect(qjs.getWasmMemory().buffer.byteLength).toBe(before);
    expect(await getQuickJS()).toBe(qjs); // never poisoned
  });
});
