import variant from "@jitl/quickjs-ng-wasmfile-release-sync";
// Imported statically (a CompiledWasm module, see the [[rules]] in wrangler.toml): a deployed
// Worker may not compile wasm from bytes at run time. The package's export map has `./wasm` for
// this file, but bundlers pick their wasm rule by the import specifier, which must end in .wasm.
import wasmModule from "../node_modules/@jitl/quickjs-ng-wasmfile-release-sync/dist/emscripten-module.wasm";
import type { QuickJSWASMModule } from "quickjs-emscripten-core";
import { z } from "zod";
import { defineFilter } from "./define";
import { assembleProgram, extractCode, loadQuickJS, runJsTests, stripExports } from "./js-sandbox";
import type { Filter } from "./types";

export const JsTestsOptions = z
  .object({
    type: z.literal("js_tests"),
    /** Test code, rendered from the input row (e.g. "{{test}}"); failed console.asserts and throws fail it. */
    tests: z.string().min(1),
    /** Code that goes before the completion, rendered from the input row (e.g. "{{prompt}}" for HumanEval). */
    prelude: z.string().optional(),
    /**
     * How the completion meets the prelude: "body" always prepends it (the completion continues
     * the prompt), "program" never does (the completion is a whole program), "auto" prepends it
     * unless the completion already defines what the prelude declares.
     */
    mode: z.enum(["auto", "body", "program"]).default("auto"),
    /** Approximate instruction budget (interrupt polls × 10k); infinite loops end as js_tests.timeout. */
    // HumanEval's canonical solutions need at most ~12.9M; code that throws in a loop spends far
    // more real CPU per counted instruction (~30 s at 50M), so the default stays near the need.
    max_instructions: z.number().int().min(10_000).max(1_000_000_000).default(20_000_000),
    /** QuickJS heap limit in MB; the wasm memory is also hard-capped for the whole isolate. */
    memory_mb: z.number().int().min(1).max(48).default(32),
    /** QuickJS stack limit in KB. */
    stack_kb: z.number().int().min(16).max(256).default(256),
  })
  .strict();
export type JsTestsOptions = z.infer<typeof JsTestsOptions>;

// One QuickJS module per isolate (instantiating the wasm is the expensive part); a fresh
// runtime and context per run. A module that faulted is dropped and the next run loads another.
let quickjs: Promise<QuickJSWASMModule> | null = null;
export function getQuickJS(): Promise<QuickJSWASMModule> {
  if (!quickjs) {
    quickjs = loadQuickJS(variant, wasmModule);
    quickjs.catch(() => (quickjs = null));
  }
  return quickjs;
}

export function jsTestsFilter(opts: JsTestsOptions): Filter {
  return {
    name: "js_tests",
    async prepare() {
      await getQuickJS();
    },
    async check({ completion }, ctx) {
      const extracted = extractCode(completion);
      if (extracted === null) return { pass: false, score: 0, reason: "js_tests.no_code", detail: "no JavaScript code in the completion" };
      const code = stripExports(extracted);
      const tests = ctx.render(opts.tests);
      const prelude = opts.prelude === undefined ? undefined : ctx.render(opts.prelude);
      const { programs, labels } = assembleProgram(code, prelude, opts.mode);
      const qjs = await getQuickJS();
      const r = runJsTests(qjs, programs, tests, {
        maxInstructions: opts.max_instructions,
        memoryMb: opts.memory_mb,
        stackKb: opts.stack_kb,
      });
      if (r.poisoned && quickjs) quickjs = null;
      const how = labels[r.program] ?? "completion";
      return {
        pass: r.pass,
        score: r.asserts ? (r.asserts - r.failed) / r.asserts : r.pass ? 1 : 0,
        ...(r.reason ? { reason: r.reason } : {}),
        detail: `${r.detail} [${how}, ~${r.instructions} instructions]`.slice(0, 600),
      };
    },
  };
}

export const jsTests = defineFilter({
  type: "js_tests",
  options: JsTestsOptions,
  build: (o) => jsTestsFilter(o),
  templates: (o) => [o.tests, ...(o.prelude === undefined ? [] : [o.prelude])],
});
