import { and, desc, eq } from "drizzle-orm";
import type { Context } from "hono";
import { loadDataset } from "../datasets";
import { db, schema } from "../db";
import type { AppContext } from "../env";
import { notFound } from "../errors";
import { pageSamples } from "../jobs/samples";
import type { CandidateRecord, CandidateStatus } from "../records";
import { Badge, fmtInt, fmtUsd, Layout, seg } from "./layout";

const PAGE = 20;
const STATUSES: CandidateStatus[] = ["accepted", "rejected", "failed"];

export async function samplesPage(c: Context<AppContext>, name: string) {
  // Samples (rejected ones included) are the owner's, as in the API: anyone else gets the 404.
  const ds = await loadDataset(c, name, "read");
  if (ds.keyId !== c.get("keyId")) throw notFound(`dataset '${name}'`);
  const q = c.req.query();
  const status: CandidateStatus = STATUSES.includes(q.status as CandidateStatus) ? (q.status as CandidateStatus) : "accepted";
  const d1 = db(c.env);
  const job = q.job
    ? await d1.select().from(schema.jobs).where(and(eq(schema.jobs.id, q.job), eq(schema.jobs.datasetId, ds.id))).get()
    : await d1.select().from(schema.jobs).where(eq(schema.jobs.datasetId, ds.id)).orderBy(desc(schema.jobs.createdAt)).get();
  if (q.job && !job) throw notFound(`job '${q.job}' of dataset '${name}'`);
  const cursor = q.cursor && q.cursor.length <= 200 ? q.cursor : undefined;
  const page = job ? await pageSamples(c.env, job.id, status, cursor, PAGE) : { samples: [], next_cursor: null };
  const base = `/d/${seg(ds.name)}`;
  const here = (s: CandidateStatus, cur?: string) => `${base}/samples?job=${seg(job?.id ?? "")}&status=${s}${cur ? `&cursor=${seg(cur)}` : ""}`;
  return (
    <Layout title={`${ds.name} samples`} signedIn={!!c.get("keyId")}>
      <div class="crumbs">
        <a href="/">Datasets</a> / <a href={base}>{ds.name}</a> /
      </div>
      <h1>Samples</h1>
      {job ? (
        <>
          <p class="muted">
            Job{" "}
            <a href={`/jobs/${seg(job.id)}`}>
              <code>{job.id}</code>
            </a>{" "}
            <Badge kind={job.status} /> · {fmtInt(job.accepted)} accepted, {fmtInt(job.rejected)} rejected, {fmtInt(job.failed)} failed
          </p>
          <p class="tabs">
            {STATUSES.map((s) => (
              <a class={s === status ? "on" : ""} href={here(s)}>
                {s}
              </a>
            ))}
          </p>
          {page.samples.length ? page.samples.map((r) => <Sample r={r} />) : <p class="muted">No {status} samples{cursor ? " on this page" : ""}.</p>}
          <p>
            {cursor ? <a href={here(status)}>← first page</a> : null} {page.next_cursor ? <a href={here(status, page.next_cursor)} rel="next">next page →</a> : null}
          </p>
        </>
      ) : (
        <p class="muted">This dataset has no jobs yet.</p>
      )}
    </Layout>
  );
}

function Sample(props: { r: CandidateRecord }) {
  const r = props.r;
  const messages = Array.isArray(r.messages) ? r.messages : [];
  const completion = [...messages].reverse().find((m) => m.role === "assistant")?.content ?? "";
  const prompt = messages.filter((m) => m.role !== "assistant");
  return (
    <details class="sample" data-sample={r.id}>
      <summary>
        <Badge kind={r.status} />
        <code>
          #{r.input_index}.{r.candidate}
        </code>
        <span class="preview">{r.reason ?? r.error?.code ?? completion.slice(0, 200)}</span>
        <span class="muted">{r.generator?.model}</span>
      </summary>
      <div class="body">
        <h3>Filter trace</h3>
        {r.filters?.length ? (
          <table data-trace>
            <thead>
              <tr>
                <th>filter</th>
                <th>verdict</th>
                <th class="num">score</th>
                <th>reason</th>
                <th>detail</th>
              </tr>
            </thead>
            <tbody>
              {r.filters.map((f) => (
                <tr>
                  <td>
                    <code>{f.name}</code>
                  </td>
                  <td>
                    <Badge kind={f.pass ? "pass" : "fail"} />
                  </td>
                  <td class="num">{typeof f.score === "number" ? String(Number(f.score.toFixed(4))) : ""}</td>
                  <td>{f.reason ? <code>{f.reason}</code> : ""}</td>
                  <td>{f.detail ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="muted">No filter ran{r.error ? `: ${r.error.code}: ${r.error.message}` : ""}.</p>
        )}
        <h3>Completion</h3>
        <pre>{completion || "(none)"}</pre>
        <details>
          <summary>Prompt and input</summary>
          {prompt.map((m) => (
            <>
              <div class="muted">{m.role}</div>
              <pre>{m.content}</pre>
            </>
          ))}
          <div class="muted">input row</div>
          <pre>{JSON.stringify(r.input, null, 2)}</pre>
        </details>
        <p class="muted">
          {r.generator?.provider}/{r.generator?.model} · {fmtInt(r.usage?.input_tokens)} in, {fmtInt(r.usage?.output_tokens)} out · {fmtUsd(r.usage?.cost_usd)} · depth{" "}
          {r.lineage?.synthetic_depth ?? "–"} · <code>{r.id}</code>
        </p>
      </div>
    </details>
  );
}
