// Rejection sampling with refill (recipe `until`), run for real through the queue.
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { db, schema } from "../workers/db";
import { allSamples, api, gsm8k, gsmRecipe, newDataset, newKey, recorded, upload, waitForJob } from "./helpers";

describe("until: keep sampling an input until enough candidates pass", () => {
  it("stops each input at its first accepted candidate, or at the cap", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const problems = gsm8k.slice(0, 12);
    const up = await upload(key, ds, problems);
    const recipe = gsmRecipe(ds, { upload: up.json.id }, { candidates: 1, until: { accepted_per_input: 1, max_candidates_per_input: 6 } });
    const created = await api("/v1/jobs", { method: "POST", key, json: recipe });
    expect(created.status).toBe(202);
    const job = await waitForJob(key, created.json.id, 60_000);
    expect(job.status).toBe("done");

    // The replay provider serves recording k mod 4 to candidate k, so an input with a correct
    // recording stops at the first one; an input with none uses all 6 candidates.
    let planned = 0;
    let accepted = 0;
    for (const p of problems) {
      const first = recorded[p.question]!.findIndex((r) => r.is_correct);
      planned += first < 0 ? 6 : first + 1;
      accepted += first < 0 ? 0 : 1;
    }
    expect(job.candidates).toMatchObject({ planned, accepted, failed: 0 });
    expect(job.candidates.accepted + job.candidates.rejected).toBe(planned);
    const samples = [...(await allSamples(key, job.id, "accepted")), ...(await allSamples(key, job.id, "rejected"))];
    expect(samples).toHaveLength(planned);
    // Every (input, candidate) slot exactly once: rounds never reuse an index.
    expect(new Set(samples.map((s) => `${s.input_index}:${s.candidate}`)).size).toBe(planned);
    const refills = await db(env).select().from(schema.tasks).where(eq(schema.tasks.jobId, job.id)).all();
    expect(refills.some((t) => t.kind === "refill")).toBe(true);
  });

  it("rejects an until whose cap is below the first round", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const r = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { rows: [{ question: "q", answer: "#### 1" }] }, { candidates: 4, until: { accepted_per_input: 1, max_candidates_per_input: 2 } }) });
    expect(r.status).toBe(400);
    expect(r.json.error.details[0].path).toBe("until.max_candidates_per_input");
  });
});
