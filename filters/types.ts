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

export interface FilterResult {
  pass: boolean;
  score?: number;
  /** Namespaced `filter.reason`; required when pass is false. */
  reason?: string;
  detail?: string;
}

export interface Filter {
  /** The filter's name in traces and counts (its recipe `type`). */
  readonly name: string;
  check(candidate: Candidate, ctx: FilterContext): FilterResult | Promise<FilterResult>;
}

/** One entry of a candidate's filter trace, as stored in records. */
export interface TraceEntry extends FilterResult {
  name: string;
}
