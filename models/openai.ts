import { estimateTokens, finite, postJson } from "./http";
import { ProviderError, type ChatRequest, type ChatResult, type Provider } from "./types";

/** An OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, Together, ...). */
export function openAIProvider(opts: { name: string; baseUrl: string; apiKey?: string; timeoutMs: number }): Provider {
  const url = `${opts.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  return {
    name: opts.name,
    kind: "openai",
    // response_format is OpenAI's own field, sent as is; vLLM, Ollama and Together accept it too.
    supports: { responseFormat: true },
    async chat(req: ChatRequest): Promise<ChatResult> {
      const headers: Record<string, string> = {
        // Which candidate of the input this is: real providers ignore it; the loopback fake
        // uses it to answer each slot reproducibly, whatever the order of calls.
        "x-winnow-candidate": String(req.candidate),
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      };
      const body = await postJson(opts.name, url, headers, toOpenAIBody(req), opts.timeoutMs);
      return parseOpenAIChat(opts.name, body, req.messages.map((m) => m.content).join("\n"));
    },
  };
}

/** The chat-completions request body; a batch line carries the same body. */
export function toOpenAIBody(req: Pick<ChatRequest, "model" | "messages" | "params">) {
  return { model: req.model, messages: req.messages, ...req.params };
}

/** A chat completion, from a call or a batch line; `prompt` estimates the usage a server left out. */
export function parseOpenAIChat(provider: string, body: any, prompt = ""): ChatResult {
  const choice = body?.choices?.[0];
  const text = choice?.message?.content;
  // With structured output OpenAI reports a safety refusal in its own field, content null.
  if (typeof choice?.message?.refusal === "string" && choice.message.refusal)
    throw new ProviderError("refused", `${provider}: the model refused: ${choice.message.refusal.slice(0, 300)}`, false);
  if (typeof text !== "string") throw new ProviderError("malformed_response", `${provider}: response has no choices[0].message.content`, true);
  return {
    text,
    inputTokens: finite(body.usage?.prompt_tokens) ?? estimateTokens(prompt),
    outputTokens: finite(body.usage?.completion_tokens) ?? estimateTokens(text),
    finishReason: choice.finish_reason ?? undefined,
  };
}
