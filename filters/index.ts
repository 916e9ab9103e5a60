// The registry: recipe filter specs (validated by zod) → Filter instances, and the chain that
// runs them in order. Adding a filter kind is one file exporting a FilterDefinition plus one
// entry in DEFINITIONS (and its schema in FilterSpec).
import Mustache from "mustache";
import { z } from "zod";
import type { FilterDefinition } from "./define";
import { decontaminate } from "./decontaminate";
import { dedup } from "./dedup";
import { jsTests } from "./js-tests";
import { jsonSchema } from "./json-schema";
import { judge } from "./judge";
import { language } from "./language";
import { length } from "./length";
import { mathAnswer } from "./math-answer";
import { refusal } from "./refusal";
import { regex } from "./regex";
import { repetition } from "./repetition";
import type { Candidate, Filter, FilterContext, FilterDeps, FilterUsage, Row, TraceEntry } from "./types";

const DEFINITIONS = [length, refusal, repetition, language, regex, jsonSchema, mathAnswer, jsTests, judge, dedup, decontaminate] as const satisfies readonly FilterDefinition<any>[];
export const FILTER_TYPES = DEFINITIONS.map((d) => d.type);

export const FilterSpec = z.discriminatedUnion("type", [length.options, refusal.options, repetition.options, language.options, regex.options, jsonSchema.options, mathAnswer.options, jsTests.options, judge.options, dedup.options, decontaminate.options], {
  error: (issue) =>
    issue.code === "invalid_union" && (issue as { note?: string }).note === "No matching discriminator"
      ? `unknown filter type; known types: ${FILTER_TYPES.join(", ")}`
      : undefined,
});
export type FilterSpec = z.infer<typeof FilterSpec>;

const byType = new Map<string, FilterDefinition<any>>(DEFINITIONS.map((d) => [d.type, d]));

export function buildFilter(spec: FilterSpec, deps: FilterDeps): Filter {
  return byType.get(spec.type)!.build(spec, deps);
}

/** Template strings inside a filter spec, so their placeholders can be checked before a job runs. */
export function filterTemplates(spec: FilterSpec): string[] {
  return byType.get(spec.type)!.templates?.(spec) ?? [];
}

export interface ChainVerdict {
  pass: boolean;
  /** The namespaced reason of the first rejection. */
  reason?: string;
  trace: TraceEntry[];
  /** What the filters themselves spent (LLM judges), in total and call by call. */
  usage: FilterUsage;
  calls: FilterUsage[];
}

/**
 * Mustache's own lookup uses `in` and reads properties of autoboxed primitives, so `{{constructor}}`,
 * `{{toString}}` or `{{question.constructor.name}}` would reach prototypes, and any function it
 * finds is called as a lambda. This context resolves a name only through the data's own
 * properties and never yields a function, so a template reaches the input row and nothing else.
 */
class RowContext extends Mustache.Context {
  override push(view: unknown): Mustache.Context {
    return new RowContext(view, this);
  }

  override lookup(name: string): unknown {
    if (name === ".") return this.view;
    const names = name.split(".");
    for (let ctx: Mustache.Context | undefined = this; ctx; ctx = ctx.parent) {
      let value: unknown = ctx.view;
      let hit = true;
      for (const n of names) {
        if (value === null || typeof value !== "object" || !Object.hasOwn(value, n)) {
          hit = false;
          break;
        }
        value = (value as Record<string, unknown>)[n];
      }
      if (hit) return typeof value === "function" ? undefined : value;
    }
    return undefined;
  }
}

/** Renders `{{field}}` against the input row only: no prototypes, lambdas or partials, no HTML escaping. */
export function renderTemplate(template: string, row: Row): string {
  return Mustache.render(template, new RowContext(row), undefined, { escape: (s: string) => s });
}

/** Runs filters in order; the first rejection ends the chain and is recorded. */
export async function runChain(filters: Filter[], candidate: Candidate): Promise<ChainVerdict> {
  const ctx: FilterContext = { render: (t) => renderTemplate(t, candidate.input) };
  const trace: TraceEntry[] = [];
  const usage: FilterUsage = { input_tokens: 0, output_tokens: 0, cost_usd: 0 };
  const calls: FilterUsage[] = [];
  for (const f of filters) {
    let r;
    try {
      r = await f.check(candidate, ctx);
    } catch (e) {
      // A filter that throws rejects with its own reason instead of losing the candidate.
      r = { pass: false, reason: `${f.name}.error`, detail: String((e as Error)?.message ?? e).slice(0, 300) };
    }
    if (r.usage) {
      usage.input_tokens += r.usage.input_tokens;
      usage.output_tokens += r.usage.output_tokens;
      usage.cost_usd += r.usage.cost_usd;
      calls.push(r.usage);
    }
    trace.push({ name: f.name, ...r });
    if (!r.pass) return { pass: false, reason: r.reason ?? `${f.name}.rejected`, trace, usage, calls };
  }
  return { pass: true, trace, usage, calls };
}

/** Per-filter counts in the shape kept on tasks and shown in progress: `name.pass`, or the reason. */
export function countVerdict(counts: Record<string, number>, verdict: ChainVerdict) {
  for (const t of verdict.trace) {
    const k = t.pass ? `${t.name}.pass` : (t.reason ?? `${t.name}.rejected`);
    counts[k] = (counts[k] ?? 0) + 1;
  }
}
