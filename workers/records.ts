// The candidate record: one JSON line in a shard. It is a superset of SPEC.md's SFT record
// (id, messages, input, generator, filters, usage, lineage, created_at) plus what analysis and
// the samples API need: which job/task/slot it came from, its status and reason or error.
import type { Message, Row, TraceEntry } from "../filters/types";
import type { GenParams } from "../models/types";

export type CandidateStatus = "accepted" | "rejected" | "failed";

export interface CandidateRecord {
  id: string;
  job: string;
  task: string;
  input_index: number;
  candidate: number;
  status: CandidateStatus;
  /** Namespaced reason of the first rejecting filter (status "rejected"). */
  reason?: string;
  /** What went wrong (status "failed"). */
  error?: { code: string; message: string };
  /** Prompt plus, when a completion exists, the assistant turn. */
  messages: Message[];
  input: Row;
  generator: { provider: string; model: string; params: GenParams };
  filters: TraceEntry[];
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  lineage: { job: string; recipe_sha256: string; prompt_sha256: string; synthetic_depth: number };
  created_at: string;
}

/** One side of a preference pair, with the metadata of the candidate it came from. */
export interface PairSide {
  id: string;
  candidate: number;
  content: string;
  generator: CandidateRecord["generator"];
  filters: TraceEntry[];
  usage: CandidateRecord["usage"];
  status: "accepted" | "rejected";
  /** The judge's score when a judge ran, else 1 for accepted and 0 for rejected. */
  score: number;
  reason?: string;
}

/**
 * A preference pair (recipe `output.kind: "preference"`), stored in shards beside the candidate
 * records it was made from. `prompt`/`chosen`/`rejected` are in the conversational format
 * preference trainers (e.g. TRL's DPO) read.
 */
export interface PairRecord {
  type: "pair";
  id: string;
  job: string;
  task: string;
  input_index: number;
  prompt: Message[];
  chosen: Message[];
  rejected: Message[];
  input: Row;
  chosen_meta: Omit<PairSide, "content">;
  rejected_meta: Omit<PairSide, "content">;
  lineage: CandidateRecord["lineage"];
  created_at: string;
}

/** A shard line: a candidate, or a pair made from candidates. */
export type ShardLine = CandidateRecord | PairRecord;
export const isPair = (l: ShardLine): l is PairRecord => (l as PairRecord).type === "pair";

/** The preference record of release files. */
export function toPreferenceRecord(p: PairRecord) {
  const { job: _j, task: _t, input_index: _i, type: _type, ...rest } = p;
  return rest;
}

/** The SFT record of SPEC.md, as it appears in release files. */
export function toSftRecord(r: CandidateRecord) {
  return {
    id: r.id,
    messages: r.messages,
    input: r.input,
    generator: r.generator,
    filters: r.filters,
    usage: r.usage,
    lineage: r.lineage,
    created_at: r.created_at,
  };
}

/** Sample ids are derived from the slot, so a regenerated candidate keeps its id. */
export async function sampleId(jobId: string, inputIndex: number, candidate: number): Promise<string> {
  const bytes = new TextEncoder().encode(`${jobId}:${inputIndex}:${candidate}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return "smp_" + Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** gzip JSONL, the format of shards and release data files. */
export async function gzipJsonl(records: unknown[]): Promise<Uint8Array> {
  const text = records.map((r) => JSON.stringify(r)).join("\n") + (records.length ? "\n" : "");
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Every record of a (small) gzip JSONL object held in memory, such as one shard. */
export async function gunzipJsonl<T>(gz: ArrayBuffer | Uint8Array): Promise<T[]> {
  const text = await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  const out: T[] = [];
  for (const line of text.split("\n")) if (line.trim()) out.push(JSON.parse(line) as T);
  return out;
}

/**
 * Reads a gzip JSONL object line by line without holding the decompressed text. A reader that
 * stops early (`break`) cancels the pipe chain back to the source (records.test.ts), so an R2
 * body is never left half-read.
 */
export async function* readGzipJsonl<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const lines = body.pipeThrough(new DecompressionStream("gzip")).pipeThrough(new TextDecoderStream());
  let buf = "";
  for await (const chunk of lines as unknown as AsyncIterable<string>) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line) as T;
    }
  }
  if (buf.trim()) yield JSON.parse(buf) as T;
}
