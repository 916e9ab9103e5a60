// Operator-configured providers. A recipe names one of these; it can never supply a URL, so
// the Worker only ever calls hosts the operator set in vars and secrets.
import type { Env } from "../workers/env";
import { intVar } from "../workers/env";
import { anthropicProvider } from "./anthropic";
import { anthropicBatchClient } from "./anthropic-batch";
import type { BatchClient } from "./batch";
import { openAIBatchClient } from "./openai-batch";
import { openAIProvider } from "./openai";
import { replayProvider } from "./replay";
import type { Provider } from "./types";
import { workersAIProvider } from "./workers-ai";

export function configuredProviders(env: Env): string[] {
  const names = ["replay"];
  if (env.OPENAI_BASE_URL) names.push("openai");
  if (env.ANTHROPIC_BASE_URL || env.ANTHROPIC_API_KEY) names.push("anthropic");
  if (env.AI) names.push("workers-ai");
  names.push(...namedEndpoints(env).keys());
  return names;
}

/** A named OpenAI-compatible endpoint from OPENAI_ENDPOINTS. */
export interface Endpoint {
  baseUrl: string;
  /** The name of the secret holding its key (never the key itself); none for keyless servers. */
  apiKeySecret?: string;
}

const BUILT_IN = new Set(["replay", "openai", "anthropic", "workers-ai"]);
const parsedEndpoints = new Map<string, Map<string, Endpoint>>();

/**
 * OPENAI_ENDPOINTS, e.g. {"vllm": {"base_url": "http://10.0.0.5:8000/v1", "api_key_secret":
 * "VLLM_API_KEY"}}, parsed once per isolate. A bad entry is logged and left out rather than
 * taking the other providers down with it.
 */
export function namedEndpoints(env: { OPENAI_ENDPOINTS?: string }): Map<string, Endpoint> {
  const raw = env.OPENAI_ENDPOINTS ?? "";
  let endpoints = parsedEndpoints.get(raw);
  if (endpoints) return endpoints;
  endpoints = new Map();
  if (raw.trim()) {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (e) {
      console.error(`OPENAI_ENDPOINTS is not JSON; no named endpoints (${(e as Error).message})`);
    }
    if (json !== undefined && (json === null || typeof json !== "object" || Array.isArray(json)))
      console.error('OPENAI_ENDPOINTS must be an object: {"name": {"base_url": "https://...", "api_key_secret": "SECRET_NAME"}}');
    else if (json)
      for (const [name, spec] of Object.entries(json)) {
        const parsed = parseEndpoint(name, spec);
        if (typeof parsed === "string") console.error(`OPENAI_ENDPOINTS: ignoring "${name}": ${parsed}`);
        else endpoints.set(name, parsed);
      }
  }
  parsedEndpoints.set(raw, endpoints);
  return endpoints;
}

/** The endpoint, or what is wrong with it. */
function parseEndpoint(name: string, spec: unknown): Endpoint | string {
  if (!/^[a-z0-9_-]{1,32}$/.test(name)) return "names are 1-32 lowercase letters, digits, '_' or '-'";
  if (BUILT_IN.has(name)) return "that name belongs to a built-in provider";
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) return 'needs {"base_url": ..., "api_key_secret"?: ...}';
  const { base_url, api_key_secret, ...rest } = spec as Record<string, unknown>;
  // A key written inline here would sit in wrangler.toml in plain text.
  const extra = Object.keys(rest);
  if (extra.length) return `unknown field ${extra.map((k) => `"${k}"`).join(", ")}; a key goes in a secret named by "api_key_secret"`;
  let url: URL;
  try {
    url = new URL(String(base_url));
  } catch {
    return '"base_url" is not a URL';
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return '"base_url" must be http(s)';
  if (url.username || url.password || url.search || url.hash) return '"base_url" may not carry credentials, a query or a fragment';
  if (api_key_secret !== undefined) {
    if (typeof api_key_secret !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(api_key_secret)) return '"api_key_secret" must be the name of a secret';
    // The one secret that must never leave the Worker.
    if (api_key_secret === "ADMIN_TOKEN") return '"api_key_secret" may not be ADMIN_TOKEN';
  }
  return { baseUrl: String(base_url), ...(api_key_secret ? { apiKeySecret: api_key_secret as string } : {}) };
}

export function getProvider(env: Env, name: string): Provider | null {
  const timeoutMs = intVar(env.PROVIDER_TIMEOUT_MS, 60_000);
  switch (name) {
    case "openai":
      return env.OPENAI_BASE_URL ? openAIProvider({ name, baseUrl: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY, timeoutMs }) : null;
    case "anthropic":
      return env.ANTHROPIC_BASE_URL || env.ANTHROPIC_API_KEY
        ? anthropicProvider({ name, baseUrl: env.ANTHROPIC_BASE_URL || "https://api.anthropic.com", apiKey: env.ANTHROPIC_API_KEY, timeoutMs })
        : null;
    case "replay":
      return replayProvider();
    case "workers-ai":
      return env.AI ? workersAIProvider({ name, ai: env.AI, timeoutMs }) : null;
    default: {
      const ep = namedEndpoints(env).get(name);
      if (!ep) return null;
      const key = ep.apiKeySecret ? (env as unknown as Record<string, unknown>)[ep.apiKeySecret] : undefined;
      return openAIProvider({ name, baseUrl: ep.baseUrl, apiKey: typeof key === "string" && key ? key : undefined, timeoutMs });
    }
  }
}

/**
 * The batch API behind a provider, for `mode: "batch"` jobs: OpenAI's Batch API and Anthropic's
 * Message Batches. Other providers (named OpenAI-compatible servers, Workers AI, replay) have none.
 */
export function getBatchClient(env: Env, name: string): BatchClient | null {
  const timeoutMs = intVar(env.PROVIDER_TIMEOUT_MS, 60_000);
  if (name === "openai" && env.OPENAI_BASE_URL) return openAIBatchClient({ name, baseUrl: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY, timeoutMs });
  if (name === "anthropic" && (env.ANTHROPIC_BASE_URL || env.ANTHROPIC_API_KEY))
    return anthropicBatchClient({ name, baseUrl: env.ANTHROPIC_BASE_URL || "https://api.anthropic.com", apiKey: env.ANTHROPIC_API_KEY, timeoutMs });
  return null;
}
