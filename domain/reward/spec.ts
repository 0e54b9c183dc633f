// A run's reward as its config names it, and the GroupScored event of a group from its verdicts. Pure.
import type { RunConfig } from "../../streams/config.ts";
import type { GroupSampled, GroupScored } from "../../streams/events/index.ts";
import { resolveReward, rewardId } from "./registry.ts";
import { DEFAULT_TIMEOUT_MS, type RewardResult, type RewardSpec } from "./types.ts";

/** The reward function a run's config names, with its overrides. */
export function rewardSpecOf(cfg: RunConfig): RewardSpec {
  const r = cfg.reward;
  return resolveReward(r.fn, { formatMode: r.format_mode, answerSource: r.answer_source, formatWeight: r.format_weight, accuracyWeight: r.accuracy_weight, timeoutMs: r.timeout_ms });
}

/** The time-limited verdict pool a run's groups are scored in: reward.workers threads (or a worker's --pool), the reward's time limit. */
export function poolSettingsOf(cfg: RunConfig, poolSize?: number): { size: number; timeoutMs: number } {
  return { size: poolSize ?? cfg.reward.workers, timeoutMs: rewardSpecOf(cfg).timeoutMs ?? DEFAULT_TIMEOUT_MS };
}

export function scorerOf(cfg: RunConfig): string {
  return rewardId(rewardSpecOf(cfg));
}

/** Pure core: the GroupScored event of a group from its verdicts. */
export function groupScoredOf(g: GroupSampled, spec: RewardSpec, results: RewardResult[], worker: string, ms: number): GroupScored {
  return {
    type: "GroupScored", v: 2, runId: g.runId, groupId: g.groupId, step: g.step, policyVersion: g.policyVersion,
    scorer: rewardId(spec), rewardConfig: { ...spec },
    scores: results.map((r, i) => ({
      index: g.samples[i].index, reward: r.reward, format: r.format, accuracy: r.accuracy, outcome: r.outcome,
      extracted: r.extracted, ms: r.ms, ...(r.message ? { error: r.message.slice(0, 500) } : {}), ...(r.formatRule ? { formatRule: r.formatRule } : {}),
    })),
    worker, ms,
  };
}

