import { checkLines, readResultLines, type BatchClient, type BatchLine, type BatchResults, type BatchStatus } from "./batch";
import { finite, getJson, getText, postForm, postJson, providerMessage, statusError } from "./http";
import { parseOpenAIChat, toOpenAIBody } from "./openai";
import { ProviderError, type ChatResult } from "./types";

const ENDPOINT = "/v1/chat/completions";
/** Statuses after which nothing more will run: results, partial or none, can be read. */
const ENDED = new Set(["completed", "failed", "expired", "cancelled"]);

/**
 * OpenAI's Batch API: the lines go up as a JSONL file, a batch runs them within 24 hours, and the
 * answers come back as two JSONL files (output and errors).
 */
export function openAIBatchClient(opts: { name: string; baseUrl: string; apiKey?: string; timeoutMs: number }): BatchClient {
  const base = opts.baseUrl.replace(/\/+$/, "");
  const headers: Record<string, string> = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};
  const { name, timeoutMs } = opts;
  const batchUrl = (id: string) => `${base}/batches/${encodeURIComponent(id)}`;
  const fileText = (id: string) => getText(name, `${base}/files/${encodeURIComponent(id)}/content`, headers, timeoutMs);

  return {
    provider: name,

    async submit(lines: BatchLine[], metadata?: Record<string, string>) {
      checkLines(name, lines);
      const jsonl = lines.map((l) => JSON.stringify({ custom_id: l.custom_id, method: "POST", url: ENDPOINT, body: toOpenAIBody(l.request) })).join("\n") + "\n";
      const form = new FormData();
      form.append("purpose", "batch");
      form.append("file", new File([jsonl], "batch.jsonl", { type: "application/jsonl" }));
      const file = await postForm(name, `${base}/files`, headers, form, timeoutMs);
      if (typeof file?.id !== "string") throw new ProviderError("malformed_response", `${name}: file upload answered without an id`, true);
      const batch = await postJson(name, `${base}/batches`, headers, { input_file_id: file.id, endpoint: ENDPOINT, completion_window: "24h", ...(metadata ? { metadata } : {}) }, timeoutMs);
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
      const out: BatchResults = new Map();
      // Errors first, so a line that somehow appears in both files keeps its completion.
      for (const fileId of [batch.error_file_id, batch.output_file_id]) {
        if (typeof fileId === "string" && fileId) readResultLines(name, await fileText(fileId), (line) => resultLine(name, line), out);
      }
      if (batch.status === "failed" && typeof batch.input_file_id === "string") {
        // Validation failed and nothing ran: give every line the reason, so each failed candidate
        // records why rather than a bare "missing from the results".
        const first = batch.errors?.data?.[0];
        const why = new ProviderError("batch_failed", `${name}: batch ${id} failed: ${first?.message ?? first?.code ?? "no reason given"}`.slice(0, 500), true);
        readResultLines(name, await fileText(batch.input_file_id), () => why, out);
      }
      return out;
    },

    async cancel(id: string) {
      await postJson(name, `${batchUrl(id)}/cancel`, headers, {}, timeoutMs);
    },
  };
}

function toStatus(provider: string, id: string, batch: any): BatchStatus {
  const detail = batch?.status;
  if (typeof detail !== "string") throw new ProviderError("malformed_response", `${provider}: batch ${id} has no status`, true);
  const c = batch.request_counts;
  const n = (v: unknown) => finite(v) ?? 0;
  return {
    id,
    // validating, in_progress, finalizing and cancelling all still change.
    state: ENDED.has(detail) ? "ended" : "in_progress",
    detail,
    ...(c ? { counts: { total: n(c.total), succeeded: n(c.completed), failed: n(c.failed) } } : {}),
  };
}

/**
 * One line of the output or error file: a response with its HTTP status (sorted like a direct
 * call's), or, for a line that never ran, an error object (`batch_expired`, ...) that is worth
 * another try in a later batch.
 */
function resultLine(provider: string, line: any): ChatResult | ProviderError {
  const res = line.response;
  if (typeof res?.status_code === "number") {
    if (res.status_code === 200) return parseOpenAIChat(provider, res.body);
    return statusError(provider, res.status_code, providerMessage(res.body) ?? "request failed in the batch");
  }
  const code = typeof line.error?.code === "string" ? line.error.code : "batch_line_error";
  return new ProviderError(code, `${provider}: ${line.error?.message ?? "no response for this line"}`.slice(0, 500), true);
}
