// The rewards the advantage estimator sees: the scorer's verdicts (GroupScored) plus DAPO's soft overlong
// punishment of the updater's config, a function of each response's length. The scorer's events stay pure
// verdicts (a rescore or another run can shape them differently); the updater, the audit and dynamic
// sampling all shape them here, the same way. Pure.
import type { RunConfig } from "../../streams/config.ts";
import type { GroupSampled, GroupScored } from "../../streams/events/index.ts";

/**
 * DAPO's overlong shaping of one response: with L = max_response_length and B = overlong_buffer,
 * 0 for |y| ≤ L − B, ((L − B) − |y|)/B · factor for L − B < |y| < L, and −factor for a response cut off
 * at L (finish "length"). B = 0: off.
 */
export function overlongPenalty(a: Pick<RunConfig["algorithm"], "overlong_buffer" | "overlong_penalty_factor">, maxLen: number, len: number, truncated: boolean): number {
  const B = a.overlong_buffer;
  if (B <= 0) return 0;
  if (truncated || len >= maxLen) return -a.overlong_penalty_factor;
  const free = maxLen - B;
  return len <= free ? 0 : ((free - len) / B) * a.overlong_penalty_factor;
}

/** A group's rewards in sample order: the scorer's rewards plus the overlong shaping of the config. */
export function shapedRewards(cfg: Pick<RunConfig, "algorithm" | "data">, sampled: GroupSampled, scored: GroupScored): number[] {
  const byIndex = new Map(sampled.samples.map((s) => [s.index, s]));
  return [...scored.scores].sort((a, b) => a.index - b.index).map((x) => {
    const s = byIndex.get(x.index);
    return x.reward + (s ? overlongPenalty(cfg.algorithm, cfg.data.max_response_length, s.tokens.length, s.finish === "length") : 0);
  });
}

/** A group whose rewards are all equal: every advantage is 0, it carries no policy gradient (DAPO drops it). */
export function uniform(rewards: readonly number[]): boolean {
  return rewards.every((r) => r === rewards[0]);
}
