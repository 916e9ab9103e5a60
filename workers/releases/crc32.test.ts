import { describe, expect, it } from "vitest";
import { crc32, crc32Combine } from "./crc32";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("crc32", () => {
  it("is the gzip checksum", () => {
    expect(crc32(bytes("123456789"))).toBe(0xcbf43926);
    expect(crc32(bytes(""))).toBe(0);
    expect(crc32(bytes("6789"), crc32(bytes("12345")))).toBe(0xcbf43926);
  });

  it("combines the checksums of two parts without their bytes", () => {
    for (const [a, b] of [["12345", "6789"], ["", "abc"], ["abc", ""], ["x".repeat(70_000), "y".repeat(123_457)]]) {
      expect(crc32Combine(crc32(bytes(a!)), crc32(bytes(b!)), bytes(b!).length)).toBe(crc32(bytes(a! + b!)));
    }
  });
});
