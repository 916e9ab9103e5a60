import { ProviderError, parseRetryAfter, type ChatRequest, type ChatResult, type Provider } from "./types";

/**
 * An OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, Together, ...): plain
 * fetch, a hard timeout per call, and errors sorted into retryable or not.
 */
export function openAIProvider(opts: { name: string; baseUrl: string; apiKey?: string; timeoutMs: number }): Provider {
  const url = `${opts.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  return {
    name: opts.name,
    async chat(req: ChatRequest): Promise<ChatResult> {
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            // Which candidate of the input this is: real providers ignore it; the loopback fake
            // uses it to answer each slot reproducibly, whatever the order of calls.
            "x-winnow-candidate": String(req.candidate),
            ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
          },
          body: JSON.stringify({ model: req.model, messages: req.messages, ...req.params }),
          // Waiting on the network is I/O, so the wall clock advances and this fires.
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (e) {
        const err = e as Error;
        if (err.name === "TimeoutError" || err.name === "AbortError")
          throw new ProviderError("timeout", `${opts.name}: no response within ${opts.timeoutMs} ms`, true);
        throw new ProviderError("network", `${opts.name}: ${err.message}`, true);
      }
      let bodyText: string;
      try {
        bodyText = await res.text();
      } catch (e) {
        throw new ProviderError("network", `${opts.name}: body read failed: ${(e as Error).message}`, true, res.status);
      }
      if (!res.ok) {
        const message = providerMessage(bodyText) ?? res.statusText;
        const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
        throw new ProviderError(
          res.status === 429 ? "rate_limited" : `http_${res.status}`,
          `${opts.name} ${res.status}: ${message}`.slice(0, 500),
          retryable,
          res.status,
          parseRetryAfter(res.headers),
        );
      }
      let body: any;
      try {
        body = JSON.parse(bodyText);
      } catch {
        throw new ProviderError("malformed_response", `${opts.name}: response is not JSON: ${bodyText.slice(0, 120)}`, true, res.status);
      }
      const choice = body?.choices?.[0];
      const text = choice?.message?.content;
      if (typeof text !== "string")
        throw new ProviderError("malformed_response", `${opts.name}: response has no choices[0].message.content`, true, res.status);
      return {
        text,
        inputTokens: num(body.usage?.prompt_tokens) ?? estimateTokens(req.messages.map((m) => m.content).join("\n")),
        outputTokens: num(body.usage?.completion_tokens) ?? estimateTokens(text),
        finishReason: choice.finish_reason ?? undefined,
      };
    },
  };
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function providerMessage(body: string): string | undefined {
  try {
    const j = JSON.parse(body);
    return typeof j?.error?.message === "string" ? j.error.message : typeof j?.error === "string" ? j.error : undefined;
  } catch {
    return body.slice(0, 200) || undefined;
  }
}

/** Rough token count (~4 chars per token) for providers that report no usage. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
