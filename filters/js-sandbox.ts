// The js_tests sandbox: runs untrusted JavaScript and its tests in QuickJS (compiled to wasm) and
// always comes back with a verdict. This file is runtime-agnostic (the Worker and the Node bench
// both use it); how the wasm is loaded lives with the caller (filters/js-tests.ts statically
// imports it, as deployed Workers cannot compile wasm from bytes at runtime).
//
// Limits, and why they are enforced the way they are:
// - CPU: an interrupt handler counts QuickJS's interrupt polls (one poll per ~10k bytecode
//   branches/calls). A clock would not work: in production Date.now() does not advance while a
//   Worker computes, so a deadline would never fire.
// - Memory: QuickJS's allocator limit (`setMemoryLimit`) and, as the hard backstop, a maximum on
//   the wasm memory itself (WASM_MAX_MB). This build of QuickJS cannot size its allocations
//   (no malloc_usable_size), so its limit alone under-counts fresh allocations; a capped wasm
//   memory makes malloc fail instead of growing the Worker past its own limit.
// - Stack: `setMaxStackSize` ≤ 256 KB (QuickJS's shadow stack in this build is 5 MB; larger
//   QuickJS limits let the host's own stack overflow first, which is handled but not clean).
// - Errors: building an Error costs far more real time than the poll count sees; backtraces are
//   off (see BOOTSTRAP) to keep throw-heavy code within a small factor (BENCHMARKS.md).
// - Host access: the context has no fetch, require, timers, process or host objects. What is
//   added: a `console` (written in JS inside the sandbox; its results are read back through a
//   handle the sandboxed code cannot reach), inert `module`/`exports` stubs so
//   `module.exports = f` lines do not fail correct solutions.
// Anything that goes wrong outside QuickJS's own error handling (a host stack overflow, a wasm
// trap) marks the module as poisoned; the caller drops it and loads a fresh one. So does running
// out of memory: QuickJS leaks objects on some out-of-memory paths and then aborts when the
// runtime is freed, so a runtime that hit the memory cap is abandoned with its module.
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from "quickjs-emscripten-core";

/** Hard cap on the wasm memory of the QuickJS module (shared by the runs of one isolate). */
export const WASM_MAX_MB = 64;
/** Roughly how many bytecode branches/calls QuickJS executes between two interrupt polls. */
export const INSTRUCTIONS_PER_POLL = 10_000;

/**
 * Loads a QuickJS module from a variant, with its wasm memory capped at WASM_MAX_MB. Pass the
 * statically imported `wasmModule` in a Worker; Node's loader reads the .wasm file itself.
 */
export function loadQuickJS(variant: QuickJSSyncVariant, wasmModule?: WebAssembly.Module): Promise<QuickJSWASMModule> {
  // The module declares 256 pages (16 MB) as its minimum; growth past the maximum fails malloc.
  const wasmMemory = new WebAssembly.Memory({ initial: 256, maximum: (WASM_MAX_MB * 1024 * 1024) / 65536 });
  return newQuickJSWASMModuleFromVariant(newVariant(variant, wasmModule ? { wasmModule, wasmMemory } : { wasmMemory }));
}

export type JsReason =
  | "js_tests.no_code"
  | "js_tests.syntax"
  | "js_tests.assert_failed"
  | "js_tests.error"
  | "js_tests.timeout"
  | "js_tests.memory"
  | "js_tests.stack"
  | "js_tests.unresolved";

export interface SandboxLimits {
  /** Instruction budget (approximate: counted in interrupt polls × INSTRUCTIONS_PER_POLL). */
  maxInstructions: number;
  memoryMb: number;
  stackKb: number;
}

export interface SandboxResult {
  pass: boolean;
  reason?: JsReason;
  detail: string;
  /** console.assert calls that held / failed. */
  asserts: number;
  failed: number;
  /** Approximate instructions used (polls × INSTRUCTIONS_PER_POLL). */
  instructions: number;
  /** Index of the program (of those given) that ran. */
  program: number;
  /** Captured console.log output (bounded). */
  logs: string[];
  /** True when the wasm module itself may be damaged; the caller must discard it. */
  poisoned?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Code extraction and assembly

const JS_LANGS = new Set(["js", "javascript", "mjs", "cjs", "node", "nodejs", "jsx", "es6", "ecmascript"]);

/**
 * The code in a completion: the longest ```js / ```javascript fence, else the longest unlabelled
 * fence, else (no fences at all) the whole text. Fences only in other languages -> null.
 * An unterminated fence (a truncated completion) runs to the end of the text.
 */
export function extractCode(text: string): string | null {
  const re = /(^|\n)[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n([\s\S]*?)(?:\n[ \t]*\2[ \t]*(?=\n|$)|$(?![\s\S]))/g;
  const js: string[] = [];
  const plain: string[] = [];
  let any = false;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    any = true;
    const lang = (m[3] ?? "").toLowerCase();
    const body = m[4] ?? "";
    if (JS_LANGS.has(lang)) js.push(body);
    else if (lang === "") plain.push(body);
    if (m[0].length === 0) re.lastIndex++;
  }
  const longest = (xs: string[]) => xs.reduce((a, b) => (b.trim().length > a.trim().length ? b : a), "");
  let code: string;
  if (js.length) code = longest(js);
  else if (plain.length) code = longest(plain);
  else if (any) return null;
  else code = text;
  return code.trim() ? code : null;
}

/** `export` keywords make a script a module; strip them so `export function f` still runs. */
export function stripExports(code: string): string {
  return code
    .replace(/^([ \t]*)export[ \t]+default[ \t]+(?=(?:async[ \t]+)?function\b|class\b)/gm, "$1")
    .replace(/^([ \t]*)export[ \t]+(?=(?:async[ \t]+)?function\b|class\b|const\b|let\b|var\b)/gm, "$1")
    .replace(/^[ \t]*export[ \t]*\{[^}]*\}[ \t]*;?[ \t]*$/gm, "");
}

/** Names a piece of code declares at any depth: `function f`, `const f =`, `let f =`, `var f =`, `class F`. */
function declaredNames(code: string): Set<string> {
  const names = new Set<string>();
  const re = /\b(?:function\s*\*?\s*([A-Za-z_$][\w$]*)|(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=|class\s+([A-Za-z_$][\w$]*))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(code))) {
    const n = m[1] ?? m[2] ?? m[3];
    if (n) names.add(n);
  }
  return names;
}

export type AssembleMode = "auto" | "body" | "program";

export interface Assembled {
  /** Programs to try, in order of preference: the first that compiles runs. */
  programs: string[];
  /** Labels for the trace, one per program. */
  labels: string[];
}

/**
 * The program to run. `body`: prelude + code (the completion continues the prompt, HumanEval
 * style). `program`: the code alone. `auto`: the code alone when it contains the prelude or
 * declares one of its names and compiles on its own, else prelude + code. Bodies that stop short
 * of the function's closing brace get one (a common truncation).
 */
export function assembleProgram(code: string, prelude: string | undefined, mode: AssembleMode): Assembled {
  if (!prelude || !prelude.trim() || mode === "program") return { programs: [code], labels: ["completion"] };
  const joined = prelude.replace(/\s+$/, "") + "\n" + code;
  const body = { programs: [joined, joined + "\n}"], labels: ["prelude + completion", "prelude + completion + }"] };
  if (mode === "body") return body;
  if (code.includes(prelude.trim())) return { programs: [code], labels: ["completion"] };
  const have = declaredNames(code);
  const defines = [...declaredNames(prelude)].some((n) => have.has(n));
  return defines
    ? { programs: [code, ...body.programs], labels: ["completion", ...body.labels] }
    : { programs: [...body.programs, code], labels: [...body.labels, "completion"] };
}

// ---------------------------------------------------------------------------------------------
// The run

// Installed before any untrusted code. console writes into `state`, which only the host holds a
// handle to; console, JSON and Math are frozen and non-writable so a completion cannot rewrite
// the checks (`console.assert = () => {}`, `JSON.stringify = () => ""`).
const BOOTSTRAP = String.raw`(function () {
  "use strict";
  const state = { asserts: 0, failed: 0, first: "", logs: [], logChars: 0 };
  const G = globalThis, S = String, E = Error, JSONs = JSON.stringify;
  // Errors cost time the instruction count does not see: QuickJS builds a backtrace for each
  // (a throw-and-catch loop runs ~100-300x slower per counted instruction than a plain loop).
  // No frames cuts that cost 2.5-5x; the limit is locked so the code cannot raise it again.
  // (Charging each error to the budget through a host callback in Error.prepareStackTrace was
  // tried: an interrupted throw-and-catch loop then never ended. prepareStackTrace stays off.)
  E.stackTraceLimit = 0;
  Object.defineProperty(E, "stackTraceLimit", { value: 0, writable: false, configurable: false });
  Object.defineProperty(E, "prepareStackTrace", { value: undefined, writable: false, configurable: false });
  const fmt = (args) => {
    let out = "";
    for (let i = 0; i < args.length && out.length < 300; i++) {
      const a = args[i];
      let s;
      try { s = typeof a === "string" ? a : (typeof a === "function" || a === undefined ? S(a) : JSONs(a)); } catch (e) { s = "[unprintable]"; }
      out += (i ? " " : "") + s;
    }
    return out.length > 300 ? out.slice(0, 300) + "\u2026" : out;
  };
  const log = (...args) => {
    if (state.logs.length < 20 && state.logChars < 2000) {
      const s = fmt(args);
      state.logChars += s.length;
      state.logs.push(s);
    }
  };
  const console = {
    assert(cond, ...msg) {
      state.asserts++;
      if (cond) return;
      state.failed++;
      if (state.failed === 1) state.first = "assertion #" + state.asserts + (msg.length ? ": " + fmt(msg) : "");
    },
    log, info: log, debug: log, warn: log, error: log, trace: log, dir: log, table: log,
    time() {}, timeEnd() {}, group() {}, groupEnd() {}, count() {},
  };
  Object.defineProperty(G, "console", { value: Object.freeze(console), writable: false, enumerable: false, configurable: false });
  for (const k of ["JSON", "Math", "Object", "Array", "Number", "String"]) {
    const v = G[k];
    if (k === "JSON" || k === "Math") Object.freeze(v);
    Object.defineProperty(G, k, { value: v, writable: false, enumerable: false, configurable: false });
  }
  const module = { exports: {} };
  G.module = module;
  G.exports = module.exports;
  return state;
})`;

interface Classified {
  reason: JsReason;
  detail: string;
}

function describe(v: unknown): string {
  if (v && typeof v === "object") {
    const o = v as { name?: unknown; message?: unknown; stack?: unknown };
    if (typeof o.message === "string") {
      const name = typeof o.name === "string" ? o.name : "Error";
      const at = typeof o.stack === "string" ? o.stack.split("\n").map((l) => l.trim()).find((l) => l.startsWith("at ")) : undefined;
      return `${name}: ${o.message}${at ? ` (${at})` : ""}`;
    }
  }
  try {
    return `thrown: ${typeof v === "string" ? v : JSON.stringify(v)}`;
  } catch {
    return `thrown: ${String(v)}`;
  }
}

export function classifyError(v: unknown, interrupted: boolean): Classified {
  const o = (v && typeof v === "object" ? v : {}) as { name?: unknown; message?: unknown };
  const name = typeof o.name === "string" ? o.name : "";
  const msg = typeof o.message === "string" ? o.message : "";
  const detail = describe(v).slice(0, 400);
  if (interrupted || (name === "InternalError" && msg === "interrupted")) return { reason: "js_tests.timeout", detail };
  if (/out of memory|string too long/i.test(msg)) return { reason: "js_tests.memory", detail };
  if (/call stack|stack overflow/i.test(msg)) return { reason: "js_tests.stack", detail };
  return { reason: "js_tests.error", detail };
}

function safeDump(c: QuickJSContext, h: QuickJSHandle): unknown {
  try {
    return c.dump(h);
  } catch (e) {
    return { name: "Error", message: `unreadable error (${String((e as Error)?.message ?? e).slice(0, 100)})` };
  }
}

interface State {
  asserts: number;
  failed: number;
  first: string;
  logs: string[];
}

/** Reads the console state property by property (no JSON, so no sandboxed toJSON can forge it). */
function readState(c: QuickJSContext, h: QuickJSHandle | undefined, into: State) {
  if (!h) return;
  try {
    readStateUnsafe(c, h, into);
  } catch {
    // a half-read state keeps what was read
  }
}

function readStateUnsafe(c: QuickJSContext, h: QuickJSHandle, into: State) {
  const num = (k: string) => {
    const v = c.getProp(h, k);
    try {
      return c.typeof(v) === "number" ? c.getNumber(v) : 0;
    } finally {
      v.dispose();
    }
  };
  const str = (o: QuickJSHandle, k: string | number) => {
    const v = c.getProp(o, k);
    try {
      return c.typeof(v) === "string" ? c.getString(v) : "";
    } finally {
      v.dispose();
    }
  };
  into.asserts = num("asserts");
  into.failed = num("failed");
  into.first = str(h, "first");
  const logs = c.getProp(h, "logs");
  try {
    const n = Math.min(20, (() => {
      const l = c.getProp(logs, "length");
      try {
        return c.typeof(l) === "number" ? c.getNumber(l) : 0;
      } finally {
        l.dispose();
      }
    })());
    into.logs = [];
    for (let i = 0; i < n; i++) into.logs.push(str(logs, i));
  } finally {
    logs.dispose();
  }
}

/**
 * Runs `program` then `tests` in a fresh runtime and context of `qjs`; the verdict says whether
 * every console.assert held and nothing threw. Never throws for anything the code does: a fault
 * outside QuickJS (a wasm trap, the host stack) comes back as a verdict with `poisoned: true`.
 */
export function runJsTests(qjs: QuickJSWASMModule, programs: string | string[], tests: string, limits: SandboxLimits): SandboxResult {
  const candidates = typeof programs === "string" ? [programs] : programs;
  let program = candidates[0] ?? "";
  const maxPolls = Math.max(1, Math.ceil(limits.maxInstructions / INSTRUCTIONS_PER_POLL));
  let polls = 0;
  let interrupted = false;
  const used = () => polls;
  const st: State = { asserts: 0, failed: 0, first: "", logs: [] };
  let chosen = 0;
  let result: SandboxResult;
  const verdict = (r: { pass: boolean; reason?: JsReason; detail: string; poisoned?: boolean }): SandboxResult => ({
    ...r,
    asserts: st.asserts,
    failed: st.failed,
    logs: st.logs,
    program: chosen,
    instructions: Math.min(used(), maxPolls) * INSTRUCTIONS_PER_POLL,
  });

  let rt: QuickJSRuntime | undefined;
  let ctx: QuickJSContext | undefined;
  let state: QuickJSHandle | undefined;
  try {
    rt = qjs.newRuntime();
    rt.setMemoryLimit(limits.memoryMb * 1024 * 1024);
    rt.setMaxStackSize(limits.stackKb * 1024);
    rt.setInterruptHandler(() => {
      polls++;
      if (used() > maxPolls) interrupted = true;
      return interrupted;
    });
    ctx = rt.newContext();
    result = run(rt, ctx);
  } catch (e) {
    const msg = String((e as Error)?.message ?? e);
    result = verdict({
      pass: false,
      reason: /call stack|stack overflow|too much recursion/i.test(msg) ? "js_tests.stack" : /memory/i.test(msg) ? "js_tests.memory" : "js_tests.error",
      detail: `sandbox fault: ${msg.slice(0, 300)}`,
      poisoned: true,
    });
  }
  if (result.reason === "js_tests.memory") return { ...result, poisoned: true };
  try {
    state?.dispose();
    ctx?.dispose();
    rt?.dispose();
  } catch (e) {
    result = { ...result, poisoned: true, detail: `${result.detail}; dispose failed: ${String((e as Error)?.message ?? e).slice(0, 100)}` };
  }
  return result;

  // QuickJS throws null when it cannot even allocate the out-of-memory error.
  function classify(err: unknown): Classified {
    const cls = classifyError(err, interrupted);
    if (cls.reason === "js_tests.error" && err === null && qjs.getWasmMemory().buffer.byteLength >= WASM_MAX_MB * 1024 * 1024 * 0.9) {
      return { reason: "js_tests.memory", detail: "out of memory (wasm memory at its cap)" };
    }
    return cls;
  }

  function run(rt: QuickJSRuntime, c: QuickJSContext): SandboxResult {
    const bootFn = c.evalCode(BOOTSTRAP, "<bootstrap>", { type: "global" }).unwrap();
    const boot = c.callFunction(bootFn, c.undefined);
    bootFn.dispose();
    if (boot.error) {
      const err = safeDump(c, boot.error);
      boot.error.dispose();
      return verdict({ pass: false, ...classify(err) });
    }
    state = boot.value;

    // Syntax first, so a SyntaxError thrown at run time (JSON.parse) is not mistaken for one.
    const compiles = (src: string, what: string): Classified | null => {
      const r = c.evalCode(src, `<${what}>`, { type: "global", compileOnly: true });
      if (!r.error) {
        r.value.dispose();
        return null;
      }
      const err = safeDump(c, r.error);
      r.error.dispose();
      const cls = classify(err);
      return cls.reason === "js_tests.error" ? { reason: "js_tests.syntax", detail: `${what}: ${cls.detail}` } : cls;
    };
    let firstError: Classified | null = null;
    chosen = -1;
    for (let i = 0; i < candidates.length; i++) {
      const e = compiles(candidates[i] ?? "", "code");
      if (!e) {
        chosen = i;
        break;
      }
      firstError ??= e;
      if (e.reason !== "js_tests.syntax") break;
    }
    if (chosen < 0) {
      chosen = 0;
      return verdict({ pass: false, ...(firstError ?? { reason: "js_tests.syntax", detail: "code: does not compile" }) });
    }
    program = candidates[chosen] ?? "";
    const testsError = compiles(tests, "tests");
    if (testsError) return verdict({ pass: false, ...testsError });

    let last: QuickJSHandle | undefined;
    try {
      for (const [what, src] of [["code", program], ["tests", tests]] as const) {
        const r = c.evalCode(src, `<${what}>`, { type: "global" });
        if (r.error) {
          const err = safeDump(c, r.error);
          r.error.dispose();
          const cls = classify(err);
          readState(c, state, st);
          return verdict({ pass: false, ...cls, detail: `${what === "code" ? "while loading the code: " : ""}${cls.detail}` });
        }
        if (what === "tests") last = r.value;
        else r.value.dispose();
      }

      // Async tests: run the job queue (every job is under the same instruction budget).
      for (let rounds = 0; rt.hasPendingJob(); rounds++) {
        const jr = rt.executePendingJobs(1000);
        if (jr.error) {
          const err = safeDump(jr.error.context, jr.error);
          jr.error.dispose();
          readState(c, state, st);
          return verdict({ pass: false, ...classify(err) });
        }
        if (interrupted || rounds > 10_000) {
          readState(c, state, st);
          return verdict({ pass: false, reason: "js_tests.timeout", detail: "instruction budget exhausted in async jobs" });
        }
      }
      let rejected: { error: unknown } | undefined;
      if (last && c.typeof(last) === "object") {
        const ps = c.getPromiseState(last);
        if (ps.type === "rejected") {
          rejected = { error: safeDump(c, ps.error) };
          ps.error.dispose();
        } else if (ps.type === "pending") {
          readState(c, state, st);
          return verdict({ pass: false, reason: "js_tests.unresolved", detail: "the tests returned a promise that never settled" });
        } else if (ps.notAPromise !== true) {
          ps.value.dispose();
        }
      }
      readState(c, state, st);
      if (rejected) return verdict({ pass: false, ...classify(rejected.error) });
    } finally {
      last?.dispose();
    }
    if (interrupted) return verdict({ pass: false, reason: "js_tests.timeout", detail: "instruction budget exhausted" });
    if (st.failed > 0) {
      return verdict({ pass: false, reason: "js_tests.assert_failed", detail: `${st.failed} of ${st.asserts} assertions failed; first: ${st.first}` });
    }
    return verdict({ pass: true, detail: `${st.asserts} assertions passed` });
  }
}
