// Preference output: chosen/rejected pairs per input, compiled into the release's `pairs` config.
import { describe, expect, it } from "vitest";
import { api, gsm8k, gsmRecipe, newDataset, newKey, recorded, upload, waitForJob } from "./helpers";

async function gunzipLines(res: Response): Promise<any[]> {
  const text = await new Response(res.body!.pipeThrough(new DecompressionStream("gzip"))).text();
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

async function releasePairs(key: string, ds: string) {
  const rel = await api(`/v1/datasets/${ds}/releases`, { method: "POST", key });
  expect(rel.status).toBe(201);
  const files = rel.json.files.filter((f: any) => f.config === "pairs" && f.format === "jsonl");
  // The same pairs are in Parquet too, row for row.
  expect(rel.json.files.filter((f: any) => f.config === "pairs" && f.format === "parquet").map((f: any) => f.rows)).toEqual(files.map((f: any) => f.rows));
  const pairs: any[] = [];
  const { SELF } = await import("cloudflare:test");
  for (const f of files) {
    const res = await SELF.fetch(`http://winnow.test/v1/datasets/${ds}/releases/${rel.json.version}/files/${f.path}`, { headers: { authorization: `Bearer ${key}` } });
    pairs.push(...(await gunzipLines(res)));
  }
  return { manifest: rel.json, pairs };
}

async function run(problems: number, over: Record<string, unknown>) {
  const key = await newKey();
  const ds = await newDataset(key);
  const up = await upload(key, ds, gsm8k.slice(0, problems));
  const created = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(ds, { upload: up.json.id }, { output: { kind: "preference" }, ...over }) });
  expect(created.status).toBe(202);
  const job = await waitForJob(key, created.json.id, 60_000);
  expect(job.status).toBe("done");
  return { key, ds, job };
}

describe("preference output", () => {
  it("pairs an accepted with a rejected candidate of the same input", async () => {
    const n = 20;
    const { key, ds } = await run(n, { candidates: 4 });
    const { manifest, pairs } = await releasePairs(key, ds);
    const mixed = gsm8k.slice(0, n).filter((p) => {
      const rs = recorded[p.question]!;
      return rs.some((r) => r.is_correct) && rs.some((r) => !r.is_correct);
    });
    expect(pairs).toHaveLength(mixed.length);
    expect(manifest.counts.pairs).toBe(mixed.length);
    for (const p of pairs) {
      const rs = recorded[p.input.question]!;
      expect(rs.find((r) => r.text === p.chosen[0].content)?.is_correct).toBe(true);
      expect(rs.find((r) => r.text === p.rejected[0].content)?.is_correct).toBe(false);
      expect(p.prompt.map((m: any) => m.role)).toEqual(["system", "user"]);
      expect(p.chosen_meta.status).toBe("accepted");
      expect(p.rejected_meta.reason).toMatch(/^math_answer\./);
    }
  });

  it("carries a rejected candidate into the refill that finds an accepted one (until)", async () => {
    const n = 12;
    const { key, ds } = await run(n, { candidates: 1, until: { accepted_per_input: 1, max_candidates_per_input: 4 } });
    const { pairs } = await releasePairs(key, ds);
    // A pair exists exactly where the first correct recording is not the first one tried.
    const expected = gsm8k.slice(0, n).filter((p) => recorded[p.question]!.findIndex((r) => r.is_correct) > 0);
    expect(pairs.map((p) => p.input.question).sort()).toEqual(expected.map((p) => p.question).sort());
    for (const p of pairs) expect(p.chosen_meta.candidate).toBeGreaterThan(p.rejected_meta.candidate);
  });
});
