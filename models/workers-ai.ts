// Workers AI through the `AI` binding: no URL and no key, the binding is the account's own. It
// is optional (see README): without an [ai] binding in wrangler.toml there is no `env.AI`, and
// the provider is simply not configured.
import { estimateTokens, finite } from "./http";
import { ProviderError, type ChatRequest, type ChatResult, type Provider, type ResponseFormat } from "./types";

/** The one method of the AI binding used here; the real binding's overloads all fit it. */
export interface WorkersAI {
  run(model: string, inputs: Record<string, unknown>): Promise<unknown>;
}

export function workersAIProvider(opts: { name: string; ai: WorkersAI; timeoutMs: number }): Provider {
  return {
    name: opts.name,
    kind: "workers-ai",
    supports: { responseFormat: true },
    async chat(req: ChatRequest): Promise<ChatResult> {
      const p = req.params;
      const inputs = {
        messages: req.messages,
        // The binding's default (256) cuts most worked solutions short; same default as Anthropic's.
        max_tokens: p.max_tokens ?? 1024,
        ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
        ...(p.top_p !== undefined ? { top_p: p.top_p } : {}),
        ...(p.seed !== undefined ? { seed: p.seed } : {}),
        ...(p.presence_penalty !== undefined ? { presence_penalty: p.presence_penalty } : {}),
        ...(p.frequency_penalty !== undefined ? { frequency_penalty: p.frequency_penalty } : {}),
        ...(p.response_format ? { response_format: aiResponseFormat(p.response_format) } : {}),
      };
      let out: any;
      try {
        out = await withTimeout(opts.ai.run(req.model, inputs), opts.timeoutMs, opts.name);
      } catch (e) {
        throw e instanceof ProviderError ? e : aiError(opts.name, e);
      }
      // With response_format the binding hands back the parsed object rather than its text.
      const response = out?.response;
      let text = typeof response === "string" ? response : response !== null && typeof response === "object" ? JSON.stringify(response) : undefined;
      if (text === undefined) throw new ProviderError("malformed_response", `${opts.name}: result has no response`, true);
      // The text-generation models take no stop sequences, so they are applied to the answer.
      if (p.stop !== undefined) {
        const cut = Math.min(...(Array.isArray(p.stop) ? p.stop : [p.stop]).map((s) => (s ? text!.indexOf(s) : -1)).filter((i) => i >= 0));
        if (Number.isFinite(cut)) text = text.slice(0, cut);
      }
      // No finish reason: the binding does not report one.
      return {
        text,
        inputTokens: finite(out.usage?.prompt_tokens) ?? estimateTokens(req.messages.map((m) => m.content).join("\n")),
        outputTokens: finite(out.usage?.completion_tokens) ?? estimateTokens(text),
      };
    },
  };
}

/** Workers AI takes OpenAI's shape except that `json_schema` is the schema itself. */
function aiResponseFormat(rf: ResponseFormat) {
  return rf.type === "json_object" ? { type: "json_object" } : { type: "json_schema", json_schema: rf.json_schema.schema };
}

/** A binding call cannot be aborted; the caller stops waiting for it instead. */
async function withTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProviderError("timeout", `${name}: no response within ${ms} ms`, true)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Workers AI's documented internal codes and their HTTP status
 * (developers.cloudflare.com/workers-ai/platform/errors), plus 5006/3010, the input-validation
 * errors the binding reports for a bad request.
 */
const AI_ERRORS: Record<number, { code: string; status: number }> = {
  3003: { code: "incomplete_request", status: 400 },
  3006: { code: "request_too_large", status: 413 },
  3007: { code: "timeout", status: 408 },
  3008: { code: "aborted", status: 408 },
  3010: { code: "invalid_input", status: 400 },
  3023: { code: "account_blocked", status: 403 },
  3036: { code: "quota_exhausted", status: 429 },
  3039: { code: "finetune_incomplete", status: 400 },
  3040: { code: "capacity", status: 429 },
  3041: { code: "model_not_allowed", status: 403 },
  3042: { code: "invalid_model", status: 404 },
  5004: { code: "invalid_data", status: 400 },
  5005: { code: "lora_unsupported", status: 405 },
  5006: { code: "invalid_input", status: 400 },
  5007: { code: "no_such_model", status: 400 },
  5016: { code: "model_agreement", status: 403 },
  5018: { code: "model_not_allowed", status: 403 },
  5019: { code: "deprecated_sdk", status: 405 },
};

/**
 * The binding throws `InferenceUpstreamError("3040: Capacity temporarily exceeded...")`, and the
 * message may arrive prefixed ("AiError: ", "InferenceUpstreamError: "): the number is the stable
 * part. Capacity, timeouts and rate limits are worth another try; 3036 (the daily free allocation
 * is used up) is a 429 too, but trying again today cannot help. Anything unrecognised is upstream
 * trouble (Cloudflare's own "error code: 1031", a dropped connection) and is tried again.
 */
export function aiError(provider: string, e: unknown): ProviderError {
  const message = String((e as Error)?.message ?? e).slice(0, 500);
  const n = Number(/\b(\d{4})\s*:/.exec(message)?.[1]);
  const known = AI_ERRORS[n];
  const text = `${provider}: ${message}`;
  if (known) {
    const retryable = known.code === "capacity" || known.status === 408;
    return new ProviderError(known.code, text, retryable, known.status);
  }
  if (/rate.?limit|too many requests/i.test(message)) return new ProviderError("rate_limited", text, true, 429);
  // The model could not satisfy the schema: a property of the schema, not of the moment.
  if (/JSON Mode couldn't be met/i.test(message)) return new ProviderError("response_format_unmet", text, false);
  return new ProviderError("upstream_error", text, true);
}
