// Stream zs.<run>.rollout: one sampled group per prompt.
import { z } from "zod";
import { Finish, GroupId, RunId, SamplerSettings, Step, Version } from "./common.ts";

export const SampleV1 = z.strictObject({
  index: z.number().int().nonnegative(),
  seed: z.number().int().nonnegative(),
  tokens: z.array(z.number().int().nonnegative()),
  text: z.string(),
  logprobs: z.array(z.number()),
  finish: Finish,
});

export const GroupSampledV1 = z.strictObject({
  type: z.literal("GroupSampled"),
  v: z.literal(1),
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
}).superRefine((e, ctx) => {
  e.samples.forEach((s, i) => {
    if (s.tokens.length !== s.logprobs.length) {
      ctx.addIssue({ code: "custom", path: ["samples", i, "logprobs"], message: `has ${s.logprobs.length} entries for ${s.tokens.length} tokens` });
    }
  });
});
export type GroupSampled = z.infer<typeof GroupSampledV1>;
export type Sample = z.infer<typeof SampleV1>;
