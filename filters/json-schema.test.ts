import { describe, expect, it } from "vitest";
import { JsonSchemaOptions, extractJson, jsonSchema, schemaProblems } from "./json-schema";

const ctx = { render: (t: string) => t };
const build = (o: Record<string, unknown>) => jsonSchema.build(JsonSchemaOptions.parse({ type: "json_schema", ...o }), { env: {} as never, datasetId: null });
const check = (f: ReturnType<typeof build>, completion: string) => f.check({ input: {}, messages: [], completion }, ctx);

const schema = {
  type: "object",
  required: ["name", "age"],
  properties: { name: { type: "string", minLength: 1 }, age: { type: "integer", minimum: 0 }, tags: { type: "array", items: { type: "string" } } },
  additionalProperties: false,
};

describe("json_schema filter (@cfworker/json-schema)", () => {
  const f = build({ schema });

  it("keeps valid JSON: whole, fenced or embedded", async () => {
    expect(await check(f, '{"name": "Ada", "age": 36}')).toMatchObject({ pass: true, score: 1, detail: "valid (whole)" });
    expect(await check(f, 'Here it is:\n```json\n{"name": "Ada", "age": 36, "tags": ["math"]}\n```\nDone.')).toMatchObject({ pass: true, detail: "valid (fence)" });
    expect(await check(f, 'Sure! {"name": "Ada", "age": 36} hope it helps')).toMatchObject({ pass: true, detail: "valid (span)" });
  });

  it("rejects text that is not JSON", async () => {
    const r = await check(f, "Ada is 36 years old.");
    expect(r).toMatchObject({ pass: false, score: 0, reason: "json_schema.not_json" });
    expect(r.detail).toBeTruthy();
    expect((await check(f, '{"name": "Ada", "age": 36')).reason).toBe("json_schema.not_json");
  });

  it("rejects JSON that does not validate, quoting the first errors", async () => {
    const r = await check(f, '{"name": "", "age": -1, "extra": true}');
    expect(r).toMatchObject({ pass: false, reason: "json_schema.invalid" });
    expect(r.detail).toMatch(/#\/(name|age|extra)/);
    expect(r.detail!.split("; ").length).toBeLessThanOrEqual(3);
    expect((await check(f, '{"name": "Ada"}')).detail).toMatch(/age/);
  });

  it("honours the extraction policy", async () => {
    const fenced = '```json\n{"name": "Ada", "age": 36}\n```';
    expect((await check(build({ schema, extract: "whole" }), fenced)).reason).toBe("json_schema.not_json");
    expect((await check(build({ schema, extract: "fence" }), fenced)).pass).toBe(true);
    expect((await check(build({ schema, extract: "fence" }), '{"name": "Ada", "age": 36}')).reason).toBe("json_schema.not_json");
    expect(extractJson("[1, 2]", "auto")).toEqual({ ok: true, value: [1, 2], via: "whole" });
  });

  it("supports boolean schemas and other drafts", async () => {
    expect((await check(build({ schema: true }), "42")).pass).toBe(true);
    expect((await check(build({ schema: false }), "42")).reason).toBe("json_schema.invalid");
    const d7 = build({ schema: { type: "object", properties: { n: { type: "number", exclusiveMinimum: 0 } } }, draft: "7" });
    expect((await check(d7, '{"n": 0}')).reason).toBe("json_schema.invalid");
  });

  it("refuses broken schemas at recipe time", () => {
    expect(schemaProblems(schema)).toEqual([]);
    expect(schemaProblems({ type: "strin" })[0]).toMatch(/\/type/);
    expect(schemaProblems({ properties: { a: { pattern: "([" } } })[0]).toMatch(/properties\/a\/pattern: invalid pattern/);
    expect(schemaProblems({ required: "a" })[0]).toMatch(/required/);
    expect(schemaProblems({ properties: { a: 5 } })[0]).toMatch(/must be an object or a boolean/);
    expect(schemaProblems({ $ref: "#/$defs/missing" })[0]).toMatch(/cannot be used/);
    expect(JsonSchemaOptions.safeParse({ type: "json_schema", schema: { type: "nope" } }).success).toBe(false);
    expect(JsonSchemaOptions.safeParse({ type: "json_schema", schema: "x" }).success).toBe(false);
    expect(JsonSchemaOptions.safeParse({ type: "json_schema" }).success).toBe(false);
  });
});
