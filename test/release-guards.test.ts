// Dedup and decontamination at release compile: the final authority over what consumers let
// through (here: duplicates the generation-time filter could not see, and benchmark text).
import { describe, expect, it } from "vitest";
import { api, gsm8k, gsmRecipe, newDataset, newKey, upload, waitForJob } from "./helpers";

async function job(key: string, ds: string, uploadId: string, filters: unknown[]) {
  const created = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: uploadId }, { filters }) });
  expect(created.status, created.text).toBe(202);
  return waitForJob(key, created.json.id);
}

describe("release compile as the authority on dedup and decontamination", () => {
  it("drops duplicates across jobs that each passed dedup alone, and counts them", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const up = await upload(key, ds, gsm8k.slice(0, 5));
    const filters = [{ type: "math_answer", reference: "{{answer}}" }];
    // Two jobs over the same problems with the same recorded answers, without dedup at
    // generation: the release's pass must remove every second copy.
    const a = await job(key, ds, up.json.id, filters);
    const b = await job(key, ds, up.json.id, [...filters, { type: "dedup", near: 0.85 }]);
    expect(a.candidates.accepted).toBeGreaterThan(0);
    const rel = await api(`/v1/datasets/${ds}/releases`, { method: "POST", key });
    expect(rel.status).toBe(201);
    const removed = rel.json.counts.removed_at_compile;
    expect(removed.dedup_exact + removed.dedup_near).toBeGreaterThanOrEqual(b.candidates.accepted);
    expect(rel.json.counts.rows).toBeLessThanOrEqual(a.candidates.accepted);
  });

  it("decontaminates: GSM8K test problems as prompts never reach a release that asked for it", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const up = await upload(key, ds, gsm8k.slice(0, 4));
    const j = await job(key, ds, up.json.id, [{ type: "decontaminate" }]);
    expect(j.candidates.accepted).toBe(0);
    expect(j.filters["decontaminate.overlap"]).toBe(16);
  });
});
