// Batch mode: a provider runs many requests within 24 hours at half the price. One provider batch
// holds the lines of exactly one task, so a line is named by its slot alone.
import type { ChatRequest, ChatResult } from "./types";
import { ProviderError } from "./types";

export interface BatchLine {
  custom_id: string;
  request: Omit<ChatRequest, "input"> & { input?: unknown };
}

/** ended = results (possibly partial) are available, or the batch failed/expired/cancelled as a whole. */
export type BatchState = "in_progress" | "ended";

export interface BatchStatus {
  id: string;
  state: BatchState;
  /** The provider's own status word (OpenAI `status`, Anthropic `processing_status`). */
  detail: string;
  counts?: { total: number; succeeded: number; failed: number };
}

/**
 * Per custom_id: the completion, or why that line has none (retryable ProviderError for
 * errored/expired/cancelled lines and 5xx-like line errors; non-retryable for 4xx-like line
 * errors). Lines missing from the results are absent from the map: the caller treats them as
 * retryable.
 */
export type BatchResults = Map<string, ChatResult | ProviderError>;

export interface BatchClient {
  readonly provider: string;
  /** `metadata` is kept by OpenAI (<= 16 pairs); Anthropic's batches have no such field. */
  submit(lines: BatchLine[], metadata?: Record<string, string>): Promise<{ id: string }>;
  status(id: string): Promise<BatchStatus>;
  /** Throws a retryable ProviderError while the batch has not ended. */
  results(id: string): Promise<BatchResults>;
  /** Best effort: lines already running may still finish, and are paid for. */
  cancel(id: string): Promise<void>;
}

/** Anthropic's rule for custom_id; OpenAI accepts any string, so the stricter rule serves both. */
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const LINE_ID = /^i(\d+)-c(\d+)$/;

/** The custom_id of a task's slot: `i{input}-c{candidate}`, e.g. `i17-c3`. */
export function batchLineId(input: number, candidate: number): string {
  return `i${input}-c${candidate}`;
}

export function parseBatchLineId(id: string): { input: number; candidate: number } | null {
  const m = LINE_ID.exec(id);
  return m ? { input: Number(m[1]), candidate: Number(m[2]) } : null;
}

/** A batch the provider would reject as a whole is a caller bug: say so before paying for an upload. */
export function checkLines(provider: string, lines: BatchLine[]): void {
  if (lines.length === 0) throw new ProviderError("invalid_batch", `${provider}: a batch needs at least one line`, false);
  const seen = new Set<string>();
  for (const { custom_id } of lines) {
    if (!CUSTOM_ID.test(custom_id)) throw new ProviderError("invalid_batch", `${provider}: custom_id ${JSON.stringify(custom_id)} must match ${CUSTOM_ID.source}`, false);
    if (seen.has(custom_id)) throw new ProviderError("invalid_batch", `${provider}: custom_id ${custom_id} appears twice`, false);
    seen.add(custom_id);
  }
}

/**
 * Reads a JSONL results file into `out`, each line through `parse`. A line that is not JSON (a
 * cut-off download) still names its custom_id most of the time: that line gets a retryable error,
 * the others are unaffected.
 */
export function readResultLines(provider: string, text: string, parse: (line: any) => ChatResult | ProviderError, out: BatchResults): void {
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    let line: any;
    try {
      line = JSON.parse(raw);
    } catch {
      const id = /"custom_id"\s*:\s*"([^"\\]*)"/.exec(raw)?.[1];
      if (id !== undefined) out.set(id, new ProviderError("malformed_response", `${provider}: batch result line is not JSON: ${raw.slice(0, 120)}`, true));
      continue;
    }
    if (typeof line?.custom_id !== "string") continue;
    try {
      out.set(line.custom_id, parse(line));
    } catch (e) {
      if (!(e instanceof ProviderError)) throw e;
      out.set(line.custom_id, e);
    }
  }
}
