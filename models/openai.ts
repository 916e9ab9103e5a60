import { estimateTokens, finite, postJson } from "./http";
import { ProviderError, type ChatRequest, type ChatResult, type Provider } from "./types";

/** An OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, Together, ...). */
export function openAIProvider(opts: { name: string; baseUrl: string; apiKey?: string; timeoutMs: number }): Provider {
  const url = `${opts.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  return {
    name: opts.name,
    async chat(req: ChatRequest): Promise<ChatResult> {
      const headers: Record<string, string> = {
        // Which candidate of the input this is: real providers ignore it; the loopback fake
        // uses it to answer each slot reproducibly, whatever the order of calls.
        "x-winnow-candidate": String(req.candidate),
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      };
      const body = await postJson(opts.name, url, headers, { model: req.model, messages: req.messages, ...req.params }, opts.timeoutMs);
      const choice = body?.choices?.[0];
      const text = choice?.message?.content;
      if (typeof text !== "string") throw new ProviderError("malformed_response", `${opts.name}: response has no choices[0].message.content`, true);
      return {
        text,
        inputTokens: finite(body.usage?.prompt_tokens) ?? estimateTokens(req.messages.map((m) => m.content).join("\n")),
        outputTokens: finite(body.usage?.completion_tokens) ?? estimateTokens(text),
        finishReason: choice.finish_reason ?? undefined,
      };
    },
  };
}
