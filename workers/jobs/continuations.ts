// What follows a task: a retry task for slots whose provider call should be tried again, and a
// refill task (recipe `until`) for inputs that still have too few accepted candidates. Each
// input has at most one live continuation, which carries its accepted count and next candidate
// index, so rounds never reuse a candidate index and a crash never resets a count.
import type { ChildTask, InputCarry } from "../../d1/schema";
import type { schema } from "../db";
import type { Recipe } from "../recipe";
import type { CandidateRecord, PairSide } from "../records";

type TaskRow = typeof schema.tasks.$inferSelect;

export const parentOf = (taskId: string) => taskId.replace(/\.(r\d+|u)$/, "");

/** Refill size: the deficit scaled by the input's observed pass rate (the first round's size if none passed yet). */
function refillSize(accepted: number, next: number, want: number, firstRound: number): number {
  if (accepted === 0) return firstRound;
  return Math.ceil(((want - accepted) * next) / accepted);
}

export function continuations(
  task: TaskRow,
  attempt: number,
  recipe: Recipe,
  records: CandidateRecord[],
  deferred: { slot: [number, number]; error: { code: string; message: string } }[],
  /** Preference jobs: rejected sides still waiting for a partner, per input. */
  pendingRejected: Map<number, PairSide> = new Map(),
): ChildTask[] {
  const inputs = new Map<number, { accepted: number; next: number; deferred: [number, number][] }>();
  for (const [input, cand] of task.slots) {
    const carried = task.carry?.[input];
    const state = inputs.get(input) ?? { accepted: carried?.accepted ?? 0, next: carried?.next ?? recipe.candidates, deferred: [] };
    state.next = Math.max(state.next, cand + 1);
    inputs.set(input, state);
  }
  for (const r of records) if (r.status === "accepted") inputs.get(r.input_index)!.accepted++;
  for (const d of deferred) inputs.get(d.slot[0])!.deferred.push(d.slot);

  const retry: ChildTask = { id: `${task.id.replace(/\.r\d+$/, "")}.r${attempt + 1}`, kind: "retry", attempt: attempt + 1, slots: [], carry: {}, last_error: null };
  const refill: ChildTask = { id: `${task.id}.u`, kind: "refill", attempt: 0, slots: [], carry: {}, last_error: null };
  for (const [input, s] of inputs) {
    if (s.deferred.length) {
      // Pending slots: the retry continues this input, and decides on refills when it ends.
      retry.slots.push(...s.deferred);
      retry.carry[input] = carry(s.accepted, s.next, pendingRejected.get(input));
      continue;
    }
    const until = recipe.until;
    if (!until || s.accepted >= until.accepted_per_input || s.next >= until.max_candidates_per_input) continue;
    const n = Math.min(until.max_candidates_per_input - s.next, refillSize(s.accepted, s.next, until.accepted_per_input, recipe.candidates));
    for (let k = 0; k < n; k++) refill.slots.push([input, s.next + k]);
    refill.carry[input] = carry(s.accepted, s.next + n, pendingRejected.get(input));
  }
  if (deferred.length) retry.last_error = `${deferred[0]!.error.code}: ${deferred[0]!.error.message}`;
  return [retry, refill].filter((c) => c.slots.length > 0);
}

function carry(accepted: number, next: number, rejected: PairSide | undefined): InputCarry {
  return rejected ? { accepted, next, rejected } : { accepted, next };
}
