import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { gzipJsonl, readGzipJsonl } from "./records";

// Multiple chunks of gzip, so a reader that stops early leaves the source mid-stream.
async function bigGzip(n: number): Promise<Uint8Array> {
  return gzipJsonl(Array.from({ length: n }, (_, i) => ({ i, text: `row ${i} `.repeat(40) + Math.random() })));
}

function chunked(bytes: Uint8Array, onCancel: () => void): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + 4096));
      at += 4096;
    },
    cancel: onCancel,
  });
}

describe("readGzipJsonl", () => {
  it("reads every line", async () => {
    const rows: { i: number }[] = [];
    for await (const r of readGzipJsonl<{ i: number }>(chunked(await bigGzip(3000), () => {}))) rows.push(r);
    expect(rows.map((r) => r.i)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  });

  it("cancels its source when the reader stops early", async () => {
    // The cancel travels back through both pipes asynchronously.
    let cancelled = false;
    for await (const r of readGzipJsonl<{ i: number }>(chunked(await bigGzip(3000), () => (cancelled = true)))) if (r.i === 10) break;
    for (let i = 0; i < 100 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
    expect(cancelled).toBe(true);
  });

  it("cancels an R2 body when the reader stops early", async () => {
    await env.BUCKET.put("test/records/big.jsonl.gz", await bigGzip(5000));
    const obj = await env.BUCKET.get("test/records/big.jsonl.gz");
    let n = 0;
    for await (const _ of readGzipJsonl(obj!.body)) if (++n === 5) break;
    expect(obj!.body.locked).toBe(true);
    // The same key can be read again in full afterwards.
    const again = await env.BUCKET.get("test/records/big.jsonl.gz");
    let m = 0;
    for await (const _ of readGzipJsonl(again!.body)) m++;
    expect(m).toBe(5000);
  });
});
