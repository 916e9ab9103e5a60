import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../workers/app";
import { configuredProviders, getProvider, namedEndpoints } from "./index";

// Named OpenAI-compatible endpoints (OPENAI_ENDPOINTS), pointed at the loopback fake.
const fakeBase = `${env.FAKE_CONTROL_URL}/v1`;
const janet = "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?";

const withEndpoints = (endpoints: unknown, extra: Record<string, string> = {}) => ({
  ...env,
  OPENAI_ENDPOINTS: typeof endpoints === "string" ? endpoints : JSON.stringify(endpoints),
  ...extra,
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("named OpenAI-compatible endpoints", () => {
  it("lists valid endpoints after the built-in providers and calls them with the key from the named secret", async () => {
    const e = withEndpoints({ vllm: { base_url: fakeBase, api_key_secret: "VLLM_API_KEY" }, "local-2": { base_url: fakeBase } }, { VLLM_API_KEY: "sk-vllm" });
    expect(configuredProviders(e)).toEqual(["replay", "openai", "anthropic", "vllm", "local-2"]);
    const vllm = getProvider(e, "vllm")!;
    expect(vllm).toMatchObject({ name: "vllm", kind: "openai", supports: { responseFormat: true } });
    const r = await vllm.chat({ model: "my-model", messages: [{ role: "user", content: janet }], params: {}, input: {}, candidate: 3 });
    expect(r.text).toMatch(/A: 18/);
    expect(r.inputTokens).toBeGreaterThan(10);
  });

  it("sends no key when none is named (the fake then answers 401, as OpenAI would)", async () => {
    const e = withEndpoints({ keyless: { base_url: fakeBase }, missing: { base_url: fakeBase, api_key_secret: "NOT_SET_ANYWHERE" } });
    for (const name of ["keyless", "missing"])
      await expect(getProvider(e, name)!.chat({ model: "m", messages: [{ role: "user", content: "hi" }], params: {}, input: {}, candidate: 0 })).rejects.toMatchObject({
        status: 401,
        retryable: false,
      });
  });

  it("ignores bad entries with a console.error and keeps the good ones", () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const e = withEndpoints({
      ok: { base_url: "https://api.together.xyz/v1", api_key_secret: "TOGETHER_API_KEY" },
      "Bad Name": { base_url: "https://x.example/v1" },
      [`x${"y".repeat(32)}`]: { base_url: "https://x.example/v1" },
      openai: { base_url: "https://x.example/v1" },
      ftp: { base_url: "ftp://x.example/v1" },
      js: { base_url: "javascript:alert(1)" },
      nourl: { base_url: "not a url" },
      creds: { base_url: "https://user:pw@x.example/v1" },
      inline: { base_url: "https://x.example/v1", api_key: "sk-inline" },
      badsecret: { base_url: "https://x.example/v1", api_key_secret: "not a name" },
      admin: { base_url: "https://x.example/v1", api_key_secret: "ADMIN_TOKEN" },
      notobj: "https://x.example/v1",
    });
    expect([...namedEndpoints(e).keys()]).toEqual(["ok"]);
    expect(configuredProviders(e)).toEqual(["replay", "openai", "anthropic", "ok"]);
    expect(getProvider(e, "ftp")).toBeNull();
    const messages = logged.mock.calls.map((c) => String(c[0]));
    expect(messages).toHaveLength(11);
    for (const name of ["Bad Name", "openai", "ftp", "js", "nourl", "creds", "inline", "badsecret", "admin", "notobj"]) expect(messages.some((m) => m.includes(`"${name}"`))).toBe(true);
    expect(messages.find((m) => m.includes('"inline"'))).toMatch(/api_key_secret/);
    // Never the inline key itself.
    expect(messages.join("\n")).not.toContain("sk-inline");
  });

  it("survives a value that is not JSON or not an object", () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(configuredProviders(withEndpoints("{not json"))).toEqual(["replay", "openai", "anthropic"]);
    expect(configuredProviders(withEndpoints('["vllm"]'))).toEqual(["replay", "openai", "anthropic"]);
    expect(configuredProviders(withEndpoints(""))).toEqual(["replay", "openai", "anthropic"]);
    expect(logged).toHaveBeenCalledTimes(2);
  });

  it("parses the variable once per isolate", () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const e = withEndpoints({ once: { base_url: fakeBase }, "BAD!": { base_url: fakeBase } });
    const first = namedEndpoints(e);
    expect(namedEndpoints({ OPENAI_ENDPOINTS: e.OPENAI_ENDPOINTS })).toBe(first);
    configuredProviders(e);
    getProvider(e, "once");
    expect(logged).toHaveBeenCalledTimes(1);
  });

  it("GET /v1/providers lists names and kinds, never base URLs or keys", async () => {
    const e = withEndpoints({ vllm: { base_url: "http://10.0.0.5:8000/v1", api_key_secret: "VLLM_API_KEY" } }, { VLLM_API_KEY: "sk-secret-vllm" });
    const res = await app.request("/v1/providers", {}, e);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text).providers).toEqual([
      { name: "replay", kind: "replay", models: ["gsm8k-gpt3"] },
      { name: "openai", kind: "openai", models: null },
      { name: "anthropic", kind: "anthropic", models: null },
      { name: "vllm", kind: "openai", models: null },
    ]);
    for (const secret of ["10.0.0.5", "sk-secret-vllm", "VLLM_API_KEY", env.FAKE_CONTROL_URL, "sk-test", "sk-ant-test"]) expect(text).not.toContain(secret);
  });
});
