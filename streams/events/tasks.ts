// Work-queue stream zst.<run>: rollout tasks, a step's prompts split in chunks.
import { z } from "zod";
import { Digest, GroupId, RunId, SamplerSettings, Step, Version } from "./common.ts";

export const RolloutRequestedV1 = z.strictObject({
  type: z.literal("RolloutRequested"),
  v: z.literal(1),
  runId: RunId,
  taskId: z.string(),                 // s<step>.c<chunk>
  step: Step,
  epoch: z.number().int().nonnegative(),
  policyVersion: Version,
  weightsDigest: Digest,
  samplesPerPrompt: z.number().int().positive(),
  sampler: SamplerSettings,
  prompts: z.array(z.strictObject({
    groupId: GroupId,
    promptId: z.string(),             // the dataset row's id
    index: z.number().int().nonnegative(), // the row's index in the dataset
    seed: z.number().int().nonnegative(),  // base seed of the group; sample i uses seed + i
  })).min(1),
});
export type RolloutRequested = z.infer<typeof RolloutRequestedV1>;
