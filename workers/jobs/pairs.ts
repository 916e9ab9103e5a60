// Preference pairs (recipe `output.kind: "preference"`): for each input, a chosen and a rejected
// completion of the same prompt: an accepted vs a rejected candidate, or, when every candidate
// passed, a higher vs a lower judge score. A rejected candidate with no accepted partner yet is
// carried into the input's refill (recipe `until`), so rounds can still pair up.
import { sampleId, type CandidateRecord, type PairRecord, type PairSide } from "../records";

/** The judge's score, when one ran; otherwise pass/fail as 1/0. */
function score(r: CandidateRecord): number {
  const judged = r.filters.find((f) => f.name === "judge" && typeof f.score === "number");
  return judged ? judged.score! : r.status === "accepted" ? 1 : 0;
}

export function side(r: CandidateRecord): PairSide {
  return {
    id: r.id,
    candidate: r.candidate,
    content: r.messages.at(-1)?.content ?? "",
    generator: r.generator,
    filters: r.filters,
    usage: r.usage,
    status: r.status as "accepted" | "rejected",
    score: score(r),
    ...(r.reason ? { reason: r.reason } : {}),
  };
}

export interface Paired {
  pairs: PairRecord[];
  /** Per input with no pair yet: the rejected side to carry into its next round. */
  pending: Map<number, PairSide>;
}

export async function makePairs(records: CandidateRecord[], carried: Map<number, PairSide>): Promise<Paired> {
  const byInput = new Map<number, CandidateRecord[]>();
  for (const r of records) if (r.status !== "failed") byInput.set(r.input_index, [...(byInput.get(r.input_index) ?? []), r]);
  const pairs: PairRecord[] = [];
  const pending = new Map<number, PairSide>();
  for (const [input, rs] of byInput) {
    const accepted = rs.filter((r) => r.status === "accepted").map(side).sort((a, b) => b.score - a.score);
    const rejected = rs.filter((r) => r.status === "rejected").map(side).sort((a, b) => a.score - b.score);
    const carriedSide = carried.get(input);
    if (carriedSide) rejected.push(carriedSide);
    let chosen: PairSide | undefined;
    let worse: PairSide | undefined;
    if (accepted.length && rejected.length) [chosen, worse] = [accepted[0], rejected[0]];
    else if (accepted.length >= 2 && accepted[0]!.score > accepted.at(-1)!.score) [chosen, worse] = [accepted[0], accepted.at(-1)];
    if (chosen && worse) {
      const base = rs[0]!;
      const { content: chosenText, ...chosenMeta } = chosen;
      const { content: rejectedText, ...rejectedMeta } = worse;
      pairs.push({
        type: "pair",
        id: (await sampleId(base.job, input, -1 - chosen.candidate)).replace("smp_", "pair_"),
        job: base.job,
        task: base.task,
        input_index: input,
        prompt: base.messages.slice(0, -1),
        chosen: [{ role: "assistant", content: chosenText }],
        rejected: [{ role: "assistant", content: rejectedText }],
        input: base.input,
        chosen_meta: chosenMeta,
        rejected_meta: rejectedMeta,
        lineage: base.lineage,
        created_at: new Date().toISOString(),
      });
    } else if (rejected.length) pending.set(input, rejected[0]!);
  }
  // Inputs this task saw no completion for keep what they carried.
  for (const [input, s] of carried) if (!byInput.has(input)) pending.set(input, s);
  return { pairs, pending };
}
