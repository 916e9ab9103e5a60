import { Validator, type Schema, type SchemaDraft } from "@cfworker/json-schema";
import { z } from "zod";
import { defineFilter } from "./define";
import type { Filter } from "./types";

// The completion must be JSON that validates against a JSON Schema. Validation uses
// @cfworker/json-schema, which interprets the schema (ajv compiles it to code with
// `new Function`, which workerd refuses).
//
// Extraction (`extract`): "whole" parses the trimmed completion; "fence" parses the first
// ```json (or bare ```) fence; "auto" (default) tries the whole text, then the first fence, then
// the outermost {...} or [...] span, so "Here you go: {...}" still counts.
//
// The schema is checked when the recipe is validated, as far as the library allows without a
// meta-schema: it must be an object or a boolean, `type` must name JSON types, `pattern` and
// `patternProperties` must compile, `required` must be strings, and a trial validation must not
// throw (an unresolvable local `$ref` does).

const TYPES = new Set(["array", "boolean", "integer", "null", "number", "object", "string"]);

/** Problems with a schema, by JSON pointer; empty when it looks usable. */
export function schemaProblems(schema: unknown, draft: SchemaDraft = "2020-12"): string[] {
  const problems: string[] = [];
  const walk = (s: unknown, at: string, depth: number) => {
    if (problems.length >= 10) return;
    if (depth > 64) return void problems.push(`${at || "/"}: schema nested too deeply`);
    if (typeof s === "boolean") return;
    if (s === null || typeof s !== "object" || Array.isArray(s)) return void problems.push(`${at || "/"}: a schema must be an object or a boolean`);
    const o = s as Record<string, unknown>;
    if ("type" in o) {
      const ts = Array.isArray(o.type) ? o.type : [o.type];
      if (!ts.length || !ts.every((t) => typeof t === "string" && TYPES.has(t))) problems.push(`${at}/type: must be one of ${[...TYPES].join(", ")}`);
    }
    if ("required" in o && !(Array.isArray(o.required) && o.required.every((r) => typeof r === "string"))) problems.push(`${at}/required: must be an array of strings`);
    const patterns: [string, unknown][] = [];
    if ("pattern" in o) patterns.push([`${at}/pattern`, o.pattern]);
    if (o.patternProperties && typeof o.patternProperties === "object") for (const k of Object.keys(o.patternProperties)) patterns.push([`${at}/patternProperties/${k}`, k]);
    for (const [p, src] of patterns) {
      try {
        if (typeof src !== "string") throw new Error("not a string");
        new RegExp(src, "u");
      } catch (e) {
        problems.push(`${p}: invalid pattern (${(e as Error).message})`);
      }
    }
    for (const [k, v] of Object.entries(o)) {
      if (["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"].includes(k) && v && typeof v === "object" && !Array.isArray(v)) {
        for (const [name, sub] of Object.entries(v)) walk(sub, `${at}/${k}/${name}`, depth + 1);
      } else if (["allOf", "anyOf", "oneOf", "prefixItems"].includes(k) || (k === "items" && Array.isArray(v))) {
        if (!Array.isArray(v)) problems.push(`${at}/${k}: must be an array of schemas`);
        else v.forEach((sub, i) => walk(sub, `${at}/${k}/${i}`, depth + 1));
      } else if (["not", "if", "then", "else", "items", "additionalProperties", "additionalItems", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems"].includes(k)) {
        walk(v, `${at}/${k}`, depth + 1);
      }
    }
  };
  walk(schema, "", 0);
  if (problems.length) return problems;
  try {
    const v = new Validator(schema as Schema | boolean, draft, false);
    for (const sample of [null, {}, [], "", 0]) v.validate(sample);
  } catch (e) {
    problems.push(`schema cannot be used: ${(e as Error).message}`);
  }
  return problems;
}

export const JsonSchemaOptions = z
  .object({
    type: z.literal("json_schema"),
    /** The JSON Schema the completion must satisfy. */
    schema: z.union([z.record(z.string(), z.unknown()), z.boolean()]),
    draft: z.enum(["4", "7", "2019-09", "2020-12"]).default("2020-12"),
    extract: z.enum(["auto", "whole", "fence"]).default("auto"),
    /** How many validation errors are quoted in the detail. */
    max_errors: z.number().int().min(1).max(20).default(3),
  })
  .strict()
  .superRefine((o, ctx) => {
    for (const p of schemaProblems(o.schema, o.draft)) ctx.addIssue({ code: "custom", path: ["schema"], message: p });
  });

export type JsonSchemaOptions = z.infer<typeof JsonSchemaOptions>;

const FENCE = /```[ \t]*(?:json5?|JSON)?[ \t]*\r?\n([\s\S]*?)```/;

function tryParse(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** The JSON value in a completion, by the extraction policy. */
export function extractJson(completion: string, mode: "auto" | "whole" | "fence"): { ok: true; value: unknown; via: string } | { ok: false; error: string } {
  const text = completion.trim();
  let firstError = "empty completion";
  if (mode !== "fence") {
    const r = tryParse(text);
    if (r.ok) return { ...r, via: "whole" };
    firstError = r.error;
    if (mode === "whole") return r;
  }
  const fence = FENCE.exec(text)?.[1];
  if (fence !== undefined) {
    const r = tryParse(fence.trim());
    if (r.ok) return { ...r, via: "fence" };
    if (mode === "fence") return r;
    firstError = r.error;
  } else if (mode === "fence") return { ok: false, error: "no ``` fence" };
  // "auto": the outermost object or array span.
  for (const [open, close] of [["{", "}"], ["[", "]"]] as const) {
    const a = text.indexOf(open);
    const b = text.lastIndexOf(close);
    if (a >= 0 && b > a) {
      const r = tryParse(text.slice(a, b + 1));
      if (r.ok) return { ...r, via: "span" };
    }
  }
  return { ok: false, error: firstError };
}

/** Requires the completion to be JSON valid against a schema. */
export function jsonSchemaFilter(opts: JsonSchemaOptions): Filter {
  const validator = new Validator(opts.schema as Schema | boolean, opts.draft as SchemaDraft, false);
  return {
    name: "json_schema",
    check({ completion }) {
      const parsed = extractJson(completion, opts.extract);
      if (!parsed.ok) return { pass: false, score: 0, reason: "json_schema.not_json", detail: parsed.error.slice(0, 200) };
      const result = validator.validate(parsed.value);
      if (result.valid) return { pass: true, score: 1, detail: `valid (${parsed.via})` };
      // The deepest errors say what is wrong; the outer ones only that a subschema failed.
      const errors = [...result.errors].sort((x, y) => y.instanceLocation.length - x.instanceLocation.length || y.keywordLocation.length - x.keywordLocation.length);
      const shown = errors.slice(0, opts.max_errors).map((e) => `${e.instanceLocation}: ${e.error}`);
      return { pass: false, score: 0, reason: "json_schema.invalid", detail: shown.join("; ").slice(0, 500) };
    },
  };
}

export const jsonSchema = defineFilter({ type: "json_schema", options: JsonSchemaOptions, build: jsonSchemaFilter });
