/*
 * decontaminate - rejects candidates that overlap benchmark items by word n-grams (13 by
 * default, as in GPT-3's contamination study).
 *
 * Text is normalised by the shared tokenizer (filters/ngrams.ts: lowercase, punctuation
 * removed, whitespace collapsed), so case and punctuation edits change nothing; a changed name
 * breaks only the n-grams spanning it and added framing text breaks none. A candidate is
 * contaminated when at least `min_matches` distinct n-grams (default 1) of one of its fields
 * occur in a benchmark, or when it contains a whole benchmark segment that has fewer (segments
 * of 6 to n-1 words, a few short GSM8K solutions, are matched whole). N-grams are compared by
 * 64 bits (two 32-bit hashes), so a match is a real shared run of n words, not a hash
 * collision: in 21k passages of ordinary prose not one shared a 13-gram with the benchmarks
 * (BENCHMARKS.md). GSM8K calculator annotations (`<<16-3-4=9>>`) are removed
 * from checked texts, as from the shipped solutions.
 *
 * Which fields: by default both the completion and the prompt (system + user messages). The
 * completion is where contamination teaches the model the benchmark's answers; the prompt
 * matters because a job whose inputs are benchmark questions yields samples that ARE benchmark
 * items (question as the prompt, a solution as the completion) even when the completion
 * paraphrases. `fields: ["completion"]` checks the completion only.
 *
 * Benchmarks shipped (filters/benchmarks/data.ts, built by filters/benchmarks/build.mjs): GSM8K
 * test questions and reference solutions, HumanEval-X JS prompts, stored as 16-bit indexes into
 * a vocabulary of 32-bit word hashes (441 KiB as source, ~250 KB gzipped) so any n works and no
 * benchmark text is in the bundle. `uploads` adds user-provided sets: every string field of every
 * row of each upload (owned by the dataset's key), read from R2 once per isolate.
 *
 * Applied twice: as a filter at generation, and at release compile through `createDecontaminator`
 * (the same check over accepted records), so records accepted before a benchmark or an upload
 * was added to the checks are caught when the next release is compiled.
 */
import { z } from "zod";
import * as keys from "../r2/keys";
import type { Env } from "../workers/env";
import { SHIPPED } from "./benchmarks/data";
import { defineFilter } from "./define";
import { combine, fmix32, shingleHashes, wordHashes } from "./ngrams";
import type { Candidate, Filter, FilterDeps, FilterResult } from "./types";

export const BENCHMARK_NAMES = ["gsm8k", "humaneval-x-js"] as const;
export type BenchmarkName = (typeof BENCHMARK_NAMES)[number];

export const DecontaminateOptions = z
  .object({
    type: z.literal("decontaminate"),
    benchmarks: z.array(z.enum(BENCHMARK_NAMES)).default(["gsm8k", "humaneval-x-js"]),
    /** Upload ids (POST /v1/datasets/{name}/inputs) of user-provided evaluation sets. */
    uploads: z.array(z.string().regex(/^inp_[A-Za-z0-9_-]{1,64}$/, "an upload id (inp_...)")).max(20).default([]),
    /** Words per n-gram. */
    n: z.number().int().min(5).max(50).default(13),
    /** Distinct matching n-grams that make a candidate contaminated. */
    min_matches: z.number().int().min(1).max(1000).default(1),
    fields: z.array(z.enum(["completion", "prompt"])).min(1).default(["completion", "prompt"]),
  })
  .strict();
export type DecontaminateOptions = z.infer<typeof DecontaminateOptions>;

const SEED2 = 0x6a09e667;

/** Benchmark segments shorter than n words but at least this long are matched whole. */
export const MIN_SHORT = 6;

/** Upper bound on the n-grams of one upload's index (8-16 bytes each in memory). */
export const MAX_UPLOAD_NGRAMS = 2_000_000;

// ---------------------------------------------------------------------------------------------

/** Open-addressing map from n-gram hash to the first segment (question, solution, prompt, row)
 *  containing it; typed arrays only. */
export class NgramIndex {
  private keys: Uint32Array;
  /** A second, independent 32-bit hash of each n-gram: lookups compare 64 bits. */
  private keys2: Uint32Array;
  private items: Uint32Array;
  private mask: number;
  size = 0;
  /** Distinct n-grams per segment (for "k of the item's m n-grams"). */
  readonly itemGrams: Uint32Array;
  /** Segment -> item (a GSM8K problem has three segments: question, solution, annotated solution). */
  readonly segItem: Uint32Array;
  /** Segments shorter than n (>= MIN_SHORT words), matched whole: by the hash of their first
   *  MIN_SHORT words, then both hashes of the whole segment. */
  readonly shortByPrefix = new Map<number, { len: number; h1: number; h2: number; seg: number }[]>();

  constructor(
    expected: number,
    segments: number,
    private itemLabel: (item: number) => string,
  ) {
    const cap = 2 ** Math.max(10, Math.ceil(Math.log2(expected * 2 + 1)));
    this.keys = new Uint32Array(cap);
    this.keys2 = new Uint32Array(cap);
    this.items = new Uint32Array(cap);
    this.mask = cap - 1;
    this.itemGrams = new Uint32Array(segments);
    this.segItem = new Uint32Array(segments);
  }

  label(segment: number): string {
    return this.itemLabel(this.segItem[segment]!);
  }

  add(gram: number, gram2: number, item: number): void {
    const k = gram || 1;
    for (let i = fmix32(k) & this.mask; ; i = (i + 1) & this.mask) {
      const cur = this.keys[i]!;
      if (cur === k && this.keys2[i] === gram2) return;
      if (cur === 0) {
        this.keys[i] = k;
        this.keys2[i] = gram2;
        this.items[i] = item;
        this.size++;
        this.itemGrams[item]!++;
        return;
      }
    }
  }

  /** Whether some entry has this first hash (a cheap pre-check before computing the second). */
  mayHave(gram: number): boolean {
    const k = gram || 1;
    for (let i = fmix32(k) & this.mask; ; i = (i + 1) & this.mask) {
      const cur = this.keys[i]!;
      if (cur === k) return true;
      if (cur === 0) return false;
    }
  }

  get(gram: number, gram2: number): number {
    const k = gram || 1;
    for (let i = fmix32(k) & this.mask; ; i = (i + 1) & this.mask) {
      const cur = this.keys[i]!;
      if (cur === k && this.keys2[i] === gram2) return this.items[i]!;
      if (cur === 0) return -1;
    }
  }

  get bytes() {
    return this.keys.byteLength * 3 + this.itemGrams.byteLength * 2;
  }

  /** Index of segments of a token stream: `segments` are [start, end, item] triples. */
  static fromTokens(tokens: Uint32Array, segments: Uint32Array, n: number, label: (i: number) => string): NgramIndex {
    let expected = 0;
    for (let s = 0; s < segments.length; s += 3) expected += Math.max(0, segments[s + 1]! - segments[s]! - n + 1);
    const idx = new NgramIndex(expected + segments.length / 3, segments.length / 3, label);
    for (let s = 0; s < segments.length; s += 3) {
      idx.segItem[s / 3] = segments[s + 2]!;
      const seg = tokens.subarray(segments[s]!, segments[s + 1]!);
      if (seg.length < n && seg.length >= MIN_SHORT) {
        const p = gramHash(seg, 0, MIN_SHORT, 0);
        const list = idx.shortByPrefix.get(p) ?? [];
        list.push({ len: seg.length, h1: gramHash(seg, 0, seg.length, 0), h2: gramHash(seg, 0, seg.length, SEED2), seg: s / 3 });
        idx.shortByPrefix.set(p, list);
        idx.itemGrams[s / 3] = 1;
        continue;
      }
      const grams = shingleHashes(seg, n, false);
      const grams2 = shingleHashes(seg, n, false, SEED2);
      for (let g = 0; g < grams.length; g++) idx.add(grams[g]!, grams2[g]!, s / 3);
    }
    return idx;
  }
}

function b64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const LABELS: Record<BenchmarkName, (i: number) => string> = {
  gsm8k: (i) => `GSM8K test #${i}`,
  "humaneval-x-js": (i) => `JavaScript/${i}`,
};

// Built once per isolate and n, then shared by every batch.
const shippedCache = new Map<string, NgramIndex>();
const uploadCache = new Map<string, Promise<NgramIndex>>();

export function benchmarkIndex(name: BenchmarkName, n = 13): NgramIndex {
  const key = `${name}:${n}`;
  let idx = shippedCache.get(key);
  if (!idx) {
    const b = SHIPPED[name];
    if (!b) throw new Error(`benchmark ${name} is not shipped`);
    const [vocabB64, idsB64] = b.tokens.split(".");
    const vb = b64(vocabB64!);
    const ib = b64(idsB64!);
    const vocab = new Uint32Array(vb.buffer, 0, vb.byteLength >>> 2);
    const ids = new Uint16Array(ib.buffer, 0, ib.byteLength >>> 1);
    const tokens = Uint32Array.from(ids, (i) => vocab[i]!);
    const sb = b64(b.segments);
    idx = NgramIndex.fromTokens(tokens, new Uint32Array(sb.buffer, 0, sb.byteLength >>> 2), n, LABELS[name]);
    shippedCache.set(key, idx);
  }
  return idx;
}

/** Every string field of a row (nested ones too), joined: what a user's evaluation item says. */
function rowText(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) rowText(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) rowText(x, out);
  return out;
}

/** The n-gram index of an upload of the dataset's key; uploads are immutable, so cached. */
export function uploadIndex(env: Env, datasetId: string, uploadId: string, n = 13): Promise<NgramIndex> {
  const key = `${uploadId}:${n}`;
  let p = uploadCache.get(key);
  if (!p) {
    p = buildUploadIndex(env, datasetId, uploadId, n);
    uploadCache.set(key, p);
    p.catch(() => uploadCache.delete(key));
  }
  return p;
}

async function buildUploadIndex(env: Env, datasetId: string, uploadId: string, n: number): Promise<NgramIndex> {
  // Only an upload of the same key (tenant) as the dataset: another key's upload is "not found".
  const up = await env.DB.prepare(
    `SELECT u.rows AS rows, u.chunks AS chunks FROM uploads u JOIN datasets d ON d.key_id = u.key_id WHERE u.id = ?1 AND d.id = ?2`,
  )
    .bind(uploadId, datasetId)
    .first<{ rows: number; chunks: number }>();
  if (!up) throw new Error(`upload ${uploadId} not found`);
  const tokens: Uint32Array[] = [];
  const segments: number[] = [];
  let total = 0;
  let grams = 0;
  let row = 0;
  for (let c = 0; c < up.chunks; c++) {
    const obj = await env.BUCKET.get(keys.uploadChunk(uploadId, c));
    if (!obj) throw new Error(`upload ${uploadId} chunk ${c} is missing`);
    for (const line of (await obj.text()).split("\n")) {
      if (!line) continue;
      const t = wordHashes(rowText(JSON.parse(line)).join("\n"));
      segments.push(total, total + t.length, row++);
      tokens.push(t);
      total += t.length;
      grams += Math.max(0, t.length - n + 1);
      if (grams > MAX_UPLOAD_NGRAMS) throw new Error(`upload ${uploadId} is too large to decontaminate against (over ${MAX_UPLOAD_NGRAMS} ${n}-grams)`);
    }
  }
  const all = new Uint32Array(total);
  let at = 0;
  for (const t of tokens) {
    all.set(t, at);
    at += t.length;
  }
  return NgramIndex.fromTokens(all, Uint32Array.from(segments), n, (i) => `upload ${uploadId} row ${i}`);
}

// ---------------------------------------------------------------------------------------------

export interface Overlap {
  set: string;
  item: string;
  /** Distinct n-grams of the text found in the set. */
  matched: number;
  /** Of those, how many belong to the best-matching segment of an item, and its n-gram count. */
  itemMatched: number;
  itemGrams: number;
  grams: number;
}

/** Hash of tokens[i, i+n), equal to shingleHashes(tokens, n, false, seed)[i]. */
function gramHash(tokens: Uint32Array, i: number, n: number, seed: number): number {
  let h = n ^ seed;
  for (let j = 0; j < n; j++) h = combine(h, tokens[i + j]!);
  return fmix32(h);
}

/**
 * Distinct windows of `tokens` (of each length in `lengths`) found in `idx`, and the segment most
 * of them come from. The second hash is computed only for windows whose first hash is present.
 */
export function overlap(idx: NgramIndex, tokens: Uint32Array, n: number): { matched: number; item: number; itemMatched: number } {
  let matched = 0;
  const seen = new Set<number>();
  const perItem = new Map<number, number>();
  const found = (g: number, item: number) => {
    if (seen.has(g)) return;
    seen.add(g);
    matched++;
    perItem.set(item, (perItem.get(item) ?? 0) + 1);
  };
  for (let i = 0; i + n <= tokens.length; i++) {
    const g = gramHash(tokens, i, n, 0);
    if (!idx.mayHave(g)) continue;
    const item = idx.get(g, gramHash(tokens, i, n, SEED2));
    if (item >= 0) found(g, item);
  }
  if (idx.shortByPrefix.size)
    for (let i = 0; i + MIN_SHORT <= tokens.length; i++) {
      const list = idx.shortByPrefix.get(gramHash(tokens, i, MIN_SHORT, 0));
      if (!list) continue;
      for (const e of list)
        if (i + e.len <= tokens.length && gramHash(tokens, i, e.len, 0) === e.h1 && gramHash(tokens, i, e.len, SEED2) === e.h2) found(e.h1, e.seg);
    }
  let item = -1;
  let itemMatched = 0;
  for (const [i, c] of perItem) if (c > itemMatched) [item, itemMatched] = [i, c];
  return { matched, item, itemMatched };
}

export interface Decontaminator {
  /** The filter verdict for one candidate (or accepted record: messages + completion). */
  check(c: Pick<Candidate, "messages" | "completion">): FilterResult;
}

/**
 * Loads the indexes `opts` names (shipped ones synchronously, uploads from R2) and returns the
 * check. Release compile calls this once and `check`s each accepted record: drop it when
 * `pass` is false. Upload sets need a dataset (their key must own the dataset).
 */
export async function createDecontaminator(env: Env, datasetId: string | null, options: Partial<DecontaminateOptions> = {}): Promise<Decontaminator> {
  const opts = DecontaminateOptions.parse({ type: "decontaminate", ...options });
  const sets: { name: string; idx: NgramIndex }[] = opts.benchmarks.map((b) => ({ name: b, idx: benchmarkIndex(b, opts.n) }));
  for (const u of opts.uploads) {
    if (!datasetId) throw new Error("uploads can only be checked for a dataset's job");
    sets.push({ name: `upload ${u}`, idx: await uploadIndex(env, datasetId, u, opts.n) });
  }
  return {
    check(c) {
      const fields: [string, string][] = [];
      for (const f of opts.fields)
        fields.push(
          f === "completion"
            ? ["completion", c.completion]
            : [
                "prompt",
                c.messages
                  .filter((m) => m.role !== "assistant")
                  .map((m) => m.content)
                  .join("\n"),
              ],
        );
      let best: (Overlap & { field: string }) | null = null;
      for (const [field, raw] of fields) {
        // GSM8K's calculator annotations (`<<16-3-4=9>>`) are removed on both sides.
        const text = raw.includes("<<") ? raw.replace(/<<[^<>]*>>/g, "") : raw;
        const tokens = wordHashes(text);
        const ngrams = Math.max(0, tokens.length - opts.n + 1);
        for (const { name, idx } of sets) {
          const o = overlap(idx, tokens, opts.n);
          if (!o.matched) continue;
          const itemGrams = idx.itemGrams[o.item]!;
          // Contaminated: min_matches n-grams, or every n-gram of an item with fewer than that.
          const hit = o.matched >= opts.min_matches || (itemGrams < opts.min_matches && o.itemMatched >= itemGrams);
          if (hit && (!best || o.matched > best.matched))
            best = { field, set: name, item: idx.label(o.item), matched: o.matched, itemMatched: o.itemMatched, itemGrams, grams: ngrams };
        }
      }
      if (!best) return { pass: true, score: 0 };
      return {
        pass: false,
        score: best.itemGrams ? best.itemMatched / best.itemGrams : 1,
        reason: "decontaminate.overlap",
        detail:
          `${best.field} shares ${best.matched} of its ${best.grams} ${opts.n}-grams with ${best.set}` +
          ` (${best.itemMatched} of the ${best.itemGrams} of ${best.item})`,
      };
    },
  };
}

export function decontaminateFilter(opts: DecontaminateOptions, deps: FilterDeps): Filter {
  let d: Decontaminator | null = null;
  let failure: string | null = null;
  const load = async () => {
    try {
      d = await createDecontaminator(deps.env, deps.datasetId, opts);
    } catch (e) {
      failure = String((e as Error)?.message ?? e).slice(0, 300);
    }
  };
  return {
    name: "decontaminate",
    prepare: load,
    async check(c) {
      if (!d && !failure) await load(); // /v1/filters/check may not call prepare
      if (!d) return { pass: false, reason: "decontaminate.unavailable", detail: failure ?? "index not loaded" };
      return d.check(c);
    },
  };
}

export const decontaminate = defineFilter({ type: "decontaminate", options: DecontaminateOptions, build: decontaminateFilter });
