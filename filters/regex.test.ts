import { describe, expect, it } from "vitest";
import { RegexOptions, hasNestedQuantifier, regex } from "./regex";

const ctx = { render: (t: string) => t };
const build = (o: Record<string, unknown>) => regex.build(RegexOptions.parse({ type: "regex", ...o }), { env: {} as never, datasetId: null });
const check = (f: ReturnType<typeof build>, completion: string) => f.check({ input: {}, messages: [], completion }, ctx);

describe("regex filter", () => {
  it("must_match (default): rejects when there is no match", async () => {
    const f = build({ pattern: "^A: -?\\d+$", flags: "m" });
    expect(await check(f, "so 9 * 2 = 18\nA: 18")).toMatchObject({ pass: true, score: 1, detail: 'matched "A: 18" at 14' });
    expect(await check(f, "the answer is 18")).toMatchObject({ pass: false, score: 0, reason: "regex.no_match" });
  });

  it("must_match false: rejects when it matches", async () => {
    const f = build({ pattern: "lorem ipsum", flags: "i", must_match: false });
    expect(await check(f, "Lorem Ipsum dolor")).toMatchObject({ pass: false, reason: "regex.matched", detail: 'matched "Lorem Ipsum" at 0' });
    expect((await check(f, "real text")).pass).toBe(true);
  });

  it("matches only the first max_chars characters", async () => {
    const f = build({ pattern: "END", max_chars: 100 });
    expect((await check(f, `${"x".repeat(200)}END`)).reason).toBe("regex.no_match");
    expect((await check(build({ pattern: "END" }), `${"x".repeat(200)}END`)).pass).toBe(true);
  });

  it("refuses invalid patterns and flags at recipe time (a 400, not a crash)", () => {
    const bad = RegexOptions.safeParse({ type: "regex", pattern: "([a-z" });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toMatch(/invalid regular expression/);
    expect(bad.error?.issues[0]?.path).toEqual(["pattern"]);
    for (const flags of ["g", "y", "ii", "x"]) expect(RegexOptions.safeParse({ type: "regex", pattern: "a", flags }).success).toBe(false);
    expect(RegexOptions.safeParse({ type: "regex", pattern: "a", flags: "imsu" }).success).toBe(true);
  });

  it("refuses nested unbounded quantifiers unless allowed", () => {
    for (const p of ["(a+)+$", "(x*)*", "(\\w+\\s?)*$", "(?:a|b+){2,}", "((ab)+c)*"]) {
      expect(hasNestedQuantifier(p)).toBe(true);
      expect(RegexOptions.safeParse({ type: "regex", pattern: p }).success).toBe(false);
      expect(RegexOptions.safeParse({ type: "regex", pattern: p, allow_nested_quantifiers: true }).success).toBe(true);
    }
    for (const p of ["^A: \\d+$", "(ab)+", "[(+)]*", "\\(a+\\)+", "(\\d{3})-(\\d{4})", "(a|b)*c+"]) expect(hasNestedQuantifier(p)).toBe(false);
  });
});
