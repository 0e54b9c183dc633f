// Stream zs.<run>.reward: one scored group per group and scorer version.
import { z } from "zod";
import { GroupId, Outcome, RunId, Step, Version } from "./common.ts";

export const SampleScoreV1 = z.strictObject({
  index: z.number().int().nonnegative(),
  reward: z.number(),
  format: z.number(),
  accuracy: z.number(),
  outcome: Outcome,
  extracted: z.string().nullable(),
  ms: z.number().nonnegative(),
  error: z.string().optional(),
});

export const GroupScoredV1 = z.strictObject({
  type: z.literal("GroupScored"),
  v: z.literal(1),
  runId: RunId,
  groupId: GroupId,
  step: Step,
  policyVersion: Version,
  // <reward fn>@<version>, then {key=value,...} for the settings that differ from the registered entry
  scorer: z.string().regex(/^[a-z0-9_]+@\d+(\{[a-z_]+=[^{},=\s]+(,[a-z_]+=[^{},=\s]+)*\})?$/, "a scorer is <reward fn>@<version>[{setting=value,...}]"),
  rewardConfig: z.record(z.string(), z.unknown()),
  scores: z.array(SampleScoreV1).min(1),
  worker: z.string(),
  ms: z.number().nonnegative(),
});
export type GroupScored = z.infer<typeof GroupScoredV1>;
export type SampleScore = z.infer<typeof SampleScoreV1>;
