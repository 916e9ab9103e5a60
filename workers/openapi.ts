// Helpers so each route declares its request and response schemas once; the OpenAPI document
// at /openapi.json is generated from the same zod schemas that validate requests.
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext } from "./env";
import { ApiError, zodDetails } from "./errors";

export const ErrorEnvelope = z
  .object({ error: z.object({ code: z.string(), message: z.string(), details: z.array(z.unknown()) }) })
  .openapi("Error");

export const jsonBody = <T extends z.ZodType>(schema: T, description = "JSON body") => ({
  body: { content: { "application/json": { schema } }, required: true, description },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

/** The usual error responses, so every route documents the envelope. */
export const errors = {
  400: jsonResponse(ErrorEnvelope, "invalid request"),
  401: jsonResponse(ErrorEnvelope, "missing or unknown key"),
  404: jsonResponse(ErrorEnvelope, "not found (or owned by another key)"),
};

export const bearerSecurity = [{ bearer: [] as string[] }];

/** A router whose validation failures become the one error envelope. */
export function router() {
  return new OpenAPIHono<AppContext>({
    defaultHook: (result) => {
      if (!result.success) {
        const where = (result as { target?: string }).target;
        const details = zodDetails(result.error);
        const first = details[0];
        const what = where === "json" ? "body" : (where ?? "request");
        throw new ApiError(400, "invalid_request", first ? `invalid ${what}: ${first.path}: ${first.message}` : `invalid ${what}`, details);
      }
    },
  });
}
