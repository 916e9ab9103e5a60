// The one interface every filter implements, in the style of datatrove's filters: a filter
// looks at one candidate and says pass or not, with an optional score, a namespaced reason
// (`math_answer.mismatch`) and a human-readable detail for the trace.

export type Row = Record<string, unknown>;
export type Message = { role: "system" | "user" | "assistant"; content: string };

export interface Candidate {
  /** The input row the prompt was built from. */
  input: Row;
  /** The prompt messages (without the completion). */
  messages: Message[];
  /** The model's output. */
  completion: string;
}

export interface FilterContext {
  /** Render a template against the candidate's input row (placeholders reach only the row). */
  render(template: string): string;
}

/** Tokens and money a filter spent on a candidate (an LLM judge); counted towards the job. */
export interface FilterUsage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  /** `provider/model` that was called, for per-model metering. */
  model?: string;
}

export interface FilterResult {
  pass: boolean;
  score?: number;
  /** Namespaced `filter.reason`; required when pass is false. */
  reason?: string;
  detail?: string;
  usage?: FilterUsage;
}

/**
 * What a filter instance may use beyond the candidate. Filters are built once per consumer
 * batch (and once per /v1/filters/check request), so per-batch state lives on the instance.
 */
export interface FilterDeps {
  /** Bindings and vars: R2 for indexes, providers for judges. */
  env: import("../workers/env").Env;
  /** The dataset the candidates are for; null in /v1/filters/check, which has no dataset. */
  datasetId: string | null;
}

export interface Filter {
  /** The filter's name in traces and counts (its recipe `type`). */
  readonly name: string;
  check(candidate: Candidate, ctx: FilterContext): FilterResult | Promise<FilterResult>;
  /** Once per batch, before any check: load what the filter needs (an index, a sandbox). */
  prepare?(): Promise<void>;
  /** Once per batch, after every check, with the candidates the whole chain accepted. */
  commit?(accepted: Candidate[]): Promise<void>;
}

/** One entry of a candidate's filter trace, as stored in records. */
export interface TraceEntry extends FilterResult {
  name: string;
}
