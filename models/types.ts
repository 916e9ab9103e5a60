import type { Message, Row } from "../filters/types";

export interface GenParams {
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  seed?: number;
  stop?: string | string[];
  presence_penalty?: number;
  frequency_penalty?: number;
  /** Structured output, in OpenAI's shape; each provider translates it to its own API. */
  response_format?: ResponseFormat;
}

export type ResponseFormat =
  | { type: "json_object" }
  | { type: "json_schema"; json_schema: { name: string; description?: string; schema: Record<string, unknown>; strict?: boolean } };

export interface ChatRequest {
  model: string;
  messages: Message[];
  params: GenParams;
  /** The input row and candidate index: only the replay provider looks at them. */
  input: Row;
  candidate: number;
}

export interface ChatResult {
  text: string;
  inputTokens: number;
  outputTokens: number;
  finishReason?: string;
}

/** How a provider is reached: GET /v1/providers shows it next to the name. */
export type ProviderKind = "openai" | "anthropic" | "workers-ai" | "replay";

export interface Provider {
  readonly name: string;
  readonly kind: ProviderKind;
  /** What job creation may ask of it; a recipe asking for more is a 400, not failed candidates. */
  readonly supports: { responseFormat: boolean };
  chat(req: ChatRequest): Promise<ChatResult>;
}

/**
 * A provider call that did not produce a completion. `retryable` errors (429, 5xx, timeouts,
 * network errors, malformed bodies) are tried again later; the others fail the candidate.
 */
export class ProviderError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** `retry-after` is seconds or an HTTP date; `retry-after-ms` (OpenAI) wins when present. */
export function parseRetryAfter(headers: Headers, now = Date.now()): number | undefined {
  const ms = Number(headers.get("retry-after-ms"));
  if (headers.has("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return Math.ceil(ms / 1000);
  const v = headers.get("retry-after");
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, Math.ceil(s));
  const date = Date.parse(v);
  return Number.isFinite(date) ? Math.max(0, Math.ceil((date - now) / 1000)) : undefined;
}
