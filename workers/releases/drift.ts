// Drift of a release from a human reference set: is the synthetic data still talking like the
// people it should teach a model to talk like? Both sides are summarised the same bounded way
// (sketch.ts TextProfile), so a reference of any size costs a fixed ~200 KB profile and a
// release is compared through its statistics state, never by re-reading its data.
//
// Three measures, each cheap and robust to sample size:
// - unigram Jensen–Shannon divergence (base 2, 0 = same word distribution, 1 = disjoint
//   vocabularies) over 16,384 hashed word buckets. Merging words into buckets can only lower
//   the divergence (data processing inequality), so this is a lower bound on the word-level JSD.
// - length distance: Wasserstein-1 between the completion-length distributions (characters),
//   divided by the reference's mean length. 0.5 means the release's lengths are, on average,
//   half a typical reference text away from the reference's. Chosen over KS because it grows
//   with how far lengths moved, not only with whether they moved.
// - tail coverage: of the reference's word types outside its K most frequent words (the long
//   tail a collapsing model forgets first), the share that occurs anywhere in the release.
//   Estimated on a coordinated hash sample: both sides keep the word types of smallest hash,
//   so for every sampled reference type below both cut-offs we know exactly whether the
//   release has it.
import { wordHashes } from "../../filters/ngrams";
import { ByteReader, ByteWriter, fromBase64, round, sortedHas, TextProfile, toBase64, UNIGRAM_BUCKETS, wasserstein1 } from "./sketch";

export interface DriftOptions {
  /** Flag when the unigram JSD exceeds this. */
  maxJsd?: number;
  /** Flag when tail coverage falls below this. */
  minTailCoverage?: number;
  /** Flag when the length distance exceeds this. */
  maxLengthDistance?: number;
}

/**
 * Defaults: JSD 0.25 is well beyond what two samples of one source differ by (<~ 0.05 at a few
 * thousand texts each) and below what a change of domain or register gives (>~ 0.3); a release
 * that uses fewer than a fifth of the reference's rarer words has lost most of its tail; a
 * length distance of 0.5 is half a typical reference text.
 */
export const DRIFT_DEFAULTS: Required<DriftOptions> = { maxJsd: 0.25, minTailCoverage: 0.2, maxLengthDistance: 0.5 };

export interface DriftReport {
  reference: { texts: number; words: number; top_k: number };
  /** Unigram Jensen-Shannon divergence, base 2, in [0, 1]; null when either side has no words. */
  unigram_jsd: number | null;
  length: { distance: number | null; w1_chars: number | null; release_mean_chars: number; reference_mean_chars: number };
  /** Share of the reference's tail word types found in the release; null when none were sampled. */
  tail_coverage: number | null;
  /** Reference tail types the coverage was measured on. */
  tail_sample: number;
  thresholds: Required<DriftOptions>;
  flagged: boolean;
  /** Which thresholds were crossed. */
  reasons: string[];
  method: { unigram_jsd: string; length: string; tail_coverage: string };
}

export const DEFAULT_TOP_K = 1000;

/**
 * A reference set's profile: plain JSON (the binary summaries in base64), so it can be cached
 * as an R2 object or embedded anywhere. About 150-250 KB whatever the reference's size.
 */
export interface ReferenceProfile {
  format: "winnow-reference-profile/1";
  texts: number;
  top_k: number;
  /** TextProfile, then the sampled tail types (see `decodeProfile`). */
  data: string;
}

interface DecodedProfile {
  text: TextProfile;
  /** Hashes of the sampled tail word types (the reference's type sample minus its top K), ascending. */
  tail: Uint32Array;
  /** Every tail type with a hash at or below this is in `tail`. */
  tailBound: number;
}

function decodeProfile(p: ReferenceProfile): DecodedProfile {
  if (p?.format !== "winnow-reference-profile/1") throw new Error("not a reference profile (rebuild it from the reference set)");
  const r = new ByteReader(fromBase64(p.data));
  const text = TextProfile.read(r);
  const tailBound = r.u32();
  return { text, tailBound, tail: r.u32s() };
}

/**
 * Streams reference texts into a profile in bounded memory: the most frequent words are found
 * with Misra-Gries (4K counters), so a reference of any size fits.
 */
export class ReferenceBuilder {
  private readonly text = new TextProfile();
  private readonly counters = new Map<number, number>();
  private readonly capacity: number;

  constructor(private readonly topK = DEFAULT_TOP_K) {
    this.capacity = Math.max(64, 4 * topK);
  }

  add(text: string): void {
    const tokens = wordHashes(text);
    this.text.add(text, tokens);
    for (const t of tokens) {
      this.counters.set(t, (this.counters.get(t) ?? 0) + 1);
      if (this.counters.size > 2 * this.capacity) this.prune();
    }
  }

  /** Misra-Gries, decrementing in bulk: subtract the (capacity+1)-th largest count from all. */
  private prune() {
    const counts = [...this.counters.values()].sort((a, b) => b - a);
    const d = counts[this.capacity]!;
    for (const [h, n] of this.counters) {
      if (n <= d) this.counters.delete(h);
      else this.counters.set(h, n - d);
    }
  }

  finish(): ReferenceProfile {
    const top = new Set(
      [...this.counters.entries()]
        .sort((a, b) => b[1] - a[1] || a[0] - b[0])
        .slice(0, this.topK)
        .map(([h]) => h),
    );
    const w = new ByteWriter();
    this.text.write(w);
    w.u32(this.text.types.bound).bytes(this.text.types.values().filter((h) => !top.has(h)));
    return { format: "winnow-reference-profile/1", texts: this.text.chars.count, top_k: this.topK, data: toBase64(w.finish()) };
  }
}

export function buildReferenceProfile(texts: Iterable<string>, opts: { topK?: number } = {}): ReferenceProfile {
  const b = new ReferenceBuilder(opts.topK);
  for (const t of texts) b.add(t);
  return b.finish();
}

/** Drift of a release (its statistics' text profile) from a reference. */
export function drift(release: TextProfile, profile: ReferenceProfile, opts: DriftOptions = {}): DriftReport {
  const ref = decodeProfile(profile);
  const thresholds = { ...DRIFT_DEFAULTS, ...stripUndefined(opts) };
  const jsd = jensenShannon(release.unigrams, ref.text.unigrams);
  const w1 = wasserstein1(release.chars, ref.text.chars);
  const refMean = ref.text.chars.count ? ref.text.chars.sum / ref.text.chars.count : 0;
  const distance = Number.isFinite(w1) && refMean > 0 ? w1 / refMean : null;

  const cut = Math.min(release.types.bound, ref.tailBound);
  const have = release.types.values();
  let sample = 0;
  let hits = 0;
  for (const h of ref.tail) {
    if (h > cut) break;
    sample++;
    if (sortedHas(have, h)) hits++;
  }
  const coverage = sample ? hits / sample : null;

  const reasons: string[] = [];
  if (jsd !== null && jsd > thresholds.maxJsd) reasons.push(`unigram_jsd ${round(jsd)} > ${thresholds.maxJsd}`);
  if (coverage !== null && coverage < thresholds.minTailCoverage) reasons.push(`tail_coverage ${round(coverage)} < ${thresholds.minTailCoverage}`);
  if (distance !== null && distance > thresholds.maxLengthDistance) reasons.push(`length distance ${round(distance)} > ${thresholds.maxLengthDistance}`);

  return {
    reference: { texts: ref.text.chars.count, words: ref.text.words.sum, top_k: profile.top_k },
    unigram_jsd: jsd === null ? null : round(jsd),
    length: {
      distance: distance === null ? null : round(distance),
      w1_chars: Number.isFinite(w1) ? round(w1, 1) : null,
      release_mean_chars: release.chars.count ? round(release.chars.sum / release.chars.count, 1) : 0,
      reference_mean_chars: round(refMean, 1),
    },
    tail_coverage: coverage === null ? null : round(coverage),
    tail_sample: sample,
    thresholds,
    flagged: reasons.length > 0,
    reasons,
    method: {
      unigram_jsd: `Jensen-Shannon divergence (base 2) of lowercase word frequencies hashed into ${UNIGRAM_BUCKETS} buckets; a lower bound on the word-level divergence`,
      length: "Wasserstein-1 between completion-length distributions (characters), divided by the reference's mean length",
      tail_coverage: `share of the reference's word types outside its ${profile.top_k} most frequent that occur in the release, on a shared hash sample of word types`,
    },
  };
}

/** Base-2 JSD of two count vectors; null when either is empty. */
export function jensenShannon(p: Float64Array, q: Float64Array): number | null {
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  if (!sp || !sq) return null;
  let d = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]! / sp;
    const b = q[i]! / sq;
    const m = (a + b) / 2;
    if (a) d += a * Math.log2(a / m);
    if (b) d += b * Math.log2(b / m);
  }
  // Rounding can leave it a hair outside [0, 1].
  return Math.min(1, Math.max(0, d / 2));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
