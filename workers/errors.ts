import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ZodError } from "zod";

/** A caller mistake (or a known refusal): always rendered as the one error envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} not found`);

export function zodDetails(err: ZodError): { path: string; message: string }[] {
  return err.issues.flatMap((i) => {
    // An unknown field is reported at the field itself, not at the object that holds it.
    if (i.code === "unrecognized_keys") return i.keys.map((k) => ({ path: [...i.path, k].join("."), message: `unknown field '${k}'` }));
    return [{ path: i.path.join(".") || "(body)", message: i.message }];
  });
}

export function envelope(code: string, message: string, details: unknown[] = []) {
  return { error: { code, message, details } };
}

/** The single onError: every error leaves the API in the same shape. A 5xx here is a bug. */
export function onError(err: Error, c: Context) {
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(envelope(err.code, err.message, err.details), err.status);
  }
  if (err instanceof ZodError) {
    return c.json(envelope("invalid_request", "the request does not match the schema", zodDetails(err)), 400);
  }
  if (err instanceof HTTPException) {
    // Hono's own refusals (body parsing, media type), reworded to say what to send instead.
    const status = err.status as ContentfulStatusCode;
    if (status === 400 && /json/i.test(err.message))
      return c.json(envelope("invalid_json", "the body is not valid JSON; send one JSON object with 'Content-Type: application/json'"), 400);
    if (status === 415) return c.json(envelope("unsupported_media_type", "send the body as JSON with 'Content-Type: application/json'"), 415);
    return c.json(envelope(status === 413 ? "payload_too_large" : "http_error", err.message || "request refused"), status);
  }
  console.error("unhandled error", err);
  return c.json(envelope("internal", "internal error; this is a bug, please report it"), 500);
}
