import { describe, expect, it } from "vitest";
import { RefusalOptions, refusal } from "./refusal";

const ctx = { render: (t: string) => t };
const build = (o: Record<string, unknown> = {}) => refusal.build(RefusalOptions.parse({ type: "refusal", ...o }), { env: {} as never, datasetId: null });
const check = (f: ReturnType<typeof build>, completion: string) => f.check({ input: {}, messages: [], completion }, ctx);

describe("refusal filter", () => {
  const f = build();
  it.each([
    "As an AI language model, I cannot browse the internet.",
    "I'm sorry, but I can't help with that request.",
    "I’m sorry, but I can’t assist with that.",
    "I am sorry, but I cannot provide that information.",
    "I apologize, but I am unable to comply.",
    "I cannot help with creating malware.",
    "I can't assist with that.",
    "Unfortunately, I'm unable to provide medical advice.",
    "I must respectfully decline this request.",
    "It's not appropriate for me to speculate on that.",
    "That would go against my guidelines.",
    "AS AN AI, I DO NOT HAVE FEELINGS.",
    "Hmm. I'm just an AI, so I can't know that.",
  ])("rejects %j", async (text) => {
    const r = await check(f, text);
    expect(r).toMatchObject({ pass: false, reason: "refusal.matched", score: 1 });
    expect(r.detail).toMatch(/^matched "/);
  });

  it.each([
    "Janet has 16 eggs. She eats 3 and bakes with 4, so she sells 9 for $18.\nA: 18",
    "I can't help but notice the pattern: each term doubles.",
    "I cannot stress this enough: check your units.",
    "The AI model in the story said hello.",
    "Sorry for the long answer; the result is 42.",
  ])("keeps %j", async (text) => {
    expect(await check(f, text)).toMatchObject({ pass: true, score: 0 });
  });

  it("scans only the first max_chars_scanned characters", async () => {
    const late = `${"The answer follows. ".repeat(30)}As an AI language model I add a note.`;
    expect((await check(f, late)).pass).toBe(true);
    expect((await check(build({ max_chars_scanned: 10_000 }), late)).pass).toBe(false);
  });

  it("adds patterns, or replaces the defaults", async () => {
    const extra = build({ patterns: ["\\bnope\\b"] });
    expect(await check(extra, "Nope, not doing it.")).toMatchObject({ pass: false, reason: "refusal.matched", detail: 'matched "Nope" at 0' });
    expect((await check(extra, "As an AI model...")).pass).toBe(false);
    const only = build({ patterns: ["\\bnope\\b"], replace_defaults: true });
    expect((await check(only, "As an AI model...")).pass).toBe(true);
    expect((await check(only, "nope")).pass).toBe(false);
  });

  it("accepts patterns that need the u flag", async () => {
    const f = build({ patterns: ["\\p{Emoji_Presentation}{3}"] });
    expect((await check(f, "Sure 😀😀😀")).reason).toBe("refusal.matched");
    expect((await check(f, "Sure 😀")).pass).toBe(true);
  });

  it("refuses invalid options at recipe time", () => {
    expect(RefusalOptions.safeParse({ type: "refusal", patterns: ["(unclosed"] }).success).toBe(false);
    expect(RefusalOptions.safeParse({ type: "refusal", replace_defaults: true }).success).toBe(false);
    expect(RefusalOptions.safeParse({ type: "refusal", extra: 1 }).success).toBe(false);
    expect(RefusalOptions.parse({ type: "refusal" })).toEqual({ type: "refusal", patterns: [], replace_defaults: false, max_chars_scanned: 400 });
  });
});
