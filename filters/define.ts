import type { z } from "zod";
import type { Filter, FilterDeps } from "./types";

/**
 * A filter kind: its recipe `type`, the zod schema of its options (thresholds are options), how
 * to build an instance, and which of its options are templates rendered from the input row (so a
 * job can check their placeholders before it runs). Each kind lives in its own file and exports
 * one of these; filters/index.ts lists them.
 */
export interface FilterDefinition<S extends z.ZodType<{ type: string }> = z.ZodType<{ type: string }>> {
  type: z.infer<S>["type"];
  options: S;
  build(options: z.infer<S>, deps: FilterDeps): Filter;
  templates?(options: z.infer<S>): string[];
}

export const defineFilter = <S extends z.ZodType<{ type: string }>>(d: FilterDefinition<S>) => d;
