// Text normalisation and fast 32-bit hashing shared by dedup and decontaminate. No wasm, no npm:
// Math.imul-based mixing runs everywhere (workerd refuses wasm compiled from bytes at runtime,
// which is how xxhash-wasm loads, so it is not used).

/** murmur3's 32-bit finaliser: a bijective avalanche over 32 bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Combines a running hash with one more 32-bit value (order-sensitive). */
export function combine(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return ((h << 13) | (h >>> 19)) >>> 0;
}

/** 32-bit hash of a string (char codes, seeded); FNV-1a-style loop with a murmur finaliser. */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h ^ s.length);
}

// One tokenizer for everything: lowercase; letters and digits (any script) form words; whitespace
// and symbols separate them; a single punctuation mark BETWEEN two word characters is dropped
// and joins them (`don't` → `dont`, `80,000` → `80000`, `16.5` → `165`, `2/2=1` → `221`), so
// deleting punctuation (`80000`, `dont`) yields the same words as keeping it. A hand-written scan
// over char codes through a lookup table: several times faster than a Unicode regex split.

/** Per UTF-16 code unit (lowercased text): 1 word character, 2 punctuation (joins when between
 *  word characters, else separates), 0 separator. ASCII exactly; beyond, the punctuation, symbol
 *  and space blocks separate, everything else (letters of any script, surrogate halves) joins. */
const CLASS = new Uint8Array(65536);
for (let c = 0; c < 65536; c++) {
  let k: number;
  if (c < 128) k = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) ? 1 : c > 32 && c < 127 ? 2 : 0;
  else if (c <= 0xbf) k = c === 0xaa || c === 0xb5 || c === 0xba || c === 0xb2 || c === 0xb3 || c === 0xb9 ? 1 : c === 0xa0 ? 0 : 2;
  else if (c >= 0x2010 && c <= 0x2027) k = 2; // dashes, quotes, bullets, ellipsis
  else
    k =
      c === 0xd7 ||
      c === 0xf7 ||
      (c >= 0x2000 && c <= 0x2bff) || // spaces, general punctuation, arrows, math, boxes
      (c >= 0x3000 && c <= 0x303f) || // CJK punctuation
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff0f) ||
      (c >= 0xff1a && c <= 0xff20)
        ? 0
        : 1;
  CLASS[c] = k;
}

/** Word boundaries of `lower` (already lowercased) as [start, end) pairs, and each word's hash. */
function scan(lower: string, wantBounds: boolean): { hashes: Uint32Array; bounds: number[] } {
  let hashes = new Uint32Array(Math.max(16, lower.length >>> 2));
  const bounds: number[] = [];
  let n = 0;
  let h = 0;
  let start = -1;
  let len = 0;
  const L = lower.length;
  for (let i = 0; i <= L; i++) {
    const k = i < L ? CLASS[lower.charCodeAt(i)]! : 0;
    if (k === 1) {
      if (start < 0) {
        start = i;
        h = 0x811c9dc5;
        len = 0;
      }
      h = Math.imul(h ^ lower.charCodeAt(i), 0x01000193);
      len++;
    } else if (start >= 0 && !(k === 2 && i + 1 < L && CLASS[lower.charCodeAt(i + 1)] === 1)) {
      // (one punctuation mark between word characters is skipped; anything else ends the word)
      if (n === hashes.length) {
        const b = new Uint32Array(hashes.length * 2);
        b.set(hashes);
        hashes = b;
      }
      hashes[n++] = fmix32(h ^ len);
      if (wantBounds) bounds.push(start, i);
      start = -1;
    }
  }
  return { hashes: hashes.subarray(0, n), bounds };
}

/** Lowercased words with punctuation removed. `Hello,  World!` -> ["hello", "world"]. */
export function words(text: string): string[] {
  const lower = text.toLowerCase();
  const { bounds } = scan(lower, true);
  const out: string[] = [];
  for (let i = 0; i < bounds.length; i += 2) {
    let w = "";
    for (let j = bounds[i]!; j < bounds[i + 1]!; j++) if (CLASS[lower.charCodeAt(j)] === 1) w += lower[j];
    out.push(w);
  }
  return out;
}

/** The normalised form used for exact matching: case, whitespace and punctuation insensitive. */
export function normalise(text: string): string {
  return words(text).join(" ");
}

/** 32-bit hashes of each word (equal to hashString(word) of `words(text)`). */
export function wordHashes(text: string): Uint32Array {
  return scan(text.toLowerCase(), false).hashes;
}

/** 64-bit hash (two words) of a token sequence: the exact-duplicate key of a normalised text. */
export function sequenceHash(tokens: Uint32Array): [number, number] {
  let a = 0x9747b28c ^ tokens.length;
  let b = 0x2545f491 ^ tokens.length;
  for (let i = 0; i < tokens.length; i++) {
    a = combine(a, tokens[i]!);
    b = combine(b, tokens[i]! ^ 0x5bd1e995);
  }
  return [fmix32(a), fmix32(b ^ a)];
}

/**
 * Hashes of every window of `n` consecutive tokens (shingles). A text shorter than `n` tokens
 * yields one shingle over all of them when `short` is true (dedup), none otherwise (decontam).
 */
export function shingleHashes(tokens: Uint32Array, n: number, short = true, seed = 0): Uint32Array {
  if (tokens.length < n) {
    if (!short || tokens.length === 0) return new Uint32Array(0);
    let h = n ^ seed;
    for (const t of tokens) h = combine(h, t);
    return Uint32Array.of(fmix32(h));
  }
  const out = new Uint32Array(tokens.length - n + 1);
  for (let i = 0; i < out.length; i++) {
    let h = n ^ seed;
    for (let j = 0; j < n; j++) h = combine(h, tokens[i + j]!);
    out[i] = fmix32(h);
  }
  return out;
}

/** Lower-case hex of a 32-bit value, zero-padded. */
export const hex32 = (v: number) => (v >>> 0).toString(16).padStart(8, "0");
