// Mergeable summaries of a stream of texts, each of a size fixed in advance whatever the number
// of texts (except the duplicate filter, a few bits per row). Releases are incremental: a
// release's statistics are its parent's saved summaries plus the new records, so every
// summary here can be saved as bytes, loaded, and fed more texts with the same result as if it
// had seen everything in one pass.
import { combine, fmix32 } from "../../filters/ngrams";

// ---------------------------------------------------------------------------------------------
// Bytes: little-endian scalars and raw typed arrays (every runtime this runs on is little-endian).

export class ByteWriter {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  private at = 0;

  private need(n: number) {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): this {
    this.need(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
    return this;
  }

  f64(v: number): this {
    this.need(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
    return this;
  }

  str(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }

  /** Length-prefixed raw bytes of any typed array. */
  bytes(a: Uint8Array | Uint16Array | Uint32Array | Float64Array): this {
    const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    this.u32(b.length);
    this.need(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

export class ByteReader {
  private readonly view: DataView;
  private at = 0;
  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.at;
  }

  u32(): number {
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  f64(): number {
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }

  str(): string {
    return new TextDecoder().decode(this.bytes());
  }

  /** A copy, so typed-array views over it are aligned whatever the offset. */
  bytes(): Uint8Array<ArrayBuffer> {
    return this.bytesView().slice();
  }

  /** The next length-prefixed bytes as a view into the data (no copy). */
  bytesView(): Uint8Array {
    const n = this.u32();
    if (this.at + n > this.data.length) throw new RangeError("truncated: a length runs past the end");
    const out = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  u32s(): Uint32Array<ArrayBuffer> {
    const b = this.bytes();
    return new Uint32Array(b.buffer, 0, b.length >>> 2);
  }

  f64s(): Float64Array<ArrayBuffer> {
    const b = this.bytes();
    return new Float64Array(b.buffer, 0, b.length >>> 3);
  }
}

/** Base64 of bytes, for states kept inside JSON. Chunked: String.fromCharCode takes arguments. */
export function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hashing.

/** Two independent 32-bit halves of a 64-bit hash of a string (cyrb53's mixing, unmasked). */
export function hash64(s: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

// ---------------------------------------------------------------------------------------------
// HyperLogLog: distinct counts in 16 KB, merged by taking register maxima.

const HLL_P = 14;
const HLL_M = 1 << HLL_P;
/** Rank bits: the rank comes from its own 32-bit hash, so registers hold 1..33. */
const HLL_Q = 32;

export class HyperLogLog {
  /** Standard error of the estimate: 1.04 / sqrt(2^14). */
  static readonly relativeError = 1.04 / Math.sqrt(HLL_M);
  static readonly precision = HLL_P;
  readonly registers: Uint8Array;

  constructor(registers?: Uint8Array) {
    if (registers && registers.length !== HLL_M) throw new Error("HyperLogLog state of the wrong precision");
    this.registers = registers ?? new Uint8Array(HLL_M);
  }

  /** `x` picks the register, `y` (an independent 32-bit hash) gives the rank: p + 32 hash bits. */
  add(x: number, y: number): void {
    const i = x >>> (32 - HLL_P);
    const rank = Math.clz32(y) + 1;
    if (rank > this.registers[i]!) this.registers[i] = rank;
  }

  /**
   * The registers in whichever form is smaller: the non-empty ones as (index << 8 | rank), which
   * is what a few hundred texts' words set, or all of them (a few hundred texts' bigrams).
   */
  compact(): Uint32Array | Uint8Array {
    const out: number[] = [];
    for (let i = 0; i < HLL_M; i++) {
      const rank = this.registers[i]!;
      if (rank && out.push((i << 8) | rank) * 4 >= HLL_M) return this.registers;
    }
    return Uint32Array.from(out);
  }

  /** The union with a sketch given as `compact()`'s bytes. */
  mergeCompact(bytes: Uint8Array): void {
    if (bytes.length === HLL_M) {
      for (let i = 0; i < HLL_M; i++) if (bytes[i]! > this.registers[i]!) this.registers[i] = bytes[i]!;
      return;
    }
    const entries = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    for (const e of entries) {
      const i = e >>> 8;
      const rank = e & 0xff;
      if (rank > this.registers[i]!) this.registers[i] = rank;
    }
  }

  /** Ertl's improved raw estimator (2017): unbiased from 0 to far beyond 2^32 with no tables. */
  estimate(): number {
    const c = new Float64Array(HLL_Q + 2);
    for (const r of this.registers) c[r]!++;
    let z = HLL_M * tau(1 - c[HLL_Q + 1]! / HLL_M);
    for (let k = HLL_Q; k >= 1; k--) z = 0.5 * (z + c[k]!);
    z += HLL_M * sigma(c[0]! / HLL_M);
    return (HLL_M * HLL_M) / (2 * Math.LN2 * z);
  }
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const prev = z;
    z += x * y;
    y += y;
    if (z === prev) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const prev = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
    if (z === prev) return z / 3;
  }
}

/** Register and rank hashes of a word bigram: ~46 bits, so distinct bigrams do not collide in practice. */
export function bigramHashes(a: number, b: number): [number, number] {
  return [fmix32(combine(combine(0x2545f491, a), b)), fmix32(combine(combine(0x5bd1e995, b), a))];
}

/** Rank hash of a unigram whose 32-bit word hash picks the register. */
export const unigramRank = (h: number) => fmix32(h ^ 0x9e3779b9);

// ---------------------------------------------------------------------------------------------
// Length distribution: exact below 1024, then 64 log buckets per doubling (1.1% wide).

const EXACT = 1024;
const STEPS = 64;
/** Up to 2^31: lengths of JS strings fit. */
const LENGTH_BUCKETS = EXACT + 21 * STEPS + 1;

const bucketOf = (n: number) => (n < EXACT ? n : Math.min(LENGTH_BUCKETS - 1, EXACT + Math.floor(Math.log2(n / EXACT) * STEPS)));
const lowerEdge = (b: number) => (b < EXACT ? b : EXACT * 2 ** ((b - EXACT) / STEPS));
/** Where a bucket's mass is taken to sit: the value itself when exact, else the geometric middle. */
const representative = (b: number) => (b < EXACT ? b : Math.sqrt(lowerEdge(b) * lowerEdge(b + 1)));

export interface LengthSummary {
  min: number;
  p50: number;
  p90: number;
  max: number;
  mean: number;
  histogram: { from: number; to: number; count: number }[];
}

const SUMMARY_BUCKETS = 10;

export class LengthHistogram {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  readonly buckets = new Float64Array(LENGTH_BUCKETS);

  add(n: number): void {
    this.count++;
    this.sum += n;
    if (n < this.min) this.min = n;
    if (n > this.max) this.max = n;
    this.buckets[bucketOf(n)]!++;
  }

  /** The histogram of both streams of lengths. */
  merge(o: LengthHistogram): void {
    if (!o.count) return;
    this.count += o.count;
    this.sum += o.sum;
    this.min = Math.min(this.min, o.min);
    this.max = Math.max(this.max, o.max);
    for (let b = 0; b < LENGTH_BUCKETS; b++) this.buckets[b]! += o.buckets[b]!;
  }

  /** Quantile: exact below 1024, else within a bucket's 1.1%; always within [min, max]. */
  quantile(q: number): number {
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let b = 0; b < LENGTH_BUCKETS; b++) if ((seen += this.buckets[b]!) >= rank) return this.clamp(Math.round(representative(b)));
    return this.max;
  }

  private clamp(v: number) {
    return Math.min(this.max, Math.max(this.min, v));
  }

  summary(): LengthSummary {
    if (!this.count) return { min: 0, p50: 0, p90: 0, max: 0, mean: 0, histogram: [] };
    const { min, max } = this;
    const width = Math.max(1, Math.ceil((max - min + 1) / SUMMARY_BUCKETS));
    const histogram: LengthSummary["histogram"] = [];
    for (let from = min; from <= max; from += width) histogram.push({ from, to: Math.min(max, from + width - 1), count: 0 });
    for (let b = 0; b < LENGTH_BUCKETS; b++) {
      const n = this.buckets[b]!;
      if (n) histogram[Math.floor((this.clamp(Math.round(representative(b))) - min) / width)]!.count += n;
    }
    return { min, p50: this.quantile(0.5), p90: this.quantile(0.9), max, mean: round(this.sum / this.count, 1), histogram };
  }

  write(w: ByteWriter): void {
    w.f64(this.count).f64(this.sum).f64(this.min).f64(this.max);
    // Sparse: most of the 2,369 buckets are empty.
    const used: number[] = [];
    for (let b = 0; b < LENGTH_BUCKETS; b++) if (this.buckets[b]) used.push(b);
    w.u32(used.length);
    for (const b of used) w.u32(b).f64(this.buckets[b]!);
  }

  static read(r: ByteReader): LengthHistogram {
    const h = new LengthHistogram();
    h.count = r.f64();
    h.sum = r.f64();
    h.min = r.f64();
    h.max = r.f64();
    for (let i = r.u32(); i > 0; i--) {
      const b = r.u32();
      h.buckets[b] = r.f64();
    }
    return h;
  }
}

/**
 * Wasserstein-1 distance between two length distributions (each normalised to mass 1), in the
 * same unit as the lengths: the area between their CDFs, with each bucket's mass at its
 * representative value. Exact below 1024.
 */
export function wasserstein1(a: LengthHistogram, b: LengthHistogram): number {
  if (!a.count || !b.count) return NaN;
  const last = bucketOf(Math.max(a.max, b.max));
  let fa = 0;
  let fb = 0;
  let w = 0;
  for (let i = bucketOf(Math.min(a.min, b.min)); i < last; i++) {
    fa += a.buckets[i]! / a.count;
    fb += b.buckets[i]! / b.count;
    w += Math.abs(fa - fb) * (representative(i + 1) - representative(i));
  }
  return w;
}

// ---------------------------------------------------------------------------------------------
// Bottom-k: the k smallest distinct 32-bit hashes seen. A uniform sample of the distinct items
// (coordinated across sketches that hash alike), merged by keeping the k smallest of the union.

export class BottomK {
  private buf: Uint32Array;
  private n = 0;
  /** The buffer's first `sorted` values are ascending and distinct (as compact leaves them). */
  private sorted = 0;
  /** Values at or above this cannot enter; 2^32 until k distinct values were seen. */
  private cut = 2 ** 32;

  constructor(
    readonly k: number,
    values?: Uint32Array,
  ) {
    this.buf = new Uint32Array(2 * k);
    if (values) for (const v of values) this.add(v);
  }

  add(h: number): void {
    if (h >= this.cut) return;
    this.buf[this.n++] = h;
    if (this.n === this.buf.length) this.compact();
  }

  /**
   * Adds another sample given as `values()` (ascending): the same as `add` of each, but a
   * release merges one per segment, mostly of values it already holds, so each value is first
   * looked up (a binary search from the last one's place) and only new ones are added.
   */
  merge(sorted: Uint32Array): void {
    this.compact();
    const a = this.buf;
    const n = this.n;
    let lo = 0;
    for (let j = 0; j < sorted.length; j++) {
      const v = sorted[j]!;
      if (v >= this.cut) break;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (a[mid]! < v) lo = mid + 1;
        else hi = mid;
      }
      if (lo < n && a[lo] === v) continue;
      // New: appended past the sorted prefix the search reads, and sorted in at the next compact.
      this.add(v);
      // If that filled the buffer, add compacted it; when it now holds no more than the prefix
      // did, the prefix's tail is stale, so the rest is merged into the compacted buffer afresh.
      if (this.n <= n) return this.merge(sorted.subarray(j + 1));
    }
  }

  private compact() {
    if (this.sorted === this.n) return;
    const sorted = this.buf.subarray(0, this.n).sort();
    let u = 0;
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[u - 1]) sorted[u++] = sorted[i]!;
    this.n = Math.min(u, this.k);
    if (this.n === this.k) this.cut = this.buf[this.k - 1]!;
    this.sorted = this.n;
  }

  /** The sample, ascending. */
  values(): Uint32Array {
    this.compact();
    return this.buf.slice(0, this.n);
  }

  /** Every hash at or below this that was ever added is in `values()`. */
  get bound(): number {
    this.compact();
    return this.n < this.k ? 0xffffffff : this.buf[this.n - 1]!;
  }
}

/** Whether sorted `values` holds `h`. */
export function sortedHas(values: Uint32Array, h: number): boolean {
  let lo = 0;
  let hi = values.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = values[mid]!;
    if (v === h) return true;
    if (v < h) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// What the drift measures compare between a release and a reference: length and word
// distributions, and a sample of the word types.

/** Hashed unigram buckets (word hash mod 2^14): collisions only ever lower the divergence. */
export const UNIGRAM_BUCKETS = 16_384;
/** Word types sampled by hash (bottom-k). */
export const TYPE_SAMPLE = 16_384;

export class TextProfile {
  chars = new LengthHistogram();
  words = new LengthHistogram();
  unigrams = new Float64Array(UNIGRAM_BUCKETS);
  types = new BottomK(TYPE_SAMPLE);

  /** `tokens`: the text's word hashes (filters/ngrams `wordHashes`). */
  add(text: string, tokens: Uint32Array): void {
    this.chars.add(text.length);
    this.words.add(tokens.length);
    for (const t of tokens) {
      this.unigrams[t & (UNIGRAM_BUCKETS - 1)]!++;
      this.types.add(t);
    }
  }

  write(w: ByteWriter): void {
    this.chars.write(w);
    this.words.write(w);
    // Counts are integers; 32 bits hold them until a bucket passes 4 billion words.
    const small = this.unigrams.every((n) => n <= 0xffffffff);
    w.u32(small ? 4 : 8).bytes(small ? Uint32Array.from(this.unigrams) : this.unigrams);
    w.bytes(this.types.values());
  }

  static read(r: ByteReader): TextProfile {
    const p = new TextProfile();
    p.chars = LengthHistogram.read(r);
    p.words = LengthHistogram.read(r);
    p.unigrams = r.u32() === 4 ? Float64Array.from(r.u32s()) : r.f64s();
    if (p.unigrams.length !== UNIGRAM_BUCKETS) throw new Error("text profile of another bucket count");
    p.types = new BottomK(TYPE_SAMPLE, r.u32s());
    return p;
  }
}

// ---------------------------------------------------------------------------------------------
// Scalable Bloom filter over 64-bit keys: exact-duplicate detection in a few bits per row.

interface BloomLayer {
  capacity: number;
  count: number;
  k: number;
  /** Bits in the layer (a multiple of 32, not a power of two: that would waste up to half). */
  m: number;
  bits: Uint32Array;
}

/**
 * Layers double in capacity as rows arrive; layer i spends 18 + i bits per key (k = bits.ln 2)
 * so the summed false-positive rate stays below 5e-4 however many layers there are (1.8e-4 for
 * the first alone). 2.5-3.5 bytes per row when the newest layer is full, up to ~6.5 just after a
 * doubling: 1M rows take 3-6 MB.
 */
export class ScalableBloom {
  static readonly falsePositiveBound = 5e-4;
  readonly layers: BloomLayer[] = [];

  constructor(private readonly firstCapacity = 8192) {}

  /** Remembers the key; false when it (or a false positive) was already there. */
  addIfNew(h1: number, h2: number): boolean {
    h2 = (h2 | 1) >>> 0;
    for (const l of this.layers) if (probe(l, h1, h2, false)) return false;
    let l = this.layers.at(-1);
    if (!l || l.count >= l.capacity) l = this.grow(l ? l.capacity * 2 : this.firstCapacity);
    probe(l, h1, h2, true);
    l.count++;
    return true;
  }

  private grow(capacity: number): BloomLayer {
    const bitsPerKey = 18 + this.layers.length;
    const words = Math.ceil((capacity * bitsPerKey) / 32);
    const l = { capacity, count: 0, k: Math.round(bitsPerKey * Math.LN2), m: words * 32, bits: new Uint32Array(words) };
    this.layers.push(l);
    return l;
  }

  get bytes(): number {
    return this.layers.reduce((n, l) => n + l.bits.byteLength, 0);
  }

  write(w: ByteWriter): void {
    w.u32(this.layers.length);
    for (const l of this.layers) w.u32(l.capacity).u32(l.count).u32(l.k).bytes(l.bits);
  }

  static read(r: ByteReader): ScalableBloom {
    const b = new ScalableBloom();
    for (let i = r.u32(); i > 0; i--) {
      const capacity = r.u32(), count = r.u32(), k = r.u32();
      const bits = r.u32s();
      b.layers.push({ capacity, count, k, m: bits.length * 32, bits });
    }
    return b;
  }
}

/** Tests (or, with `set`, sets) the key's k bits; double hashing h1 + i.h2 mod m. */
function probe(l: BloomLayer, h1: number, h2: number, set: boolean): boolean {
  for (let i = 0, p = h1 >>> 0; i < l.k; i++, p = (p + h2) >>> 0) {
    const bit = p % l.m;
    if (set) l.bits[bit >>> 5]! |= 1 << (bit & 31);
    else if (!(l.bits[bit >>> 5]! & (1 << (bit & 31)))) return false;
  }
  return true;
}

export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
