import { and, asc, desc, eq, lte } from "drizzle-orm";
import type { Context } from "hono";
import * as keys from "../../r2/keys";
import { loadDataset, type DatasetRow } from "../datasets";
import { db, schema } from "../db";
import type { AppContext, Env } from "../env";
import { notFound } from "../errors";
import type { ReleaseManifest } from "../releases/compile";
import type { FilterStats, ReleaseStats } from "../releases/stats";
import { BarChart, ColumnChart, LineChart, type Bar } from "./charts";
import { Badge, fmtBytes, fmtDate, fmtInt, fmtPct, Kpi, Layout, seg } from "./layout";

/** Releases the drift line reaches back over. */
const DRIFT_RELEASES = 30;

/**
 * stats.json as this viewer reads it: every field optional, because releases compiled by older
 * code lack the newer ones (distinct-n, drift, human share, depth histogram) and vice versa.
 */
type Stats = Partial<ReleaseStats> & Record<string, unknown>;
/** Fields charted or summarised by name; any other top-level field is listed as it is. */
const KNOWN_STATS = new Set(["rows", "completion_chars", "teachers", "filters", "duplicates", "drift", "removed_at_compile"]);

async function readJson<T>(env: Env, key: string): Promise<T | null> {
  const obj = await env.BUCKET.get(key);
  if (!obj) return null;
  try {
    return await obj.json<T>();
  } catch {
    return null;
  }
}

/**
 * One number out of a release's `drift`: its unigram Jensen–Shannon divergence, else the first
 * numeric field (or the number itself), labelled with the field's name. Older and newer
 * compilers may shape it differently; anything unreadable is simply not plotted.
 */
export function driftValue(drift: unknown): { value: number; label: string } | null {
  const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
  if (finite(drift)) return { value: drift, label: "drift" };
  if (!drift || typeof drift !== "object" || Array.isArray(drift)) return null;
  const o = drift as Record<string, unknown>;
  if (finite(o.unigram_jsd)) return { value: o.unigram_jsd, label: "unigram JSD" };
  for (const [k, v] of Object.entries(o)) if (finite(v)) return { value: v, label: k.replace(/_/g, " ") };
  return null;
}

/**
 * A histogram-shaped statistic as bars, or null: `{"1": 40, "2": 3}` (numeric keys),
 * `[{depth: 1, count: 40}, …]`, or `{histogram: [{from, to, count}, …]}` like completion_chars.
 */
function histogramBars(v: unknown): Bar[] | null {
  if (!v || typeof v !== "object") return null;
  if (Array.isArray(v)) {
    const bars = v.flatMap((e) => {
      if (!e || typeof e !== "object") return [];
      const entries = Object.entries(e as Record<string, unknown>);
      const count = entries.find(([k, x]) => /^(count|rows|n)$/.test(k) && typeof x === "number");
      const label = entries.find(([k]) => k !== count?.[0] && k !== "to");
      return count && label ? [{ label: String(label[1]), value: count[1] as number }] : [];
    });
    return bars.length ? bars : null;
  }
  const o = v as Record<string, unknown>;
  if (Array.isArray(o.histogram)) return histogramBars(o.histogram);
  const entries = Object.entries(o);
  if (entries.length && entries.every(([k, x]) => /^\d+\+?$/.test(k) && typeof x === "number")) return entries.map(([k, x]) => ({ label: k, value: x as number }));
  return null;
}

/** A statistic that is not charted, as one short line: `rows 0 · share 0`, else compact JSON. */
function describe(v: unknown): string {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const flat = Object.entries(v).filter(([, x]) => x === null || typeof x !== "object");
    if (flat.length) return flat.map(([k, x]) => `${k.replace(/_/g, " ")} ${x}`).join(" · ");
  }
  const json = JSON.stringify(v) ?? "";
  return json.length > 300 ? `${json.slice(0, 299)}…` : json;
}

export function downloadHref(ds: DatasetRow, version: string, path: string): string {
  const file = path.split("/").map(seg).join("/");
  // Public files go straight to the download API; a private one needs the key, which a link
  // cannot carry, so the viewer forwards it with the key from the session cookie.
  return ds.visibility === "public"
    ? `/v1/datasets/${seg(ds.name)}/releases/${seg(version)}/files/${file}`
    : `/d/${seg(ds.name)}/r/${seg(version)}/files/${file}`;
}

export async function releasePage(c: Context<AppContext>, name: string, version: string) {
  const ds = await loadDataset(c, name, "read");
  const owner = ds.keyId === c.get("keyId");
  const d1 = db(c.env);
  const release = await d1
    .select()
    .from(schema.releases)
    .where(and(eq(schema.releases.datasetId, ds.id), eq(schema.releases.version, version), eq(schema.releases.status, "published")))
    .get();
  if (!release) throw notFound(`release '${version}' of dataset '${name}'`);
  const file = (p: string) => keys.releaseFile(ds.name, version, p);
  const [manifest, stats, card, history, jobs] = await Promise.all([
    readJson<ReleaseManifest>(c.env, file("manifest.json")),
    readJson<Stats>(c.env, file("stats.json")),
    c.env.BUCKET.get(file("README.md")).then((o) => o?.text() ?? null),
    d1
      .select({ version: schema.releases.version })
      .from(schema.releases)
      .where(and(eq(schema.releases.datasetId, ds.id), eq(schema.releases.status, "published"), lte(schema.releases.shardHigh, release.shardHigh)))
      .orderBy(desc(schema.releases.shardHigh), desc(schema.releases.createdAt))
      .limit(DRIFT_RELEASES)
      .all(),
    owner
      ? d1
          .selectDistinct({ id: schema.jobs.id, status: schema.jobs.status, accepted: schema.jobs.accepted, rejected: schema.jobs.rejected })
          .from(schema.shards)
          .innerJoin(schema.jobs, eq(schema.jobs.id, schema.shards.jobId))
          .where(and(eq(schema.shards.datasetId, ds.id), lte(schema.shards.id, release.shardHigh)))
          .orderBy(asc(schema.jobs.createdAt))
          .limit(100)
          .all()
      : [],
  ]);
  if (!manifest) throw notFound(`release '${version}' of dataset '${name}'`);

  // Drift over the releases up to this one, oldest first, when this release reports drift.
  let drift: { points: Bar[]; label: string } | null = null;
  const own = driftValue(stats?.drift);
  if (own) {
    const series = await Promise.all(
      history.reverse().map(async (r) => ({ version: r.version, d: r.version === version ? own : driftValue((await readJson<Stats>(c.env, keys.releaseFile(ds.name, r.version, "stats.json")))?.drift) })),
    );
    drift = { label: own.label, points: series.flatMap((s) => (s.d ? [{ label: s.version, value: s.d.value, title: `${s.version}: ${s.d.label} ${s.d.value}` }] : [])) };
  }

  const filters: FilterStats[] = Array.isArray(stats?.filters) ? stats.filters : [];
  const histogram = stats?.completion_chars?.histogram ?? [];
  const teachers = Array.isArray(stats?.teachers) ? stats.teachers : (manifest.teachers ?? []);
  const extras = stats ? Object.entries(stats).filter(([k]) => !KNOWN_STATS.has(k)) : [];
  const counts = manifest.counts;
  const removed = counts?.removed_at_compile ? Object.values(counts.removed_at_compile).reduce((n, x) => n + (Number(x) || 0), 0) : null;
  const base = `/d/${seg(ds.name)}`;

  return (
    <Layout title={`${ds.name} ${version}`} signedIn={!!c.get("keyId")}>
      <div class="crumbs">
        <a href="/">Datasets</a> / <a href={base}>{ds.name}</a> /
      </div>
      <h1>
        {ds.name} <span class="muted">{version}</span> <Badge kind={ds.visibility} />
      </h1>
      <p class="muted">
        Published {fmtDate(release.publishedAt)}
        {manifest.parent ? (
          <>
            {" "}
            · parent <a href={`${base}/r/${seg(manifest.parent)}`}>{manifest.parent}</a>
          </>
        ) : null}
      </p>
      <div class="kpis">
        <Kpi label="rows" value={fmtInt(counts?.rows)} />
        {counts?.pairs ? <Kpi label="preference pairs" value={fmtInt(counts.pairs)} /> : null}
        <Kpi label="jobs" value={fmtInt(counts?.jobs)} />
        <Kpi label="candidates accepted" value={fmtInt(counts?.candidates?.accepted)} />
        <Kpi label="rejected" value={fmtInt(counts?.candidates?.rejected)} />
        <Kpi label="failed" value={fmtInt(counts?.candidates?.failed)} />
        <Kpi label="removed at compile" value={fmtInt(removed)} />
        <Kpi label="duplicate rate" value={fmtPct(stats?.duplicates?.rate)} />
        <Kpi label="median length (chars)" value={fmtInt(stats?.completion_chars?.p50)} />
      </div>

      <div class="grid">
        <div class="card">
          <h2 style="margin-top:0">Completion length</h2>
          {histogram.length ? (
            <ColumnChart name="length-histogram" xLabel="characters in the assistant turn" bars={histogram.map((h) => ({ label: fmtInt(h.from), value: h.count, title: `${fmtInt(h.from)}–${fmtInt(h.to)} chars: ${fmtInt(h.count)} rows` }))} />
          ) : (
            <p class="muted">No length statistics in this release.</p>
          )}
        </div>
        <div class="card">
          <h2 style="margin-top:0">Pass rate by filter</h2>
          {filters.length ? (
            <BarChart
              name="filter-pass-rates"
              max={1}
              bars={filters.map((f) => ({
                label: f.name,
                value: f.pass_rate ?? 0,
                text: fmtPct(f.pass_rate),
                title: `${f.name}: ${fmtInt(f.pass)} passed, ${fmtInt(f.rejected)} rejected${Object.keys(f.reasons ?? {}).length ? ` (${Object.entries(f.reasons).map(([r, n]) => `${r} ${n}`).join(", ")})` : ""}`,
              }))}
            />
          ) : (
            <p class="muted">No filter statistics in this release.</p>
          )}
        </div>
        <div class="card">
          <h2 style="margin-top:0">Teachers</h2>
          {teachers.length ? (
            <BarChart name="teacher-shares" max={1} bars={teachers.map((t) => ({ label: `${t.provider}/${t.model}`, value: t.share, text: fmtPct(t.share), title: `${t.provider}/${t.model}: ${fmtInt(t.rows)} rows` }))} />
          ) : (
            <p class="muted">No teacher statistics in this release.</p>
          )}
        </div>
        {drift && drift.points.length ? (
          <div class="card">
            <h2 style="margin-top:0">
              Drift from the human reference {stats?.drift && typeof stats.drift === "object" && "flagged" in stats.drift ? <Badge kind={stats.drift.flagged ? "flagged" : "ok"} /> : null}
            </h2>
            <LineChart name="drift" yLabel={drift.label} points={drift.points} />
            <p class="muted" style="margin-bottom:0">{describe(stats?.drift)}</p>
          </div>
        ) : null}
        {extras.flatMap(([k, v]) => {
          const bars = histogramBars(v);
          return bars
            ? [
                <div class="card">
                  <h2 style="margin-top:0">{k.replace(/_/g, " ")}</h2>
                  <ColumnChart name={k} xLabel={k.replace(/_/g, " ")} bars={bars} />
                </div>,
              ]
            : [];
        })}
      </div>

      {filters.some((f) => Object.keys(f.reasons ?? {}).length) || extras.some(([, v]) => !histogramBars(v)) ? (
        <>
          <h2>More statistics</h2>
          <table data-table="stats">
            <tbody>
              {filters.flatMap((f) =>
                Object.entries(f.reasons ?? {}).map(([reason, n]) => (
                  <tr>
                    <td>
                      <code>{reason}</code>
                    </td>
                    <td class="num">{fmtInt(n)} rejected</td>
                  </tr>
                )),
              )}
              {extras
                .filter(([, v]) => !histogramBars(v))
                .map(([k, v]) => (
                  <tr>
                    <td>{k.replace(/_/g, " ")}</td>
                    <td>
                      {describe(v)}
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        </>
      ) : null}

      {owner && jobs.length ? (
        <>
          <h2>Jobs in this release</h2>
          <table data-table="release-jobs">
            <tbody>
              {jobs.map((j) => (
                <tr>
                  <td>
                    <a href={`/jobs/${seg(j.id)}`}>
                      <code>{j.id}</code>
                    </a>{" "}
                    <Badge kind={j.status} />
                  </td>
                  <td>
                    <a href={`${base}/samples?job=${seg(j.id)}&status=accepted`}>{fmtInt(j.accepted)} accepted samples</a> ·{" "}
                    <a href={`${base}/samples?job=${seg(j.id)}&status=rejected`}>{fmtInt(j.rejected)} rejected</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}

      <h2>Files</h2>
      <table data-table="files">
        <thead>
          <tr>
            <th>file</th>
            <th>config</th>
            <th class="num">rows</th>
            <th class="num">size</th>
            <th>sha256</th>
          </tr>
        </thead>
        <tbody>
          {[...(manifest.files ?? []), { path: "manifest.json", config: null, bytes: undefined, sha256: undefined, rows: undefined }].map((f) => (
            <tr>
              <td>
                <a href={downloadHref(ds, version, f.path)} download>
                  {f.path}
                </a>
              </td>
              <td>{f.config ?? ""}</td>
              <td class="num">{f.rows === undefined ? "" : fmtInt(f.rows)}</td>
              <td class="num">{f.bytes === undefined ? "" : fmtBytes(f.bytes)}</td>
              <td>{f.sha256 ? <code title={f.sha256}>{f.sha256.slice(0, 12)}…</code> : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h2>Dataset card</h2>
      {card ? <pre data-card>{card}</pre> : <p class="muted">This release has no card.</p>}
    </Layout>
  );
}
