export interface FakeFaults {
  p429?: number;
  p500?: number;
  pHang?: number;
  pMalformed?: number;
}
export interface FakeOpenAI {
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): Record<string, any>;
  reset(): void;
  configure(patch: { latencyMs?: number; faults?: FakeFaults; seed?: number }): unknown;
}
export function startFakeOpenAI(opts?: {
  port?: number;
  host?: string;
  latencyMs?: number;
  faults?: FakeFaults;
  seed?: number;
  recordingsPath?: string;
  keepAlive?: boolean;
}): Promise<FakeOpenAI>;
/** The grader's reply for a `judge-…` model name (judge mode), or null for any other model. */
export function judgeAnswer(model: string, prompt: string): string | null;
