// Stream zs.<run>.dlq: messages that could not be processed, with the reason and the original payload.
import { z } from "zod";

export const DeadLetteredV1 = z.strictObject({
  type: z.literal("DeadLettered"),
  v: z.literal(1),
  runId: z.string(),                  // "_" when the subject names no run
  stream: z.string(),
  subject: z.string(),
  seq: z.number().int().nonnegative(),
  consumer: z.string(),
  deliveries: z.number().int().nonnegative(),
  reason: z.enum(["unparseable", "schema", "unknown_event", "max_deliveries", "rejected"]),
  error: z.string(),
  payload: z.string(),                // the original bytes, base64
  headers: z.record(z.string(), z.string()).optional(),
});
export type DeadLettered = z.infer<typeof DeadLetteredV1>;
