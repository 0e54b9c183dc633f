// isSelfCheck: re-check markers and revised steps in the think part count; plain reasoning, markers
// outside the think part and a step repeated with the same result do not. Metrics from verdicts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { evalMetrics, passed } from "../../domain/reward/metrics.ts";
import { hasRevisedStep, isSelfCheck, thinkPart } from "../../domain/reward/selfcheck.ts";
import { resolveReward } from "../../domain/reward/registry.ts";
import type { RewardResult } from "../../domain/reward/types.ts";

describe("isSelfCheck", () => {
  it("counts re-check marker words in the think part", () => {
    for (const t of [
      "<think>3+4=7. Let me check: 7-4=3.</think><answer>\\boxed{7}</answer>",
      "<think>Wait, that is wrong.</think><answer>\\boxed{7}</answer>",
      "<think>I will verify the sum</think><answer>\\boxed{7}</answer>",
      "<think>recheck the carry</think><answer>\\boxed{7}</answer>",
      "<think>double-checking gives 7</think>",
      "<think>Verification: ok</think>",
    ]) assert.equal(isSelfCheck(t), true, t);
  });

  it("counts a step computed twice with different results", () => {
    assert.equal(isSelfCheck("<think>7+6+0=13,4+8+1=13,7+6+0=12</think><answer>\\boxed{1}</answer>"), true);
    assert.equal(hasRevisedStep("12 * 3 = 36 and then 12*3=35"), true);
  });

  it("does not count plain reasoning, repeated identical steps or markers outside the think part", () => {
    for (const t of [
      "<think>7+6+0=13,4+8+1=13,3+5+1=09</think><answer>\\boxed{933}</answer>",
      "<think>7+6+0=13,7+6+0=13</think><answer>\\boxed{13}</answer>",
      "<think>3+5+1=09 then 3+5+1=9</think>",       // the same value written two ways
      "<think>17+6=23, 7+6=13</think>",              // 7+6 is not a revision of 17+6
      "<think>a+b</think><answer>check \\boxed{7}</answer>",
      "<think>checkpoint</think>",                   // a word that only starts with a marker
      "",
    ]) assert.equal(isSelfCheck(t), false, t);
  });

  it("reads the think part, or the text before <answer> when there is no think tag", () => {
    assert.equal(thinkPart("<think>a</think><answer>b</answer>"), "a");
    assert.equal(thinkPart("<think>unclosed"), "unclosed");
    assert.equal(thinkPart("wait<answer>x</answer>"), "wait");
    assert.equal(isSelfCheck("wait, 2+2=4<answer>\\boxed{4}</answer>"), true);
  });
});

describe("evaluation metrics", () => {
  const r = (format: number, accuracy: number): RewardResult => ({ reward: format && accuracy ? 1 : 0, format, accuracy, outcome: accuracy ? "correct" : "wrong", extracted: null, ms: 0 });
  it("passes by the reward's own rule: base_acc needs format and accuracy, acc only accuracy", () => {
    assert.equal(passed(resolveReward("base_acc@1"), r(0, 1)), false);
    assert.equal(passed(resolveReward("acc@1"), r(0, 1)), true);
  });

  it("reduces k responses per prompt to avg@k, rates, mean length and self-check rate", () => {
    const spec = resolveReward("base_acc@1");
    const m = evalMetrics(spec, [
      { promptId: "a", text: "<think>wait</think>", tokens: 4, truncated: false, result: r(1, 1) },
      { promptId: "a", text: "x", tokens: 2, truncated: true, result: r(1, 0) },
      { promptId: "b", text: "y", tokens: 6, truncated: false, result: r(0, 1) },
      { promptId: "b", text: "z", tokens: 0, truncated: false, result: r(1, 1) },
    ], 2);
    assert.deepEqual(m, { "avg@2": 0.5, format: 0.75, accuracy: 0.75, mean_length: 3, selfcheck_rate: 0.25, truncated: 0.25 });
  });
});
