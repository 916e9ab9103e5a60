import { describe, expect, it } from "vitest";
import { Aimd } from "./aimd";

describe("AIMD concurrency", () => {
  it("shares the limit between active consumers, never below one permit each", () => {
    const a = new Aimd({ initial: 12, min: 1, max: 64, staleMs: 60_000 });
    expect(a.acquire("c1", 0).permits).toBe(12);
    expect(a.acquire("c2", 0).permits).toBe(6);
    for (let i = 3; i <= 20; i++) a.acquire(`c${i}`, 0);
    expect(a.acquire("c21", 0).permits).toBe(1);
  });

  it("halves once per congestion event and pauses everyone for the retry-after", () => {
    const a = new Aimd({ initial: 16, min: 1, max: 64, staleMs: 60_000 });
    a.acquire("c1", 0);
    a.acquire("c2", 0);
    a.report("c1", { ok: 3, limited: 2, retryAfterSeconds: 4 }, 10_000);
    a.report("c2", { ok: 0, limited: 5 }, 10_200); // the same burst: no second cut
    expect(a.limit).toBe(8);
    expect(a.acquire("c3", 12_000)).toMatchObject({ permits: 0, waitSeconds: 2 });
    expect(a.acquire("c3", 14_000).permits).toBe(8);
    a.report("c3", { ok: 0, limited: 1 }, 20_000);
    expect(a.limit).toBe(4);
  });

  it("grows by about one per round of successes, up to the max", () => {
    const a = new Aimd({ initial: 4, min: 1, max: 6, staleMs: 60_000 });
    a.report("c1", { ok: 4, limited: 0 }, 0);
    expect(a.limit).toBe(5);
    for (let i = 0; i < 10; i++) a.report("c1", { ok: 100, limited: 0 }, 0);
    expect(a.limit).toBe(6);
  });

  it("forgets consumers that never reported (crashed invocations)", () => {
    const a = new Aimd({ initial: 10, min: 1, max: 64, staleMs: 1800 });
    a.acquire("dead", 0);
    expect(a.acquire("live", 500).permits).toBe(5);
    expect(a.acquire("live2", 2000).permits).toBe(5);
  });
});
