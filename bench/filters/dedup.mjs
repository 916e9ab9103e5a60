// Near-duplicate recall, false positives and throughput of filters/dedup.ts + filters/minhash.ts.
// Run: npx tsx bench/filters/dedup.mjs
//
// Corpus: English prose from the Markdown and text files under node_modules (READMEs,
// changelogs, docs), /usr/share/vim (Vim's help) and /usr/share/doc, fenced code removed, split into ~1 KB passages on word boundaries. Near-duplicate pairs are
// constructed from a passage by random word edits (substitute a word by a random corpus word,
// delete a word, or insert one) at a per-word rate between 0 and 6%; each pair's true Jaccard is
// computed exactly on the filter's own shingle sets (word 5-grams of the normalised text), and
// recall is reported by true-Jaccard bin. Unrelated pairs are different passages.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatasetDedupIndex, dedupFilter, sampleKeys } from "../../filters/dedup.ts";
import { BANDS, requiredBands, SHINGLE } from "../../filters/minhash.ts";
import { shingleHashes, wordHashes } from "../../filters/ngrams.ts";

export function corpus(roots = ["node_modules", "/usr/share/vim", "/usr/share/doc"], size = 1000) {
  const files = [];
  const walk = (d, depth) => {
    let ents;
    try { ents = readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const p = join(d, e.name);
      if (e.isDirectory()) { if (depth < 8) walk(p, depth + 1); }
      else if (/\.(md|txt)$/i.test(e.name)) files.push(p);
    }
  };
  for (const root of roots) walk(root, 0);
  const seen = new Set();
  const passages = [];
  for (const f of files.sort()) {
    let t;
    try { if (statSync(f).size > 2_000_000) continue; t = readFileSync(f, "utf8"); } catch { continue; }
    if (seen.has(t)) continue; // the same README vendored twice
    seen.add(t);
    t = t.replace(/```[\s\S]*?```/g, " ").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
    const ws = t.split(" ").filter(Boolean);
    let cur = [];
    let len = 0;
    for (const w of ws) {
      cur.push(w);
      len += w.length + 1;
      if (len >= size) { passages.push(cur.join(" ")); cur = []; len = 0; }
    }
  }
  // Distinct passages only (changelog boilerplate repeats).
  return [...new Set(passages)];
}

function rng(seed) {
  return () => { seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

const shingleSet = (t) => new Set(shingleHashes(wordHashes(t), SHINGLE));
function jaccard(a, b) {
  const A = shingleSet(a), B = shingleSet(b);
  let i = 0;
  for (const x of A) if (B.has(x)) i++;
  return i / (A.size + B.size - i);
}

function edit(text, rate, rand, vocab) {
  const ws = text.split(" ");
  const out = [];
  for (const w of ws) {
    const r = rand();
    if (r < rate / 3) out.push(vocab[Math.floor(rand() * vocab.length)]);
    else if (r < (2 * rate) / 3) continue;
    else if (r < rate) out.push(w, vocab[Math.floor(rand() * vocab.length)]);
    else out.push(w);
  }
  return out.join(" ");
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const passages = corpus();
  const vocab = passages.slice(0, 300).join(" ").split(" ");
  console.log(`corpus: ${passages.length} distinct passages of ~1 KB from *.md/*.txt under node_modules, /usr/share/vim, /usr/share/doc`);
  const threshold = 0.85;
  console.log(`LSH: ${BANDS} bands x 5 rows, near threshold ${threshold} → ${requiredBands(threshold)} agreeing bands required`);

  // 1. Recall on constructed near-duplicates, by true-Jaccard bin: each pair in its own index.
  const rand = rng(42);
  const bins = new Map();
  const N = Math.min(passages.length, 4000);
  for (let i = 0; i < N; i++) {
    const a = passages[i];
    const b = edit(a, rand() * 0.06, rand, vocab);
    const j = jaccard(a, b);
    const idx = new DatasetDedupIndex({ near: threshold });
    idx.add(a);
    const v = idx.check(b);
    const bin = j >= 0.85 ? (j >= 0.95 ? "[0.95,1]" : j >= 0.9 ? "[0.90,0.95)" : "[0.85,0.90)") : j >= 0.7 ? "[0.70,0.85)" : j >= 0.5 ? "[0.50,0.70)" : "[0,0.50)";
    const s = bins.get(bin) ?? { n: 0, caught: 0, exact: 0 };
    s.n++;
    if (v.dup) s.caught++;
    if (v.dup === "exact") s.exact++;
    bins.set(bin, s);
  }
  let n85 = 0, c85 = 0;
  console.log("\ntrue Jaccard bin | pairs | flagged (exact+near) | rate");
  for (const k of ["[0.95,1]", "[0.90,0.95)", "[0.85,0.90)", "[0.70,0.85)", "[0.50,0.70)", "[0,0.50)"]) {
    const s = bins.get(k);
    if (!s) continue;
    console.log(`${k} | ${s.n} | ${s.caught} | ${(s.caught / s.n).toFixed(3)}`);
    if (k.startsWith("[0.9") || k.startsWith("[0.85")) { n85 += s.n; c85 += s.caught; }
  }
  console.log(`RECALL at J >= 0.85: ${c85}/${n85} = ${(c85 / n85).toFixed(4)}`);

  // 2. False positives on unrelated text: every passage, in order, against an index of all the
  // passages before it. The corpus has real near-duplicates (the same README in two package
  // versions), so each passage's true maximum Jaccard against the earlier ones is computed
  // exactly (inverted index over shingles); a flag on a passage whose maximum is < 0.5 is a false
  // positive.
  {
    const idx = new DatasetDedupIndex({ near: threshold, capacity: passages.length });
    const inv = new Map();
    const sizes = [];
    const rows = { unrelated: [0, 0], mid: [0, 0], near: [0, 0] };
    passages.forEach((p, i) => {
      const set = shingleSet(p);
      const shared = new Map();
      for (const x of set) for (const j of inv.get(x) ?? []) shared.set(j, (shared.get(j) ?? 0) + 1);
      let maxJ = 0;
      for (const [j, c] of shared) maxJ = Math.max(maxJ, c / (set.size + sizes[j] - c));
      sizes.push(set.size);
      for (const x of set) { const l = inv.get(x); if (l) l.push(i); else inv.set(x, [i]); }
      const v = idx.add(p);
      const row = maxJ < 0.5 ? rows.unrelated : maxJ < 0.85 ? rows.mid : rows.near;
      row[0]++;
      if (v.dup) row[1]++;
    });
    console.log(`\ncorpus passages in order against all earlier ones (${passages.length}):`);
    console.log(`  max true J < 0.5 (unrelated): ${rows.unrelated[0]}, flagged ${rows.unrelated[1]} → FALSE-POSITIVE RATE ${(rows.unrelated[1] / rows.unrelated[0]).toFixed(5)}`);
    console.log(`  max true J in [0.5, 0.85): ${rows.mid[0]}, flagged ${rows.mid[1]} (${(rows.mid[1] / Math.max(1, rows.mid[0])).toFixed(3)})`);
    console.log(`  max true J >= 0.85 (natural near-duplicates): ${rows.near[0]}, flagged ${rows.near[1]} (${(rows.near[1] / Math.max(1, rows.near[0])).toFixed(3)})`);
    console.log(`  index: ${idx.samples} samples, ${idx.bytes} bytes (${(idx.bytes / idx.samples).toFixed(1)} B/sample with a capacity hint)`);
  }

  // 3. Memory at 1M samples (synthetic keys; no capacity hint and with one).
  for (const capacity of [undefined, 1_000_000]) {
    const idx = new DatasetDedupIndex({ near: threshold, capacity });
    const r = rng(7);
    const bands = new Uint32Array(2 * BANDS);
    for (let i = 0; i < 1_000_000; i++) {
      for (let b = 0; b < bands.length; b++) bands[b] = (r() * 2 ** 32) >>> 0;
      idx.insertKeys({ exact: [(r() * 2 ** 32) >>> 0, (r() * 2 ** 32) >>> 0], bands });
    }
    const ser = idx.serialize().byteLength;
    console.log(`1M samples, capacity hint ${capacity ?? "none"}: ${(idx.bytes / 2 ** 20).toFixed(1)} MiB in memory (${(idx.bytes / 1e6).toFixed(1)} B/sample), snapshot ${(ser / 2 ** 20).toFixed(1)} MiB`);
  }

  // 4. Throughput on ~1 KB texts, one core, in CPU time (process.cpuUsage, so other processes
  // on the machine do not count): keys (normalise + shingle + MinHash + bands) plus the check
  // against a 100k-sample index; and the filter's own check() (batch-local LSH + index).
  {
    const texts = passages.slice(0, 5000);
    const idx = new DatasetDedupIndex({ near: threshold, capacity: 200_000 });
    for (let i = 0; i < 100_000; i++) idx.insertKeys(sampleKeys(texts[i % texts.length] + " " + i));
    const bytes = texts.reduce((n, t) => n + t.length, 0) / texts.length;
    const cpu = (f) => { const t0 = process.cpuUsage(); f(); const d = process.cpuUsage(t0); return (d.user + d.system) / 1e6; };
    for (let round = 0; round < 3; round++) {
      let dt = cpu(() => { for (const t of texts) idx.check(t); });
      if (round === 2) console.log(`\nthroughput, index.check on ${bytes.toFixed(0)}-char texts (100k-sample index): ${(texts.length / dt).toFixed(0)} candidates/s per core (CPU time)`);
      const f = dedupFilter({ type: "dedup", near: threshold, exact: true, on: "completion" }, { env: {}, datasetId: null });
      dt = cpu(() => { for (const t of texts) f.check({ input: {}, messages: [], completion: t }, { render: (s) => s }); });
      if (round === 2) console.log(`throughput, dedup filter check() (batch-local LSH + index): ${(texts.length / dt).toFixed(0)} candidates/s per core (CPU time)`);
    }
  }
}
