import type { TaskMessage } from "../queues/task";

/** The one environment every handler sees: bindings from wrangler.toml, vars and secrets. */
export interface Env {
  DB: D1Database;
  BUCKET: R2Bucket;
  TASKS: Queue<TaskMessage>;
  /** OpenAI-compatible endpoint, e.g. https://api.openai.com/v1. Empty: provider not configured. */
  OPENAI_BASE_URL?: string;
  OPENAI_API_KEY?: string;
  ANTHROPIC_BASE_URL?: string;
  ANTHROPIC_API_KEY?: string;
  /** Bearer token for POST /v1/keys. Unset: key creation is disabled. */
  ADMIN_TOKEN?: string;
  TASK_LEASE_SECONDS?: string;
  PROVIDER_TIMEOUT_MS?: string;
  /** Operator price overrides, JSON: {"model": {"input": usdPer1M, "output": usdPer1M}}. */
  MODEL_PRICES?: string;
}

export type AppContext = { Bindings: Env; Variables: { keyId: string | null } };

export function intVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
