// Human data in releases, the two model-collapse guards that need it:
//   - human rows (the dataset's `human_upload`) mixed into the `default` config as SFT records
//     with synthetic_depth 0 and generator `human`, so a release can keep a share of them;
//   - a human reference set (`reference_upload`) that each release's drift is measured against.
import { eq } from "drizzle-orm";
import * as keys from "../../r2/keys";
import type { Message } from "../../filters/types";
import { db, schema } from "../db";
import type { Env } from "../env";
import { hex } from "../ids";
import type { CandidateRecord } from "../records";
import { readUploadRows, ROWS_PER_CHUNK } from "../uploads";
import { ReferenceBuilder, type ReferenceProfile } from "./drift";

/** An upload's rows, a chunk at a time. */
async function* uploadRows(env: Env, uploadId: string): AsyncGenerator<{ index: number; row: Record<string, unknown> }> {
  const up = await db(env).select({ rows: schema.uploads.rows }).from(schema.uploads).where(eq(schema.uploads.id, uploadId)).get();
  if (!up) throw new Error(`upload ${uploadId} no longer exists`);
  for (let start = 0; start < up.rows; start += ROWS_PER_CHUNK) {
    const rows = await readUploadRows(env, uploadId, start, Math.min(ROWS_PER_CHUNK, up.rows - start));
    for (let i = 0; i < rows.length; i++) yield { index: start + i, row: rows[i]! };
  }
}

/** A human row as chat messages: `messages`, or `prompt` + `completion`; null when it is neither. */
export function humanMessages(row: Record<string, unknown>): Message[] | null {
  if (Array.isArray(row.messages)) {
    const ok = row.messages.every((m) => m && typeof m === "object" && typeof (m as Message).role === "string" && typeof (m as Message).content === "string");
    return ok && row.messages.length ? (row.messages as Message[]).map((m) => ({ role: m.role, content: m.content })) : null;
  }
  if (typeof row.prompt === "string" && typeof row.completion === "string")
    return [
      { role: "user", content: row.prompt },
      { role: "assistant", content: row.completion },
    ];
  return null;
}

/** The human upload's rows as release records (rows of another shape are skipped). */
export async function* humanRecords(env: Env, uploadId: string, now: Date): AsyncGenerator<CandidateRecord> {
  for await (const { index, row } of uploadRows(env, uploadId)) {
    const messages = humanMessages(row);
    if (!messages) continue;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${uploadId}:${index}`)));
    yield {
      id: `hum_${hex(digest.slice(0, 12).buffer)}`,
      job: "",
      task: "",
      input_index: index,
      candidate: 0,
      status: "accepted",
      messages,
      input: row,
      generator: { provider: "human", model: uploadId, params: {} },
      filters: [],
      usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
      lineage: { job: "", recipe_sha256: "", prompt_sha256: "", synthetic_depth: 0 },
      created_at: now.toISOString(),
    };
  }
}

/** Reference text of a row: `text`, else the assistant turns of `messages`, else `completion`. */
function referenceText(row: Record<string, unknown>): string | null {
  if (typeof row.text === "string") return row.text;
  const messages = humanMessages(row);
  if (messages) return messages.filter((m) => m.role === "assistant").map((m) => m.content).join("\n") || null;
  return null;
}

/** The reference set's drift profile, built once per upload and kept in R2. */
export async function referenceProfile(env: Env, datasetId: string, uploadId: string): Promise<ReferenceProfile> {
  const key = keys.referenceProfile(datasetId, uploadId);
  const cached = await env.BUCKET.get(key);
  if (cached) return (await cached.json()) as ReferenceProfile;
  // Streamed: the profile's size is bounded, whatever the reference set's.
  const builder = new ReferenceBuilder();
  for await (const { row } of uploadRows(env, uploadId)) {
    const t = referenceText(row);
    if (t) builder.add(t);
  }
  const profile = builder.finish();
  await env.BUCKET.put(key, JSON.stringify(profile));
  return profile;
}
