// The metrics of an evaluation, from verdicts of the run's own reward code. Pure.
import type { RewardResult, RewardSpec } from "./types.ts";
import { isSelfCheck } from "./selfcheck.ts";

/** A response passes when the reward function counts it correct: accuracy, and the format when the reward requires it. */
export function passed(spec: Pick<RewardSpec, "requireFormat">, r: Pick<RewardResult, "format" | "accuracy">): boolean {
  return r.accuracy === 1 && (!spec.requireFormat || r.format === 1);
}

export function headlineMetric(k: number): string {
  return k === 1 ? "pass@1" : `avg@${k}`;
}

export type Judged = { promptId: string; text: string; tokens: number; truncated: boolean; result: RewardResult };

/**
 * Metrics over prompts × k responses (prompt-major): the headline (pass@1 or avg@k: the mean pass rate
 * of k responses per prompt, averaged over prompts), format and accuracy rates, mean completion length
 * in tokens, the share of truncated responses and the share of self-checking responses.
 */
export function evalMetrics(spec: RewardSpec, judged: Judged[], k: number): Record<string, number> {
  const n = judged.length;
  if (n === 0) return { [headlineMetric(k)]: 0, format: 0, accuracy: 0, mean_length: 0, selfcheck_rate: 0, truncated: 0 };
  let pass = 0, format = 0, accuracy = 0, length = 0, truncated = 0, selfcheck = 0;
  for (const j of judged) {
    if (passed(spec, j.result)) pass++;
    format += j.result.format;
    accuracy += j.result.accuracy;
    length += j.tokens;
    if (j.truncated) truncated++;
    if (isSelfCheck(j.text)) selfcheck++;
  }
  // every prompt has exactly k responses, so the mean over responses is the mean over prompts of the per-prompt mean
  return {
    [headlineMetric(k)]: pass / n, format: format / n, accuracy: accuracy / n,
    mean_length: length / n, selfcheck_rate: selfcheck / n, truncated: truncated / n,
  };
}
