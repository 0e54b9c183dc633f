// The aha experiment's parts (issue 19, docs/aha.md), without the long runs: the mixed-digit addition
// task and its held-out split, the aha corpus's documents (the check's working sits where the explained
// documents' working sits, a slip is a plausible wrong sum, the default corpus is unchanged), the
// caught-and-fixed rule, the climb rule, the report's self-verification section, and the bench's curves.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { carries, columns, document, documents, padded, slip } from "../../loaders/corpus.ts";
import { taskRows } from "../../loaders/tasks.ts";
import { CharTokenizer } from "../../loaders/tokenizer.ts";
import { Rng } from "../../domain/rng.ts";
import { caughtAndFixed, isSelfCheck, statedBeforeCheck } from "../../domain/reward/selfcheck.ts";
import { climbStep, type CheckPoint } from "../../offline/report/fold.ts";
import { buildReport } from "../../offline/report/index.ts";
import { curves } from "../../scripts/bench-aha.ts";
import { loadConfig, PretrainSpec } from "../../streams/config.ts";
import { groupSampled, groupScored, runStarted } from "../helpers/events.ts";
import { policyUpdated } from "../report/events.ts";
import type { ZsEvent } from "../../streams/events/index.ts";

describe("addition with mixed digit counts", () => {
  it("draws each row's digit count from [min_digits, digits], keeps the held-out split out of training, and leaves fixed-digit rows as they were", () => {
    const train = taskRows("addition", "train", 3000, 1, { digits: 5, min_digits: 3 });
    const held = taskRows("addition", "heldout", 256, 0, { digits: 5, min_digits: 3 });
    const lens = new Set(train.map((r) => r.question.split("+")[0].length));
    assert.deepEqual([...lens].sort(), [3, 4, 5]);
    for (const r of train) {
      const [a, b] = r.question.split("+");
      assert.equal(a.length, b.length, r.question);
      assert.equal(Number(r.answer), Number(a) + Number(b));
    }
    const heldQ = new Set(held.map((r) => r.question));
    assert.equal(heldQ.size, 256);
    assert.ok(train.every((r) => !heldQ.has(r.question)));
    assert.deepEqual(taskRows("addition", "train", 50, 1, { digits: 3, min_digits: 3 }), taskRows("addition", "train", 50, 1, { digits: 3 }));
    assert.deepEqual(taskRows("addition", "heldout", 5, 0, { digits: 3 }).map((r) => r.id), ["add3-h0", "add3-h1", "add3-h2", "add3-h3", "add3-h4"]);
    assert.throws(() => taskRows("addition", "train", 5, 1, { digits: 3, min_digits: 4 }), /min_digits: got 4, expected an integer in \[1, 3\]/);
    assert.throws(() => PretrainSpec.parse({ params: { digits: 3, min_digits: 4 } }), /min_digits must be at most digits/);
  });
});

describe("the aha corpus", () => {
  const tok = new CharTokenizer();
  it("writes the quick pass, the worked carries and the check as docs/aha.md describes, the check's carries where the explained carries are", () => {
    assert.equal(columns(347, 586, 3), "7+6=13,4+8=12,3+5=08");
    assert.equal(carries(347, 586, 3), "13,12+1=13,08+1=09");
    assert.equal(carries(123, 456, 3), "09,07,05");
    assert.equal(carries(951, 49, 3), "10,09+1=10,09+1=10");
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const a = rng.int(100, 1000), b = rng.int(100, 1000), s = a + b, p = String(s).padStart(4, "0");
      const cols = columns(a, b, 3), car = carries(a, b, 3);
      const ex = document("explained", a, b, 3, true, rng), quick = document("r1_guess", a, b, 3, true, rng), ck = document("guess_check", a, b, 3, true, rng);
      assert.equal(ex, `<eos>Think: ${a}+${b}\nSteps: ${cols} so ${p}, carries: ${car} A: ${s}<eos>`);
      assert.equal(quick, `<eos>Think: ${a}+${b}\n<think>${cols} so ${p}</think><answer>\\boxed{${s}}</answer><eos>`);
      const m = /^<eos>Think: (\d+)\+(\d+)\n<think>([0-9+=,]+) so (\d{4}), I check: ([0-9+=,]+) A: (\d+)<\/think><answer>\\boxed\{(\d+)\}<\/answer><eos>$/.exec(ck);
      assert.ok(m, ck);
      assert.deepEqual([m[3], m[5], m[6], m[7]], [cols, car, String(s), String(s)]);
      // the carries are read back over the same span in both: column sums, the stated sum, a marker of one length
      assert.equal(", I check: ".length, ", carries: ".length);
      assert.ok(tok.encode(ck).length <= 16 + 80, "prompt and response fit the config's lengths");
      assert.ok(isSelfCheck(ck.slice(ck.indexOf("<think>"))));
      assert.ok(!isSelfCheck(quick.slice(quick.indexOf("<think>"))));
      assert.ok(!isSelfCheck(ex), "a worked solution is not a check");
    }
  });

  it("makes half of the checked sums slips: off by a power of ten, never negative, never longer than digits + 1", () => {
    const rng = new Rng(5);
    let slips = 0;
    for (let i = 0; i < 400; i++) {
      const a = rng.int(100, 1000), b = rng.int(100, 1000);
      const d = document("guess_check", a, b, 3, true, rng);
      const g = Number(/ so (\d+), I check/.exec(d)![1]);
      if (g !== a + b) {
        slips++;
        assert.ok(Math.log10(Math.abs(g - (a + b))) % 1 === 0, `${g} vs ${a + b}`);
      }
    }
    assert.ok(slips > 150 && slips < 250, `${slips} slips of 400`);
    for (let s = 0; s < 2000; s += 7) { const w = slip(s, 3, rng); assert.ok(w >= 0 && w !== s && w < 10_000); }
    assert.equal(padded(933, 3), "0933");
    assert.equal(padded(1933, 3), "1933");
  });

  it("mixes the aha kinds in the configured shares, and leaves a corpus without them as it was", () => {
    const cfg = loadConfig("configs/tiny-aha.yaml");
    const spec = cfg.model.pretrain!;
    const it1 = documents(spec, new Set());
    const docs = Array.from({ length: 20_000 }, () => it1.next().value as string);
    const share = (re: RegExp) => docs.filter((d) => re.test(d)).length / docs.length;
    assert.ok(Math.abs(share(/, I check: /) - 0.01) < 0.004, `checks ${share(/, I check: /)}`);
    assert.ok(Math.abs(share(/ so \d+<\/think>/) - 0.22) < 0.02);
    assert.ok(Math.abs(share(/, carries: /) - 0.30) < 0.02);
    assert.equal(share(/\d,check \d/), 0, "no recheck documents");
    // the default corpus: the same documents whether or not the aha keys exist in the schema
    const def = loadConfig("configs/tiny-r1-zero.yaml").model.pretrain!;
    assert.ok(!("r1_guess" in def.mix) && !("min_digits" in def.params));
    const d1 = documents(def, new Set());
    const h = createHash("sha256");
    for (let i = 0; i < 5000; i++) h.update(d1.next().value as string);
    // the first 5,000 documents of the default corpus as written before the aha kinds existed (commit 9ba7d1d)
    assert.equal(h.digest("hex"), "965936698b51db94674439b71e446bc5f6c58d53ed97146cd077e3bfc9542703");
  });
});

describe("caught and fixed", () => {
  it("needs a check, a correct final answer, and a first stated value (or a revised step) that differs from it", () => {
    const t = (g: string, s: string) => `<think>7+6=13,4+8=12,3+5=08 so ${g}, I check: 13,12+1=13,08+1=09 A: ${s}</think><answer>\\boxed{${s}}</answer>`;
    assert.equal(statedBeforeCheck(t("0923", "933")), 923);
    assert.equal(caughtAndFixed(t("0923", "933"), "933", true), true);
    assert.equal(caughtAndFixed(t("0933", "933"), "933", true), false, "the first value was right: nothing caught");
    assert.equal(caughtAndFixed(t("0923", "923"), "923", false), false, "wrong in the end");
    assert.equal(caughtAndFixed("<think>0923</think><answer>\\boxed{933}</answer>", "933", true), false, "no check");
    assert.equal(caughtAndFixed("<think>7+6+0=12, check 7+6+0=13</think><answer>\\boxed{13}</answer>", "13", true), true, "a revised step");
  });
});

describe("the climb rule and the report's self-verification section", () => {
  const pts = (rates: number[]): CheckPoint[] => rates.map((r, i) => ({ step: i + 1, samples: 100, selfChecks: Math.round(r * 100) }));
  it("marks the first step whose rate and whose 5-step mean reach max(3 × the first step's rate, that rate + 0.05)", () => {
    assert.equal(climbStep(pts([0.01, 0.01, 0.02, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2])), 4);
    assert.equal(climbStep(pts([0.01, 0.2, 0.01, 0.01, 0.01, 0.01, 0.01])), undefined, "one spike is not a climb");
    assert.equal(climbStep(pts([0.01, 0.01, 0.02, 0.03, 0.03, 0.03, 0.04])), undefined);
    assert.equal(climbStep(pts([0.2, 0.3, 0.4, 0.5, 0.7, 0.7, 0.8])), 5);
    assert.equal(climbStep(pts([0.5])), undefined);
  });

  it("draws accuracy, check rate and length per step, marks the climb, and highlights the checks in the samples", () => {
    const runId = "aha-test";
    const events: ZsEvent[] = [runStarted(runId)];
    for (let step = 1; step <= 12; step++) {
      const texts = Array.from({ length: 4 }, (_, i) => (step >= 4 && i < 3) || (step === 1 && i === 0)
        ? `<think>7+6=13,4+8=12,3+5=08 so 0923, I check: 13,12+1=13,08+1=09 A: 933</think><answer>\\boxed{933}</answer>` : `<think>7+6=13,4+8=12,3+5=08 so 0923</think><answer>\\boxed{923}</answer>`);
      const g = groupSampled(runId, step, 0, 4);
      g.samples = g.samples.map((x, i) => ({ ...x, text: texts[i] }));
      const sc = groupScored(runId, step, 0, texts.map((t) => (t.includes("check") ? 1 : 0)));
      sc.scores = sc.scores.map((x) => ({ ...x, extracted: x.reward ? "933" : "923" }));
      events.push(g, sc, policyUpdated(runId, step));
    }
    const { html, charts, model } = buildReport(events);
    assert.equal(model.climbStep, 4);
    assert.deepEqual(model.checks.map((p) => p.selfChecks), [1, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
    const chart = charts.find((c) => c.id === "selfcheck");
    assert.ok(chart, "the self-verification chart");
    assert.deepEqual(chart.series, ["accuracy", "check rate", "length (tokens)"]);
    assert.match(chart.svg, /checks climb: step 4/);
    assert.match(html, /id="selfcheck-summary"[^]*climbs at step <b>4<\/b>/);
    assert.match(html, /<mark class="check">check<\/mark>/);
    const c = curves(events);
    assert.equal(c.climbStep, 4);
    assert.equal(c.caughtInTraining, 9 * 3 + 1, "every checked rollout fixed 923 to 933 and was scored correct");
  });
});
