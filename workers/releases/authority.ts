// The release compile's dedup authority for one step, without ever holding the whole dataset's
// index. The index (Bloom filters over every released sample's keys) is stored in layers, oldest
// first, and each layer in nine pieces: exact keys and one per LSH band. A step goes:
//
// 1. `add`: the keys of each accepted record of the step, in release order (72 bytes each);
// 2. `decide`: each piece of each layer is read in turn and checked against every key (what was
//    released before), then the records are decided in order against that and against the step's
//    own earlier records (first occurrence wins): keep, exact or near duplicate;
// 3. `save`: the kept records' keys go into the last layer when it has room for all of them (that
//    layer is read again and written anew), or else into a new layer. The keys are then let go,
//    and only the verdicts (a byte a record) stay.
//
// A full layer is never read for saving nor written again, and a release lists its parent's
// layers instead of copying them. So what a step writes grows with the step, not the dataset
// (at most one layer: 10 MB), and what it holds is at most 4.5 MiB of one piece's layers (to
// decide) plus its keys. Every step still reads every layer once, to decide.
import { KEY_WORDS, ScalableBloom, sampleKeys, toU32 } from "../../filters/dedup";
import { BANDS, requiredBands } from "../../filters/minhash";

export type Verdict = 0 | 1 | 2;
export const KEEP = 0;
export const EXACT = 1;
export const NEAR = 2;

/** The pieces of an index, in the order a step reads them. */
export const PIECES = ["exact", ...Array.from({ length: BANDS }, (_, b) => `band-${b}`)];
const EXACT_BIT = 1 << BANDS;

/**
 * Bloom parameters of the step's own pieces (its records against each other): exact keys get 32
 * bits and 16 hashes, band keys 16 and 8 (filters/dedup.ts).
 */
export const bloomOf = (piece: string, capacity: number) => (piece === "exact" ? new ScalableBloom(32, 16, capacity) : new ScalableBloom(16, 8, capacity));

/**
 * Bloom parameters of a stored layer's pieces, chosen so that checking a key against many layers
 * stays accurate: a key is a false positive if any layer says so. Band keys get 32 bits and 8
 * hashes (~6e-6 a full layer; 16 bits gave ~4e-4 a piece), exact keys 64 bits and 16 hashes
 * (~3e-11). So forty layers (10M samples) flag a record by chance less often than one
 * dataset-sized index of the old 16-bit band pieces did: even where a single agreeing band makes
 * a near duplicate (thresholds under ~0.75), ~2e-3 against ~4e-3.
 */
export const layerBloomOf = (piece: string, capacity: number) => (piece === "exact" ? new ScalableBloom(64, 16, capacity) : new ScalableBloom(32, 8, capacity));

/** Samples a new layer holds (unless one step keeps more): a band piece of it is 1 MB, the exact piece 2 MB. */
export const LAYER_CAPACITY = 262_144;

/** Room a new layer is made with: the index's expected size up to LAYER_CAPACITY, and never less than the `kept` samples it takes now. */
export const newLayerCapacity = (kept: number, expected: number) => Math.max(kept, Math.min(LAYER_CAPACITY, expected));

/** One stored layer: a piece per `PIECES` entry under `base`, holding `count` samples, room for `capacity`. */
export interface IndexLayer {
  base: string;
  count: number;
  capacity: number;
}

/** A stored authority index: its layers, oldest first. Only the last may take more samples. */
export interface AuthorityIndex {
  v: 2;
  layers: IndexLayer[];
}

/** A layer piece the index lists but storage does not have. */
export class MissingLayerError extends Error {}

/** A piece of a layer the index lists: storage must have it. */
async function loadListed(store: LayerStore, base: string, piece: string): Promise<Uint8Array> {
  const bytes = await store.load(base, piece);
  if (!bytes) throw new MissingLayerError(`dedup index layer ${base} has no ${piece} piece`);
  return bytes;
}

/**
 * A stored piece, or an empty one; `words` is the buffer it was read from, reused when written
 * back. Given `into`, the piece's layers are added to that Bloom's.
 */
function readPiece(piece: string, bytes: Uint8Array | null, into: ScalableBloom | null = null): { bloom: ScalableBloom; words: Uint32Array | null } {
  const bloom = into ?? layerBloomOf(piece, 0);
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

/** Where layer pieces live: `base` is a layer's, `piece` one of `PIECES`. */
export interface LayerStore {
  load(base: string, piece: string): Promise<Uint8Array | null>;
  store(base: string, piece: string, bytes: Uint8Array): Promise<void>;
}

/**
 * A step's keys are kept in chunks of this many rows: the step's memory grows by one chunk at a
 * time, never by a doubled copy of all of it (at 250k rows, 18 MB of keys would briefly be 27).
 */
const CHUNK_ROWS = 8192;

export class StepDedup {
  /**
   * The most bytes of one piece's layers a step holds at once to decide: four layers' band pieces
   * (1 MiB and a header each), or two layers' exact pieces. Fewer passes over the keys, for no
   * more memory than the old whole index's largest piece at 1M (4 MiB). Tests lower it.
   */
  static decideBytes = 4.5 * 2 ** 20;
  private chunks: Uint32Array[] = [];
  private n = 0;
  private verdicts: Uint8Array | null = null;
  readonly dropped = { exact: 0, near: 0 };
  private readonly needBands: number;

  constructor(
    private readonly opts: { near: number | false; exact: boolean },
    /** Expected samples in the whole index: sizes a new layer, up to LAYER_CAPACITY. */
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

  /**
   * Decides every added record, reading the stored pieces one at a time. A piece the index lists
   * but storage lacks throws MissingLayerError before anything is decided.
   */
  async decide(from: { index: AuthorityIndex; store: LayerStore } | null): Promise<void> {
    const n = this.n;
    // What was released before: bit b for band b, EXACT_BIT for the exact key.
    const prior = new Uint16Array(n);
    if (from) {
      const { index, store } = from;
      for (const [p, piece] of PIECES.entries()) {
        const bit = p === 0 ? EXACT_BIT : 1 << (p - 1);
        const w = p === 0 ? 0 : 2 * p; // word offset of this piece's key in a record's keys
        // A piece's layers are checked together, as many as fit `decideBytes`: one pass over the
        // keys for all of them, as one ScalableBloom reading each layer in turn.
        let held: ScalableBloom | null = null;
        let bytesHeld = 0;
        const check = () => {
          const bloom = held;
          if (!bloom) return;
          this.each((k, at, i) => {
            if (bloom.has(k[at + w]!, k[at + w + 1]!)) prior[i]! |= bit;
          });
          held = null;
          bytesHeld = 0;
        };
        for (const layer of index.layers) {
          const bytes = await loadListed(store, layer.base, piece);
          if (bytesHeld && bytesHeld + bytes.byteLength > StepDedup.decideBytes) check();
          held = readPiece(piece, bytes, held).bloom;
          bytesHeld += bytes.byteLength;
        }
        check();
      }
    }
    // This step's own earlier records, in small Blooms sized for the step (bloomOf): one step's
    // pieces, never many, so the stored layers' extra bits are not needed here.
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
   * Stores the kept records' keys and returns the index with them: in the last layer when it has
   * room for all of them (read again and written under `baseOf(its number)`), or else in a new
   * layer (`baseOf(layers.length)`). Other layers are listed as they were. The keys are let go
   * afterwards: only the verdicts are needed to write the files.
   */
  async save(index: AuthorityIndex | null, store: LayerStore, baseOf: (layer: number) => string): Promise<AuthorityIndex> {
    if (!this.verdicts) throw new Error("StepDedup.save before decide");
    const verdicts = this.verdicts;
    const layers = [...(index?.layers ?? [])];
    let kept = 0;
    for (const v of verdicts) if (v === KEEP) kept++;
    if (kept > 0) {
      const last = layers[layers.length - 1];
      const open = last && last.count + kept <= last.capacity ? last : null;
      const into = open ? layers.length - 1 : layers.length;
      const base = baseOf(into);
      let capacity = 0;
      for (const [p, piece] of PIECES.entries()) {
        const layer = open ? readPiece(piece, await loadListed(store, open.base, piece)) : { bloom: layerBloomOf(piece, newLayerCapacity(kept, this.capacity)), words: null };
        this.each((k, at, i) => {
          if (verdicts[i] === KEEP) layer.bloom.add(k[at + 2 * p]!, k[at + 2 * p + 1]!);
        });
        // Exact and band pieces hold the same samples: the smaller room is the layer's.
        capacity = p === 0 ? layer.bloom.layers[0]!.capacity : Math.min(capacity, layer.bloom.layers[0]!.capacity);
        await store.store(base, piece, pieceBytes(layer));
      }
      layers[into] = { base, count: (open?.count ?? 0) + kept, capacity };
    }
    this.chunks = [];
    return { v: 2, layers };
  }
}
