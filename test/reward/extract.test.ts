import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { boxedSpans, lastBoxed, lenientAnswer } from "../../domain/reward/extract.ts";
import { extractAnswer } from "../../domain/reward/score.ts";

describe("answer extraction", () => {
  it("given nested braces in \\boxed, then the whole content is extracted", () => {
    assert.equal(lastBoxed("so \\boxed{\\frac{1}{\\sqrt{2}}} done")?.content, "\\frac{1}{\\sqrt{2}}");
  });
  it("given escaped braces of a set, then they do not close the box", () => {
    assert.equal(lastBoxed("\\boxed{\\{1, 2\\}}")?.content, "\\{1, 2\\}");
  });
  it("given \\fbox, then it counts as a box", () => {
    assert.equal(lastBoxed("answer \\fbox{42}.")?.content, "42");
  });
  it("given several boxes separated by prose, then the last one wins", () => {
    assert.equal(lastBoxed("first \\boxed{1}, then we find more text here and there \\boxed{2}")?.content, "2");
    assert.equal(extractAnswer("<think>\\boxed{42}</think> wrong: \\boxed{43}", "boxed"), "43");
  });
  it("given boxes joined by 'and', then they form one list answer", () => {
    assert.equal(lastBoxed("\\boxed{1} and \\boxed{2}")?.content, "1, 2");
    assert.equal(lastBoxed("\\boxed{1} no no no no no \\boxed{2}")?.content, "2");
  });
  it("given no box, then extraction reports no answer (null), not an empty string", () => {
    assert.equal(extractAnswer("<think>a</think><answer>3</answer>", "boxed"), null);
    assert.equal(extractAnswer("<think>a</think><answer>\\boxed{}</answer>", "boxed"), null);
  });
  it("given an unclosed box, then strict extraction ignores it and lenient takes the rest", () => {
    assert.deepEqual(boxedSpans("\\boxed{12"), []);
    assert.equal(lenientAnswer("\\boxed{12"), "12");
  });
  it("given the answer_tag source, then the <answer> content (or its box) is the answer", () => {
    assert.equal(extractAnswer("<think>a</think><answer> 7 </answer>", "answer_tag"), "7");
    assert.equal(extractAnswer("<think>a</think><answer>so \\boxed{8}</answer>", "answer_tag"), "8");
    assert.equal(extractAnswer("<think>a</think>", "answer_tag"), null);
  });
  it("given prose with 'The final answer is', then lenient extraction takes what follows", () => {
    assert.equal(lenientAnswer("Thus... Final Answer: The final answer is $14{,}916$. I hope it is correct."), "14{,}916");
    assert.equal(lenientAnswer("Final Answer: The volume of $ABCD$ is 120. I hope it is correct."), "120");
  });
  it("given a bare answer, then lenient extraction returns it whole", () => {
    assert.equal(lenientAnswer("x^2+2x+1"), "x^2+2x+1");
    assert.equal(lenientAnswer("28 percent"), "28 percent");
  });
  it("given prose with math, then the last math span (or a later number) is the answer", () => {
    assert.equal(lenientAnswer("We find that $x \\lt 3$."), "x \\lt 3");
    assert.equal(lenientAnswer("so $d = 5$ and therefore there are 12 sequences."), "12");
  });
  it("given a 1 MB response, then extraction is fast", () => {
    const big = "a".repeat(1_000_000) + " \\boxed{5}";
    const t0 = performance.now();
    assert.equal(extractAnswer(big, "boxed"), "5");
    assert.equal(lenientAnswer(big), "5");
    assert.ok(performance.now() - t0 < 500);
  });
});
