import type { Child } from "hono/jsx";
import { raw } from "hono/html";

// Static stylesheet, no data in it; `raw` keeps `>` selectors from being escaped.
const CSS = raw(`
:root{--fg:#1d2330;--muted:#667085;--line:#e4e7ec;--bg:#f7f8fa;--card:#fff;--accent:#3b5bdb;--ok:#2f9e44;--bad:#e03131;--warn:#f08c00}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#111827;color:#fff}
header .bar{max-width:72rem;margin:0 auto;padding:.6rem 1.25rem;display:flex;gap:1rem;align-items:center}
header a{color:#fff;text-decoration:none}
header .brand{font-weight:700;letter-spacing:.02em}
header .sp{flex:1}
header form{margin:0}
header button{background:none;border:1px solid #4b5563;color:#e5e7eb;border-radius:6px;padding:.2rem .6rem;cursor:pointer;font:inherit}
main{max-width:72rem;margin:0 auto;padding:1.25rem}
a{color:var(--accent)}
h1{font-size:1.6rem;margin:.2rem 0 .4rem}
h2{font-size:1.15rem;margin:1.6rem 0 .6rem}
.muted{color:var(--muted)}
.crumbs{font-size:.9rem;color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.1rem;margin:.8rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(28rem,1fr));gap:1rem}
.kpis{display:flex;flex-wrap:wrap;gap:.6rem}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.5rem .9rem;min-width:8rem}
.kpi>b{display:block;font-size:1.25rem}
.kpi>span{font-size:.8rem;color:var(--muted)}
table{border-collapse:collapse;width:100%;background:var(--card)}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f1f3f5;border-radius:8px;padding:.7rem .9rem;overflow:auto;white-space:pre-wrap;word-break:break-word;max-height:32rem;margin:.4rem 0}
.badge{display:inline-block;border-radius:999px;padding:0 .55rem;font-size:.78rem;font-weight:600;border:1px solid var(--line);background:#fff}
.badge.public,.badge.accepted,.badge.done,.badge.published,.badge.pass,.badge.ok{color:var(--ok);border-color:#b2f2bb;background:#ebfbee}
.badge.private{color:#5f3dc4;border-color:#d0bfff;background:#f3f0ff}
.badge.rejected,.badge.failed,.badge.fail,.badge.cancelled,.badge.flagged{color:var(--bad);border-color:#ffc9c9;background:#fff5f5}
.badge.running,.badge.queued,.badge.compiling,.badge.budget_exhausted{color:var(--warn);border-color:#ffe8cc;background:#fff9db}
.progress{height:14px;background:#e9ecef;border-radius:999px;overflow:hidden}
.progress>div{height:100%;background:linear-gradient(90deg,#4c6ef5,#15aabf);transition:width .4s}
svg{display:block;max-width:100%;height:auto}
svg text{font:12px system-ui,sans-serif;fill:#495057}
details.sample{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:.5rem 0}
details.sample>summary{cursor:pointer;padding:.55rem .9rem;list-style:none;display:flex;gap:.6rem;align-items:baseline}
details.sample>summary::-webkit-details-marker{display:none}
details.sample>summary .preview{flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:var(--muted)}
details.sample[open]>summary{border-bottom:1px solid var(--line)}
details.sample .body{padding:.6rem .9rem}
form.signin{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}
form.signin input{flex:1;min-width:16rem;padding:.45rem .6rem;border:1px solid var(--line);border-radius:6px;font:inherit}
button.primary{background:var(--accent);color:#fff;border:0;border-radius:6px;padding:.45rem .9rem;font:inherit;cursor:pointer}
.tabs a{margin-right:.8rem}
.tabs a.on{font-weight:700;color:var(--fg);text-decoration:none}
.error{color:var(--bad)}
`);

export function Layout(props: { title: string; signedIn: boolean; children?: Child }) {
  return (
    <>
      {raw("<!doctype html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="referrer" content="same-origin" />
          <link rel="icon" href="data:," />
          <title>{props.title} · Winnow</title>
          <style>{CSS}</style>
        </head>
        <body>
          <header>
            <div class="bar">
              <a class="brand" href="/">
                Winnow
              </a>
              <a href="/">Datasets</a>
              <a href="/docs">API</a>
              <span class="sp" />
              {props.signedIn ? (
                <form method="post" action="/session/end">
                  <button type="submit">Sign out</button>
                </form>
              ) : (
                <a href="/session">Sign in</a>
              )}
            </div>
          </header>
          <main>{props.children}</main>
        </body>
      </html>
    </>
  );
}

export function SignInForm(props: { next: string; error?: string }) {
  return (
    <form class="signin" method="post" action="/session">
      <input type="hidden" name="next" value={props.next} />
      <input type="password" name="key" placeholder="wn_… API key" autocomplete="current-password" required aria-label="API key" />
      <button class="primary" type="submit">
        Sign in
      </button>
      {props.error ? <p class="error">{props.error}</p> : null}
    </form>
  );
}

export const Badge = (props: { kind: string }) => <span class={`badge ${props.kind}`}>{props.kind.replace(/_/g, " ")}</span>;

export const Kpi = (props: { label: string; value: Child }) => (
  <div class="kpi">
    <b>{props.value}</b>
    <span>{props.label}</span>
  </div>
);

export const fmtInt = (n: number | null | undefined) => (typeof n === "number" && Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
export const fmtPct = (x: number | null | undefined) => (typeof x === "number" && Number.isFinite(x) ? `${(x * 100).toFixed(x >= 0.1 || x === 0 ? 1 : 2)}%` : "–");
export const fmtUsd = (x: number | null | undefined) => (typeof x === "number" && Number.isFinite(x) ? `$${x < 1 ? x.toFixed(4) : x.toFixed(2)}` : "–");
export function fmtBytes(n: number | null | undefined): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}
export function fmtDate(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? "–" : d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}
/** Path segments in links: names are validated, but encoding keeps a link from ever changing meaning. */
export const seg = encodeURIComponent;
