// The release compile's dedup authority for one step, without ever holding the whole dataset's
// index. The index (Bloom filters over every released sample's keys: 20 bytes a sample, ~20 MB at
// 1M) is stored in pieces, exact keys and one piece per LSH band, and a step goes:
//
// 1. `add`: the keys of each accepted record of the step, in release order (72 bytes each);
// 2. `decide`: each piece is read in turn and checked against every key (what was released
//    before), then the records are decided in order against that and against the step's own
//    earlier records (first occurrence wins): keep, exact or near duplicate;
// 3. `save`: each piece is read again, the kept records' keys added, and written back; the
//    keys are then let go, and only the verdicts (a byte a record) stay.
//
// So a step holds one piece (≤ 4 MB at 1M samples) plus its own keys, and the compile reads
// its shards twice: once for the keys, once to write what was kept (compile-step.ts). Every
// step reads the whole index twice and writes it once, so steps are large (250,000 rows).
import { KEY_WORDS, ScalableBloom, sampleKeys, toU32 } from "../../filters/dedup";
import { BANDS, requiredBands } from "../../filters/minhash";

export type Verdict = 0 | 1 | 2;
export const KEEP = 0;
export const EXACT = 1;
export const NEAR = 2;

/** The pieces of an index, in the order a step reads them. */
export const PIECES = ["exact", ...Array.from({ length: BANDS }, (_, b) => `band-${b}`)];
const EXACT_BIT = 1 << BANDS;

/** Bloom parameters per piece: exact keys get 32 bits and 16 hashes, band keys 16 and 8 (filters/dedup.ts). */
export const bloomOf = (piece: string, capacity: number) => (piece === "exact" ? new ScalableBloom(32, 16, capacity) : new ScalableBloom(16, 8, capacity));

/** A stored piece, or an empty one; `words` is the buffer it was read from, reused when written back. */
function readPiece(piece: string, bytes: Uint8Array | null, capacity: number): { bloom: ScalableBloom; words: Uint32Array | null } {
  const bloom = bloomOf(piece, capacity);
  if (!bytes) return { bloom, words: null };
  const words = toU32(bytes);
  if (bloom.read(words, 0) !== words.length) throw new Error(`dedup index piece ${piece} is corrupt`);
  return { bloom, words };
}

/** A piece's bytes, written into the buffer it was read from while its layout is unchanged. */
function pieceBytes(p: { bloom: ScalableBloom; words: Uint32Array | null }): Uint8Array {
  const n = p.bloom.words();
  const out = p.words && p.words.length === n ? p.words : new Uint32Array(n);
  p.bloom.write(out, 0);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export interface PieceStore {
  load(piece: string): Promise<Uint8Array | null>;
  store(piece: string, bytes: Uint8Array): Promise<void>;
}

/**
 * A step's keys are kept in chunks of this many rows: the step's memory grows by one chunk at a
 * time, never by a doubled copy of all of it (at 250k rows, 18 MB of keys would briefly be 27).
 */
const CHUNK_ROWS = 8192;

export class StepDedup {
  private chunks: Uint32Array[] = [];
  private n = 0;
  private verdicts: Uint8Array | null = null;
  readonly dropped = { exact: 0, near: 0 };
  private readonly needBands: number;

  constructor(
    private readonly opts: { near: number | false; exact: boolean },
    /** Expected samples in the whole index: sizes a piece that does not exist yet. */
    private readonly capacity: number,
  ) {
    this.needBands = opts.near ? requiredBands(opts.near) : Infinity;
  }

  get size(): number {
    return this.n;
  }

  /** Remembers one record's keys; returns its position, which `verdict` takes. */
  add(text: string): number {
    const k = sampleKeys(text);
    const [c, at] = this.slot();
    c[at] = k.exact[0];
    c[at + 1] = k.exact[1];
    c.set(k.bands, at + 2);
    return this.n++;
  }

  /** The same with the keys already taken (segment.ts): row `row` of `keys`, KEY_WORDS words a row. */
  addKeys(keys: Uint32Array, row: number): number {
    const [c, at] = this.slot();
    c.set(keys.subarray(row * KEY_WORDS, (row + 1) * KEY_WORDS), at);
    return this.n++;
  }

  private slot(): [Uint32Array, number] {
    const i = this.n % CHUNK_ROWS;
    if (i === 0) this.chunks.push(new Uint32Array(CHUNK_ROWS * KEY_WORDS));
    return [this.chunks[this.chunks.length - 1]!, i * KEY_WORDS];
  }

  /** Calls `fn(chunk, at, row)` for every row in order, `at` being the row's first word in `chunk`. */
  private each(fn: (chunk: Uint32Array, at: number, row: number) => void): void {
    for (let c = 0; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]!;
      const rows = Math.min(CHUNK_ROWS, this.n - c * CHUNK_ROWS);
      for (let j = 0, row = c * CHUNK_ROWS; j < rows; j++, row++) fn(chunk, j * KEY_WORDS, row);
    }
  }

  /** Decides every added record, reading the stored pieces one at a time. */
  async decide(from: PieceStore | null): Promise<void> {
    const n = this.n;
    // What was released before: bit b for band b, EXACT_BIT for the exact key.
    const prior = new Uint16Array(n);
    if (from) {
      for (const [p, piece] of PIECES.entries()) {
        const bytes = await from.load(piece);
        if (!bytes) continue;
        const { bloom } = readPiece(piece, bytes, this.capacity);
        const bit = p === 0 ? EXACT_BIT : 1 << (p - 1);
        const w = p === 0 ? 0 : 2 * p; // word offset of this piece's key in a record's keys
        this.each((k, at, i) => {
          if (bloom.has(k[at + w]!, k[at + w + 1]!)) prior[i]! |= bit;
        });
      }
    }
    // This step's own earlier records, in small Blooms of the same accuracy as the stored ones.
    const mine = PIECES.map((piece) => bloomOf(piece, Math.max(1024, n)));
    const verdicts = new Uint8Array(n);
    this.each((k, at, i) => {
      let v: Verdict = KEEP;
      if (this.opts.exact && (prior[i]! & EXACT_BIT || mine[0]!.has(k[at]!, k[at + 1]!))) v = EXACT;
      else if (this.needBands <= BANDS) {
        let agree = 0;
        for (let b = 0; b < BANDS; b++) if (prior[i]! & (1 << b) || mine[b + 1]!.has(k[at + 2 + 2 * b]!, k[at + 3 + 2 * b]!)) agree++;
        if (agree >= this.needBands) v = NEAR;
      }
      verdicts[i] = v;
      if (v === EXACT) this.dropped.exact++;
      else if (v === NEAR) this.dropped.near++;
      else for (let p = 0; p < PIECES.length; p++) mine[p]!.add(k[at + 2 * p]!, k[at + 2 * p + 1]!);
    });
    this.verdicts = verdicts;
  }

  verdict(i: number): Verdict {
    if (!this.verdicts) throw new Error("StepDedup.verdict before decide");
    return this.verdicts[i] as Verdict;
  }

  /**
   * Adds the kept records' keys to every piece (read from `from`, or new) and writes them to
   * `to`. The keys are let go afterwards: only the verdicts are needed to write the files.
   */
  async save(from: PieceStore | null, to: PieceStore): Promise<void> {
    if (!this.verdicts) throw new Error("StepDedup.save before decide");
    const verdicts = this.verdicts;
    for (const [p, piece] of PIECES.entries()) {
      const stored = readPiece(piece, from ? await from.load(piece) : null, this.capacity);
      this.each((k, at, i) => {
        if (verdicts[i] === KEEP) stored.bloom.add(k[at + 2 * p]!, k[at + 2 * p + 1]!);
      });
      await to.store(piece, pieceBytes(stored));
    }
    this.chunks = [];
  }
}
