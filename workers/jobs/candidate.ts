// How a candidate slot becomes a prompt and a record: shared by the consumer and the
// dead-letter consumer so that both write the same record shape.
import { renderTemplate } from "../../filters";
import type { Message, Row } from "../../filters/types";
import type { schema } from "../db";
import type { Recipe } from "../recipe";
import { sampleId, type CandidateRecord } from "../records";
import { stableUnit } from "./limit";

type JobRow = typeof schema.jobs.$inferSelect;

export function buildMessages(recipe: Recipe, row: Row): Message[] {
  const messages: Message[] = [];
  if (recipe.prompt.system) messages.push({ role: "system", content: renderTemplate(recipe.prompt.system, row) });
  messages.push({ role: "user", content: renderTemplate(recipe.prompt.user, row) });
  return messages;
}

/** Teachers are chosen by weight, reproducibly per slot, so a retried slot keeps its teacher. */
export function pickGenerator(recipe: Recipe, jobId: string, inputIndex: number, cand: number) {
  const total = recipe.generators.reduce((n, g) => n + g.weight, 0);
  let x = stableUnit(`${jobId}:${inputIndex}:${cand}`) * total;
  for (const g of recipe.generators) if ((x -= g.weight) < 0) return g;
  return recipe.generators.at(-1)!;
}

/** A record for a slot before anything is known of its outcome (status "failed" until set). */
export async function newRecord(a: {
  job: JobRow;
  recipe: Recipe;
  promptSha256: string;
  taskId: string;
  row: Row;
  inputIndex: number;
  cand: number;
  messages: Message[];
}): Promise<CandidateRecord> {
  const gen = pickGenerator(a.recipe, a.job.id, a.inputIndex, a.cand);
  // Rows generated from synthetic data carry their depth; each generation adds one.
  const depth = typeof a.row.synthetic_depth === "number" ? a.row.synthetic_depth : 0;
  return {
    id: await sampleId(a.job.id, a.inputIndex, a.cand),
    job: a.job.id,
    task: a.taskId,
    input_index: a.inputIndex,
    candidate: a.cand,
    status: "failed",
    messages: a.messages,
    input: a.row,
    generator: { provider: gen.provider, model: gen.model, params: gen.params },
    filters: [],
    usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
    lineage: { job: a.job.id, recipe_sha256: a.job.recipeSha256, prompt_sha256: a.promptSha256, synthetic_depth: depth + 1 },
    created_at: new Date().toISOString(),
  };
}
