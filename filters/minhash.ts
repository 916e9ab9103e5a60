// MinHash + LSH, written here (no npm). Shingles are word 5-grams of the normalised text
// (lowercase, punctuation removed; see ngrams.ts): a 1 KB text has ~170 of them, against ~1,000
// character shingles, so signatures cost 6x less, and words are what "the same text, lightly
// edited" means for model outputs. 5 is datatrove's default for its MinHash dedup.
//
// Signature: K = BANDS × ROWS = 8 × 5 = 40 min-hashes. Each permutation is a multiply-add
// (Math.imul, odd multiplier) of the already-avalanched shingle hash; the minimum is taken on
// the full 32 bits, whose top bits are the well-mixed ones. LSH: 8 bands of 5 rows; a pair is a
// near-duplicate when at least `m` bands agree, m chosen from the threshold so that a pair AT the
// threshold is caught with probability ≥ 0.9 (threshold 0.85 → m = 2: P = 0.93 at J = 0.85,
// 0.99 at 0.9, 0.40 at 0.7, 0.024 at 0.5, 0.0003 at 0.3). Counting agreeing bands is the
// verification step: it estimates s^ROWS from 8 independent trials, with nothing to store but
// the band keys — which is what lets the dataset-wide index keep 20 bytes per sample.
import { combine, fmix32, shingleHashes, wordHashes } from "./ngrams";

export const SHINGLE = 5;
export const BANDS = 8;
export const ROWS = 5;
export const K = BANDS * ROWS;

// Fixed, seeded permutation parameters (the index format depends on them: never change).
const A = new Uint32Array(K);
const B = new Uint32Array(K);
for (let i = 0, s = 0x2545f491; i < K; i++) {
  s = fmix32(s + 0x9e3779b9);
  A[i] = s | 1;
  s = fmix32(s + 0x9e3779b9);
  B[i] = s;
}

/** The K min-hashes of a set of shingle hashes; all 0xffffffff for an empty text. */
export function signatureOf(shingles: Uint32Array): Uint32Array {
  const sig = new Uint32Array(K);
  const n = shingles.length;
  for (let i = 0; i < K; i++) {
    const a = A[i]!;
    const b = B[i]!;
    let m = 0xffffffff;
    for (let j = 0; j < n; j++) {
      const v = (Math.imul(a, shingles[j]!) + b) >>> 0;
      if (v < m) m = v;
    }
    sig[i] = m;
  }
  return sig;
}

export const signature = (text: string) => signatureOf(shingleHashes(wordHashes(text), SHINGLE));

/**
 * Two 32-bit keys per band (so index lookups can use 64 bits): `out[2b]`, `out[2b+1]`. The band
 * number is mixed in, so equal rows in different bands never collide.
 */
export function bandKeys(sig: Uint32Array): Uint32Array {
  const out = new Uint32Array(2 * BANDS);
  for (let b = 0; b < BANDS; b++) {
    let h = 0x51ed27 + b;
    for (let r = 0; r < ROWS; r++) h = combine(h, sig[b * ROWS + r]!);
    out[2 * b] = fmix32(h);
    out[2 * b + 1] = fmix32(h ^ 0x7f4a7c15);
  }
  return out;
}

/** Jaccard estimated from two signatures: the fraction of equal min-hashes. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  let eq = 0;
  for (let i = 0; i < K; i++) if (a[i] === b[i]) eq++;
  return eq / K;
}

/** Bands agreeing between two band-key arrays. */
export function agreeingBands(a: Uint32Array, b: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < BANDS; i++) if (a[2 * i] === b[2 * i] && a[2 * i + 1] === b[2 * i + 1]) n++;
  return n;
}

const choose = (n: number, k: number) => {
  let r = 1;
  for (let i = 0; i < k; i++) r = (r * (n - i)) / (i + 1);
  return r;
};

/** P(at least m of BANDS bands agree) for a pair with Jaccard s. */
export function pCandidate(s: number, m: number): number {
  const p = s ** ROWS;
  let t = 0;
  for (let k = m; k <= BANDS; k++) t += choose(BANDS, k) * p ** k * (1 - p) ** (BANDS - k);
  return t;
}

/** The most bands we can require while still catching a pair at `threshold` with P >= 0.9. */
export function requiredBands(threshold: number): number {
  let m = 1;
  while (m < BANDS && pCandidate(threshold, m + 1) >= 0.9) m++;
  return m;
}

/** Jaccard implied by `agree` of BANDS bands agreeing (s^ROWS ~ agree/BANDS). */
export const similarityFromBands = (agree: number) => (agree / BANDS) ** (1 / ROWS);
