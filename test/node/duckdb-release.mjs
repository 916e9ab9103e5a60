#!/usr/bin/env node
// Loads a release the way its users will: downloads every data file exactly as the API serves
// it and reads it with DuckDB (`read_json_auto` for gzip JSONL, `read_parquet` for Parquet).
// Checks, per file and per config, that the row counts match the manifest and each other, that
// both formats hold the same ids, and that the chat columns are lists of {role, content} with
// `user` and `assistant` turns. Exits 1 with every mismatch listed.
//
// Runs against a live stack (CI runs it after the smoke demo, with the stack's saved URL and key).
import { DuckDBInstance } from "@duckdb/node-api";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { client, fail, parseFlags, readState } from "../../scripts/lib.mjs";

const USAGE = `usage: node test/node/duckdb-release.mjs [options]

  --url U             the stack's URL (default $WINNOW_URL, else the one npm start saved)
  --key K             API key (default $WINNOW_KEY, else the dev key npm start saved)
  --dataset NAME      check this dataset (default: every dataset the key sees that has a release)
  --version V         check this release (default: the dataset's latest)
  --require-parquet   fail unless every config with data has Parquet files too
  --save DIR          also keep each release as downloaded, laid out as its manifest says, in
                      DIR/<dataset>/<version>/ (data files, README.md, stats.json, manifest.json),
                      for test/python/hf_load.py
`;

const args = parseFlags(
  process.argv.slice(2),
  {
    url: { type: "string" },
    key: { type: "string" },
    dataset: { type: "string" },
    version: { type: "string" },
    "require-parquet": { type: "boolean", default: false },
    save: { type: "string" },
  },
  USAGE,
);
const baseUrl = args.url ?? process.env.WINNOW_URL ?? readState("url");
const key = args.key ?? process.env.WINNOW_KEY ?? readState("dev-key");
if (!baseUrl || !key) fail(`no ${!baseUrl ? "URL" : "API key"} for the Winnow stack: pass --url and --key, or start it with \`npm start\``);
if (args.version && !args.dataset) fail("--version needs --dataset");
const api = client(baseUrl, key);

/** Chat columns of each config, and the roles each must contain. */
const CHAT = {
  default: { messages: ["user", "assistant"] },
  rejected: { messages: ["user", "assistant"] },
  pairs: { prompt: ["user"], chosen: ["assistant"], rejected: ["assistant"] },
};

const problems = [];
const problem = (msg) => {
  problems.push(msg);
  console.log(`  ✗ ${msg}`);
};
const ok = (msg) => console.log(`  ✓ ${msg}`);

const formatOf = (f) => f.format ?? (f.path.endsWith(".parquet") ? "parquet" : f.path.endsWith(".jsonl.gz") ? "jsonl" : null);
const sqlString = (s) => `'${s.replaceAll("'", "''")}'`;
const sqlList = (paths) => `[${paths.map(sqlString).join(", ")}]`;
const reader = (format, paths) =>
  format === "parquet" ? `read_parquet(${sqlList(paths)})` : `read_json_auto(${sqlList(paths)}, format = 'newline_delimited')`;

/** GET with the raw bytes as sent: what a user's curl or `datasets` download gets. */
function download(url) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith("https:") ? https : http;
    const req = mod.get(url, { headers: { authorization: `Bearer ${key}` } }, (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.setTimeout(120_000, () => req.destroy(new Error(`timeout downloading ${url}`)));
    req.on("error", reject);
  });
}

async function releasesToCheck() {
  if (args.dataset) {
    const version = args.version ?? (await api.get(`/v1/datasets/${encodeURIComponent(args.dataset)}`)).latest_release?.version;
    if (!version) fail(`dataset '${args.dataset}' has no release`);
    return [{ dataset: args.dataset, version }];
  }
  const { datasets } = await api.get("/v1/datasets");
  const out = datasets.filter((d) => d.latest_release).map((d) => ({ dataset: d.name, version: d.latest_release.version }));
  if (!out.length) fail("no dataset with a release: run `npm run demo` first, or pass --dataset");
  return out;
}

/** With --save: the file at its manifest path under DIR/<dataset>/<version>/, as a user's download would lay it out. */
function save(dataset, version, path, body) {
  if (!args.save) return;
  const target = join(args.save, dataset, version, ...path.split("/"));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, body);
}

async function query(conn, sql) {
  return (await conn.runAndReadAll(sql)).getRowObjects();
}

async function checkRelease(conn, dir, dataset, version) {
  const releaseUrl = `${api.base}/v1/datasets/${encodeURIComponent(dataset)}/releases/${encodeURIComponent(version)}`;
  const manifest = await api.get(`/v1/datasets/${encodeURIComponent(dataset)}/releases/${encodeURIComponent(version)}`);
  console.log(`${dataset} ${version}: ${manifest.files.length} files`);
  const data = manifest.files.filter((f) => f.config);
  if (args.save) {
    save(dataset, version, "manifest.json", Buffer.from(JSON.stringify(manifest, null, 2)));
    for (const f of manifest.files.filter((f) => !f.config)) {
      const res = await download(`${releaseUrl}/files/${f.path.split("/").map(encodeURIComponent).join("/")}`);
      if (res.status === 200) save(dataset, version, f.path, res.body);
      else problem(`${f.path}: GET → ${res.status}`);
    }
  }

  // Every data file, downloaded as served, into dir; grouped by config and format.
  const byConfig = new Map();
  for (const f of data) {
    const format = formatOf(f);
    if (!format) {
      problem(`${f.path}: a data file that is neither .jsonl.gz nor .parquet`);
      continue;
    }
    const res = await download(`${releaseUrl}/files/${f.path.split("/").map(encodeURIComponent).join("/")}`);
    if (res.status !== 200) {
      problem(`${f.path}: GET → ${res.status} ${res.body.toString("utf8").slice(0, 200)}`);
      continue;
    }
    const sha = createHash("sha256").update(res.body).digest("hex");
    if (res.body.length !== f.bytes || sha !== f.sha256)
      problem(`${f.path}: downloaded ${res.body.length} bytes sha256 ${sha}, manifest says ${f.bytes} bytes sha256 ${f.sha256}`);
    const local = join(dir, `${dataset}-${version}-${f.path.replaceAll("/", "_")}`);
    writeFileSync(local, res.body);
    save(dataset, version, f.path, res.body);
    const groups = byConfig.get(f.config) ?? { jsonl: [], parquet: [] };
    groups[format].push({ ...f, local });
    byConfig.set(f.config, groups);
  }

  for (const [config, groups] of byConfig) {
    const manifestRows = {};
    const duckRows = {};
    for (const format of ["jsonl", "parquet"]) {
      const files = groups[format];
      if (!files.length) continue;
      manifestRows[format] = 0;
      duckRows[format] = 0;
      for (const f of files) {
        let n;
        try {
          n = Number((await query(conn, `SELECT count(*) AS n FROM ${reader(format, [f.local])}`))[0].n);
        } catch (e) {
          problem(`${f.path}: DuckDB ${format === "parquet" ? "read_parquet" : "read_json_auto"} failed: ${e.message}`);
          continue;
        }
        manifestRows[format] += f.rows ?? 0;
        duckRows[format] += n;
        if (n === f.rows) ok(`${f.path}: ${n} rows, as the manifest says`);
        else problem(`${f.path}: DuckDB reads ${n} rows, the manifest says ${f.rows}`);
      }
    }
    const rows = manifestRows.jsonl ?? manifestRows.parquet ?? 0;
    if (!groups.parquet.length) {
      if (args["require-parquet"]) problem(`config '${config}': no Parquet files (--require-parquet)`);
      else console.log(`  · config '${config}': no Parquet files in this release, JSONL only`);
    } else if (!groups.jsonl.length) {
      problem(`config '${config}': Parquet files but no JSONL files`);
    } else if (duckRows.jsonl === duckRows.parquet && manifestRows.jsonl === manifestRows.parquet) {
      ok(`config '${config}': ${duckRows.jsonl} rows in JSONL and in Parquet`);
    } else {
      problem(`config '${config}': JSONL has ${duckRows.jsonl} rows (manifest ${manifestRows.jsonl}), Parquet ${duckRows.parquet} (manifest ${manifestRows.parquet})`);
    }
    if (rows === 0) continue;

    // The same records in both formats, by id.
    if (groups.jsonl.length && groups.parquet.length) {
      const [json, parquet] = [reader("jsonl", groups.jsonl.map((f) => f.local)), reader("parquet", groups.parquet.map((f) => f.local))];
      try {
        const [d] = await query(
          conn,
          `SELECT (SELECT count(*) FROM (SELECT id FROM ${json} EXCEPT SELECT id FROM ${parquet})) AS only_json,
                  (SELECT count(*) FROM (SELECT id FROM ${parquet} EXCEPT SELECT id FROM ${json})) AS only_parquet`,
        );
        if (Number(d.only_json) || Number(d.only_parquet))
          problem(`config '${config}': ${d.only_json} ids only in JSONL, ${d.only_parquet} only in Parquet`);
        else ok(`config '${config}': the same ids in both formats`);
      } catch (e) {
        problem(`config '${config}': comparing ids failed: ${e.message}`);
      }
    }

    // Chat columns: a list of {role, content} structs in every format, with the expected roles.
    for (const [column, want] of Object.entries(CHAT[config] ?? {})) {
      for (const format of ["jsonl", "parquet"]) {
        const files = groups[format];
        if (!files.length) continue;
        try {
          const roles = (
            await query(conn, `SELECT DISTINCT m.role AS role FROM (SELECT unnest(${column}) AS m FROM ${reader(format, files.map((f) => f.local))}) ORDER BY 1`)
          ).map((r) => r.role);
          const missing = want.filter((r) => !roles.includes(r));
          if (missing.length) problem(`config '${config}' ${format}: ${column}.role has ${JSON.stringify(roles)}, missing ${missing.join(", ")}`);
          else ok(`config '${config}' ${format}: ${column}.role has ${roles.join(", ")}`);
        } catch (e) {
          problem(`config '${config}' ${format}: ${column} is not a list of {role, content}: ${e.message}`);
        }
      }
    }
  }
  if (!byConfig.has("default")) problem(`${dataset} ${version}: no data files for the 'default' config`);
}

const dir = mkdtempSync(join(tmpdir(), "winnow-duckdb-"));
try {
  const instance = await DuckDBInstance.create(":memory:");
  const conn = await instance.connect();
  for (const { dataset, version } of await releasesToCheck()) await checkRelease(conn, dir, dataset, version);
  conn.closeSync();
} catch (e) {
  problem(`could not check the release: ${e.message}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (problems.length) fail(`${problems.length} problem(s) loading the release with DuckDB:\n  ${problems.join("\n  ")}`);
console.log("DuckDB loads the release: row counts, ids and chat columns agree");
