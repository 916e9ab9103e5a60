import { eq } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { db, schema } from "./db";
import type { AppContext } from "./env";
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

/**
 * Resolves the caller's key, if any. A request without a key may still read public datasets;
 * routes that need a key call requireKey(). A wrong key is always a 401, never anonymous.
 */
export const identify: MiddlewareHandler<AppContext> = async (c, next) => {
  const token = bearer(c);
  c.set("keyId", null);
  if (token && !c.req.path.startsWith("/v1/keys")) {
    const row = await db(c.env).select({ id: schema.keys.id }).from(schema.keys).where(eq(schema.keys.secretHash, await sha256Hex(token))).get();
    if (!row) throw new ApiError(401, "unauthorized", "unknown API key");
    c.set("keyId", row.id);
  }
  await next();
};

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
