// Stream zs.<run>.eval: evaluations of a policy version on a benchmark.
import { z } from "zod";
import { Digest, RunId, Version } from "./common.ts";

export const EvaluatedV1 = z.strictObject({
  type: z.literal("Evaluated"),
  v: z.literal(1),
  runId: RunId,
  policyVersion: Version,
  weightsDigest: Digest,
  benchmark: z.string(),
  metric: z.string(),                 // pass@1, avg@k, format, mean_length, ...
  value: z.number(),
  n: z.number().int().nonnegative(),
  k: z.number().int().positive(),
  scorer: z.string(),
  metrics: z.record(z.string(), z.number()).optional(),
  samples: z.array(z.strictObject({ promptId: z.string(), text: z.string(), reward: z.number(), outcome: z.string() })).optional(),
});
// v2 records how the responses were sampled, part of the evaluation's identity: a sampled pass@1 and
// the greedy one are different evaluations. v1 events read as greedy when k = 1 (what evaluations of
// k = 1 did by default) and as unrecorded (null) when k > 1.
export const EvaluatedV2 = EvaluatedV1.extend({
  v: z.literal(2),
  temperature: z.number().min(0).nullable(),          // 0: greedy; null: not recorded (a v1 event)
  seed: z.number().int().nonnegative().nullable(),     // the evaluation seed when sampled, else null
});
export type Evaluated = z.infer<typeof EvaluatedV2>;

export function upcastEvaluatedV1(e: Record<string, unknown>): Record<string, unknown> {
  return { ...e, v: 2, temperature: e.k === 1 ? 0 : null, seed: null };
}

/** How an evaluation sampled, as a key: "greedy", "T=<t>,seed=<s>", or "unrecorded" (a v1 event with k > 1). */
export function evalSampling(e: Pick<Evaluated, "temperature" | "seed">): string {
  if (e.temperature === null) return "unrecorded";
  return e.temperature === 0 ? "greedy" : `T=${e.temperature},seed=${e.seed}`;
}
