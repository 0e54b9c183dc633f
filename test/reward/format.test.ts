import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { looseFormat, strictFormat } from "../../domain/reward/format.ts";

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
  it("given no \\boxed in the answer, then strict (tags only) passes and loose fails", () => {
    const r = "<think> a </think><answer> 3 </answer>";
    assert.equal(strictFormat(r), true);
    assert.equal(looseFormat(r), false);
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
