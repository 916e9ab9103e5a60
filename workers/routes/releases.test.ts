import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DatasetRow } from "../datasets";
import { parseRange } from "./releases";
import { readJsonlGz, seedDataset, seedJob, seedKey, seedShard, sha256OfBytes } from "../releases/test-seed";

const BASE = "http://winnow.test";

function call(path: string, init: RequestInit & { key?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("authorization", `Bearer ${init.key}`);
  return SELF.fetch(BASE + path, { ...init, headers });
}

async function datasetWithSamples(over: Partial<DatasetRow> = {}) {
  const { keyId, secret } = await seedKey();
  const ds = await seedDataset(keyId, over);
  const job = await seedJob(ds);
  const shard = await seedShard(ds, job, [{ status: "accepted" }, { status: "rejected" }, { status: "accepted" }, { status: "accepted", owned: false }]);
  return { ds, job, secret, shard };
}

describe("release routes", () => {
  it("compiles on POST, then refuses with nothing new; lists and serves the manifest", async () => {
    const { ds, job, secret } = await datasetWithSamples();
    const created = await call(`/v1/datasets/${ds.name}/releases`, { method: "POST", key: secret });
    expect(created.status).toBe(201);
    const manifest = (await created.json()) as any;
    expect(manifest.counts.rows).toBe(2);
    const v1 = manifest.version as string;
    expect(v1).toMatch(/^\d{4}-\d{2}-\d{2}$/);

    const again = await call(`/v1/datasets/${ds.name}/releases`, { method: "POST", key: secret });
    expect(again.status).toBe(409);
    const err = (await again.json()) as any;
    expect(err.error.code).toBe("nothing_to_release");
    expect(err.error.message).toMatch(/no new accepted samples since its latest release/);

    await seedShard(ds, job, [{ status: "accepted" }]);
    const second = (await (await call(`/v1/datasets/${ds.name}/releases`, { method: "POST", key: secret })).json()) as any;
    expect(second.version).toBe(`${v1}.2`);

    const list = await call(`/v1/datasets/${ds.name}/releases`, { key: secret });
    expect(list.status).toBe(200);
    const { releases } = (await list.json()) as any;
    expect(releases.map((r: any) => [r.version, r.parent, r.rows, r.status])).toEqual([
      [`${v1}.2`, v1, 3, "published"],
      [v1, null, 2, "published"],
    ]);
    expect(releases[0].bytes).toBe(second.files.filter((f: any) => f.config === "default").reduce((n: number, f: any) => n + f.bytes, 0));
    // The second release shares the first's data files and lists every file in one call.
    expect(second.changes.shared_files.length).toBe(2);
    const all = await call(`/v1/datasets/${ds.name}/releases/${second.version}/files`, { key: secret });
    const listed = ((await all.json()) as any).files;
    expect(listed.map((f: any) => f.path)).toEqual([...second.files.map((f: any) => f.path), "manifest.json"]);
    for (const f of listed) {
      const res = await call(new URL(f.url).pathname, { key: secret });
      expect(res.status, f.path).toBe(200);
      expect((await res.arrayBuffer()).byteLength, f.path).toBe(f.bytes);
    }
    const urls = await (await call(`/v1/datasets/${ds.name}/releases/${second.version}/files?format=urls`, { key: secret })).text();
    expect(urls.trim().split("\n")).toEqual(listed.map((f: any) => f.url));

    const got = await call(`/v1/datasets/${ds.name}/releases/${v1}`, { key: secret });
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual(manifest);
    expect((await call(`/v1/datasets/${ds.name}/releases/2001-01-01`, { key: secret })).status).toBe(404);
    expect((await call(`/v1/datasets/${ds.name}/releases/latest`, { key: secret })).status).toBe(400);
  });

  it("serves files with their ETag, 304 on If-None-Match, ranges, and only what the manifest lists", async () => {
    const { ds, secret } = await datasetWithSamples();
    const m = (await (await call(`/v1/datasets/${ds.name}/releases`, { method: "POST", key: secret })).json()) as any;
    const files = `/v1/datasets/${ds.name}/releases/${m.version}/files`;
    const name0 = `data/train-${m.version}-00000.jsonl.gz`;
    const data = m.files.find((f: any) => f.path === name0);

    const res = await call(`${files}/${name0}`, { key: secret });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/gzip");
    expect(res.headers.get("content-length")).toBe(String(data.bytes));
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    const etag = res.headers.get("etag")!;
    expect(etag).toMatch(/^"/);
    const bytes = await res.arrayBuffer();
    expect(await sha256OfBytes(bytes)).toBe(data.sha256);
    expect((await readJsonlGz(bytes)).length).toBe(2);

    const cached = await call(`${files}/${name0}`, { key: secret, headers: { "if-none-match": etag } });
    expect(cached.status).toBe(304);
    expect(cached.headers.get("etag")).toBe(etag);
    expect(await cached.text()).toBe("");
    const stale = await call(`${files}/${name0}`, { key: secret, headers: { "if-none-match": '"not-it"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();

    const part = await call(`${files}/${name0}`, { key: secret, headers: { range: "bytes=2-11" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 2-11/${data.bytes}`);
    expect(part.headers.get("content-length")).toBe("10");
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(new Uint8Array(bytes.slice(2, 12)));
    const tail = await call(`${files}/${name0}`, { key: secret, headers: { range: "bytes=-8" } });
    expect(tail.status).toBe(206);
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(new Uint8Array(bytes.slice(-8)));
    const beyond = await call(`${files}/${name0}`, { key: secret, headers: { range: `bytes=${data.bytes}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe(`bytes */${data.bytes}`);

    const card = await call(`${files}/README.md`, { key: secret });
    expect(card.headers.get("content-type")).toMatch(/^text\/markdown/);
    expect(await card.text()).toMatch(/^---\n/);
    const stats = await call(`${files}/stats.json`, { key: secret });
    expect(stats.headers.get("content-type")).toBe("application/json");
    expect(((await stats.json()) as any).rows).toBe(2);
    const self = await call(`${files}/manifest.json`, { key: secret });
    expect(self.status).toBe(200);
    expect(await self.json()).toEqual(m);

    expect((await call(`${files}/data/train-${m.version}-00009.jsonl.gz`, { key: secret })).status).toBe(404);
    const dotted = await call(`${files}/data%2F..%2F..%2Fmanifest.json`, { key: secret });
    expect(dotted.status).toBe(400);
    expect(((await dotted.json()) as any).error.code).toBe("invalid_path");
  });

  it("hides a private dataset's releases from other keys and from anonymous callers", async () => {
    const { ds, secret } = await datasetWithSamples();
    const m = (await (await call(`/v1/datasets/${ds.name}/releases`, { method: "POST", key: secret })).json()) as any;
    const other = await seedKey();
    for (const path of [`/v1/datasets/${ds.name}/releases`, `/v1/datasets/${ds.name}/releases/${m.version}`, `/v1/datasets/${ds.name}/releases/${m.version}/files/README.md`]) {
      expect((await call(path, { key: other.secret })).status, path).toBe(404);
      expect((await call(path)).status, path).toBe(404);
    }
    expect((await call(`/v1/datasets/${ds.name}/releases`, { method: "POST", key: other.secret })).status).toBe(404);
    expect((await call(`/v1/datasets/${ds.name}/releases`, { method: "POST" })).status).toBe(401);
  });

  it("lets anyone read a public dataset's releases, but only the owner compile one", async () => {
    const { ds, secret } = await datasetWithSamples({ visibility: "public" });
    const m = (await (await call(`/v1/datasets/${ds.name}/releases`, { method: "POST", key: secret })).json()) as any;
    expect((await call(`/v1/datasets/${ds.name}/releases`)).status).toBe(200);
    expect((await call(`/v1/datasets/${ds.name}/releases/${m.version}`)).status).toBe(200);
    const file = await call(`/v1/datasets/${ds.name}/releases/${m.version}/files/data/train-${m.version}-00000.parquet`);
    expect(file.status).toBe(200);
    expect(file.headers.get("cache-control")).toMatch(/^public/);
    await file.arrayBuffer();
    const other = await seedKey();
    expect((await call(`/v1/datasets/${ds.name}/releases`, { method: "POST", key: other.secret })).status).toBe(404);
  });

  it("documents the routes, the file download included, in the OpenAPI document", async () => {
    const doc = (await (await call("/openapi.json")).json()) as any;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/datasets/{name}/releases",
        "/v1/datasets/{name}/releases/{version}",
        "/v1/datasets/{name}/releases/{version}/files/{path}",
      ]),
    );
  });
});

describe("parseRange", () => {
  it("reads one bytes range and ignores what it cannot serve as a range", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ offset: 0, length: 10 });
    expect(parseRange("bytes=90-", 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange("bytes=90-500", 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange("bytes=-20", 100)).toEqual({ offset: 80, length: 20 });
    expect(parseRange("bytes=-500", 100)).toEqual({ offset: 0, length: 100 });
    expect(parseRange("bytes=100-", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=-0", 100)).toBe("unsatisfiable");
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange("bytes=5-1", 100)).toBeNull();
    expect(parseRange("bytes=0-1,5-9", 100)).toBeNull();
    expect(parseRange("items=0-1", 100)).toBeNull();
  });
});
