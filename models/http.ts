import { ProviderError, parseRetryAfter } from "./types";

/**
 * One provider call over HTTP, shared by every provider client: a hard timeout, and every way it
 * can go wrong sorted into a ProviderError that says whether trying again could help. Returns
 * the parsed JSON body of a 2xx response.
 */
export async function postJson(provider: string, url: string, headers: Record<string, string>, body: unknown, timeoutMs: number): Promise<any> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      // Waiting on the network is I/O, so the wall clock advances and this fires.
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const err = e as Error;
    if (err.name === "TimeoutError" || err.name === "AbortError") throw new ProviderError("timeout", `${provider}: no response within ${timeoutMs} ms`, true);
    throw new ProviderError("network", `${provider}: ${err.message}`, true);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    throw new ProviderError("network", `${provider}: body read failed: ${(e as Error).message}`, true, res.status);
  }
  if (!res.ok) {
    // OpenAI and Anthropic both put the explanation in error.message.
    const message = errorMessage(text) ?? res.statusText;
    const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
    throw new ProviderError(
      res.status === 429 ? "rate_limited" : `http_${res.status}`,
      `${provider} ${res.status}: ${message}`.slice(0, 500),
      retryable,
      res.status,
      parseRetryAfter(res.headers),
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    // A cut-off body is a transport glitch, not the model's answer: worth another try.
    throw new ProviderError("malformed_response", `${provider}: response is not JSON: ${text.slice(0, 120)}`, true, res.status);
  }
}

function errorMessage(body: string): string | undefined {
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

export const finite = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
