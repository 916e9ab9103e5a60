// Shared helpers for integration tests: real requests through the Worker's fetch handler,
// real D1/R2/Queues underneath.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import problems from "../examples/gsm8k/problems.jsonl?raw";
import recordings from "../examples/gsm8k/recordings.json";

export const BASE = "http://winnow.test";

export async function api(path: string, init: RequestInit & { key?: string | null; json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("authorization", `Bearer ${init.key}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const res = await SELF.fetch(BASE + path, { ...init, headers, body });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, json, text };
}

let counter = 0;
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

export async function newKey(name = "test"): Promise<string> {
  const r = await api("/v1/keys", { method: "POST", key: env.ADMIN_TOKEN, json: { name } });
  if (r.status !== 201) throw new Error(`key creation failed: ${r.status} ${r.text}`);
  return r.json.key;
}

export async function newDataset(key: string, extra: Record<string, unknown> = {}): Promise<string> {
  const name = unique("ds");
  const r = await api("/v1/datasets", { method: "POST", key, json: { name, ...extra } });
  if (r.status !== 201) throw new Error(`dataset creation failed: ${r.status} ${r.text}`);
  return name;
}

export async function upload(key: string, dataset: string, rows: unknown[] | string) {
  const body = typeof rows === "string" ? rows : rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  return api(`/v1/datasets/${dataset}/inputs`, { method: "POST", key, body, headers: { "content-type": "application/x-ndjson" } });
}

export type Problem = { question: string; answer: string };
export const gsm8k: Problem[] = (problems as string).split("\n").filter(Boolean).map((l) => JSON.parse(l));
export const recorded = recordings as Record<string, { model: string; text: string; is_correct: boolean }[]>;

export function gsmRecipe(dataset: string, inputs: unknown, over: Record<string, unknown> = {}) {
  return {
    dataset,
    inputs,
    prompt: { system: "You are a careful math tutor.", user: "Solve step by step, end with 'A: <number>'.\n\n{{question}}" },
    generators: [{ provider: "replay", model: "gsm8k-gpt3" }],
    candidates: 4,
    filters: [
      { type: "length", min_chars: 20, max_chars: 8000 },
      { type: "math_answer", reference: "{{answer}}" },
    ],
    ...over,
  };
}

/** Polls a job until it leaves queued/running (the queue consumer runs for real meanwhile). */
export async function waitForJob(key: string, id: string, timeoutMs = 45_000) {
  const start = Date.now();
  for (;;) {
    const r = await api(`/v1/jobs/${id}`, { key });
    if (r.status !== 200) throw new Error(`job poll failed: ${r.status} ${r.text}`);
    // A stopped job (cancelled, out of budget) is final only once its in-flight tasks settled.
    const stopping = r.json.status === "cancelled" || r.json.status === "budget_exhausted";
    if (!["queued", "running"].includes(r.json.status) && (!stopping || r.json.finished_at)) return r.json;
    if (Date.now() - start > timeoutMs) throw new Error(`job ${id} still ${r.json.status} after ${timeoutMs} ms: ${r.text}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function allSamples(key: string, jobId: string, status: string) {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; json: any } = await api(`/v1/jobs/${jobId}/samples?status=${status}&limit=200${cursor ? `&cursor=${cursor}` : ""}`, { key });
    if (r.status !== 200) throw new Error(`samples failed: ${r.status}`);
    out.push(...r.json.samples);
    cursor = r.json.next_cursor;
  } while (cursor);
  return out;
}
