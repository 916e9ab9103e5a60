import type { WorkersAI } from "../models/workers-ai";
import type { TaskMessage } from "../queues/task";

/** The one environment every handler sees: bindings from wrangler.toml, vars and secrets. */
export interface Env {
  DB: D1Database;
  BUCKET: R2Bucket;
  TASKS: Queue<TaskMessage>;
  THROTTLE: DurableObjectNamespace<import("./limits/model-throttle").ModelThrottle>;
  RATE_LIMITER: DurableObjectNamespace<import("./limits/rate-limiter").RateLimiter>;
  API_RATE_LIMIT_PER_MIN?: string;
  /** Batch mode: seconds between polls of a submitted provider batch. */
  BATCH_POLL_SECONDS?: string;
  /** OpenAI-compatible endpoint, e.g. https://api.openai.com/v1. Empty: provider not configured. */
  OPENAI_BASE_URL?: string;
  OPENAI_API_KEY?: string;
  ANTHROPIC_BASE_URL?: string;
  ANTHROPIC_API_KEY?: string;
  /** More OpenAI-compatible endpoints by name, JSON: {"vllm": {"base_url": "...", "api_key_secret": "VLLM_API_KEY"}}. */
  OPENAI_ENDPOINTS?: string;
  /** The Workers AI binding, when wrangler.toml has an [ai] section (provider "workers-ai"). */
  AI?: WorkersAI;
  /** Bearer token for POST /v1/keys. Unset: key creation is disabled. */
  ADMIN_TOKEN?: string;
  TASK_LEASE_SECONDS?: string;
  PROVIDER_TIMEOUT_MS?: string;
  /** Operator price overrides, JSON: {"model": {"input": usdPer1M, "output": usdPer1M}}. */
  MODEL_PRICES?: string;
  /** Records one release compile step handles per invocation (default 100,000; compile-step.ts). */
  RELEASE_STEP_RECORDS?: string;
  /** "1": count D1, R2, Queue and Durable Object operations and log one `[meter]` line per invocation (bench/cost). */
  METER_PLATFORM?: string;
  /** "1": serve the bench-only routes (workers/bench-seed.ts) to the admin token; never set it in production. */
  BENCH_ROUTES?: string;
}

export type AppContext = { Bindings: Env; Variables: { keyId: string | null; rateLimitPerMin: number | null } };

export function intVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
