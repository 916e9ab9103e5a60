import { estimateTokens } from "./openai";
import { ProviderError, parseRetryAfter, type ChatRequest, type ChatResult, type Provider } from "./types";

/**
 * Anthropic's Messages API. The system prompt is a top-level field, `max_tokens` is required,
 * and overload is reported as 529: all of it retryable like OpenAI's 429/5xx.
 */
export function anthropicProvider(opts: { name: string; baseUrl: string; apiKey?: string; timeoutMs: number }): Provider {
  // Accept both conventions: the SDK's base (https://api.anthropic.com) and one ending in /v1.
  const base = opts.baseUrl.replace(/\/+$/, "");
  const url = `${base.endsWith("/v1") ? base : `${base}/v1`}/messages`;
  return {
    name: opts.name,
    async chat(req: ChatRequest): Promise<ChatResult> {
      const system = req.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
      const p = req.params;
      const body = {
        model: req.model,
        max_tokens: p.max_tokens ?? 1024,
        ...(system ? { system } : {}),
        messages: req.messages.filter((m) => m.role !== "system"),
        ...(p.temperature !== undefined ? { temperature: Math.min(1, p.temperature) } : {}),
        ...(p.top_p !== undefined ? { top_p: p.top_p } : {}),
        ...(p.stop !== undefined ? { stop_sequences: Array.isArray(p.stop) ? p.stop : [p.stop] } : {}),
      };
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
            "x-winnow-candidate": String(req.candidate),
            ...(opts.apiKey ? { "x-api-key": opts.apiKey } : {}),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (e) {
        const err = e as Error;
        if (err.name === "TimeoutError" || err.name === "AbortError") throw new ProviderError("timeout", `${opts.name}: no response within ${opts.timeoutMs} ms`, true);
        throw new ProviderError("network", `${opts.name}: ${err.message}`, true);
      }
      const text = await res.text().catch(() => "");
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        if (res.ok) throw new ProviderError("malformed_response", `${opts.name}: response is not JSON: ${text.slice(0, 120)}`, true, res.status);
      }
      if (!res.ok) {
        const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
        const message = json?.error?.message ?? (text.slice(0, 200) || res.statusText);
        throw new ProviderError(res.status === 429 ? "rate_limited" : `http_${res.status}`, `${opts.name} ${res.status}: ${message}`.slice(0, 500), retryable, res.status, parseRetryAfter(res.headers));
      }
      const parts = Array.isArray(json?.content) ? json.content.filter((c: any) => c?.type === "text" && typeof c.text === "string") : null;
      if (!parts?.length) throw new ProviderError("malformed_response", `${opts.name}: response has no text content`, true, res.status);
      const out = parts.map((c: any) => c.text).join("");
      return {
        text: out,
        inputTokens: Number.isFinite(json.usage?.input_tokens) ? json.usage.input_tokens : estimateTokens(JSON.stringify(body.messages)),
        outputTokens: Number.isFinite(json.usage?.output_tokens) ? json.usage.output_tokens : estimateTokens(out),
        finishReason: json.stop_reason ?? undefined,
      };
    },
  };
}
