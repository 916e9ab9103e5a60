import { describe, expect, it } from "vitest";
import { LanguageOptions, language, normaliseLanguage, proseOf } from "./language";

const ctx = { render: (t: string) => t };
const build = (o: Record<string, unknown> = {}) => language.build(LanguageOptions.parse({ type: "language", ...o }), { env: {} as never, datasetId: null });
const check = (f: ReturnType<typeof build>, completion: string) => f.check({ input: {}, messages: [], completion }, ctx);

const english = "Janet's ducks lay sixteen eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the rest at the market.";
const french = "Les canards de Janet pondent seize œufs par jour. Elle en mange trois au petit déjeuner chaque matin et prépare des muffins pour ses amis avec quatre autres.";
const german = "Janets Enten legen jeden Tag sechzehn Eier. Sie isst jeden Morgen drei zum Frühstück und backt mit vier weiteren Muffins für ihre Freunde.";

describe("language filter (franc-min)", () => {
  it("keeps English by default and rejects French with the detected language", async () => {
    const f = build();
    expect(await check(f, english)).toMatchObject({ pass: true, detail: "detected eng" });
    const r = await check(f, french);
    expect(r).toMatchObject({ pass: false, reason: "language.mismatch", detail: "detected fra, allowed eng" });
    expect(r.score).toBeLessThan(1);
  });

  it("accepts 2-letter codes and several languages", async () => {
    const f = build({ languages: ["fr", "deu"] });
    expect((await check(f, french)).pass).toBe(true);
    expect((await check(f, german)).pass).toBe(true);
    expect(await check(f, english)).toMatchObject({ pass: false, reason: "language.mismatch", detail: "detected eng, allowed fra, deu" });
  });

  it("passes a near tie with an allowed language (tolerance)", async () => {
    // number-heavy English that franc ranks a hair below French
    const text = "She teaches days a week so that's * = << * = >> classes She teaches classes a week so she makes * = $<< * = . >> . She teaches classes on Saturday so that's * = << * = >> classes.";
    const near = await check(build(), text);
    expect(near.pass).toBe(true);
    expect(near.detail).toMatch(/^detected \w+, but eng within tolerance/);
    expect(await check(build({ tolerance: 0 }), text)).toMatchObject({ pass: false, reason: "language.mismatch" });
    expect((await check(build({ tolerance: 0.5 }), french)).pass).toBe(true);
  });

  it("passes text shorter than min_chars of prose without judging it", async () => {
    const f = build();
    expect(await check(f, "Bonjour, ça va ?")).toMatchObject({ pass: true, detail: expect.stringMatching(/not checked/) });
    // digits, code and math do not count as prose
    expect((await check(f, "A: 1234567890 1234567890 1234567890 1234567890 1234567890 $x^2 + y^2$")).pass).toBe(true);
    expect((await check(build({ min_chars: 5 }), "Les canards de Janet pondent seize œufs.")).reason).toBe("language.mismatch");
  });

  it("applies the undetermined policy when franc cannot tell", async () => {
    // Georgian: a script franc-min has no profile for
    const symbols = "ქართული ენა არის ქართველების მშობლიური ენა და საქართველოს სახელმწიფო ენა, რომელზეც ლაპარაკობს ოთხი მილიონი ადამიანი.";
    expect(await check(build(), symbols)).toMatchObject({ pass: true, detail: "language could not be determined" });
    expect(await check(build({ undetermined: "reject" }), symbols)).toMatchObject({ pass: false, reason: "language.undetermined" });
  });

  it("strips code, math, URLs and digits before detecting", () => {
    expect(proseOf("See https://x.y/z and ```js\nconst a = 1;\n``` then $a+b$ = 42 `x`.")).toBe("See and then = .");
  });

  it("validates language codes at recipe time", () => {
    expect(normaliseLanguage("EN")).toBe("eng");
    expect(normaliseLanguage("zh")).toBe("cmn");
    expect(normaliseLanguage("xx")).toBeNull();
    expect(LanguageOptions.safeParse({ type: "language", languages: ["klingon"] }).success).toBe(false);
    expect(LanguageOptions.safeParse({ type: "language", languages: [] }).success).toBe(false);
    expect(LanguageOptions.parse({ type: "language" })).toEqual({ type: "language", languages: ["eng"], min_chars: 50, max_chars: 2000, tolerance: 0.1, undetermined: "pass" });
  });
});
