// Tenancy, route by route: another key sees exactly what it would see for an id that does not
// exist (a 404 with the same body), a caller without a key gets a 401 (only public datasets'
// releases are readable anonymously), and usage never mixes keys. test/api.test.ts and
// workers/routes/releases.test.ts check some routes' statuses; this covers every route, the
// bodies, public datasets' write routes and usage with two active keys.
import { beforeAll, describe, expect, it } from "vitest";
import { api, gsm8k, gsmRecipe, newDataset, newKey, unique, upload, waitForJob } from "./helpers";

type Res = Awaited<ReturnType<typeof api>>;

interface Tenant {
  key: string;
  dataset: string;
  uploadId: string;
  jobId: string;
  model: string;
}

/** A key with a dataset, an upload and a finished job on an OpenAI-served model of its own name. */
async function tenant(visibility: "private" | "public", problems: number): Promise<Tenant> {
  const key = await newKey(unique("tenant"));
  const dataset = await newDataset(key, { visibility });
  const up = await upload(key, dataset, gsm8k.slice(0, problems));
  expect(up.status, up.text).toBe(201);
  const model = unique("tenant-model");
  const created = await api("/v1/jobs", {
    method: "POST",
    key,
    json: gsmRecipe(dataset, { upload: up.json.id }, { candidates: 2, generators: [{ provider: "openai", model }] }),
  });
  expect(created.status, created.text).toBe(202);
  const job = await waitForJob(key, created.json.id);
  expect(job.status).toBe("done");
  return { key, dataset, uploadId: up.json.id, jobId: job.id, model };
}

async function release(t: Tenant): Promise<{ version: string; file: string }> {
  const r = await api(`/v1/datasets/${t.dataset}/releases`, { method: "POST", key: t.key });
  expect(r.status, r.text).toBe(201);
  return { version: r.json.version, file: r.json.files.find((f: { path: string }) => f.path.startsWith("data/")).path };
}

/** A 404 that says no more than the same request for an id nobody has. */
function expectSame404(theirs: Res, missing: Res, theirId: string, missingId: string) {
  expect(theirs.status, theirs.text).toBe(404);
  expect(missing.status, missing.text).toBe(404);
  expect(theirs.json?.error?.code).toBe("not_found");
  expect(theirs.headers.get("content-type")).toBe(missing.headers.get("content-type"));
  expect(theirs.text.split(theirId).join("<id>")).toBe(missing.text.split(missingId).join("<id>"));
}

let a: Tenant; // private dataset
let pub: Tenant & { release: { version: string; file: string } }; // a third key's public dataset
let b: Tenant;
let aRelease: { version: string; file: string };

beforeAll(async () => {
  a = await tenant("private", 4);
  aRelease = await release(a);
  const p = await tenant("public", 3);
  pub = { ...p, release: await release(p) };
  b = await tenant("private", 2);
}, 120_000);

type Call = { method?: string; path: string; json?: unknown; body?: string; headers?: Record<string, string> };

// Each case: a request on one of A's resources, given the resource's id (or name), so the same
// request can be made with an id that does not exist.
const privateCases: [string, () => { id: string; missing: string; call: (id: string) => Call }][] = [
  ["GET /v1/datasets/{name}", () => ({ id: a.dataset, missing: unique("nope"), call: (n) => ({ path: `/v1/datasets/${n}` }) })],
  [
    "POST /v1/datasets/{name}/inputs",
    () => ({ id: a.dataset, missing: unique("nope"), call: (n) => ({ method: "POST", path: `/v1/datasets/${n}/inputs`, body: '{"question":"x"}\n', headers: { "content-type": "application/x-ndjson" } }) }),
  ],
  ["POST /v1/jobs (their dataset)", () => ({ id: a.dataset, missing: unique("nope"), call: (n) => ({ method: "POST", path: "/v1/jobs", json: gsmRecipe(n, { upload: b.uploadId }) }) })],
  ["POST /v1/jobs (their upload)", () => ({ id: a.uploadId, missing: "inp_00000000000000000000", call: (u) => ({ method: "POST", path: "/v1/jobs", json: gsmRecipe(b.dataset, { upload: u }) }) })],
  ["GET /v1/jobs/{id}", () => ({ id: a.jobId, missing: "job_00000000000000000000", call: (j) => ({ path: `/v1/jobs/${j}` }) })],
  ["POST /v1/jobs/{id}/cancel", () => ({ id: a.jobId, missing: "job_00000000000000000000", call: (j) => ({ method: "POST", path: `/v1/jobs/${j}/cancel` }) })],
  ...(["accepted", "rejected", "failed"] as const).map(
    (s) => [`GET /v1/jobs/{id}/samples?status=${s}`, () => ({ id: a.jobId, missing: "job_00000000000000000000", call: (j: string) => ({ path: `/v1/jobs/${j}/samples?status=${s}` }) })] as [string, () => { id: string; missing: string; call: (id: string) => Call }],
  ),
  ["GET /v1/datasets/{name}/releases", () => ({ id: a.dataset, missing: unique("nope"), call: (n) => ({ path: `/v1/datasets/${n}/releases` }) })],
  ["GET /v1/datasets/{name}/releases/{version}", () => ({ id: a.dataset, missing: unique("nope"), call: (n) => ({ path: `/v1/datasets/${n}/releases/${aRelease.version}` }) })],
  ...["manifest.json", "README.md", "stats.json", "<data>"].map(
    (f) =>
      [
        `GET /v1/datasets/{name}/releases/{version}/files/${f}`,
        () => ({ id: a.dataset, missing: unique("nope"), call: (n: string) => ({ path: `/v1/datasets/${n}/releases/${aRelease.version}/files/${f === "<data>" ? aRelease.file : f}` }) }),
      ] as [string, () => { id: string; missing: string; call: (id: string) => Call }],
  ),
  ["POST /v1/datasets/{name}/releases", () => ({ id: a.dataset, missing: unique("nope"), call: (n) => ({ method: "POST", path: `/v1/datasets/${n}/releases` }) })],
];

const send = (c: Call, key: string | null) => api(c.path, { method: c.method ?? "GET", key, json: c.json, body: c.body, headers: c.headers });

describe("another key's private resources: a 404 identical to a missing id's", () => {
  it.each(privateCases)("%s", async (_name, make) => {
    const { id, missing, call } = make();
    expectSame404(await send(call(id), b.key), await send(call(missing), b.key), id, missing);
  });

  it("and the owner still gets them", async () => {
    for (const [name, make] of privateCases.filter(([n]) => n.startsWith("GET"))) {
      const { id, call } = make();
      expect((await send(call(id), a.key)).status, name).toBe(200);
    }
  });

  it("a public dataset does not make its jobs or samples readable by another key", async () => {
    for (const path of [`/v1/jobs/${pub.jobId}`, `/v1/jobs/${pub.jobId}/samples?status=accepted`]) {
      const missing = "job_00000000000000000000";
      expectSame404(await send({ path }, b.key), await send({ path: path.replace(pub.jobId, missing) }, b.key), pub.jobId, missing);
    }
    const missing = "job_00000000000000000000";
    expectSame404(
      await send({ method: "POST", path: `/v1/jobs/${pub.jobId}/cancel` }, b.key),
      await send({ method: "POST", path: `/v1/jobs/${missing}/cancel` }, b.key),
      pub.jobId,
      missing,
    );
  });
});

describe("without a key", () => {
  // Reads of datasets and their releases are open to anonymous callers (public ones only); everything else needs a key.
  it.each(privateCases.filter(([n]) => !n.startsWith("GET /v1/datasets")))("%s → 401", async (_name, make) => {
    const { id, call } = make();
    const r = await send(call(id), null);
    expect(r.status, r.text).toBe(401);
    expect(r.json.error.code).toBe("unauthorized");
  });

  it("the key-only routes without an id → 401", async () => {
    for (const c of [{ path: "/v1/usage" }, { path: "/v1/datasets" }, { method: "POST", path: "/v1/datasets", json: { name: unique("x") } }, { method: "POST", path: "/v1/filters/check", json: {} }]) {
      const r = await send(c, null);
      expect(r.status, c.path).toBe(401);
      expect(r.json.error.code).toBe("unauthorized");
    }
  });

  it("a private dataset and its releases read anonymously are a 404 identical to a missing one's", async () => {
    for (const [name, make] of privateCases.filter(([n]) => n.startsWith("GET /v1/datasets"))) {
      const { id, missing, call } = make();
      const theirs = await send(call(id), null);
      expect(theirs.status, name).toBe(404);
      expectSame404(theirs, await send(call(missing), null), id, missing);
    }
  });
});

describe("a public dataset's releases", () => {
  const readPaths = () => [
    `/v1/datasets/${pub.dataset}`,
    `/v1/datasets/${pub.dataset}/releases`,
    `/v1/datasets/${pub.dataset}/releases/${pub.release.version}`,
    `/v1/datasets/${pub.dataset}/releases/${pub.release.version}/files/manifest.json`,
    `/v1/datasets/${pub.dataset}/releases/${pub.release.version}/files/README.md`,
    `/v1/datasets/${pub.dataset}/releases/${pub.release.version}/files/${pub.release.file}`,
  ];

  it("are readable by another key and without a key, the same bytes the owner gets", async () => {
    for (const path of readPaths()) {
      const owner = await send({ path }, pub.key);
      expect(owner.status, path).toBe(200);
      for (const key of [b.key, null]) {
        const r = await send({ path }, key);
        expect(r.status, path).toBe(200);
        expect(r.text, path).toBe(owner.text);
      }
    }
  });

  it("are not writable: another key gets a 404, no key a 401, and nothing changes", async () => {
    const before = (await send({ path: `/v1/datasets/${pub.dataset}/releases` }, pub.key)).json.releases;
    const writes: Call[] = [
      { method: "POST", path: `/v1/datasets/${pub.dataset}/releases` },
      { method: "POST", path: `/v1/datasets/${pub.dataset}/inputs`, body: '{"question":"x"}\n', headers: { "content-type": "application/x-ndjson" } },
      { method: "POST", path: "/v1/jobs", json: gsmRecipe(pub.dataset, { upload: b.uploadId }) },
      { method: "POST", path: "/v1/jobs", json: gsmRecipe(b.dataset, { upload: pub.uploadId }) },
    ];
    for (const c of writes) {
      expect((await send(c, b.key)).status, `${c.method} ${c.path}`).toBe(404);
      expect((await send(c, null)).status, `${c.method} ${c.path}`).toBe(401);
    }
    // Methods the API does not have are not a way in either.
    for (const method of ["PUT", "PATCH", "DELETE"]) {
      for (const path of readPaths()) {
        expect((await send({ method, path }, b.key)).status, `${method} ${path}`).toBe(404);
        expect((await send({ method, path }, null)).status, `${method} ${path}`).toBe(401);
      }
    }
    expect((await send({ path: `/v1/datasets/${pub.dataset}/releases` }, pub.key)).json.releases).toEqual(before);
    expect((await send({ path: `/v1/datasets/${pub.dataset}` }, pub.key)).json.counts).toMatchObject({ jobs: 1, uploads: 1 });
  });
});

describe("GET /v1/usage", () => {
  async function jobFigures(t: Tenant, key = t.key) {
    return (await api(`/v1/jobs/${t.jobId}`, { key })).json;
  }

  it("shows each key only its own jobs' figures, never the other's", async () => {
    const ub = await api("/v1/usage", { key: b.key });
    expect(ub.status).toBe(200);
    const jb = await jobFigures(b);
    expect(ub.json.totals).toMatchObject({
      input_tokens: jb.tokens.input,
      output_tokens: jb.tokens.output,
      candidates: jb.candidates.planned,
      accepted: jb.candidates.accepted,
      jobs: 1,
    });
    expect(ub.json.by_model_day.map((r: { model: string }) => r.model)).toEqual([`openai/${b.model}`]);

    // The same for the other two keys.
    const ua = await api("/v1/usage", { key: a.key });
    const ja = await jobFigures(a);
    expect(ua.json.totals).toMatchObject({ input_tokens: ja.tokens.input, candidates: ja.candidates.planned, jobs: 1 });
    expect(ua.json.by_model_day.map((r: { model: string }) => r.model)).toEqual([`openai/${a.model}`]);
    const up = await api("/v1/usage", { key: pub.key });
    expect(up.json.by_model_day.map((r: { model: string }) => r.model)).toEqual([`openai/${pub.model}`]);
  });

  it("has no parameter that reaches another key's figures", async () => {
    const own = (await api("/v1/usage", { key: b.key })).json;
    for (const q of [`?key=${a.key}`, `?key_id=${a.key}`, `?dataset=${a.dataset}`, `?job=${a.jobId}`]) {
      const r = await api(`/v1/usage${q}`, { key: b.key });
      if (r.status === 200) expect(r.json, q).toEqual(own);
      else expect(r.status, q).toBe(400);
    }
  });
});
