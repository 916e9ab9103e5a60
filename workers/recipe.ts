// The recipe (POST /v1/jobs) as a zod schema: the request validator, the OpenAPI document and
// the consumer all read this one definition.
import { z } from "@hono/zod-openapi";
import Mustache from "mustache";
import { FilterSpec, filterTemplates } from "../filters";
import { schemaProblems } from "../filters/json-schema";

export const DatasetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "use 1-64 chars: lowercase letters, digits, '.', '_' or '-'")
  .openapi({ example: "gsm8k-distill" });

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

export const Inputs = z.union(
  [
  z.object({ upload: z.string().startsWith("inp_") }).strict(),
  z.object({ rows: z.array(z.record(z.string(), z.unknown())).min(1).max(1000) }).strict(),
  z
    .object({
      grid: z
        .object({
          vars: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.array(Scalar).min(1).max(10_000)),
          limit: z.number().int().positive().max(1_000_000).optional(),
        })
        .strict(),
    })
    .strict(),
  ],
  { error: 'inputs must be one of {"upload": "inp_..."}, {"rows": [{...}, ...]} or {"grid": {"vars": {...}, "limit": n}}' },
);

/** Every record repeats its generator's params, schema included, so a schema stays small. */
const SCHEMA_MAX_BYTES = 16_384;

/** Structured output, in OpenAI's shape (providers translate it; see models/). */
export const ResponseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("json_object") }).strict(),
  z
    .object({
      type: z.literal("json_schema"),
      json_schema: z
        .object({
          // OpenAI's rule for the name, and Anthropic's for the tool it becomes.
          name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "use 1-64 letters, digits, '_' or '-'"),
          description: z.string().max(1000).optional(),
          schema: z.record(z.string(), z.unknown()).superRefine((schema, ctx) => {
            const bytes = new TextEncoder().encode(JSON.stringify(schema)).length;
            if (bytes > SCHEMA_MAX_BYTES) return void ctx.addIssue({ code: "custom", message: `the schema is ${bytes} bytes; at most ${SCHEMA_MAX_BYTES}` });
            // OpenAI's structured outputs and Anthropic's tool input both need an object at the root.
            if (schema.type !== "object") ctx.addIssue({ code: "custom", message: 'the top-level schema must be {"type": "object", ...}' });
            for (const problem of schemaProblems(schema)) ctx.addIssue({ code: "custom", message: problem });
          }),
          strict: z.boolean().optional(),
        })
        .strict(),
    })
    .strict(),
]);

export const GenParams = z
  .object({
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    max_tokens: z.number().int().positive().max(200_000).optional(),
    seed: z.number().int().optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
    presence_penalty: z.number().min(-2).max(2).optional(),
    frequency_penalty: z.number().min(-2).max(2).optional(),
    response_format: ResponseFormat.optional(),
  })
  .strict();

export const Generator = z
  .object({
    /** A provider the operator configured (GET /v1/providers); never a URL. */
    provider: z.string().regex(/^[a-z0-9_-]{1,32}$/),
    model: z.string().min(1).max(200),
    weight: z.number().positive().default(1),
    params: GenParams.default({}),
  })
  .strict();

export const Recipe = z
  .object({
    dataset: DatasetName,
    inputs: Inputs,
    prompt: z.object({ system: z.string().max(100_000).optional(), user: z.string().min(1).max(100_000) }).strict(),
    generators: z.array(Generator).min(1).max(16),
    candidates: z.number().int().min(1).max(16).default(1),
    /** Rejection sampling with refill: keep sampling an input until enough candidates pass. */
    until: z
      .object({
        accepted_per_input: z.number().int().min(1).max(64),
        max_candidates_per_input: z.number().int().min(1).max(256),
      })
      .strict()
      .refine((u) => u.max_candidates_per_input >= u.accepted_per_input, { message: "max_candidates_per_input must be at least accepted_per_input" })
      .optional(),
    filters: z.array(FilterSpec).max(32).default([]),
    /** `sft`: one accepted sample per record. `preference`: chosen/rejected pairs per input. */
    output: z
      .object({ kind: z.enum(["sft", "preference"]) })
      .strict()
      .default({ kind: "sft" }),
    budget_usd: z.number().positive().optional(),
    /** `live`: a call per candidate as tasks run. `batch`: provider batch APIs, half price, hours. */
    mode: z.enum(["live", "batch"]).default("live"),
    /** Output tokens the quote expects per candidate (default: each generator's max_tokens, else 400). */
    expected_output_tokens: z.number().int().positive().max(200_000).optional(),
    /** Quote only: estimate tokens and cost, create nothing. */
    dry_run: z.boolean().optional(),
  })
  .strict()
  .refine((r) => !r.until || r.until.max_candidates_per_input >= r.candidates, {
    message: "until.max_candidates_per_input must be at least candidates (the first round)",
    path: ["until", "max_candidates_per_input"],
  })
  .openapi("Recipe");
export type Recipe = z.infer<typeof Recipe>;

/**
 * Top-level fields a template needs from the input row. Sections may be absent (they render
 * empty) and names inside them refer to the section's own context, so only variables outside
 * sections are required.
 */
export function templateFields(template: string): string[] {
  const names = new Set<string>();
  const walk = (tokens: any[], depth: number) => {
    for (const t of tokens) {
      const [type, value] = t as [string, string];
      // The renderer has no partials; say so now rather than render nothing later.
      if (type === ">") throw new Error(`partials ({{> ${value}}}) are not supported; use the input row's fields`);
      if ((type === "name" || type === "&" || type === "{") && depth === 0 && value !== ".") names.add(value.split(".")[0]!);
      if (Array.isArray(t[4])) walk(t[4], depth + (type === "#" ? 1 : 0));
    }
  };
  walk(Mustache.parse(template), 0);
  return [...names];
}

/** Every template of a recipe with where it sits, for error messages. */
export function recipeTemplates(r: Recipe): { path: string; template: string }[] {
  const out = [{ path: "prompt.user", template: r.prompt.user }];
  if (r.prompt.system) out.push({ path: "prompt.system", template: r.prompt.system });
  r.filters.forEach((f, i) => filterTemplates(f).forEach((t) => out.push({ path: `filters.${i}`, template: t })));
  return out;
}

/** Grid input i: mixed-radix decomposition over the variables, so no row is ever stored. */
export function gridRow(vars: Record<string, (string | number | boolean)[]>, i: number): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  let rest = i;
  for (const [name, values] of Object.entries(vars)) {
    row[name] = values[rest % values.length];
    rest = Math.floor(rest / values.length);
  }
  return row;
}

export function gridSize(vars: Record<string, unknown[]>): number {
  return Object.values(vars).reduce((n, v) => n * v.length, 1);
}
