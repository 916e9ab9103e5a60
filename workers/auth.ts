import { eq } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { db, schema } from "./db";
import { intVar, type AppContext } from "./env";
import { ApiError } from "./errors";
import { sha256Hex } from "./ids";

/** Bearer token of a request, or null when there is none. */
export function bearer(c: Context): string | null {
  const h = c.req.header("authorization");
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) throw new ApiError(401, "unauthorized", "Authorization must be 'Bearer <key>'");
  return m[1]!;
}

/** Reads that a caller without a key may make: a dataset and its releases (public ones only). */
const ANONYMOUS_READS = /^\/v1\/(providers|datasets\/[^/]+(\/releases(\/.*)?)?)$/;

/**
 * Resolves the caller's key before anything looks at the request body, so an anonymous or
 * wrong caller gets a 401 and never a description of the schema. A request without a key may
 * only read public datasets; a wrong key is always a 401, never anonymous.
 */
export const identify: MiddlewareHandler<AppContext> = async (c, next) => {
  c.set("keyId", null);
  c.set("rateLimitPerMin", null);
  // POST /v1/keys takes the admin token instead (adminOnly).
  if (c.req.path === "/v1/keys") return next();
  const token = bearer(c);
  if (!token) {
    const anonymousRead = (c.req.method === "GET" || c.req.method === "HEAD") && ANONYMOUS_READS.test(c.req.path);
    if (!anonymousRead) throw new ApiError(401, "unauthorized", "this route needs 'Authorization: Bearer <key>'");
  } else {
    const row = await db(c.env)
      .select({ id: schema.keys.id, rateLimitPerMin: schema.keys.rateLimitPerMin })
      .from(schema.keys)
      .where(eq(schema.keys.secretHash, await sha256Hex(token)))
      .get();
    if (!row) throw new ApiError(401, "unauthorized", "unknown API key");
    c.set("keyId", row.id);
    c.set("rateLimitPerMin", row.rateLimitPerMin);
  }
  await rateLimit(c);
  await next();
};

/**
 * Per-key API rate limit (per client IP for anonymous reads), from a token bucket in a Durable
 * Object so it holds across isolates. Over the limit: 429 with retry-after.
 */
export async function rateLimit(c: Context<AppContext>) {
  const keyId = c.get("keyId");
  const perMinute = c.get("rateLimitPerMin") ?? intVar(c.env.API_RATE_LIMIT_PER_MIN, 600);
  const bucket = keyId ? `key:${keyId}` : `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`;
  const verdict = await c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(bucket)).take(perMinute);
  if (!verdict.ok)
    throw new ApiError(429, "rate_limited", `more than ${perMinute} requests per minute; retry in ${verdict.retryAfterSeconds} s`, [], {
      "retry-after": String(verdict.retryAfterSeconds),
    });
}

export function requireKey(c: Context<AppContext>): string {
  const id = c.get("keyId");
  if (!id) throw new ApiError(401, "unauthorized", "this route needs 'Authorization: Bearer <key>'");
  return id;
}

/** Constant-time comparison, so the admin token cannot be guessed byte by byte. */
export const adminOnly: MiddlewareHandler<AppContext> = async (c, next) => {
  requireAdmin(c);
  await next();
};

function requireAdmin(c: Context<AppContext>) {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new ApiError(403, "admin_disabled", "ADMIN_TOKEN is not configured on this deployment");
  const got = bearer(c) ?? "";
  const a = new TextEncoder().encode(got);
  const b = new TextEncoder().encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] ?? 0) ^ b[i]!;
  if (diff !== 0) throw new ApiError(401, "unauthorized", "POST /v1/keys needs 'Authorization: Bearer $ADMIN_TOKEN'");
}
