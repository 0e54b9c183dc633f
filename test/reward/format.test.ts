import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { looseFormat, looseFormatFailure, strictFormat, strictFormatFailure } from "../../domain/reward/format.ts";
import { resolveReward } from "../../domain/reward/registry.ts";
import { score } from "../../domain/reward/score.ts";
import { groupScoredOf } from "../../domain/reward/spec.ts";
import { parseEvent } from "../../streams/events/index.ts";
import { groupSampled } from "../helpers/events.ts";

const good = "<think> reasoning </think><answer> so \\boxed{3} </answer>";

describe("format check", () => {
  it("given a well-formed completion, when checked, then both modes pass", () => {
    assert.equal(strictFormat(good), true);
    assert.equal(looseFormat(good), true);
  });
  it("given leading and trailing whitespace, then strict tolerates it and loose (fullmatch) does not", () => {
    assert.equal(strictFormat(`\n  ${good}  \n`), true);
    assert.equal(looseFormat(`\n ${good}`), false);
  });
  it("given two <think> blocks, then strict fails and loose passes", () => {
    const r = "<think> a </think><think> b </think><answer>\\boxed{1}</answer>";
    assert.equal(strictFormat(r), false);
    assert.equal(looseFormat(r), true);
  });
  it("given a missing </answer>, then both fail", () => {
    const r = "<think> a </think><answer>\\boxed{1}";
    assert.equal(strictFormat(r), false);
    assert.equal(looseFormat(r), false);
  });
  it("given text after </answer>, then both fail", () => {
    const r = `${good} trailing words`;
    assert.equal(strictFormat(r), false);
    assert.equal(looseFormat(r), false);
  });
  it("given no \\boxed in the answer, then both fail (MindSpeed-RL's original requires one box)", () => {
    const r = "<think> a </think><answer> 3 </answer>";
    assert.equal(strictFormatFailure(r), "box_count");
    assert.equal(looseFormatFailure(r), "box_count");
  });
  it("given three boxes in the answer, then strict fails (box_count) and loose passes: several candidates are not one answer", () => {
    const r = "<think> a </think><answer> \\boxed{1} or \\boxed{2} or \\boxed{3} </answer>";
    assert.equal(strictFormatFailure(r), "box_count");
    assert.equal(looseFormat(r), true);
  });
  it("given a box in <think> and one in <answer>, then strict fails (box_count)", () => {
    assert.equal(strictFormatFailure("<think> maybe \\boxed{2} </think><answer> \\boxed{3} </answer>"), "box_count");
  });
  it("given the only box in <think>, then strict fails (box_outside_answer)", () => {
    assert.equal(strictFormatFailure("<think> \\boxed{2} </think><answer> 3 </answer>"), "box_outside_answer");
  });
  it("given a box whose closing brace is on a later line, then strict does not count it (the original's regex has no DOTALL)", () => {
    assert.equal(strictFormatFailure("<think> a </think><answer> \\boxed{\n3} </answer>"), "box_count");
    assert.equal(strictFormatFailure("<think> a </think><answer> \\boxed{3}\n </answer>"), null);
  });
  it("given each failure, then the first failed rule is named", () => {
    assert.equal(strictFormatFailure(`Sure! ${good}`), "starts_with_think");
    assert.equal(strictFormatFailure(`${good} more`), "ends_with_answer");
    assert.equal(strictFormatFailure("<think> a </think><think> b </think><answer>\\boxed{1}</answer>"), "tag_count");
    assert.equal(strictFormatFailure("<think><answer> a </think>\\boxed{1}</answer>"), "tag_order");
    assert.equal(looseFormatFailure("<think> a <answer>\\boxed{1}</answer>"), "tag_order");
  });
  it("given tags out of order, then both fail", () => {
    const r = "<answer>\\boxed{1}</answer><think> a </think>";
    assert.equal(strictFormat(r), false);
    assert.equal(looseFormat(r), false);
    assert.equal(strictFormat("<think><answer> a </think>\\boxed{1}</answer>"), false);
  });
  it("given a response not starting with <think>, then both fail", () => {
    const r = `Sure! ${good}`;
    assert.equal(strictFormat(r), false);
    assert.equal(looseFormat(r), false);
  });
  it("given a 1 MB think block, then loose runs in linear time", () => {
    const r = `<think>${"x".repeat(1_000_000)}</think><answer>\\boxed{2}</answer>`;
    const t0 = performance.now();
    assert.equal(looseFormat(r), true);
    assert.equal(strictFormat(r), true);
    assert.ok(performance.now() - t0 < 200);
  });
});

describe("the verdict names the format rule that failed (issue 20)", () => {
  const strict = resolveReward("base_acc", { formatMode: "strict" });
  it("given three boxed candidates under strict base_acc, then reward 0, accuracy judged, formatRule box_count, and GroupScored carries it", () => {
    const r = score("<think> a </think><answer> \\boxed{1} or \\boxed{2} or \\boxed{3} </answer>", "3", strict);
    assert.equal(r.format, 0);
    assert.equal(r.reward, 0);
    assert.equal(r.formatRule, "box_count");
    const g = groupSampled("r1", 0, 0, 1);
    const e = groupScoredOf(g, strict, [r], "test", 1);
    assert.equal(e.v, 2);
    assert.equal(e.scores[0].formatRule, "box_count");
    assert.equal(parseEvent(e).type, "GroupScored");
  });
  it("given a well-formed response, then no formatRule is recorded", () => {
    const r = score(good, "3", strict);
    assert.equal(r.reward, 1);
    assert.equal(r.formatRule, undefined);
    assert.equal("formatRule" in groupScoredOf(groupSampled("r1", 0, 0, 1), strict, [r], "test", 1).scores[0], false);
  });
});
