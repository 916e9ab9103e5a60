import { estimateTokens, finite, postJson } from "./http";
import { ProviderError, type ChatRequest, type ChatResult, type Provider } from "./types";

/**
 * Anthropic's Messages API. The system prompt is a top-level field, `max_tokens` is required,
 * and overload is reported as 529: retryable like OpenAI's 429/5xx.
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
        // Anthropic's temperature range is 0..1.
        ...(p.temperature !== undefined ? { temperature: Math.min(1, p.temperature) } : {}),
        ...(p.top_p !== undefined ? { top_p: p.top_p } : {}),
        ...(p.stop !== undefined ? { stop_sequences: Array.isArray(p.stop) ? p.stop : [p.stop] } : {}),
      };
      const headers: Record<string, string> = {
        "anthropic-version": "2023-06-01",
        "x-winnow-candidate": String(req.candidate),
        ...(opts.apiKey ? { "x-api-key": opts.apiKey } : {}),
      };
      const json = await postJson(opts.name, url, headers, body, opts.timeoutMs);
      const parts = Array.isArray(json?.content) ? json.content.filter((c: any) => c?.type === "text" && typeof c.text === "string") : null;
      if (!parts?.length) throw new ProviderError("malformed_response", `${opts.name}: response has no text content`, true);
      const out = parts.map((c: any) => c.text).join("");
      return {
        text: out,
        inputTokens: finite(json.usage?.input_tokens) ?? estimateTokens(JSON.stringify(body.messages)),
        outputTokens: finite(json.usage?.output_tokens) ?? estimateTokens(out),
        finishReason: json.stop_reason ?? undefined,
      };
    },
  };
}
