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
export type Evaluated = z.infer<typeof EvaluatedV1>;
