import { describe, expect, it } from "vitest";
import { allSamples, api, gsm8k, gsmRecipe, newDataset, newKey, recorded, upload, waitForJob } from "./helpers";

describe("the pipeline, end to end on the local runtime", () => {
  it("runs a rejection-sampling job with the replay provider and keeps exactly the correct solutions", async () => {
    const key = await newKey();
    const ds = await newDataset(key);
    const problems = gsm8k.slice(0, 30);
    const up = await upload(key, ds, problems);
    expect(up.status).toBe(201);
    expect(up.json.rows).toBe(30);
    const created = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }) });
    expect(created.status).toBe(202);
    const job = await waitForJob(key, created.json.id);
    expect(job.status).toBe("done");
    expect(job.candidates).toMatchObject({ planned: 120, generated: 120, failed: 0 });
    expect(job.candidates.accepted + job.candidates.rejected).toBe(120);
    const expected = new Set(problems.flatMap((p) => recorded[p.question]!.filter((r) => r.is_correct).map((r) => `${p.question}\n${r.text}`)));
    const accepted = await allSamples(key, job.id, "accepted");
    const got = accepted.map((s) => `${s.input.question}\n${s.messages.at(-1).content}`);
    expect(new Set(got)).toEqual(expected);
    expect(job.candidates.accepted).toBe(accepted.length);
    expect(new Set(accepted.map((s) => s.id)).size).toBe(accepted.length);
    const rejected = await allSamples(key, job.id, "rejected");
    expect(rejected.length).toBe(job.candidates.rejected);
    expect(rejected.every((s) => s.reason?.startsWith("math_answer.") && s.filters.at(-1).pass === false)).toBe(true);
    expect(job.filters["math_answer.pass"]).toBe(accepted.length);
  });
});
