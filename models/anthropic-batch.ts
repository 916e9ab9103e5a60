import { anthropicHeaders, anthropicV1, parseAnthropicMessage, toAnthropicBody } from "./anthropic";
import { checkLines, readResultLines, type BatchClient, type BatchLine, type BatchResults, type BatchStatus } from "./batch";
import { finite, getJson, getText, postJson, statusError } from "./http";
import { ProviderError, type ChatResult } from "./types";

/** The HTTP status each Anthropic error type comes with, so line errors sort like direct calls. */
const ERROR_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** Anthropic's Message Batches API: the requests go up inline, the results come back as JSONL. */
export function anthropicBatchClient(opts: { name: string; baseUrl: string; apiKey?: string; timeoutMs: number }): BatchClient {
  const v1 = anthropicV1(opts.baseUrl);
  const headers = anthropicHeaders(opts.apiKey);
  const { name, timeoutMs } = opts;
  const batchUrl = (id: string) => `${v1}/messages/batches/${encodeURIComponent(id)}`;

  return {
    provider: name,

    async submit(lines: BatchLine[]) {
      checkLines(name, lines);
      const requests = lines.map((l) => ({ custom_id: l.custom_id, params: toAnthropicBody(l.request) }));
      const batch = await postJson(name, `${v1}/messages/batches`, headers, { requests }, timeoutMs);
      if (typeof batch?.id !== "string") throw new ProviderError("malformed_response", `${name}: batch creation answered without an id`, true);
      return { id: batch.id };
    },

    async status(id: string): Promise<BatchStatus> {
      return toStatus(name, id, await getJson(name, batchUrl(id), headers, timeoutMs));
    },

    async results(id: string): Promise<BatchResults> {
      const batch = await getJson(name, batchUrl(id), headers, timeoutMs);
      const status = toStatus(name, id, batch);
      if (status.state !== "ended") throw new ProviderError("batch_not_ended", `${name}: batch ${id} is still ${status.detail}`, true);
      // results_url is where the API says the file is; the key is only ever sent to the configured host.
      const url = sameOrigin(batch.results_url, v1) ? batch.results_url : `${batchUrl(id)}/results`;
      const out: BatchResults = new Map();
      readResultLines(name, await getText(name, url, headers, timeoutMs), (line) => resultLine(name, line), out);
      return out;
    },

    async cancel(id: string) {
      await postJson(name, `${batchUrl(id)}/cancel`, headers, {}, timeoutMs);
    },
  };
}

function toStatus(provider: string, id: string, batch: any): BatchStatus {
  const detail = batch?.processing_status;
  if (typeof detail !== "string") throw new ProviderError("malformed_response", `${provider}: batch ${id} has no processing_status`, true);
  const c = batch.request_counts;
  const n = (v: unknown) => finite(v) ?? 0;
  const failed = n(c?.errored) + n(c?.expired) + n(c?.canceled);
  return {
    id,
    // in_progress and canceling still change; ended is final.
    state: detail === "ended" ? "ended" : "in_progress",
    detail,
    ...(c ? { counts: { total: n(c.processing) + n(c.succeeded) + failed, succeeded: n(c.succeeded), failed } } : {}),
  };
}

function sameOrigin(url: unknown, base: string): url is string {
  try {
    return typeof url === "string" && new URL(url).origin === new URL(base).origin;
  } catch {
    return false;
  }
}

/**
 * One result line. Errors carry Anthropic's error envelope, sorted by its type as the same error
 * on a direct call would be; expired and canceled lines never ran and may run in a later batch.
 */
function resultLine(provider: string, line: any): ChatResult | ProviderError {
  const r = line.result;
  switch (r?.type) {
    case "succeeded": {
      // A batch line has no request at hand: a forced tool (structured output) shows in the message.
      const tool = Array.isArray(r.message?.content) ? r.message.content.find((c: any) => c?.type === "tool_use")?.name : undefined;
      return parseAnthropicMessage(provider, r.message, typeof tool === "string" ? tool : undefined);
    }
    case "errored": {
      const e = r.error?.error ?? r.error;
      return statusError(provider, ERROR_STATUS[e?.type] ?? 500, typeof e?.message === "string" ? e.message : String(e?.type ?? "errored"));
    }
    case "expired":
    case "canceled":
      return new ProviderError(`batch_${r.type}`, `${provider}: the line was ${r.type} before it ran`, true);
    default:
      return new ProviderError("malformed_response", `${provider}: unknown batch result type ${JSON.stringify(r?.type)}`, true);
  }
}
