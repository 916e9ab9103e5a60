import { describe, expect, it } from "vitest";
import { coalesce } from "./object-sink";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const concat = (parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

describe("coalesce: the chunks an R2 body stream is written in", () => {
  it("joins runs of small chunks into pieces of about the size, passes large ones through, and keeps every byte in order", () => {
    const big = bytes(10, 9);
    const chunks = [bytes(3, 1), bytes(3, 2), bytes(3, 3), big, bytes(2, 4), bytes(7, 5), bytes(1, 6)];
    const out = [...coalesce(chunks, 8)];
    expect(out.map((c) => c.byteLength)).toEqual([9, 10, 9, 1]);
    expect(out[1]).toBe(big); // not copied
    expect(concat(out)).toEqual(concat(chunks));
  });

  it("hands over a lone chunk as it is, and nothing for nothing", () => {
    const one = bytes(5, 7);
    expect([...coalesce([one], 8)][0]).toBe(one);
    expect([...coalesce([], 8)]).toEqual([]);
  });
});
