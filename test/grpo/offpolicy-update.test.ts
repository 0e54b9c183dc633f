// The off-policy corrections through a real GRPO update (compute/update.ts, the native engine): the
// sampler–trainer mismatch of a synchronous step is at float rounding and a perturbed sampler shows up
// in it; each correction's statistics say what it did to groups whose sampler log-probs were moved.
import assert from "node:assert/strict";
import { test } from "node:test";
import { grpoUpdate } from "../../compute/update.ts";
import type { StepGroup } from "../../domain/grpo/batch.ts";
import { prepareTrainSet } from "../../loaders/datasets.ts";
import { loadTokenizer } from "../../loaders/tokenizer.ts";
import { AdamW, Policy } from "../../native/index.ts";
import { resolveConfig, type RunConfig } from "../../streams/config.ts";
import { UpdateStatsV1 } from "../../streams/events/policy.ts";
import { tinyConfig } from "../helpers/tiny.ts";

const config = (algorithm: Record<string, unknown> = {}): RunConfig =>
  resolveConfig(tinyConfig({ rollout: { n_samples_per_prompt: 4, prompts_per_task: 2, temperature: 1 }, algorithm: { kl_coef: 0.001, ...algorithm } }), "test");

/** Two groups of 4 sampled by `policy` at temperature 1, rewards 1,0,1,0; `shift(t)` is added to the
 * sampler's log-prob of completion token t (0: the log-probs as sampled). */
async function groups(cfg: RunConfig, policy: Policy, shift: (t: number) => number): Promise<StepGroup[]> {
  const rows = (await prepareTrainSet(cfg, loadTokenizer(cfg.tokenizer))).rows.slice(0, 2), n = 4;
  const res = await policy.sample({ prompts: rows.flatMap((r) => Array.from({ length: n }, () => Int32Array.from(r.tokens))),
    seeds: Array.from({ length: 2 * n }, (_, i) => 100 + i), temperature: 1, topP: 1, topK: 0, maxNewTokens: 12, stopTokenIds: [1] });
  return rows.map((r, g) => ({
    sampled: { groupId: `s0.g${g}`, prompt: { id: r.id, index: r.index, text: r.text, tokens: r.tokens },
      samples: Array.from({ length: n }, (_, j) => { const x = res[g * n + j]; return { index: j, seed: 0, tokens: Array.from(x.tokens), text: "", logprobs: Array.from(x.logprobs, (l, t) => l + shift(t)), finish: x.finish }; }) },
    scored: { groupId: `s0.g${g}`, scorer: "base_acc@1", scores: Array.from({ length: n }, (_, j) => ({ index: j, reward: (j + g) % 2, format: 1, accuracy: (j + g) % 2, outcome: "correct", extracted: null, ms: 0 })) },
  })) as unknown as StepGroup[];
}

async function update(algorithm: Record<string, unknown>, shift: (t: number) => number) {
  const cfg = config(algorithm), arch = cfg.model.arch!;
  const policy = Policy.init(arch, 3), reference = Policy.init(arch, 3);
  try {
    const gs = await groups(cfg, policy, shift);
    const a = cfg.actor;
    const optimizer = new AdamW(policy, { beta1: a.adam_beta1, beta2: a.adam_beta2, eps: a.adam_eps, weightDecay: a.weight_decay });
    const up = await grpoUpdate({ cfg, step: 0, policy, optimizer, reference, groups: gs });
    UpdateStatsV1.parse(up.stats);   // what the updater publishes: the event's schema takes it
    return up;
  } finally { policy.dispose(); reference.dispose(); }
}

const synchronous = () => 0;
const alternating = (t: number) => (t % 2 ? 0.3 : -0.3);   // ρ = π_prox/μ = e^∓0.3 on alternate tokens

test("a synchronous step's mismatch is at float rounding; a perturbed sampler shows up in it", async () => {
  const none = await update({}, synchronous);
  console.log(`  synchronous, none: mismatchKl ${none.stats.mismatchKl.toExponential(2)}, max gap ${none.stats.mismatchMaxGap.toExponential(2)}`);
  assert.ok(none.stats.mismatchKl >= 0 && none.stats.mismatchKl < 1e-5, `synchronous: ${none.stats.mismatchKl}`);
  assert.ok(none.stats.mismatchMaxGap < 1e-4, `synchronous max gap: ${none.stats.mismatchMaxGap}`);
  assert.equal(none.stats.isWeightMean, undefined, "no correction, no importance weights");

  const dec = await update({ off_policy: "decoupled" }, synchronous);
  console.log(`  synchronous, decoupled: mismatchKl ${dec.stats.mismatchKl.toExponential(2)}, mean w ${dec.stats.isWeightMean}, proximal pass ${dec.timings.proxMs.toFixed(1)} ms`);
  assert.ok(dec.stats.mismatchKl < 1e-5);
  assert.ok(Math.abs(dec.stats.isWeightMean! - 1) < 1e-4 && dec.stats.isMaskedFrac === 0 && dec.stats.isTruncatedFrac === 0);
  assert.ok(dec.timings.proxMs > 0);

  const perturbed = await update({}, (t) => 0.3 * Math.sin(1 + 2.3 * t));
  console.log(`  perturbed sampler (±0.3), none: mismatchKl ${perturbed.stats.mismatchKl.toExponential(2)}, max gap ${perturbed.stats.mismatchMaxGap.toFixed(3)}`);
  assert.ok(perturbed.stats.mismatchKl > 1e-2, `perturbed: ${perturbed.stats.mismatchKl}`);
  assert.ok(perturbed.stats.mismatchMaxGap > 1e-3);
});

test("each correction's statistics show what it did to a sampler that is e^±0.3 off", async () => {
  const none = await update({}, alternating);
  // k3 of ρ = e^0.3 is e^0.3 − 1.3 = 0.0499, of e^−0.3 it is 0.0408: the token mean is between them
  assert.ok(none.stats.mismatchKl > 0.0407 && none.stats.mismatchKl < 0.0500, `mismatchKl ${none.stats.mismatchKl}`);
  const dec = await update({ off_policy: "decoupled", behav_weight_cap: 1.2 }, alternating);
  const tis = await update({ off_policy: "tis", tis_cap: 1.2 }, alternating);
  const mis = await update({ off_policy: "mis", mis_band: [1.001, 2] }, alternating);
  const loose = await update({ off_policy: "mis" }, alternating);
  for (const [name, u] of [["decoupled cap 1.2", dec], ["tis C 1.2", tis], ["mis [1.001, 2]", mis], ["mis [0.5, 2]", loose]] as const) {
    const s = u.stats;
    console.log(`  ${name}: mean w ${s.isWeightMean!.toFixed(3)}, max w ${s.isWeightMax!.toFixed(3)}, truncated ${s.isTruncatedFrac!.toFixed(3)}, masked ${s.isMaskedFrac!.toFixed(3)}`);
  }
  // the e^0.3 tokens (about half) are above 1.2: masked by decoupled, truncated to 1.2 by tis
  assert.ok(dec.stats.isMaskedFrac! > 0.3 && dec.stats.isMaskedFrac! < 0.7);
  assert.equal(dec.stats.isTruncatedFrac, dec.stats.isMaskedFrac);
  assert.ok(dec.stats.isWeightMax! < 1);   // only the e^−0.3 tokens keep their weight
  assert.equal(tis.stats.isTruncatedFrac, dec.stats.isTruncatedFrac);
  assert.equal(tis.stats.isMaskedFrac, 0);
  assert.equal(tis.stats.isWeightMax, 1.2);
  // a sequence's geometric-mean ratio is 1 (even length) or e^(0.3/n) (odd): the band above 1 masks the former
  assert.ok(mis.stats.isMaskedFrac! > 0 && mis.stats.isMaskedFrac! < 1, `mis masked ${mis.stats.isMaskedFrac}`);
  assert.equal(mis.stats.isTruncatedFrac, 0);
  assert.equal(loose.stats.isMaskedFrac, 0);
  assert.equal(loose.stats.isWeightMean, 1);
});
