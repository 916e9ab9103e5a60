// The registry: recipe filter specs (validated by zod) → Filter instances, and the chain that
// runs them in order. Adding a filter kind is one file plus one line in each list below.
import Mustache from "mustache";
import { z } from "zod";
import { LengthOptions, lengthFilter } from "./length";
import { MathAnswerOptions, mathAnswerFilter } from "./math-answer";
import type { Candidate, Filter, FilterContext, Row, TraceEntry } from "./types";

export const FILTER_TYPES = ["length", "math_answer"] as const;
export const FilterSpec = z.discriminatedUnion("type", [LengthOptions, MathAnswerOptions], {
  error: (issue) =>
    issue.code === "invalid_union" && (issue as { note?: string }).note === "No matching discriminator"
      ? `unknown filter type; known types: ${FILTER_TYPES.join(", ")}`
      : undefined,
});
export type FilterSpec = z.infer<typeof FilterSpec>;

export function buildFilter(spec: FilterSpec): Filter {
  switch (spec.type) {
    case "length":
      return lengthFilter(spec);
    case "math_answer":
      return mathAnswerFilter(spec);
  }
}

/** Template strings inside a filter spec, so their placeholders can be checked before a job runs. */
export function filterTemplates(spec: FilterSpec): string[] {
  return spec.type === "math_answer" ? [spec.reference] : [];
}

export interface ChainVerdict {
  pass: boolean;
  /** The namespaced reason of the first rejection. */
  reason?: string;
  trace: TraceEntry[];
}

/** Renders `{{field}}` against the input row only: no lambdas, no HTML escaping. */
export function renderTemplate(template: string, row: Row): string {
  return Mustache.render(template, row, {}, { escape: (s: string) => s });
}

/** Runs filters in order; the first rejection ends the chain and is recorded. */
export async function runChain(filters: Filter[], candidate: Candidate): Promise<ChainVerdict> {
  const ctx: FilterContext = { render: (t) => renderTemplate(t, candidate.input) };
  const trace: TraceEntry[] = [];
  for (const f of filters) {
    let r;
    try {
      r = await f.check(candidate, ctx);
    } catch (e) {
      // A filter that throws rejects with its own reason instead of losing the candidate.
      r = { pass: false, reason: `${f.name}.error`, detail: String((e as Error)?.message ?? e).slice(0, 300) };
    }
    trace.push({ name: f.name, ...r });
    if (!r.pass) return { pass: false, reason: r.reason ?? `${f.name}.rejected`, trace };
  }
  return { pass: true, trace };
}

/** Per-filter counts in the shape kept on tasks and shown in progress: `name.pass`, or the reason. */
export function countVerdict(counts: Record<string, number>, verdict: ChainVerdict) {
  for (const t of verdict.trace) {
    const k = t.pass ? `${t.name}.pass` : (t.reason ?? `${t.name}.rejected`);
    counts[k] = (counts[k] ?? 0) + 1;
  }
}
