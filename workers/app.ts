// The HTTP surface: one Hono app, one Env, one onError. Routes are grouped by resource in
// ./routes; the OpenAPI document is generated from their zod schemas.
import { bodyLimit } from "hono/body-limit";
import { configuredProviders, getProvider } from "../models";
import { REPLAY_MODELS } from "../models/replay";
import { identify } from "./auth";
import { benchSeed } from "./bench-seed";
import { ApiError, envelope, onError } from "./errors";
import { docsPage } from "./docs";
import { router } from "./openapi";
import { datasets } from "./routes/datasets";
import { filters } from "./routes/filters";
import { jobs } from "./routes/jobs";
import { keys } from "./routes/keys";
import { releases } from "./routes/releases";
import { usage } from "./routes/usage";
import { viewer } from "./viewer";

export const app = router();

app.onError(onError);
app.notFound((c) => c.json(envelope("not_found", `no route for ${c.req.method} ${c.req.path}; see /docs`), 404));

// JSON bodies are small; uploads stream and are bounded per row instead.
app.use("/v1/*", async (c, next) => {
  if (c.req.path.endsWith("/inputs")) return next();
  return bodyLimit({
    maxSize: 2 * 1024 * 1024,
    onError: () => {
      throw new ApiError(413, "payload_too_large", "JSON bodies are limited to 2 MiB; upload rows as JSONL to /v1/datasets/{name}/inputs");
    },
  })(c, next);
});
app.use("/v1/*", identify);

/** Deeper than any recipe or filter needs, shallow enough that every recursive walk (canonical
 * JSON, stringify, schema checks) stays far from the stack limit. */
const MAX_JSON_DEPTH = 100;

// A 2 MiB body of `[[[[…` parses fine but overflows the stack of whatever walks it next, which
// would be a 500: refuse it up front. Hono caches the text, so the validator still reads the body.
app.use("/v1/*", async (c, next) => {
  if (c.req.method !== "GET" && c.req.method !== "HEAD" && /json/i.test(c.req.header("content-type") ?? "") && !c.req.path.endsWith("/inputs")) {
    const text = await c.req.text();
    let depth = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (ch === "\\") i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = true;
      else if (ch === "[" || ch === "{") {
        if (++depth > MAX_JSON_DEPTH) throw new ApiError(400, "too_deep", `JSON bodies may nest at most ${MAX_JSON_DEPTH} levels of arrays and objects`);
      } else if (ch === "]" || ch === "}") depth--;
    }
  }
  await next();
});

app.get("/healthz", (c) => c.json({ ok: true }));
// Names and kinds only: base URLs and keys are the operator's business.
app.get("/v1/providers", (c) =>
  c.json({
    providers: configuredProviders(c.env).map((name) => ({ name, kind: getProvider(c.env, name)!.kind, models: name === "replay" ? REPLAY_MODELS : null })),
  }),
);

app.route("/", keys);
app.route("/", datasets);
app.route("/", jobs);
app.route("/", releases);
app.route("/", filters);
app.route("/", usage);
// bench/release only: a 404 unless BENCH_ROUTES=1 and the caller holds ADMIN_TOKEN (see the file).
app.route("/", benchSeed);

app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
app.openAPIRegistry.registerComponent("securitySchemes", "admin", { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" });
app.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: { title: "Winnow API", version: "1", description: "Generate candidates with teacher models, keep what passes the filters, release daily." },
});
app.get("/docs", (c) => c.html(docsPage()));
// The viewer: HTML pages at / and below, reading through the same access rules as the API.
app.route("/", viewer(app));

