import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveReward, rewardId, rewardNames, scorerOfRecord, scorerOfUpdate } from "../../domain/reward/registry.ts";
import { score, scoreAnswer } from "../../domain/reward/score.ts";
import { UnknownRewardError } from "../../domain/reward/types.ts";

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

describe("scorer ids", () => {
  it("the registered settings keep the plain id; every other verdict-changing setting is named, sorted", () => {
    assert.equal(rewardId(resolveReward("base_acc", { formatMode: "loose", timeoutMs: 2000 })), "base_acc@1");
    assert.equal(rewardId(resolveReward("base_acc", { formatMode: "strict" })), "base_acc@1{format_mode=strict}");
    assert.equal(rewardId(resolveReward("base_acc_strict")), "base_acc_strict@1");
    assert.equal(rewardId(resolveReward("format_acc", { formatWeight: 0.2, accuracyWeight: 0.8, answerSource: "answer_tag", timeoutMs: 5000 })),
      "format_acc@1{accuracy_weight=0.8,answer_source=answer_tag,format_weight=0.2,timeout_ms=5000}");
  });
  it("an id resolves back to the spec it names (rescore --reward, eval --reward)", () => {
    for (const id of ["base_acc@1", "base_acc@1{format_mode=strict}", "format_acc@1{accuracy_weight=0.8,format_weight=0.2}", "acc@1{answer_source=answer_tag,timeout_ms=100}"]) {
      assert.equal(rewardId(resolveReward(id)), id);
    }
    assert.equal(resolveReward("base_acc@1{format_mode=strict}").formatMode, "strict");
    assert.throws(() => resolveReward("base_acc@1{format=strict}"), /unknown setting 'format=strict'/);
    assert.throws(() => resolveReward("base_acc@1{timeout_ms=soon}"), /timeout_ms=soon is not a number/);
    assert.throws(() => resolveReward("base_acc@1{format_mode=tight}"), UnknownRewardError);
  });
  it("strict and loose verdicts differ, and so do their ids", () => {
    const text = "<think>a</think> <think>b</think><answer>\\boxed{3}</answer>";
    const loose = resolveReward("base_acc"), strict = resolveReward("base_acc", { formatMode: "strict" });
    assert.notEqual(score(text, "3", loose).reward, score(text, "3", strict).reward);
    assert.notEqual(rewardId(loose), rewardId(strict));
  });
  it("a GroupScored recorded before ids named settings reads under its full id, from the spec it recorded", () => {
    const legacy = { scorer: "base_acc@1", rewardConfig: { ...resolveReward("base_acc", { formatMode: "strict" }), timeoutMs: undefined } };
    assert.equal(scorerOfRecord(legacy), "base_acc@1{format_mode=strict}");
    assert.equal(scorerOfRecord(legacy, 5000), "base_acc@1{format_mode=strict,timeout_ms=5000}");
    assert.equal(scorerOfRecord({ scorer: "base_acc@1", rewardConfig: { fn: "base_acc" } }), "base_acc@1");   // not a spec: as recorded
    // an update used its run's reward: a plain legacy id is the run's full id
    assert.equal(scorerOfUpdate("base_acc@1", "base_acc@1{format_mode=strict}"), "base_acc@1{format_mode=strict}");
    assert.equal(scorerOfUpdate("acc@1", "base_acc@1{format_mode=strict}"), "acc@1");
  });
});

function pick(r: ReturnType<typeof score>) {
  const { reward, format, accuracy, outcome, extracted } = r;
  return { reward, format, accuracy, outcome, extracted };
}
