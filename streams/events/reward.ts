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

/** The first format rule a response failed (domain/reward/format.ts; README "Formats"). */
export const FormatRule = z.enum(["starts_with_think", "ends_with_answer", "tag_count", "tag_order", "box_count", "box_outside_answer"]);

// v2: each score may name the format rule that failed (formatRule); absent when the format held or was not
// checked, and in every score read from a v1 event (not recorded then).
export const SampleScoreV2 = SampleScoreV1.extend({ formatRule: FormatRule.optional() });

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
export const GroupScoredV2 = GroupScoredV1.extend({ v: z.literal(2), scores: z.array(SampleScoreV2).min(1) });
export type GroupScored = z.infer<typeof GroupScoredV2>;
export type SampleScore = z.infer<typeof SampleScoreV2>;
export type FormatRule = z.infer<typeof FormatRule>;

/** v1 → v2: the scores are unchanged (no formatRule: it was not recorded). */
export function upcastGroupScoredV1(e: Record<string, unknown>): Record<string, unknown> {
  return { ...e, v: 2 };
}
