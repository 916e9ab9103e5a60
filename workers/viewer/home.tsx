import { and, desc, eq, ne } from "drizzle-orm";
import type { Context } from "hono";
import { db, schema } from "../db";
import type { AppContext } from "../env";
import { presentDataset } from "../routes/datasets";
import { Badge, fmtDate, fmtInt, Layout, seg, SignInForm } from "./layout";

type Dataset = Awaited<ReturnType<typeof presentDataset>>;

/** Lists stop here: the viewer is for reading, the API pages through everything. */
const LIST_LIMIT = 200;

export async function homePage(c: Context<AppContext>) {
  const keyId = c.get("keyId");
  const d1 = db(c.env);
  const [mine, others] = await Promise.all([
    keyId ? d1.select().from(schema.datasets).where(eq(schema.datasets.keyId, keyId)).orderBy(desc(schema.datasets.createdAt)).limit(LIST_LIMIT).all() : [],
    d1
      .select()
      .from(schema.datasets)
      .where(keyId ? and(eq(schema.datasets.visibility, "public"), ne(schema.datasets.keyId, keyId)) : eq(schema.datasets.visibility, "public"))
      .orderBy(desc(schema.datasets.createdAt))
      .limit(LIST_LIMIT)
      .all(),
  ]);
  const [own, pub] = await Promise.all([Promise.all(mine.map((d) => presentDataset(c.env, d))), Promise.all(others.map((d) => presentDataset(c.env, d)))]);
  return (
    <Layout title="Datasets" signedIn={!!keyId}>
      <h1>Datasets</h1>
      <p class="muted">Synthetic data that passed its filters, released as versioned snapshots.</p>
      {keyId ? (
        <section>
          <h2>Your datasets</h2>
          <DatasetTable rows={own} empty="You have no datasets yet: create one with POST /v1/datasets, or run npm run demo." />
        </section>
      ) : (
        <div class="card">
          <p style="margin-top:0">Sign in with your API key to see your private datasets and jobs. The key is kept in an HttpOnly cookie, never in a URL.</p>
          <SignInForm next="/" />
        </div>
      )}
      <section>
        <h2>Public datasets</h2>
        <DatasetTable rows={pub} empty="No public datasets yet." />
      </section>
    </Layout>
  );
}

function DatasetTable(props: { rows: Dataset[]; empty: string }) {
  if (!props.rows.length) return <p class="muted">{props.empty}</p>;
  return (
    <table data-table="datasets">
      <thead>
        <tr>
          <th>name</th>
          <th>visibility</th>
          <th class="num">accepted samples</th>
          <th class="num">jobs</th>
          <th>latest release</th>
          <th>created</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((d) => (
          <tr>
            <td>
              <a href={`/d/${seg(d.name)}`}>{d.name}</a>
              {d.description ? <div class="muted" style="font-size:.85rem">{d.description.length > 140 ? `${d.description.slice(0, 139)}…` : d.description}</div> : null}
            </td>
            <td>
              <Badge kind={d.visibility} />
            </td>
            <td class="num">{fmtInt(d.counts?.accepted_samples)}</td>
            <td class="num">{fmtInt(d.counts?.jobs)}</td>
            <td>
              {d.latest_release ? (
                <a href={`/d/${seg(d.name)}/r/${seg(d.latest_release.version)}`}>
                  {d.latest_release.version} · {fmtInt(d.latest_release.rows)} rows
                </a>
              ) : (
                <span class="muted">none yet</span>
              )}
            </td>
            <td>{fmtDate(d.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
