import { ProviderError, parseRetryAfter } from "./types";

/**
 * One provider call over HTTP, shared by every provider client: a hard timeout, and every way it
 * can go wrong sorted into a ProviderError that says whether trying again could help. Returns
 * the parsed JSON body of a 2xx response.
 */
export async function postJson(provider: string, url: string, headers: Record<string, string>, body: unknown, timeoutMs: number): Promise<any> {
  const init = { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
  const { status, text } = await send(provider, url, init, timeoutMs);
  return parseJson(provider, text, status);
}

/** A GET whose 2xx body is JSON (a batch's status), sorted like postJson. */
export async function getJson(provider: string, url: string, headers: Record<string, string>, timeoutMs: number): Promise<any> {
  const { status, text } = await send(provider, url, { method: "GET", headers }, timeoutMs);
  return parseJson(provider, text, status);
}

/** A GET whose 2xx body is returned as text (a batch's JSONL results), sorted like postJson. */
export async function getText(provider: string, url: string, headers: Record<string, string>, timeoutMs: number): Promise<string> {
  return (await send(provider, url, { method: "GET", headers }, timeoutMs)).text;
}

/** A multipart/form-data POST (a file upload) whose 2xx body is JSON; fetch writes the boundary. */
export async function postForm(provider: string, url: string, headers: Record<string, string>, form: FormData, timeoutMs: number): Promise<any> {
  const { status, text } = await send(provider, url, { method: "POST", headers, body: form }, timeoutMs);
  return parseJson(provider, text, status);
}

/**
 * A failed status, whether it came back for a whole call or for one line of a batch: 429, 408 and
 * 5xx (Anthropic's 529 overload included) may succeed later, any other 4xx will not.
 */
export function statusError(provider: string, status: number, message: string, retryAfterSeconds?: number): ProviderError {
  const retryable = status === 429 || status === 408 || status >= 500;
  return new ProviderError(status === 429 ? "rate_limited" : `http_${status}`, `${provider} ${status}: ${message}`.slice(0, 500), retryable, status, retryAfterSeconds);
}

/** OpenAI and Anthropic both put the explanation in error.message. */
export function providerMessage(body: any): string | undefined {
  return typeof body?.error?.message === "string" ? body.error.message : typeof body?.error === "string" ? body.error : undefined;
}

async function send(provider: string, url: string, init: RequestInit, timeoutMs: number): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    // Waiting on the network is I/O, so the wall clock advances and the timeout fires.
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const err = e as Error;
    if (err.name === "TimeoutError" || err.name === "AbortError") throw new ProviderError("timeout", `${provider}: no response within ${timeoutMs} ms`, true);
    throw new ProviderError("network", `${provider}: ${err.message}`, true);
  }
  let text: string;
  try {
    // Decoded by hand: batch result files come as application/octet-stream, which workerd's
    // res.text() warns about; the bytes are UTF-8 JSON(L) either way.
    text = new TextDecoder().decode(await res.arrayBuffer());
  } catch (e) {
    throw new ProviderError("network", `${provider}: body read failed: ${(e as Error).message}`, true, res.status);
  }
  if (!res.ok) throw statusError(provider, res.status, errorMessage(text) ?? res.statusText, parseRetryAfter(res.headers));
  return { status: res.status, text };
}

function parseJson(provider: string, text: string, status: number): any {
  try {
    return JSON.parse(text);
  } catch {
    // A cut-off body is a transport glitch, not the model's answer: worth another try.
    throw new ProviderError("malformed_response", `${provider}: response is not JSON: ${text.slice(0, 120)}`, true, status);
  }
}

function errorMessage(body: string): string | undefined {
  try {
    return providerMessage(JSON.parse(body));
  } catch {
    return body.slice(0, 200) || undefined;
  }
}

/** Rough token count (~4 chars per token) for providers that report no usage. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export const finite = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
