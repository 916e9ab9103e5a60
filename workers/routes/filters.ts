import { createRoute, z } from "@hono/zod-openapi";
import { buildFilter, FilterSpec, runChain } from "../../filters";
import { requireKey } from "../auth";
import { checkProviders } from "../jobs/create";
import { bearerSecurity, errors, jsonBody, jsonResponse, router } from "../openapi";

const Item = z.object({
  input: z.record(z.string(), z.unknown()).default({}),
  completion: z.string().max(200_000),
  messages: z.array(z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() })).optional(),
});
const CheckRequest = z
  .object({ filters: z.array(FilterSpec).min(1).max(32), items: z.array(Item).min(1).max(100) })
  .strict()
  .openapi("FilterCheck");
const Verdict = z.object({
  pass: z.boolean(),
  reason: z.string().nullable(),
  trace: z.array(z.object({ name: z.string(), pass: z.boolean(), score: z.number().optional(), reason: z.string().optional(), detail: z.string().optional() })),
});

export const filters = router().openapi(
  createRoute({
    method: "post",
    path: "/v1/filters/check",
    summary: "Run a filter chain on given items, without a job (≤ 100 items)",
    security: bearerSecurity,
    request: jsonBody(CheckRequest),
    responses: {
      200: jsonResponse(z.object({ results: z.array(Verdict), counts: z.record(z.string(), z.number()) }), "one verdict per item, in order"),
      ...errors,
    },
  }),
  async (c) => {
    requireKey(c);
    const body = c.req.valid("json");
    checkProviders(c.env, [], body.filters);
    // No dataset here: stateful filters (dedup) check within the request, and nothing persists.
    const chain = body.filters.map((spec) => buildFilter(spec, { env: c.env, datasetId: null }));
    for (const f of chain) await f.prepare?.();
    const counts: Record<string, number> = { pass: 0 };
    const results = [];
    for (const item of body.items) {
      const v = await runChain(chain, { input: item.input, messages: item.messages ?? [], completion: item.completion });
      results.push({ pass: v.pass, reason: v.reason ?? null, trace: v.trace });
      const k = v.pass ? "pass" : v.reason!;
      counts[k] = (counts[k] ?? 0) + 1;
    }
    return c.json({ results, counts }, 200);
  },
);

