import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveReward, rewardId, rewardNames } from "../../consumers/reward/registry.ts";
import { score, scoreAnswer } from "../../consumers/reward/score.ts";
import { UnknownRewardError } from "../../consumers/reward/types.ts";

const goodRight = "<think> 1+2 </think><answer> \\boxed{3} </answer>";
const goodWrong = "<think> 1+2 </think><answer> \\boxed{4} </answer>";
const badRight = "The answer is \\boxed{3}.";

describe("reward registry", () => {
  it("given the registry, then base_acc, format_acc and acc are versioned entries", () => {
    for (const n of ["base_acc@1", "format_acc@1", "acc@1", "base_acc_strict@1"]) assert.ok(rewardNames().includes(n), n);
    assert.equal(rewardId(resolveReward("base_acc")), "base_acc@1");
    assert.equal(resolveReward("acc@1").name, "acc");
  });
  it("given an unknown name, then a named error lists the registered ones", () => {
    assert.throws(() => resolveReward("nope"), (e: unknown) => e instanceof UnknownRewardError && /base_acc@1/.test(e.message));
    assert.throws(() => resolveReward("base_acc@9"), UnknownRewardError);
  });
  it("base_acc: reward 1 only when format AND accuracy hold", () => {
    const spec = resolveReward("base_acc");
    assert.deepEqual(pick(score(goodRight, "3", spec)), { reward: 1, format: 1, accuracy: 1, outcome: "correct", extracted: "3" });
    assert.deepEqual(pick(score(goodWrong, "3", spec)), { reward: 0, format: 1, accuracy: 0, outcome: "wrong", extracted: "4" });
    assert.deepEqual(pick(score(badRight, "3", spec)), { reward: 0, format: 0, accuracy: 1, outcome: "correct", extracted: "3" });
  });
  it("format_acc: weighted sum of the parts, weights overridable", () => {
    const spec = resolveReward("format_acc");
    assert.equal(score(goodRight, "3", spec).reward, 1);
    assert.equal(score(goodWrong, "3", spec).reward, spec.formatWeight);
    assert.ok(Math.abs(score(badRight, "3", spec).reward - spec.accuracyWeight) < 1e-12);
    const custom = resolveReward("format_acc", { formatWeight: 0.5, accuracyWeight: 1 });
    assert.equal(score(goodRight, "3", custom).reward, 1.5);
  });
  it("acc: accuracy only, format still reported", () => {
    const spec = resolveReward("acc");
    assert.deepEqual(pick(score(badRight, "3", spec)), { reward: 1, format: 0, accuracy: 1, outcome: "correct", extracted: "3" });
  });
  it("given no box, then the outcome is no_answer; given garbage, unparseable; given a bad gold, error", () => {
    const spec = resolveReward("base_acc");
    assert.equal(score("<think>a</think><answer>3</answer>", "3", spec).outcome, "no_answer");
    assert.equal(score("<think>a</think><answer>\\boxed{\\frac{1}{}}</answer>", "3", spec).outcome, "unparseable");
    const bad = score(goodRight, "\\frac{", spec);
    assert.equal(bad.outcome, "error");
    assert.match(bad.message ?? "", /gold/);
  });
  it("given an answer nested thousands of brackets deep, then unparseable (no stack overflow, no error)", () => {
    const r = score(`\\boxed{${"(".repeat(9000)}1${")".repeat(9000)}}`, "1", resolveReward("acc"));
    assert.equal(r.outcome, "unparseable");
    assert.match(r.message ?? "", /nested/);
  });
  it("given a bare prediction, then scoreAnswer judges it without a format", () => {
    assert.equal(scoreAnswer("0.5", "\\frac12", resolveReward("base_acc")).outcome, "correct");
  });
  it("every result has reward, format, accuracy, outcome, extracted and ms", () => {
    const r = score(goodRight, "3", resolveReward("base_acc"));
    assert.deepEqual(Object.keys(r).sort(), ["accuracy", "extracted", "format", "ms", "outcome", "reward"]);
    assert.ok(r.ms >= 0);
  });
});

function pick(r: ReturnType<typeof score>) {
  const { reward, format, accuracy, outcome, extracted } = r;
  return { reward, format, accuracy, outcome, extracted };
}
