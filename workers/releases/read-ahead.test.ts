import { describe, expect, it } from "vitest";
import { readAhead } from "./read-ahead";

async function* counting(n: number, log: string[]) {
  try {
    for (let i = 0; i < n; i++) {
      log.push(`pull ${i}`);
      yield i;
    }
  } finally {
    log.push("closed");
  }
}

describe("readAhead", () => {
  it("yields every item with its result in order, with at most `depth` fetches in flight", async () => {
    let inFlight = 0;
    let most = 0;
    const fetch = async (i: number) => {
      most = Math.max(most, ++inFlight);
      // Later items finish first: the order must still be the source's.
      await new Promise((r) => setTimeout(r, (10 - i) * 2));
      inFlight--;
      return i * i;
    };
    const out: [number, number][] = [];
    for await (const pair of readAhead(counting(10, []), fetch, { depth: 3 })) out.push(pair);
    expect(out).toEqual(Array.from({ length: 10 }, (_, i) => [i, i * i]));
    expect(most).toBe(3);
  });

  it("holds no more than `bytes` ahead when items weigh something, but always fetches the next one", async () => {
    const weights = [1, 1, 5, 1, 1, 1];
    let inFlight = 0;
    const most: number[] = [];
    const fetch = async (i: number) => {
      inFlight += weights[i]!;
      most.push(inFlight);
      await new Promise((r) => setTimeout(r, 2));
      return i;
    };
    const out: number[] = [];
    for await (const [i] of readAhead(counting(weights.length, []), fetch, { depth: 4, bytes: 3, weight: (i) => weights[i]! })) {
      inFlight -= weights[i]!;
      out.push(i);
    }
    expect(out).toEqual([0, 1, 2, 3, 4, 5]);
    // The 5-byte item is fetched alone (nothing else held), and never beside others past 3 bytes.
    expect(Math.max(...most.filter((n, k) => k !== 2))).toBeLessThanOrEqual(3);
    expect(most[2]).toBe(5);
  });

  it("closes the source when the consumer stops early, and drops the unused results' errors", async () => {
    const log: string[] = [];
    const fetch = async (i: number) => {
      if (i > 0) throw new Error(`unused ${i}`);
      return i;
    };
    for await (const [i] of readAhead(counting(100, log), fetch, { depth: 4 })) if (i === 0) break;
    expect(log).toEqual(["pull 0", "pull 1", "pull 2", "pull 3", "closed"]);
  });

  it("passes on the error of a result the consumer reaches", async () => {
    const fetch = async (i: number) => {
      if (i === 2) throw new Error("bad 2");
      return i;
    };
    const seen: number[] = [];
    await expect(async () => {
      for await (const [i] of readAhead(counting(5, []), fetch, { depth: 2 })) seen.push(i);
    }).rejects.toThrow("bad 2");
    expect(seen).toEqual([0, 1]);
  });
});
