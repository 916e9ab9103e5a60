import { and, eq } from "drizzle-orm";
import type { Context } from "hono";
import { db, schema } from "../db";
import type { AppContext } from "../env";
import { notFound } from "../errors";
import { presentJob } from "../jobs/progress";
import { Badge, fmtDate, fmtInt, fmtUsd, Kpi, Layout, seg } from "./layout";

/** The job as GET /v1/jobs/{id} shows it, for the caller's own jobs only; anything else is the 404. */
export async function ownJob(c: Context<AppContext>, id: string) {
  const keyId = c.get("keyId");
  const row = keyId
    ? await db(c.env)
        .select({ job: schema.jobs, dataset: schema.datasets.name })
        .from(schema.jobs)
        .innerJoin(schema.datasets, eq(schema.datasets.id, schema.jobs.datasetId))
        .where(and(eq(schema.jobs.id, id), eq(schema.jobs.keyId, keyId)))
        .get()
    : undefined;
  if (!row) throw notFound(`job '${id}'`);
  return presentJob(c.env, row.job, row.dataset);
}

type Job = Awaited<ReturnType<typeof ownJob>>;

const settled = (j: Job) => j.candidates.accepted + j.candidates.rejected + j.candidates.failed;
const percent = (j: Job) => (j.candidates.planned ? Math.min(100, (100 * settled(j)) / j.candidates.planned) : j.finished_at ? 100 : 0);

// Served as /viewer/job.js (the CSP allows no inline script). It polls the viewer's own progress
// endpoint, which reads the key from the HttpOnly cookie on the server: the script never sees it.
export const JOB_SCRIPT = `
(() => {
  const root = document.querySelector("[data-job]");
  if (!root || root.dataset.finished === "1") return;
  const set = (k, v) => root.querySelectorAll('[data-k="' + k + '"]').forEach((el) => (el.textContent = v));
  const n = (x) => Number(x).toLocaleString("en-US");
  const tick = async () => {
    try {
      const res = await fetch("/jobs/" + encodeURIComponent(root.dataset.job) + "/progress.json", { credentials: "same-origin", cache: "no-store" });
      if (!res.ok) return setTimeout(tick, 5000);
      const j = await res.json();
      const c = j.candidates, done = c.accepted + c.rejected + c.failed;
      const pct = c.planned ? Math.min(100, (100 * done) / c.planned) : j.finished_at ? 100 : 0;
      root.querySelector(".progress > div").style.width = pct.toFixed(1) + "%";
      set("pct", pct.toFixed(1) + "%"); set("status", j.status.replace(/_/g, " "));
      for (const k of ["accepted", "rejected", "failed", "planned", "generated"]) set(k, n(c[k]));
      set("eta", j.eta_seconds == null ? "–" : j.eta_seconds + " s");
      set("cost", "$" + j.cost_usd.toFixed(4));
      if (j.finished_at) location.reload(); else setTimeout(tick, 2000);
    } catch { setTimeout(tick, 5000); }
  };
  setTimeout(tick, 2000);
})();
`;

export async function jobPage(c: Context<AppContext>, id: string) {
  const j = await ownJob(c, id);
  const base = `/d/${seg(j.dataset)}`;
  const filters = Object.entries(j.filters ?? {});
  return (
    <Layout title={`Job ${j.id}`} signedIn={!!c.get("keyId")}>
      <div class="crumbs">
        <a href="/">Datasets</a> / <a href={base}>{j.dataset}</a> /
      </div>
      <div data-job={j.id} data-finished={j.finished_at ? "1" : "0"}>
        <h1>
          Job <code>{j.id}</code> <Badge kind={j.status} />
        </h1>
        <p class="muted">
          Status <span data-k="status">{j.status.replace(/_/g, " ")}</span> · created {fmtDate(j.created_at)}
          {j.finished_at ? ` · finished ${fmtDate(j.finished_at)}` : ""} · {j.mode} mode
        </p>
        {j.error ? <p class="error">{j.error}</p> : null}
        <div class="card">
          <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(percent(j))}>
            <div style={`width:${percent(j).toFixed(1)}%`} />
          </div>
          <p style="margin:.4rem 0 0">
            <b data-k="pct">{percent(j).toFixed(1)}%</b> of candidates settled · ETA <span data-k="eta">{j.eta_seconds === null ? "–" : `${j.eta_seconds} s`}</span>
          </p>
        </div>
        <div class="kpis">
          <Kpi label="accepted" value={<span data-k="accepted">{fmtInt(j.candidates.accepted)}</span>} />
          <Kpi label="rejected" value={<span data-k="rejected">{fmtInt(j.candidates.rejected)}</span>} />
          <Kpi label="failed" value={<span data-k="failed">{fmtInt(j.candidates.failed)}</span>} />
          <Kpi label="generated" value={<span data-k="generated">{fmtInt(j.candidates.generated)}</span>} />
          <Kpi label="planned" value={<span data-k="planned">{fmtInt(j.candidates.planned)}</span>} />
          {j.candidates.cancelled ? <Kpi label="cancelled" value={fmtInt(j.candidates.cancelled)} /> : null}
          <Kpi label="inputs" value={fmtInt(j.inputs.total)} />
          <Kpi label="cost" value={<span data-k="cost">{fmtUsd(j.cost_usd)}</span>} />
          <Kpi label="tokens in / out" value={`${fmtInt(j.tokens.input)} / ${fmtInt(j.tokens.output)}`} />
        </div>
        <p>
          <a href={`${base}/samples?job=${seg(j.id)}&status=accepted`}>Accepted samples</a> · <a href={`${base}/samples?job=${seg(j.id)}&status=rejected`}>rejected samples</a> ·{" "}
          <a href={`${base}/samples?job=${seg(j.id)}&status=failed`}>failed</a>
        </p>
        {filters.length ? (
          <>
            <h2>Filters</h2>
            <table data-table="job-filters">
              <tbody>
                {filters.map(([k, n]) => (
                  <tr>
                    <td>
                      <code>{k}</code>
                    </td>
                    <td class="num">{fmtInt(n)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
      </div>
      <script src="/viewer/job.js" defer />
    </Layout>
  );
}
