// What a recipe can reach. Templates (prompts and filter templates) render the input row's own
// data and nothing else: no prototype, no function, no partial. Providers are the operator's:
// no field of a recipe can point the Worker at a URL, and a recipe that tries is a 400 before
// anything is fetched.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { renderTemplate } from "../filters";
import { templateFields } from "../workers/recipe";
import { allSamples, api, gsmRecipe, newDataset, newKey, unique, upload, waitForJob } from "./helpers";

const row = JSON.parse('{"q":"alpha","meta":{"tag":"t"},"list":[{"x":"p"},{"x":"q"}],"n":7}');

describe("renderTemplate reaches only the row's own data", () => {
  // Left: a template; right: what it renders. Plain Mustache renders the commented values.
  const cases: [string, string][] = [
    ["{{constructor}}", ""], // "[object Object]"
    ["{{constructor.name}}", ""], // "Object"
    ["{{__proto__}}", ""], // "[object Object]"
    ["{{toString}}", ""], // "[object Object]"
    ["{{hasOwnProperty}}", ""], // "false"
    ["{{#constructor}}X{{/constructor}}", ""], // "X": Object called as a lambda
    ["{{^constructor}}none{{/constructor}}", "none"],
    ["{{&constructor}}{{{toString}}}", ""],
    ["{{q.constructor.name}}", ""], // "String"
    ["{{n.constructor.name}}", ""], // "Number"
    ["{{meta.constructor.name}}", ""], // "Object"
    ["{{meta.toString}}", ""], // "[object Object]"
    ["{{meta.__proto__.constructor.name}}", ""], // "Object"
    ["{{#meta.constructor}}x{{/meta.constructor}}", ""], // "x"
    ["{{#q}}{{constructor.name}}{{/q}}", ""], // "String"
    ["{{#list}}{{constructor.name}}{{x}}{{/list}}", "pq"], // "ObjectpObjectq"
    ["{{> x}}{{> constructor}}{{> toString}}", ""], // "", then a TypeError thrown
    ["{{=<% %>=}}<% constructor.name %><% q %>", "alpha"], // "Objectalpha"
    // The row's own data still renders, nested and in sections.
    ["{{q}} {{n}} {{meta.tag}} {{list.length}} {{list.1.x}}", "alpha 7 t 2 q"],
    ["{{#meta}}{{tag}}{{q}}{{/meta}}{{^missing}}-{{/missing}}", "talpha-"],
  ];
  it.each(cases)("%s → %j", (template, expected) => {
    expect(renderTemplate(template, row)).toBe(expected);
  });

  it("renders a field the row itself calls __proto__ or constructor, as data", () => {
    expect(renderTemplate("{{__proto__}}/{{constructor}}", JSON.parse('{"__proto__":"own","constructor":"c"}'))).toBe("own/c");
  });

  it("never calls a function, even one placed in the row (rows are JSON; this is belt and braces)", () => {
    let called = false;
    const f = () => ((called = true), "called");
    expect(renderTemplate("{{f}}{{#f}}in{{/f}}{{o.f}}", { f, o: { f } })).toBe("");
    expect(called).toBe(false);
  });

  it("leaves Object.prototype alone", () => {
    renderTemplate("{{#__proto__}}{{polluted}}{{/__proto__}}", JSON.parse('{"__proto__":{"polluted":"yes"}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("templateFields rejects partials, so a recipe using one is refused", () => {
    expect(() => templateFields("{{q}} {{> header}}")).toThrow(/partials/);
    expect(templateFields("{{=<% %>=}}<% q %> <% meta.tag %>")).toEqual(["q", "meta"]);
  });
});

describe("templates in a running job", () => {
  let key: string;
  let dataset: string;
  beforeAll(async () => {
    key = await newKey("templates");
    dataset = await newDataset(key);
  });

  // Letters, no digits: the echoing judge's reply must not parse as a grade.
  const probe =
    "<a{{q.constructor.name}}><b{{meta.constructor.name}}><c{{meta.toString}}><d{{meta.hasOwnProperty}}>" +
    "<e{{#meta.constructor}}x{{/meta.constructor}}><f{{#q}}{{constructor.name}}{{toString}}{{/q}}><g{{#list}}{{constructor.name}}{{x}}{{/list}}>" +
    "<h{{meta.__proto__.constructor.name}}><i{{=<% %>=}}<% meta.constructor.name %><%={{ }}=%>><j{{q}}{{meta.tag}}>";
  const rendered = "<a><b><c><d><e><f><gpq><h><i><jalphat>";

  it("prompts and a judge rubric render only the row: seen through the teacher's echo and the judge's", async () => {
    const recipe = {
      dataset,
      inputs: { rows: [{ q: "alpha", meta: { tag: "t" }, list: [{ x: "p" }, { x: "q" }] }] },
      prompt: { system: `S:${probe}`, user: `U:${probe}` },
      // judge-echo answers with the last user message verbatim: the completion is the rendered prompt.
      generators: [{ provider: "openai", model: "judge-echo" }],
      candidates: 1,
      filters: [{ type: "judge", provider: "openai", model: "judge-echo", rubric: `J:${probe}` }],
    };
    const created = await api("/v1/jobs", { method: "POST", key, json: recipe });
    expect(created.status, created.text).toBe(202);
    const job = await waitForJob(key, created.json.id);
    expect(job.candidates).toMatchObject({ planned: 1, rejected: 1 });
    const [s] = await allSamples(key, job.id, "rejected");
    expect(s.messages.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ["system", `S:${rendered}`],
      ["user", `U:${rendered}`],
      ["assistant", `U:${rendered}`],
    ]);
    // The judge saw its rubric rendered, then the response; its echo is quoted in the trace.
    expect(s.reason).toBe("judge.unparsable");
    expect(s.filters[0].detail).toBe(`no grade in "J:${rendered} Response: U:${rendered}"`);
  });

  it("math_answer's reference and the judge's rubric render only the row in POST /v1/filters/check too", async () => {
    const r = await api("/v1/filters/check", {
      method: "POST",
      key,
      json: {
        filters: [
          { type: "math_answer", reference: "{{#meta}}{{constructor.name}}{{toString}}{{/meta}}" },
          { type: "judge", provider: "openai", model: "judge-echo", rubric: "R:{{meta.constructor.name}}{{#list}}{{toString}}{{x}}{{/list}}" },
        ],
        items: [{ input: row, completion: "A: 1" }, { input: { ...row, meta: { tag: "t", toString: "18" } }, completion: "A: 18" }],
      },
    });
    expect(r.status, r.text).toBe(200);
    // Nothing to compare against: an empty reference, not "Object[object Object]".
    expect(r.json.results[0].trace[0]).toMatchObject({ pass: false, reason: "math_answer.no_reference", detail: 'no answer in reference ""' });
    // A row that has its own toString field gets it, as data; the rubric still reaches nothing else.
    expect(r.json.results[1].trace[0]).toMatchObject({ pass: true });
    expect(r.json.results[1].trace[1].detail).toBe('no grade in "R:pq Response: A: 18"');
  });

  it.each([
    ["prompt.user", { prompt: { user: "{{question}} {{> footer}}" } }],
    ["prompt.system", { prompt: { system: "{{> constructor}}", user: "{{question}}" } }],
    ["filters.1", { filters: [{ type: "length", min_chars: 1 }, { type: "math_answer", reference: "{{> answer}}" }] }],
    ["filters.0", { filters: [{ type: "judge", provider: "openai", model: "judge-9", rubric: "{{=<% %>=}}<%> toString %>" }] }],
  ])("400 invalid_template for a partial in %s, and no job", async (path, over) => {
    const before = await jobCount(dataset);
    const r = await api("/v1/jobs", { method: "POST", key, json: gsmRecipe(dataset, { rows: [{ question: "1+1?", answer: "2" }] }, over) });
    expect(r.status, r.text).toBe(400);
    expect(r.json.error).toMatchObject({ code: "invalid_template", details: [{ path }] });
    expect(r.json.error.message).toMatch(/partials/);
    expect(await jobCount(dataset)).toBe(before);
  });
});

async function jobCount(dataset: string): Promise<number> {
  const r = await env.DB.prepare("SELECT count(*) AS n FROM jobs j JOIN datasets d ON d.id = j.dataset_id WHERE d.name = ?").bind(dataset).first<{ n: number }>();
  return r!.n;
}

describe("no SSRF: a recipe cannot make the Worker call a URL", () => {
  let key: string;
  let dataset: string;
  let uploadId: string;
  beforeAll(async () => {
    key = await newKey("ssrf");
    dataset = await newDataset(key);
    const up = await upload(key, dataset, [{ question: "1+1?", answer: "2" }]);
    uploadId = up.json.id;
  });

  const fake = () => env.FAKE_CONTROL_URL;
  /** Requests the fake has seen for a model name (unique per case, so other tests' traffic does not count). */
  async function seen(model: string): Promise<number> {
    const stats = (await (await fetch(`${fake()}/__stats`)).json()) as { byModel: Record<string, number> };
    return stats.byModel[model] ?? 0;
  }

  const hosts = () => [
    `${fake()}/v1`,
    `${fake()}/v1/chat/completions`,
    fake().replace(/^http:\/\//, ""),
    fake().replace(/^http:/, ""),
    "https://evil.example/v1",
    "evil.example",
    "evil.example:443",
    "127.0.0.1",
    "localhost",
    "169.254.169.254",
    "/v1/chat/completions",
    "../openai",
    "openai/../anthropic",
    "openai@evil.example",
    "openai.evil.example",
    "file:///etc/passwd",
    "OPENAI",
    " openai",
    "openai\n",
    "openai?x=1",
    "openai#x",
    "openai%2f",
    "",
  ];

  /** Posts a recipe that must be refused, and checks nothing was created or fetched. */
  async function refused(build: (model: string) => Record<string, unknown>) {
    const model = unique("ssrf-model");
    const jobsBefore = await jobCount(dataset);
    const r = await api("/v1/jobs", { method: "POST", key, json: build(model) });
    expect(r.status, r.text).toBe(400);
    expect(["invalid_request", "unknown_provider"]).toContain(r.json.error.code);
    expect(await jobCount(dataset)).toBe(jobsBefore);
    expect(await seen(model)).toBe(0);
    return r.json.error;
  }

  const base = (model: string, over: Record<string, unknown> = {}) =>
    gsmRecipe(dataset, { upload: uploadId }, { generators: [{ provider: "openai", model }], ...over });

  it("a generator's provider that looks like a URL, host or path → 400", async () => {
    for (const provider of hosts()) {
      const e = await refused((model) => base(model, { generators: [{ provider: "openai", model }, { provider, model }] }));
      expect(JSON.stringify(e.details), provider).toContain("generators.1.provider");
    }
  });

  it("a judge filter's provider that looks like a URL, host or path → 400", async () => {
    for (const provider of hosts()) {
      const e = await refused((model) => base(model, { filters: [{ type: "judge", provider, model }] }));
      expect(JSON.stringify(e.details), provider).toContain("filters.0.provider");
    }
  });

  it("fields that would carry a base URL, anywhere in a recipe → 400", async () => {
    const url = `${fake()}/v1`;
    const variants: ((model: string) => Record<string, unknown>)[] = [
      (m) => base(m, { base_url: url }),
      (m) => base(m, { provider_url: url }),
      (m) => base(m, { generators: [{ provider: "openai", model: m, base_url: url }] }),
      (m) => base(m, { generators: [{ provider: "openai", model: m, baseUrl: url }] }),
      (m) => base(m, { generators: [{ provider: "openai", model: m, url }] }),
      (m) => base(m, { generators: [{ provider: "openai", model: m, endpoint: url }] }),
      (m) => base(m, { generators: [{ provider: "openai", model: m, api_key: "sk-x", headers: { host: "evil.example" } }] }),
      (m) => base(m, { generators: [{ provider: "openai", model: m, params: { api_base: url } }] }),
      (m) => base(m, { generators: [{ provider: { name: "openai", url }, model: m }] }),
      (m) => base(m, { filters: [{ type: "judge", provider: "openai", model: m, base_url: url }] }),
      (m) => base(m, { filters: [{ type: "judge", provider: "openai", model: m, params: { base_url: url } }] }),
      (m) => base(m, { filters: [{ type: "json_schema", schema: { $ref: `${fake()}/v1/chat/completions` } }] }),
      (m) => base(m, { prompt: { user: "{{question}}", url } }),
      (m) => base(m, { output: { kind: "sft", url } }),
      (m) => base(m, { inputs: { url } }),
    ];
    for (const build of variants) await refused(build);
  });

  it("a well-formed recipe with a configured provider still runs, and reaches the fake only as configured", async () => {
    const model = unique("ssrf-ok");
    const r = await api("/v1/jobs", { method: "POST", key, json: base(model, { candidates: 1 }) });
    expect(r.status, r.text).toBe(202);
    await waitForJob(key, r.json.id);
    expect(await seen(model)).toBe(1);
  });
});
