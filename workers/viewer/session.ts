// The viewer's session: the API key lives in an HttpOnly cookie and is read only on the server,
// so it never appears in a URL (and so never in access logs, history or Referer headers).
import { eq } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { db, schema } from "../db";
import type { AppContext } from "../env";
import { sha256Hex } from "../ids";
import { rateLimit } from "../auth";

const COOKIE = "winnow_key";
const MAX_AGE_SECONDS = 30 * 24 * 3600;

/** The key id behind a secret, or null when no key has that secret. */
export async function keyIdOf(c: Context<AppContext>, secret: string): Promise<string | null> {
  const row = await keyRowOf(c, secret);
  return row?.id ?? null;
}

async function keyRowOf(c: Context<AppContext>, secret: string) {
  return db(c.env).select({ id: schema.keys.id, rateLimitPerMin: schema.keys.rateLimitPerMin }).from(schema.keys).where(eq(schema.keys.secretHash, await sha256Hex(secret))).get();
}

/** The signed-in key's secret, for requests the viewer forwards to the API on the caller's behalf. */
export const sessionSecret = (c: Context<AppContext>) => getCookie(c, COOKIE) ?? null;

/**
 * Sets `keyId` from the cookie, the way `identify` does from the Authorization header, so the
 * API's own access checks (loadDataset) decide what the viewer shows. A cookie whose key no
 * longer exists is dropped rather than shown as an error.
 */
export const session: MiddlewareHandler<AppContext> = async (c, next) => {
  c.set("keyId", null);
  c.set("rateLimitPerMin", null);
  const secret = sessionSecret(c);
  if (secret) {
    const row = await keyRowOf(c, secret);
    if (row) {
      c.set("keyId", row.id);
      c.set("rateLimitPerMin", row.rateLimitPerMin);
    } else endSession(c);
  }
  // The same per-key (or per-IP) limit as the API: the viewer is another way in.
  await rateLimit(c);
  await next();
};

export function startSession(c: Context<AppContext>, secret: string) {
  setCookie(c, COOKIE, secret, {
    path: "/",
    httpOnly: true,
    sameSite: "Strict",
    // Plain http only for local development (wrangler dev); a browser drops Secure cookies there.
    secure: new URL(c.req.url).protocol === "https:",
    maxAge: MAX_AGE_SECONDS,
  });
}

export function endSession(c: Context<AppContext>) {
  deleteCookie(c, COOKIE, { path: "/", secure: new URL(c.req.url).protocol === "https:" });
}

/**
 * A form post from another site (login CSRF: signing the victim into the attacker's key) is
 * refused. Browsers send Origin on every cross-origin POST; a missing one is a non-browser client.
 */
export function sameOrigin(c: Context<AppContext>): boolean {
  const origin = c.req.header("origin");
  return !origin || origin === new URL(c.req.url).origin;
}

/** Where to go after signing in: a path on this site only, never another host. */
export function safeNext(next: unknown): string {
  return typeof next === "string" && next.startsWith("/") && !next.startsWith("//") && !next.includes("\\") ? next : "/";
}
