// The release's final authority on dedup and decontamination. Consumers check candidates as
// they are generated, but two concurrent batches can both accept the same text, and an index
// snapshot can lag; so compile runs the same checks again over every accepted record, in
// release order, with the options the dataset's recipes asked for. What it removes is counted.
import { createDecontaminator, type Decontaminator, type DecontaminateOptions } from "../../filters/decontaminate";
import { dedupText, splitMessages, type DedupOptions } from "../../filters/dedup";
import type { FilterSpec } from "../../filters";
import type { Env } from "../env";
import type { Recipe } from "../recipe";
import type { CandidateRecord, PairRecord } from "../records";
import { decontaminationSignature, type DedupOn } from "./segment";

export interface Removed {
  decontaminate: number;
  dedup_exact: number;
  dedup_near: number;
}

export interface ReleaseGuards {
  /** Whether an accepted record passes decontamination (counted when it does not). */
  clean(record: CandidateRecord): boolean;
  /** Whether a preference pair stays (decontamination only: pairs are not deduplicated). */
  keepPair(pair: PairRecord): boolean;
  /** The dedup the recipes asked for, run by the step in two passes (authority.ts); null: none. */
  dedup: { near: number | false; exact: boolean; on: DedupOn; text(record: CandidateRecord): string } | null;
  /** The decontamination's options as segment.ts signs them; null: none runs. */
  decontamination: string | null;
  decontaminated(): number;
}

/** The strictest union of what the recipes asked for; null when no recipe asked. */
function merged(recipes: Recipe[]) {
  const specs = recipes.flatMap((r) => (r.filters ?? []) as FilterSpec[]);
  const dd = specs.filter((f): f is DedupOptions => f.type === "dedup");
  const dc = specs.filter((f): f is DecontaminateOptions => f.type === "decontaminate");
  const nears = dd.map((d) => d.near).filter((n): n is number => typeof n === "number" && n > 0);
  return {
    dedup: dd.length
      ? { near: nears.length ? Math.min(...nears) : (false as const), exact: dd.some((d) => d.exact), on: dd.some((d) => d.on === "sample") ? ("sample" as const) : ("completion" as const) }
      : null,
    decontaminate: dc.length
      ? {
          benchmarks: [...new Set(dc.flatMap((d) => d.benchmarks))],
          uploads: [...new Set(dc.flatMap((d) => d.uploads))],
          n: Math.min(...dc.map((d) => d.n)),
          min_matches: Math.min(...dc.map((d) => d.min_matches)),
          fields: [...new Set(dc.flatMap((d) => d.fields))],
        }
      : null,
  };
}

export async function releaseGuards(env: Env, datasetId: string, recipes: Recipe[]): Promise<ReleaseGuards> {
  const opts = merged(recipes);
  let dc: Decontaminator | null = null;
  if (opts.decontaminate) {
    try {
      dc = await createDecontaminator(env, datasetId, opts.decontaminate);
    } catch (e) {
      // An upload set that cannot be read must not publish a release that skipped the check.
      throw new Error(`decontamination at compile could not load its sets: ${(e as Error).message}`);
    }
  }
  let decontaminated = 0;
  const dd = opts.dedup;
  return {
    clean(record) {
      if (!dc || dc.check(splitMessages(record.messages)).pass) return true;
      decontaminated++;
      return false;
    },
    keepPair(pair) {
      if (!dc) return true;
      const ok = [pair.chosen, pair.rejected].every((side) => dc!.check({ messages: pair.prompt, completion: side[0]?.content ?? "" }).pass);
      if (!ok) decontaminated++;
      return ok;
    },
    dedup: dd ? { near: dd.near, exact: dd.exact, on: dd.on, text: (record) => dedupText(splitMessages(record.messages), dd.on) } : null,
    decontamination: opts.decontaminate ? decontaminationSignature(opts.decontaminate) : null,
    decontaminated: () => decontaminated,
  };
}
