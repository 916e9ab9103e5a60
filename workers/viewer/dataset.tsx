import { desc, eq, sql } from "drizzle-orm";
import type { Context } from "hono";
import { loadDataset } from "../datasets";
import { db, schema } from "../db";
import type { AppContext } from "../env";
import { presentDataset } from "../routes/datasets";
import { Badge, fmtBytes, fmtDate, fmtInt, fmtUsd, Kpi, Layout, seg } from "./layout";

const LIST_LIMIT = 200;

export async function datasetPage(c: Context<AppContext>, name: string) {
  const ds = await loadDataset(c, name, "read");
  const owner = ds.keyId === c.get("keyId");
  const d1 = db(c.env);
  const [info, releases, jobs] = await Promise.all([
    presentDataset(c.env, ds),
    d1.select().from(schema.releases).where(eq(schema.releases.datasetId, ds.id)).orderBy(desc(schema.releases.createdAt), desc(sql`${schema.releases}.rowid`)).limit(LIST_LIMIT).all(),
    owner ? d1.select().from(schema.jobs).where(eq(schema.jobs.datasetId, ds.id)).orderBy(desc(schema.jobs.createdAt)).limit(LIST_LIMIT).all() : [],
  ]);
  // Only published releases can be read; the owner also sees the ones compiling or failed.
  const shown = owner ? releases : releases.filter((r) => r.status === "published");
  const base = `/d/${seg(ds.name)}`;
  return (
    <Layout title={ds.name} signedIn={!!c.get("keyId")}>
      <div class="crumbs">
        <a href="/">Datasets</a> /
      </div>
      <h1>
        {ds.name} <Badge kind={ds.visibility} />
      </h1>
      {ds.description ? <p>{ds.description}</p> : null}
      <div class="kpis">
        <Kpi label="accepted samples" value={fmtInt(info.counts?.accepted_samples)} />
        <Kpi label="jobs" value={fmtInt(info.counts?.jobs)} />
        <Kpi label="uploads" value={fmtInt(info.counts?.uploads)} />
        <Kpi label="license" value={ds.license} />
        <Kpi label="latest release" value={info.latest_release ? <a href={`${base}/r/${seg(info.latest_release.version)}`}>{info.latest_release.version}</a> : "–"} />
      </div>

      <h2>Releases</h2>
      {shown.length ? (
        <table data-table="releases">
          <thead>
            <tr>
              <th>version</th>
              <th>status</th>
              <th class="num">rows</th>
              <th class="num">size</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr>
                <td>{r.status === "published" ? <a href={`${base}/r/${seg(r.version)}`}>{r.version}</a> : r.version}</td>
                <td>
                  <Badge kind={r.status} />
                  {r.error ? <div class="muted" style="font-size:.85rem">{r.error}</div> : null}
                </td>
                <td class="num">{fmtInt(r.rows)}</td>
                <td class="num">{fmtBytes(r.bytes)}</td>
                <td>{fmtDate(r.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No releases yet. The daily cron compiles one when there are new samples, or POST /v1/datasets/{"{name}"}/releases.</p>
      )}

      {owner ? (
        <section>
          <h2>Jobs</h2>
          {jobs.length ? (
            <table data-table="jobs">
              <thead>
                <tr>
                  <th>job</th>
                  <th>status</th>
                  <th class="num">accepted</th>
                  <th class="num">rejected</th>
                  <th class="num">failed</th>
                  <th class="num">planned</th>
                  <th class="num">cost</th>
                  <th>samples</th>
                  <th>created</th>
                </tr>
              </thead>
              <tbody>
                {jobs.map((j) => (
                  <tr>
                    <td>
                      <a href={`/jobs/${seg(j.id)}`}>
                        <code>{j.id}</code>
                      </a>
                    </td>
                    <td>
                      <Badge kind={j.status} />
                    </td>
                    <td class="num">{fmtInt(j.accepted)}</td>
                    <td class="num">{fmtInt(j.rejected)}</td>
                    <td class="num">{fmtInt(j.failed)}</td>
                    <td class="num">{fmtInt(j.candidatesPlanned)}</td>
                    <td class="num">{fmtUsd(j.costUsd)}</td>
                    <td>
                      <a href={`${base}/samples?job=${seg(j.id)}&status=accepted`}>accepted</a> · <a href={`${base}/samples?job=${seg(j.id)}&status=rejected`}>rejected</a>
                    </td>
                    <td>{fmtDate(j.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No jobs yet: POST /v1/jobs with a recipe.</p>
          )}
        </section>
      ) : null}
    </Layout>
  );
}
