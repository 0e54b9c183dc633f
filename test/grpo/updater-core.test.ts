// Pure cores of the updater, given/when/then with no NATS: advantage estimators against hand-computed
// values, prompt selection, lr schedule, batch packing (the decider and the fold: test/domain/).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { advantageEstimator, stdUnbiased } from "../../domain/grpo/advantages.ts";
import { pack, rewardStats, sequencesOf } from "../../domain/grpo/batch.ts";
import { learningRate, selectPrompts, taskChunks } from "../../domain/grpo/schedule.ts";
import { overlongPenalty, shapedRewards, uniform } from "../../domain/grpo/shaping.ts";
import { resolveConfig } from "../../streams/config.ts";
import { groupSampled, groupScored } from "../helpers/events.ts";
import { tinyConfig } from "../helpers/tiny.ts";

const close = (a: number[], b: number[], eps = 1e-9) => {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < eps, `index ${i}: ${x} vs ${b[i]}`));
};

describe("advantage estimators", () => {
  const r = [1, 0, 0, 1, 1, 0, 0, 0];           // mean 0.375, unbiased std sqrt(15/56)
  it("grpo: (r − mean) / (std_unbiased + 1e-6)", () => {
    const sd = Math.sqrt((3 * 0.625 ** 2 + 5 * 0.375 ** 2) / 7);
    assert.ok(Math.abs(stdUnbiased(r) - sd) < 1e-12);
    close(advantageEstimator("grpo")(r), r.map((x) => (x - 0.375) / (sd + 1e-6)));
    close(advantageEstimator("grpo")([1, 1, 1, 1]), [0, 0, 0, 0]);
  });
  it("dr_grpo: r − mean", () => close(advantageEstimator("dr_grpo")(r), r.map((x) => x - 0.375)));
  it("rloo: r_i − mean of the others", () => {
    close(advantageEstimator("rloo")([1, 0, 0, 0]), [1, -1 / 3, -1 / 3, -1 / 3]);
    close(advantageEstimator("rloo")([0.5, 1]), [-0.5, 0.5]);
  });
  it("refuses an unknown estimator by name", () => assert.throws(() => advantageEstimator("ppo"), /unknown advantage estimator 'ppo'/));
});

describe("schedule", () => {
  const cfg = resolveConfig(tinyConfig());
  it("selects global_batch_size prompts per step, deterministically, covering an epoch before repeating", () => {
    const a = selectPrompts(cfg, 10, 0), b = selectPrompts(cfg, 10, 0);
    assert.deepEqual(a, b);
    assert.equal(a.length, 4);
    assert.deepEqual(a.map((s) => s.groupId), ["s0.g0", "s0.g1", "s0.g2", "s0.g3"]);
    const epoch0 = [0, 1].flatMap((k) => selectPrompts(cfg, 8, k).map((s) => s.index));
    assert.deepEqual([...epoch0].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(selectPrompts(cfg, 8, 2)[0].epoch, 1);
    assert.notDeepEqual(selectPrompts(resolveConfig({ ...tinyConfig(), seed: 8 }), 1000, 0).map((s) => s.index), selectPrompts(cfg, 1000, 0).map((s) => s.index));
    assert.equal(new Set(a.map((s) => s.seed)).size, 4, "every group has its own seed");
  });
  it("chunks a step into tasks of prompts_per_task", () => {
    const chunks = taskChunks(selectPrompts(cfg, 10, 3), 3);
    assert.deepEqual(chunks.map((c) => [c.taskId, c.prompts.length]), [["s3.c0", 3], ["s3.c1", 1]]);
  });
  it("warms up linearly and decays by cosine to min_lr", () => {
    const a = { ...cfg.actor, lr: 1, min_lr: 0.1, lr_warmup_iters: 2, train_iters: 12, lr_schedule: "cosine" as const };
    close([0, 1, 2, 7, 12].map((k) => learningRate(a, k)), [0.5, 1, 1, 0.1 + 0.9 * 0.5, 0.1]);
    assert.equal(learningRate({ ...a, lr_schedule: "constant" }, 11), 1);
  });
});

describe("batch packing", () => {
  it("trains on completion tokens only, aligning the sampler's log-probs and the advantages", () => {
    const g = { sampled: groupSampled("r", 0, 1), scored: groupScored("r", 0, 1, [1, 0]) };
    const seqs = sequencesOf([g], new Map([["s0.g1", [0.5, -0.5]]]));
    const b = pack(seqs);
    assert.deepEqual([...b.seqLens], [5, 5]);
    assert.deepEqual([...b.tokens], [5, 6, 5, 7, 2, 5, 6, 5, 7, 2]);
    assert.deepEqual([...b.lossMask], [0, 0, 0, 1, 1, 0, 0, 0, 1, 1]);
    assert.deepEqual([...b.advantages], [0, 0, 0, 0.5, 0.5, 0, 0, 0, -0.5, -0.5]);
    close([...b.oldLogprobs], [0, 0, 0, -0.5, -0.1, 0, 0, 0, -0.5, -0.1], 1e-6);
    assert.equal(b.tokensTrained, 4);
  });
  it("orders groups by slot, never by arrival", () => {
    const g2 = { sampled: groupSampled("r", 0, 2), scored: groupScored("r", 0, 2) };
    const g0 = { sampled: groupSampled("r", 0, 0), scored: groupScored("r", 0, 0) };
    const adv = new Map([["s0.g0", [1, -1]], ["s0.g2", [0, 0]]]);
    assert.deepEqual(sequencesOf([g2, g0], adv).map((s) => s.groupId), ["s0.g0", "s0.g0", "s0.g2", "s0.g2"]);
    const st = rewardStats([g2, g0], adv);
    assert.equal(st.zeroAdvantageGroups, 1);
    assert.equal(st.rewardMean, 0.5);
  });
});

describe("DAPO's overlong shaping and filtering", () => {
  const a = { overlong_buffer: 4, overlong_penalty_factor: 1 };
  it("shapes by length: 0 up to L − B, a linear ramp to −1 over the buffer, −1 when cut off at L (L = 16, B = 4)", () => {
    assert.deepEqual([0, 12, 13, 14, 15].map((n) => overlongPenalty(a, 16, n, false)), [0, 0, -0.25, -0.5, -0.75]);
    assert.equal(overlongPenalty(a, 16, 16, true), -1);
    assert.equal(overlongPenalty(a, 16, 9, true), -1, "a response cut off is punished whatever its length (a stop string may shorten it)");
    assert.equal(overlongPenalty({ ...a, overlong_penalty_factor: 0.5 }, 16, 14, false), -0.25);
    assert.equal(overlongPenalty({ ...a, overlong_buffer: 0 }, 16, 16, true), 0, "B = 0 is off");
  });
  it("adds the shaping to the scorer's rewards in sample order", () => {
    const cfg = resolveConfig(tinyConfig({ algorithm: { overlong_buffer: 4 } }));   // max_response_length 16
    const sampled = groupSampled("r", 0, 0, 3);
    sampled.samples[0].tokens = Array(14).fill(7);
    sampled.samples[2].tokens = Array(16).fill(7); sampled.samples[2].finish = "length";
    const scored = groupScored("r", 0, 0, [1, 0, 1]);
    scored.scores.reverse();                                                         // recorded order is not sample order
    close(shapedRewards(cfg, sampled, scored), [0.5, 0, 0]);
    assert.ok(uniform([0, 0, 0]) && !uniform([1, 0.5]));
  });
  it("overlong filtering keeps a cut-off response in its group but trains on none of its tokens", () => {
    const g = { sampled: groupSampled("r", 0, 1), scored: groupScored("r", 0, 1, [1, 0]) };
    g.sampled.samples[1].finish = "length";
    const b = pack(sequencesOf([g], new Map([["s0.g1", [0.5, -0.5]]]), true));
    assert.deepEqual([...b.lossMask], [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    assert.deepEqual([...b.advantages], [0, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 0]);
    close([...b.oldLogprobs], [0, 0, 0, -0.5, -0.1, 0, 0, 0, -0.5, -0.1], 1e-6);
    assert.equal(b.tokensTrained, 2);
    assert.deepEqual([...pack(sequencesOf([g], new Map([["s0.g1", [0.5, -0.5]]]))).lossMask], [0, 0, 0, 1, 1, 0, 0, 0, 1, 1], "off: trained as sampled");
  });
});

