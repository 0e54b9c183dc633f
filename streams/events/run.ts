// Stream zs.<run>.run: the run's start and end.
import { z } from "zod";
import { Digest, RunId, Version } from "./common.ts";

export const RunStartedV1 = z.strictObject({
  type: z.literal("RunStarted"),
  v: z.literal(1),
  runId: RunId,
  config: z.record(z.string(), z.unknown()),   // the resolved run config (validated by streams/config.ts)
  configHash: z.string(),
  codeVersion: z.string(),
  seed: z.number().int(),
  modelConfig: z.record(z.string(), z.unknown()),  // the Qwen2 architecture (config.json) of the policy
  initialWeightsDigest: Digest,
  initialOptimizerDigest: Digest.optional(),
  referenceWeightsDigest: Digest.optional(),   // the frozen KL reference; absent: the initial weights
  parent: z.strictObject({ runId: RunId, step: z.number().int().nonnegative(), version: Version }).optional(), // lineage of a fork
  startedAt: z.string(),
});
export type RunStarted = z.infer<typeof RunStartedV1>;

export const RunFinishedV1 = z.strictObject({
  type: z.literal("RunFinished"),
  v: z.literal(1),
  runId: RunId,
  reason: z.enum(["completed", "stopped", "failed"]),
  finalVersion: Version,
  finalWeightsDigest: Digest,
  message: z.string().optional(),
});
export type RunFinished = z.infer<typeof RunFinishedV1>;
