// Constructed events for the report tests: valid PolicyUpdated and Evaluated events (checked against
// the schemas by the tests), with known values so the charts' data can be checked.
import type { Evaluated, PolicyUpdated, UpdateStats } from "../../streams/events/index.ts";
import { DIGEST } from "../helpers/events.ts";

export function stats(i: number, over: Partial<UpdateStats> = {}): UpdateStats {
  return {
    rewardMean: 0.1 + 0.2 * i, rewardStd: 0.3, formatRate: 0.2 + 0.25 * i, accuracyRate: 0.1 * (i + 1),
    outcomes: { correct: i + 1, wrong: 4 - i, no_answer: 3 }, responseLengthMean: 10 + 5 * i, responseLengthMax: 16 + 4 * i,
    truncatedRate: 0.1, loss: 0.5 - 0.1 * i, pgLoss: 0.4 - 0.1 * i, kl: 0.001 * (i + 1), entropy: 2 - 0.2 * i,
    clipFrac: 0.05 * i, gradNorm: 1 + i, lr: 1e-3, tokens: 100, groups: 2, zeroAdvantageGroups: 0, ...over,
  };
}

export function policyUpdated(runId: string, step: number, s: UpdateStats = stats(step)): PolicyUpdated {
  return {
    type: "PolicyUpdated", v: 1, runId, step, fromVersion: step, toVersion: step + 1,
    groupIds: [`s${step}.g0`, `s${step}.g1`], scorer: "base_acc@1", advantageEstimator: "grpo",
    advantages: { [`s${step}.g0`]: [1, -1], [`s${step}.g1`]: [1, -1] },
    weightsDigest: DIGEST, optimizerDigest: DIGEST, stats: s, timings: { rollout: 10, update: 5 },
  };
}

export function evaluated(runId: string, policyVersion: number, over: Partial<Evaluated> = {}): Evaluated {
  return {
    type: "Evaluated", v: 2, runId, policyVersion, weightsDigest: DIGEST, benchmark: "addition-heldout", temperature: 0, seed: null,
    metric: "pass@1", value: 0.2 + 0.2 * policyVersion, n: 64, k: 1, scorer: "base_acc@1",
    metrics: { format_rate: 0.1 + 0.25 * policyVersion, selfcheck_rate: 0.02 + 0.1 * policyVersion, mean_length: 12 + policyVersion },
    samples: [
      { promptId: "h1", text: `<think>12+30 = 42, check: 42-30 = 12</think><answer>42</answer> v${policyVersion}`, reward: 1, outcome: "correct" },
      { promptId: "h2", text: "answer 7", reward: 0, outcome: "no_answer" },
    ],
    ...over,
  };
}

/** The off-policy telemetry of a step (issue 13) with known values: mismatch, the correction's weights
 * when `corrected`, the staleness of its two groups, one dropped group per reason from step 1 on. */
export function offPolicyUpdated(runId: string, step: number, o: { corrected?: boolean; lag?: number; dynamic?: boolean; over?: Partial<UpdateStats> } = {}): PolicyUpdated {
  const u = policyUpdated(runId, step, stats(step, {
    mismatchKl: 1e-4 * (step + 1), mismatchMaxGap: 0.01 * (step + 1),
    ...(o.corrected ? { isWeightMean: 1 + 0.05 * step, isWeightMax: 1.5 + step, isTruncatedFrac: 0.02 * step, isMaskedFrac: 0.01 * step } : {}),
    ...o.over,
  }));
  const lag = Math.min(step, o.lag ?? 0);
  u.staleness = [lag, Math.max(0, lag - 1)];
  if (o.dynamic) {
    u.dropped = step ? [{ groupId: `s${step}.g2`, reason: "uniform" }, { groupId: `s${step}.g3`, reason: "surplus" }, { groupId: `s${step}.g4`, reason: "uniform" }] : [];
    u.fillRounds = step ? 1 : 0;
  }
  u.timings = { ...u.timings, proxMs: 7 + step };
  return u;
}
