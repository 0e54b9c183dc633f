// The training batch of a step, built from its GroupSampled + GroupScored events (ordered by slot,
// never by arrival), and the reward statistics of PolicyUpdated. Pure: no NATS, no native calls.
import type { GroupSampled, GroupScored } from "../../streams/events/index.ts";

export type StepGroup = { sampled: GroupSampled; scored: GroupScored };
export type Sequence = { groupId: string; sample: number; tokens: number[]; promptLen: number; logprobs: number[]; advantage: number; masked?: boolean };
export type PackedBatch = {
  tokens: Int32Array; seqLens: Int32Array; lossMask: Float32Array; advantages: Float32Array; oldLogprobs: Float32Array;
  tokensTrained: number; sequences: number;
};

export function orderGroups(groups: StepGroup[]): StepGroup[] {
  return [...groups].sort((a, b) => a.sampled.slot - b.sampled.slot);
}

/**
 * The step's sequences in slot and sample order. `maskTruncated` (algorithm.overlong_filter, DAPO's overlong
 * filtering): a response cut off at max_response_length stays in the batch (its group's advantages are
 * computed with it) but none of its tokens is trained on.
 */
export function sequencesOf(groups: StepGroup[], advantages: Map<string, number[]>, maskTruncated = false): Sequence[] {
  const out: Sequence[] = [];
  for (const g of orderGroups(groups)) {
    const adv = advantages.get(g.sampled.groupId)!;
    for (const s of [...g.sampled.samples].sort((a, b) => a.index - b.index)) {
      out.push({
        groupId: g.sampled.groupId, sample: s.index, promptLen: g.sampled.prompt.tokens.length,
        tokens: [...g.sampled.prompt.tokens, ...s.tokens], logprobs: s.logprobs, advantage: adv[s.index],
        ...(maskTruncated && s.finish === "length" ? { masked: true } : {}),
      });
    }
  }
  return out;
}

/** Packs sequences: completion tokens are the trained targets; the sampler's log-probs align with them. */
export function pack(seqs: Sequence[]): PackedBatch {
  const total = seqs.reduce((a, s) => a + s.tokens.length, 0);
  const b: PackedBatch = {
    tokens: new Int32Array(total), seqLens: new Int32Array(seqs.length), lossMask: new Float32Array(total),
    advantages: new Float32Array(total), oldLogprobs: new Float32Array(total), tokensTrained: 0, sequences: seqs.length,
  };
  let o = 0;
  seqs.forEach((s, i) => {
    b.tokens.set(s.tokens, o);
    b.seqLens[i] = s.tokens.length;
    for (let t = s.promptLen; t < s.tokens.length; t++) {
      b.oldLogprobs[o + t] = s.logprobs[t - s.promptLen];
      if (s.masked) continue;
      b.lossMask[o + t] = 1;
      b.advantages[o + t] = s.advantage;
      b.tokensTrained++;
    }
    o += s.tokens.length;
  });
  return b;
}

export function microBatches(seqs: Sequence[], size: number): Sequence[][] {
  const out: Sequence[][] = [];
  for (let i = 0; i < seqs.length; i += size) out.push(seqs.slice(i, i + size));
  return out;
}

export type KlEstimator = "k1" | "k2" | "k3";

/**
 * The per-token KL estimate of algorithm.kl_estimator, as the engine's loss computes it, of
 * q = logπ_ref − logπ: k1 = −q, k2 = q²/2, k3 = e^q − q − 1 (q clamped to [−20, 20] for k2 and k3).
 */
export function tokenKl(estimator: KlEstimator, logp: number, refLogp: number): number {
  if (estimator === "k1") return logp - refLogp;
  const q = Math.min(20, Math.max(-20, refLogp - logp));
  return estimator === "k2" ? 0.5 * q * q : Math.exp(q) - q - 1;
}

/** Per-sequence sum of the KL estimate (algorithm.kl_estimator) over its completion, for KL in the reward. */
export function sequenceKl(b: PackedBatch, logp: Float32Array, refLogp: Float32Array, estimator: KlEstimator = "k1"): number[] {
  const out: number[] = [];
  let o = 0;
  for (const len of b.seqLens) {
    let s = 0;
    for (let t = o; t < o + len; t++) if (b.lossMask[t]) s += tokenKl(estimator, logp[t], refLogp[t]);
    out.push(s);
    o += len;
  }
  return out;
}

export type RewardStats = {
  rewardMean: number; rewardStd: number; formatRate: number; accuracyRate: number; outcomes: Record<string, number>;
  responseLengthMean: number; responseLengthMax: number; truncatedRate: number; groups: number; zeroAdvantageGroups: number;
};

export function rewardStats(groups: StepGroup[], advantages: Map<string, number[]>): RewardStats {
  const rewards: number[] = [], lens: number[] = [];
  let fmt = 0, acc = 0, trunc = 0, zero = 0;
  const outcomes: Record<string, number> = {};
  for (const g of groups) {
    for (const s of g.scored.scores) {
      rewards.push(s.reward); fmt += s.format; acc += s.accuracy;
      outcomes[s.outcome] = (outcomes[s.outcome] ?? 0) + 1;
    }
    for (const s of g.sampled.samples) { lens.push(s.tokens.length); if (s.finish === "length") trunc++; }
    if (advantages.get(g.sampled.groupId)!.every((a) => a === 0)) zero++;
  }
  const n = rewards.length;
  const m = rewards.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(rewards.reduce((a, b) => a + (b - m) ** 2, 0) / n);
  return {
    rewardMean: m, rewardStd: sd, formatRate: fmt / n, accuracyRate: acc / n, outcomes,
    responseLengthMean: lens.reduce((a, b) => a + b, 0) / lens.length, responseLengthMax: Math.max(...lens),
    truncatedRate: trunc / lens.length, groups: groups.length, zeroAdvantageGroups: zero,
  };
}
