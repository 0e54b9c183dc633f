// The audit's pure core, given/when/then with no NATS: an honest one-step log passes; each forged
// detail is named by its rule and the sequence of the offending event.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runAuditOptions } from "../../offline/replay/audit.ts";
import { advantageEstimator } from "../../domain/grpo/advantages.ts";
import { auditEvents } from "../../domain/audit.ts";
import { resolveReward } from "../../domain/reward/registry.ts";
import { resolveConfig } from "../../streams/config.ts";
import type { Evaluated, PolicyUpdated, UpdateStats, ZsEvent } from "../../streams/events/index.ts";
import { DIGEST, groupSampled, groupScored, runStarted } from "../helpers/events.ts";
import { tinyConfig } from "../helpers/tiny.ts";

const RUN = "audit-core";
const W1 = `sha256:${"1".repeat(64)}`;
const stats = { rewardMean: 0.5, rewardStd: 0.5, formatRate: 0.5, accuracyRate: 0.5, outcomes: {}, responseLengthMean: 2, responseLengthMax: 2, truncatedRate: 0, loss: 0, pgLoss: 0, kl: 0, entropy: 0, clipFrac: 0, gradNorm: 0, lr: 0, tokens: 4, groups: 1, zeroAdvantageGroups: 0 } satisfies UpdateStats;

function honest(): ZsEvent[] {
  const started = runStarted(RUN);
  started.config = resolveConfig(tinyConfig({ rollout: { n_samples_per_prompt: 2 }, actor: { global_batch_size: 1, train_iters: 1, lr: 1e-3 } }));
  const update: PolicyUpdated = {
    type: "PolicyUpdated", v: 1, runId: RUN, step: 0, fromVersion: 0, toVersion: 1, groupIds: ["s0.g0"], scorer: "base_acc@1",
    advantageEstimator: "grpo", advantages: { "s0.g0": advantageEstimator("grpo")([1, 0]) }, weightsDigest: W1, optimizerDigest: W1, stats, timings: {},
  };
  const evaluated: Evaluated = { type: "Evaluated", v: 2, runId: RUN, policyVersion: 1, weightsDigest: W1, benchmark: "heldout", metric: "pass@1", value: 0, n: 1, k: 1, scorer: "base_acc@1", temperature: 0, seed: null };
  return [started, groupSampled(RUN, 0, 0), groupScored(RUN, 0, 0, [1, 0]), update, evaluated];
}
const audit = (events: ZsEvent[]) => auditEvents(events.map((event, i) => ({ seq: i + 1, event })), runAuditOptions).violations.map((v) => [v.rule, v.seq]);

describe("audit core", () => {
  it("passes an honest log", () => {
    assert.deepEqual(audit(honest()), []);
  });
  it("names a reward that its parts do not give", () => {
    const e = honest();
    (e[2] as ReturnType<typeof groupScored>).scores[1].reward = 1;
    assert.deepEqual(audit(e), [["reward-parts", 3], ["advantages", 4]]);
  });
  it("names advantages that do not follow from the recorded rewards", () => {
    const e = honest();
    (e[3] as PolicyUpdated).advantages["s0.g0"] = [0.5, -0.5];
    assert.deepEqual(audit(e), [["advantages", 4]]);
  });
  it("names a group sampled by another policy version than the step needed", () => {
    const e = honest();
    (e[1] as ReturnType<typeof groupSampled>).policyVersion = 3;
    assert.deepEqual(audit(e), [["policy-version", 4]]);
  });
  it("names an evaluation whose weights are not its version's", () => {
    const e = honest();
    (e[4] as Evaluated).weightsDigest = DIGEST;
    assert.deepEqual(audit(e), [["eval-weights", 5]]);
  });
  it("names a sampled group of an applied step that no update used", () => {
    const e = honest();
    e.splice(3, 0, groupSampled(RUN, 0, 1));
    assert.deepEqual(audit(e), [["unused-group", 4]]);
  });
  it("names a group sampled or scored again (the fold's first-wins duplicates)", () => {
    const e = honest();
    e.push(groupSampled(RUN, 0, 0), groupScored(RUN, 0, 0, [1, 0]));
    assert.deepEqual(audit(e), [["sampled-once", 6], ["scored-once", 7]]);
  });
  it("keys scores by full scorer id: an old-days rescore under the same plain id is another scorer, not a second score", () => {
    const e = honest();
    // a strict rescore written before ids named their settings: plain id, strict settings recorded
    e.push({ ...groupScored(RUN, 0, 0, [0, 0]), rewardConfig: { ...resolveReward("base_acc@1{format_mode=strict}") } });
    assert.deepEqual(audit(e), []);
  });
  it("names a RunFinished whose version or weights are not the last update's", () => {
    const e = honest();
    e.push({ type: "RunFinished", v: 1, runId: RUN, reason: "completed", finalVersion: 0, finalWeightsDigest: DIGEST });
    assert.deepEqual(audit(e), [["final-version", 6], ["final-weights", 6]]);
  });
});
