// Stream zs.<run>.rollout: one sampled group per prompt.
import { z } from "zod";
import { Finish, GroupId, RunId, SamplerSettings, Slot, Step, Version, groupIdOf, slotOfV1GroupId } from "./common.ts";

export const SampleV1 = z.strictObject({
  index: z.number().int().nonnegative(),
  seed: z.number().int().nonnegative(),
  tokens: z.array(z.number().int().nonnegative()),
  text: z.string(),
  logprobs: z.array(z.number()),
  finish: Finish,
});

const groupSampledFields = {
  type: z.literal("GroupSampled"),
  runId: RunId,
  groupId: GroupId,
  taskId: z.string(),
  step: Step,
  policyVersion: Version,
  prompt: z.strictObject({
    id: z.string(),
    index: z.number().int().nonnegative(),
    text: z.string(),
    tokens: z.array(z.number().int().nonnegative()),
  }),
  gold: z.string(),
  sampler: SamplerSettings,
  samples: z.array(SampleV1).min(1),
  generator: z.string(),
  ms: z.number().nonnegative(),
};

function checkLogprobs(e: { samples: Sample[] }, ctx: z.RefinementCtx): void {
  e.samples.forEach((s, i) => {
    if (s.tokens.length !== s.logprobs.length) {
      ctx.addIssue({ code: "custom", path: ["samples", i, "logprobs"], message: `has ${s.logprobs.length} entries for ${s.tokens.length} tokens` });
    }
  });
}

export const GroupSampledV1 = z.strictObject({ ...groupSampledFields, v: z.literal(1) }).superRefine(checkLogprobs);

// v2 records the group's slot (its place in the step's batch, which orders the training batch), which v1
// left to be parsed from the group id; a v1 event reads with the slot its group id names.
export const GroupSampledV2 = z.strictObject({
  ...groupSampledFields, v: z.literal(2), slot: Slot,
  // the engine's kernel set that sampled the group (native/index.ts kernelSet): sampling is bit-exact only
  // under the same set, so replay --verify-rollouts re-samples where it matches; absent on upcast v1 events
  kernels: z.string().min(1).optional(),
}).superRefine((e, ctx) => {
  checkLogprobs(e, ctx);
  if (e.groupId !== groupIdOf(e.step, e.slot)) ctx.addIssue({ code: "custom", path: ["groupId"], message: `is not ${groupIdOf(e.step, e.slot)} (step ${e.step}, slot ${e.slot})` });
});
export type GroupSampled = z.infer<typeof GroupSampledV2>;
export type Sample = z.infer<typeof SampleV1>;

export function upcastGroupSampledV1(e: Record<string, unknown>): Record<string, unknown> {
  return { ...e, v: 2, slot: slotOfV1GroupId(e.groupId as string) };
}
