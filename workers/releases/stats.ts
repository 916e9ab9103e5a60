// Statistics of a release (stats.json). Releases are incremental, so the collector is resumable:
// a release starts from its parent's saved state (`state()`), is fed only the records new since
// the parent, and saves its own state for the next. Every summary is mergeable and of a fixed
// size (sketch.ts): ~170 KB whatever the row count, plus the exact-duplicate Bloom filter, the
// one part that must grow with the rows (exact membership cannot be had in less than a few bits
// per row: 2.5–3.5 bytes per row, ~6.5 right after a doubling; 3–6 MB at 1M rows). The state
// is base64 (a third larger) so it can travel inside JSON. No record text is ever held.
import type { CandidateRecord } from "../records";
import { wordHashes } from "../../filters/ngrams";
import { drift, type DriftOptions, type DriftReport, type ReferenceProfile } from "./drift";
import type { Removed } from "./guards";
import { bigramHashes, ByteReader, ByteWriter, fromBase64, hash64, HyperLogLog, LengthHistogram, round, ScalableBloom, TextProfile, toBase64, unigramRank, type LengthSummary } from "./sketch";

export interface TeacherShare {
  provider: string;
  model: string;
  rows: number;
  share: number;
}

export interface FilterStats {
  name: string;
  pass: number;
  rejected: number;
  /** pass / (pass + rejected); null when the filter never ran. */
  pass_rate: number | null;
  /** Rejections by namespaced reason (`math_answer.mismatch`). */
  reasons: Record<string, number>;
}

export interface ReleaseStats {
  rows: number;
  completion_chars: LengthSummary & { method: string };
  /** Words per completion (the tokenizer dedup uses), a cheap stand-in for tokens. */
  completion_words: LengthSummary & { method: string };
  distinct: {
    /** Distinct word unigrams / total unigrams over all completions. */
    distinct_1: number;
    /** Distinct word bigrams (within a completion) / total bigrams. */
    distinct_2: number;
    unigrams: { distinct: number; total: number };
    bigrams: { distinct: number; total: number };
    method: string;
  };
  /** gzip bytes / raw JSONL bytes over every data file of the release, inherited ones included. */
  compression: { raw_bytes: number; gzip_bytes: number; ratio: number | null; method: string };
  teachers: TeacherShare[];
  /** Rows written by people (`generator.provider === "human"`). */
  human: { rows: number; share: number };
  /** Rows per `lineage.synthetic_depth` (0 = human-written, 1 = a teacher's output, ...). */
  synthetic_depth: { depth: number; rows: number; share: number }[];
  filters: FilterStats[];
  duplicates: { exact: number; rate: number; method: string };
  /** Present when the dataset has a human reference set. */
  drift?: DriftReport;
  removed_at_compile?: Removed;
}

export interface ResultExtras {
  /** The dataset's human reference set, when one is set: adds `drift`. */
  reference?: ReferenceProfile | null;
  driftOptions?: DriftOptions;
  removed_at_compile?: Removed;
}

const STATE_MAGIC = 0x31545357; // "WST1"
const SEGMENT_MAGIC = 0x31535357; // "WSS1"

/** A segment's statistics (segment.ts): compact, and merged into a release's with `StatsCollector.merge`. */
export const segmentStats = (records: readonly CandidateRecord[]): Uint8Array => StatsCollector.segment(records);

export class StatsCollector {
  rows = 0;
  private human = 0;
  private duplicates = 0;
  private rawBytes = 0;
  private gzipBytes = 0;
  private bigrams = 0;
  private readonly text: TextProfile;
  private readonly distinct1: HyperLogLog;
  private readonly distinct2: HyperLogLog;
  private readonly teachers = new Map<string, { provider: string; model: string; rows: number }>();
  private readonly depths = new Map<number, number>();
  private readonly seen: ScalableBloom;

  /** `state`: a parent release's `state()`, to continue from; nothing to start afresh. */
  constructor(state?: string | Uint8Array | ArrayBuffer) {
    if (!state) {
      this.text = new TextProfile();
      this.distinct1 = new HyperLogLog();
      this.distinct2 = new HyperLogLog();
      this.seen = new ScalableBloom();
      return;
    }
    const r = new ByteReader(typeof state === "string" ? fromBase64(state) : state instanceof Uint8Array ? state : new Uint8Array(state));
    if (r.u32() !== STATE_MAGIC) throw new Error("not a release statistics state");
    this.rows = r.f64();
    this.human = r.f64();
    this.duplicates = r.f64();
    this.rawBytes = r.f64();
    this.gzipBytes = r.f64();
    this.bigrams = r.f64();
    for (let i = r.u32(); i > 0; i--) {
      const provider = r.str();
      const model = r.str();
      this.teachers.set(teacherKey(provider, model), { provider, model, rows: r.f64() });
    }
    for (let i = r.u32(); i > 0; i--) {
      const depth = r.f64();
      this.depths.set(depth, r.f64());
    }
    this.distinct1 = new HyperLogLog(r.bytes());
    this.distinct2 = new HyperLogLog(r.bytes());
    this.text = TextProfile.read(r);
    this.seen = ScalableBloom.read(r);
  }

  /** Counts one accepted record that goes into the release. */
  add(r: CandidateRecord): void {
    const [h1, h2] = this.count(r);
    if (!this.seen.addIfNew(h1, h2)) this.duplicates++;
  }

  /**
   * Merges a segment's statistics (`segmentStats`): the same as `add` of each of its rows, in
   * order, without reading them. Its duplicate check runs here, row by row, against everything
   * counted so far.
   */
  merge(segment: Uint8Array): void {
    const r = new ByteReader(segment);
    if (r.u32() !== SEGMENT_MAGIC) throw new Error("not a segment's statistics");
    this.rows += r.f64();
    this.human += r.f64();
    this.bigrams += r.f64();
    for (let i = r.u32(); i > 0; i--) {
      const provider = r.str();
      const model = r.str();
      const rows = r.f64();
      const key = teacherKey(provider, model);
      const teacher = this.teachers.get(key) ?? { provider, model, rows: 0 };
      teacher.rows += rows;
      this.teachers.set(key, teacher);
    }
    for (let i = r.u32(); i > 0; i--) {
      const depth = r.f64();
      this.depths.set(depth, (this.depths.get(depth) ?? 0) + r.f64());
    }
    this.text.chars.merge(LengthHistogram.read(r));
    this.text.words.merge(LengthHistogram.read(r));
    const buckets = new Uint16Array(r.bytes().buffer);
    const counts = r.u32s();
    for (let i = 0; i < buckets.length; i++) this.text.unigrams[buckets[i]!]! += counts[i]!;
    this.text.types.merge(r.u32s());
    for (const hll of [this.distinct1, this.distinct2]) hll.mergeCompact(r.bytes());
    const hashes = r.u32s();
    for (let i = 0; i < hashes.length; i += 2) if (!this.seen.addIfNew(hashes[i]!, hashes[i + 1]!)) this.duplicates++;
  }

  /** The compact, mergeable statistics of rows counted with `count` (not `add`): `segmentStats`. */
  private partial(hashes: Uint32Array): Uint8Array {
    const w = new ByteWriter().u32(SEGMENT_MAGIC).f64(this.rows).f64(this.human).f64(this.bigrams);
    w.u32(this.teachers.size);
    for (const t of this.teachers.values()) w.str(t.provider).str(t.model).f64(t.rows);
    w.u32(this.depths.size);
    for (const [depth, n] of this.depths) w.f64(depth).f64(n);
    this.text.chars.write(w);
    this.text.words.write(w);
    // Sparse: a segment's few hundred rows touch a small part of the 16,384 buckets and registers.
    const buckets: number[] = [];
    const counts: number[] = [];
    this.text.unigrams.forEach((n, b) => n && (buckets.push(b), counts.push(n)));
    w.bytes(Uint16Array.from(buckets)).bytes(Uint32Array.from(counts)).bytes(this.text.types.values());
    w.bytes(this.distinct1.compact()).bytes(this.distinct2.compact()).bytes(hashes);
    return w.finish();
  }

  /** `segmentStats` of these rows. */
  static segment(records: readonly CandidateRecord[]): Uint8Array {
    const s = new StatsCollector();
    const hashes = new Uint32Array(records.length * 2);
    records.forEach((r, i) => hashes.set(s.count(r), 2 * i));
    return s.partial(hashes);
  }

  /** Everything `add` counts except the duplicate check; returns the text's 64-bit hash for it. */
  private count(r: CandidateRecord): [number, number] {
    this.rows++;
    const text = completionOf(r);
    const tokens = wordHashes(text);
    this.text.add(text, tokens);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      this.distinct1.add(t, unigramRank(t));
      if (i > 0) {
        const [x, y] = bigramHashes(tokens[i - 1]!, t);
        this.distinct2.add(x, y);
      }
    }
    if (tokens.length > 1) this.bigrams += tokens.length - 1;

    const { provider, model } = r.generator;
    const key = teacherKey(provider, model);
    const teacher = this.teachers.get(key) ?? { provider, model, rows: 0 };
    teacher.rows++;
    this.teachers.set(key, teacher);
    if (provider === "human") this.human++;
    const depth = r.lineage.synthetic_depth;
    this.depths.set(depth, (this.depths.get(depth) ?? 0) + 1);

    return hash64(text);
  }

  /** Counts one new data file: its uncompressed JSONL bytes and its gzip bytes as stored. */
  addCompressed(rawBytes: number, gzBytes: number): void {
    this.rawBytes += rawBytes;
    this.gzipBytes += gzBytes;
  }

  /** Everything needed to resume, as base64 (it travels inside JSON): pass it to the next release's constructor. */
  state(): string {
    const w = new ByteWriter().u32(STATE_MAGIC);
    w.f64(this.rows).f64(this.human).f64(this.duplicates).f64(this.rawBytes).f64(this.gzipBytes).f64(this.bigrams);
    w.u32(this.teachers.size);
    for (const t of this.teachers.values()) w.str(t.provider).str(t.model).f64(t.rows);
    w.u32(this.depths.size);
    for (const [depth, n] of this.depths) w.f64(depth).f64(n);
    w.bytes(this.distinct1.registers).bytes(this.distinct2.registers);
    this.text.write(w);
    this.seen.write(w);
    return toBase64(w.finish());
  }

  /** Bytes of the state that grow with the rows (the duplicate filter); the rest is bounded. */
  get duplicateIndexBytes(): number {
    return this.seen.bytes;
  }

  teacherShares(): TeacherShare[] {
    return [...this.teachers.values()]
      .sort((a, b) => b.rows - a.rows || (a.provider + a.model).localeCompare(b.provider + b.model))
      .map((t) => ({ ...t, share: this.rows ? round(t.rows / this.rows) : 0 }));
  }

  result(filterCounts: Record<string, number>, extra: ResultExtras = {}): ReleaseStats {
    const words = this.text.words.sum;
    const d1 = Math.min(words, Math.round(this.distinct1.estimate()));
    const d2 = Math.min(this.bigrams, Math.round(this.distinct2.estimate()));
    return {
      rows: this.rows,
      completion_chars: { ...this.text.chars.summary(), method: LENGTH_METHOD },
      completion_words: { ...this.text.words.summary(), method: LENGTH_METHOD },
      distinct: {
        distinct_1: words ? round(d1 / words) : 0,
        distinct_2: this.bigrams ? round(d2 / this.bigrams) : 0,
        unigrams: { distinct: d1, total: words },
        bigrams: { distinct: d2, total: this.bigrams },
        method:
          `distinct counts estimated with HyperLogLog (2^${HyperLogLog.precision} registers, standard error ` +
          `${(HyperLogLog.relativeError * 100).toFixed(1)}%) over lowercase words of the assistant completions; bigrams do not cross completions`,
      },
      compression: {
        raw_bytes: this.rawBytes,
        gzip_bytes: this.gzipBytes,
        ratio: this.rawBytes ? round(this.gzipBytes / this.rawBytes) : null,
        method: "gzip bytes / uncompressed JSONL bytes of the release's gzip JSONL data files, inherited ones included",
      },
      teachers: this.teacherShares(),
      human: { rows: this.human, share: this.rows ? round(this.human / this.rows) : 0 },
      synthetic_depth: [...this.depths.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([depth, rows]) => ({ depth, rows, share: this.rows ? round(rows / this.rows) : 0 })),
      filters: filterStats(filterCounts),
      duplicates: {
        exact: this.duplicates,
        rate: this.rows ? round(this.duplicates / this.rows) : 0,
        method:
          "rows whose assistant text equals an earlier row's, by a 64-bit hash of the text in a scalable Bloom filter " +
          `(false positives at most ${ScalableBloom.falsePositiveBound} per row)`,
      },
      ...(extra.reference ? { drift: drift(this.text, extra.reference, extra.driftOptions) } : {}),
      ...(extra.removed_at_compile ? { removed_at_compile: extra.removed_at_compile } : {}),
    };
  }
}

const LENGTH_METHOD = "exact below 1024; above, quantiles and histogram placement within 1.1% (log buckets); min, max and mean exact";

const teacherKey = (provider: string, model: string) => `${provider}\u0000${model}`;

/** `{"length.pass": 9, "length.too_short": 1}` -> one entry per filter with its pass rate. */
export function filterStats(counts: Record<string, number>): FilterStats[] {
  const byName = new Map<string, FilterStats>();
  for (const [key, n] of Object.entries(counts)) {
    const dot = key.indexOf(".");
    const name = dot < 0 ? key : key.slice(0, dot);
    const f = byName.get(name) ?? { name, pass: 0, rejected: 0, pass_rate: null, reasons: {} };
    if (key === `${name}.pass`) f.pass += n;
    else {
      f.rejected += n;
      f.reasons[key] = (f.reasons[key] ?? 0) + n;
    }
    byName.set(name, f);
  }
  return [...byName.values()]
    .map((f) => ({ ...f, pass_rate: f.pass + f.rejected ? round(f.pass / (f.pass + f.rejected)) : null }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The assistant turn of a record: what a student model is trained to produce. */
export function completionOf(r: CandidateRecord): string {
  for (let i = r.messages.length - 1; i >= 0; i--) if (r.messages[i]!.role === "assistant") return r.messages[i]!.content;
  return "";
}
