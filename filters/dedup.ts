/*
 * dedup - exact and near-duplicate removal across a whole dataset.
 *
 * WHAT IS A DUPLICATE. Exact: the same text after normalisation (lowercase, punctuation removed,
 * whitespace collapsed), compared by a 64-bit hash. Near: MinHash over word 5-gram shingles,
 * 8 LSH bands × 5 rows; a candidate is a near-duplicate when at least m bands agree with the
 * index, m derived from the `near` threshold (0.85 -> 2 bands; measured recall at J >= 0.85 in
 * BENCHMARKS.md). By default the completion is compared (`on: "completion"`);
 * `on: "sample"` compares prompt + completion, for datasets where different prompts may share
 * short answers.
 *
 * WHY NOT D1 ROWS. One row per sample and band would be 9 rows written per accepted sample:
 * $9 per million samples at $1/M rows written, 18x the whole cost goal. The index lives in R2.
 *
 * THE INDEX. Two scalable Bloom filters (layers that double in capacity): 64-bit exact keys at
 * 32 bits per key (false-positive rate 3e-7 per lookup) and 8 band keys per sample at 16 bits
 * per key (6e-4 per band lookup; a false near-duplicate needs two such collisions, ~1e-5). That
 * is 20 bytes per sample when a layer is full, at most ~40 bytes just after a doubling: 1M
 * samples take 20-40 MB, and 20 MB when the caller gives a capacity hint (release compile knows
 * the count). No per-sample JS object exists anywhere; the filters are plain Uint32Arrays that
 * serialise as-is. The price: a stored match cannot name the earlier sample, only that one
 * exists (exact: its text hash, which is the candidate's own; near: how many bands agree and
 * the Jaccard that implies). Within a batch the other candidate is named.
 *
 * GENERATION TIME (the filter, once per consumer batch of ~400 candidates).
 *   prepare(): LIST datasets/{id}/index/dedup/, GET the newest snapshot and every per-batch
 *   delta the snapshot does not cover; when 32 or more deltas are uncovered, fold them into a
 *   new immutable snapshot (PUT) and delete what the loaded snapshot already covered.
 *   check(): candidate vs snapshot + deltas + the earlier candidates of this batch.
 *   commit(accepted): PUT one immutable delta object (72 bytes per accepted sample) named
 *   delta-<ms>-<uuid>.bin. Nothing is ever read-modified-written, so concurrent consumers
 *   cannot lose each other's writes; a snapshot lists the deltas it folded (as 32-bit hashes of
 *   their names), so readers never double count and folds by two consumers at once are harmless.
 *   R2 cost per 1M candidates (2,500 batches): class A ~ 2,500 PUT + >=2,500 LIST + ~80 snapshot
 *   PUTs ~ 5,100 ops = $0.023; class B ~ 2,500 × (1 snapshot + ~16 deltas) ~ 42,000 GETs =
 *   $0.015. Total ~ $0.04 per 1M candidates, no D1 rows.
 *
 * WHAT CONCURRENCY LETS THROUGH. Two batches running at once do not see each other (each
 * writes its delta only after its D1 commit), so the same text accepted by both lands twice;
 * a reader that listed just before a delta was written misses it; a delta deleted by a fold
 * while a slow reader still wanted it is missed by that reader. Each gap only lets a duplicate
 * through, never rejects a unique sample.
 *
 * THE AUTHORITY. Release compile streams the accepted records in order through a fresh
 * index (workers/releases/authority.ts): first occurrence wins, later duplicates are dropped
 * from the release, whatever generation let through. It then calls `foldDedupIndex` to replace
 * the deltas with one snapshot, so the next day's batches start from one GET.
 *
 * Within a batch, a candidate that passes dedup is remembered at once (candidates of a batch run
 * concurrently), even if a later filter rejects it; put dedup after the verifiers and judges so
 * that a rejected twin cannot block a good candidate.
 *
 * With no dataset (POST /v1/filters/check) dedup works within the request only.
 */
import { z } from "zod";
import * as keys from "../r2/keys";
import { deleteKeys, listKeys } from "../r2/bulk";
import type { Env } from "../workers/env";
import { defineFilter } from "./define";
import { agreeingBands, BANDS, bandKeys, estimateJaccard, requiredBands, SHINGLE, signatureOf, similarityFromBands } from "./minhash";
import { hashString, hex32, sequenceHash, shingleHashes, wordHashes } from "./ngrams";
import type { Candidate, Filter, FilterDeps, Message } from "./types";

export const DedupOptions = z
  .object({
    type: z.literal("dedup"),
    /**
     * Jaccard threshold for near-duplicates (word 5-gram shingles); false or 0 disables. The
     * bands agreeing that count as "near" follow from it (0.85 -> 2 of 8); below ~0.76 even one
     * band catches fewer than 90% of pairs at the threshold.
     */
    near: z.union([z.number().min(0.7).max(0.99), z.literal(0), z.literal(false)]).default(0.85),
    /** Exact duplicates on normalised text. */
    exact: z.boolean().default(true),
    /** What is compared: the completion, or the prompt messages plus the completion. */
    on: z.enum(["completion", "sample"]).default("completion"),
  })
  .strict();
export type DedupOptions = z.infer<typeof DedupOptions>;

// ---------------------------------------------------------------------------------------------
// Scalable Bloom filter over 64-bit keys given as two 32-bit halves.

interface Layer {
  capacity: number;
  count: number;
  k: number;
  log2m: number;
  /** 2^log2m - 1, kept rather than recomputed: `2 **` on every probe call made it ~2.5× slower. */
  mask: number;
  bits: Uint32Array;
}

export class ScalableBloom {
  layers: Layer[] = [];
  constructor(
    readonly bitsPerKey: number,
    readonly k: number,
    private firstCapacity: number,
  ) {}

  private newLayer(capacity: number): Layer {
    const log2m = Math.max(10, Math.ceil(Math.log2(capacity * this.bitsPerKey)));
    const l = layer(Math.floor(2 ** log2m / this.bitsPerKey), 0, this.k, log2m, new Uint32Array(2 ** (log2m - 5)));
    this.layers.push(l);
    return l;
  }

  // has and add are the inner loop of every dedup check (9 filters a sample), so they read
  // everything into locals first.
  has(h1: number, h2: number): boolean {
    h2 |= 1;
    const layers = this.layers;
    for (let j = 0; j < layers.length; j++) {
      const l = layers[j]!;
      const bits = l.bits, mask = l.mask, k = l.k;
      let i = 0;
      for (let p = h1; i < k; i++, p = (p + h2) >>> 0) {
        const bit = p & mask;
        if (!(bits[bit >>> 5]! & (1 << (bit & 31)))) break;
      }
      if (i === k) return true;
    }
    return false;
  }

  add(h1: number, h2: number): void {
    let l = this.layers[this.layers.length - 1];
    if (!l || l.count >= l.capacity) l = this.newLayer(l ? l.capacity * 2 : this.firstCapacity);
    h2 |= 1;
    const bits = l.bits, mask = l.mask, k = l.k;
    for (let i = 0, p = h1; i < k; i++, p = (p + h2) >>> 0) {
      const bit = p & mask;
      bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    l.count++;
  }

  get bytes() {
    return this.layers.reduce((n, l) => n + l.bits.byteLength, 0);
  }

  words(): number {
    return 1 + this.layers.reduce((n, l) => n + 4 + l.bits.length, 0);
  }

  write(out: Uint32Array, at: number): number {
    out[at++] = this.layers.length;
    for (const l of this.layers) {
      out[at++] = l.capacity;
      out[at++] = l.count;
      out[at++] = l.k;
      out[at++] = l.log2m;
      out.set(l.bits, at);
      at += l.bits.length;
    }
    return at;
  }

  read(src: Uint32Array, at: number): number {
    const n = src[at++]!;
    for (let i = 0; i < n; i++) {
      const capacity = src[at++]!, count = src[at++]!, k = src[at++]!, log2m = src[at++]!;
      const len = 2 ** (log2m - 5);
      // A view, not a copy: a 1M-sample snapshot is 20–40 MB and the Worker has 128 MB.
      this.layers.push(layer(capacity, count, k, log2m, src.subarray(at, at + len)));
      at += len;
    }
    return at;
  }
}

/** Every layer is made here, so all have one shape (V8 keeps the probe loops monomorphic). */
const layer = (capacity: number, count: number, k: number, log2m: number, bits: Uint32Array): Layer => ({ capacity, count, k, log2m, mask: 2 ** log2m - 1, bits });

// ---------------------------------------------------------------------------------------------
// Per-sample keys and the dataset-wide index.

/** Words of a sample's keys in a delta: 2 (exact) + 2 per band. */
export const KEY_WORDS = 2 + 2 * BANDS;

export interface SampleKeys {
  /** 64-bit hash of the normalised text. */
  exact: [number, number];
  /** Two words per LSH band. */
  bands: Uint32Array;
  /** MinHash signature (for similarity within a batch); absent when decoded from a delta. */
  sig?: Uint32Array;
}

export function sampleKeys(text: string): SampleKeys {
  const tokens = wordHashes(text);
  const sig = signatureOf(shingleHashes(tokens, SHINGLE));
  return { exact: sequenceHash(tokens), bands: bandKeys(sig), sig };
}

/** Text hash shown in details: the first 64 bits of the normalised text's key, in hex. */
export const textHash = (k: SampleKeys) => hex32(k.exact[0]) + hex32(k.exact[1]);

export interface DedupVerdict {
  dup: "exact" | "near" | null;
  /** Bands (of 8) that agree with the index. */
  bands: number;
  /** Jaccard implied by the agreeing bands. */
  similarity: number;
}

const MAGIC = 0x31444457; // "WDD1"

export interface DedupIndexOptions {
  /** Jaccard threshold for near-duplicates; false/0 disables near (exact only). */
  near?: number | false;
  exact?: boolean;
  /** Expected number of samples: sizes the first Bloom layer (20 bytes/sample when accurate). */
  capacity?: number;
}

/**
 * The dataset-wide duplicate index: bounded memory (20-40 bytes per sample), no per-sample
 * objects. `add(text)` checks and then remembers; use it in order over accepted records, first
 * occurrence wins. Thresholds are per call site, the stored keys are threshold-independent.
 */
export class DatasetDedupIndex {
  readonly exactSet: ScalableBloom;
  readonly bandSet: ScalableBloom;
  /** 32-bit hashes of the delta object names folded in (so a reader never folds one twice). */
  readonly folded = new Set<number>();
  samples = 0;
  private needBands: number;
  private useExact: boolean;
  /** The snapshot this index was loaded from, whose Bloom layers it updates in place. */
  private source: { words: Uint32Array; shape: string } | null = null;

  constructor(opts: DedupIndexOptions = {}) {
    const cap = Math.max(1024, opts.capacity ?? 65_536);
    this.exactSet = new ScalableBloom(32, 16, cap);
    this.bandSet = new ScalableBloom(16, 8, cap * BANDS);
    this.needBands = opts.near ? requiredBands(opts.near) : Infinity;
    this.useExact = opts.exact ?? true;
  }

  /** Changes the thresholds of later checks (the stored keys do not depend on them). */
  configure(opts: { near?: number | false; exact?: boolean }): this {
    this.needBands = opts.near ? requiredBands(opts.near) : Infinity;
    this.useExact = opts.exact ?? true;
    return this;
  }

  checkKeys(k: SampleKeys): DedupVerdict {
    if (this.useExact && this.exactSet.has(k.exact[0], k.exact[1])) return { dup: "exact", bands: BANDS, similarity: 1 };
    let agree = 0;
    if (this.needBands <= BANDS) for (let b = 0; b < BANDS; b++) if (this.bandSet.has(k.bands[2 * b]!, k.bands[2 * b + 1]!)) agree++;
    return { dup: agree >= this.needBands ? "near" : null, bands: agree, similarity: similarityFromBands(agree) };
  }

  insertKeys(k: { exact: readonly number[] | Uint32Array; bands: Uint32Array }): void {
    this.exactSet.add(k.exact[0]!, k.exact[1]!);
    for (let b = 0; b < BANDS; b++) this.bandSet.add(k.bands[2 * b]!, k.bands[2 * b + 1]!);
    this.samples++;
  }

  check(text: string): DedupVerdict & { keys: SampleKeys } {
    const keys = sampleKeys(text);
    return { ...this.checkKeys(keys), keys };
  }

  /** Checks, then remembers the text unless it is a duplicate. */
  add(text: string): DedupVerdict & { keys: SampleKeys } {
    const v = this.check(text);
    if (!v.dup) this.insertKeys(v.keys);
    return v;
  }

  /** Folds a delta object (see encodeDelta) in; `name` makes folding idempotent. */
  addDelta(data: ArrayBuffer | Uint8Array, name?: string): number {
    const u = toU32(data);
    if (u[0] !== MAGIC + 1) throw new Error("not a dedup delta");
    if (name) {
      const h = hashString(name);
      if (this.folded.has(h)) return 0;
      this.folded.add(h);
    }
    const n = u[1]!;
    for (let i = 0; i < n; i++) {
      const at = 2 + i * KEY_WORDS;
      this.insertKeys({ exact: u.subarray(at, at + 2), bands: u.subarray(at + 2, at + KEY_WORDS) });
    }
    return n;
  }

  covers(name: string): boolean {
    return this.folded.has(hashString(name));
  }

  /** Heap bytes held (the Bloom layers and the folded-name set). */
  get bytes(): number {
    return this.exactSet.bytes + this.bandSet.bytes + this.folded.size * 16;
  }

  private shape(): string {
    return `${this.folded.size}/${this.exactSet.layers.length}/${this.bandSet.layers.length}`;
  }

  /**
   * The snapshot bytes. An index loaded from a snapshot whose layout has not changed since (no
   * Bloom layer or folded delta added) is written back into that same buffer: at 1M samples the
   * index is ~20 MB, and a release compile step must not hold it twice.
   */
  serialize(): Uint8Array {
    const words = 4 + this.folded.size + this.exactSet.words() + this.bandSet.words();
    const reuse = this.source && this.source.words.length === words && this.source.shape === this.shape();
    const out = reuse ? this.source!.words : new Uint32Array(words);
    out[0] = MAGIC;
    out[1] = BANDS;
    out[2] = this.samples;
    out[3] = this.folded.size;
    let at = 4;
    for (const h of this.folded) out[at++] = h;
    // In place, each layer's bits are already where write() would copy them (set() is a memmove).
    at = this.exactSet.write(out, at);
    this.bandSet.write(out, at);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  static load(data: ArrayBuffer | Uint8Array, opts: Omit<DedupIndexOptions, "capacity"> = {}): DatasetDedupIndex {
    const u = toU32(data);
    if (u[0] !== MAGIC || u[1] !== BANDS) throw new Error("not a dedup snapshot");
    const idx = new DatasetDedupIndex(opts);
    idx.samples = u[2]!;
    let at = 4;
    for (let i = 0; i < u[3]!; i++) idx.folded.add(u[at++]!);
    at = idx.exactSet.read(u, at);
    at = idx.bandSet.read(u, at);
    if (at === u.length) idx.source = { words: u, shape: idx.shape() };
    return idx;
  }
}

export function toU32(data: ArrayBuffer | Uint8Array): Uint32Array {
  if (data instanceof Uint8Array) {
    if (data.byteOffset % 4 === 0) return new Uint32Array(data.buffer, data.byteOffset, data.byteLength >>> 2);
    return new Uint32Array(data.slice().buffer);
  }
  return new Uint32Array(data, 0, data.byteLength >>> 2);
}

/** A delta object: the keys of samples accepted by one batch, 72 bytes each. */
export function encodeDelta(samples: SampleKeys[]): Uint8Array {
  const out = new Uint32Array(2 + samples.length * KEY_WORDS);
  out[0] = MAGIC + 1;
  out[1] = samples.length;
  samples.forEach((s, i) => {
    const at = 2 + i * KEY_WORDS;
    out[at] = s.exact[0];
    out[at + 1] = s.exact[1];
    out.set(s.bands, at + 2);
  });
  return new Uint8Array(out.buffer);
}

// ---------------------------------------------------------------------------------------------
// R2 persistence: immutable snapshots and per-batch deltas under one prefix.

/** Uncovered deltas that make a consumer fold them into a new snapshot. */
export const FOLD_EVERY = 32;

const stamp = () => String(Date.now()).padStart(13, "0");

async function listIndex(env: Env, datasetId: string): Promise<{ snapshots: string[]; deltas: string[] }> {
  const listed = await listKeys(env.BUCKET, keys.dedupIndexPrefix(datasetId));
  return { snapshots: listed.filter((k) => k.includes("/snap-")).sort(), deltas: listed.filter((k) => k.includes("/delta-")).sort() };
}

export interface LoadedDedupIndex {
  index: DatasetDedupIndex;
  /** The snapshot loaded, if any. */
  snapshot: string | null;
  /** Other snapshots present (older, or written concurrently). */
  otherSnapshots: string[];
  /** Deltas the loaded snapshot already covered. */
  coveredDeltas: string[];
  /** Deltas folded in by this load (not in the snapshot). */
  newDeltas: string[];
}

/** Snapshot + every delta it does not cover. Objects deleted meanwhile are skipped. */
export async function loadDedupIndex(env: Env, datasetId: string, opts: DedupIndexOptions = {}): Promise<LoadedDedupIndex> {
  const { snapshots, deltas } = await listIndex(env, datasetId);
  let index: DatasetDedupIndex | null = null;
  let snapshot: string | null = null;
  for (const key of [...snapshots].reverse()) {
    const obj = await env.BUCKET.get(key);
    if (!obj) continue;
    index = DatasetDedupIndex.load(await obj.arrayBuffer(), opts);
    snapshot = key;
    break;
  }
  index ??= new DatasetDedupIndex(opts);
  const coveredDeltas = deltas.filter((d) => index.covers(d));
  const todo = deltas.filter((d) => !index.covers(d));
  const newDeltas: string[] = [];
  for (let i = 0; i < todo.length; i += 8) {
    const got = await Promise.all(todo.slice(i, i + 8).map(async (key) => ({ key, obj: await env.BUCKET.get(key) })));
    for (const { key, obj } of got) {
      if (!obj) continue;
      index.addDelta(await obj.arrayBuffer(), key);
      newDeltas.push(key);
    }
  }
  return { index, snapshot, otherSnapshots: snapshots.filter((s) => s !== snapshot), coveredDeltas, newDeltas };
}

/** Writes `index` as a new snapshot; removes `obsolete` keys afterwards (best effort). */
export async function writeDedupSnapshot(env: Env, datasetId: string, index: DatasetDedupIndex, obsolete: string[] = []): Promise<string> {
  const key = keys.dedupSnapshot(datasetId, `${stamp()}-${crypto.randomUUID()}`);
  await env.BUCKET.put(key, index.serialize(), { customMetadata: { samples: String(index.samples) } });
  await deleteKeys(env.BUCKET, obsolete, { bestEffort: true });
  return key;
}

/**
 * For release compile, after its authority pass: fold every delta into one snapshot and delete
 * the deltas and snapshots it replaces. Safe while consumers run (they may briefly miss a
 * deleted object, which the next compile catches).
 */
export async function foldDedupIndex(env: Env, datasetId: string): Promise<{ snapshot: string; samples: number; folded: number }> {
  const l = await loadDedupIndex(env, datasetId);
  const obsolete = [...l.coveredDeltas, ...l.newDeltas, ...(l.snapshot ? [l.snapshot] : []), ...l.otherSnapshots];
  // Keep the folded-name set small: the deltas it names are being deleted now.
  const compact = DatasetDedupIndex.load(l.index.serialize());
  compact.folded.clear();
  for (const d of [...l.coveredDeltas, ...l.newDeltas]) compact.folded.add(hashString(d));
  const snapshot = await writeDedupSnapshot(env, datasetId, compact, obsolete);
  return { snapshot, samples: compact.samples, folded: l.newDeltas.length };
}

/** A stored record's messages as the filters see them: the prompt messages and the completion. */
export function splitMessages(messages: Message[]): Pick<Candidate, "messages" | "completion"> {
  const last = messages.at(-1);
  return last?.role === "assistant" ? { messages: messages.slice(0, -1), completion: last.content } : { messages, completion: "" };
}

/** The text dedup compares for a candidate. */
export function dedupText(c: Pick<Candidate, "messages" | "completion">, on: "completion" | "sample" = "completion"): string {
  if (on === "completion") return c.completion;
  return [...c.messages.map((m) => m.content), c.completion].join("\n");
}

// ---------------------------------------------------------------------------------------------
// The filter.

export function dedupFilter(opts: DedupOptions, deps: FilterDeps): Filter {
  const near = opts.near === false || opts.near === 0 ? false : opts.near;
  const needBands = near ? requiredBands(near) : Infinity;
  let index = new DatasetDedupIndex({ near, exact: opts.exact, capacity: 1024 });
  let loaded: LoadedDedupIndex | null = null;
  // This batch's earlier candidates: exact hash → sample, band key → samples.
  const batchExact = new Map<string, SampleKeys>();
  const batchBands = new Map<number, SampleKeys[]>();

  return {
    name: "dedup",
    async prepare() {
      if (!deps.datasetId) return;
      try {
        loaded = await loadDedupIndex(deps.env, deps.datasetId, { near, exact: opts.exact });
      } catch (e) {
        // R2 trouble must not fail the batch: check within it, and let compile be the authority.
        console.error("dedup index load failed; checking within the batch only", e);
        return;
      }
      index = loaded.index;
      if (loaded.newDeltas.length >= FOLD_EVERY) {
        // Fold: a new immutable snapshot covering what we loaded; what the old snapshot already
        // covered (and older snapshots) can go.
        const obsolete = [...loaded.coveredDeltas, ...loaded.otherSnapshots.filter((s) => s < (loaded!.snapshot ?? ""))];
        await writeDedupSnapshot(deps.env, deps.datasetId, index, obsolete).catch((e) => console.error("dedup fold failed", e));
      }
    },
    check(c) {
      const k = sampleKeys(dedupText(c, opts.on));
      const h = textHash(k);
      if (opts.exact) {
        const twin = batchExact.get(h);
        if (twin) return { pass: false, score: 1, reason: "dedup.exact", detail: `exact duplicate of a candidate in this batch (text hash ${h})` };
      }
      const v = index.checkKeys(k);
      if (v.dup === "exact") return { pass: false, score: 1, reason: "dedup.exact", detail: `exact duplicate of an earlier sample in the dataset (text hash ${h})` };
      if (needBands <= BANDS) {
        let best: { other: SampleKeys; agree: number } | null = null;
        const seen = new Set<SampleKeys>();
        for (let b = 0; b < BANDS; b++)
          for (const other of batchBands.get(k.bands[2 * b]!) ?? []) {
            if (seen.has(other)) continue;
            seen.add(other);
            const agree = agreeingBands(k.bands, other.bands);
            if (agree >= needBands && (!best || agree > best.agree)) best = { other, agree };
          }
        if (best) {
          const sim = estimateJaccard(k.sig!, best.other.sig!);
          return {
            pass: false,
            score: sim,
            reason: "dedup.near",
            detail: `near duplicate of a candidate in this batch (text hash ${textHash(best.other)}, estimated Jaccard ${sim.toFixed(2)}, ${best.agree}/${BANDS} bands)`,
          };
        }
        if (v.dup === "near")
          return {
            pass: false,
            score: v.similarity,
            reason: "dedup.near",
            detail: `near duplicate of an earlier sample in the dataset (${v.bands}/${BANDS} LSH bands match, estimated Jaccard ≈ ${v.similarity.toFixed(2)}; text hash ${h})`,
          };
      }
      batchExact.set(h, k);
      for (let b = 0; b < BANDS; b++) {
        const key = k.bands[2 * b]!;
        const list = batchBands.get(key);
        if (list) list.push(k);
        else batchBands.set(key, [k]);
      }
      return { pass: true, score: 0, detail: `unique (text hash ${h}, ${v.bands}/${BANDS} bands seen)` };
    },
    async commit(accepted) {
      if (!deps.datasetId || !accepted.length) return;
      const ks = accepted.map((c) => sampleKeys(dedupText(c, opts.on)));
      await deps.env.BUCKET.put(keys.dedupDelta(deps.datasetId, `${stamp()}-${crypto.randomUUID()}`), encodeDelta(ks));
    },
  };
}

export const dedup = defineFilter({ type: "dedup", options: DedupOptions, build: dedupFilter });
