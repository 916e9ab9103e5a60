// The viewer: server-rendered pages over the same data and access rules as the API. Public
// datasets need no key; for private ones the key comes from the session cookie (see session.ts).
//
// Every route names `session` itself rather than `use("*")`: mounted at "/", a wildcard
// middleware would also run in front of /v1/* and let the cookie authenticate API calls.
import { Hono, type Context, type ExecutionContext } from "hono";
import type { AppContext, Env } from "../env";
import { ApiError, envelope, notFound } from "../errors";
import { datasetPage } from "./dataset";
import { homePage } from "./home";
import { JOB_SCRIPT, jobPage, ownJob } from "./job";
import { Layout, SignInForm } from "./layout";
import { releasePage } from "./release";
import { samplesPage } from "./samples";
import { endSession, keyIdOf, safeNext, sameOrigin, session, sessionSecret, startSession } from "./session";

/** What the viewer needs of the API app: its fetch, to forward downloads with the session's key. */
interface Api {
  fetch(request: Request, env: Env, ctx?: ExecutionContext): Response | Promise<Response>;
}

// Inline styles only; scripts come from this origin (the job page's poller), nothing else loads.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function headers(c: Context<AppContext>) {
  c.header("Content-Security-Policy", CSP);
  c.header("X-Content-Type-Options", "nosniff");
  // Pages differ by who is signed in, and may show private data.
  c.header("Cache-Control", "private, no-store");
}

function SignInPage(props: { next: string; error?: string }) {
  return (
    <Layout title="Sign in" signedIn={false}>
      <h1>Sign in</h1>
      <p class="muted">Your API key opens your private datasets and jobs. It is kept in an HttpOnly cookie for this site only and never appears in a URL.</p>
      <div class="card">
        <SignInForm next={props.next} error={props.error} />
      </div>
    </Layout>
  );
}

function ErrorPage(props: { c: Context<AppContext>; status: number; message: string }) {
  const signedIn = !!props.c.get("keyId");
  return (
    <Layout title={props.status === 404 ? "Not found" : "Error"} signedIn={signedIn}>
      <h1>{props.status === 404 ? "Not found" : `Error ${props.status}`}</h1>
      {props.status === 404 ? (
        // One message for missing and for someone else's private data, so neither can be told apart.
        <p>There is nothing here that you can see. It may not exist, or it may be private{signedIn ? " to another key" : ""}.</p>
      ) : (
        <p>{props.message}</p>
      )}
      {props.status === 404 && !signedIn ? (
        <div class="card">
          <p style="margin-top:0">If it is yours, sign in with its API key:</p>
          <SignInForm next={safeNext(props.c.req.path)} />
        </div>
      ) : null}
      <p>
        <a href="/">← all datasets</a>
      </p>
    </Layout>
  );
}

export function viewer(api: Api) {
  const app = new Hono<AppContext>();

  app.onError((err, c) => {
    headers(c);
    if (err instanceof ApiError) {
      // A 404's message names the thing looked for; the page does not, so it reads the same either way.
      return c.html(<ErrorPage c={c} status={err.status} message={err.message} />, err.status);
    }
    console.error("viewer error", err);
    return c.html(<ErrorPage c={c} status={500} message="Something went wrong on our side; this is a bug, please report it." />, 500);
  });

  app.get("/", session, async (c) => {
    headers(c);
    return c.html(await homePage(c));
  });

  app.get("/session", session, (c) => {
    headers(c);
    if (c.get("keyId")) return c.redirect(safeNext(c.req.query("next")), 303);
    return c.html(<SignInPage next={safeNext(c.req.query("next"))} />);
  });

  app.post("/session", async (c) => {
    headers(c);
    if (!sameOrigin(c)) throw new ApiError(403, "forbidden", "Sign in from this site's own form.");
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const secret = typeof form.key === "string" ? form.key.trim() : "";
    if (!secret || !(await keyIdOf(c, secret))) {
      c.set("keyId", null);
      return c.html(<SignInPage next={next} error="That is not a key this deployment knows. Check it and try again." />, 401);
    }
    startSession(c, secret);
    return c.redirect(next, 303);
  });

  app.post("/session/end", (c) => {
    if (!sameOrigin(c)) throw new ApiError(403, "forbidden", "Sign out from this site's own form.");
    endSession(c);
    return c.redirect("/", 303);
  });

  app.get("/d/:name", session, async (c) => {
    headers(c);
    return c.html(await datasetPage(c, c.req.param("name")));
  });

  app.get("/d/:name/samples", session, async (c) => {
    headers(c);
    return c.html(await samplesPage(c, c.req.param("name")));
  });

  app.get("/d/:name/r/:version", session, async (c) => {
    headers(c);
    return c.html(await releasePage(c, c.req.param("name"), c.req.param("version")));
  });

  // A private release's files, downloaded through the API with the session's key: a link cannot
  // carry an Authorization header, and the key must not travel in the URL.
  app.get("/d/:name/r/:version/files/:path{.+}", session, async (c) => {
    const url = new URL(c.req.url);
    url.pathname = `/v1/datasets/${encodeURIComponent(c.req.param("name"))}/releases/${encodeURIComponent(c.req.param("version"))}/files/${c.req.param("path").split("/").map(encodeURIComponent).join("/")}`;
    url.search = "";
    const forwarded = new Headers();
    const secret = sessionSecret(c);
    if (secret && c.get("keyId")) forwarded.set("authorization", `Bearer ${secret}`);
    for (const h of ["range", "if-none-match", "cf-connecting-ip"]) {
      const v = c.req.header(h);
      if (v) forwarded.set(h, v);
    }
    let ctx: ExecutionContext | undefined;
    try {
      ctx = c.executionCtx;
    } catch {
      ctx = undefined; // no execution context (e.g. app.request in a test): nothing needs waitUntil here
    }
    const res = await api.fetch(new Request(url, { headers: forwarded }), c.env, ctx);
    if (res.status === 404 || res.status === 401) throw notFound("file");
    return res;
  });

  app.get("/jobs/:id", session, async (c) => {
    headers(c);
    return c.html(await jobPage(c, c.req.param("id")));
  });

  // What the job page polls: GET /v1/jobs/{id}'s body, authorised by the cookie on the server.
  app.get("/jobs/:id/progress.json", session, async (c) => {
    c.header("Cache-Control", "private, no-store");
    try {
      return c.json(await ownJob(c, c.req.param("id")));
    } catch (e) {
      if (e instanceof ApiError) return c.json(envelope(e.code, e.message), e.status);
      throw e;
    }
  });

  app.get("/viewer/job.js", (c) => {
    c.header("Content-Type", "text/javascript; charset=utf-8");
    c.header("Cache-Control", "public, max-age=300");
    return c.body(JOB_SCRIPT);
  });

  return app;
}
