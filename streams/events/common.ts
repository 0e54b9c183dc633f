// Shared field schemas of the event contracts.
import { z } from "zod";

export const RunId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,47}$/, "a run id is 1-48 characters of a-z, 0-9 and '-', starting with a letter or digit");
export const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, "a digest is 'sha256:' followed by 64 hex digits");
export const GroupId = z.string().regex(/^s\d+\.g\d+$/, "a group id is s<step>.g<slot>");
export const Step = z.number().int().nonnegative();
export const Version = z.number().int().nonnegative();
export const Finish = z.enum(["stop", "length"]);
export const Outcome = z.enum(["correct", "wrong", "no_answer", "unparseable", "timeout", "error"]);

export const SamplerSettings = z.strictObject({
  temperature: z.number().nonnegative(),
  topP: z.number().gt(0).lte(1),
  topK: z.number().int().nonnegative(),
  maxNewTokens: z.number().int().positive(),
  stopTokenIds: z.array(z.number().int().nonnegative()),
});
export type SamplerSettings = z.infer<typeof SamplerSettings>;
