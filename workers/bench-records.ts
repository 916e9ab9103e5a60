// Bench-only: synthetic accepted candidates shaped like the consumer's, for `POST /__bench/seed`
// (bench-seed.ts) and for benches that run outside the Worker (bench/release/segment-cost.mjs).
// No Worker bindings here, so node can import it too.
import type { CandidateRecord } from "./records";

export const SYSTEM = "You are a careful assistant. Answer step by step and state the final answer on its own line.";
export const TEACHERS = [
  { provider: "openai", model: "gpt-4o-mini", params: { temperature: 0.8, max_tokens: 1024 } },
  { provider: "anthropic", model: "claude-haiku-4-5", params: { temperature: 0.7, max_tokens: 1024 } },
];

export function record(
  text: TextGen,
  o: { jobId: string; task: string; input: number; recipeSha256: string; promptSha256: string; createdAt: string; filters: string[]; bytes: number },
): CandidateRecord {
  const teacher = TEACHERS[o.input % TEACHERS.length]!;
  const r: CandidateRecord = {
    id: `smp_${o.jobId.slice(4)}${o.input.toString(36)}`,
    job: o.jobId,
    task: o.task,
    input_index: o.input,
    candidate: 0,
    status: "accepted",
    messages: [
      { role: "system", content: SYSTEM },
      { role: "user", content: "" },
      { role: "assistant", content: "" },
    ],
    input: { question: "", topic: text.word() },
    generator: teacher,
    filters: o.filters.map((name) => ({ name, pass: true, ...(name === "dedup" ? { score: Math.round(text.random() * 600) / 1000 } : {}) })),
    usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
    lineage: { job: o.jobId, recipe_sha256: o.recipeSha256, prompt_sha256: o.promptSha256, synthetic_depth: 1 },
    created_at: o.createdAt,
  };
  // The question appears twice (user turn and input row); the completion takes the rest.
  const room = Math.max(64, o.bytes - JSON.stringify(r).length);
  const question = text.prose(Math.max(24, Math.round(room * 0.12)));
  const answer = `${text.prose(Math.max(32, room - 2 * question.length - 16))}\nA: ${Math.floor(text.random() * 1000)}`;
  r.messages[1]!.content = question;
  r.messages[2]!.content = answer;
  r.input.question = question;
  r.usage = { input_tokens: Math.round((SYSTEM.length + question.length) / 4), output_tokens: Math.round(answer.length / 4), cost_usd: Math.round(answer.length * 1.5) / 1e7 };
  return r;
}

/**
 * Word-level text with a Zipf-like word distribution over a fixed vocabulary, so it compresses
 * about like real prose (gzip ~3x) and no two records are near-duplicates.
 */
export class TextGen {
  private readonly vocab: string[];
  private seed = (Math.random() * 2 ** 32) >>> 0;

  constructor(size = 6000) {
    const syllables = ["ka", "to", "ri", "mo", "an", "el", "us", "ter", "pro", "di", "ve", "lo", "na", "com", "pa", "si", "re", "ul", "ta", "ing", "ex", "or", "ba", "mi"];
    // A fixed vocabulary (same words in every isolate), from a fixed-seed generator.
    let s = 12345;
    const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s / 2 ** 32);
    const words = new Set<string>(["the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "we", "so", "then", "each", "total"]);
    while (words.size < size) {
      const len = 1 + Math.floor(next() * 3.2);
      let w = "";
      for (let i = 0; i < len; i++) w += syllables[Math.floor(next() * syllables.length)];
      words.add(w);
    }
    this.vocab = [...words];
  }

  /** mulberry32: fast, and its stream differs per isolate. */
  random(): number {
    let t = (this.seed = (this.seed + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** Log-uniform rank: frequency ~ 1/rank, like natural language. */
  word(): string {
    return this.vocab[Math.min(this.vocab.length - 1, Math.floor(Math.exp(this.random() * Math.log(this.vocab.length))) - 1)]!;
  }

  /** Sentences of 6-20 words (some numbers) until about `chars` characters. */
  prose(chars: number): string {
    const out: string[] = [];
    let len = 0;
    while (len < chars) {
      const words: string[] = [];
      const n = 6 + Math.floor(this.random() * 15);
      for (let i = 0; i < n; i++) words.push(this.random() < 0.05 ? String(Math.floor(this.random() * 500)) : this.word());
      const s = words.join(" ");
      const sentence = s[0]!.toUpperCase() + s.slice(1) + ".";
      out.push(sentence);
      len += sentence.length + 1;
    }
    return out.join(" ").slice(0, chars);
  }
}
