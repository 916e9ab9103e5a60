import { estimateTokens, finite, postJson } from "./http";
import { ProviderError, type ChatRequest, type ChatResult, type Provider, type ResponseFormat } from "./types";

/**
 * Anthropic's Messages API. The system prompt is a top-level field, `max_tokens` is required,
 * and overload is reported as 529: retryable like OpenAI's 429/5xx.
 */
export function anthropicProvider(opts: { name: string; baseUrl: string; apiKey?: string; timeoutMs: number }): Provider {
  const url = `${anthropicV1(opts.baseUrl)}/messages`;
  return {
    name: opts.name,
    kind: "anthropic",
    supports: { responseFormat: true },
    async chat(req: ChatRequest): Promise<ChatResult> {
      const body = toAnthropicBody(req);
      const headers = { ...anthropicHeaders(opts.apiKey), "x-winnow-candidate": String(req.candidate) };
      const json = await postJson(opts.name, url, headers, body, opts.timeoutMs);
      return parseAnthropicMessage(opts.name, json, body.tool_choice?.name, body.messages);
    },
  };
}

/** Accept both conventions: the SDK's base (https://api.anthropic.com) and one ending in /v1. */
export function anthropicV1(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, "");
  return base.endsWith("/v1") ? base : `${base}/v1`;
}

export function anthropicHeaders(apiKey?: string): Record<string, string> {
  return { "anthropic-version": "2023-06-01", ...(apiKey ? { "x-api-key": apiKey } : {}) };
}

/** The Messages request body; a batch request's `params` is the same body. */
export function toAnthropicBody(req: Pick<ChatRequest, "model" | "messages" | "params">) {
  const system = req.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
  const p = req.params;
  const tool = p.response_format ? structuredTool(p.response_format) : null;
  return {
    model: req.model,
    max_tokens: p.max_tokens ?? 1024,
    ...(system ? { system } : {}),
    messages: req.messages.filter((m) => m.role !== "system"),
    // Anthropic's temperature range is 0..1.
    ...(p.temperature !== undefined ? { temperature: Math.min(1, p.temperature) } : {}),
    ...(p.top_p !== undefined ? { top_p: p.top_p } : {}),
    ...(p.stop !== undefined ? { stop_sequences: Array.isArray(p.stop) ? p.stop : [p.stop] } : {}),
    ...(tool ? { tools: [tool], tool_choice: { type: "tool" as const, name: tool.name } } : {}),
  };
}

/**
 * A Messages response, from a call or a batch line: the forced tool's input when `tool` names
 * one, else the text. `messages` estimates the usage a server left out.
 */
export function parseAnthropicMessage(provider: string, json: any, tool: string | undefined, messages: unknown = []): ChatResult {
  if (tool) return toolResult(provider, json, tool, messages);
  const parts = Array.isArray(json?.content) ? json.content.filter((c: any) => c?.type === "text" && typeof c.text === "string") : null;
  if (!parts?.length) throw new ProviderError("malformed_response", `${provider}: response has no text content`, true);
  const out = parts.map((c: any) => c.text).join("");
  return {
    text: out,
    inputTokens: finite(json.usage?.input_tokens) ?? estimateTokens(JSON.stringify(messages)),
    outputTokens: finite(json.usage?.output_tokens) ?? estimateTokens(out),
    finishReason: json.stop_reason ?? undefined,
  };
}

/**
 * Anthropic has no response_format: structured output is a forced call of a tool whose
 * input_schema is the schema, and the tool's input is the answer.
 */
function structuredTool(rf: ResponseFormat): { name: string; description?: string; input_schema: Record<string, unknown> } {
  if (rf.type === "json_object") return { name: "json_object", description: "Answer with one JSON object.", input_schema: { type: "object" } };
  const { name, description, schema } = rf.json_schema;
  return { name, ...(description ? { description } : {}), input_schema: schema };
}

function toolResult(provider: string, json: any, name: string, messages: unknown): ChatResult {
  const call = Array.isArray(json?.content) ? json.content.find((c: any) => c?.type === "tool_use" && c.name === name) : undefined;
  if (!call || call.input === null || typeof call.input !== "object") {
    // Cut off mid-call: the same request would be cut off again.
    if (json?.stop_reason === "max_tokens") throw new ProviderError("max_tokens", `${provider}: max_tokens reached before the '${name}' tool call was complete`, false);
    throw new ProviderError("malformed_response", `${provider}: response has no tool_use block for '${name}'`, true);
  }
  const out = JSON.stringify(call.input);
  return {
    text: out,
    inputTokens: finite(json.usage?.input_tokens) ?? estimateTokens(JSON.stringify(messages)),
    outputTokens: finite(json.usage?.output_tokens) ?? estimateTokens(out),
    finishReason: json.stop_reason ?? undefined,
  };
}
