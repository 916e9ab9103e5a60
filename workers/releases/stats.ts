// Statistics of a release, gathered in one pass over its accepted records. Memory grows with
// the number of distinct completion lengths and with one number per row for exact-duplicate
// detection; neither holds record text.
import type { CandidateRecord } from "../records";

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
  completion_chars: {
    min: number;
    p50: number;
    p90: number;
    max: number;
    mean: number;
    histogram: { from: number; to: number; count: number }[];
  };
  teachers: TeacherShare[];
  filters: FilterStats[];
  duplicates: { exact: number; rate: number; method: string };
}

const HISTOGRAM_BUCKETS = 10;

export class StatsCollector {
  rows = 0;
  private totalChars = 0;
  private readonly lengths = new Map<number, number>();
  private readonly teachers = new Map<string, { provider: string; model: string; rows: number }>();
  private readonly seen = new Set<number>();
  private duplicates = 0;

  /** Counts one accepted record. */
  add(r: CandidateRecord) {
    this.rows++;
    const text = completionOf(r);
    this.totalChars += text.length;
    this.lengths.set(text.length, (this.lengths.get(text.length) ?? 0) + 1);
    const t = `${r.generator.provider}\u0000${r.generator.model}`;
    const teacher = this.teachers.get(t) ?? { provider: r.generator.provider, model: r.generator.model, rows: 0 };
    teacher.rows++;
    this.teachers.set(t, teacher);
    const h = hash53(text);
    if (this.seen.has(h)) this.duplicates++;
    else this.seen.add(h);
  }

  teacherShares(): TeacherShare[] {
    return [...this.teachers.values()]
      .sort((a, b) => b.rows - a.rows || (a.provider + a.model).localeCompare(b.provider + b.model))
      .map((t) => ({ ...t, share: this.rows ? round(t.rows / this.rows) : 0 }));
  }

  result(filterCounts: Record<string, number>): ReleaseStats {
    return {
      rows: this.rows,
      completion_chars: this.lengthSummary(),
      teachers: this.teacherShares(),
      filters: filterStats(filterCounts),
      duplicates: {
        exact: this.duplicates,
        rate: this.rows ? round(this.duplicates / this.rows) : 0,
        method: "rows whose assistant text equals an earlier row's (53-bit hash of the text)",
      },
    };
  }

  private lengthSummary(): ReleaseStats["completion_chars"] {
    if (!this.rows) return { min: 0, p50: 0, p90: 0, max: 0, mean: 0, histogram: [] };
    const sorted = [...this.lengths.entries()].sort((a, b) => a[0] - b[0]);
    const min = sorted[0]![0];
    const max = sorted[sorted.length - 1]![0];
    const quantile = (q: number) => {
      const rank = Math.max(1, Math.ceil(q * this.rows));
      let seen = 0;
      for (const [len, n] of sorted) if ((seen += n) >= rank) return len;
      return max;
    };
    const width = Math.max(1, Math.ceil((max - min + 1) / HISTOGRAM_BUCKETS));
    const histogram: ReleaseStats["completion_chars"]["histogram"] = [];
    for (let from = min; from <= max; from += width) histogram.push({ from, to: Math.min(max, from + width - 1), count: 0 });
    for (const [len, n] of sorted) histogram[Math.floor((len - min) / width)]!.count += n;
    return { min, p50: quantile(0.5), p90: quantile(0.9), max, mean: round(this.totalChars / this.rows, 1), histogram };
  }
}

/** `{"length.pass": 9, "length.too_short": 1}` → one entry per filter with its pass rate. */
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

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** cyrb53: a fast 53-bit string hash, so a Set of numbers can stand in for a Set of texts. */
function hash53(s: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
