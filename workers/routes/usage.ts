import { createRoute, z } from "@hono/zod-openapi";
import { requireKey } from "../auth";
import { bearerSecurity, errors, jsonResponse, router } from "../openapi";

// A real calendar day: 2026-13-45 would parse to NaN and silently match nothing.
const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "use YYYY-MM-DD")
  .refine((d) => {
    const t = Date.parse(`${d}T00:00:00Z`);
    return !Number.isNaN(t) && new Date(t).toISOString().startsWith(d);
  }, "not a calendar date");
const Usage = z
  .object({
    totals: z.object({ input_tokens: z.number(), output_tokens: z.number(), cost_usd: z.number(), candidates: z.number(), accepted: z.number(), jobs: z.number() }),
    budget_usd: z.number().nullable(),
    by_model_day: z.array(
      z.object({ day: z.string(), model: z.string().describe("provider/model; judges included"), calls: z.number(), input_tokens: z.number(), output_tokens: z.number(), cost_usd: z.number() }),
    ),
    by_day: z.array(z.object({ day: z.string(), candidates: z.number(), accepted: z.number(), cost_usd: z.number() })),
  })
  .openapi("Usage");

/**
 * The caller's tokens, cost, candidates and accepted samples, per model and per day (UTC, by
 * when a task settled). Summed from task rows in D1: one row per ~100 candidates, never one per
 * call.
 */
export const usage = router().openapi(
  createRoute({
    method: "get",
    path: "/v1/usage",
    summary: "Your tokens, cost, candidates and accepted samples, per model and per day",
    security: bearerSecurity,
    request: { query: z.object({ from: Day.optional(), to: Day.optional() }).refine((q) => !q.from || !q.to || q.from <= q.to, { message: "from must not be after to", path: ["to"] }) },
    responses: { 200: jsonResponse(Usage, "usage"), ...errors },
  }),
  async (c) => {
    const keyId = requireKey(c);
    const { from, to } = c.req.valid("query");
    const lo = from ? Date.parse(`${from}T00:00:00Z`) : 0;
    const hi = to ? Date.parse(`${to}T00:00:00Z`) + 86_400_000 : 8.64e15;
    const day = `strftime('%Y-%m-%d', t.finished_at / 1000, 'unixepoch')`;
    const scope = `FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE j.key_id = ?1 AND t.state = 'done' AND t.finished_at >= ?2 AND t.finished_at < ?3`;
    const [byModel, byDay, key] = await Promise.all([
      c.env.DB.prepare(
        `SELECT ${day} AS day, u.key AS model, sum(json_extract(u.value, '$.calls')) AS calls,
                sum(json_extract(u.value, '$.input_tokens')) AS input_tokens, sum(json_extract(u.value, '$.output_tokens')) AS output_tokens,
                sum(json_extract(u.value, '$.cost_usd')) AS cost_usd
           FROM tasks t JOIN jobs j ON j.id = t.job_id, json_each(coalesce(t.usage_by_model, '{}')) u
          WHERE j.key_id = ?1 AND t.state = 'done' AND t.finished_at >= ?2 AND t.finished_at < ?3
          GROUP BY day, model ORDER BY day, model`,
      )
        .bind(keyId, lo, hi)
        .all<{ day: string; model: string; calls: number; input_tokens: number; output_tokens: number; cost_usd: number }>(),
      c.env.DB.prepare(
        `SELECT ${day} AS day, sum(t.accepted + t.rejected + t.failed) AS candidates, sum(t.accepted) AS accepted, sum(t.cost_usd) AS cost_usd,
                sum(t.input_tokens) AS input_tokens, sum(t.output_tokens) AS output_tokens, count(DISTINCT t.job_id) AS jobs
           ${scope} GROUP BY day ORDER BY day`,
      )
        .bind(keyId, lo, hi)
        .all<{ day: string; candidates: number; accepted: number; cost_usd: number; input_tokens: number; output_tokens: number; jobs: number }>(),
      c.env.DB.prepare(`SELECT budget_usd FROM keys WHERE id = ?1`).bind(keyId).first<{ budget_usd: number | null }>(),
    ]);
    const sum = (f: (r: (typeof byDay.results)[number]) => number) => byDay.results.reduce((n, r) => n + f(r), 0);
    const round = (x: number) => Number(x.toFixed(6));
    return c.json(
      {
        totals: {
          input_tokens: sum((r) => r.input_tokens),
          output_tokens: sum((r) => r.output_tokens),
          cost_usd: round(sum((r) => r.cost_usd)),
          candidates: sum((r) => r.candidates),
          accepted: sum((r) => r.accepted),
          jobs: sum((r) => r.jobs),
        },
        budget_usd: key?.budget_usd ?? null,
        by_model_day: byModel.results.map((r) => ({ ...r, cost_usd: round(r.cost_usd) })),
        by_day: byDay.results.map((r) => ({ day: r.day, candidates: r.candidates, accepted: r.accepted, cost_usd: round(r.cost_usd) })),
      },
      200,
    );
  },
);
