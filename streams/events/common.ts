// Shared field schemas of the event contracts.
import { z } from "zod";

export const RunId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,47}$/, "a run id is 1-48 characters of a-z, 0-9 and '-', starting with a letter or digit");
export const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, "a digest is 'sha256:' followed by 64 hex digits");
// runtime.weights_transport delta: a version's BF16 copy as a patch (streams/weights-delta.ts) on the previous one
export const WeightsPatch = z.strictObject({ base: Digest, patch: Digest });
export type WeightsPatch = z.infer<typeof WeightsPatch>;
export const GroupId = z.string().regex(/^s\d+\.g\d+$/, "a group id is s<step>.g<slot>");
export const Slot = z.number().int().nonnegative();    // a group's place in its step's batch: 0..global_batch_size-1

/** The id of the group of `slot` in step `step`. Ids are built from the fields, never parsed back into them. */
export function groupIdOf(step: number, slot: number): string {
  return `s${step}.g${slot}`;
}

/** The slot an id names: only for the upcasters of events written before slots were recorded (v1). */
export function slotOfV1GroupId(groupId: string): number {
  return Number(/^s\d+\.g(\d+)$/.exec(groupId)![1]);
}
export const Step = z.number().int().nonnegative();
export const Version = z.number().int().nonnegative();
export const Finish = z.enum(["stop", "length"]);
export const Outcome = z.enum(["correct", "wrong", "no_answer", "unparseable", "timeout", "error"]); // of one verdict
export type Outcome = z.infer<typeof Outcome>;
/** The time limit of one verdict when nothing names one (reward.timeout_ms's default; a scorer id names any other). */
export const DEFAULT_TIMEOUT_MS = 2000;

export const SamplerSettings = z.strictObject({
  temperature: z.number().nonnegative(),
  topP: z.number().gt(0).lte(1),
  topK: z.number().int().nonnegative(),
  maxNewTokens: z.number().int().positive(),
  stopTokenIds: z.array(z.number().int().nonnegative()),
});
export type SamplerSettings = z.infer<typeof SamplerSettings>;
