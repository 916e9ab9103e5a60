// Operator-configured providers. A recipe names one of these; it can never supply a URL, so
// the Worker only ever calls hosts the operator set in vars and secrets.
import type { Env } from "../workers/env";
import { intVar } from "../workers/env";
import { anthropicProvider } from "./anthropic";
import { openAIProvider } from "./openai";
import { replayProvider } from "./replay";
import type { Provider } from "./types";

export function configuredProviders(env: Env): string[] {
  const names = ["replay"];
  if (env.OPENAI_BASE_URL) names.push("openai");
  if (env.ANTHROPIC_BASE_URL || env.ANTHROPIC_API_KEY) names.push("anthropic");
  return names;
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
    default:
      return null;
  }
}
