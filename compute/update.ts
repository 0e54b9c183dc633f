// One GRPO update through the native engine: advantages (registry), the reference pass when the KL
// needs it, the proximal pass when an off-policy correction needs π_prox, the policy loss over
// micro-batches, global-norm clipping and AdamW. A pure function of (policy, optimizer, reference,
// config, ordered groups): no clock, no randomness.
import type { RunConfig } from "../streams/config.ts";
import type { AdamW, LossSpec, Policy } from "../native/index.ts";
import { advantageEstimator } from "../domain/grpo/advantages.ts";
import { microBatches, orderGroups, pack, rewardStats, sequenceKl, sequencesOf, type RewardStats, type StepGroup } from "../domain/grpo/batch.ts";
import { learningRate } from "../domain/grpo/schedule.ts";
import { shapedRewards } from "../domain/grpo/shaping.ts";

/** The importance weights of the step's first epoch (absent under off_policy none): mean and max w, the
 * fractions of loss tokens truncated (π_prox/μ above the cap or C) and masked (w = 0). */
/** A model whose weights, gradients and moments (12 bytes a parameter) pass 1 GiB: its scratch is freed
 * between phases and its snapshot streamed, where a small one keeps its buffers for the next step. */
export function isLargeModel(p: { numParams: number }): boolean { return p.numParams * 12 > 2 ** 30; }

export type CorrectionStats = { isWeightMean: number; isWeightMax: number; isTruncatedFrac: number; isMaskedFrac: number };
export type UpdateResult = {
  advantages: Record<string, number[]>;
  /** mismatchKl: token-mean k3 estimate of KL(μ ‖ π_prox); mismatchMaxGap: the largest |μ − π_prox| (probabilities). */
  stats: RewardStats & { loss: number; pgLoss: number; kl: number; entropy: number; clipFrac: number; gradNorm: number; lr: number; tokens: number;
    mismatchKl: number; mismatchMaxGap: number } & Partial<CorrectionStats>;
  timings: { refMs: number; proxMs: number; updateMs: number };
};

export function lossTemperature(cfg: RunConfig): number {
  return cfg.rollout.temperature > 0 ? cfg.rollout.temperature : 1;
}

export async function grpoUpdate(p: { cfg: RunConfig; step: number; policy: Policy; optimizer: AdamW; reference: Policy | null; groups: StepGroup[] }): Promise<UpdateResult> {
  const { cfg, step, policy, optimizer, reference } = p;
  const algo = cfg.algorithm;
  const groups = orderGroups(p.groups);
  const estimator = advantageEstimator(algo.adv_estimator);
  const T = lossTemperature(cfg);
  const needRef = algo.kl_coef > 0 && reference !== null;
  const corrected = algo.off_policy !== "none";
  const t0 = performance.now();

  // rewards per group, in sample order; with KL in the reward, r − β·Σ_t kl_t per sequence (kl_estimator)
  const rewards = new Map(groups.map((g) => [g.sampled.groupId, shapedRewards(cfg, g.sampled, g.scored)]));
  const zeroAdv = new Map(groups.map((g) => [g.sampled.groupId, g.sampled.samples.map(() => 0)]));
  let seqs = sequencesOf(groups, zeroAdv);
  // the micro-batches of the forward-only passes, packed once (the loss's partition: it depends on the
  // sequences only, not on the advantages)
  const probes = microBatches(seqs, cfg.actor.micro_batch_size).map((mb) => pack(mb));
  const refLogps: Float32Array[] = [];
  if (needRef) {
    for (const b of probes) refLogps.push(await reference!.logprobs(b, T));
    // a large reference's scratch (its logit rows, one layer's activations: about 3 GB at 0.5B) is
    // not kept through the update; a small one keeps it for the next step
    if (isLargeModel(reference!)) reference!.releaseBuffers();
  }
  const refMs = performance.now() - t0;
  // π_prox: the policy's log-probs at the step's starting weights, before any optimizer step
  const proxLogps: Float32Array[] = [];
  if (corrected) {
    for (const b of probes) proxLogps.push(await policy.logprobs(b, T));
  }
  const proxMs = performance.now() - t0 - refMs;
  if (needRef && algo.use_kl_in_reward) {
    let i = 0;
    for (const [mbIndex, b] of probes.entries()) {
      const kls = sequenceKl(b, corrected ? proxLogps[mbIndex] : await policy.logprobs(b, T), refLogps[mbIndex], algo.kl_estimator);
      for (const kl of kls) { const s = seqs[i++]; rewards.get(s.groupId)![s.sample] -= algo.kl_coef * kl; }
    }
  }
  const advantages = new Map([...rewards].map(([id, r]) => [id, estimator(r)]));
  seqs = sequencesOf(groups, advantages, algo.overlong_filter);

  const mbs = microBatches(seqs, cfg.actor.micro_batch_size).map((mb) => pack(mb));
  // at least 1: a batch whose every response is filtered (overlong_filter) trains on nothing, with zero loss
  const globalTokens = Math.max(1, mbs.reduce((a, b) => a + b.tokensTrained, 0));
  const loss: LossSpec = {
    kind: "grpo",
    clipLow: algo.clip_ratio_low ?? algo.clip_ratio,
    clipHigh: algo.clip_ratio_high ?? algo.clip_ratio,
    klCoef: algo.use_kl_in_reward || !needRef ? 0 : algo.kl_coef,
    klEstimator: algo.kl_estimator,
    aggregation: algo.loss_agg_mode,
    temperature: T,
    globalTokens, globalSeqs: seqs.length, maxResponseLength: cfg.data.max_response_length,
    offPolicy: algo.off_policy, behavWeightCap: algo.behav_weight_cap, tisCap: algo.tis_cap,
    misLow: algo.mis_band[0], misHigh: algo.mis_band[1], entropyCoef: algo.entropy_coeff,
  };
  const lr = learningRate(cfg.actor, step);
  const acc = { loss: 0, pgLoss: 0, klSum: 0, entropySum: 0, clipCount: 0, tokens: 0,
    wSum: 0, wMax: 0, wTruncated: 0, wMasked: 0, mismatchK3Sum: 0, mismatchMaxGap: 0 };
  let gradNorm = 0;
  for (let epoch = 0; epoch < algo.updates_per_batch; epoch++) {
    policy.zeroGrad();
    for (const [i, b] of mbs.entries()) {
      const st = await policy.accumulate({ ...b, ...(needRef ? { refLogprobs: refLogps[i] } : {}), ...(corrected ? { proxLogprobs: proxLogps[i] } : {}) }, loss);
      // epoch 0 only: before the first optimizer step this forward's log-probs are π_prox, so under
      // off_policy none the engine measures the mismatch against them without a proximal pass
      if (epoch === 0) {
        acc.loss += st.loss; acc.pgLoss += st.pgLoss; acc.klSum += st.klSum; acc.entropySum += st.entropySum;
        acc.clipCount += st.clipCount; acc.tokens += st.tokens;
        acc.wSum += st.wSum; acc.wMax = Math.max(acc.wMax, st.wMax); acc.wTruncated += st.wTruncated; acc.wMasked += st.wMasked;
        acc.mismatchK3Sum += st.mismatchK3Sum; acc.mismatchMaxGap = Math.max(acc.mismatchMaxGap, st.mismatchMaxGap);
      }
    }
    const r = await optimizer.step({ lr, clipGrad: cfg.actor.clip_grad });
    if (epoch === 0) gradNorm = r.gradNorm;
  }
  const updateMs = performance.now() - t0 - refMs - proxMs;
  const adv = Object.fromEntries(advantages);
  const perToken = (x: number) => (acc.tokens ? x / acc.tokens : 0);
  const correction: Partial<CorrectionStats> = corrected
    ? { isWeightMean: perToken(acc.wSum), isWeightMax: acc.wMax, isTruncatedFrac: perToken(acc.wTruncated), isMaskedFrac: perToken(acc.wMasked) }
    : {};
  return {
    advantages: adv,
    stats: {
      ...rewardStats(groups, advantages),
      loss: acc.loss, pgLoss: acc.pgLoss,
      kl: acc.tokens ? acc.klSum / acc.tokens : 0, entropy: acc.tokens ? acc.entropySum / acc.tokens : 0,
      clipFrac: acc.tokens ? acc.clipCount / acc.tokens : 0, gradNorm, lr, tokens: acc.tokens,
      mismatchKl: perToken(acc.mismatchK3Sum), mismatchMaxGap: acc.mismatchMaxGap, ...correction,
    },
    timings: { refMs, proxMs, updateMs },
  };
}
