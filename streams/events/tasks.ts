// Work-queue stream zst.<run>: rollout tasks, a step's prompts split in chunks.
import { z } from "zod";
import { Digest, GroupId, RunId, SamplerSettings, Slot, Step, Version, WeightsPatch, groupIdOf, slotOfV1GroupId } from "./common.ts";

export const RolloutRequestedV1 = z.strictObject({
  type: z.literal("RolloutRequested"),
  v: z.literal(1),
  runId: RunId,
  taskId: z.string(),                 // s<step>.c<chunk>
  step: Step,
  epoch: z.number().int().nonnegative(),
  policyVersion: Version,
  weightsDigest: Digest,              // the weights to sample with (model.dtype bf16: the version's BF16 copy, servingDigest)
  samplesPerPrompt: z.number().int().positive(),
  sampler: SamplerSettings,
  prompts: z.array(z.strictObject({
    groupId: GroupId,
    promptId: z.string(),             // the dataset row's id
    index: z.number().int().nonnegative(), // the row's index in the dataset
    seed: z.number().int().nonnegative(),  // base seed of the group; sample i uses seed + i
  })).min(1),
});

// v2 records each prompt's slot (its place in the step's batch, which orders the training batch) instead
// of leaving it to be parsed from the group id, and fills promptId with the dataset row's id (v1 always
// wrote ""). A v1 task reads with the slot its group id names and promptId null (not recorded).
const TaskPromptV2 = z.strictObject({
  groupId: GroupId,                   // s<step>.g<slot> of the fields below
  slot: Slot,
  promptId: z.string().nullable(),    // the dataset row's id; null: not recorded (a v1 task)
  index: z.number().int().nonnegative(),
  seed: z.number().int().nonnegative(),
});
export const RolloutRequestedV2 = RolloutRequestedV1.extend({
  v: z.literal(2),
  prompts: z.array(TaskPromptV2).min(1),
  // runtime.weights_transport delta: weightsDigest as a patch on its previous version (a generator holding
  // that base applies it; any other reads weightsDigest whole)
  weightsPatch: WeightsPatch.optional(),
}).superRefine((e, ctx) => {
  e.prompts.forEach((p, i) => {
    if (p.groupId !== groupIdOf(e.step, p.slot)) ctx.addIssue({ code: "custom", path: ["prompts", i, "groupId"], message: `is not ${groupIdOf(e.step, p.slot)} (step ${e.step}, slot ${p.slot})` });
  });
});
export type RolloutRequested = z.infer<typeof RolloutRequestedV2>;
export type TaskPrompt = RolloutRequested["prompts"][number];

export function upcastRolloutRequestedV1(e: Record<string, unknown>): Record<string, unknown> {
  const prompts = e.prompts as { groupId: string; promptId: string }[];
  return { ...e, v: 2, prompts: prompts.map((p) => ({ ...p, slot: slotOfV1GroupId(p.groupId), promptId: p.promptId === "" ? null : p.promptId })) };
}
