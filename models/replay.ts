// The offline provider: serves recorded real model outputs (GSM8K solutions written by four
// GPT-3 variants, see examples/gsm8k/README.md), deterministically. Candidate k of an input gets
// recording k mod n of that input, so every candidate slot always gets the same text.
import recordings from "../examples/gsm8k/recordings.json";
import { estimateTokens } from "./http";
import { ProviderError, type ChatRequest, type ChatResult, type Provider } from "./types";

type Recording = { model: string; text: string; is_correct: boolean };
const byQuestion = recordings as Record<string, Recording[]>;

export const REPLAY_MODELS = ["gsm8k-gpt3"];

export function replayProvider(): Provider {
  return {
    name: "replay",
    kind: "replay",
    // A recording is plain text: it cannot be made to follow a schema.
    supports: { responseFormat: false },
    async chat(req: ChatRequest): Promise<ChatResult> {
      const question = typeof req.input.question === "string" ? req.input.question : undefined;
      const recs = question ? byQuestion[question] : undefined;
      if (!recs?.length)
        throw new ProviderError("no_recording", "replay: no recording for this input (the replay provider serves the GSM8K demo problems only)", false, 404);
      const rec = recs[req.candidate % recs.length]!;
      return {
        text: rec.text,
        inputTokens: estimateTokens(req.messages.map((m) => m.content).join("\n")),
        outputTokens: estimateTokens(rec.text),
        finishReason: "stop",
      };
    },
  };
}
