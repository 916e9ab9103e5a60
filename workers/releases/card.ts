// The dataset card (README.md) of a release. Its YAML front matter is what the Hugging Face Hub
// reads to find the data files, license and size; the body tells a person how the data was made
// and how to load it as downloaded.
import type { DatasetRow } from "../datasets";
import type { ReleaseManifest } from "./compile";
import type { ReleaseStats } from "./stats";

/** License identifiers the Hub recognises; anything else is declared as `other` with its name. */
const HUB_LICENSES = new Set([
  "apache-2.0", "mit", "bsd", "bsd-2-clause", "bsd-3-clause", "isc", "unlicense", "wtfpl", "zlib", "mpl-2.0",
  "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "agpl-3.0", "gfdl", "epl-2.0", "eupl-1.2", "artistic-2.0",
  "cc", "cc0-1.0", "cc-by-2.0", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0",
  "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
  "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "odc-by", "odbl", "pddl", "openrail", "llama2", "llama3",
  "llama3.1", "llama3.2", "llama3.3", "gemma", "unknown", "other",
]);

/** The Hub's size_categories buckets. */
export function sizeCategory(n: number): string {
  const steps: [number, string][] = [
    [1e3, "n<1K"],
    [1e4, "1K<n<10K"],
    [1e5, "10K<n<100K"],
    [1e6, "100K<n<1M"],
    [1e7, "1M<n<10M"],
    [1e8, "10M<n<100M"],
    [1e9, "100M<n<1B"],
    [1e10, "1B<n<10B"],
    [1e11, "10B<n<100B"],
    [1e12, "100B<n<1T"],
  ];
  for (const [limit, label] of steps) if (n < limit) return label;
  return "n>1T";
}

/** A YAML double-quoted scalar: JSON string escapes are valid YAML. */
const q = (s: string) => JSON.stringify(s);

const PREFIX = { default: "data/train", pairs: "data/pairs", rejected: "data/rejected" } as const;

const pct = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(1)}%`);
const fmt = (x: number | null | undefined) => (x === null || x === undefined ? "–" : x.toFixed(3));

/** Markdown table cells must not break the row. */
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

export function renderCard(dataset: DatasetRow, manifest: ReleaseManifest, stats: ReleaseStats): string {
  const license = dataset.license.trim().toLowerCase();
  const licenseLines = HUB_LICENSES.has(license) ? [`license: ${license}`] : ["license: other", `license_name: ${q(dataset.license)}`];
  const dataFiles = manifest.files.filter((f) => f.config !== null);
  // Preference pairs (prompt, chosen, rejected) and rejected candidates are configs of their own.
  const configs = (["default", "pairs", "rejected"] as const).filter((cfg) => cfg === "default" || dataFiles.some((f) => f.config === cfg));
  const base = `/v1/datasets/${dataset.name}/releases/${manifest.version}/files`;
  const c = stats.completion_chars;
  const total = manifest.counts.candidates.accepted + manifest.counts.candidates.rejected + manifest.counts.candidates.failed;

  const front = [
    "---",
    `pretty_name: ${q(dataset.name)}`,
    ...licenseLines,
    "task_categories:",
    "- text-generation",
    "size_categories:",
    `- ${sizeCategory(manifest.counts.rows)}`,
    "tags:",
    "- synthetic",
    "- winnow",
    // Parquet is what the Hub's loaders prefer; the same rows are in the .jsonl.gz files.
    "configs:",
    ...configs.flatMap((config) => [`- config_name: ${config}`, "  data_files:", "  - split: train", `    path: ${q(`${PREFIX[config]}-*.parquet`)}`]),
    "---",
  ];

  const teachers = manifest.teachers.length
    ? ["| provider | model | rows | share |", "|---|---|---:|---:|", ...manifest.teachers.map((t) => `| ${cell(t.provider)} | ${cell(t.model)} | ${t.rows} | ${pct(t.share)} |`)]
    : ["No accepted samples yet."];
  const filters = stats.filters.length
    ? [
        "| filter | passed | rejected | pass rate | top rejection reasons |",
        "|---|---:|---:|---:|---|",
        ...stats.filters.map((f) => {
          const reasons = Object.entries(f.reasons)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 3)
            .map(([r, n]) => `\`${cell(r)}\` ${n}`)
            .join(", ");
          return `| ${cell(f.name)} | ${f.pass} | ${f.rejected} | ${pct(f.pass_rate)} | ${reasons || "–"} |`;
        }),
      ]
    : ["No filter counts were recorded."];
  const recipes = manifest.recipes.length ? manifest.recipes.map((r) => `- \`${r.sha256}\` (${r.jobs} job${r.jobs === 1 ? "" : "s"})`) : ["- none"];

  const body = [
    `# ${dataset.name}`,
    "",
    dataset.description.trim() || `Synthetic supervised fine-tuning data generated and filtered with Winnow.`,
    "",
    `Release **${manifest.version}**${manifest.parent ? ` (parent: ${manifest.parent})` : ""}, compiled ${manifest.created_at}: ` +
      `**${manifest.counts.rows}** samples in ${dataFiles.length} file${dataFiles.length === 1 ? "" : "s"}, ` +
      `from ${manifest.counts.jobs} job${manifest.counts.jobs === 1 ? "" : "s"}.`,
    "",
    "## How it was made",
    "",
    "Teacher models generated candidate completions from seed inputs; every candidate ran through the filter chain of its recipe, " +
      "and only candidates that passed every filter are in this release. " +
      `Of ${total} candidates, ${manifest.counts.candidates.accepted} were accepted, ${manifest.counts.candidates.rejected} rejected by a filter ` +
      `and ${manifest.counts.candidates.failed} failed (generation error).`,
    "",
    "### Teachers",
    "",
    ...teachers,
    "",
    "Generated text may be subject to the terms of use of the teacher models' providers.",
    "",
    "### Filters",
    "",
    ...filters,
    "",
    "### Recipes (sha256 of the canonical recipe JSON)",
    "",
    ...recipes,
    "",
    "### Lineage",
    "",
    `Human-written rows: ${stats.human.rows} (${pct(stats.human.share)}). Synthetic depth (0 = written by people, 1 = a teacher's output from human inputs, 2 = from synthetic inputs, ...):`,
    "",
    "| synthetic depth | rows | share |",
    "|---:|---:|---:|",
    ...stats.synthetic_depth.map((d) => `| ${d.depth} | ${d.rows} | ${pct(d.share)} |`),
    "",
    ...(stats.drift
      ? [
          "### Drift from the human reference set",
          "",
          ...(stats.drift.flagged ? [`> **Warning: this release has drifted from its human reference set** (${stats.drift.reasons.map(cell).join("; ")}).`, ""] : []),
          `Unigram Jensen–Shannon divergence ${fmt(stats.drift.unigram_jsd)} (threshold ${stats.drift.thresholds.maxJsd}), ` +
            `length-distribution distance ${fmt(stats.drift.length.distance)} (threshold ${stats.drift.thresholds.maxLengthDistance}), ` +
            `vocabulary tail coverage ${pct(stats.drift.tail_coverage)} (threshold ${pct(stats.drift.thresholds.minTailCoverage)}), ` +
            `against ${stats.drift.reference.texts} reference texts.`,
          "",
        ]
      : []),
    "### Statistics",
    "",
    `Assistant completion length in characters: min ${c.min}, median ${c.p50}, p90 ${c.p90}, max ${c.max}, mean ${c.mean}. ` +
      `Distinct-1 ${fmt(stats.distinct.distinct_1)}, distinct-2 ${fmt(stats.distinct.distinct_2)}; gzip compression ratio ${fmt(stats.compression.ratio)}. ` +
      `Exact duplicate completions: ${stats.duplicates.exact} (${pct(stats.duplicates.rate)}). ` +
      `Removed at compile (the release's final dedup and decontamination pass): ${manifest.counts.removed_at_compile.dedup_exact} exact and ${manifest.counts.removed_at_compile.dedup_near} near duplicates, ${manifest.counts.removed_at_compile.decontaminate} contaminated. ` +
      "Details are in `stats.json`.",
    "",
    "## Record format",
    "",
    "One JSON object per line (gzip-compressed JSONL):",
    "",
    "```json",
    '{"id": "smp_...", "messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}],',
    ' "input": {"...": "the seed row"},',
    ' "generator": {"provider": "...", "model": "...", "params": {"temperature": 0.8}},',
    ' "filters": [{"name": "...", "pass": true, "score": 1, "detail": "..."}],',
    ' "usage": {"input_tokens": 120, "output_tokens": 180, "cost_usd": 0.00012},',
    ' "lineage": {"job": "job_...", "recipe_sha256": "...", "prompt_sha256": "...", "synthetic_depth": 1},',
    ' "created_at": "..."}',
    "```",
    "",
    "`messages` is the chat format fine-tuning tools read directly.",
    "",
    "## Files",
    "",
    "| path | config | rows | bytes | sha256 |",
    "|---|---|---:|---:|---|",
    ...dataFiles.map((f) => `| ${f.path} | ${f.config} | ${f.rows ?? ""} | ${f.bytes} | \`${f.sha256}\` |`),
    "",
    manifest.changes.shared_files.length
      ? `${manifest.changes.shared_files.length} of these files are shared with earlier releases (unchanged, never rewritten); this release added ${manifest.changes.added.rows} rows in ${manifest.changes.added.files.length} files.`
      : "All files were written by this release.",
    "",
    "`manifest.json` lists every file of the release with its size and sha256.",
    "",
    "## How to load",
    "",
    `Download the files (\`GET ${base}/{path}\`, with the owner's key unless the dataset is public), keeping their paths, then:`,
    "",
    "```python",
    "from datasets import load_dataset",
    "",
    'ds = load_dataset("parquet", data_files={"train": "data/train-*.parquet"}, split="train")',
    '# or the same rows as JSON lines:',
    'ds = load_dataset("json", data_files={"train": "data/train-*.jsonl.gz"}, split="train")',
    "```",
    "",
    "```sql",
    "-- DuckDB",
    "SELECT count(*) FROM read_parquet('data/train-*.parquet');",
    "SELECT * FROM read_json_auto('data/train-*.jsonl.gz');",
    "```",
    "",
    `Every file of this release, one URL per line: \`GET ${base}?format=urls\`.`,
    "",
    "Uploaded as is to a Hugging Face dataset repository, the front matter above makes `load_dataset(\"<repo>\")` find the data files.",
  ];
  return [...front, "", ...body].join("\n");
}
