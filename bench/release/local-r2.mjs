// bench/release/local-r2: what one R2 operation costs under local Miniflare, the R2 that
// `wrangler dev` and the tests run against.
//
//   npm run bench:local-r2
//
// bench/release measures the compile under `wrangler dev`, where R2 is simulated inside the
// same workerd process (a Durable Object over files), so every R2 call of the compile is also
// CPU of the process being measured. This prints what a put, a get and a 32 KiB range get cost
// there, by object size, so the compile's time can be split into its own work and local R2's
// (BENCHMARKS.md, "Why 0.27×"). Times are taken inside the Worker around awaited calls.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Miniflare is wrangler's own dependency, at the version wrangler runs: resolved through it.
const require = createRequire(createRequire(import.meta.url).resolve("wrangler/package.json"));
const { Miniflare } = require("miniflare");

const script = `export default { async fetch(req, env) {
  const u = new URL(req.url);
  const size = Number(u.searchParams.get("bytes"));
  const n = Number(u.searchParams.get("n"));
  const buf = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) buf[i] = i & 255;
  let t = Date.now();
  for (let i = 0; i < n; i++) await env.B.put("k" + i, buf);
  const put = Date.now() - t;
  t = Date.now();
  for (let i = 0; i < n; i++) await (await env.B.get("k" + i)).arrayBuffer();
  const get = Date.now() - t;
  t = Date.now();
  for (let i = 0; i < n; i++) await (await env.B.get("k" + i, { range: { offset: 0, length: Math.min(size, 32768) } })).arrayBuffer();
  const range = Date.now() - t;
  return Response.json({ put, get, range });
} }`;

const persist = mkdtempSync(join(tmpdir(), "winnow-local-r2-"));
const mf = new Miniflare({ modules: true, script, r2Buckets: ["B"], r2Persist: persist });
try {
  console.log(`local R2 (miniflare ${require("miniflare/package.json").version}), ms per operation:`);
  console.log("object size | put | get (whole) | get (32 KiB range) | put MB/s | get MB/s");
  for (const [bytes, n] of [[1024, 400], [32 * 1024, 400], [136 * 1024, 250], [1 << 20, 50], [5 << 20, 10], [20 << 20, 3]]) {
    const r = await (await mf.dispatchFetch(`http://bench/?bytes=${bytes}&n=${n}`)).json();
    const mb = (bytes * n) / 1e6;
    const label = bytes >= 1 << 20 ? `${bytes >> 20} MiB` : `${bytes >> 10} KiB`;
    console.log(`${label.padStart(11)} | ${(r.put / n).toFixed(2)} | ${(r.get / n).toFixed(2)} | ${(r.range / n).toFixed(2)} | ${(mb / (r.put / 1000)).toFixed(0)} | ${(mb / (r.get / 1000)).toFixed(0)}`);
  }
} finally {
  await mf.dispose();
  rmSync(persist, { recursive: true, force: true });
}
