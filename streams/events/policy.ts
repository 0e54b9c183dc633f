// Stream zs.<run>.policy: one policy update per step.
import { z } from "zod";
import { Digest, GroupId, RunId, Step, Version, WeightsPatch } from "./common.ts";

export const UpdateStatsV1 = z.strictObject({
  rewardMean: z.number(), rewardStd: z.number(),
  formatRate: z.number(), accuracyRate: z.number(),
  outcomes: z.record(z.string(), z.number().int()),
  responseLengthMean: z.number(), responseLengthMax: z.number(),
  truncatedRate: z.number(),
  loss: z.number(), pgLoss: z.number(), kl: z.number(), entropy: z.number(),
  clipFrac: z.number(), gradNorm: z.number(), lr: z.number(),
  tokens: z.number().int(), groups: z.number().int(), zeroAdvantageGroups: z.number().int(),
  // optional, so logs from before they existed still parse: the sampler–trainer mismatch (token-mean k3
  // of KL(μ ‖ π_prox), the largest |μ − π_prox| probability gap) and, under an off-policy correction,
  // its importance weights (mean, max, fraction of loss tokens truncated at the cap and masked to 0)
  mismatchKl: z.number().optional(), mismatchMaxGap: z.number().optional(),
  isWeightMean: z.number().optional(), isWeightMax: z.number().optional(),
  isTruncatedFrac: z.number().optional(), isMaskedFrac: z.number().optional(),
});

export const PolicyUpdatedV1 = z.strictObject({
  type: z.literal("PolicyUpdated"),
  v: z.literal(1),
  runId: RunId,
  step: Step,
  fromVersion: Version,
  toVersion: Version,
  groupIds: z.array(GroupId).min(1),
  scorer: z.string(),
  advantageEstimator: z.string(),
  advantages: z.record(z.string(), z.array(z.number())), // groupId → per-sample advantage
  weightsDigest: Digest,
  // model.dtype bf16: the generators' copy of weightsDigest, BF16 safetensors rounded to nearest even (half the
  // bytes); absent: generators load weightsDigest itself
  servingDigest: Digest.optional(),
  // runtime.weights_transport delta: servingDigest as a patch on the previous version's copy, and its size
  servingPatch: WeightsPatch.extend({ bytes: z.number().int().nonnegative() }).optional(),
  optimizerDigest: Digest,
  stats: UpdateStatsV1,
  timings: z.record(z.string(), z.number()),            // ms per stage
  // off-policy steps (absent in logs written before them): each used group's staleness in versions
  // (fromVersion − its sampling version), aligned with groupIds; under dynamic sampling, the step's
  // groups that were sampled and scored but not trained on, and the fill rounds it took
  staleness: z.array(z.number().int().nonnegative()).optional(),
  dropped: z.array(z.strictObject({ groupId: GroupId, reason: z.enum(["uniform", "surplus"]) })).optional(),
  fillRounds: z.number().int().nonnegative().optional(),
});
export type PolicyUpdated = z.infer<typeof PolicyUpdatedV1>;
export type UpdateStats = z.infer<typeof UpdateStatsV1>;
