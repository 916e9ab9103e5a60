import { createRoute, z } from "@hono/zod-openapi";
import { adminOnly } from "../auth";
import { db, schema } from "../db";
import { newId, randomSecret, sha256Hex } from "../ids";
import { errors, jsonBody, jsonResponse, router } from "../openapi";

const CreateKey = z
  .object({
    name: z.string().min(1).max(100),
    budget_usd: z.number().positive().optional().describe("hard limit on what the key's jobs may spend"),
    rate_limit_per_min: z.number().int().min(1).max(100_000).optional().describe("API requests per minute (default: the deployment's)"),
  })
  .strict()
  .openapi("CreateKey");
const CreatedKey = z
  .object({
    id: z.string(),
    name: z.string(),
    key: z.string().describe("shown once; only its hash is stored"),
    budget_usd: z.number().nullable(),
    rate_limit_per_min: z.number().nullable(),
  })
  .openapi("CreatedKey");

export const keys = router().openapi(
  createRoute({
    method: "post",
    path: "/v1/keys",
    summary: "Create an API key (admin)",
    security: [{ admin: [] }],
    middleware: [adminOnly] as const,
    request: jsonBody(CreateKey),
    responses: { 201: jsonResponse(CreatedKey, "the new key; its secret is shown only here"), ...errors },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const id = newId("key");
    const secret = randomSecret("wn_");
    await db(c.env)
      .insert(schema.keys)
      .values({ id, name: body.name, secretHash: await sha256Hex(secret), budgetUsd: body.budget_usd ?? null, rateLimitPerMin: body.rate_limit_per_min ?? null });
    return c.json({ id, name: body.name, key: secret, budget_usd: body.budget_usd ?? null, rate_limit_per_min: body.rate_limit_per_min ?? null }, 201);
  },
);
