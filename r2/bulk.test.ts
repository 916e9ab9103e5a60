import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deleteKeys, listKeys } from "./bulk";

describe("listKeys and deleteKeys: many objects, in R2's pages", () => {
  it("lists every key under a prefix past one page, and deletes them past one call", async () => {
    const prefix = `test/bulk-${Date.now()}/`;
    const keys = Array.from({ length: 1203 }, (_, i) => `${prefix}${String(i).padStart(5, "0")}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => env.BUCKET.put(k, "x")));
    await env.BUCKET.put(`${prefix.slice(0, -1)}-other/0`, "x"); // a sibling prefix stays out
    expect(await listKeys(env.BUCKET, prefix)).toEqual(keys);
    await deleteKeys(env.BUCKET, keys);
    expect(await listKeys(env.BUCKET, prefix)).toEqual([]);
    expect(await listKeys(env.BUCKET, `${prefix.slice(0, -1)}-other/`)).toHaveLength(1);
  });
});
