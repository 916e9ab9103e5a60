import { francAll } from "franc-min";
import { z } from "zod";
import { defineFilter } from "./define";
import type { Filter } from "./types";

// Language identification with franc-min (trigram profiles of the 82 languages with 8M+
// speakers; ISO 639-3 codes). franc is unreliable on short text, so below `min_chars` letters
// of prose the filter passes. Before detection, what is not prose is removed: code fences, inline code,
// LaTeX math, URLs and digits (a math solution is mostly numbers, which say nothing about the
// language). Only the first `max_chars` of what remains are looked at.
//
// franc ranks languages by trigram distance, scored relative to the best (1); an allowed language
// within `tolerance` of the best passes, because short technical English often scores a hair
// below French or Hausa.
//
// When franc cannot decide ("und": no script it knows, or too little text) the `undetermined`
// policy applies: "pass" (default) or "reject" (`language.undetermined`).

/** ISO 639-1 -> the ISO 639-3 code franc-min reports, for the common languages. */
export const ISO1_TO_3: Readonly<Record<string, string>> = {
  en: "eng", es: "spa", fr: "fra", de: "deu", it: "ita", pt: "por", nl: "nld", ru: "rus", uk: "ukr",
  pl: "pol", cs: "ces", ro: "ron", hu: "hun", sv: "swe", tr: "tur", id: "ind", ms: "zlm", vi: "vie",
  tl: "tgl", sw: "swh", ha: "hau", yo: "yor", ig: "ibo", zu: "zul", so: "som", uz: "uzn", az: "azj",
  kk: "kaz", be: "bel", bg: "bul", sr: "srp", hr: "hrv", bs: "bos", ar: "arb", fa: "pes", ur: "urd",
  ps: "pbu", hi: "hin", mr: "mar", ne: "npi", bn: "ben", pa: "pan", gu: "guj", te: "tel", ta: "tam",
  kn: "kan", ml: "mal", si: "sin", my: "mya", th: "tha", zh: "cmn", ja: "jpn", ko: "kor", el: "ell",
  am: "amh", jv: "jav", su: "sun", ny: "nya", rw: "kin", ln: "lin", mg: "plt", ku: "ckb",
};

/** The codes franc-min can return (besides "und"). */
export const FRANC_MIN_LANGUAGES: ReadonlySet<string> = new Set(
  (
    "spa eng por ind fra deu jav vie ita tur pol swh sun ron hau fuv bos hrv nld srp ckb yor uzn zlm ibo ceb tgl hun azj ces run " +
    "plt qug mad nya zyb kin zul swe lin som hms hnj ilo rus ukr koi bel bul kaz arb urd pes skr pbu hin mar mai bho npi mag " +
    "cmn ben jpn kor tel tam guj kan mal mya pan amh tha sin ell"
  ).split(" "),
);

/** "en" -> "eng"; 3-letter codes pass through; unknown -> null. */
export function normaliseLanguage(code: string): string | null {
  const c = code.trim().toLowerCase();
  const three = c.length === 2 ? ISO1_TO_3[c] : c;
  return three && FRANC_MIN_LANGUAGES.has(three) ? three : null;
}

export const LanguageOptions = z
  .object({
    type: z.literal("language"),
    /** Allowed languages, ISO 639-3 ("eng") or the common ISO 639-1 codes ("en"). */
    languages: z
      .array(
        z.string().refine((c) => normaliseLanguage(c) !== null, {
          message: "unknown language code; use ISO 639-3 (eng, fra, cmn, …) or a common ISO 639-1 code (en, fr, zh, …)",
        }),
      )
      .min(1)
      .max(82)
      .default(["eng"]),
    /** Below this many letters of prose the filter passes (franc is unreliable on short text). */
    min_chars: z.number().int().nonnegative().default(50),
    /** How much prose is given to franc (its cost grows with length; 2,000 chars is plenty). */
    max_chars: z.number().int().positive().max(100_000).default(2000),
    /**
     * A near tie counts as allowed: pass when an allowed language's relative score (franc's,
     * 1 = the best) is at least 1 - tolerance. On short, number-heavy English (GSM8K solutions)
     * the runner-up English scores >= 0.94 when franc picks another language; real French or
     * German text gives English ~ 0.6.
     */
    tolerance: z.number().min(0).max(1).default(0.1),
    /** What to do when franc cannot tell. */
    undetermined: z.enum(["pass", "reject"]).default("pass"),
  })
  .strict();

export type LanguageOptions = z.infer<typeof LanguageOptions>;

/** The prose of a completion: without code, math, URLs and digits, whitespace collapsed. */
export function proseOf(text: string): string {
  return text
    .replace(/```[\s\S]*?(?:```|$)/g, " ")
    .replace(/`[^`\n]*`/g, " ")
    .replace(/\$\$[\s\S]*?\$\$|\\\[[\s\S]*?\\\]|\\\([\s\S]*?\\\)|\$[^$\n]*\$/g, " ")
    .replace(/https?:\/\/\S+/g, " ")
    .replace(/[\p{N}]+/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
}

const LETTERS = /\p{L}/gu;

/** Rejects completions that are not written in one of the allowed languages. */
export function languageFilter(opts: LanguageOptions): Filter {
  const allowed = new Set(opts.languages.map((c) => normaliseLanguage(c)!));
  const list = [...allowed].join(", ");
  return {
    name: "language",
    check({ completion }) {
      const prose = proseOf(completion.slice(0, opts.max_chars * 4)).slice(0, opts.max_chars);
      const letters = prose.match(LETTERS)?.length ?? 0;
      if (letters < opts.min_chars) return { pass: true, detail: `${letters} letters of prose < ${opts.min_chars}: not checked` };
      const ranked = francAll(prose, { minLength: 1 });
      const [detected, top] = ranked[0] ?? ["und", 0];
      if (detected === "und") {
        return opts.undetermined === "reject"
          ? { pass: false, reason: "language.undetermined", detail: "language could not be determined" }
          : { pass: true, detail: "language could not be determined" };
      }
      if (allowed.has(detected)) return { pass: true, score: top, detail: `detected ${detected}` };
      // Score: how close the best allowed language came (1 = as likely as the detected one).
      const bestAllowed = ranked.find(([code]) => allowed.has(code));
      const score = bestAllowed ? Math.round(bestAllowed[1] * 1000) / 1000 : 0;
      if (bestAllowed && score >= 1 - opts.tolerance) return { pass: true, score, detail: `detected ${detected}, but ${bestAllowed[0]} within tolerance (${score})` };
      return {
        pass: false,
        score,
        reason: "language.mismatch",
        detail: `detected ${detected}, allowed ${list}`,
      };
    },
  };
}

export const language = defineFilter({ type: "language", options: LanguageOptions, build: languageFilter });
