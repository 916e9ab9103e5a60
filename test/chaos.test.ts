// The same GSM8K job against a well-behaved teacher and against one that rate-limits, errors,
// hangs and cuts bodies off (the fake's chaos-gsm8k model, see test/fake-openai.mjs): at-least-
// once delivery, retries and leases must turn that into exactly the same data, counted once.
//
// chaos-gsm8k draws each outcome from a hash of (prompt, candidate, earlier asks of that slot),
// so the faults are the same on every run, and it only ever fails the first 3 asks of a slot:
// the consumer's 4 attempts (MAX_ATTEMPTS) always suffice, so no candidate may end failed. For
// problems 60–119 × 4 candidates that is 31 429s, 14 500s, 5 hangs and 3 truncated bodies.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { allSamples, api, gsm8k, gsmRecipe, newDataset, newKey, upload, waitForJob } from "./helpers";

const PROBLEMS = gsm8k.slice(60, 120);
const CANDIDATES = 4;

async function fakeRequests(model: string): Promise<number> {
  const stats = (await (await fetch(`${env.FAKE_CONTROL_URL}/__stats`)).json()) as { byModel: Record<string, number> };
  return stats.byModel[model] ?? 0;
}

async function run(key: string, model: string) {
  const ds = await newDataset(key);
  const up = await upload(key, ds, PROBLEMS);
  expect(up.status, up.text).toBe(201);
  const created = await api("/v1/jobs", {
    method: "POST",
    key,
    json: gsmRecipe(ds, { upload: up.json.id }, { candidates: CANDIDATES, generators: [{ provider: "openai", model }] }),
  });
  expect(created.status, created.text).toBe(202);
  const job = await waitForJob(key, created.json.id, 100_000);
  const samples = { accepted: [] as any[], rejected: [] as any[], failed: [] as any[] };
  for (const status of ["accepted", "rejected", "failed"] as const) samples[status] = await allSamples(key, job.id, status);
  return { job, samples };
}

/** What the job is judged on: which candidate of which input was kept, and its text. */
const acceptedSet = (accepted: any[]) => new Set(accepted.map((s) => `${s.input_index}/${s.candidate}\n${s.messages.at(-1).content}`));

describe("chaos: a misbehaving teacher yields the same data as a well-behaved one", () => {
  it(
    "accounts for every candidate once, keeps the identical accepted set, and adds up tokens and cost",
    async () => {
      const key = await newKey("chaos");
      const calm = await run(key, "gsm8k-replay");
      const before = await fakeRequests("chaos-gsm8k");
      const chaos = await run(key, "chaos-gsm8k");
      // The faults really happened: the chaos teacher was asked more often than there are slots.
      const planned = PROBLEMS.length * CANDIDATES;
      expect(await fakeRequests("chaos-gsm8k")).toBeGreaterThan(before + planned);

      for (const { job, samples } of [calm, chaos]) {
        const c = job.candidates;
        expect(job.status).toBe("done");
        expect(c.planned).toBe(planned);
        expect(c.generated + c.failed).toBe(planned);
        expect(c.accepted + c.rejected + c.failed).toBe(planned);
        expect(c.failed, JSON.stringify(samples.failed.slice(0, 3).map((s) => s.error))).toBe(0);
        expect([samples.accepted.length, samples.rejected.length, samples.failed.length]).toEqual([c.accepted, c.rejected, c.failed]);

        const all = [...samples.accepted, ...samples.rejected, ...samples.failed];
        const slots = all.map((s) => `${s.input_index}/${s.candidate}`);
        expect(new Set(slots).size).toBe(slots.length);
        expect(slots.length).toBe(planned);

        const sum = (f: (s: any) => number) => all.reduce((n, s) => n + f(s), 0);
        expect(job.tokens).toEqual({ input: sum((s) => s.usage.input_tokens), output: sum((s) => s.usage.output_tokens) });
        expect(job.cost_usd).toBeCloseTo(sum((s) => s.usage.cost_usd), 9);
      }

      expect(acceptedSet(chaos.samples.accepted)).toEqual(acceptedSet(calm.samples.accepted));
      expect(chaos.samples.accepted.length).toBeGreaterThan(0);
      // Same prompts and answers, so the same tokens: a failed attempt is never billed.
      expect(chaos.job.tokens).toEqual(calm.job.tokens);
    },
    120_000,
  );
});
