// Contracts of the reward verifier: the result of one verdict, the reward spec, named errors.
import { z } from "zod";
import { ZeroStreamError } from "../../streams/errors.ts";
import { DEFAULT_TIMEOUT_MS, Outcome } from "../../streams/events/common.ts";
import { FormatRule } from "../../streams/events/reward.ts";

export { FormatRule };

// the outcome of a verdict and its default time limit are contracts (GroupScored, scorer ids, the config)
export { DEFAULT_TIMEOUT_MS, Outcome };

export const FormatMode = z.enum(["strict", "loose", "none"]);
export type FormatMode = z.infer<typeof FormatMode>;

/** Where the answer is taken from in a whole completion. */
export const AnswerSource = z.enum(["boxed", "answer_tag", "lenient"]);
export type AnswerSource = z.infer<typeof AnswerSource>;

export const RewardResult = z.object({
  reward: z.number(),
  format: z.number(), // 1 when the format check passed (or is not required), else 0
  accuracy: z.number(), // 1 when the extracted answer is equivalent to the gold answer
  outcome: Outcome,
  extracted: z.string().nullable(),
  ms: z.number(),
  message: z.string().optional(), // set for outcome "error" and "timeout"
  formatRule: FormatRule.optional(), // the first format rule that failed (format = 0 from the check); absent when it held
});
export type RewardResult = z.infer<typeof RewardResult>;

/** A resolved reward function: what the pure core needs to score one completion. */
export const RewardSpec = z.object({
  name: z.string(),
  version: z.number().int().positive(),
  formatMode: FormatMode,
  requireFormat: z.boolean(), // base_acc: reward only when format AND accuracy hold
  formatWeight: z.number(),
  accuracyWeight: z.number(),
  answerSource: AnswerSource,
  timeoutMs: z.number().int().positive().optional(), // the time limit of one verdict (unset: DEFAULT_TIMEOUT_MS)
});
export type RewardSpec = z.infer<typeof RewardSpec>;


export class RewardError extends ZeroStreamError {}
/** An unknown reward function name or version. */
export class UnknownRewardError extends RewardError {}
/** Scorer worker threads keep dying before they are ready (a broken install). */
export class ScorerStartupError extends RewardError {}
/** The worker pool was closed while verdicts were pending. */
export class PoolClosedError extends RewardError {}
/** An answer string that cannot be turned into a math value. */
export class UnparseableAnswerError extends RewardError {}
/** Input too large or too deep to be a sensible answer; reported as unparseable, never evaluated. */
export class AnswerTooComplexError extends UnparseableAnswerError {}
