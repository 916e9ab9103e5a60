import { z } from "zod";
import { defineFilter } from "./define";
import type { Filter } from "./types";

export const LengthOptions = z
  .object({
    type: z.literal("length"),
    min_chars: z.number().int().nonnegative().default(1),
    max_chars: z.number().int().positive().default(100_000),
  })
  .strict()
  .refine((o) => o.min_chars <= o.max_chars, { message: "min_chars must not exceed max_chars" });

/** Rejects completions that are too short to teach anything or too long to be useful. */
export function lengthFilter(opts: z.infer<typeof LengthOptions>): Filter {
  return {
    name: "length",
    check({ completion }) {
      const n = completion.trim().length;
      if (n < opts.min_chars) return { pass: false, score: n, reason: "length.too_short", detail: `${n} chars < ${opts.min_chars}` };
      if (n > opts.max_chars) return { pass: false, score: n, reason: "length.too_long", detail: `${n} chars > ${opts.max_chars}` };
      return { pass: true, score: n, detail: `${n} chars` };
    },
  };
}

export const length = defineFilter({ type: "length", options: LengthOptions, build: lengthFilter });
